// Editing real images with the reverse process (the paper's Figs. 7 and 8): noise given images to x_t
// with q (eq. 4), then sample p(x_0 | x_t) from there, or decode points between two noised images.
#pragma once
#include <cstdint>

#include "diffusion/gaussian_diffusion.hpp"

namespace ddpm {

// The step of `chain` (respaced or not) that an edit from original timestep start_t begins at: the last
// step whose original timestep (timestep_map) is <= start_t. start_t in [0, T-1] of the original
// schedule, else std::invalid_argument naming --start-t.
int64_t chain_step_at_or_below(const GaussianDiffusion& chain, int64_t start_t);

// Fig. 8: both images xa, xb ([C, H, W] or [1, C, H, W]) noised to `step` with the same noise
// ([1, C, H, W]), and K >= 2 points of the line between them:
//   x_t^(k) = (1 - lambda_k) q_sample(xa, step, noise) + lambda_k q_sample(xb, step, noise), lambda_k = k / (K-1)
// -> [K, C, H, W]. The first and last rows are xa's and xb's own noised images.
Tensor interpolate_noised(const GaussianDiffusion& diffusion, const Tensor& xa, const Tensor& xb, int64_t K,
                          int64_t step, const Tensor& noise);

}  // namespace ddpm
