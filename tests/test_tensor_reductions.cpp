// Reductions and softmax on the CPU against references computed with plain loops in double, also on
// large odd sizes (the parallel and blocked paths) and on empty tensors, in float32 and float64.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "tensor_ops_reference.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

TEST_SUITE("cpu") {

// ---- Reductions ---------------------------------------------------------------------------------

const std::vector<std::vector<int64_t>> kReduceDims3 = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {-3, -2}, {0, 1, 2}};

TEST_CASE_TEMPLATE("sum mean max min over various dims with and without keepdim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v = dyadic_values(105, 4);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const auto& dims : kReduceDims3) {
      for (bool keep : {false, true}) {
        CAPTURE(arrange_name(arr));
        CAPTURE(dims.size());
        CAPTURE(dims.empty() ? 99 : dims[0]);
        CAPTURE(dims.size() > 1 ? dims[1] : 99);
        CAPTURE(keep);
        Groups g = group_by(v, shape, dims, keep);
        check_ref(ops::sum(x, dims, keep), reduce_ref(g, ref_sum), g.out_shape, d);
        check_ref(ops::mean(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return ref_sum(s) / double(s.size()); }),
                  g.out_shape, d);
        check_ref(ops::max(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }),
                  g.out_shape, d);
        check_ref(ops::min(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return *std::min_element(s.begin(), s.end()); }),
                  g.out_shape, d);
      }
    }
  }
}

TEST_CASE_TEMPLATE("reductions of 4-d and 1-d tensors and of expanded views", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{2, 3, 1, 33};
  std::vector<double> v = dyadic_values(198, 6);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{0, 3}, {1}, {2}, {0, 1, 3}, {-1, -3}}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dims[0]);
      Groups g = group_by(v, shape, dims, false);
      check_ref(ops::sum(x, dims), reduce_ref(g, ref_sum), g.out_shape, d);
      Groups gk = group_by(v, shape, dims, true);
      check_ref(ops::max(x, dims, true),
                reduce_ref(gk, [](const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }),
                gk.out_shape, d);
    }
  }
  // 1-d, all dims: 0-dim results
  std::vector<double> w = dyadic_values(33, 2);
  Tensor s = ops::sum(make_tensor(w, {33}, d, Arrange::Strided));
  CHECK(s.dim() == 0);
  CHECK(s.item() == doctest::Approx(ref_sum(w)).epsilon(1e-12));
  CHECK(ops::sum(make_tensor(w, {33}, d), {}, true).shape() == Shape{1});
  // an expanded tensor counts each repeat
  Tensor e = ops::expand(tensor({1, 2, 3}, {3, 1}, d), {3, 4});
  check_ref(ops::sum(e, {1}), {4, 8, 12}, {3}, d);
  check_ref(ops::sum(e, {0}), {6, 6, 6, 6}, {4}, d);
  check_ref(ops::mean(e), {2}, {}, d);
}

TEST_CASE_TEMPLATE("var divides by n minus correction over dims", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v = dyadic_values(105, 7);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const auto& dims : kReduceDims3) {
      for (int64_t corr : {0, 1, 2}) {
        for (bool keep : {false, true}) {
          CAPTURE(arrange_name(arr));
          CAPTURE(dims.empty() ? 99 : dims[0]);
          CAPTURE(dims.size());
          CAPTURE(corr);
          CAPTURE(keep);
          Groups g = group_by(v, shape, dims, keep);
          auto f = [corr](const std::vector<double>& s) {
            double m = ref_sum(s) / double(s.size()), q = 0;
            for (double x : s) q += (x - m) * (x - m);
            return q / double(int64_t(s.size()) - corr);
          };
          check_ref(ops::var(x, dims, corr, keep), reduce_ref(g, f), g.out_shape, d);
        }
      }
    }
  }
  // the default is Bessel's correction
  check_ref(ops::var(tensor({1, 2, 3, 4}, d)), {5.0 / 3.0}, {}, d);
  // a large common offset must not wreck the result (a naive E[x^2] - E[x]^2 would)
  std::vector<double> big(33);
  for (int i = 0; i < 33; ++i) big[i] = 4096 + (i % 3) * 0.5;
  double m = ref_sum(big) / 33, q = 0;
  for (double x : big) q += (x - m) * (x - m);
  check_close(ops::var(tensor(big, {33}, d), {0}, 1), scalar_tensor(q / 32, DType::Float64),
              d == DType::Float64 ? 1e-12 : 1e-4, d == DType::Float64 ? 1e-10 : 1e-3);
}

