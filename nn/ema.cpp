// The EMA of parameters: a shadow copy updated in one fused pass (Backend::ema_update).
#include "nn/ema.hpp"

#include <algorithm>

#include "tensor/macros.hpp"

namespace ddpm {

EMA::EMA(const std::vector<Tensor>& params, double decay, bool warmup)
    : params_(params), decay_(decay), warmup_(warmup) {
  DDPM_CHECK(decay >= 0.0 && decay <= 1.0, "EMA: decay must be in [0, 1], got ", decay);
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    DDPM_CHECK(p.defined() && p.is_contiguous(), "EMA: parameter ", i, " is undefined or not contiguous");
    DDPM_CHECK(p.device() == params_[0].device() && p.dtype() == params_[0].dtype(), "EMA: parameter ", i, " is ",
               describe(p), " but parameter 0 is ", describe(params_[0]), "; one EMA takes one device and dtype");
    shadow_.push_back(p.clone());  // a new tensor, cut from the graph
  }
}

double EMA::decay_at(int64_t updates) const {
  if (!warmup_) return decay_;
  return std::min(decay_, (1.0 + double(updates)) / (10.0 + double(updates)));
}

void EMA::update() {
  if (params_.empty()) return;
  std::vector<TensorRef> shadow_refs, param_refs;
  for (size_t i = 0; i < params_.size(); ++i) {
    DDPM_CHECK(params_[i].device() == shadow_[i].device(), "EMA: parameter ", i, " is on ",
               params_[i].device().str(), " but its average on ", shadow_[i].device().str(),
               "; build the EMA after moving the model");
    shadow_refs.push_back(shadow_[i].ref());
    param_refs.push_back(params_[i].ref());
  }
  backend(params_[0].device()).ema_update(shadow_refs, param_refs, decay_at(updates_));
  ++updates_;
}

std::vector<Tensor> EMA::shadow_copy() const {
  std::vector<Tensor> out;
  for (const Tensor& s : shadow_) out.push_back(s.clone());
  return out;
}

void EMA::copy_to(const std::vector<Tensor>& params) const {
  DDPM_CHECK(params.size() == shadow_.size(), "EMA.copy_to: got ", params.size(), " tensors, the EMA has ",
             shadow_.size());
  for (size_t i = 0; i < params.size(); ++i)
    DDPM_CHECK(params[i].shape() == shadow_[i].shape(), "EMA.copy_to: tensor ", i, " is ", describe(params[i]),
               ", its average is ", describe(shadow_[i]));
  NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor dst = params[i];
    dst.copy_(shadow_[i]);
  }
}

StateDict EMA::state_dict() const {
  StateDict out;
  out.emplace_back("num_updates", scalar_tensor(double(updates_), DType::Int64));
  for (size_t i = 0; i < shadow_.size(); ++i) out.emplace_back(str("shadow.", i), shadow_[i]);
  return out;
}

void EMA::load_state_dict(const StateDict& state) {
  StateDict targets = state_dict();  // "num_updates" there is a fresh scalar: read it back below
  load_named_tensors("EMA", targets, state);
  updates_ = targets[0].second.item<int64_t>();
}

}  // namespace ddpm
