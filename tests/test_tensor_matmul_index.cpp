// matmul, joining and splitting (cat, stack, split, chunk, pad) and indexing (index_select, gather,
// index_add, scatter_add) on the CPU against references computed with plain loops in double, in
// float32 and float64, on odd sizes and non-contiguous inputs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "tensor_ops_reference.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

TEST_SUITE("cpu") {

// ---- Matmul -------------------------------------------------------------------------------------

struct MatmulCase {
  Shape sa, sb;
};

TEST_CASE_TEMPLATE("matmul of 1-d 2-d and batched operands matches a naive loop", T, float, double) {
  const DType d = dtype_for<T>();
  const std::vector<MatmulCase> cases = {
      {{33}, {33}},       {{7, 33}, {33}},        {{33}, {33, 5}},         {{1, 1}, {1, 1}},
      {{7, 33}, {33, 3}}, {{3, 1}, {1, 5}},       {{1, 7}, {7, 1}},        {{2, 7, 33}, {33, 5}},
      {{7, 3}, {2, 3, 5}}, {{2, 1, 3, 4}, {5, 4, 6}}, {{5}, {2, 5, 3}},     {{2, 3, 5}, {5}},
      {{3, 2, 4}, {3, 4, 2}}, {{1, 3, 4}, {4, 4, 1}}, {{17, 64}, {64, 19}},
  };
  for (const MatmulCase& mc : cases) {
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(mc.sa));
      CAPTURE(shape_str(mc.sb));
      CAPTURE(arrange_name(arr));
      std::vector<double> va = dyadic_values(size_t(numel_of(mc.sa)), 1), vb = dyadic_values(size_t(numel_of(mc.sb)), 2);
      Arrange arr_b = arr == Arrange::Strided ? Arrange::Transposed : arr;
      Tensor a = make_tensor(va, mc.sa, d, arr), b = make_tensor(vb, mc.sb, d, arr_b);
      Shape out;
      std::vector<double> want = matmul_ref(va, mc.sa, vb, mc.sb, &out);
      Tensor y = ops::matmul(a, b);
      CHECK(y.shape() == out);
      check_ref(y, want, out, d);
    }
  }
}

TEST_CASE_TEMPLATE("matmul with transposed expanded and sliced operands", T, float, double) {
  const DType d = dtype_for<T>();
  // a^T b^T through transpose views of contiguous storage: [7, 33]^T... built explicitly
  std::vector<double> va = dyadic_values(33 * 7, 3), vb = dyadic_values(5 * 33, 4);
  Tensor A = tensor(va, {33, 7}, d), B = tensor(vb, {5, 33}, d);
  Tensor y = ops::matmul(ops::transpose(A, 0, 1), ops::transpose(B, 0, 1));  // [7, 5]
  std::vector<double> want(35);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = 0;
      for (int p = 0; p < 33; ++p) s += va[p * 7 + i] * vb[j * 33 + p];
      want[i * 5 + j] = s;
    }
  check_ref(y, want, {7, 5}, d);
  // an expanded batch (stride 0) on the left, a batch of 4 on the right
  std::vector<double> vc = dyadic_values(3 * 4, 5), vd = dyadic_values(4 * 4 * 2, 6);
  Tensor C = ops::expand(tensor(vc, {1, 3, 4}, d), {4, 3, 4});
  Tensor D = tensor(vd, {4, 4, 2}, d);
  Shape out;
  std::vector<double> w = matmul_ref(vc, {1, 3, 4}, vd, {4, 4, 2}, &out);
  check_ref(ops::matmul(C, D), w, out, d);
  // a batch that is itself a permuted view: [4, 3, 2] from storage [3, 4, 2]
  std::vector<double> ve = dyadic_values(3 * 4 * 2, 7);
  Tensor E = ops::permute(tensor(ve, {3, 4, 2}, d), {1, 0, 2});  // [4, 3, 2]
  std::vector<double> ve_logical(24);
  for (int b = 0; b < 4; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j) ve_logical[b * 6 + i * 2 + j] = ve[i * 8 + b * 2 + j];
  std::vector<double> vf = dyadic_values(2 * 5, 8);
  Tensor F = tensor(vf, {2, 5}, d);
  w = matmul_ref(ve_logical, {4, 3, 2}, vf, {2, 5}, &out);
  check_ref(ops::matmul(E, F), w, out, d);
  // rows picked with a step (no unit stride anywhere in the left operand)
  std::vector<double> vg = dyadic_values(6 * 9, 9);
  Tensor G = ops::slice(ops::slice(tensor(vg, {6, 9}, d), 0, 0, 6, 2), 1, 1, 9, 3);  // [3, 3]
  std::vector<double> vg_logical;
  for (int i = 0; i < 6; i += 2)
    for (int j = 1; j < 9; j += 3) vg_logical.push_back(vg[i * 9 + j]);
  std::vector<double> vh = dyadic_values(3 * 4, 10);
  w = matmul_ref(vg_logical, {3, 3}, vh, {3, 4}, &out);
  check_ref(ops::matmul(G, tensor(vh, {3, 4}, d)), w, out, d);
}

