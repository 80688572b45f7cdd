// AdamW (one multi-tensor kernel per step), SGD (tensor ops) and clip_grad_norm.
#include "nn/optim.hpp"

#include <cmath>
#include <utility>

#include "tensor/macros.hpp"

namespace ddpm {

namespace {

// Checks that the parameters are leaves that require grad, contiguous (the fused kernels walk them
// as flat arrays), and all on one device and of one dtype (one Backend call covers them all).
void check_params(const char* owner, const std::vector<Tensor>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    DDPM_CHECK(p.defined(), owner, ": parameter ", i, " is undefined");
    DDPM_CHECK(requires_grad(p) && is_leaf(p), owner, ": parameter ", i, " (", describe(p),
               ") is not a leaf that requires grad");
    DDPM_CHECK(p.is_contiguous(), owner, ": parameter ", i, " (", describe(p), ") is not contiguous");
    DDPM_CHECK(p.device() == params[0].device() && p.dtype() == params[0].dtype(), owner, ": parameter ", i, " is ",
               describe(p), " but parameter 0 is ", describe(params[0]), "; one optimizer takes one device and dtype");
  }
}

// The gradient of p as a contiguous tensor, or undefined when p has none.
Tensor contiguous_grad(const Tensor& p) {
  Tensor g = grad(p);
  return g.defined() ? g.contiguous() : g;
}

}  // namespace

// ---- AdamW ---------------------------------------------------------------------------------------
AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options) : params_(std::move(params)) {
  check_params("AdamW", params_);
  set_lr(options.lr);
  DDPM_CHECK(options.beta1 >= 0.0 && options.beta1 < 1.0 && options.beta2 >= 0.0 && options.beta2 < 1.0,
             "AdamW: betas must be in [0, 1), got ", options.beta1, " and ", options.beta2);
  DDPM_CHECK(options.eps >= 0.0 && options.weight_decay >= 0.0, "AdamW: eps and weight_decay must be >= 0, got ",
             options.eps, " and ", options.weight_decay);
  options_ = options;
  for (const Tensor& p : params_) {
    m_.push_back(zeros_like(p));
    v_.push_back(zeros_like(p));
  }
}

void AdamW::set_lr(double lr) {
  DDPM_CHECK(lr >= 0.0, "AdamW: lr must be >= 0, got ", lr);
  options_.lr = lr;
}

void AdamW::step() {
  if (params_.empty()) return;
  // The parameters with a gradient, as the four parallel lists the kernel takes.
  std::vector<Tensor> grads;  // keeps contiguous copies alive until the kernel has run
  std::vector<TensorRef> p_refs, g_refs, m_refs, v_refs;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor g = contiguous_grad(params_[i]);
    if (!g.defined()) continue;
    DDPM_CHECK(m_[i].device() == params_[i].device(), "AdamW: parameter ", i, " is on ", params_[i].device().str(),
               " but its state on ", m_[i].device().str(), "; build the optimizer after moving the model");
    grads.push_back(g);
    p_refs.push_back(params_[i].ref());
    g_refs.push_back(g.ref());
    m_refs.push_back(m_[i].ref());
    v_refs.push_back(v_[i].ref());
  }
  ++step_;
  AdamWStep s;
  s.lr = options_.lr;
  s.beta1 = options_.beta1;
  s.beta2 = options_.beta2;
  s.eps = options_.eps;
  s.weight_decay = options_.weight_decay;
  s.bias_correction1 = 1.0 - std::pow(options_.beta1, double(step_));
  s.bias_correction2 = 1.0 - std::pow(options_.beta2, double(step_));
  backend(params_[0].device()).adamw_step(p_refs, g_refs, m_refs, v_refs, s);
}

void AdamW::zero_grad(bool set_to_none) {
  for (const Tensor& p : params_) ddpm::zero_grad(p, set_to_none);
}

StateDict AdamW::state_dict() const {
  StateDict out;
  out.emplace_back("step", scalar_tensor(double(step_), DType::Int64));
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(str("m.", i), m_[i]);
  for (size_t i = 0; i < params_.size(); ++i) out.emplace_back(str("v.", i), v_[i]);
  return out;
}

void AdamW::load_state_dict(const StateDict& state) {
  StateDict targets = state_dict();  // "step" there is a fresh scalar: read it back below
  load_named_tensors("AdamW", targets, state);
  step_ = targets[0].second.item<int64_t>();
}

