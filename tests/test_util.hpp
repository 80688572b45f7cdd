// Helpers shared by the test suites: closeness checks and the CUDA skip.
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace ddpm::test {

// Every element of a and b (same shape, any device and dtype) within atol + rtol * |b|.
inline void check_close(const Tensor& a, const Tensor& b, double atol = 1e-6, double rtol = 1e-5) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), "shape ", shape_str(a.shape()), " vs ", shape_str(b.shape()));
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    bool ok = (std::isnan(x[i]) && std::isnan(y[i])) || x[i] == y[i] ||
              std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]);
    if (!ok) {
      FAIL_CHECK("element ", i, ": ", x[i], " vs ", y[i], " (atol ", atol, ", rtol ", rtol, ")");
      return;
    }
  }
}

inline void check_values(const Tensor& a, const std::vector<double>& expected, double atol = 1e-6) {
  REQUIRE(size_t(a.numel()) == expected.size());
  std::vector<double> x = a.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(std::fabs(x[i] - expected[i]) <= atol || (std::isnan(x[i]) && std::isnan(expected[i])))) {
      FAIL_CHECK("element ", i, ": ", x[i], " vs expected ", expected[i]);
      return;
    }
  }
}

// Runs `fn` and checks that it throws E with a message containing `needle`.
template <typename E = std::exception, typename F>
void check_throws_with(F&& fn, const std::string& needle) {
  try {
    fn();
  } catch (const E& e) {
    std::string msg = e.what();
    CHECK_MESSAGE(msg.find(needle) != std::string::npos, "message '", msg, "' lacks '", needle, "'");
    return;
  }
  FAIL_CHECK("expected an exception containing '", needle, "'");
}

}  // namespace ddpm::test

// First line of every CUDA test case: without a GPU it prints the skip marker (ctest reports the test
// as skipped through SKIP_REGULAR_EXPRESSION) and returns.
#define DDPM_REQUIRE_CUDA_OR_SKIP()                                       \
  do {                                                                   \
    if (!::ddpm::cuda_is_available()) {                                  \
      std::printf("SKIPPED: no CUDA device\n");                          \
      return;                                                            \
    }                                                                    \
  } while (0)
