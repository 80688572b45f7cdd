// Random tensors from a counter-based Philox 4x32-10 generator: the same (seed, offset) gives the
// same numbers on the CPU and the GPU, and saving (seed, offset) is enough to resume a stream.
#pragma once
#include <cstdint>

#include "tensor/tensor.hpp"

namespace ddpm {

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : seed_(seed) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }  // Philox blocks used so far
  void manual_seed(uint64_t seed) { seed_ = seed; offset_ = 0; }
  struct State { uint64_t seed = 0, offset = 0; };
  State state() const { return {seed_, offset_}; }
  void set_state(State s) { seed_ = s.seed; offset_ = s.offset; }
  // Reserves the blocks for n samples and returns the offset they start at.
  uint64_t advance(uint64_t n);

 private:
  uint64_t seed_ = 0, offset_ = 0;
};

// The process-wide generator used when none is passed (seed 0 until manual_seed).
Generator& default_generator();
void manual_seed(uint64_t seed);

// Uniform in [low, high).
Tensor rand(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr, double low = 0.0, double high = 1.0);
// Normal with the given mean and std.
Tensor randn(const Shape& shape, TensorOptions opts = {}, Generator* gen = nullptr, double mean = 0.0, double std = 1.0);
// Integers in [low, high); dtype int64 unless opts say otherwise.
Tensor randint(int64_t low, int64_t high, const Shape& shape, TensorOptions opts = DType::Int64, Generator* gen = nullptr);
// 1 with probability p, else 0, in opts' dtype.
Tensor bernoulli(const Shape& shape, double p, TensorOptions opts = {}, Generator* gen = nullptr);

}  // namespace ddpm
