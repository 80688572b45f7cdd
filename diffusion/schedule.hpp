// Noise schedules beta_1..beta_T and every quantity the forward and reverse processes derive from
// them (Ho et al. 2020, eqs. 4, 6-7), precomputed once in float64. Index t = 0..T-1 is the paper's t+1.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

enum class BetaSchedule { Linear, Cosine, Quadratic };

// "linear" | "cosine" | "quadratic"; anything else throws std::invalid_argument listing them.
BetaSchedule parse_beta_schedule(const std::string& name);
std::string to_string(BetaSchedule s);

// The most diffusion steps a schedule may have (the paper uses 1000, improved DDPM 4000): T comes from
// files and options, and each step costs tables of doubles.
constexpr int64_t kMaxTimesteps = 1'000'000;

// The T betas of a schedule, float64. Validates 1 <= T <= kMaxTimesteps and 0 < beta_start <= beta_end < 1.
//   linear:    linspace(beta_start, beta_end, T)                   (the paper: 1e-4 .. 0.02, T = 1000)
//   quadratic: linspace(sqrt(beta_start), sqrt(beta_end), T)^2     (the DDPM / DDIM codebases)
//   cosine:    1 - abar(t+1)/abar(t), abar(t) = cos((t/T + s)/(1 + s) * pi/2)^2, s = 0.008, capped
//              at 0.999 (Nichol & Dhariwal 2021, eq. 17); beta_start and beta_end are not used.
std::vector<double> make_betas(BetaSchedule s, int64_t T, double beta_start = 1e-4, double beta_end = 0.02);

// Everything derived from the betas; every vector has length T, float64. "abar" is alpha-bar.
struct NoiseSchedule {
  explicit NoiseSchedule(const std::vector<double>& betas);  // validates T >= 1 and 0 < beta < 1

  int64_t T;
  std::vector<double> betas;                          // beta_t
  std::vector<double> alphas;                         // alpha_t = 1 - beta_t
  std::vector<double> alphas_cumprod;                 // abar_t = prod_{s<=t} alpha_s
  std::vector<double> alphas_cumprod_prev;            // abar_{t-1}, with abar_{-1} = 1
  std::vector<double> sqrt_alphas_cumprod;            // sqrt(abar_t)           (eq. 4 mean)
  std::vector<double> sqrt_one_minus_alphas_cumprod;  // sqrt(1 - abar_t)       (eq. 4 std)
  std::vector<double> log_one_minus_alphas_cumprod;   // log(1 - abar_t)
  std::vector<double> sqrt_recip_alphas_cumprod;      // sqrt(1 / abar_t)       (x0 from eps)
  std::vector<double> sqrt_recipm1_alphas_cumprod;    // sqrt(1 / abar_t - 1)
  std::vector<double> posterior_variance;             // beta-tilde_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t  (eq. 7)
  // log beta-tilde_t, with beta-tilde at t = 0 (which is 0) replaced by beta-tilde at t = 1, as the
  // paper's code does (with T = 1 there is no t = 1: log beta_0 is used).
  std::vector<double> posterior_log_variance_clipped;
  std::vector<double> posterior_mean_coef1;           // sqrt(abar_{t-1}) beta_t / (1 - abar_t)       (eq. 7, x0)
  std::vector<double> posterior_mean_coef2;           // sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) (eq. 7, x_t)
};

}  // namespace ddpm
