// Learning-rate schedules: plain functions of the step, so that resuming at step s needs nothing but s.
#include "nn/lr_schedule.hpp"

#include <algorithm>
#include <cmath>

#include "tensor/macros.hpp"

namespace ddpm {

namespace {

// The warmup factor min(1, step / warmup_steps).
double warmup_factor(int64_t step, int64_t warmup_steps) {
  DDPM_CHECK(step >= 0 && warmup_steps >= 0, "lr schedule: step ", step, " and warmup_steps ", warmup_steps,
             " must be >= 0");
  if (step >= warmup_steps) return 1.0;
  return double(step) / double(warmup_steps);
}

}  // namespace

double warmup_constant_lr(int64_t step, double base_lr, int64_t warmup_steps) {
  return base_lr * warmup_factor(step, warmup_steps);
}

double warmup_cosine_lr(int64_t step, double base_lr, int64_t warmup_steps, int64_t total_steps, double min_lr) {
  DDPM_CHECK(total_steps > warmup_steps, "warmup_cosine_lr: total_steps ", total_steps,
             " must exceed warmup_steps ", warmup_steps);
  if (step < warmup_steps) return base_lr * warmup_factor(step, warmup_steps);
  const double progress = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
  const double pi = std::acos(-1.0);
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(pi * progress));
}

double LRSchedule::operator()(int64_t step) const {
  if (kind == Kind::Cosine) return warmup_cosine_lr(step, base_lr, warmup_steps, total_steps, min_lr);
  return warmup_constant_lr(step, base_lr, warmup_steps);
}

}  // namespace ddpm
