// The Gaussian diffusion of Ho et al. 2020: the forward process q (eq. 4) and its posterior (eqs. 6-7),
// the training losses (L_simple of eq. 14 and Algorithm 1; the variational bound of eq. 5 and the hybrid
// loss of Nichol & Dhariwal 2021), the bound in bits per dimension, learned variances, respaced
// schedules, and the samplers: DDPM ancestral (Algorithm 2) and DDIM (Song et al. 2021, eq. 12).
// The network is any callable; it knows nothing of schedules.
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
// sigma_t^2 of the reverse process: fixed to beta_t or beta-tilde_t (Sec. 3.2), or learned by the network in
// the range between them (Nichol & Dhariwal 2021, eq. 15): the model outputs 2C channels, the second half
// v in [-1, 1] with log sigma_t^2 = (v + 1)/2 log beta_t + (1 - v)/2 log beta-tilde_t.
enum class VarianceType { Beta, BetaTilde, LearnedRange };
// The training objective: L_simple (eq. 14); the hybrid L_simple + lambda L_vlb (Nichol & Dhariwal 2021,
// Sec. 3.1, with the mean's gradient stopped inside L_vlb, so L_vlb trains only the variances); or
// L_vlb alone (eq. 5).
enum class LossType { Simple, Hybrid, Vlb };

Objective parse_objective(const std::string& name);  // "eps" | "x0" | "v"
std::string to_string(Objective o);
VarianceType parse_variance(const std::string& name);  // "beta" | "beta-tilde" | "learned-range"
std::string to_string(VarianceType v);
LossType parse_loss(const std::string& name);  // "simple" | "hybrid" | "vlb"
std::string to_string(LossType l);

struct DiffusionConfig {
  BetaSchedule schedule = BetaSchedule::Linear;
  int64_t T = 1000;
  double beta_start = 1e-4, beta_end = 0.02;
  Objective objective = Objective::Eps;
  VarianceType variance = VarianceType::Beta;
  LossType loss = LossType::Simple;
  double vlb_weight = 0.001;  // lambda of the hybrid loss (Nichol & Dhariwal 2021: 0.001)

  // T >= 1, 0 < beta_start <= beta_end < 1, vlb_weight >= 0; learned-range with the hybrid or vlb loss
  // (L_simple alone gives the variances no gradient), the hybrid loss only with learned-range (with a fixed
  // variance its stopped L_vlb has no gradient at all). std::invalid_argument otherwise.
  void validate() const;
  bool learns_variance() const { return variance == VarianceType::LearnedRange; }
  // The network's output channels for C-channel images: 2C when it learns its variances, else C.
  int64_t model_output_channels(int64_t C) const { return learns_variance() ? 2 * C : C; }
  // Flat string pairs for a checkpoint's metadata, keys "diffusion.schedule", "diffusion.T",
  // "diffusion.beta_start", "diffusion.beta_end", "diffusion.objective", "diffusion.variance",
  // "diffusion.loss", and with the hybrid loss "diffusion.vlb_weight".
  std::map<std::string, std::string> to_metadata() const;
  // Reads those keys (others are ignored) and validates; a missing or bad key throws naming it. The
  // last two may be missing (checkpoints from before they existed): simple and 0.001.
  static DiffusionConfig from_metadata(const std::map<std::string, std::string>& m);
};

// The network: x_t [B, C, H, W] float32, t [B] int64 timestep indices 0..T-1, on x_t's device
// -> model output [B, C, H, W] (eps, x0 or v per the objective), or [B, 2C, H, W] with learned-range
// variances (that prediction, then v). A respaced diffusion calls it with the original schedule's t.
using DenoiseModel = std::function<Tensor(const Tensor& x_t, const Tensor& t)>;