TEST_CASE_TEMPLATE("matmul of a larger non-dyadic product stays accurate", T, float, double) {
  const DType d = dtype_for<T>();
  const int m = 33, k = 129, n = 17;
  std::vector<double> va(m * k), vb(k * n);
  for (int i = 0; i < m * k; ++i) va[i] = std::sin(0.37 * i);
  for (int i = 0; i < k * n; ++i) vb[i] = std::cos(0.11 * i);
  Tensor a = tensor(va, {m, k}, DType::Float64).to(d), b = tensor(vb, {k, n}, DType::Float64).to(d);
  // the reference uses the inputs as stored (rounded to float32 when d is float32)
  va = a.to_vector<double>();
  vb = b.to_vector<double>();
  Shape out;
  std::vector<double> want = matmul_ref(va, {m, k}, vb, {k, n}, &out);
  // float32 accumulation over k = 129 terms of size <= 1: absolute error well below 1e-4
  check_close(ops::matmul(a, b), tensor(want, out, DType::Float64), d == DType::Float64 ? 1e-12 : 1e-4,
              d == DType::Float64 ? 1e-12 : 1e-4);
}

// ---- Joining and splitting ----------------------------------------------------------------------

TEST_CASE_TEMPLATE("cat joins along any dim with non-contiguous inputs", T, float, double) {
  const DType d = dtype_for<T>();
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    std::vector<double> v1 = dyadic_values(6, 1), v2 = dyadic_values(3, 2), v3 = dyadic_values(12, 3);
    // dim 0: [2, 3] + [1, 3] + [4, 3]
    Tensor y = ops::cat({make_tensor(v1, {2, 3}, d, arr), make_tensor(v2, {1, 3}, d), make_tensor(v3, {4, 3}, d, arr)}, 0);
    CHECK(y.shape() == Shape{7, 3});
    std::vector<double> want = v1;
    want.insert(want.end(), v2.begin(), v2.end());
    want.insert(want.end(), v3.begin(), v3.end());
    check_ref(y, want, {7, 3}, d);
    // dim 1 (and -1): [2, 3] + [2, 1] + [2, 5]
    std::vector<double> w1 = dyadic_values(6, 4), w2 = dyadic_values(2, 5), w3 = dyadic_values(10, 6);
    for (int64_t dim : {1, -1}) {
      Tensor z = ops::cat({make_tensor(w1, {2, 3}, d, arr), make_tensor(w2, {2, 1}, d, arr), make_tensor(w3, {2, 5}, d, arr)}, dim);
      CHECK(z.shape() == Shape{2, 9});
      want.clear();
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) want.push_back(w1[i * 3 + j]);
        want.push_back(w2[i]);
        for (int j = 0; j < 5; ++j) want.push_back(w3[i * 5 + j]);
      }
      check_ref(z, want, {2, 9}, d);
    }
    // 3-d along the middle dim
    std::vector<double> u1 = dyadic_values(2 * 1 * 3, 7), u2 = dyadic_values(2 * 2 * 3, 8);
    Tensor c = ops::cat({make_tensor(u1, {2, 1, 3}, d, arr), make_tensor(u2, {2, 2, 3}, d, arr)}, 1);
    CHECK(c.shape() == Shape{2, 3, 3});
    want.clear();
    for (int b = 0; b < 2; ++b) {
      for (int j = 0; j < 3; ++j) want.push_back(u1[b * 3 + j]);
      for (int j = 0; j < 6; ++j) want.push_back(u2[b * 6 + j]);
    }
    check_ref(c, want, {2, 3, 3}, d);
  }
  // a single tensor: a copy with the same values
  Tensor one = tensor({1, 2, 3}, d);
  Tensor c1 = ops::cat({one}, 0);
  check_ref(c1, {1, 2, 3}, {3}, d);
  // an empty piece is allowed
  check_ref(ops::cat({one, zeros({0}, d), one}), {1, 2, 3, 1, 2, 3}, {6}, d);
}

