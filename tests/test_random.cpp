// Random tensors: Philox 4x32-10 against the Random123 known answers, the documented mapping from
// (seed, offset, element) to values, reproducibility, generator state, and the distributions'
// moments within sampling error (fixed seeds, bounds at about 5 standard errors).
#include <cmath>
#include <cstdint>
#include <map>

#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

// An independent Philox 4x32-10 (Salmon et al. 2011), to check the library's against.
struct Words {
  uint32_t w[4];
};
Words ref_philox(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(0xD2511F53u) * c0, p1 = uint64_t(0xCD9E8D57u) * c2;
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0), hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Words{{c0, c1, c2, c3}};
}

// Element i of a random tensor as philox.hpp documents it: block offset + i/4, lane i%4, counter
// (block lo, block hi, 0, 0), key (seed lo, seed hi).
uint32_t ref_word(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t block = offset + i / 4;
  return ref_philox(uint32_t(block), uint32_t(block >> 32), 0, 0, uint32_t(seed), uint32_t(seed >> 32)).w[i % 4];
}
double ref_uniform(uint64_t seed, uint64_t offset, uint64_t i, double lo, double hi) {
  return lo + (hi - lo) * (double(ref_word(seed, offset, i) >> 8) / 16777216.0);
}
double ref_normal(uint64_t seed, uint64_t offset, uint64_t i, double mean, double std) {
  uint64_t pair = i & ~uint64_t(1);
  double u1 = (double(ref_word(seed, offset, pair) >> 8) + 1.0) / 16777216.0;
  double u2 = double(ref_word(seed, offset, pair + 1) >> 8) / 16777216.0;
  double r = std::sqrt(-2.0 * std::log(u1)), th = 6.283185307179586 * u2;
  return mean + std * ((i & 1) ? r * std::sin(th) : r * std::cos(th));
}

