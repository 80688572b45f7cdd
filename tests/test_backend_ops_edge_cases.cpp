// The backend kernels' CPU/CUDA edge cases through the ops front end: integer reductions and
// elementwise ops, softmax and reductions over edge rows and launch shapes, moving and drawing
// elements of every dtype, out-of-range indices, and optimizer kernels over several launches (the
// common cases are in test_backend_ops_parity.cpp). Without a GPU every case prints the skip marker.
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

TEST_SUITE("cuda") {

// ---- Integer reductions -------------------------------------------------------------------------

TEST_CASE("reduce: cuda integer sum max min argmax and argmin match the cpu over dims keepdim and views") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  struct R {
    Shape shape;
    std::vector<std::vector<int64_t>> dims;
  };
  const std::vector<R> cases = {
      {{3, 5, 7}, {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}}},
      {{2, 3, 1, 33}, {{0, 3}, {1}, {2}, {-1, -3}}},
      {{100003}, {{}, {0}}},  // one long row: a block per row
      {{7, 4099}, {{1}, {0}}},
      {{1025, 3}, {{0}, {1}}},
  };
  for (DType d : {DType::Int32, DType::Int64}) {
    // int32: |sum| <= 100003 * 1000 fits; int64: values beyond 2^32 (exact in double), sums below 2^63
    const double scale = d == DType::Int64 ? double(int64_t(1) << 33) : 1.0;
    for (const R& rc : cases) {
      const size_t n = size_t(numel_of(rc.shape));
      std::vector<double> v = int_values(n, 1000, 6, scale);
      std::vector<double> ties = int_values(n, 2, 7, scale);  // five levels: many ties in every row
      for (Arrange arr : kArranges) {
        for (const auto& dims : rc.dims) {
          for (bool keep : {false, true}) {
            CAPTURE(dtype_name(d));
            CAPTURE(shape_str(rc.shape));
            CAPTURE(shape_str(dims));
            CAPTURE(arrange_name(arr));
            CAPTURE(keep);
            auto mk = [&](Device dev) { return make_tensor(v, rc.shape, on(d, dev), arr); };
            parity_bits([&](Device dev) { return ops::sum(mk(dev), dims, keep); });
            parity_bits([&](Device dev) { return ops::max(mk(dev), dims, keep); });
            parity_bits([&](Device dev) { return ops::min(mk(dev), dims, keep); });
            if (dims.size() == 1) {
              auto mkt = [&](Device dev) { return make_tensor(ties, rc.shape, on(d, dev), arr); };
              parity_bits([&](Device dev) { return ops::argmax(mkt(dev), dims[0], keep); });
              parity_bits([&](Device dev) { return ops::argmin(mkt(dev), dims[0], keep); });
            }
          }
        }
      }
    }
    CAPTURE(dtype_name(d));
    // the type's extremes: max/min start from the limits, and a row of only the lowest value
    const double lo = d == DType::Int32 ? -2147483648.0 : -9223372036854775808.0;
    const double hi = d == DType::Int32 ? 2147483647.0 : 9223372036854775807.0;  // rounds to 2^63: saturates
    std::vector<double> ext = {lo, lo, lo, lo, hi, 0, lo, -1, hi, hi, 5, hi};
    for (Arrange arr : kArranges) {
      CAPTURE(arrange_name(arr));
      auto mk = [&](Device dev) { return make_tensor(ext, {3, 4}, on(d, dev), arr); };
      parity_bits([&](Device dev) { return ops::max(mk(dev), {1}); });
      parity_bits([&](Device dev) { return ops::min(mk(dev), {1}); });
      parity_bits([&](Device dev) { return ops::argmax(mk(dev), 1); });
      parity_bits([&](Device dev) { return ops::argmin(mk(dev), 0, true); });
    }
    // a 0-dim input reduces to itself; an empty row sums to 0
    parity_bits([&](Device dev) { return ops::sum(scalar_tensor(-7, on(d, dev))); });
    parity_bits([&](Device dev) { return ops::argmax(scalar_tensor(-7, on(d, dev)), 0); });
    parity_bits([&](Device dev) { return ops::sum(zeros({3, 0}, on(d, dev)), {1}); });
  }
}

