// The backend kernels' CPU/CUDA parity checks through the ops front end, each named after the kernels
// it covers: many more shapes, dtypes, layouts and launch configurations than the harness's cases
// (test_backend_ops.cpp), moved here from test_cuda_parity.cpp and test_cuda_coverage.cpp; their
// edge cases (integer dtypes, edge rows, every dtype, bad indices, many launches) are in
// test_backend_ops_edge_cases.cpp. Inputs
// are multiples of 1/8 where possible, so sums and products are exact. Without a GPU every case
// prints the skip marker; -DDDPM_PARITY_ON_CPU runs them CPU against CPU (backend_ops_parity.hpp).
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "backend_ops_parity.hpp"
#include "tensor/kernel_table.hpp"

using namespace ddpm;
using namespace ddpm::test;

// ---- CPU/CUDA parity over the ops front end, per kernel ----------------------------------------

TEST_SUITE("cuda") {

TEST_CASE("copy: cuda dtype conversions match the cpu for every pair") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<double> v = {-2.75, -1, 0, 0.5, 1, 2.5, 65519, -65504, 1.00390625, 1 + 1.0 / 2048, 1e-7, 257};
  const DType all[] = {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64,
                       DType::Bool};
  for (DType from : all) {
    for (DType to : all) {
      for (Arrange arr : {Arrange::Contiguous, Arrange::Strided}) {
        CAPTURE(dtype_name(from));
        CAPTURE(dtype_name(to));
        CAPTURE(arrange_name(arr));
        parity([&](Device dev) { return make_tensor(v, {3, 4}, on(DType::Float64, dev), arr).to(from).to(to); }, 0, 0);
      }
    }
  }
}

TEST_CASE("copy and fill: cuda contiguous clone copy_ and fill_ on device views match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<double> v = dyadic_values(3 * 7 * 33, 5);
  for (DType d : {DType::Float32, DType::Float64, DType::Int64, DType::BFloat16}) {
    for (Arrange arr : kArranges) {
      CAPTURE(dtype_name(d));
      CAPTURE(arrange_name(arr));
      parity([&](Device dev) { return make_tensor(v, {3, 7, 33}, on(d, dev), arr).contiguous(); }, 0, 0);
      parity([&](Device dev) { return make_tensor(v, {3, 7, 33}, on(d, dev), arr).clone(); }, 0, 0);
      parity([&](Device dev) {
        Tensor x = make_tensor(v, {3, 7, 33}, on(d, dev), arr);
        ops::slice(x, 2, 1, 33, 3).fill_(7);
        return x.contiguous();
      }, 0, 0);
      parity([&](Device dev) {
        Tensor x = zeros({3, 7, 33}, on(d, dev));
        ops::transpose(x, 0, 2).copy_(make_tensor(dyadic_values(33 * 7, 1), {33, 7, 1}, on(DType::Float64, dev), arr));
        return x;
      }, 0, 0);
    }
  }
  // copies across devices in both directions, with broadcasting and conversion
  Tensor host = tensor(dyadic_values(7, 3), {7}, DType::Float64);
  Tensor g = zeros({3, 7}, gpu());
  g.copy_(host);
  check_close(g, ops::expand(host, {3, 7}), 1e-7, 0);
  Tensor h = zeros({7, 3}, DType::Float64);
  h.copy_(ops::transpose(g, 0, 1));
  check_close(h, ops::expand(ops::unsqueeze(host, 1), {7, 3}), 1e-7, 0);
  Tensor gv = ops::slice(zeros({4, 8}, gpu()), 1, 1, 8, 2);  // [4, 4] device view
  gv.copy_(ops::transpose(tensor(dyadic_values(16, 4), {4, 4}, DType::Float64), 0, 1));
  check_close(gv, ops::transpose(tensor(dyadic_values(16, 4), {4, 4}), 0, 1), 0, 0);
}