struct Moments {
  double mean = 0, var = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= double(v.size());
  for (double x : v) m.var += (x - m.mean) * (x - m.mean);
  m.var /= double(v.size() - 1);
  return m;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("philox4x32_10 matches the Random123 known-answer vectors") {
  struct Kat {
    uint32_t c[4], k[2], out[4];
  };
  const Kat kats[] = {
      {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}},
      {{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu},
       {0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}},
      {{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, {0xa4093822u, 0x299f31d0u},
       {0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}},
  };
  for (const Kat& k : kats) {
    Philox4x32 lib = philox4x32_10(k.c[0], k.c[1], k.c[2], k.c[3], k.k[0], k.k[1]);
    Words ref = ref_philox(k.c[0], k.c[1], k.c[2], k.c[3], k.k[0], k.k[1]);
    for (int j = 0; j < 4; ++j) {
      CHECK(lib.v[j] == k.out[j]);
      CHECK(ref.w[j] == k.out[j]);
    }
  }
  CHECK(philox_blocks_for(0) == 0);
  CHECK(philox_blocks_for(1) == 1);
  CHECK(philox_blocks_for(4) == 1);
  CHECK(philox_blocks_for(5) == 2);
}

TEST_CASE("rand randn bernoulli and randint produce the documented philox values") {
  const uint64_t seed = 0x123456789abcdefull;
  Generator g(seed);
  Tensor u = rand({3, 7}, DType::Float64, &g, -2.0, 3.0);
  CHECK(g.offset() == philox_blocks_for(21));
  std::vector<double> uv = u.to_vector<double>();
  for (uint64_t i = 0; i < 21; ++i) CHECK(uv[i] == ref_uniform(seed, 0, i, -2.0, 3.0));

  Tensor uf = rand({33}, DType::Float32, &g);  // starts at offset 6
  std::vector<double> ufv = uf.to_vector<double>();
  for (uint64_t i = 0; i < 33; ++i) CHECK(ufv[i] == double(float(ref_uniform(seed, 6, i, 0.0, 1.0))));
  CHECK(g.offset() == 6 + 9);

  Tensor n = randn({2, 5}, DType::Float64, &g, 1.5, 0.5);  // offset 15
  std::vector<double> nv = n.to_vector<double>();
  for (uint64_t i = 0; i < 10; ++i) CHECK(nv[i] == doctest::Approx(ref_normal(seed, 15, i, 1.5, 0.5)).epsilon(1e-14));
  Tensor nf = randn({7}, DType::Float32, &g);  // offset 18
  std::vector<double> nfv = nf.to_vector<double>();
  for (uint64_t i = 0; i < 7; ++i)
    CHECK(nfv[i] == doctest::Approx(double(float(ref_normal(seed, 18, i, 0.0, 1.0)))).epsilon(1e-7));

  Tensor b = bernoulli({9}, 0.3, DType::Float32, &g);  // offset 20
  std::vector<double> bv = b.to_vector<double>();
  for (uint64_t i = 0; i < 9; ++i) CHECK(bv[i] == (ref_uniform(seed, 20, i, 0.0, 1.0) < 0.3 ? 1.0 : 0.0));

  Tensor r = randint(-3, 5, {11}, DType::Int64, &g);  // offset 23
  CHECK(r.dtype() == DType::Int64);
  std::vector<int64_t> rv = r.to_vector<int64_t>();
  for (uint64_t i = 0; i < 11; ++i) CHECK(rv[i] == -3 + int64_t(ref_word(seed, 23, i) % 8));
  CHECK(g.offset() == 23 + 3);
}

TEST_CASE("rand over a range whose product is inexact rounds the product and the sum apart - never fused") {
  // u lo + (hi - lo) u: with hi - lo = 0.6 (inexact) the product has more bits than a double holds,
  // so a fused multiply-add (one rounding) and a multiply then an add (two) differ on many elements.
  // The GPU computes the same expression (tensor/philox.hpp) and must match the CPU bit for bit, so
  // neither compiler may contract it: the build turns contraction off on both sides.
  const uint64_t seed = 77;
  const double lo = 0.1, hi = 0.7;
  Generator g(seed);
  std::vector<double> got = rand({4096}, DType::Float64, &g, lo, hi).to_vector<double>();
  int fused_differs = 0;
  for (uint64_t i = 0; i < got.size(); ++i) {
    const double u = double(ref_word(seed, 0, i) >> 8) / 16777216.0;
    volatile double product = (hi - lo) * u;  // volatile: rounded here, whatever this file's flags
    const double separate = lo + product;
    const double fused = std::fma(hi - lo, u, lo);
    if (fused != separate) ++fused_differs;
    CHECK_MESSAGE(got[i] == separate, "element ", i, ": got ", got[i], ", two roundings give ", separate,
                  ", one fused rounding ", fused);
  }
  CHECK(fused_differs > 100);  // the case really tells the two apart
}

TEST_CASE("the same seed gives the same numbers and a fresh generator starts at offset 0") {
  Generator a(42), b(42), c(43);
  CHECK(a.seed() == 42);
  CHECK(a.offset() == 0);
  for (DType d : {DType::Float32, DType::Float64}) {
    Tensor x = randn({5, 33}, d, &a), y = randn({5, 33}, d, &b), z = randn({5, 33}, d, &c);
    CHECK(x.to_vector<double>() == y.to_vector<double>());
    CHECK(x.to_vector<double>() != z.to_vector<double>());
  }
  CHECK(rand({7}, {}, &a).to_vector<double>() == rand({7}, {}, &b).to_vector<double>());
  a.manual_seed(42);
  CHECK(a.offset() == 0);
  Generator fresh(42);
  CHECK(rand({9}, {}, &a).to_vector<double>() == rand({9}, {}, &fresh).to_vector<double>());
}

TEST_CASE("successive draws use new offsets and differ") {
  Generator g(7);
  Tensor x = rand({8}, DType::Float64, &g);
  CHECK(g.offset() == 2);
  Tensor y = rand({8}, DType::Float64, &g);
  CHECK(g.offset() == 4);
  std::vector<double> xv = x.to_vector<double>(), yv = y.to_vector<double>();
  int same = 0;
  for (size_t i = 0; i < 8; ++i) same += xv[i] == yv[i];
  CHECK(same == 0);
  // two draws of 8 are one draw of 16 split in two (counter-based, whole blocks)
  Generator h(7);
  std::vector<double> zv = rand({16}, DType::Float64, &h).to_vector<double>();
  for (size_t i = 0; i < 8; ++i) {
    CHECK(zv[i] == xv[i]);
    CHECK(zv[8 + i] == yv[i]);
  }
  // a partial block is never reused: 5 samples take 2 blocks
  Generator k(7);
  (void)rand({5}, DType::Float64, &k);
  CHECK(k.offset() == 2);
  CHECK(rand({8}, DType::Float64, &k).to_vector<double>() == yv);
  // advance reserves blocks and returns the start
  Generator m(1);
  CHECK(m.advance(9) == 0);
  CHECK(m.offset() == 3);
  CHECK(m.advance(1) == 3);
  CHECK(m.offset() == 4);
}

TEST_CASE("saving and restoring generator state resumes the stream exactly") {
  Generator g(2024);
  (void)randn({13}, {}, &g);
  Generator::State s = g.state();
  CHECK(s.seed == 2024);
  CHECK(s.offset == g.offset());
  std::vector<double> a = randn({3, 7}, DType::Float64, &g).to_vector<double>();
  std::vector<double> a2 = rand({5}, DType::Float32, &g).to_vector<double>();
  g.set_state(s);
  CHECK(randn({3, 7}, DType::Float64, &g).to_vector<double>() == a);
  CHECK(rand({5}, DType::Float32, &g).to_vector<double>() == a2);
  // into a different generator too
  Generator other(1);
  other.set_state(s);
  CHECK(other.seed() == 2024);
  CHECK(randn({3, 7}, DType::Float64, &other).to_vector<double>() == a);
}

TEST_CASE("the default generator follows manual_seed") {
  manual_seed(99);
  CHECK(default_generator().seed() == 99);
  CHECK(default_generator().offset() == 0);
  std::vector<double> a = rand({10}).to_vector<double>();
  std::vector<double> b = rand({10}).to_vector<double>();
  CHECK(a != b);
  manual_seed(99);
  CHECK(rand({10}).to_vector<double>() == a);
  CHECK(rand({10}).to_vector<double>() == b);
  Generator g(99);
  CHECK(rand({10}, {}, &g).to_vector<double>() == a);
}

TEST_CASE("uniform samples lie in the range with the right mean and variance") {
  const int n = 200000;
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    Generator g(11);
    Tensor x = rand({n}, d, &g, -1.0, 3.0);
    CHECK(x.dtype() == d);
    std::vector<double> v = x.to_vector<double>();
    double lo = 1e9, hi = -1e9;
    for (double e : v) {
      lo = std::min(lo, e);
      hi = std::max(hi, e);
    }
    CHECK(lo >= -1.0);
    CHECK(hi < 3.0);
    CHECK(lo < -0.99);
    CHECK(hi > 2.99);
    Moments m = moments(v);
    // U(-1, 3): mean 1, variance 16/12; standard error of the mean sqrt(4/3/n) ~ 0.0026
    CHECK(std::fabs(m.mean - 1.0) < 5 * std::sqrt(16.0 / 12.0 / n));
    // the variance's standard error: sqrt((mu4 - sigma^4) / n), mu4 = (b-a)^4/80
    CHECK(std::fabs(m.var - 16.0 / 12.0) < 5 * std::sqrt((256.0 / 80 - (16.0 / 12) * (16.0 / 12)) / n));
    // each quarter of the range gets a quarter of the samples
    int counts[4] = {0, 0, 0, 0};
    for (double e : v) counts[std::min(3, int(e + 1.0))]++;
    for (int c : counts) CHECK(std::fabs(c / double(n) - 0.25) < 5 * std::sqrt(0.25 * 0.75 / n));
  }
}