struct SampleOptions {
  Tensor x_T;                      // starting noise (with start_step: x at that step); undefined: drawn as
                                   // randn from the generator
  Device device = Device::cpu();   // where x_T is drawn when not given (otherwise x_T's device)
  bool clip_denoised = true;       // clip predicted x0 to [-1, 1]
  int64_t num_progress = 0;        // > 0: also return this many predicted-x0 snapshots, evenly spaced
                                   // over the steps (the last at the final step); at most one per step
  std::function<void(int64_t done, int64_t total)> on_step;  // called after each step (progress bars)
  // >= 0: start the chain at this step instead of T-1, from x_T = x at that step (editing real images:
  // x_T = q_sample(x0, start_step, noise), the paper's Figs. 7-8). p_sample_loop runs p_sample for
  // t = start_step .. 0; ddim_sample_loop runs ddim_timesteps(S, start_step).
  int64_t start_step = -1;
  // Every row gets the same noise at each step (drawn as [1, C, H, W]): the rows of a batch then differ only
  // by their x_T, as the paper's Fig. 8 interpolations need.
  bool shared_noise = false;
  // Classifier guidance (Dhariwal & Nichol 2021): the gradient s grad_x log p(y | x_t) at (x_t, t) with t the
  // model's timesteps, [B, C, H, W]. DDPM (their Algorithm 1): the mean moves by variance * gradient; DDIM
  // (their Algorithm 2): eps becomes eps - sqrt(1 - abar_t) gradient. Undefined: no guidance.
  std::function<Tensor(const Tensor& x_t, const Tensor& t)> cond_fn;
};

struct SampleResult {
  Tensor x0;                        // [B, C, H, W] final samples (float32, or x_T's dtype when given)
  std::vector<Tensor> progress;     // predicted x0 snapshots, each [B, C, H, W]
  std::vector<int64_t> progress_t;  // the timestep of each snapshot
};

// The variational bound of a batch in bits per dimension, as improved-diffusion's calc_bpd_loop returns it
// (columns indexed by the timestep t = 0..T-1, here in increasing t, theirs in sampling order).
struct BpdResult {
  Tensor total_bpd;   // [B] the whole bound of each image: prior_bpd + sum over t of vb
  Tensor prior_bpd;   // [B] L_T
  Tensor vb;          // [B, T] column t >= 1: the KL at the code's step t (the paper's step t+1), which is
                      // the paper's L_t; column 0: the decoder's L_0
  Tensor xstart_mse;  // [B, T] mean squared error of the predicted x0 at each t ([-1, 1] scale)
  Tensor mse;         // [B, T] mean squared error of the eps implied by it
};

// A training loss as per-sample terms, each [B]; loss is their mean (with importance weights, the mean
// of weight * per_sample). For the simple loss only `loss` is set (the fused mean-squared error).
struct LossTerms {
  Tensor loss;        // scalar: what backward() starts from
  Tensor per_sample;  // [B] the loss of each sample (hybrid and vlb)
  Tensor mse;         // [B] L_simple of each sample (hybrid)
  Tensor vb;          // [B] L_t of each sample in bits per dimension (hybrid and vlb)
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
  // The configuration it was made from (a respaced chain keeps its parent's, T included).
  const DiffusionConfig& config() const { return config_; }
  const NoiseSchedule& schedule() const { return sched_; }
  int64_t T() const { return sched_.T; }  // the steps of this chain (S when respaced)

  // The diffusion on the subsequence use_timesteps of this schedule's steps (improved-diffusion's
  // SpacedDiffusion): the S kept steps get the betas beta'_i = 1 - abar_{tau_i} / abar_{tau_{i-1}} that
  // keep every kept abar, so q(x_tau | x0) is unchanged and p_sample_loop runs S steps. The model is
  // called with the original timesteps. use_timesteps: strictly increasing, within [0, T). The second
  // form keeps ddim_timesteps(S), round(linspace(0, T-1, S)) (improved-diffusion's space_timesteps with
  // one section gives the same steps).
  GaussianDiffusion respaced(const std::vector<int64_t>& use_timesteps) const;
  GaussianDiffusion respaced(int64_t S) const;
  // The original timestep of each of this chain's steps (identity when not respaced).
  const std::vector<int64_t>& timestep_map() const { return timestep_map_; }