TEST_CASE("reduce: cuda integer sum max and min into an int64 output match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // The front end keeps the input dtype; the backends also write int64 for an int32 input, which the
  // int32 output could not hold here: rows of 33 values near 2^31 sum to about 7e10.
  const int64_t rows = 5, n = 33;
  std::vector<double> v(size_t(rows * n));
  std::vector<int64_t> expected_sum(size_t(rows), 0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < n; ++k) {
      const int64_t x = (r % 2 ? -1 : 1) * (int64_t(2147483000) - int64_t((k * 37 + r * 11) % 1000));
      v[size_t(r * n + k)] = double(x);
      expected_sum[size_t(r)] += x;
    }
  }
  // reduces the rows of a [rows, n] view (the reduced dim is last) into int64
  auto reduce_int64 = [](ReduceOp op, const Tensor& x) {
    Tensor out = empty({x.shape()[0]}, on(DType::Int64, x.device()));
    backend(x.device()).reduce(op, out.ref(), x.ref(), x.shape()[1], 0);
    return out;
  };
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    auto mk = [&](Device dev) { return make_tensor(v, {rows, n}, on(DType::Int32, dev), arr); };
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
      CAPTURE(reduce_name(op));
      parity_bits([&](Device dev) { return reduce_int64(op, mk(dev)); });
    }
    CHECK(reduce_int64(ReduceOp::Sum, mk(gpu())).to_vector<int64_t>() == expected_sum);
    // a transposed view: rows along the storage's first dim
    parity_bits([&](Device dev) { return reduce_int64(ReduceOp::Sum, ops::transpose(mk(dev), 0, 1).contiguous()); });
  }
}

// ---- Integer elementwise ------------------------------------------------------------------------

