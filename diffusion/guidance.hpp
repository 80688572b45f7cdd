// Class-conditional sampling with classifier-free guidance (Ho & Salimans 2022): one network trained
// with and without labels (the null class), whose two predictions are mixed at sampling time.
#pragma once
#include <cstdint>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/unet.hpp"

namespace ddpm {

// The guided prediction from the conditional and unconditional outputs ([B, C', H, W] each):
//   eps = eps(x, null) + w (eps(x, c) - eps(x, null))
// on the first `channels` channels (the eps, x0 or v prediction); any channels after them (learned
// variances) are the conditional output's (as GLIDE), except at w = 0, which returns the unconditional
// output whole. w = 0: the unconditional model, w = 1: the conditional one, w > 1: pushed further from
// the unconditional. (Ho & Salimans write (1 + w') eps(c) - w' eps(null),
// which is this w = 1 + w'.)
Tensor classifier_free_mix(const Tensor& cond, const Tensor& uncond, double w, int64_t channels);

// The DenoiseModel of a class-conditional U-Net guided toward `labels` ([B] int64, 0 .. num_classes - 1,
// on the model's device) with weight w. For w other than 0 and 1 the conditional and unconditional
// halves run as one batch of 2B (x and t twice, labels then the null class); w = 1 runs the conditional
// model alone and w = 0 the unconditional one, unless `joint` forces the batch of 2B (tests). The model
// must outlive the returned function. Throws std::invalid_argument for an unconditional model, labels
// out of range, or a non-finite w.
DenoiseModel classifier_free_guidance(UNet& model, const Tensor& labels, double w, bool joint = false);

}  // namespace ddpm