TEST_CASE_TEMPLATE("argmax and argmin give the first extreme index along a dim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v(105);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(int((i * 13 + 2) % 6)) - 2.5;  // many ties
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (int64_t dim : {0, 1, 2, -1, -3}) {
      for (bool keep : {false, true}) {
        CAPTURE(arrange_name(arr));
        CAPTURE(dim);
        CAPTURE(keep);
        Groups g = group_by(v, shape, {dim}, keep);
        auto first_max = [](const std::vector<double>& s) {
          return double(std::max_element(s.begin(), s.end()) - s.begin());  // first of equals
        };
        auto first_min = [](const std::vector<double>& s) {
          return double(std::min_element(s.begin(), s.end()) - s.begin());
        };
        Tensor am = ops::argmax(x, dim, keep), an = ops::argmin(x, dim, keep);
        CHECK(am.dtype() == DType::Int64);
        CHECK(an.dtype() == DType::Int64);
        CHECK(am.shape() == g.out_shape);
        CHECK(an.shape() == g.out_shape);
        check_values(am, reduce_ref(g, first_max), 0.0);
        check_values(an, reduce_ref(g, first_min), 0.0);
      }
    }
  }
  Tensor one = tensor({3, 9, 9, -1, 9}, d);
  CHECK(ops::argmax(one, 0).item() == 1);
  CHECK(ops::argmin(one, 0).item() == 3);
  CHECK(ops::argmax(one, 0).dim() == 0);
}

// ---- Softmax ------------------------------------------------------------------------------------

std::vector<double> softmax_ref(const std::vector<double>& v, const Shape& shape, int64_t dim, bool log) {
  int64_t nd = int64_t(shape.size());
  if (dim < 0) dim += nd;
  std::vector<double> out(v.size());
  const int64_t n = shape[dim];
  for (int64_t k = 0; k < int64_t(v.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, shape);
    if (idx[dim] != 0) continue;  // one pass per row, started at its first element
    std::vector<int64_t> pos(n);
    for (int64_t j = 0; j < n; ++j) {
      idx[dim] = j;
      pos[j] = ravel_index(idx, shape);
    }
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, v[pos[j]]);
    for (int64_t j = 0; j < n; ++j) s += std::exp(v[pos[j]] - mx);
    for (int64_t j = 0; j < n; ++j) out[pos[j]] = log ? v[pos[j]] - mx - std::log(s) : std::exp(v[pos[j]] - mx) / s;
  }
  return out;
}

TEST_CASE_TEMPLATE("softmax and log_softmax along each dim match the definition", T, float, double) {
  const DType d = dtype_for<T>();
  for (const Shape& shape : {Shape{7}, Shape{3, 7}, Shape{2, 3, 33}, Shape{1, 5}}) {
    std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 8);
    for (Arrange arr : kArranges) {
      Tensor x = make_tensor(v, shape, d, arr);
      for (int64_t dim = -int64_t(shape.size()); dim < int64_t(shape.size()); ++dim) {
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        CAPTURE(dim);
        Tensor s = ops::softmax(x, dim), l = ops::log_softmax(x, dim);
        CHECK(s.shape() == shape);
        check_ref(s, softmax_ref(v, shape, dim, false), shape, d);
        check_ref(l, softmax_ref(v, shape, dim, true), shape, d);
      }
    }
  }
}

TEST_CASE_TEMPLATE("softmax and log_softmax stay finite and exact for huge inputs", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> v = {1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4, 88.75, 89, 89.25};
  Shape shape{4, 3};
  Tensor x = tensor(v, shape, d);
  Tensor s = ops::softmax(x, 1), l = ops::log_softmax(x, 1);
  for (double e : s.to_vector<double>()) CHECK(std::isfinite(e));
  for (double e : l.to_vector<double>()) CHECK(std::isfinite(e));
  check_ref(s, softmax_ref(v, shape, 1, false), shape, d);
  check_ref(l, softmax_ref(v, shape, 1, true), shape, d);
  // along dim 0 of the transpose (the same rows, seen through a view)
  Tensor t = ops::transpose(x, 0, 1);
  check_ref(ops::transpose(ops::log_softmax(t, 0), 0, 1), softmax_ref(v, shape, 1, true), shape, d);
  // a row of -inf except one entry
  Tensor m = tensor({-INFINITY, 2, -INFINITY}, d);
  check_values(ops::softmax(m, 0), {0, 1, 0}, 0.0);
}

// ---- Large odd sizes (the parallel and blocked paths) -------------------------------------------