TEST_CASE("binary and binary_scalar: cuda integer binary ops with broadcasting and scalar forms match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  using Fn = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<const char*, Fn>> ops_ = {
      {"add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }},
      {"mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return ops::maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return ops::minimum(a, b); }},
      {"eq", [](const Tensor& a, const Tensor& b) { return ops::eq(a, b); }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ops::ne(a, b); }},
      {"lt", [](const Tensor& a, const Tensor& b) { return ops::lt(a, b); }},
      {"le", [](const Tensor& a, const Tensor& b) { return ops::le(a, b); }},
      {"gt", [](const Tensor& a, const Tensor& b) { return ops::gt(a, b); }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ops::ge(a, b); }},
  };
  const std::vector<std::pair<Shape, Shape>> pairs = {{{3, 7}, {3, 7}},       {{3, 1}, {7}},   {{2, 1, 33}, {5, 1}},
                                                      {{}, {3, 7}},           {{4099}, {4099}}, {{4, 1, 1}, {1, 3, 5}},
                                                      {{2, 3, 1}, {2, 3, 7}}};
  for (DType d : {DType::Int32, DType::Int64}) {
    for (const auto& op : ops_) {
      // Values in [-11, 11] scaled so that no result overflows: large for add/sub/compare (int64 past
      // 2^32), and for mul a product past 2^32 in int64 only.
      const bool is_mul = std::string(op.first) == "mul";
      const double sa = d == DType::Int32 ? (is_mul ? 1.0 : std::ldexp(1.0, 24))
                                          : (is_mul ? std::ldexp(1.0, 28) : std::ldexp(1.0, 40));
      const double sb = d == DType::Int32 ? (is_mul ? double(1 << 16) : sa) : (is_mul ? 16.0 : sa);
      for (const auto& sp : pairs) {
        for (Arrange arr : kArranges) {
          CAPTURE(dtype_name(d));
          CAPTURE(op.first);
          CAPTURE(shape_str(sp.first));
          CAPTURE(shape_str(sp.second));
          CAPTURE(arrange_name(arr));
          std::vector<double> va = int_values(size_t(numel_of(sp.first)), 11, 1, sa);
          std::vector<double> vb = int_values(size_t(numel_of(sp.second)), 11, 2, sb);
          Arrange arr_b = arr == Arrange::Contiguous ? Arrange::Transposed : Arrange::Strided;
          parity_bits([&](Device dev) {
            return op.second(make_tensor(va, sp.first, on(d, dev), arr), make_tensor(vb, sp.second, on(d, dev), arr_b));
          });
        }
      }
    }
    // Scalar forms. A fractional scalar takes the tensor's type first (truncated toward zero) on both.
    for (double s : {3.0, -2.5, 0.75}) {
      const std::vector<std::pair<const char*, std::function<Tensor(const Tensor&)>>> sops = {
          {"a + s", [s](const Tensor& a) { return ops::add(a, s); }},
          {"a - s", [s](const Tensor& a) { return ops::sub(a, s); }},
          {"s - a", [s](const Tensor& a) { return ops::sub(s, a); }},
          {"a * s", [s](const Tensor& a) { return ops::mul(a, s); }},
          {"maximum(a, s)", [s](const Tensor& a) { return ops::maximum(a, s); }},
          {"minimum(a, s)", [s](const Tensor& a) { return ops::minimum(a, s); }},
          {"eq(a, s)", [s](const Tensor& a) { return ops::eq(a, s); }},
          {"ne(a, s)", [s](const Tensor& a) { return ops::ne(a, s); }},
          {"lt(a, s)", [s](const Tensor& a) { return ops::lt(a, s); }},
          {"le(a, s)", [s](const Tensor& a) { return ops::le(a, s); }},
          {"gt(a, s)", [s](const Tensor& a) { return ops::gt(a, s); }},
          {"ge(a, s)", [s](const Tensor& a) { return ops::ge(a, s); }},
      };
      for (const auto& op : sops) {
        for (const Shape& shape : {Shape{}, Shape{3, 33}, Shape{4099}}) {
          for (Arrange arr : kArranges) {
            CAPTURE(dtype_name(d));
            CAPTURE(op.first);
            CAPTURE(s);
            CAPTURE(shape_str(shape));
            CAPTURE(arrange_name(arr));
            std::vector<double> v = int_values(size_t(numel_of(shape)), 11, 3);
            parity_bits([&](Device dev) { return op.second(make_tensor(v, shape, on(d, dev), arr)); });
          }
        }
      }
    }
  }
  // int64 scalars and values beyond int32's range; the int unary ops there too
  std::vector<double> big = int_values(3 * 33, 11, 4, std::ldexp(1.0, 40));
  for (size_t i = 0; i < big.size(); ++i) big[i] += double(i);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    auto mk = [&](Device dev) { return make_tensor(big, {3, 33}, on(DType::Int64, dev), arr); };
    parity_bits([&](Device dev) { return ops::add(mk(dev), std::ldexp(1.0, 41) + 1); });
    parity_bits([&](Device dev) { return ops::sub(std::ldexp(1.0, 44), mk(dev)); });
    parity_bits([&](Device dev) { return ops::maximum(mk(dev), -std::ldexp(1.0, 42)); });
    parity_bits([&](Device dev) { return ops::lt(mk(dev), std::ldexp(1.0, 42)); });
    parity_bits([&](Device dev) { return ops::neg(mk(dev)); });
    parity_bits([&](Device dev) { return ops::abs(mk(dev)); });
    parity_bits([&](Device dev) { return ops::sign(mk(dev)); });
    parity_bits([&](Device dev) { return ops::relu(mk(dev)); });
    parity_bits([&](Device dev) { return ops::clamp(mk(dev), -std::ldexp(1.0, 42), std::ldexp(1.0, 43)); });
  }
}

// ---- Softmax and reductions: edge rows and launch shapes ----------------------------------------