TEST_CASE_TEMPLATE("unary: cuda float unary ops match the cpu over shapes and layouts", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  using namespace ddpm::ops;
  const DType d = dtype_of<T>();
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops_ = {
      {"neg", [](const Tensor& x) { return ops::neg(x); }},        {"abs", [](const Tensor& x) { return ops::abs(x); }},
      {"sign", [](const Tensor& x) { return ops::sign(x); }},      {"exp", [](const Tensor& x) { return ops::exp(x); }},
      {"log", [](const Tensor& x) { return ops::log(ops::abs(x) + 0.125); }},
      {"sqrt", [](const Tensor& x) { return ops::sqrt(ops::abs(x)); }},
      {"rsqrt", [](const Tensor& x) { return ops::rsqrt(ops::abs(x) + 0.125); }},
      {"sin", [](const Tensor& x) { return ops::sin(x); }},        {"cos", [](const Tensor& x) { return ops::cos(x); }},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); }},      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }},
      {"silu", [](const Tensor& x) { return ops::silu(x); }},      {"relu", [](const Tensor& x) { return ops::relu(x); }},
      {"clamp", [](const Tensor& x) { return ops::clamp(x, -1.25, 0.5); }},
      {"pow 3", [](const Tensor& x) { return ops::pow(x, 3.0); }},
      {"pow -1.5", [](const Tensor& x) { return ops::pow(ops::abs(x) + 0.125, -1.5); }},
  };
  for (const auto& op : ops_) {
    for (const Shape& shape : kShapes) {
      for (Arrange arr : kArranges) {
        CAPTURE(op.first);
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 3);
        parity([&](Device dev) { return op.second(make_tensor(v, shape, on(d, dev), arr)); }, d);
      }
    }
  }
}

TEST_CASE("unary: cuda integer unary ops match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType d : {DType::Int32, DType::Int64}) {
    for (Arrange arr : kArranges) {
      CAPTURE(dtype_name(d));
      CAPTURE(arrange_name(arr));
      std::vector<double> v(3 * 33);
      for (size_t i = 0; i < v.size(); ++i) v[i] = double(int64_t(i * 7 % 23) - 11);
      auto mk = [&](Device dev) { return make_tensor(v, {3, 33}, on(d, dev), arr); };
      parity([&](Device dev) { return ops::neg(mk(dev)); }, 0, 0);
      parity([&](Device dev) { return ops::abs(mk(dev)); }, 0, 0);
      parity([&](Device dev) { return ops::sign(mk(dev)); }, 0, 0);
      parity([&](Device dev) { return ops::relu(mk(dev)); }, 0, 0);
      parity([&](Device dev) { return ops::clamp(mk(dev), -4, 6); }, 0, 0);
    }
  }
}

