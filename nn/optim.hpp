// Optimizers over a list of parameters (tensors that require grad), as torch.optim: AdamW and SGD,
// and gradient clipping by the global norm.
//
//   AdamW opt(model.parameters(), AdamWOptions{2e-4, 0.9, 0.999, 1e-8, 0.0});
//   loss = ...; backward(loss);
//   clip_grad_norm(model.parameters(), 1.0);
//   opt.set_lr(warmup_constant_lr(step, 2e-4, 5000));
//   opt.step();
//   opt.zero_grad();
//
// All parameters of one optimizer live on one device. Build the optimizer after moving the model:
// its state is made where the parameters are.
#pragma once
#include <cstdint>
#include <vector>

#include "nn/module.hpp"

namespace ddpm {

// torch.optim.AdamW's hyper-parameters and defaults.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

// Adam with decoupled weight decay (Loshchilov & Hutter), step for step torch.optim.AdamW
// (amsgrad off): for update t = 1, 2, ...
//   p -= lr wd p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   p -= lr / (1 - b1^t) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// One fused pass over all parameters (Backend::adamw_step): on the GPU one kernel launch for up to
// ~580 parameter tensors (the cifar10 U-Net has ~300; see cuda/optim.cu). A parameter
// without a gradient is skipped, as in PyTorch; unlike PyTorch, t counts the optimizer's steps, not
// each parameter's (they differ only for a parameter that had no gradient in some step).
class AdamW {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});

  void step();
  void zero_grad(bool set_to_none = true);
  void set_lr(double lr);
  double lr() const { return options_.lr; }
  const AdamWOptions& options() const { return options_; }
  int64_t step_count() const { return step_; }  // updates made so far (t of the last one)
  const std::vector<Tensor>& params() const { return params_; }

  // The state that resuming needs: "step" (int64 scalar) and the moments "m.<i>", "v.<i>" of
  // parameter i. Loading it (strict, as Module's) continues exactly where the saved optimizer was.
  StateDict state_dict() const;
  void load_state_dict(const StateDict& state);

 private:
  std::vector<Tensor> params_, m_, v_;
  AdamWOptions options_;
  int64_t step_ = 0;
};

// torch.optim.SGD's hyper-parameters (lr's default as in PyTorch 2).
struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

// Stochastic gradient descent with momentum, as torch.optim.SGD:
//   d = g + wd p;  buf = d on the first step, else momentum buf + (1 - dampening) d;
//   d = nesterov ? d + momentum buf : buf (when momentum != 0);  p -= lr d.
// Plain tensor ops per parameter (a few launches each): SGD is not on DDPM's hot path.
class SGD {
 public:
  explicit SGD(std::vector<Tensor> params, SGDOptions options = {});

  void step();
  void zero_grad(bool set_to_none = true);
  void set_lr(double lr);
  double lr() const { return options_.lr; }
  const std::vector<Tensor>& params() const { return params_; }

 private:
  std::vector<Tensor> params_, momentum_;
  SGDOptions options_;
};

// Scales the gradients of `params` so that their global L2 norm (over all gradients together) is at
// most max_norm, as torch.nn.utils.clip_grad_norm_: every gradient times min(1, max_norm / (norm +
// 1e-6)). A non-finite norm leaves the gradients alone, so the caller can skip the step.
//
// clip_grad_norm_ does it all on the device and returns the norm before clipping as a float64 0-dim
// tensor on the parameters' device, without waiting for it: one Backend::sum_of_squares, a few
// scalar kernels and one multiply per gradient (none when max_norm is infinite). Read the norm
// together with the step's other numbers (the trainer reads it with the loss, in one copy).
// Parameters on several devices work, at the cost of copying each device's partial sum (a wait).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm);
// The same, returning the norm as a double: one read (a wait for the device).
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace ddpm