TEST_CASE_TEMPLATE("softmax: cuda softmax and log_softmax over a middle dim rows of one or two and inf or nan rows match the cpu",
                   T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  struct S {
    Shape shape;
    int64_t dim;
  };
  const std::vector<S> cases = {{{2, 5, 3}, 1},  {{3, 33, 4}, 1}, {{2, 3, 1, 5}, -2}, {{5, 1}, -1},
                                {{1, 5}, 0},     {{4099, 2}, 1},  {{3, 2}, 0},        {{1}, 0}};
  for (const S& sc : cases) {
    std::vector<double> v = dyadic_values(size_t(numel_of(sc.shape)), 5);
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(sc.shape));
      CAPTURE(sc.dim);
      CAPTURE(arrange_name(arr));
      parity_close([&](Device dev) { return ops::softmax(make_tensor(v, sc.shape, on(d, dev), arr), sc.dim); }, d);
      parity_close([&](Device dev) { return ops::log_softmax(make_tensor(v, sc.shape, on(d, dev), arr), sc.dim); }, d);
    }
  }
  // a 0-dim input
  parity_close([&](Device dev) { return ops::softmax(scalar_tensor(2.5, on(d, dev)), 0); }, d);
  parity_close([&](Device dev) { return ops::log_softmax(scalar_tensor(2.5, on(d, dev)), -1); }, d);
  // rows: all -inf (NaN: -inf - -inf), one -inf (its weight 0, its log -inf), a +inf, a NaN, and
  // an ordinary row after them
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> special = {-inf, -inf, -inf, -inf, 1, -inf, 2, 0.5, 1, inf, 2, 3, 1, nan, 2, 3, 1, 2, 3, 4};
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    parity_close([&](Device dev) { return ops::softmax(make_tensor(special, {5, 4}, on(d, dev), arr), 1); }, d);
    parity_close([&](Device dev) { return ops::log_softmax(make_tensor(special, {5, 4}, on(d, dev), arr), 1); }, d);
    // the same rows read down a column (dim 0 of the transpose)
    parity_close([&](Device dev) {
      return ops::softmax(ops::transpose(make_tensor(special, {5, 4}, on(d, dev), arr), 0, 1), 0);
    }, d);
  }
}

TEST_CASE("reduce and softmax: cuda reductions and softmax over very many strided rows and many long rows match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // The GPU picks a thread per row for rows of > 16 elements that are not adjacent in memory when
  // there are at least 1024 rows per SM (200003 rows cover up to 195 SMs), and a warp per row for
  // rows of > 512 elements when there are at least 64 rows per SM. test_cuda_parity's shapes reach
  // neither choice.
  const Shape columns{33, 200003};  // reduce / softmax over dim 0: 200003 strided rows of 33
  const Shape long_rows{10007, 520};
  std::vector<double> vc = dyadic_values(size_t(numel_of(columns)), 3);
  std::vector<double> vl = dyadic_values(size_t(numel_of(long_rows)), 4);
  std::vector<double> ic = int_values(size_t(numel_of(columns)), 2, 5);  // ties for argmax
  std::vector<double> il = int_values(size_t(numel_of(long_rows)), 1000, 6);
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    // built once per device (6.6M and 5.2M elements)
    const Tensor hc = tensor(vc, columns, d), hl = tensor(vl, long_rows, d);
    const Tensor gc = hc.to(gpu()), gl = hl.to(gpu());
    auto mc = [&](Device dev) { return dev.is_cpu() ? hc : gc; };
    auto ml = [&](Device dev) { return dev.is_cpu() ? hl : gl; };
    parity_close([&](Device dev) { return ops::sum(mc(dev), {0}); }, d);
    parity_close([&](Device dev) { return ops::mean(mc(dev), {0}, true); }, d);
    parity_close([&](Device dev) { return ops::max(mc(dev), {0}); }, d);
    parity_close([&](Device dev) { return ops::var(mc(dev), {0}); }, d == DType::Float64 ? 1e-12 : 1e-5,
                 d == DType::Float64 ? 1e-10 : 1e-4);
    parity_close([&](Device dev) { return ops::softmax(mc(dev), 0); }, d);
    parity_close([&](Device dev) { return ops::log_softmax(mc(dev), 0); }, d);
    parity_close([&](Device dev) { return ops::sum(ml(dev), {1}); }, d);
    parity_close([&](Device dev) { return ops::min(ml(dev), {-1}); }, d);
    parity_close([&](Device dev) { return ops::var(ml(dev), {1}, 0); }, d == DType::Float64 ? 1e-12 : 1e-5,
                 d == DType::Float64 ? 1e-10 : 1e-4);
    parity_close([&](Device dev) { return ops::softmax(ml(dev), 1); }, d);
    parity_close([&](Device dev) { return ops::log_softmax(ml(dev), -1); }, d);
  }
  for (DType d : {DType::Int32, DType::Int64}) {
    CAPTURE(dtype_name(d));
    const Tensor hc = tensor(ic, columns, d), hl = tensor(il, long_rows, d);
    const Tensor gc = hc.to(gpu()), gl = hl.to(gpu());
    auto mc = [&](Device dev) { return dev.is_cpu() ? hc : gc; };
    auto ml = [&](Device dev) { return dev.is_cpu() ? hl : gl; };
    parity_bits([&](Device dev) { return ops::sum(mc(dev), {0}); });
    parity_bits([&](Device dev) { return ops::argmax(mc(dev), 0); });
    parity_bits([&](Device dev) { return ops::argmin(mc(dev), 0); });
    parity_bits([&](Device dev) { return ops::max(ml(dev), {1}); });
    parity_bits([&](Device dev) { return ops::sum(ml(dev), {1}); });
    parity_bits([&](Device dev) { return ops::argmin(ml(dev), 1); });
  }
}