TEST_CASE_TEMPLATE("binary: cuda binary ops with broadcasting match the cpu", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  using namespace ddpm::ops;
  const DType d = dtype_of<T>();
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&, const Tensor&)>>> ops_ = {
      {"add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }},
      {"div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b + 1.0 / 16); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return ops::pow(ops::abs(a) + 0.125, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return ops::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return ops::minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return ops::eq(ops::relu(a), ops::relu(b)); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ops::ne(ops::relu(a), ops::relu(b)); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return ops::lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return ops::le(ops::relu(a), ops::relu(b)); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return ops::gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ops::ge(ops::relu(a), ops::relu(b)); }},
  };
  const std::vector<std::pair<Shape, Shape>> pairs = {{{3, 7}, {3, 7}},     {{3, 1}, {7}},       {{2, 1, 33}, {5, 1}},
                                                      {{}, {3, 7}},         {{4, 1, 1}, {1, 3, 5}}, {{4099}, {4099}},
                                                      {{2, 3, 1}, {2, 3, 7}}};
  for (const auto& op : ops_) {
    for (const auto& sp : pairs) {
      for (Arrange arr : kArranges) {
        CAPTURE(op.first);
        CAPTURE(shape_str(sp.first));
        CAPTURE(shape_str(sp.second));
        CAPTURE(arrange_name(arr));
        std::vector<double> va = dyadic_values(size_t(numel_of(sp.first)), 1);
        std::vector<double> vb = dyadic_values(size_t(numel_of(sp.second)), 2);
        Arrange arr_b = arr == Arrange::Contiguous ? Arrange::Transposed : Arrange::Strided;
        parity([&](Device dev) {
          return op.second(make_tensor(va, sp.first, on(d, dev), arr), make_tensor(vb, sp.second, on(d, dev), arr_b));
        }, d);
      }
    }
  }
  // expanded (stride 0) operands
  parity([&](Device dev) {
    Tensor a = ops::expand(tensor({1, 2, 3}, {3, 1}, on(d, dev)), {3, 5});
    Tensor b = ops::expand(tensor(dyadic_values(5), {5}, on(d, dev)), {3, 5});
    return ops::mul(ops::transpose(a, 0, 1), ops::transpose(b, 0, 1));
  }, d);
}

TEST_CASE_TEMPLATE("binary_scalar and where: cuda scalar forms comparisons and where match the cpu", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  using namespace ddpm::ops;
  const DType d = dtype_of<T>();
  const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> ops_ = {
      {"a + s", [](const Tensor& a) { return a + 0.1; }},   {"s - a", [](const Tensor& a) { return 2.5 - a; }},
      {"a * s", [](const Tensor& a) { return a * -0.375; }}, {"a / s", [](const Tensor& a) { return a / 3.0; }},
      {"s / a", [](const Tensor& a) { return 1.0 / (a + 1.0 / 16); }},
      {"pow(s, a)", [](const Tensor& a) { return ops::pow(1.5, a); }},
      {"pow(a, s)", [](const Tensor& a) { return ops::pow(ops::abs(a), 2.5); }},
      {"maximum(a, s)", [](const Tensor& a) { return ops::maximum(a, 0.25); }},
      {"minimum(a, s)", [](const Tensor& a) { return ops::minimum(a, 0.25); }},
      {"eq(a, s)", [](const Tensor& a) { return ops::eq(a, 0.5); }},
      {"ne(a, s)", [](const Tensor& a) { return ops::ne(a, 0.5); }},
      {"lt(a, s)", [](const Tensor& a) { return ops::lt(a, 0.5); }},
      {"le(a, s)", [](const Tensor& a) { return ops::le(a, 0.5); }},
      {"gt(a, s)", [](const Tensor& a) { return ops::gt(a, 0.5); }},
      {"ge(a, s)", [](const Tensor& a) { return ops::ge(a, 0.5); }},
      {"where", [](const Tensor& a) { return ops::where(ops::gt(a, 0.0), a, ops::neg(a) * 2.0); }},
  };
  for (const auto& op : ops_) {
    for (const Shape& shape : kShapes) {
      for (Arrange arr : kArranges) {
        CAPTURE(op.first);
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 4);
        parity([&](Device dev) { return op.second(make_tensor(v, shape, on(d, dev), arr)); }, d);
      }
    }
  }
  // where with three-way broadcasting and a strided mask
  std::vector<double> vc = {1, 0, 0, 1, 1, 0, 1, 0, 1, 0};
  parity([&](Device dev) {
    Tensor c = make_tensor(vc, {2, 1, 5}, on(DType::Bool, dev), Arrange::Strided);
    return ops::where(c, tensor({1, 2, 3}, {3, 1}, on(d, dev)), scalar_tensor(-1, on(d, dev)));
  }, d);
}

