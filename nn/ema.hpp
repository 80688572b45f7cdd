// An exponential moving average of parameters, the weights DDPM samples with (decay 0.9999):
// after each optimizer step, shadow = decay shadow + (1 - decay) param.
//
//   EMA ema(model.parameters(), 0.9999);
//   opt.step();  ema.update();
//   ema.copy_to(sampling_model.parameters());  // sample with the averaged weights
#pragma once
#include <cstdint>
#include <vector>

#include "nn/module.hpp"

namespace ddpm {

class EMA {
 public:
  // The shadow starts as a copy of `params` (one device and dtype, contiguous; build the EMA after
  // moving the model). With warmup, the n-th update (n = 0, 1, ...) uses
  // min(decay, (1 + n) / (10 + n)), as TensorFlow's ExponentialMovingAverage with num_updates, so
  // the early average is not dominated by the random init.
  EMA(const std::vector<Tensor>& params, double decay, bool warmup = false);

  // One pass over all parameters: a single kernel launch on the GPU (Backend::ema_update).
  void update();
  // The decay the update after `updates` earlier ones uses.
  double decay_at(int64_t updates) const;
  int64_t num_updates() const { return updates_; }

  // The averages, in the order of the parameters (the EMA's own tensors: do not write to them).
  const std::vector<Tensor>& shadow() const { return shadow_; }
  std::vector<Tensor> shadow_copy() const;  // independent copies
  // Writes the averages into `params` (same shapes), e.g. those of a second model used for sampling.
  void copy_to(const std::vector<Tensor>& params) const;

  // "num_updates" (int64 scalar) and "shadow.<i>"; loading is strict, as Module's.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  std::vector<Tensor> params_, shadow_;
  double decay_;
  bool warmup_;
  int64_t updates_ = 0;
};

}  // namespace ddpm