// ---- Moving elements of every dtype -------------------------------------------------------------

TEST_CASE("where index_select and gather: cuda moves bool half and integer elements like the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  auto idx = [](const std::vector<double>& x, const Shape& s, Device dev, Arrange arr) {
    return make_tensor(x, s, on(DType::Int64, dev), arr);
  };
  std::vector<double> mask = moving_values(DType::Bool, 2 * 1 * 5, 4);
  for (DType d : {DType::Bool, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64}) {
    std::vector<double> v = moving_values(d, 5 * 3 * 7, 3);
    std::vector<double> va = moving_values(d, 3 * 5, 1), vb = moving_values(d, 5, 2);
    for (Arrange arr : kArranges) {
      CAPTURE(dtype_name(d));
      CAPTURE(arrange_name(arr));
      // where with three-way broadcasting: [2, 1, 5] mask, [3, 5] and [5] values
      parity_bits([&](Device dev) {
        return ops::where(make_tensor(mask, {2, 1, 5}, on(DType::Bool, dev), arr), make_tensor(va, {3, 5}, on(d, dev), arr),
                          make_tensor(vb, {5}, on(d, dev), Arrange::Strided));
      });
      parity_bits([&](Device dev) {
        return ops::where(make_tensor(mask, {2, 5}, on(DType::Bool, dev), Arrange::Strided),
                          make_tensor(moving_values(d, 10, 5), {2, 5}, on(d, dev), arr), scalar_tensor(1, on(d, dev)));
      });
      for (int64_t dim : {0, 1, 2, -1}) {
        CAPTURE(dim);
        const int64_t nd = dim < 0 ? dim + 3 : dim;
        const int64_t size = nd == 0 ? 5 : nd == 1 ? 3 : 7;
        std::vector<double> use = {4, 0, 4, 2, 1, 1, 0};
        for (double& i : use) i = double(int64_t(i) % size);
        // a contiguous and a strided index (whose gaps hold -999: read, they would be out of range)
        for (Arrange iarr : {Arrange::Contiguous, Arrange::Strided}) {
          CAPTURE(arrange_name(iarr));
          parity_bits([&](Device dev) {
            return ops::index_select(make_tensor(v, {5, 3, 7}, on(d, dev), arr), dim, idx(use, {7}, dev, iarr));
          });
        }
        // gather with an index of the input's shape except 4 along dim, contiguous and transposed
        Shape is{5, 3, 7};
        is[size_t(nd)] = 4;
        std::vector<double> gi(size_t(numel_of(is)));
        for (size_t i = 0; i < gi.size(); ++i) gi[i] = double((i * 5 + 1) % size_t(size));
        for (Arrange iarr : {Arrange::Contiguous, Arrange::Transposed}) {
          CAPTURE(arrange_name(iarr));
          parity_bits([&](Device dev) {
            return ops::gather(make_tensor(v, {5, 3, 7}, on(d, dev), arr), dim, idx(gi, is, dev, iarr));
          });
        }
      }
    }
  }
}

// ---- Random numbers in every dtype --------------------------------------------------------------