TEST_CASE_TEMPLATE("stack inserts a new dim at any position", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> a = dyadic_values(6, 1), b = dyadic_values(6, 2), c = dyadic_values(6, 3);
  std::vector<Tensor> ts = {make_tensor(a, {2, 3}, d), make_tensor(b, {2, 3}, d, Arrange::Transposed),
                            make_tensor(c, {2, 3}, d, Arrange::Strided)};
  const std::vector<double>* src[3] = {&a, &b, &c};
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    CAPTURE(dim);
    Tensor y = ops::stack(ts, dim);
    int64_t nd = dim < 0 ? dim + 3 : dim;
    Shape shape{2, 3};
    shape.insert(shape.begin() + nd, 3);
    CHECK(y.shape() == shape);
    std::vector<double> want(18);
    for (int64_t k = 0; k < 18; ++k) {
      std::vector<int64_t> idx = unravel_index(k, shape);
      int64_t which = idx[nd];
      idx.erase(idx.begin() + nd);
      want[k] = (*src[which])[idx[0] * 3 + idx[1]];
    }
    check_ref(y, want, shape, d);
  }
  Tensor s = ops::stack({scalar_tensor(1, d), scalar_tensor(2, d)});
  check_ref(s, {1, 2}, {2}, d);
}

TEST_CASE_TEMPLATE("split and chunk give views of the requested sizes", T, float, double) {
  const DType d = dtype_for<T>();
  Tensor x = ops::reshape(arange(0, 14, 1, d), {2, 7});
  std::vector<Tensor> p = ops::split(x, 3, 1);
  REQUIRE(p.size() == 3);
  CHECK(p[0].shape() == Shape{2, 3});
  CHECK(p[2].shape() == Shape{2, 1});
  check_ref(p[0], {0, 1, 2, 7, 8, 9}, {2, 3}, d);
  check_ref(p[1], {3, 4, 5, 10, 11, 12}, {2, 3}, d);
  check_ref(p[2], {6, 13}, {2, 1}, d);
  for (const Tensor& t : p) CHECK(t.storage().get() == x.storage().get());
  p[1].fill_(-1);
  check_ref(x, {0, 1, 2, -1, -1, -1, 6, 7, 8, 9, -1, -1, -1, 13}, {2, 7}, d);

  Tensor y = ops::reshape(arange(0, 14, 1, d), {7, 2});
  std::vector<Tensor> q = ops::split(y, std::vector<int64_t>{1, 4, 2}, 0);
  REQUIRE(q.size() == 3);
  CHECK(q[0].shape() == Shape{1, 2});
  CHECK(q[1].shape() == Shape{4, 2});
  check_ref(q[2], {10, 11, 12, 13}, {2, 2}, d);
  check_ref(q[1], {2, 3, 4, 5, 6, 7, 8, 9}, {4, 2}, d);
  std::vector<Tensor> r = ops::split(y, 7, 0);
  REQUIRE(r.size() == 1);
  CHECK(r[0].shape() == Shape{7, 2});
  std::vector<Tensor> neg = ops::split(y, 1, -1);
  REQUIRE(neg.size() == 2);
  check_ref(neg[1], {1, 3, 5, 7, 9, 11, 13}, {7, 1}, d);

  // chunk follows torch.chunk: pieces of ceil(n / chunks)
  Tensor z = arange(0, 7, 1, d);
  std::vector<Tensor> c = ops::chunk(z, 3);
  REQUIRE(c.size() == 3);
  check_ref(c[0], {0, 1, 2}, {3}, d);
  check_ref(c[1], {3, 4, 5}, {3}, d);
  check_ref(c[2], {6}, {1}, d);
  std::vector<Tensor> c6 = ops::chunk(arange(0, 6, 1, d), 3);
  REQUIRE(c6.size() == 3);
  for (int i = 0; i < 3; ++i) check_ref(c6[i], {2.0 * i, 2.0 * i + 1}, {2}, d);
  std::vector<Tensor> c5 = ops::chunk(ops::reshape(arange(0, 10, 1, d), {2, 5}), 3, 1);
  REQUIRE(c5.size() == 3);
  check_ref(c5[0], {0, 1, 5, 6}, {2, 2}, d);
  check_ref(c5[2], {4, 9}, {2, 1}, d);
  // split of a transposed tensor
  Tensor t = ops::transpose(ops::reshape(arange(0, 6, 1, d), {2, 3}), 0, 1);  // [[0,3],[1,4],[2,5]]
  std::vector<Tensor> st = ops::split(t, 2, 0);
  REQUIRE(st.size() == 2);
  check_ref(st[0], {0, 3, 1, 4}, {2, 2}, d);
  check_ref(st[1], {2, 5}, {1, 2}, d);
}

