// Perf mode of the backend-ops harness: times every perf-sized case of tests/backend_op_cases.hpp
// (the table tests/test_backend_ops.cpp checks) on one device, one backend call per run. Prints per
// kernel and shape "kernel<TAB>case<TAB>median ms<TAB>GB/s<TAB>GFLOP/s" (GB/s: the bytes the call
// reads and writes over its time; GFLOP/s only where flops are meaningful: gemm, col2im, else "-").
// Usage: bench_backend_ops [cpu|cuda[:N]] [kernel ...]   (no kernel names: all of them)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "bench_timing.hpp"
#include "tensor/kernel_table.hpp"
#include "tests/backend_op_cases.hpp"

using namespace ddpm;

namespace {

int run(int argc, char** argv) {
  const Device dev = Device::parse(argc > 1 ? argv[1] : "cpu");
  std::vector<std::string> only(argv + std::min(argc, 2), argv + argc);
  for (const std::string& k : only) {
    bool known = false;
    for (std::string_view name : kBackendKernelNames) known = known || name == k;
    if (!known) throw std::invalid_argument("unknown kernel '" + k + "' (tensor/kernel_table.hpp lists them)");
  }
  std::printf("kernel\tcase\tms\tGB/s\tGFLOP/s\n");
  for (const backend_ops::BackendOpCase& c : backend_ops::backend_op_cases(true, only)) {
    const backend_ops::KernelCall call = c.make(dev);
    // one timed run decides the repetitions: about half a second in all, 3 to 50 runs
    const double first = bench::median_ms(dev, [&] { call(); }, 1, 1);
    const int reps = std::clamp(int(500.0 / std::max(first, 1e-3)), 3, 50);
    const double ms = bench::median_ms(dev, [&] { call(); }, reps, 0);
    const double gbs = c.bytes / (ms * 1e-3) / 1e9;
    char flops[32] = "-";
    if (c.flops > 0) std::snprintf(flops, sizeof flops, "%.1f", c.flops / (ms * 1e-3) / 1e9);
    std::printf("%s\t%s\t%.4f\t%.1f\t%s\n", c.kernel.c_str(), c.label.c_str(), ms, gbs, flops);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return bench::run_main("bench_backend_ops", run, argc, argv); }
