// Times one sampler step's network evaluation: the U-Net forward under NoGradGuard, in eval mode, of
// the presets at 32x32, for a batch of 64 and a batch of 1, as bench/sample_torch.py does in PyTorch.
// A DDPM sample of T = 1000 steps costs 1000 of these. Prints "preset<TAB>batch<TAB>ms per U-Net
// evaluation", the median of several evaluations after warm-up, with the device synchronized around
// each one.
// Usage: bench_sample [cpu|cuda] [evaluations (0 or "": 5 on cpu, 30 on cuda)] [batches = 64,1]
//                     [presets... = tiny small]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench_timing.hpp"
#include "diffusion/unet.hpp"
#include "tensor/backend.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace ddpm;

namespace {

int run(int argc, char** argv) {
  Device dev = Device::parse(argc > 1 ? argv[1] : "cpu");
  int evals = argc > 2 ? std::atoi(argv[2]) : 0;
  if (evals <= 0) evals = dev.is_cpu() ? 5 : 30;  // "" or 0: the default
  std::vector<int64_t> batches;
  {
    std::stringstream list(argc > 3 && *argv[3] ? argv[3] : "64,1");
    for (std::string item; std::getline(list, item, ',');) {
      const long long b = std::atoll(item.c_str());
      if (b < 1) {
        std::fprintf(stderr, "bench_sample: error: batch '%s' in '%s' is not a positive integer\n", item.c_str(),
                     argv[3]);
        return 1;
      }
      batches.push_back(b);
    }
  }
  std::vector<std::string> presets;
  for (int i = 4; i < argc; ++i) presets.push_back(argv[i]);
  if (presets.empty()) presets = {"tiny", "small"};

  NoGradGuard no_grad;  // sampling records nothing
  for (const std::string& preset : presets) {
    Generator gen(0);  // outlives the model: its Dropout layers keep the pointer
    UNet model(unet_preset(preset), &gen);
    model.to(dev);
    model.eval();
    const UNetConfig& c = model.config;
    for (const int64_t batch : batches) {
      // x_t: [B, C, H, W] ~ N(0, I) and t: [B] in 0 .. 999, fixed: the sampler's own work is not timed.
      Tensor x_t = randn({batch, c.in_channels, c.resolution, c.resolution}, TensorOptions(DType::Float32, dev), &gen);
      Tensor t = randint(0, 1000, {batch}, TensorOptions(DType::Int64, dev), &gen);
      const double ms = bench::median_ms(dev, [&] { model.forward(x_t, t); }, evals, /*warmups=*/2);
      std::printf("%s\t%lld\t%.3f\n", preset.c_str(), static_cast<long long>(batch), ms);
      std::fflush(stdout);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ddpm::bench::run_main("bench_sample", run, argc, argv); }