TEST_CASE_TEMPLATE("ops on large odd-sized tensors use every element", T, float, double) {
  const DType d = dtype_for<T>();
  // elementwise over 100003 strided elements
  std::vector<double> v = dyadic_values(100003, 3);
  Tensor x = make_tensor(v, {100003}, d, Arrange::Strided);
  std::vector<double> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = std::tanh(v[i]) * 2.0;
  check_ref(ops::mul(ops::tanh(x), 2.0), want, {100003}, d);
  // full reductions: sums of multiples of 1/8 are exact in any order
  check_ref(ops::sum(x), {ref_sum(v)}, {}, d);
  check_ref(ops::mean(x), {ref_sum(v) / 100003.0}, {}, d);
  check_ref(ops::max(x), {*std::max_element(v.begin(), v.end())}, {}, d);
  CHECK(ops::argmin(x, 0).item() == double(std::min_element(v.begin(), v.end()) - v.begin()));
  {
    double m = ref_sum(v) / 100003.0, q = 0;
    for (double e : v) q += (e - m) * (e - m);
    check_ref(ops::var(x), {q / 100002.0}, {}, d);
  }
  // long rows and many rows, transposed
  const Shape shape{7, 4099};
  std::vector<double> w = dyadic_values(7 * 4099, 5);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    Tensor y = make_tensor(w, shape, d, arr);
    for (int64_t dim : {0, 1}) {
      CAPTURE(dim);
      Groups g = group_by(w, shape, {dim}, false);
      check_ref(ops::sum(y, {dim}), reduce_ref(g, ref_sum), g.out_shape, d);
      check_ref(ops::min(y, {dim}), reduce_ref(g, [](const std::vector<double>& s) {
                  return *std::min_element(s.begin(), s.end());
                }), g.out_shape, d);
      check_ref(ops::softmax(y, dim), softmax_ref(w, shape, dim, false), shape, d);
      check_ref(ops::log_softmax(y, dim), softmax_ref(w, shape, dim, true), shape, d);
    }
    // broadcasting a long row against many rows
    std::vector<double> r = dyadic_values(4099, 6);
    Tensor z = ops::sub(y, make_tensor(r, {4099}, d, Arrange::Strided));
    std::vector<double> zw(w.size());
    for (size_t i = 0; i < w.size(); ++i) zw[i] = w[i] - r[i % 4099];
    check_ref(z, zw, shape, d);
  }
  // a bigger matmul through transposed views (the GEMM library path)
  std::vector<double> va = dyadic_values(65 * 129, 7), vb = dyadic_values(67 * 65, 8);
  Tensor A = ops::transpose(tensor(va, {65, 129}, d), 0, 1);  // [129, 65]
  Tensor B = ops::transpose(tensor(vb, {67, 65}, d), 0, 1);   // [65, 67]
  std::vector<double> la(129 * 65), lb(65 * 67);
  for (int i = 0; i < 129; ++i)
    for (int p = 0; p < 65; ++p) la[i * 65 + p] = va[p * 129 + i];
  for (int p = 0; p < 65; ++p)
    for (int j = 0; j < 67; ++j) lb[p * 67 + j] = vb[j * 65 + p];
  Shape out;
  std::vector<double> mm = matmul_ref(la, {129, 65}, lb, {65, 67}, &out);
  check_ref(ops::matmul(A, B), mm, out, d);
}

TEST_CASE("float32 sums and means of a million elements stay accurate") {
  const int64_t n = 1000003;
  Tensor x = full({n}, 0.1);  // float32(0.1) each
  const double v = double(0.1f);
  CHECK(ops::sum(x).item() == doctest::Approx(double(n) * v).epsilon(1e-6));
  CHECK(ops::mean(x).item() == doctest::Approx(v).epsilon(1e-6));
  CHECK(std::fabs(ops::var(x).item()) < 1e-9);
  Tensor y = ops::reshape(full({1000, 1001}, 0.1), {1000, 1001});
  std::vector<double> cols = ops::sum(y, {0}).to_vector<double>();
  for (double c : cols) CHECK(c == doctest::Approx(1000 * v).epsilon(1e-6));
}

// ---- Empty tensors ------------------------------------------------------------------------------

TEST_CASE("ops on empty tensors give empty results and zero sums") {
  Tensor e = zeros({0, 3});
  CHECK(ops::add(e, e).shape() == Shape{0, 3});
  CHECK(ops::exp(e).numel() == 0);
  CHECK(ops::add(e, tensor({1, 2, 3})).shape() == Shape{0, 3});
  Tensor s = ops::sum(e, {0});
  CHECK(s.shape() == Shape{3});
  check_values(s, {0, 0, 0}, 0.0);
  CHECK(ops::sum(e, {1}).shape() == Shape{0});
  CHECK(ops::sum(e).item() == 0.0);
  CHECK(ops::matmul(zeros({2, 0}), zeros({0, 3})).shape() == Shape{2, 3});
  check_values(ops::matmul(zeros({2, 0}), zeros({0, 3})), std::vector<double>(6, 0.0), 0.0);
  CHECK(ops::cat({e, ones({2, 3})}, 0).shape() == Shape{2, 3});
}

}  // TEST_SUITE("cpu")
