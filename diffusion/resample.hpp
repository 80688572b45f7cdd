// Importance sampling of the timestep for the L_vlb objective (Nichol & Dhariwal 2021, Sec. 3.3;
// improved-diffusion's LossSecondMomentResampler): t ~ p_t proportional to sqrt(E[L_t^2]), estimated
// from the last 10 losses seen at each t, and each sample weighed by 1 / (T p_t) so that the weighted
// mean stays an unbiased estimate of the uniform one. Until every t has its 10 losses, t is uniform.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace ddpm {

class LossSecondMomentResampler {
 public:
  explicit LossSecondMomentResampler(int64_t T, int64_t history = 10, double uniform_prob = 0.001);

  // p_t, float64, length T: uniform until warmed up, then sqrt(mean of the squared history) normalized,
  // mixed with uniform_prob of the uniform distribution (so that no t is ever left out).
  std::vector<double> weights() const;
  bool warmed_up() const;

  // B timesteps drawn from weights() with uniforms from gen (drawn on the CPU), and their importance
  // weights 1 / (T p_t): t as int64 [B], weights as float32 [B], both on `device`.
  struct Draw { Tensor t, weights; std::vector<int64_t> t_host; };
  Draw sample(int64_t B, Generator& gen, Device device) const;

  // Records the per-sample (unweighted) losses seen at timesteps t; the oldest of a full history goes.
  void update(const std::vector<int64_t>& t, const std::vector<double>& losses);

  // The history as tensors for a training state, and back: "history" float64 [T, H], "count" int64 [T].
  std::vector<std::pair<std::string, Tensor>> state_dict() const;
  void load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state);

 private:
  int64_t T_, history_;
  double uniform_prob_;
  std::vector<double> losses_;   // [T, history_], row t holds the last losses at t, oldest first
  std::vector<int64_t> count_;   // [T] how many of row t are filled
};

}  // namespace ddpm
