// The DDPM training loop (Algorithm 1): repeat { x0 ~ data, t ~ Uniform, eps ~ N(0, I), a gradient
// step on ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, t)||^2 }, with AdamW, warmup,
// gradient clipping, an EMA of the weights, a progress bar, a CSV log, sample grids, checkpoints,
// and an exact resume.
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/unet.hpp"

namespace ddpm {

struct TrainOptions {
  UNetConfig model = unet_preset("tiny");
  std::string preset = "tiny";        // recorded in the checkpoint's metadata
  DiffusionConfig diffusion;
  std::string data_name = "images";   // recorded in the metadata and checked on resume
  int64_t steps = 2000;               // total optimizer steps (a resumed run continues up to it)
  int64_t batch_size = 64;
  double lr = 2e-4;
  int64_t warmup_steps = 100;         // linear warmup from 0 (the paper: 5000)
  double grad_clip = 1.0;             // max global gradient norm; 0 turns clipping off
  double weight_decay = 0.0;
  double ema_decay = 0.9999;          // with TensorFlow's warmup min(decay, (1 + n) / (10 + n))
  bool hflip = false;                 // random horizontal flips of the training images
  bool importance_sampling = false;   // the vlb loss only: t drawn by LossSecondMomentResampler (Nichol &
                                      // Dhariwal 2021, Sec. 3.3) instead of uniformly
  double p_uncond = 0.1;              // class-conditional models (model.num_classes > 0): the probability that
                                      // a training image's label is replaced by the null class, so that one
                                      // network learns p(x | c) and p(x) (classifier-free guidance)
  uint64_t seed = 0;                  // the init, the batches, t, the noise and dropout all follow from it
  Device device = Device::cpu();

  std::string out_dir;                // model.safetensors, state.safetensors, log.csv, samples_*.png; empty: none
  int64_t checkpoint_every = 500;     // 0: only at the end
  int64_t sample_every = 500;         // a sample grid every N steps (0: only at the end)
  int64_t sample_count = 16;          // images in each grid
  int64_t sample_steps = 50;          // DDIM steps (eta 0) for those grids; the full DDPM sampler is tools/sample's
  bool resume = false;                // continue from out_dir/state.safetensors

  int64_t eval_every = 0;             // > 0: call `evaluate` every N steps and at the end
  // Scores the EMA model (a quality score, tools/train --eval-every); what it returns is shown on the
  // progress line. It may write files of its own.
  std::function<std::string(int64_t step, UNet& ema_model)> evaluate;

  std::ostream* log = nullptr;        // progress bar and messages; null: silent
  std::function<bool()> stop_requested;  // polled every step: true saves a checkpoint and returns (Ctrl-C)
};

struct TrainResult {
  int64_t start_step = 0, end_step = 0;  // the run covered steps (start_step, end_step]
  std::vector<double> losses;            // the loss of each step of this run
  int64_t skipped_steps = 0;             // steps with a non-finite loss or gradient, not applied
  bool stopped_early = false;
};

// Checks the options that do not depend on the data (train() checks them again, and the images): the
// tools call it before loading the data. std::invalid_argument naming the option and the fix.
void validate_options(const TrainOptions& options);

// Trains on `images` ([N, C, H, W] float32 in [-1, 1] on the CPU; C and H, W as the model's). The model's
// output channels must be diffusion.model_output_channels(C) (2C for learned-range variances). A
// class-conditional model (model.num_classes > 0) needs `labels`, int64 [N] in 0 .. num_classes - 1;
// an unconditional one takes none.
// Throws std::invalid_argument on bad options and std::runtime_error when resuming fails or the
// loss stays non-finite; a checkpoint is written before a runtime failure propagates where possible.
TrainResult train(const TrainOptions& options, const Tensor& images, const Tensor& labels = Tensor());

}  // namespace ddpm
