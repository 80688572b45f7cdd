// The backend-ops harness (in the spirit of ggml's test-backend-ops): every kernel of
// tensor/kernel_table.hpp is run on the cases of tests/backend_op_cases.hpp, on the CPU against a
// naive reference and on CUDA against the CPU. Each kernel gets two test cases generated from the
// table itself ("<kernel>: the cpu kernel ...", "<kernel>: the cuda kernel ..."), so a kernel added to
// the table without a harness case fails here. The kernels' CPU/CUDA parity checks over many more
// shapes, dtypes and launch configurations, through the ops front end, are in
// test_backend_ops_parity.cpp.
// Inputs are multiples of 1/8 where possible, so sums and products are exact and the order a kernel
// adds in cannot matter. Without a GPU every CUDA case prints the skip marker.
//
// Checking the CUDA cases' logic without a GPU: compile this file with -DDDPM_PARITY_ON_CPU (for
// example cmake -S . -B build-cpu-check -DDDPM_CUDA=OFF -DCMAKE_CXX_FLAGS=-DDDPM_PARITY_ON_CPU). Then
// the "gpu" below is the CPU and DDPM_REQUIRE_CUDA_OR_SKIP() does nothing, so every case runs CPU
// against CPU: all must pass, and the error cases must throw. (That proves the cases, not the GPU.)
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <string_view>

#include "backend_op_cases.hpp"
#include "backend_ops_parity.hpp"
#include "tensor/kernel_table.hpp"

using namespace ddpm;
using namespace ddpm::test;
using backend_ops::BackendOpCase;
using backend_ops::Values;

namespace {

// ---- the case table, run in test mode -------------------------------------------------------------

const std::vector<BackendOpCase>& harness_cases() {
  static const std::vector<BackendOpCase> cases = backend_ops::backend_op_cases(false);
  return cases;
}

// Every element of got within atol + rtol |want| of want (NaN matches NaN; 0, 0: equal values).
void check_values_close(const Tensor& got, const Values& want, double atol, double rtol) {
  REQUIRE(size_t(got.numel()) == want.size());
  const Values x = got.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    const bool ok = x[i] == want[i] || (std::isnan(x[i]) && std::isnan(want[i])) ||
                    std::fabs(x[i] - want[i]) <= atol + rtol * std::fabs(want[i]);
    if (!ok) {
      FAIL_CHECK("element ", i, " of ", shape_str(got.shape()), ": ", x[i], " vs reference ", want[i], " (atol ",
                 atol, ", rtol ", rtol, ")");
      return;
    }
  }
}

// Runs every case of `kernel` on the CPU and checks it against its reference; returns the count.
size_t check_on_cpu(std::string_view kernel) {
  size_t n = 0;
  for (const BackendOpCase& c : harness_cases()) {
    if (c.kernel != kernel) continue;
    ++n;
    CAPTURE(c.label);
    const std::vector<Values> want = c.reference();
    const std::vector<Tensor> got = c.make(Device::cpu())();
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      CAPTURE(i);
      CHECK(got[i].device().is_cpu());
      check_values_close(got[i], want[i], c.atol, c.rtol);
    }
  }
  CHECK_MESSAGE(n > 0, "kernel ", std::string(kernel), " has no case in tests/backend_op_cases.hpp");
  return n;
}

// Runs every case of `kernel` on the CPU and on the GPU; the GPU must give the CPU's bits, or be
// within the case's parity tolerances.
void check_on_gpu(std::string_view kernel) {
  size_t n = 0;
  for (const BackendOpCase& c : harness_cases()) {
    if (c.kernel != kernel) continue;
    ++n;
    CAPTURE(c.label);
    const std::vector<Tensor> on_cpu = c.make(Device::cpu())();
    const std::vector<Tensor> on_gpu = c.make(gpu())();
    REQUIRE(on_gpu.size() == on_cpu.size());
    for (size_t i = 0; i < on_gpu.size(); ++i) {
      CAPTURE(i);
      CHECK(on_gpu[i].device() == gpu());
      if (c.parity_atol == 0 && c.parity_rtol == 0) check_same_bits(on_gpu[i], on_cpu[i]);
      else check_close(on_gpu[i], on_cpu[i], c.parity_atol, c.parity_rtol);
    }
  }
  CHECK_MESSAGE(n > 0, "kernel ", std::string(kernel), " has no case in tests/backend_op_cases.hpp");
}

}  // namespace

// Two test cases per kernel of the table.
#define DDPM_HARNESS_TESTS(name, params, args)                                                     \
  TEST_CASE(#name ": the cpu kernel matches its naive reference in every harness case" *        \
            doctest::test_suite("cpu")) {                                                       \
    check_on_cpu(#name);                                                                        \
  }                                                                                             \
  TEST_CASE(#name ": the cuda kernel matches the cpu in every harness case" * doctest::test_suite("cuda")) { \
    DDPM_REQUIRE_CUDA_OR_SKIP();                                                                \
    check_on_gpu(#name);                                                                        \
  }
DDPM_BACKEND_KERNELS(DDPM_HARNESS_TESTS)
#undef DDPM_HARNESS_TESTS

TEST_SUITE("cpu") {

TEST_CASE("every kernel of the table has a harness case and every case names a kernel of the table") {
  std::set<std::string> covered;
  for (const BackendOpCase& c : harness_cases()) {
    CAPTURE(c.kernel);
    CAPTURE(c.label);
    bool known = false;
    for (std::string_view name : kBackendKernelNames) known = known || name == c.kernel;
    CHECK_MESSAGE(known, "case '", c.label, "' names ", c.kernel, ", which is not in tensor/kernel_table.hpp");
    CHECK(static_cast<bool>(c.make));
    CHECK(static_cast<bool>(c.reference));
    CHECK(c.bytes > 0);
    covered.insert(c.kernel);
  }
  for (std::string_view name : kBackendKernelNames)
    CHECK_MESSAGE(covered.count(std::string(name)) == 1, "kernel ", std::string(name), " has no harness case");
  CHECK(covered.size() == kBackendKernelCount);
}

TEST_CASE("the backend kernel names are unique identifiers in the table's order") {
  std::set<std::string_view> seen;
  for (std::string_view name : kBackendKernelNames) {
    CHECK(seen.insert(name).second);
    CHECK(!name.empty());
    CHECK(name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_0123456789") == std::string_view::npos);
  }
  CHECK(kBackendKernelNames[0] == "copy");
  CHECK(kBackendKernelNames[kBackendKernelCount - 1] == "sum_of_squares");
}

}  // TEST_SUITE("cpu")
