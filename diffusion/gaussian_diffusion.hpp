// The Gaussian diffusion of Ho et al. 2020: the forward process q (eq. 4) and its posterior (eqs. 6-7),
// the training loss L_simple (eq. 14, Algorithm 1), and the samplers: DDPM ancestral (Algorithm 2)
// and DDIM (Song et al. 2021, eq. 12). The network is any callable; it knows nothing of schedules.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/schedule.hpp"
#include "tensor/random.hpp"
#include "tensor/tensor.hpp"

namespace ddpm {

enum class Objective { Eps, X0, V };          // what the network predicts
enum class VarianceType { Beta, BetaTilde };  // sigma_t^2 of the reverse process (Sec. 3.2): beta_t or beta-tilde_t

Objective parse_objective(const std::string& name);  // "eps" | "x0" | "v"
std::string to_string(Objective o);
VarianceType parse_variance(const std::string& name);  // "beta" | "beta-tilde"
std::string to_string(VarianceType v);

struct DiffusionConfig {
  BetaSchedule schedule = BetaSchedule::Linear;
  int64_t T = 1000;
  double beta_start = 1e-4, beta_end = 0.02;
  Objective objective = Objective::Eps;
  VarianceType variance = VarianceType::Beta;

  void validate() const;  // T >= 1, 0 < beta_start <= beta_end < 1; std::invalid_argument otherwise
  // Flat string pairs for a checkpoint's metadata, keys "diffusion.schedule", "diffusion.T",
  // "diffusion.beta_start", "diffusion.beta_end", "diffusion.objective", "diffusion.variance".
  std::map<std::string, std::string> to_metadata() const;
  // Reads those keys (others are ignored) and validates; a missing or bad key throws naming it.
  static DiffusionConfig from_metadata(const std::map<std::string, std::string>& m);
};

// The network: x_t [B, C, H, W] float32, t [B] int64 timestep indices 0..T-1, on x_t's device
// -> model output [B, C, H, W] (eps, x0 or v per the objective).
using DenoiseModel = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

struct SampleOptions {
  Tensor x_T;                      // starting noise; undefined: drawn as randn from the generator
  Device device = Device::cpu();   // where x_T is drawn when not given (otherwise x_T's device)
  bool clip_denoised = true;       // clip predicted x0 to [-1, 1]
  int64_t num_progress = 0;        // > 0: also return this many predicted-x0 snapshots, evenly spaced
                                   // over the steps (the last at the final step); at most one per step
  std::function<void(int64_t done, int64_t total)> on_step;  // called after each step (progress bars)
};

struct SampleResult {
  Tensor x0;                        // [B, C, H, W] final samples (float32, or x_T's dtype when given)
  std::vector<Tensor> progress;     // predicted x0 snapshots, each [B, C, H, W]
  std::vector<int64_t> progress_t;  // the timestep of each snapshot
};

// All tensors below are [B, ...] (images: [B, C, H, W]) with t a [B] integer tensor of indices
// 0..T-1 (index t is the paper's step t+1), on x's device (a t elsewhere is copied there).
// The coefficients live twice: the float64 tables of schedule() on the host, and a copy of them on
// each device and dtype the diffusion is used with (made on first use, then cached), from which
// each call gathers its coefficients at t with index_select, on the device: a sampler step and a
// training step copy nothing between host and device and never wait for the device.
// Bad shapes, t of the wrong shape or dtype, S or eta out of range throw std::invalid_argument; so
// does t out of range on the CPU (checked where t lies, for free). On a GPU an index out of range
// is reported by index_select at the next synchronization (std::out_of_range naming index_select):
// checking it on the spot would mean a wait.
class GaussianDiffusion {
 public:
  explicit GaussianDiffusion(const DiffusionConfig& config);
  const DiffusionConfig& config() const { return config_; }
  const NoiseSchedule& schedule() const { return sched_; }
  int64_t T() const { return sched_.T; }

  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, a draw from q(x_t | x0)  (eq. 4)
  Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const;

  // q(x_{t-1} | x_t, x0) = N(mean, variance)  (eqs. 6-7); variance and log_variance are [B, 1, 1, 1].
  struct Posterior { Tensor mean, variance, log_variance; };
  Posterior q_posterior_mean_variance(const Tensor& x0, const Tensor& x_t, const Tensor& t) const;

  // Inverting eq. 4 for x0 or eps given the other, and the v parameterization
  // v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022).
  Tensor predict_x0_from_eps(const Tensor& x_t, const Tensor& t, const Tensor& eps) const;
  Tensor predict_eps_from_x0(const Tensor& x_t, const Tensor& t, const Tensor& x0) const;
  Tensor v_from_x0_eps(const Tensor& x0, const Tensor& t, const Tensor& eps) const;
  Tensor predict_x0_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const;
  Tensor predict_eps_from_v(const Tensor& x_t, const Tensor& t, const Tensor& v) const;