TEST_CASE("random: cuda random numbers drawn into bfloat16 float16 bool and integer dtypes match the cpu bit for bit") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (const Shape& shape : {Shape{1}, Shape{3, 7}, Shape{33, 1025}}) {
    CAPTURE(shape_str(shape));
    Generator gc(4242), gg(4242);
    (void)rand({5}, {}, &gc);  // start at a non-zero offset
    (void)rand({5}, {}, &gg);
    for (DType d : {DType::BFloat16, DType::Float16}) {
      CAPTURE(dtype_name(d));
      check_same_bits(rand(shape, on(d, gpu()), &gg), rand(shape, on(d, Device::cpu()), &gc));
      check_same_bits(rand(shape, on(d, gpu()), &gg, -0.3, 1.7), rand(shape, on(d, Device::cpu()), &gc, -0.3, 1.7));
      // Box-Muller's double log/sin/cos may differ in the last bit between libm and CUDA's math
      // library; rounded to 8 or 11 bits that almost never shows, but it may: one unit of the half
      check_close(randn(shape, on(d, gpu()), &gg, 1, 2), randn(shape, on(d, Device::cpu()), &gc, 1, 2), 1e-7,
                  d == DType::BFloat16 ? 1.0 / 128 : 1.0 / 1024);
      check_same_bits(randint(-300, 300, shape, on(d, gpu()), &gg), randint(-300, 300, shape, on(d, Device::cpu()), &gc));
      CHECK(gc.offset() == gg.offset());
    }
    for (DType d : {DType::Bool, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64, DType::Float32}) {
      CAPTURE(dtype_name(d));
      check_same_bits(bernoulli(shape, 0.3, on(d, gpu()), &gg), bernoulli(shape, 0.3, on(d, Device::cpu()), &gc));
    }
    check_same_bits(randint(0, 3, shape, on(DType::Bool, gpu()), &gg),
                    randint(0, 3, shape, on(DType::Bool, Device::cpu()), &gc));
    check_same_bits(randint(-9, 9, shape, on(DType::Float64, gpu()), &gg),
                    randint(-9, 9, shape, on(DType::Float64, Device::cpu()), &gc));
    // the widest range allowed: 2^32 values
    const int64_t lo = -(int64_t(1) << 31), hi = int64_t(1) << 31;
    check_same_bits(randint(lo, hi, shape, on(DType::Int64, gpu()), &gg), randint(lo, hi, shape, DType::Int64, &gc));
    CHECK(gc.offset() == gg.offset());
  }
}

TEST_CASE("random: cuda rand over a range whose width times the uniform is inexact matches the cpu bit for bit") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // low + (high - low) * u rounds twice in double; without FMA contraction on either side the GPU
  // rounds the same way as the CPU.
  const std::vector<std::pair<double, double>> ranges = {{-0.3, 1.7}, {-1e5, 0.1}, {1.0 / 3, 2.0 / 3}};
  for (DType d : {DType::Float32, DType::Float64}) {
    for (const Shape& shape : {Shape{1}, Shape{3, 7}, Shape{33, 1025}}) {
      for (const auto& r : ranges) {
        CAPTURE(dtype_name(d));
        CAPTURE(shape_str(shape));
        CAPTURE(r.first);
        Generator gc(99), gg(99);
        (void)rand({3}, {}, &gc);
        (void)rand({3}, {}, &gg);
        check_same_bits(rand(shape, on(d, gpu()), &gg, r.first, r.second),
                        rand(shape, on(d, Device::cpu()), &gc, r.first, r.second));
        CHECK(gc.offset() == gg.offset());
      }
    }
  }
}

// ---- Out-of-range indices -----------------------------------------------------------------------