// torch.nn.functional.pad semantics in a reference: out[i] = x[i - left] where in range, else value.
std::vector<double> pad_ref(const std::vector<double>& v, const Shape& shape, const std::vector<int64_t>& pads,
                            double value, Shape* out_shape) {
  size_t nd = shape.size();
  Shape os = shape;
  std::vector<int64_t> left(nd, 0);
  for (size_t p = 0; p < pads.size() / 2; ++p) {
    size_t dim = nd - 1 - p;
    left[dim] = pads[2 * p];
    os[dim] = shape[dim] + pads[2 * p] + pads[2 * p + 1];
  }
  std::vector<double> out(size_t(numel_of(os)));
  for (int64_t k = 0; k < int64_t(out.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, os);
    bool inside = true;
    for (size_t dd = 0; dd < nd; ++dd) {
      idx[dd] -= left[dd];
      if (idx[dd] < 0 || idx[dd] >= shape[dd]) inside = false;
    }
    out[k] = inside ? v[ravel_index(idx, shape)] : value;
  }
  *out_shape = os;
  return out;
}

TEST_CASE_TEMPLATE("pad adds constants and negative pads crop", T, float, double) {
  const DType d = dtype_for<T>();
  // hand-written small cases first
  check_ref(ops::pad(tensor({1, 2, 3}, d), {1, 2}, 0.5), {0.5, 1, 2, 3, 0.5, 0.5}, {6}, d);
  check_ref(ops::pad(tensor({1, 2, 3}, d), {-1, 1}), {2, 3, 0}, {3}, d);
  check_ref(ops::pad(tensor({1, 2, 3, 4}, {2, 2}, d), {0, 0, 1, 0}, 9), {9, 9, 1, 2, 3, 4}, {3, 2}, d);
  struct PadCase {
    Shape shape;
    std::vector<int64_t> pads;
  };
  const std::vector<PadCase> cases = {
      {{3, 7}, {1, 0, 2, 1}},  {{3, 7}, {-2, 1, 0, -1}}, {{2, 3, 5}, {1, 1}},     {{2, 3, 5}, {0, 3, -1, 2}},
      {{2, 3, 5}, {2, -2, 1, 1, 1, 0}}, {{1, 2, 3, 5}, {1, 2, 3, 4}}, {{7}, {-3, -3}}, {{3, 7}, {0, 0, 0, 0}},
  };
  for (const PadCase& pc : cases) {
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(pc.shape));
      CAPTURE(pc.pads.size());
      CAPTURE(pc.pads[0]);
      CAPTURE(arrange_name(arr));
      std::vector<double> v = dyadic_values(size_t(numel_of(pc.shape)), 2);
      Shape out;
      std::vector<double> want = pad_ref(v, pc.shape, pc.pads, -0.25, &out);
      Tensor y = ops::pad(make_tensor(v, pc.shape, d, arr), pc.pads, -0.25);
      CHECK(y.shape() == out);
      check_ref(y, want, out, d);
    }
  }
}

// ---- Indexing -----------------------------------------------------------------------------------

Tensor idx_tensor(const std::vector<int64_t>& v, const Shape& shape) {
  return Tensor::from_vector<int64_t>(v, shape);
}

TEST_CASE_TEMPLATE("index_select picks slices with repeats along any dim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{5, 3, 7};
  std::vector<double> v = dyadic_values(105, 3);
  std::vector<int64_t> iv = {4, 0, 4, 2};
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (int64_t dim : {0, 1, 2, -1}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dim);
      int64_t nd = dim < 0 ? dim + 3 : dim;
      std::vector<int64_t> use = iv;
      for (int64_t& i : use) i %= shape[nd];
      Tensor y = ops::index_select(x, dim, idx_tensor(use, {4}));
      Shape os = shape;
      os[nd] = 4;
      CHECK(y.shape() == os);
      std::vector<double> want(size_t(numel_of(os)));
      for (int64_t k = 0; k < int64_t(want.size()); ++k) {
        std::vector<int64_t> id = unravel_index(k, os);
        id[nd] = use[id[nd]];
        want[k] = v[ravel_index(id, shape)];
      }
      check_ref(y, want, os, d);
    }
  }
  // a non-contiguous index tensor
  Tensor sidx = ops::slice(idx_tensor({2, 9, 0, 9, 1, 9}, {6}), 0, 0, 6, 2);  // {2, 0, 1}
  check_ref(ops::index_select(tensor({10, 20, 30}, d), 0, sidx), {30, 10, 20}, {3}, d);
}