  // x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, a draw from q(x_t | x0)  (eq. 4)
  Tensor q_sample(const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  // One step of the forward process, q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)  (eq. 2):
  // x_prev is x_{t-1} (x0 at t = 0). t steps of it from x0 give q_sample's distribution.
  Tensor q_step(const Tensor& x_prev, const Tensor& t, const Tensor& noise) const;

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
  // is beta_t or beta-tilde_t per config().variance ([B, 1, 1, 1]), or learned ([B, C, H, W]). As in the
  // paper's code (its "fixed large" variance), beta at t = 0 is replaced by beta-tilde_1, which only the
  // decoder L_0 sees (no noise is added at t = 0): a better decoder likelihood, and the papers' bits/dim.
  struct PMeanVariance { Tensor mean, variance, log_variance, pred_x0, pred_eps; };
  PMeanVariance p_mean_variance(const DenoiseModel& model, const Tensor& x_t, const Tensor& t,
                                bool clip_denoised = true) const;
  // The same from a model output already computed (model_output: [B, C or 2C, H, W] as DenoiseModel's).
  PMeanVariance p_mean_variance_of(const Tensor& model_output, const Tensor& x_t, const Tensor& t,
                                   bool clip_denoised = true) const;

  // ---- the variational bound (eq. 5), in bits per dimension: nats / (log 2 * C * H * W) ----
  // L_T = KL(q(x_T | x0) || N(0, I)) of each image, [B]; it has no parameters.
  Tensor prior_bpd(const Tensor& x0) const;
  // The bound's term at t of each image, [B]: KL(q(x_{t-1} | x_t, x0) || p_theta(x_{t-1} | x_t)) (eqs. 5-7)
  // where t > 0, and the decoder's -log p_theta(x0 | x_1) (eq. 13) where t = 0. x0 must be quantized to the
  // 256 levels of eq. 13. pred_x0, when given, receives p_theta's x0.
  Tensor vb_terms_bpd(const DenoiseModel& model, const Tensor& x0, const Tensor& x_t, const Tensor& t,
                      bool clip_denoised = true, Tensor* pred_x0 = nullptr) const;
  // The whole bound of each image of x0 ([B, C, H, W], quantized): for every t, x_t ~ q(x_t | x0) with
  // noise from gen, and vb_terms_bpd there (T model evaluations), plus prior_bpd. on_step(done, T) after
  // each t. No gradient. Nothing is read to the host.
  BpdResult calc_bpd_loop(const DenoiseModel& model, const Tensor& x0, Generator& gen, bool clip_denoised = true,
                          const std::function<void(int64_t done, int64_t total)>& on_step = {}) const;

  // The objective's regression target for x_t = q_sample(x0, t, noise): noise, x0 or v.
  Tensor training_target(const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  // The loss of config().loss (Algorithm 1): t ~ Uniform{0..T-1}, noise ~ N(0, I), both from gen, on x0's
  // device. Returns the scalar loss, differentiable w.r.t. whatever the model's parameters are:
  //   simple:  L_simple (eq. 14), the mean-squared error of the objective's target;
  //   hybrid:  mean over the batch of L_simple + lambda T L_t, L_t = vb_terms_bpd with the model's mean
  //            (its first C channels) detached, so L_t trains only the variance channels; T L_t is the
  //            one-sample estimate of L_vlb = sum_t L_t (improved-diffusion's RESCALED_MSE);
  //   vlb:     mean over the batch of T L_t, every channel trained by it.
  // (Within hybrid and vlb, L_t is in bits per dimension, as improved-diffusion.)
  Tensor training_losses(const DenoiseModel& model, const Tensor& x0, Generator& gen) const;
  Tensor training_losses(const DenoiseModel& model, const Tensor& x0, const Tensor& t, const Tensor& noise) const;
  // The same with the per-sample terms (for importance sampling of t, which weighs them).
  LossTerms training_loss_terms(const DenoiseModel& model, const Tensor& x0, const Tensor& t,
                                const Tensor& noise) const;

  // One step of Algorithm 2: x_{t-1} = mean + sigma_t z, z ~ N(0, I) from gen (drawn at every step,
  // but not added where t = 0). pred_x0, when given, receives the step's predicted x0. opts gives
  // shared_noise and cond_fn (its clip_denoised is the argument's).
  Tensor p_sample(const DenoiseModel& model, const Tensor& x_t, const Tensor& t, Generator& gen,
                  bool clip_denoised, Tensor* pred_x0 = nullptr, const SampleOptions& opts = {}) const;
  // Algorithm 2: x_T ~ N(0, I), then p_sample for t = T-1 .. 0 (or from opts.start_step). shape: [B, C, H, W].
  SampleResult p_sample_loop(const DenoiseModel& model, const Shape& shape, Generator& gen,
                             const SampleOptions& opts = {}) const;
  // DDIM (Song et al. 2021, eq. 12) on the S timesteps ddim_timesteps(S); eta = 0 is deterministic,
  // eta = 1 with S = T is the DDPM sampler with sigma^2 = beta-tilde.
  SampleResult ddim_sample_loop(const DenoiseModel& model, const Shape& shape, int64_t S, double eta,
                                Generator& gen, const SampleOptions& opts = {}) const;
  // tau = round(linspace(0, last, S)) (round half to even, as numpy), descending, with last = T-1 (or
  // last_t when >= 0: a chain started at x_{last_t}); validates 1 <= S <= last + 1. S = 1 gives {last},
  // the one step from there to x_0 (linspace's {0} would start at x_0).
  std::vector<int64_t> ddim_timesteps(int64_t S, int64_t last_t = -1) const;

 private:
  // The schedule's tables, the rows of the [kNumTables, T] tensor cached per device and dtype.
  enum Table : int64_t {
    kSqrtAlphas, kSqrtBetas, kFixedLargeVariance, kFixedLargeLogVariance, kLogBetas, kSqrtAlphasCumprod, kSqrtOneMinusAlphasCumprod,
    kSqrtRecipAlphasCumprod, kSqrtRecipm1AlphasCumprod, kPosteriorVariance, kPosteriorLogVarianceClipped,
    kPosteriorMeanCoef1, kPosteriorMeanCoef2, kNumTables
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
  // The timesteps the model is called with: s.t, or timestep_map()[s.t] (gathered on s.t's device) when
  // respaced.
  Tensor model_timesteps(const Steps& s) const;

  // The public functions above without their checks, for use inside one checked call.
  Tensor q_sample_at(const Tensor& x0, const Steps& s, const Tensor& noise) const;
  Posterior q_posterior_at(const Tensor& x0, const Tensor& x_t, const Steps& s) const;
  Tensor predict_x0_from_eps_at(const Tensor& x_t, const Steps& s, const Tensor& eps) const;
  Tensor predict_eps_from_x0_at(const Tensor& x_t, const Steps& s, const Tensor& x0) const;
  Tensor v_from_x0_eps_at(const Tensor& x0, const Steps& s, const Tensor& eps) const;
  Tensor predict_x0_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const;
  Tensor predict_eps_from_v_at(const Tensor& x_t, const Steps& s, const Tensor& v) const;
  Tensor training_target_at(const Tensor& x0, const Steps& s, const Tensor& noise) const;
  PMeanVariance p_mean_variance_at(const Tensor& model_output, const Tensor& x_t, const Steps& s,
                                   bool clip_denoised, const char* op) const;
  Tensor vb_terms_bpd_at(const PMeanVariance& p, const Tensor& x0, const Tensor& x_t, const Steps& s) const;
  // Its two halves, [B] in bits per dimension: the KL of t > 0 and the decoder's NLL of t = 0.
  Tensor kl_bpd_at(const PMeanVariance& p, const Tensor& x0, const Tensor& x_t, const Steps& s) const;
  Tensor decoder_nll_bpd_at(const PMeanVariance& p, const Tensor& x0) const;
  Tensor prior_bpd_at(const Tensor& x0) const;
  // The chain's first step: opts.start_step, or T-1 when it is < 0 (checked against T).
  int64_t first_step(const SampleOptions& opts, const char* op) const;
  // Checks shape and opts, and returns x_T: opts.x_T, or randn(shape) from gen on opts.device.
  Tensor start_noise(const Shape& shape, Generator& gen, const SampleOptions& opts, const char* op) const;

  GaussianDiffusion(const DiffusionConfig& config, const std::vector<double>& betas, std::vector<int64_t> timestep_map);

  DiffusionConfig config_;
  NoiseSchedule sched_;
  std::vector<int64_t> timestep_map_;  // the original timestep of each step (0, 1, ..., T-1 unless respaced)
  bool respaced_ = false;
  std::shared_ptr<TableCache> cache_;  // the device copies of the tables (shared by copies of this object)
};

}  // namespace ddpm