TEST_CASE_TEMPLATE("reduce: cuda reductions over various dims match the cpu", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  struct R {
    Shape shape;
    std::vector<std::vector<int64_t>> dims;
  };
  const std::vector<R> cases = {
      {{3, 5, 7}, {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {0, 1}}},
      {{2, 3, 1, 33}, {{0, 3}, {1}, {2}, {-1, -3}}},
      {{100003}, {{}, {0}}},
      {{7, 4099}, {{1}, {0}}},
      {{1025, 3}, {{0}, {1}}},
  };
  for (const R& rc : cases) {
    std::vector<double> v = dyadic_values(size_t(numel_of(rc.shape)), 6);
    std::vector<double> ties(v.size());
    for (size_t i = 0; i < v.size(); ++i) ties[i] = double(int((i * 13 + 2) % 6));
    for (Arrange arr : kArranges) {
      for (const auto& dims : rc.dims) {
        for (bool keep : {false, true}) {
          CAPTURE(shape_str(rc.shape));
          CAPTURE(dims.size());
          CAPTURE(dims.empty() ? 99 : dims[0]);
          CAPTURE(arrange_name(arr));
          CAPTURE(keep);
          auto mk = [&](Device dev) { return make_tensor(v, rc.shape, on(d, dev), arr); };
          parity([&](Device dev) { return ops::sum(mk(dev), dims, keep); }, d);
          parity([&](Device dev) { return ops::mean(mk(dev), dims, keep); }, d);
          parity([&](Device dev) { return ops::max(mk(dev), dims, keep); }, d);
          parity([&](Device dev) { return ops::min(mk(dev), dims, keep); }, d);
          for (int64_t corr : {0, 1}) {
            parity([&](Device dev) { return ops::var(mk(dev), dims, corr, keep); },
                   d == DType::Float64 ? 1e-12 : 1e-5, d == DType::Float64 ? 1e-10 : 1e-4);
          }
          if (dims.size() == 1) {
            auto mkt = [&](Device dev) { return make_tensor(ties, rc.shape, on(d, dev), arr); };
            parity([&](Device dev) { return ops::argmax(mkt(dev), dims[0], keep); }, 0, 0);
            parity([&](Device dev) { return ops::argmin(mkt(dev), dims[0], keep); }, 0, 0);
          }
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("softmax: cuda softmax and log_softmax match the cpu including long rows and huge inputs", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  for (const Shape& shape : {Shape{7}, Shape{3, 7}, Shape{2, 3, 33}, Shape{3, 4099}, Shape{1025, 5}}) {
    std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 8);
    for (Arrange arr : kArranges) {
      for (int64_t dim : {int64_t(0), int64_t(-1)}) {
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        CAPTURE(dim);
        parity([&](Device dev) { return ops::softmax(make_tensor(v, shape, on(d, dev), arr), dim); }, d);
        parity([&](Device dev) { return ops::log_softmax(make_tensor(v, shape, on(d, dev), arr), dim); }, d);
      }
    }
  }
  std::vector<double> big = {1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4, 88.75, 89, 89.25};
  parity([&](Device dev) { return ops::softmax(tensor(big, {4, 3}, on(d, dev)), 1); }, d);
  parity([&](Device dev) { return ops::log_softmax(tensor(big, {4, 3}, on(d, dev)), 1); }, d);
}

TEST_CASE_TEMPLATE("gemm: cuda matmul matches the cpu for 1-d 2-d batched broadcast and transposed operands", T, float,
                   double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{33}, {33}},           {{7, 33}, {33}},          {{33}, {33, 5}},      {{1, 1}, {1, 1}},
      {{7, 33}, {33, 3}},     {{3, 1}, {1, 5}},         {{2, 7, 33}, {33, 5}}, {{7, 3}, {2, 3, 5}},
      {{2, 1, 3, 4}, {5, 4, 6}}, {{5}, {2, 5, 3}},      {{2, 3, 5}, {5}},     {{129, 65}, {65, 67}},
  };
  for (const auto& mc : cases) {
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(mc.first));
      CAPTURE(shape_str(mc.second));
      CAPTURE(arrange_name(arr));
      std::vector<double> va = dyadic_values(size_t(numel_of(mc.first)), 1);
      std::vector<double> vb = dyadic_values(size_t(numel_of(mc.second)), 2);
      Arrange arr_b = arr == Arrange::Strided ? Arrange::Transposed : arr;
      parity([&](Device dev) {
        return ops::matmul(make_tensor(va, mc.first, on(d, dev), arr), make_tensor(vb, mc.second, on(d, dev), arr_b));
      }, d);
    }
  }
  // an expanded batch and a non-dyadic product (float32 accumulation may differ in order)
  parity([&](Device dev) {
    Tensor c = ops::expand(tensor(dyadic_values(12, 5), {1, 3, 4}, on(d, dev)), {4, 3, 4});
    return ops::matmul(c, tensor(dyadic_values(32, 6), {4, 4, 2}, on(d, dev)));
  }, d);
  std::vector<double> sa(33 * 129), sb(129 * 17);
  for (size_t i = 0; i < sa.size(); ++i) sa[i] = std::sin(0.37 * double(i));
  for (size_t i = 0; i < sb.size(); ++i) sb[i] = std::cos(0.11 * double(i));
  parity([&](Device dev) {
    return ops::matmul(tensor(sa, {33, 129}, on(d, dev)), ops::transpose(tensor(sb, {17, 129}, on(d, dev)), 0, 1));
  }, d == DType::Float64 ? 1e-12 : 1e-4, d == DType::Float64 ? 1e-12 : 1e-4);
}

