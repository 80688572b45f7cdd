// Times one DDPM training step (loss forward, backward, AdamW update) of the U-Net presets at 32x32,
// as bench/train_step_torch.py does in PyTorch. Prints "preset<TAB>seconds per step<TAB>peak tensor MiB
// <TAB>system allocations in the timed steps<TAB>peak RSS MiB" (the median of several steps after
// warm-up); bench/train_step.sh runs both, one preset per process, and prints a table.
// Usage: bench_train_step [cpu|cuda] [batch=64] [steps (0 or "": 5 on cpu, 20 on cuda)] [presets... = tiny small]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "bench_timing.hpp"
#include "tensor/allocator.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/unet.hpp"
#include "nn/optim.hpp"
#include "tensor/backend.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace ddpm;

namespace {

int run(int argc, char** argv) {
  Device dev = Device::parse(argc > 1 ? argv[1] : "cpu");
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 64;
  int steps = argc > 3 ? std::atoi(argv[3]) : 0;
  if (steps <= 0) steps = dev.is_cpu() ? 5 : 20;  // "" or 0: the default
  std::vector<std::string> presets;
  for (int i = 4; i < argc; ++i) presets.push_back(argv[i]);
  if (presets.empty()) presets = {"tiny", "small"};

  for (const std::string& preset : presets) {
    Generator gen(0);  // outlives the model: its Dropout layers keep the pointer
    UNet model(unet_preset(preset), &gen);
    model.to(dev);
    model.train();
    AdamW opt(model.parameters(), AdamWOptions{/*lr=*/2e-4, 0.9, 0.999, 1e-8, /*weight_decay=*/0.0});
    GaussianDiffusion diffusion(DiffusionConfig{});
    const UNetConfig& c = model.config;
    // One fixed batch of "images" in [-1, 1]: the data pipeline is not what is timed.
    // x0: [B, C, H, W]
    Tensor x0 = rand({batch, c.in_channels, c.resolution, c.resolution}, TensorOptions(DType::Float32, dev), &gen,
                     -1.0, 1.0);
    DenoiseModel model_fn = [&](const Tensor& x_t, const Tensor& t) { return model.forward(x_t, t); };

    auto step = [&] {
      Tensor loss = diffusion.training_losses(model_fn, x0, gen);
      backward(loss);
      opt.step();
      opt.zero_grad();
    };
    for (int i = 0; i < 2; ++i) step();  // warm-up: fills the caching allocator
    const AllocatorStats warm = backend(dev).allocator().stats();
    const double ms = bench::median_ms(dev, step, steps, /*warmups=*/0);
    const AllocatorStats after = backend(dev).allocator().stats();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    // seconds per step; our allocator's peak of live tensor bytes; how many of its requests reached
    // malloc (or cudaMalloc) during the timed steps; the process's peak resident memory
    std::printf("%s\t%.4f\t%.1f\t%llu\t%.1f\n", preset.c_str(), ms / 1000.0,
                double(after.peak_allocated_bytes) / (1 << 20),
                static_cast<unsigned long long>(after.system_allocations - warm.system_allocations),
                double(usage.ru_maxrss) / 1024.0);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ddpm::bench::run_main("bench_train_step", run, argc, argv); }