TEST_CASE("normal samples have the right mean variance and tails") {
  const int n = 200000;
  for (DType d : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(d));
    Generator g(12345);
    std::vector<double> v = randn({n}, d, &g, 2.0, 3.0).to_vector<double>();
    Moments m = moments(v);
    CHECK(std::fabs(m.mean - 2.0) < 5 * 3.0 / std::sqrt(double(n)));
    CHECK(std::fabs(m.var - 9.0) < 5 * 9.0 * std::sqrt(2.0 / n));
    // tail fractions: P(|z| > 1) = 0.3173, P(|z| > 2) = 0.0455, P(|z| > 3) = 0.0027
    const double bounds[3] = {1, 2, 3}, probs[3] = {0.31731050786291415, 0.04550026389635842, 0.0026997960632601866};
    for (int t = 0; t < 3; ++t) {
      int count = 0;
      for (double e : v) count += std::fabs((e - 2.0) / 3.0) > bounds[t];
      double p = probs[t];
      CAPTURE(bounds[t]);
      CHECK(std::fabs(count / double(n) - p) < 5 * std::sqrt(p * (1 - p) / n));
    }
    // symmetric: as many above the mean as below
    int above = 0;
    for (double e : v) above += e > 2.0;
    CHECK(std::fabs(above / double(n) - 0.5) < 5 * std::sqrt(0.25 / n));
    // even and odd lanes (cos and sin halves of Box-Muller) are each standard normal
    for (int lane = 0; lane < 2; ++lane) {
      std::vector<double> half;
      for (size_t i = size_t(lane); i < v.size(); i += 2) half.push_back(v[i]);
      Moments h = moments(half);
      CHECK(std::fabs(h.mean - 2.0) < 5 * 3.0 / std::sqrt(double(half.size())));
      CHECK(std::fabs(h.var - 9.0) < 5 * 9.0 * std::sqrt(2.0 / half.size()));
    }
  }
}

