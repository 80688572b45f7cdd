// Learning-rate schedules as functions of the step: `step` is the number of updates already made
// (0 for the first update), as the DDPM code's global_step and Hugging Face's schedulers count, so
// warmup starts from lr 0 and reaches base_lr at step == warmup_steps.
//
//   opt.set_lr(warmup_cosine_lr(step, 2e-4, 5000, 800000));
//   opt.step();
#pragma once
#include <cstdint>

namespace ddpm {

// base_lr * min(1, step / warmup_steps): the DDPM paper's schedule (warmup 5000). warmup_steps = 0
// means no warmup.
double warmup_constant_lr(int64_t step, double base_lr, int64_t warmup_steps);

// Linear warmup as above, then half a cosine from base_lr down to min_lr at step total_steps,
// min_lr after it: min_lr + (base_lr - min_lr) (1 + cos(pi progress)) / 2,
// progress = (step - warmup_steps) / (total_steps - warmup_steps).
double warmup_cosine_lr(int64_t step, double base_lr, int64_t warmup_steps, int64_t total_steps,
                        double min_lr = 0.0);

// A schedule chosen at run time (from a config), called as a function of the step.
struct LRSchedule {
  enum class Kind { Constant, Cosine };
  Kind kind = Kind::Constant;
  double base_lr = 2e-4;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // Cosine only
  double min_lr = 0.0;      // Cosine only

  double operator()(int64_t step) const;
};

}  // namespace ddpm