TEST_CASE("index_select gather index_add and scatter_add: cuda out-of-range indices are reported at the next synchronization naming the op and the index") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // The GPU records a bad index and throws at the next wait for the stream (a copy to the host or
  // Backend::synchronize), so each check below runs the op and then waits; the CPU throws at the op.
  const TensorOptions f32 = on(DType::Float32, gpu());
  auto idx = [](const std::vector<int64_t>& v, const Shape& s) { return Tensor::from_vector<int64_t>(v, s).to(gpu()); };
  auto sync = [] { backend(gpu()).synchronize(); };
  const Tensor x = tensor(dyadic_values(12), {3, 4}, f32);
  const Tensor good = idx({0, 3, 1, 2, 3, 0}, {3, 2});
  const Tensor x_cpu = x.cpu(), good_cpu = good.cpu();
  // After each error: nothing is left to report, and valid ops give the right values.
  auto still_works = [&] {
    CHECK_NOTHROW(sync());
    CHECK(check_same_bits(ops::gather(x, 1, good), ops::gather(x_cpu, 1, good_cpu)));
    CHECK(check_same_bits(ops::scatter_add({3, 4}, 1, good, ops::add(ops::gather(x, 1, good), 1.0)),
                          ops::scatter_add({3, 4}, 1, good_cpu, ops::add(ops::gather(x_cpu, 1, good_cpu), 1.0))));
    CHECK_NOTHROW(sync());
  };

  // [3, 2] index into dim 1 (size 4) with one bad value, 7
  CHECK_THROWS_WITH_AS(ops::gather(x, 1, idx({0, 7, 1, 2, 3, 0}, {3, 2})).cpu(),
                       doctest::Contains("gather: index 7 is out of range for dim 1 of size 4"), std::out_of_range);
  still_works();
  // index_add of [2, 4] rows into [3, 4] at rows {2, -1}
  CHECK_THROWS_WITH_AS((ops::index_add({3, 4}, 0, idx({2, -1}, {2}), ones({2, 4}, f32)), sync()),
                       doctest::Contains("index_add: index -1 is out of range for dim 0 of size 3"), std::out_of_range);
  still_works();
  // scatter_add of [3, 2] into [3, 4] along dim 1, one index 4
  CHECK_THROWS_WITH_AS((ops::scatter_add({3, 4}, 1, idx({0, 1, 4, 2, 3, 0}, {3, 2}), ones({3, 2}, f32)), sync()),
                       doctest::Contains("scatter_add: index 4 is out of range for dim 1 of size 4"), std::out_of_range);
  still_works();
  // index_select of rows {1, 3} of [3, 4]; the error shows at the next copy of any tensor
  const Tensor y = ones({5}, f32);
  CHECK_THROWS_WITH_AS((ops::index_select(x, 0, idx({1, 3}, {2})), ops::add(y, 1.0).cpu()),
                       doctest::Contains("index_select: index 3 is out of range for dim 0 of size 3"), std::out_of_range);
  still_works();
  // two bad ops before one wait: the first is reported, the second is not kept for later
  CHECK_THROWS_WITH_AS((ops::gather(x, 0, idx({0, 5, 1, 2, 2, 0, 1, 1}, {2, 4})),
                        ops::scatter_add({3, 4}, 1, idx({0, 1, 9, 2, 3, 0}, {3, 2}), ones({3, 2}, f32)), sync()),
                       doctest::Contains("gather: index 5 is out of range for dim 0 of size 3"), std::out_of_range);
  still_works();
}

// ---- Multi-tensor optimizer kernels over several launches ----------------------------------------

namespace {

// More tensors than one launch of any multi-tensor kernel holds (cuda/optim.cu packs a table into the
// kernel parameters: about 580 tensors for AdamW, 810 for EMA and 1010 for sum_of_squares), so each
// is split over at least three launches. Sizes: many of 1, odd ones up to 121, two empty, one long.
constexpr int kManyTensors = 2100;
int64_t many_size(int j) {
  if (j == 4 || j == 1500) return 0;
  if (j == 1001) return 65537;
  return j % 9 == 0 ? 1 : 2 * ((j * 37) % 61) + 1;
}

// kManyTensors host tensors of dtype d (the j-th of many_size(j)), normal values.
std::vector<Tensor> many_host(DType d, uint64_t seed, double scale = 1.0) {
  Generator gen(seed);
  std::vector<Tensor> out;
  for (int j = 0; j < kManyTensors; ++j) out.push_back(randn({many_size(j)}, d, &gen, 0.0, scale));
  return out;
}

// Fresh copies on `dev`, each a view 3 elements into its own buffer: the kernels must honour offsets.
std::vector<Tensor> placed(const std::vector<Tensor>& host, Device dev) {
  std::vector<Tensor> out;
  for (const Tensor& t : host) {
    Tensor view = ops::narrow(zeros({t.numel() + 3}, on(t.dtype(), dev)), 0, 3, t.numel());
    view.copy_(t);
    out.push_back(view);
  }
  return out;
}

std::vector<TensorRef> refs(const std::vector<Tensor>& ts) {
  std::vector<TensorRef> out;
  for (const Tensor& t : ts) out.push_back(t.ref());
  return out;
}

// Every tensor of a (on the GPU) has the bits of the same tensor of b (on the CPU); stops at the first
// one that differs.
void check_lists_same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b, const char* what) {
  REQUIRE(a.size() == b.size());
  for (size_t j = 0; j < a.size(); ++j) {
    CHECK(a[j].device() == gpu());
    CAPTURE(what);
    CAPTURE(j);
    if (!check_same_bits(a[j], b[j])) return;
  }
}

}  // namespace

