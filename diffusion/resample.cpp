// The loss-aware timestep sampler of Nichol & Dhariwal 2021 (Sec. 3.3).
#include "diffusion/resample.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace ddpm {

LossSecondMomentResampler::LossSecondMomentResampler(int64_t T, int64_t history, double uniform_prob)
    : T_(T), history_(history), uniform_prob_(uniform_prob),
      losses_(static_cast<size_t>(T * history), 0.0), count_(static_cast<size_t>(T), 0) {
  if (T < 1 || history < 1 || !(uniform_prob >= 0 && uniform_prob <= 1))
    throw std::invalid_argument("LossSecondMomentResampler: T and history must be >= 1, uniform_prob in [0, 1]");
}

bool LossSecondMomentResampler::warmed_up() const {
  return std::all_of(count_.begin(), count_.end(), [&](int64_t c) { return c == history_; });
}

std::vector<double> LossSecondMomentResampler::weights() const {
  std::vector<double> w(static_cast<size_t>(T_), 1.0 / double(T_));
  if (!warmed_up()) return w;
  double total = 0;
  for (int64_t t = 0; t < T_; ++t) {
    double sq = 0;
    for (int64_t k = 0; k < history_; ++k) sq += losses_[size_t(t * history_ + k)] * losses_[size_t(t * history_ + k)];
    w[size_t(t)] = std::sqrt(sq / double(history_));  // sqrt(E[L_t^2])
    total += w[size_t(t)];
  }
  for (double& p : w) p = (total > 0 ? p / total : 1.0 / double(T_)) * (1 - uniform_prob_) + uniform_prob_ / double(T_);
  return w;
}

LossSecondMomentResampler::Draw LossSecondMomentResampler::sample(int64_t B, Generator& gen, Device device) const {
  const std::vector<double> p = weights();
  std::vector<double> cdf(p.size());
  double acc = 0;
  for (size_t i = 0; i < p.size(); ++i) cdf[i] = acc += p[i];
  const std::vector<double> u = rand({B}, DType::Float64, &gen).to_vector<double>();  // on the CPU: no wait
  Draw d;
  std::vector<float> w;
  for (double ui : u) {
    // the first t with cdf(t) > u * total (inverse transform sampling)
    int64_t t = int64_t(std::upper_bound(cdf.begin(), cdf.end(), ui * acc) - cdf.begin());
    t = std::min(t, T_ - 1);
    d.t_host.push_back(t);
    w.push_back(float(1.0 / (double(T_) * p[size_t(t)])));
  }
  d.t = Tensor::from_vector(d.t_host, {B}, device);
  d.weights = Tensor::from_vector(w, {B}, device);
  return d;
}

void LossSecondMomentResampler::update(const std::vector<int64_t>& t, const std::vector<double>& losses) {
  if (t.size() != losses.size()) throw std::invalid_argument("LossSecondMomentResampler::update: sizes differ");
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] < 0 || t[i] >= T_) throw std::invalid_argument("LossSecondMomentResampler::update: t out of range");
    double* row = &losses_[size_t(t[i] * history_)];
    int64_t& n = count_[size_t(t[i])];
    if (n == history_) {
      std::rotate(row, row + 1, row + history_);  // drop the oldest
      row[history_ - 1] = losses[i];
    } else {
      row[n++] = losses[i];
    }
  }
}

std::vector<std::pair<std::string, Tensor>> LossSecondMomentResampler::state_dict() const {
  return {{"history", Tensor::from_vector(losses_, {T_, history_})}, {"count", Tensor::from_vector(count_, {T_})}};
}

void LossSecondMomentResampler::load_state_dict(const std::vector<std::pair<std::string, Tensor>>& state) {
  bool got_history = false, got_count = false;
  for (const auto& [name, tensor] : state) {
    if (name == "history" && tensor.shape() == Shape{T_, history_}) {
      losses_ = tensor.to_vector<double>();
      got_history = true;
    } else if (name == "count" && tensor.shape() == Shape{T_}) {
      count_ = tensor.to_vector<int64_t>();
      got_count = true;
    }
  }
  if (!got_history || !got_count)
    throw std::runtime_error("LossSecondMomentResampler: the state has no history [" + std::to_string(T_) + ", " +
                             std::to_string(history_) + "] and count [" + std::to_string(T_) + "]");
  for (int64_t& c : count_) c = std::clamp<int64_t>(c, 0, history_);
}

}  // namespace ddpm
