// group_norm and layer_norm: one fused kernel each way (Backend::group_norm_forward / _backward),
// recorded as one node that saves x, the per-group mean and rstd, and the weight: not the normalised
// activations. Layer norm over rows of N is group norm with B = rows, C = N, HW = 1 and one group.
#include "nn/functional.hpp"

namespace ddpm {

namespace {

// An optional per-channel parameter: undefined, or [channels] with x's dtype and device.
void check_param(const char* op, const char* name, const Tensor& p, const Tensor& x, int64_t channels) {
  if (!p.defined()) return;
  DDPM_CHECK(p.dim() == 1 && p.size(0) == channels, op, ": ", name, " has shape ", shape_str(p.shape()),
             ", expected [", channels, "] (one per channel of x ", shape_str(x.shape()), ")");
  DDPM_CHECK(p.dtype() == x.dtype(), op, ": ", name, " is ", dtype_name(p.dtype()), " but x is ",
             dtype_name(x.dtype()), ", convert one with .to(dtype)");
  DDPM_CHECK(p.device() == x.device(), op, ": ", name, " is on ", p.device().str(), " but x is on ",
             x.device().str(), ", move one with .to(device)");
}

TensorRef ref_or_null(const Tensor& t) { return t.defined() ? t.ref() : TensorRef{}; }

// Normalises x viewed as x3: [B, C, HW] in `groups` groups; returns y with x's shape.
Tensor fused_norm(const char* op, const Tensor& x, const Shape& shape3, int64_t groups, const Tensor& weight,
                  const Tensor& bias, double eps) {
  DDPM_CHECK(is_compute(x.dtype()), op, ": x is ", dtype_name(x.dtype()), ", expected float32 or float64");
  DDPM_CHECK(x.numel() > 0, op, ": x ", shape_str(x.shape()), " has no elements");
  DDPM_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
  const int64_t batch = shape3[0], channels = shape3[1];
  check_param(op, "weight", weight, x, channels);
  check_param(op, "bias", bias, x, channels);
  const TensorOptions opts(x.dtype(), x.device());
  Tensor x3 = ops::reshape(x, shape3).contiguous();  // the kernels want [B, C, HW] contiguous
  Tensor w = weight.defined() ? weight.contiguous() : Tensor();
  Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty(shape3, opts), mean = empty({batch, groups}, opts), rstd = empty({batch, groups}, opts);
  backend(x.device()).group_norm_forward(y.ref(), mean.ref(), rstd.ref(), x3.ref(), ref_or_null(w), ref_or_null(b),
                                         groups, eps);

  // Only defined tensors are inputs of the node; the backward returns their gradients in this order.
  std::vector<Tensor> inputs{x};
  if (weight.defined()) inputs.push_back(weight);
  if (bias.defined()) inputs.push_back(bias);
  return record(op, ops::reshape(y, x.shape()), inputs,
                [x3, w, mean, rstd, groups, weight, bias, x_shape = x.shape()](const Tensor& g) -> Grads {
                  const TensorOptions o(x3.dtype(), x3.device());
                  const int64_t c = x3.size(1);
                  Tensor g3 = ops::reshape(g, x3.shape()).contiguous();
                  Tensor dx = empty(x3.shape(), o);
                  Tensor dw = weight.defined() && requires_grad(weight) ? empty({c}, o) : Tensor();
                  Tensor db = bias.defined() && requires_grad(bias) ? empty({c}, o) : Tensor();
                  backend(x3.device()).group_norm_backward(dx.ref(), ref_or_null(dw), ref_or_null(db), g3.ref(),
                                                           x3.ref(), mean.ref(), rstd.ref(), ref_or_null(w), groups);
                  Grads grads{ops::reshape(dx, x_shape)};
                  if (weight.defined()) grads.push_back(dw);
                  if (bias.defined()) grads.push_back(db);
                  return grads;
                });
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias, double eps) {
  DDPM_CHECK(x.defined(), "group_norm: x is an undefined tensor");
  DDPM_CHECK(x.dim() >= 2, "group_norm: x has shape ", shape_str(x.shape()), ", expected [B, C, ...]");
  const int64_t channels = x.size(1);
  DDPM_CHECK(groups > 0 && channels % groups == 0, "group_norm: ", channels, " channels of x ",
             shape_str(x.shape()), " do not split into ", groups, " groups (groups must divide the channels)");
  // x: [B, C, *spatial] -> [B, C, HW]
  return fused_norm("group_norm", x, {x.size(0), channels, x.numel() / std::max<int64_t>(1, x.size(0) * channels)},
                    groups, weight, bias, eps);
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  DDPM_CHECK(x.defined(), "layer_norm: x is an undefined tensor");
  DDPM_CHECK(x.dim() >= 1, "layer_norm: x is 0-dim, expected [..., N]");
  const int64_t n = x.size(-1);
  // x: [..., N] -> [rows, N, 1]: each row is one group of N channels with one position each.
  return fused_norm("layer_norm", x, {x.numel() / std::max<int64_t>(1, n), n, 1}, 1, weight, bias, eps);
}

}  // namespace ddpm
