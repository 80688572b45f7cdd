// Random tensors: element k is philox_sample(dist, seed, offset, k, a, b), a pure function of k, so
// the CPU and the GPU fill the same tensor with the same numbers and threads split it freely.
#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {

void random(Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b) {
  DDPM_CHECK(out.layout.contiguous, "random: the output must be contiguous");
  DDPM_CHECK(dist != Distribution::RandInt || b > a, "randint: empty range [", a, ", ", b, ")");
  DDPM_DISPATCH_ALL(out.dtype, "random", {
    scalar_t* p = static_cast<scalar_t*>(out.data) + out.layout.offset;
    // A sample costs a Philox block (ten rounds): worth threads well below the usual grain.
    parallel_for(out.layout.numel(), kParallelGrain / 8, [=](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k)
        p[k] = convert<scalar_t>(philox_sample(dist, seed, offset, uint64_t(k), a, b));
    });
  });
}

}  // namespace ddpm::cpu