TEST_CASE("adamw_step: cuda adamw over more tensors than one launch holds matches the cpu bit for bit") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    const std::vector<Tensor> p0 = many_host(d, 1), zero = many_host(d, 2, 0.0);
    std::vector<Tensor> pc = placed(p0, Device::cpu()), mc = placed(zero, Device::cpu()), vc = placed(zero, Device::cpu());
    std::vector<Tensor> pg = placed(p0, gpu()), mg = placed(zero, gpu()), vg = placed(zero, gpu());
    for (int t = 1; t <= 3; ++t) {
      const std::vector<Tensor> g = many_host(d, 10 + uint64_t(t), 0.5 * t);
      const std::vector<Tensor> gc = placed(g, Device::cpu()), gg = placed(g, gpu());
      AdamWStep s;
      s.lr = 1e-2;
      s.weight_decay = 0.1;
      s.bias_correction1 = 1 - std::pow(s.beta1, t);
      s.bias_correction2 = 1 - std::pow(s.beta2, t);
      backend(Device::cpu()).adamw_step(refs(pc), refs(gc), refs(mc), refs(vc), s);
      backend(gpu()).adamw_step(refs(pg), refs(gg), refs(mg), refs(vg), s);
    }
    check_lists_same_bits(pg, pc, "param");
    check_lists_same_bits(mg, mc, "m");
    check_lists_same_bits(vg, vc, "v");
    CHECK(ops::max(ops::abs(ops::sub(pc[1001], p0[1001]))).item() > 0);  // the step moved the parameters
  }
}

TEST_CASE("ema_update: cuda ema over more tensors than one launch holds matches the cpu bit for bit") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    const std::vector<Tensor> e0 = many_host(d, 3);
    std::vector<Tensor> ec = placed(e0, Device::cpu()), eg = placed(e0, gpu());
    int t = 0;
    for (double decay : {0.1, 0.5, 0.999}) {
      const std::vector<Tensor> p = many_host(d, 20 + uint64_t(t++), 3.0);
      backend(Device::cpu()).ema_update(refs(ec), refs(placed(p, Device::cpu())), decay);
      backend(gpu()).ema_update(refs(eg), refs(placed(p, gpu())), decay);
    }
    check_lists_same_bits(eg, ec, "ema");
    CHECK(ops::max(ops::abs(ops::sub(ec[1001], e0[1001]))).item() > 0);
  }
}

TEST_CASE("sum_of_squares: cuda sum_of_squares over more tensors than one launch holds matches the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // float32 and float64 tensors in one list, as clip_grad_norm passes them
  const std::vector<Tensor> h32 = many_host(DType::Float32, 4), h64 = many_host(DType::Float64, 5);
  std::vector<Tensor> host;
  for (int j = 0; j < kManyTensors; ++j) host.push_back(j % 3 == 0 ? h64[size_t(j)] : h32[size_t(j)]);
  long double reference = 0;
  for (const Tensor& t : host)
    for (double x : t.to_vector<double>()) reference += (long double)x * x;
  Tensor oc = empty({}, on(DType::Float64, Device::cpu())), og = empty({}, on(DType::Float64, gpu()));
  backend(Device::cpu()).sum_of_squares(oc.ref(), refs(placed(host, Device::cpu())));
  backend(gpu()).sum_of_squares(og.ref(), refs(placed(host, gpu())));
  CHECK(og.device() == gpu());
  CHECK(og.item() == doctest::Approx(oc.item()).epsilon(1e-12));
  CHECK(oc.item() == doctest::Approx(double(reference)).epsilon(1e-12));
}


}  // TEST_SUITE("cuda")
