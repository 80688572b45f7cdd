// The CPU/GPU comparison the parity suites run (test_cuda_parity.cpp, test_backend_ops.cpp, ...).
#pragma once
#include <functional>

#include "test_util.hpp"

namespace ddpm::test {

// Runs f on the CPU and on `device`; the results must agree within atol + rtol |cpu| (NaN matches NaN).
inline void check_parity(const std::function<Tensor(Device)>& f, Device device, double atol, double rtol) {
  Tensor c = f(Device::cpu());
  Tensor g = f(device);
  CHECK(c.device().is_cpu());
  CHECK(g.device() == device);
  CHECK(g.dtype() == c.dtype());
  check_close(g, c, atol, rtol);
}
// The tolerances of one float32 or float64 rounding apart.
inline void check_parity(const std::function<Tensor(Device)>& f, Device device, DType d) {
  check_parity(f, device, d == DType::Float64 ? 1e-12 : 1e-6, d == DType::Float64 ? 1e-12 : 1e-5);
}

}  // namespace ddpm::test
