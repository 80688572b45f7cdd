// Times the tensor ops a training step leans on (GEMM, broadcast elementwise, reductions, softmax,
// strided copies, RNG) on one device. Prints "name<TAB>milliseconds" per op, the median of several
// runs; bench/tensor_ops.sh runs it beside bench/tensor_ops_torch.py for the same shapes.
// Usage: bench_tensor [cpu|cuda]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

using namespace ddpm;

using bench::median_ms;

int main(int argc, char** argv) {
  Device dev = Device::parse(argc > 1 ? argv[1] : "cpu");
  const int reps = dev.is_cpu() ? 7 : 50;
  TensorOptions f32(DType::Float32, dev);
  Generator gen(0);
  auto report = [&](const char* name, const std::function<void()>& fn) {
    std::printf("%s\t%.3f\n", name, median_ms(dev, fn, reps));
    std::fflush(stdout);
  };

  Tensor a512 = randn({512, 512}, f32, &gen), b512 = randn({512, 512}, f32, &gen);
  report("matmul 512x512x512", [&] { ops::matmul(a512, b512); });
  report("matmul 512x512x512 (B transposed view)", [&] { ops::matmul(a512, ops::transpose(b512, 0, 1)); });
  Tensor q = randn({16, 256, 64}, f32, &gen), k = randn({16, 256, 64}, f32, &gen);
  report("batched matmul 16x[256x64 @ 64x256]", [&] { ops::matmul(q, ops::transpose(k, 1, 2)); });
  Tensor x = randn({64, 64, 32, 32}, f32, &gen), bias = randn({64, 1, 1}, f32, &gen);
  report("add broadcast [64,64,32,32]+[64,1,1]", [&] { ops::add(x, bias); });
  report("silu [64,64,32,32]", [&] { ops::silu(x); });
  report("mul scalar [64,64,32,32]", [&] { ops::mul(x, 0.5); });
  report("sum over (2,3) [64,64,32,32]", [&] { ops::sum(x, {2, 3}); });
  report("var over (2,3) [64,64,32,32]", [&] { ops::var(x, {2, 3}); });
  Tensor s = randn({4096, 1024}, f32, &gen);
  report("softmax rows [4096,1024]", [&] { ops::softmax(s, -1); });
  report("permute+contiguous NCHW->NHWC", [&] { ops::permute(x, {0, 2, 3, 1}).contiguous(); });
  report("cat 2x[64,64,32,32] dim 1", [&] { ops::cat({x, x}, 1); });
  report("randn 4M", [&] { randn({4 << 20}, f32, &gen); });
  return 0;
}
