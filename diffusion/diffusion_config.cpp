// The diffusion's names and configuration: parsing and printing the objective, variance and loss, and
// DiffusionConfig's checks and its round trip through a checkpoint's metadata.
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "diffusion/gaussian_diffusion.hpp"

namespace ddpm {

// ---- names and configuration -------------------------------------------------------------------

Objective parse_objective(const std::string& name) {
  if (name == "eps") return Objective::Eps;
  if (name == "x0") return Objective::X0;
  if (name == "v") return Objective::V;
  throw std::invalid_argument("unknown objective '" + name + "', expected one of: eps, x0, v");
}

std::string to_string(Objective o) {
  switch (o) {
    case Objective::Eps: return "eps";
    case Objective::X0: return "x0";
    case Objective::V: return "v";
  }
  return "?";
}

VarianceType parse_variance(const std::string& name) {
  if (name == "beta") return VarianceType::Beta;
  if (name == "beta-tilde") return VarianceType::BetaTilde;
  if (name == "learned-range") return VarianceType::LearnedRange;
  throw std::invalid_argument("unknown variance '" + name + "', expected one of: beta, beta-tilde, learned-range");
}

std::string to_string(VarianceType v) {
  switch (v) {
    case VarianceType::Beta: return "beta";
    case VarianceType::BetaTilde: return "beta-tilde";
    case VarianceType::LearnedRange: return "learned-range";
  }
  return "?";
}

LossType parse_loss(const std::string& name) {
  if (name == "simple") return LossType::Simple;
  if (name == "hybrid") return LossType::Hybrid;
  if (name == "vlb") return LossType::Vlb;
  throw std::invalid_argument("unknown loss '" + name + "', expected one of: simple, hybrid, vlb");
}

std::string to_string(LossType l) {
  switch (l) {
    case LossType::Simple: return "simple";
    case LossType::Hybrid: return "hybrid";
    case LossType::Vlb: return "vlb";
  }
  return "?";
}

void DiffusionConfig::validate() const {
  make_betas(schedule, T, beta_start, beta_end);
  auto fail = [](const std::string& what) { throw std::invalid_argument("DiffusionConfig: " + what); };
  if (!(vlb_weight >= 0) || !std::isfinite(vlb_weight))
    fail("vlb_weight is " + std::to_string(vlb_weight) + ", expected >= 0");
  if (learns_variance() && loss == LossType::Simple)
    fail("learned-range variances are trained only by L_vlb; use the hybrid or vlb loss");
  if (!learns_variance() && loss == LossType::Hybrid)
    fail("the hybrid loss stops the mean's gradient in L_vlb, so with a fixed variance (" + to_string(variance) +
         ") L_vlb trains nothing; use learned-range variances, or the simple or vlb loss");
}

std::map<std::string, std::string> DiffusionConfig::to_metadata() const {
  auto num = [](double x) { std::ostringstream s; s.precision(17); s << x; return s.str(); };
  std::map<std::string, std::string> m = {
      {"diffusion.schedule", to_string(schedule)},   {"diffusion.T", std::to_string(T)},
      {"diffusion.beta_start", num(beta_start)},     {"diffusion.beta_end", num(beta_end)},
      {"diffusion.objective", to_string(objective)}, {"diffusion.variance", to_string(variance)},
      {"diffusion.loss", to_string(loss)}};
  if (loss == LossType::Hybrid) m["diffusion.vlb_weight"] = num(vlb_weight);  // only the hybrid loss has a lambda
  return m;
}

DiffusionConfig DiffusionConfig::from_metadata(const std::map<std::string, std::string>& m) {
  auto get = [&](const std::string& key) {
    auto it = m.find(key);
    if (it == m.end()) throw std::invalid_argument("DiffusionConfig: metadata has no key " + key);
    return it->second;
  };
  // Whole-string numbers only: "1e-4x" or "" is an error, not 1e-4 or 0.
  auto number = [&](const std::string& key, bool integer) {
    const std::string s = get(key);
    try {
      size_t used = 0;
      double v = integer ? double(std::stoll(s, &used)) : std::stod(s, &used);
      if (used == s.size()) return v;
    } catch (const std::exception&) {
    }
    throw std::invalid_argument("DiffusionConfig: metadata " + key + " = '" + s + "' is not " +
                                (integer ? "an integer" : "a number"));
  };
  auto named = [&](const std::string& key, auto parse) {
    try {
      return parse(get(key));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("DiffusionConfig: metadata " + key + ": " + e.what());
    }
  };
  DiffusionConfig c;
  c.schedule = named("diffusion.schedule", parse_beta_schedule);
  c.T = int64_t(number("diffusion.T", true));
  c.beta_start = number("diffusion.beta_start", false);
  c.beta_end = number("diffusion.beta_end", false);
  c.objective = named("diffusion.objective", parse_objective);
  c.variance = named("diffusion.variance", parse_variance);
  if (m.count("diffusion.loss")) c.loss = named("diffusion.loss", parse_loss);
  if (m.count("diffusion.vlb_weight")) c.vlb_weight = number("diffusion.vlb_weight", false);
  c.validate();
  return c;
}

}  // namespace ddpm
