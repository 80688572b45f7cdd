// Random tensors on the GPU: element k is philox_sample(dist, seed, offset, k, a, b), the very
// function the CPU backend calls, so the same (seed, offset) gives the same tensor on both devices.
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernel_common.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// One kernel for every output dtype: the sample is a double, converted by a uniform switch in
// store_as. Templating on the dtype would compile the Philox rounds and the double-precision
// log/sin/cos of Box-Muller seven times over, for no speed gain.
__global__ void random_kernel(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b,
                              int64_t n) {
  DDPM_GRID_STRIDE_LOOP(k, n) {
    const double v = philox_sample(dist, seed, offset, uint64_t(k), a, b);
    store_as(out.data, out.dtype, out.layout.at(k), v);
  }
}

}  // namespace

void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b) {
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  // The CPU's `x % range` would trap on a zero range; the GPU would silently return garbage.
  DDPM_CHECK(dist != Distribution::RandInt || b > a, "randint: empty range [", a, ", ", b, ")");
  random_kernel<<<grid_for(n), kBlockThreads, 0, stream()>>>(dist, out, seed, offset, a, b, n);
  DDPM_CUDA_CHECK_LAUNCH();
}

}  // namespace ddpm::gpu
