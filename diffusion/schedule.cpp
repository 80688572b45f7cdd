// The beta schedules (linear, cosine, quadratic) and the float64 tables of NoiseSchedule.
#include "diffusion/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ddpm {

namespace {

// n evenly spaced values from a to b, both included (numpy.linspace: a + i * step, last = b).
std::vector<double> linspace(double a, double b, int64_t n) {
  std::vector<double> v(size_t(n), a);
  if (n == 1) return v;
  const double step = (b - a) / double(n - 1);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = a + double(i) * step;
  v.back() = b;
  return v;
}

}  // namespace

BetaSchedule parse_beta_schedule(const std::string& name) {
  if (name == "linear") return BetaSchedule::Linear;
  if (name == "cosine") return BetaSchedule::Cosine;
  if (name == "quadratic") return BetaSchedule::Quadratic;
  throw std::invalid_argument("unknown beta schedule '" + name + "', expected one of: linear, cosine, quadratic");
}

std::string to_string(BetaSchedule s) {
  switch (s) {
    case BetaSchedule::Linear: return "linear";
    case BetaSchedule::Cosine: return "cosine";
    case BetaSchedule::Quadratic: return "quadratic";
  }
  return "?";
}

std::vector<double> make_betas(BetaSchedule s, int64_t T, double beta_start, double beta_end) {
  if (T < 1 || T > kMaxTimesteps)
    throw std::invalid_argument("make_betas: T is " + std::to_string(T) + ", expected T >= 1 and at most " +
                                std::to_string(kMaxTimesteps));
  if (!(beta_start > 0.0 && beta_start <= beta_end && beta_end < 1.0))
    throw std::invalid_argument("make_betas: beta_start " + std::to_string(beta_start) + ", beta_end " +
                                std::to_string(beta_end) + ": expected 0 < beta_start <= beta_end < 1");
  switch (s) {
    case BetaSchedule::Linear: return linspace(beta_start, beta_end, T);
    case BetaSchedule::Quadratic: {
      std::vector<double> b = linspace(std::sqrt(beta_start), std::sqrt(beta_end), T);
      for (double& x : b) x = x * x;
      return b;
    }
    case BetaSchedule::Cosine: {
      // abar(u) for u = t / T in [0, 1]; beta_t = 1 - abar((t+1)/T) / abar(t/T), capped so that the
      // last steps (where abar -> 0) do not reach beta = 1.
      const double s_off = 0.008, pi = std::acos(-1.0);
      auto abar = [&](double u) { double c = std::cos((u + s_off) / (1.0 + s_off) * pi / 2.0); return c * c; };
      std::vector<double> b(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t)
        b[size_t(t)] = std::min(1.0 - abar(double(t + 1) / double(T)) / abar(double(t) / double(T)), 0.999);
      return b;
    }
  }
  throw std::invalid_argument("make_betas: unknown schedule");
}

NoiseSchedule::NoiseSchedule(const std::vector<double>& b) : T(int64_t(b.size())), betas(b) {
  if (T < 1) throw std::invalid_argument("NoiseSchedule: no betas given, expected T >= 1 of them");
  for (int64_t t = 0; t < T; ++t)
    if (!(b[size_t(t)] > 0.0 && b[size_t(t)] < 1.0))
      throw std::invalid_argument("NoiseSchedule: beta[" + std::to_string(t) + "] = " + std::to_string(b[size_t(t)]) +
                                  ", expected 0 < beta < 1");
  const size_t n = size_t(T);
  for (auto* v : {&alphas, &alphas_cumprod, &alphas_cumprod_prev, &sqrt_alphas_cumprod,
                  &sqrt_one_minus_alphas_cumprod, &log_one_minus_alphas_cumprod, &sqrt_recip_alphas_cumprod,
                  &sqrt_recipm1_alphas_cumprod, &posterior_variance, &posterior_log_variance_clipped,
                  &posterior_mean_coef1, &posterior_mean_coef2})
    v->assign(n, 0.0);

  double prod = 1.0;
  for (size_t t = 0; t < n; ++t) {
    alphas[t] = 1.0 - betas[t];
    alphas_cumprod_prev[t] = prod;
    prod *= alphas[t];
    alphas_cumprod[t] = prod;
  }
  for (size_t t = 0; t < n; ++t) {
    const double ab = alphas_cumprod[t], ab_prev = alphas_cumprod_prev[t];
    sqrt_alphas_cumprod[t] = std::sqrt(ab);
    sqrt_one_minus_alphas_cumprod[t] = std::sqrt(1.0 - ab);
    log_one_minus_alphas_cumprod[t] = std::log(1.0 - ab);
    sqrt_recip_alphas_cumprod[t] = std::sqrt(1.0 / ab);
    sqrt_recipm1_alphas_cumprod[t] = std::sqrt(1.0 / ab - 1.0);
    // q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, beta-tilde_t I)  (eqs. 6-7)
    posterior_variance[t] = betas[t] * (1.0 - ab_prev) / (1.0 - ab);
    posterior_mean_coef1[t] = betas[t] * std::sqrt(ab_prev) / (1.0 - ab);
    posterior_mean_coef2[t] = (1.0 - ab_prev) * std::sqrt(alphas[t]) / (1.0 - ab);
  }
  // beta-tilde_0 = 0: its log is -inf, so t = 0 takes the log of beta-tilde_1 instead.
  for (size_t t = 0; t < n; ++t) {
    const double v = t > 0 ? posterior_variance[t] : (n > 1 ? posterior_variance[1] : betas[0]);
    posterior_log_variance_clipped[t] = std::log(v);
  }
}

}  // namespace ddpm