TEST_CASE_TEMPLATE("gather reads along a dim at per-element indices", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5};
  std::vector<double> v = dyadic_values(15, 1);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    // dim 1: index [3, 4]
    std::vector<int64_t> i1 = {4, 0, 0, 2, 1, 1, 3, 4, 0, 2, 2, 2};
    Tensor y = ops::gather(x, 1, idx_tensor(i1, {3, 4}));
    CHECK(y.shape() == Shape{3, 4});
    std::vector<double> want(12);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[i * 4 + j] = v[i * 5 + i1[i * 4 + j]];
    check_ref(y, want, {3, 4}, d);
    // dim 0 (and -2): index [2, 5]
    std::vector<int64_t> i0 = {2, 0, 1, 1, 0, 0, 2, 2, 1, 0};
    for (int64_t dim : {0, -2}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dim);
      Tensor z = ops::gather(x, dim, idx_tensor(i0, {2, 5}));
      CHECK(z.shape() == Shape{2, 5});
      want.assign(10, 0);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 5; ++j) want[i * 5 + j] = v[i0[i * 5 + j] * 5 + j];
      check_ref(z, want, {2, 5}, d);
    }
  }
  // transposed index
  Tensor ti = ops::transpose(idx_tensor({0, 1, 2, 2, 1, 0}, {2, 3}), 0, 1);  // [3, 2]: 0 2 / 1 1 / 2 0
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}, d);
  check_ref(ops::gather(x, 1, ti), {1, 3, 5, 5, 9, 7}, {3, 2}, d);
}

TEST_CASE_TEMPLATE("index_add accumulates repeated indices into zeros", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<int64_t> iv = {1, 3, 1, 0, 1};
  std::vector<double> sv = dyadic_values(5 * 3, 2);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    // dim 0: shape [4, 3], src [5, 3]
    Tensor y = ops::index_add({4, 3}, 0, idx_tensor(iv, {5}), make_tensor(sv, {5, 3}, d, arr));
    CHECK(y.shape() == Shape{4, 3});
    CHECK(y.dtype() == d);
    std::vector<double> want(12, 0.0);
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 3; ++c) want[iv[j] * 3 + c] += sv[j * 3 + c];
    check_ref(y, want, {4, 3}, d);
    // dim 1 (and -1): shape [3, 4], src [3, 5]
    for (int64_t dim : {1, -1}) {
      Tensor z = ops::index_add({3, 4}, dim, idx_tensor(iv, {5}), make_tensor(sv, {3, 5}, d, arr));
      want.assign(12, 0.0);
      for (int r = 0; r < 3; ++r)
        for (int j = 0; j < 5; ++j) want[r * 4 + iv[j]] += sv[r * 5 + j];
      check_ref(z, want, {3, 4}, d);
    }
  }
}

TEST_CASE_TEMPLATE("scatter_add accumulates at per-element indices into zeros", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> sv = dyadic_values(12, 4);
  std::vector<int64_t> iv = {4, 0, 4, 2, 1, 1, 1, 3, 0, 2, 0, 0};
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    // dim 1: out [3, 5], index/src [3, 4]
    Tensor y = ops::scatter_add({3, 5}, 1, idx_tensor(iv, {3, 4}), make_tensor(sv, {3, 4}, d, arr));
    CHECK(y.shape() == Shape{3, 5});
    std::vector<double> want(15, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[i * 5 + iv[i * 4 + j]] += sv[i * 4 + j];
    check_ref(y, want, {3, 5}, d);
    // dim 0: out [5, 4], index/src [3, 4]
    Tensor z = ops::scatter_add({5, 4}, 0, idx_tensor(iv, {3, 4}), make_tensor(sv, {3, 4}, d, arr));
    want.assign(20, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[iv[i * 4 + j] * 4 + j] += sv[i * 4 + j];
    check_ref(z, want, {5, 4}, d);
  }
  // scatter_add is the adjoint of gather: <gather(x, idx), g> == <x, scatter_add(idx, g)>
  std::vector<double> xv = dyadic_values(15, 5);
  Tensor x = tensor(xv, {3, 5}, d);
  Tensor idx = idx_tensor(iv, {3, 4});
  Tensor g = tensor(sv, {3, 4}, d);
  double lhs = ops::sum(ops::mul(ops::gather(x, 1, idx), g)).item();
  double rhs = ops::sum(ops::mul(x, ops::scatter_add({3, 5}, 1, idx, g))).item();
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-6));
}

}  // TEST_SUITE("cpu")
