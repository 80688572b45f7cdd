// What the backend kernels' CPU/CUDA checks share (test_backend_ops.cpp, test_backend_ops_parity.cpp):
// the device the "gpu" side runs on, shapes and layouts, and comparisons to the bit or within a tolerance.
// With -DDDPM_PARITY_ON_CPU the "gpu" is the CPU and DDPM_REQUIRE_CUDA_OR_SKIP() does nothing, so
// every CUDA case runs CPU against CPU (a check of the cases' logic, not of a GPU).
#pragma once
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <vector>

#include "cuda_parity.hpp"

#ifdef DDPM_PARITY_ON_CPU
#undef DDPM_REQUIRE_CUDA_OR_SKIP
#define DDPM_REQUIRE_CUDA_OR_SKIP() (void)0
#endif

namespace ddpm::test {
#ifdef DDPM_PARITY_ON_CPU
inline Device gpu() { return Device::cpu(); }
#else
inline Device gpu() { return Device::cuda(0); }
#endif

inline const Arrange kArranges[] = {Arrange::Contiguous, Arrange::Transposed, Arrange::Strided};
inline const std::vector<Shape> kShapes = {{1}, {3, 7}, {2, 3, 33}, {5, 1, 4099}};

inline TensorOptions on(DType d, Device dev) { return TensorOptions(d, dev); }

// True when a and b have the same dtype, shape and bytes, element by element; else a failed check
// naming the first element that differs.
inline bool check_same_bits(const Tensor& a, const Tensor& b) {
  CHECK(a.dtype() == b.dtype());
  CHECK_MESSAGE(a.shape() == b.shape(), "shape ", shape_str(a.shape()), " vs ", shape_str(b.shape()));
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return false;
  const Tensor ha = a.cpu().contiguous(), hb = b.cpu().contiguous();
  const size_t es = ha.element_size();
  const auto* pa = static_cast<const unsigned char*>(ha.raw_data());
  const auto* pb = static_cast<const unsigned char*>(hb.raw_data());
  for (int64_t k = 0; k < ha.numel(); ++k) {
    if (std::memcmp(pa + size_t(k) * es, pb + size_t(k) * es, es) != 0) {
      auto at = [k](const Tensor& t) { return ops::select(ops::reshape(t, {t.numel()}), 0, k).item(); };
      FAIL_CHECK("element ", k, " of ", dtype_name(a.dtype()), shape_str(a.shape()), ": ", at(ha), " vs ", at(hb),
                 " (bits differ)");
      return false;
    }
  }
  return true;
}

// Runs f on the CPU and on the GPU; the results must be bit for bit the same.
inline void parity_bits(const std::function<Tensor(Device)>& f) {
  Tensor c = f(Device::cpu());
  Tensor g = f(gpu());
  CHECK(c.device().is_cpu());
  CHECK(g.device() == gpu());
  check_same_bits(g, c);
}
inline void parity_close(const std::function<Tensor(Device)>& f, double atol, double rtol) {
  check_parity(f, gpu(), atol, rtol);
}
inline void parity_close(const std::function<Tensor(Device)>& f, DType d) { check_parity(f, gpu(), d); }

// n integers in [-lim, lim] in a scrambled order, times `scale`: a row of a few dozen has repeats, so
// argmax/argmin meet ties and comparisons meet equal pairs.
inline std::vector<double> int_values(size_t n, int64_t lim, unsigned salt = 0, double scale = 1.0) {
  std::vector<double> v(n);
  const uint64_t span = uint64_t(2 * lim + 1);
  for (size_t i = 0; i < n; ++i) v[i] = double(int64_t((i * 7919 + salt * 104729 + 3) % span) - lim) * scale;
  return v;
}

// Values of dtype d for the ops that only move elements: integers (beyond int32 for int64), dyadic
// numbers and special values (-0, +-inf, float16's largest and smallest, a bfloat16 subnormal) for
// the halves, and a 0/1 pattern for bool.
inline std::vector<double> moving_values(DType d, size_t n, unsigned salt) {
  if (d == DType::Bool) {
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = (i * 5 + salt) % 3 == 0 ? 0.0 : 1.0;
    return v;
  }
  if (d == DType::Int32) return int_values(n, 1 << 30, salt);
  if (d == DType::Int64) return int_values(n, 1000, salt, double(int64_t(1) << 40));
  std::vector<double> v = dyadic_values(n, salt);
  const double inf = std::numeric_limits<double>::infinity();
  const double specials[] = {-0.0, inf, -inf, 65504, std::ldexp(1.0, -24), std::ldexp(1.0, -130)};
  for (size_t i = 0; i < n; i += 5) v[i] = specials[(i / 5 + salt) % 6];
  return v;
}

inline void parity(const std::function<Tensor(Device)>& f, double atol, double rtol) { check_parity(f, gpu(), atol, rtol); }
inline void parity(const std::function<Tensor(Device)>& f, DType d) { check_parity(f, gpu(), d); }

}  // namespace ddpm::test
