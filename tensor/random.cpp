// Random tensors: each call reserves a range of Philox counters from the generator, and the
// backend fills element k with philox_sample(seed, offset, k), the same on every device.
#include "tensor/random.hpp"

#include "tensor/macros.hpp"
#include "tensor/philox.hpp"

namespace ddpm {

uint64_t Generator::advance(uint64_t n) {
  uint64_t start = offset_;
  offset_ += philox_blocks_for(n);
  return start;
}

Generator& default_generator() {
  static Generator gen(0);
  return gen;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

static Tensor random_tensor(const Shape& shape, TensorOptions opts, Generator* gen, Distribution dist,
                            double a, double b) {
  Generator& g = gen ? *gen : default_generator();
  Tensor out = Tensor::empty(shape, opts);
  uint64_t offset = g.advance(uint64_t(out.numel()));
  backend(out.device()).random(dist, out.ref(), g.seed(), offset, a, b);
  return out;
}

Tensor rand(const Shape& shape, TensorOptions opts, Generator* gen, double low, double high) {
  DDPM_CHECK(low <= high, "rand: low ", low, " must be <= high ", high);
  DDPM_CHECK(is_floating(opts.dtype), "rand: dtype ", dtype_name(opts.dtype), " is not a floating dtype");
  return random_tensor(shape, opts, gen, Distribution::Uniform, low, high);
}

Tensor randn(const Shape& shape, TensorOptions opts, Generator* gen, double mean, double std) {
  DDPM_CHECK(std >= 0, "randn: std must be >= 0, got ", std);
  DDPM_CHECK(is_floating(opts.dtype), "randn: dtype ", dtype_name(opts.dtype), " is not a floating dtype");
  return random_tensor(shape, opts, gen, Distribution::Normal, mean, std);
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts, Generator* gen) {
  DDPM_CHECK(low < high, "randint: low ", low, " must be < high ", high);
  DDPM_CHECK(high - low <= (int64_t(1) << 32), "randint: range ", high - low, " is larger than 2^32");
  return random_tensor(shape, opts, gen, Distribution::RandInt, double(low), double(high));
}

Tensor bernoulli(const Shape& shape, double p, TensorOptions opts, Generator* gen) {
  DDPM_CHECK(p >= 0 && p <= 1, "bernoulli: p must be in [0, 1], got ", p);
  return random_tensor(shape, opts, gen, Distribution::Bernoulli, p, 0.0);
}

}  // namespace ddpm
