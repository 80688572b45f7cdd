// Differentiable losses.
#include "autograd/autograd.hpp"

namespace ddpm {

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
  DDPM_CHECK(pred.defined() && target.defined(), "mse_loss: pred or target is undefined");
  DDPM_CHECK(pred.shape() == target.shape(), "mse_loss: pred ", describe(pred), " and target ", describe(target),
             " differ in shape; reshape one (broadcasting here usually hides a bug)");
  // L = sum(d^2) / n with d = pred - target: dL/dpred = 2 d / n, dL/dtarget = -2 d / n.
  Tensor d = ops::sub(pred, target);
  Tensor loss = ops::mean(ops::mul(d, d));
  return record("mse_loss", loss, {pred, target}, [d](const Tensor& g) -> Grads {
    Tensor gd = d * (2.0 / double(d.numel())) * g;  // g is 0-dim: it broadcasts
    return {gd, -gd};
  });
}

}  // namespace ddpm
