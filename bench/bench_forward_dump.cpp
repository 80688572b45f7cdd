// Runs one U-Net forward of a model.safetensors (written by tools/train) on a fixed input and writes
// the input and our output as NumPy files, so that bench/check_safetensors.py can load the same file
// into PyTorch (bench/unet_torch.py) with a reader we did not write and compare the two networks.
// Writes OUTDIR/x.npy (x_t, float32 [B, C, R, R] ~ N(0, I) from Philox with --seed), OUTDIR/t.npy
// (the timesteps as float32 [B], spread evenly over 0 .. T-1) and OUTDIR/out.npy (float32 [B, C, R, R]).
// Usage: bench_forward_dump CHECKPOINT OUTDIR [cpu|cuda = cpu] [batch = 4] [seed = 0]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "bench_timing.hpp"
#include "diffusion/checkpoint.hpp"
#include "diffusion/image_io.hpp"
#include "tensor/backend.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace ddpm;

namespace {

int run(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_forward_dump CHECKPOINT OUTDIR [cpu|cuda = cpu] [batch = 4] [seed = 0]\n");
    return 1;
  }
  const std::string checkpoint_path = argv[1];
  const std::filesystem::path out_dir = argv[2];
  const Device dev = Device::parse(argc > 3 ? argv[3] : "cpu");
  const int64_t batch = argc > 4 ? std::atoll(argv[4]) : 4;
  const uint64_t seed = argc > 5 ? std::strtoull(argv[5], nullptr, 10) : 0;
  if (batch < 1) throw std::invalid_argument("batch is " + std::to_string(batch) + ", expected >= 1");

  ModelCheckpoint ckpt = load_model_checkpoint(checkpoint_path);
  std::shared_ptr<UNet> model = make_unet(ckpt, dev);  // eval mode, weights loaded
  const UNetConfig& m = ckpt.unet;
  const int64_t T = ckpt.diffusion.T;

  Generator gen(seed);
  // x_t: [B, C, R, R], drawn on the CPU (the same numbers as on the GPU)
  Tensor x = randn({batch, m.in_channels, m.resolution, m.resolution}, {}, &gen);
  // t: [B], 0 .. T-1 evenly spread, both ends included
  std::vector<int64_t> steps;
  for (int64_t i = 0; i < batch; ++i) steps.push_back(batch == 1 ? T / 2 : (i * (T - 1) + (batch - 1) / 2) / (batch - 1));
  Tensor t = Tensor::from_vector(steps, {batch});

  Tensor out;
  {
    NoGradGuard no_grad;
    out = model->forward(x.to(dev), t.to(dev)).to(Device::cpu());
  }
  backend(dev).synchronize();

  std::filesystem::create_directories(out_dir);
  save_npy((out_dir / "x.npy").string(), x);
  save_npy((out_dir / "t.npy").string(), t.to(DType::Float32));
  save_npy((out_dir / "out.npy").string(), out);
  const double max_abs = ops::max(ops::abs(out)).item<double>();
  std::printf("bench_forward_dump: %s (%s U-Net, step %s) on %s: x %s, t [", checkpoint_path.c_str(),
              ckpt.metadata.count("preset") ? ckpt.metadata.at("preset").c_str() : "?",
              ckpt.metadata.count("step") ? ckpt.metadata.at("step").c_str() : "?", dev.str().c_str(),
              shape_str(x.shape()).c_str());
  for (size_t i = 0; i < steps.size(); ++i) std::printf("%s%lld", i ? ", " : "", static_cast<long long>(steps[i]));
  std::printf("], max |out| %.6g; wrote x.npy, t.npy, out.npy to %s\n", max_abs, out_dir.string().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ddpm::bench::run_main("bench_forward_dump", run, argc, argv); }
