// The element math of group norm, shared by the CPU (tensor/cpu/cpu_norm.cpp) and CUDA (cuda/norm.cu)
// kernels so that both devices compute the same formula in the same order.
#pragma once
#include "tensor/macros.hpp"

namespace ddpm {

// Forward, per element of channel c: y = (x - mean) * scale + shift, scale = rstd * w[c], shift = b[c].
// Subtracting the mean first (rather than y = x * scale + (shift - mean * scale)) keeps float32
// accurate when |mean| is large next to the spread of x.
template <typename T>
DDPM_HD T group_norm_apply(T x, T mean, T scale, T shift) {
  return (x - mean) * scale + shift;
}

// Backward over one group of n elements, xhat = (x - mean) * rstd, given the group's sums
// sum_wdy = sum(w * dy) and sum_wdy_xhat = sum(w * dy * xhat). Since mean and rstd depend on every x
// of the group,
//   dx = rstd * (w dy - sum_wdy / n - xhat * sum_wdy_xhat / n)
//      = (rstd w) dy + coef_x (x - mean) + coef_0.
struct GroupNormDxCoeffs {
  double coef_x, coef_0;
};
DDPM_HD GroupNormDxCoeffs group_norm_dx_coeffs(double sum_wdy, double sum_wdy_xhat, double rstd, double n) {
  return {-rstd * rstd * sum_wdy_xhat / n, -rstd * sum_wdy / n};
}
template <typename T>
DDPM_HD T group_norm_dx(T dy, T x, T mean, T rstd_w, T coef_x, T coef_0) {
  return rstd_w * dy + coef_x * (x - mean) + coef_0;
}

}  // namespace ddpm