TEST_CASE("bernoulli gives zeros and ones at rate p") {
  const int n = 100000;
  for (double p : {0.0, 0.1, 0.5, 0.9, 1.0}) {
    for (DType d : {DType::Float32, DType::Float64}) {
      CAPTURE(p);
      CAPTURE(dtype_name(d));
      Generator g(5);
      Tensor b = bernoulli({n}, p, d, &g);
      CHECK(b.dtype() == d);
      std::vector<double> v = b.to_vector<double>();
      int ones = 0, others = 0;
      for (double e : v) {
        ones += e == 1.0;
        others += e != 0.0 && e != 1.0;
      }
      CHECK(others == 0);
      CHECK(std::fabs(ones / double(n) - p) <= 5 * std::sqrt(p * (1 - p) / n));
    }
  }
}

TEST_CASE("randint stays in its range and hits every value about equally") {
  const int n = 80000;
  Generator g(77);
  Tensor r = randint(-3, 5, {n}, DType::Int64, &g);
  CHECK(r.dtype() == DType::Int64);
  std::vector<int64_t> v = r.to_vector<int64_t>();
  std::map<int64_t, int> counts;
  for (int64_t e : v) counts[e]++;
  CHECK(counts.size() == 8);
  CHECK(counts.begin()->first == -3);
  CHECK(counts.rbegin()->first == 4);
  for (const auto& kv : counts) CHECK(std::fabs(kv.second / double(n) - 0.125) < 5 * std::sqrt(0.125 * 0.875 / n));
  Tensor r32 = randint(0, 2, {1000}, DType::Int32, &g);
  CHECK(r32.dtype() == DType::Int32);
  for (int32_t e : r32.to_vector<int32_t>()) CHECK((e == 0 || e == 1));
  Tensor rf = randint(10, 13, {1000}, DType::Float32, &g);  // integer values in a float dtype
  for (double e : rf.to_vector<double>()) CHECK((e == 10 || e == 11 || e == 12));
}

TEST_CASE("random tensors can be made in shapes with odd sizes and as 0-dim") {
  Generator g(3);
  CHECK(rand({3, 1, 7}, {}, &g).shape() == Shape{3, 1, 7});
  CHECK(randn({}, {}, &g).dim() == 0);
  CHECK(randn({1}, {}, &g).numel() == 1);
  CHECK(rand({0, 4}, {}, &g).numel() == 0);
}

}  // TEST_SUITE("cpu")