  // p_theta(x_{t-1} | x_t) = N(mean, variance): the model's x0 (clipped to [-1, 1] when asked) put into
  // the posterior mean (eq. 7, as the paper's code); pred_eps is recomputed from that x0. The variance
  // is beta_t or beta-tilde_t per config().variance ([B, 1, 1, 1]).
  struct PMeanVariance { Tensor mean, variance, log_variance, pred_x0, pred_eps; };
  PMeanVariance p_mean_variance(const DenoiseModel& model, const Tensor& x_t, const Tensor& t,
                                bool clip_denoised = true) const;

  // The objective's regression target for x_t = q_sample(x0, t, noise): noise, x0 or v.
  Tensor training_target(const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  // L_simple (eq. 14, Algorithm 1) for the objective: t ~ Uniform{0..T-1}, noise ~ N(0, I), both
  // from gen, on x0's device. Returns the scalar mean-squared error, differentiable w.r.t. whatever
  // the model's parameters are.
  Tensor training_losses(const DenoiseModel& model, const Tensor& x0, Generator& gen) const;
  Tensor training_losses(const DenoiseModel& model, const Tensor& x0, const Tensor& t, const Tensor& noise) const;

  // One step of Algorithm 2: x_{t-1} = mean + sigma_t z, z ~ N(0, I) from gen (drawn at every step,
  // but not added where t = 0). pred_x0, when given, receives the step's predicted x0.
  Tensor p_sample(const DenoiseModel& model, const Tensor& x_t, const Tensor& t, Generator& gen,
                  bool clip_denoised, Tensor* pred_x0 = nullptr) const;
  // Algorithm 2: x_T ~ N(0, I), then p_sample for t = T-1 .. 0. shape: [B, C, H, W].
  SampleResult p_sample_loop(const DenoiseModel& model, const Shape& shape, Generator& gen,
                             const SampleOptions& opts = {}) const;
  // DDIM (Song et al. 2021, eq. 12) on the S timesteps ddim_timesteps(S); eta = 0 is deterministic,
  // eta = 1 with S = T is the DDPM sampler with sigma^2 = beta-tilde.
  SampleResult ddim_sample_loop(const DenoiseModel& model, const Shape& shape, int64_t S, double eta,
                                Generator& gen, const SampleOptions& opts = {}) const;
  // tau = round(linspace(0, T-1, S)) (round half to even, as numpy), descending; validates 1 <= S <= T.
  std::vector<int64_t> ddim_timesteps(int64_t S) const;

 private:
  // The schedule's tables, the rows of the [kNumTables, T] tensor cached per device and dtype.
  enum Table : int64_t {
    kBetas, kSqrtAlphasCumprod, kSqrtOneMinusAlphasCumprod, kSqrtRecipAlphasCumprod, kSqrtRecipm1AlphasCumprod,
    kPosteriorVariance, kPosteriorLogVarianceClipped, kPosteriorMeanCoef1, kPosteriorMeanCoef2, kNumTables
  };
  // t once checked by steps_of: int64 [B] on x's device. The helpers that take it check nothing.
  struct Steps { Tensor t; };
  struct TableCache;

  // Checks t against x ([B] integer, one per sample; on the CPU also its values, read in place) and
  // returns it as int64 on x's device. One call per public entry point.
  Steps steps_of(const Tensor& t, const Tensor& x, const char* op) const;
  // The tables as a [kNumTables, T] tensor in dtype on device: uploaded once per device, cached.
  Tensor tables(Device device, DType dtype) const;
  // table[t_b] as a [B, 1, ..., 1] tensor (x's rank) in x's dtype on x's device, gathered there.
  Tensor coef(Table table, const Steps& s, const Tensor& x) const;

  // The public functions above without their checks, for use inside one checked call.
  Tensor q_sample_at(const Tensor& x0, const Steps& s, const Tensor& noise) const;
  Posterior q_posterior_at(const Tensor& x0, const Tensor& x_t, const Steps& s) const;
  Tensor predict_x0_from_eps_at(const Tensor& x_t, const Steps& s, const Tensor& eps) const;
  Tensor predict_eps_from_x0_at(const Tensor& x_t, const Steps& s, const Tensor& x0) const;
  Tensor v_from_x0_eps_at(const Tensor& x0, const Steps& s, const Tensor& eps) const;
  Tensor predict_x0_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const;
  Tensor predict_eps_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const;
  Tensor training_target_at(const Tensor& x0, const Steps& s, const Tensor& noise) const;
  PMeanVariance p_mean_variance_at(const DenoiseModel& model, const Tensor& x_t, const Steps& s,
                                   bool clip_denoised) const;
  // Checks shape and opts, and returns x_T: opts.x_T, or randn(shape) from gen on opts.device.
  Tensor start_noise(const Shape& shape, Generator& gen, const SampleOptions& opts, const char* op) const;

  DiffusionConfig config_;
  NoiseSchedule sched_;
  std::shared_ptr<TableCache> cache_;  // the device copies of the tables (shared by copies of this object)
};

}  // namespace ddpm