TEST_CASE_TEMPLATE("index_select gather index_add and scatter_add: cuda ops match the cpu", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  std::vector<double> v = dyadic_values(5 * 3 * 7, 3);
  std::vector<int64_t> iv = {4, 0, 4, 2, 1, 1, 0};
  auto idx = [](const std::vector<int64_t>& x, const Shape& s, Device dev) {
    return Tensor::from_vector<int64_t>(x, s).to(dev);
  };
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    for (int64_t dim : {0, 1, 2, -1}) {
      CAPTURE(dim);
      std::vector<int64_t> use = iv;
      int64_t size = dim == 0 ? 5 : dim == 1 ? 3 : 7;
      for (int64_t& i : use) i %= size;
      parity([&](Device dev) {
        return ops::index_select(make_tensor(v, {5, 3, 7}, on(d, dev), arr), dim, idx(use, {7}, dev));
      }, 0, 0);
      // gather with an index of the input's shape except 4 along dim
      Shape is{5, 3, 7};
      int64_t nd = dim < 0 ? dim + 3 : dim;
      is[nd] = 4;
      std::vector<int64_t> gi(size_t(numel_of(is)));
      for (size_t i = 0; i < gi.size(); ++i) gi[i] = int64_t((i * 5 + 1) % size_t(size));
      parity([&](Device dev) { return ops::gather(make_tensor(v, {5, 3, 7}, on(d, dev), arr), dim, idx(gi, is, dev)); },
             0, 0);
      // the adjoints accumulate repeated indices (float32 atomics may add in any order: values are exact)
      std::vector<double> sv = dyadic_values(size_t(numel_of(is)), 9);
      parity([&](Device dev) {
        return ops::scatter_add({5, 3, 7}, dim, idx(gi, is, dev), make_tensor(sv, is, on(d, dev), arr));
      }, d);
      Shape ss{5, 3, 7};
      ss[nd] = 7;
      std::vector<double> av = dyadic_values(size_t(numel_of(ss)), 10);
      parity([&](Device dev) {
        return ops::index_add({5, 3, 7}, dim, idx(use, {7}, dev), make_tensor(av, ss, on(d, dev), arr));
      }, d);
    }
  }
  // many collisions: 4099 sources into 3 slots
  std::vector<int64_t> many(4099);
  for (size_t i = 0; i < many.size(); ++i) many[i] = int64_t(i % 3);
  std::vector<double> mv = dyadic_values(4099, 11);
  parity([&](Device dev) { return ops::index_add({3}, 0, idx(many, {4099}, dev), tensor(mv, {4099}, on(d, dev))); }, d);
  parity([&](Device dev) { return ops::scatter_add({3}, 0, idx(many, {4099}, dev), tensor(mv, {4099}, on(d, dev))); }, d);
}

TEST_CASE("random: the generator gives the same numbers on the cpu and the gpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    for (const Shape& shape : {Shape{1}, Shape{3, 7}, Shape{33, 1025}}) {
      CAPTURE(shape_str(shape));
      Generator gc(31337), gg(31337);
      (void)rand({5}, {}, &gc);  // start at a non-zero offset
      (void)rand({5}, {}, &gg);
      Tensor uc = rand(shape, on(d, Device::cpu()), &gc, -2, 5), ug = rand(shape, on(d, gpu()), &gg, -2, 5);
      CHECK(ug.device() == gpu());
      check_close(ug, uc, 0, 0);
      CHECK(gc.offset() == gg.offset());
      Tensor nc = randn(shape, on(d, Device::cpu()), &gc, 1, 2), ng = randn(shape, on(d, gpu()), &gg, 1, 2);
      // Box-Muller's log/sin/cos may differ in the last bit between libm and CUDA's math library
      check_close(ng, nc, d == DType::Float64 ? 1e-13 : 1e-6, d == DType::Float64 ? 1e-13 : 1e-6);
      Tensor bc = bernoulli(shape, 0.3, on(d, Device::cpu()), &gc), bg = bernoulli(shape, 0.3, on(d, gpu()), &gg);
      check_close(bg, bc, 0, 0);
      CHECK(gc.offset() == gg.offset());
    }
  }
  Generator gc(8), gg(8);
  check_close(randint(-5, 9, {7, 33}, on(DType::Int64, gpu()), &gg), randint(-5, 9, {7, 33}, DType::Int64, &gc), 0, 0);
  check_close(randint(0, 3, {1025}, on(DType::Int32, gpu()), &gg), randint(0, 3, {1025}, DType::Int32, &gc), 0, 0);
  CHECK(gc.offset() == gg.offset());
}

}  // TEST_SUITE("cuda")
