// Philox 4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"): a counter-based
// generator, so element i of a random tensor is a pure function of (seed, offset, i) on any device.
#pragma once
#include <cmath>
#include <cstdint>

#include "tensor/macros.hpp"

namespace ddpm {

struct Philox4x32 {
  uint32_t v[4];
};

DDPM_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// Ten rounds over the 128-bit counter (c0..c3) with the 64-bit key (k0, k1).
DDPM_HD Philox4x32 philox4x32_10(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(M0, c0, hi0, lo0);
    philox_mulhilo(M1, c2, hi1, lo1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += W0;
    k1 += W1;
  }
  return Philox4x32{{c0, c1, c2, c3}};
}

// The 4 words for block `counter` (the generator's offset plus the element index / 4).
DDPM_HD Philox4x32 philox_block(uint64_t seed, uint64_t counter) {
  return philox4x32_10(uint32_t(counter), uint32_t(counter >> 32), 0u, 0u, uint32_t(seed), uint32_t(seed >> 32));
}

// A uniform float in (0, 1]: 24 random bits, never 0 so that log() in Box-Muller is finite.
DDPM_HD float philox_uniform01(uint32_t x) { return float((x >> 8) + 1u) * (1.0f / 16777216.0f); }
// A uniform double in (0, 1] from two words (53 bits).
DDPM_HD double philox_uniform01_double(uint32_t hi, uint32_t lo) {
  uint64_t bits = ((uint64_t(hi) << 32) | lo) >> 11;
  return double(bits + 1) * (1.0 / 9007199254740992.0);
}

enum class Distribution { Uniform, Normal, Bernoulli, RandInt };

// Element i of a random tensor (float32 compute path): uniform in [a, b), normal with mean a and std
// b (Box-Muller on the pair of words (2j, 2j+1) of the block, j = lane / 2), bernoulli(p = a) as 0/1,
// or an integer in [a, b). Computed in double so the CPU and GPU agree to the last bit.
DDPM_HD double philox_sample(Distribution dist, uint64_t seed, uint64_t offset, uint64_t i, double a, double b) {
  Philox4x32 r = philox_block(seed, offset + i / 4);
  uint32_t lane = uint32_t(i % 4);
  switch (dist) {
    case Distribution::Uniform: {
      double u = double(r.v[lane] >> 8) * (1.0 / 16777216.0);  // [0, 1)
      return a + (b - a) * u;
    }
    case Distribution::Normal: {
      uint32_t pair = lane & ~1u;
      double u1 = double((r.v[pair] >> 8) + 1u) * (1.0 / 16777216.0);  // (0, 1]
      double u2 = double(r.v[pair + 1] >> 8) * (1.0 / 16777216.0);
      double radius = sqrt(-2.0 * log(u1));
      double theta = 6.283185307179586 * u2;
      double z = (lane & 1u) ? radius * sin(theta) : radius * cos(theta);
      return a + b * z;
    }
    case Distribution::Bernoulli: {
      double u = double(r.v[lane] >> 8) * (1.0 / 16777216.0);
      return u < a ? 1.0 : 0.0;
    }
    case Distribution::RandInt: {
      uint64_t range = uint64_t(b - a);
      return a + double(r.v[lane] % range);  // range < 2^32, bias below 2^-32 * range: fine for us
    }
  }
  return 0.0;
}

// How many blocks (counter steps) n samples use; the generator's offset advances by this.
DDPM_HD uint64_t philox_blocks_for(uint64_t n) { return (n + 3) / 4; }

}  // namespace ddpm
