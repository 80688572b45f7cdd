// The toy training run of the trainer tests: a two-level U-Net on 8x8 images (test::toy_images), T = 100.
#pragma once
#include <vector>

#include "diffusion/trainer.hpp"

namespace ddpm::test {

inline TrainOptions toy_options() {
  TrainOptions o;
  o.model.in_channels = 1, o.model.ch = 8, o.model.ch_mult = {1, 2}, o.model.num_res_blocks = 1;
  o.model.attn_resolutions = {4}, o.model.groups = 4, o.model.dropout = 0.1, o.model.resolution = 8;
  o.preset = "toy";
  o.diffusion.T = 100;
  o.diffusion.beta_end = 0.2;  // T = 100 steps still reach pure noise
  o.steps = 12, o.batch_size = 8, o.lr = 2e-3, o.warmup_steps = 2, o.seed = 7, o.hflip = true;
  o.checkpoint_every = 0, o.sample_every = 0, o.sample_count = 2, o.sample_steps = 3;
  return o;
}

// The mean of v[begin, end): a stretch of a run's losses.
inline double mean_of(const std::vector<double>& v, size_t begin, size_t end) {
  double s = 0;
  for (size_t i = begin; i < end; ++i) s += v[i];
  return s / double(end - begin);
}

}  // namespace ddpm::test
