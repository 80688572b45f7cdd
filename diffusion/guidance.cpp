// Classifier-free guidance: the mix of conditional and unconditional predictions, and the guided model.
#include "diffusion/guidance.hpp"

#include <cmath>
#include <stdexcept>

#include "autograd/autograd.hpp"

namespace ddpm {

Tensor classifier_free_mix(const Tensor& cond, const Tensor& uncond, double w, int64_t channels) {
  DDPM_CHECK(cond.shape() == uncond.shape() && cond.dim() == 4 && channels >= 1 && channels <= cond.size(1),
             "classifier_free_mix: outputs ", describe(cond), " and ", describe(uncond),
             " must be one shape [B, C', H, W] with C' >= channels = ", channels);
  // BEGIN SOLUTION classifier_free_mix
  if (w == 0.0) return uncond;  // the unconditional model, its variances included
  Tensor c = ops::narrow(cond, 1, 0, channels), u = ops::narrow(uncond, 1, 0, channels);
  Tensor mixed = u + w * (c - u);  // eps(null) + w (eps(c) - eps(null))
  if (channels == cond.size(1)) return mixed;
  return ops::cat({mixed, ops::narrow(cond, 1, channels, cond.size(1) - channels)}, 1);
  // END SOLUTION
}

DenoiseModel classifier_free_guidance(UNet& model, const Tensor& labels, double w, bool joint) {
  const UNetConfig& c = model.config;
  if (!c.class_conditional())
    throw std::invalid_argument("classifier_free_guidance: the model is unconditional (num_classes 0); guidance "
                                "needs a model trained with --class-cond");
  if (!std::isfinite(w)) throw std::invalid_argument("classifier_free_guidance: the guidance weight is not finite");
  DDPM_CHECK(labels.defined() && labels.dim() == 1 && labels.dtype() == DType::Int64,
             "classifier_free_guidance: labels are ", describe(labels), ", expected int64 [B]");
  const int64_t lo = ops::min(labels).item<int64_t>(), hi = ops::max(labels).item<int64_t>();
  if (lo < 0 || hi >= c.num_classes)
    throw std::invalid_argument("classifier_free_guidance: labels run from " + std::to_string(lo) + " to " +
                                std::to_string(hi) + ", the model has classes 0 .. " + std::to_string(c.num_classes - 1));
  const Tensor null = full({labels.size(0)}, double(c.null_class()), TensorOptions(DType::Int64, labels.device()));
  const int64_t channels = c.in_channels;  // the prediction's channels; the rest are learned variances
  if (!joint && w == 1.0)
    return [&model, labels](const Tensor& x, const Tensor& t) { return model.forward(x, t, labels); };
  if (!joint && w == 0.0)
    return [&model, null](const Tensor& x, const Tensor& t) { return model.forward(x, t, null); };
  const Tensor both = ops::cat({labels, null}, 0);  // [2B]: the conditional half, then the unconditional
  return [&model, both, w, channels](const Tensor& x, const Tensor& t) {
    const int64_t B = x.size(0);
    Tensor out = model.forward(ops::cat({x, x}, 0), ops::cat({t, t}, 0), both);  // [2B, C', H, W]
    return classifier_free_mix(ops::narrow(out, 0, 0, B), ops::narrow(out, 0, B, B), w, channels);
  };
}

}  // namespace ddpm