// ---- SGD -----------------------------------------------------------------------------------------
SGD::SGD(std::vector<Tensor> params, SGDOptions options) : params_(std::move(params)), options_(options) {
  check_params("SGD", params_);
  set_lr(options.lr);
  DDPM_CHECK(options.momentum >= 0.0 && options.weight_decay >= 0.0, "SGD: momentum and weight_decay must be >= 0");
  DDPM_CHECK(!options.nesterov || (options.momentum > 0.0 && options.dampening == 0.0),
             "SGD: nesterov needs momentum > 0 and dampening 0");
  momentum_.resize(params_.size());
}

void SGD::set_lr(double lr) {
  DDPM_CHECK(lr >= 0.0, "SGD: lr must be >= 0, got ", lr);
  options_.lr = lr;
}

void SGD::step() {
  NoGradGuard no_grad;
  const SGDOptions& o = options_;
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor d = grad(params_[i]);
    if (!d.defined()) continue;
    if (o.weight_decay != 0.0) d = ops::add(d, ops::mul(params_[i], o.weight_decay));
    if (o.momentum != 0.0) {
      Tensor& buf = momentum_[i];
      buf = buf.defined() ? ops::add(ops::mul(buf, o.momentum), ops::mul(d, 1.0 - o.dampening)) : d.clone();
      d = o.nesterov ? ops::add(d, ops::mul(buf, o.momentum)) : buf;
    }
    params_[i].copy_(ops::sub(params_[i], ops::mul(d, o.lr)));
  }
}

void SGD::zero_grad(bool set_to_none) {
  for (const Tensor& p : params_) ddpm::zero_grad(p, set_to_none);
}

// ---- clip_grad_norm ------------------------------------------------------------------------------
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm) {
  DDPM_CHECK(max_norm > 0.0, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  NoGradGuard no_grad;
  // The gradients, grouped by device: one sum_of_squares per device, into a float64 scalar there.
  std::vector<Tensor> grads;
  std::vector<std::pair<Device, std::vector<TensorRef>>> groups;
  for (const Tensor& p : params) {
    Tensor g = contiguous_grad(p);
    if (!g.defined()) continue;
    grads.push_back(g);
    size_t k = 0;
    while (k < groups.size() && groups[k].first != g.device()) ++k;
    if (k == groups.size()) groups.push_back({g.device(), {}});
    groups[k].second.push_back(g.ref());
  }
  const Device home = !groups.empty() ? groups[0].first : !params.empty() ? params[0].device() : Device::cpu();
  const TensorOptions f64(DType::Float64, home);
  Tensor sum_sq;
  for (const auto& [device, refs] : groups) {
    Tensor part = empty({}, TensorOptions(DType::Float64, device));
    backend(device).sum_of_squares(part.ref(), refs);
    if (device != home) part = part.to(home);  // another device's partial sum: a copy through the host
    sum_sq = sum_sq.defined() ? ops::add(sum_sq, part) : part;
  }
  Tensor norm = sum_sq.defined() ? ops::sqrt(sum_sq) : zeros({}, f64);  // [] float64
  if (groups.empty() || !std::isfinite(max_norm)) return norm;  // nothing to scale: the coefficient is 1

  // coef = min(1, max_norm / (norm + 1e-6)), and 1 where the norm is not finite (the gradients are
  // left alone and the caller skips the step). Multiplying by exactly 1 changes no gradient.
  Tensor coef = ops::minimum(ops::div(max_norm, ops::add(norm, 1e-6)), 1.0);
  coef = ops::where(ops::lt(norm, INFINITY), coef, ones({}, f64));  // norm >= 0; NaN < inf is false
  std::vector<std::pair<std::pair<Device, DType>, Tensor>> coefs;  // coef in each gradient's device and dtype
  auto coef_for = [&](const Tensor& g) -> Tensor {
    for (const auto& [key, c] : coefs)
      if (key.first == g.device() && key.second == g.dtype()) return c;
    Tensor c = coef;
    if (g.device() != home) c = c.to(g.device());
    coefs.push_back({{g.device(), g.dtype()}, c.to(g.dtype())});  // rounded once, as a scalar argument would be
    return coefs.back().second;
  };
  for (const Tensor& p : params) {
    const Tensor g = grad(p);
    if (g.defined()) set_grad(p, ops::mul(g, coef_for(g)));
  }
  return norm;
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  return clip_grad_norm_(params, max_norm).item();
}

}  // namespace ddpm
