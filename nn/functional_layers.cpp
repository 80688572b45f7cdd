// linear, dropout, upsample_nearest2d and attention, built from the differentiable tensor ops (views,
// matmul, softmax) so that their kernels come from tensor/ and cuda/; attention records one node of
// its own, whose backward recomputes the attention weights instead of keeping them.
#include <cmath>

#include "nn/functional.hpp"

namespace ddpm {

namespace {

// The matrix transpose as a view, which matmul takes without a copy. ops:: records nothing: only for
// attention, whose node computes its own gradients.
Tensor mT(const Tensor& x) { return ops::transpose(x, -2, -1); }

void check_float(const char* op, const char* name, const Tensor& t) {
  DDPM_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
  DDPM_CHECK(is_compute(t.dtype()), op, ": ", name, " is ", dtype_name(t.dtype()), ", expected float32 or float64");
}

void check_like(const char* op, const char* name, const Tensor& t, const Tensor& x) {
  DDPM_CHECK(t.dtype() == x.dtype(), op, ": ", name, " is ", dtype_name(t.dtype()), " but x is ",
             dtype_name(x.dtype()), ", convert one with .to(dtype)");
  DDPM_CHECK(t.device() == x.device(), op, ": ", name, " is on ", t.device().str(), " but x is on ",
             x.device().str(), ", move one with .to(device)");
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_float("linear", "x", x);
  check_float("linear", "weight", weight);
  DDPM_CHECK(x.dim() >= 1, "linear: x is 0-dim, expected [..., in]");
  DDPM_CHECK(weight.dim() == 2 && weight.size(1) == x.size(-1), "linear: weight has shape ",
             shape_str(weight.shape()), ", expected [out, ", x.size(-1), "] for x ", shape_str(x.shape()));
  check_like("linear", "weight", weight, x);
  const int64_t out = weight.size(0);
  if (bias.defined()) {
    DDPM_CHECK(bias.dim() == 1 && bias.size(0) == out, "linear: bias has shape ", shape_str(bias.shape()),
               ", expected [", out, "]");
    check_like("linear", "bias", bias, x);
  }
  // x: [..., in] -> [rows, in], so the product is one GEMM with weight^T, a view: [in, out].
  Tensor x2 = x.dim() == 2 ? x : reshape(x, {-1, x.size(-1)});
  Tensor y = matmul(x2, transpose(weight, 0, 1));  // [rows, out]
  if (bias.defined()) y = y + bias;                // bias broadcasts over the rows
  if (x.dim() == 2) return y;
  Shape out_shape = x.shape();
  out_shape.back() = out;
  return reshape(y, out_shape);
}

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_float("dropout", "x", x);
  DDPM_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
  if (!training || p == 0.0) return x;
  // The mask holds 1 / (1 - p) where x is kept and 0 where it is dropped, so the expected value of
  // each output equals x and eval mode needs no rescaling. dy/dx is the mask itself.
  Tensor mask = ops::mul(bernoulli(x.shape(), 1.0 - p, TensorOptions(x.dtype(), x.device()), gen), 1.0 / (1.0 - p));
  return record("dropout", ops::mul(x, mask), {x}, [mask](const Tensor& g) -> Grads { return {ops::mul(g, mask)}; });
}

Tensor upsample_nearest2d(const Tensor& x, int64_t scale) {
  check_float("upsample_nearest2d", "x", x);
  DDPM_CHECK(x.dim() == 4, "upsample_nearest2d: x has shape ", shape_str(x.shape()), ", expected [B, C, H, W]");
  DDPM_CHECK(scale >= 1, "upsample_nearest2d: scale must be >= 1, got ", scale);
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  // [B, C, H, 1, W, 1] -> expand (stride 0, no copy) -> [B, C, H, s, W, s] -> one copy to [B, C, sH, sW].
  // The backward of expand sums the gradient over each s x s block.
  Tensor x6 = unsqueeze(unsqueeze(x, 3), 5);
  return reshape(expand(x6, {b, c, h, scale, w, scale}), {b, c, h * scale, w * scale});
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  check_float("attention", "q", q);
  check_float("attention", "k", k);
  check_float("attention", "v", v);
  check_like("attention", "k", k, q);
  check_like("attention", "v", v, q);
  DDPM_CHECK(q.dim() >= 2 && k.dim() == q.dim() && v.dim() == q.dim(), "attention: q ", shape_str(q.shape()),
             ", k ", shape_str(k.shape()), " and v ", shape_str(v.shape()),
             " must have the same number of dims (at least 2): [..., L, d]");
  const Shape lead(q.shape().begin(), q.shape().end() - 2);
  DDPM_CHECK(Shape(k.shape().begin(), k.shape().end() - 2) == lead && Shape(v.shape().begin(), v.shape().end() - 2) == lead,
             "attention: leading (batch, head) dims differ: q ", shape_str(q.shape()), ", k ", shape_str(k.shape()),
             ", v ", shape_str(v.shape()));
  DDPM_CHECK(k.size(-1) == q.size(-1), "attention: k ", shape_str(k.shape()), " must have q's feature size ",
             q.size(-1), " in its last dim");
  DDPM_CHECK(v.size(-2) == k.size(-2), "attention: v ", shape_str(v.shape()), " must have one row per key (",
             k.size(-2), ")");
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));

  // Scaling q ([Lq, d]) costs less than scaling the scores ([Lq, Lk]) whenever d < Lk.
  Tensor qs = ops::mul(q, scale);                          // [..., Lq, d]
  Tensor p = ops::softmax(ops::matmul(qs, mT(k)), -1);     // [..., Lq, Lk], over the keys
  Tensor out = ops::matmul(p, v);                          // [..., Lq, dv]
  // The backward keeps q, k, v (which the graph holds anyway), not p: p is [Lq, Lk] per head, the
  // largest tensor here, and one GEMM and a softmax remake it.
  return record("attention", out, {q, k, v}, [q, k, v, scale](const Tensor& g) -> Grads {
    Tensor qs = ops::mul(q, scale);
    Tensor p = ops::softmax(ops::matmul(qs, mT(k)), -1);
    Tensor dq, dk, dv;
    if (requires_grad(v)) dv = ops::matmul(mT(p), g);  // out = p v
    if (requires_grad(q) || requires_grad(k)) {
      Tensor dp = ops::matmul(g, mT(v));
      // Softmax along each row: ds = p * (dp - sum(dp * p)), the sum over the row's keys.
      Tensor ds = ops::mul(p, ops::sub(dp, ops::sum(ops::mul(dp, p), {-1}, /*keepdim=*/true)));
      // s = qs k^T with qs = q * scale.
      if (requires_grad(q)) dq = ops::mul(ops::matmul(ds, k), scale);
      if (requires_grad(k)) dk = ops::matmul(mT(ds), qs);
    }
    return {dq, dk, dv};
  });
}

}  // namespace ddpm
