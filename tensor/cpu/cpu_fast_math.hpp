// Branch-free float32 math for the CPU's elementwise loops (private to tensor/cpu): written so that
// a loop calling it vectorizes, which a loop calling libm's expf does not.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>

namespace ddpm::cpu {

// e^x to about 1 ulp for x in [-87.3, 88.7] (Cephes' expf: e^x = 2^n e^r with n = round(x log2 e),
// r = x - n ln 2 in two parts, e^r by a degree-7 polynomial); +inf above 88.72 and NaN for NaN, but
// e^-87.3 ~ 1.2e-38 for every x below -87.3 (no denormals): only for the ops below, where such a
// value is lost beside 1.
[[gnu::always_inline]] inline float exp_for_sigmoid(float x) {
  const bool nan = x != x, over = x > 88.72f;
  float v = nan ? 0.0f : x;
  v = v < -87.3f ? -87.3f : (v > 88.7f ? 88.7f : v);
  const float n = (v * 1.44269504088896341f + 12582912.0f) - 12582912.0f;  // round to nearest: 1.5 * 2^23
  const float r = (v - n * 0.693359375f) - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  const int32_t bits = (int32_t(n) + 127) << 23;  // 2^n, n in [-126, 128)
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float e = p * scale;
  return nan ? x : (over ? std::numeric_limits<float>::infinity() : e);
}

[[gnu::always_inline]] inline float sigmoid_fast(float x) { return 1.0f / (1.0f + exp_for_sigmoid(-x)); }
[[gnu::always_inline]] inline float silu_fast(float x) { return x / (1.0f + exp_for_sigmoid(-x)); }
// g * silu'(x) = g s (1 + x (1 - s)), s = sigmoid(x) (element_ops.hpp's SiluBackward).
[[gnu::always_inline]] inline float silu_backward_fast(float g, float x) {
  const float s = sigmoid_fast(x);
  return g * s * (1.0f + x * (1.0f - s));
}

}  // namespace ddpm::cpu
