// The one timing loop of the C++ benchmarks: warm-up runs (they fill the caching allocator), then the
// median wall time of `reps` runs, each waiting for the device before the clock is read; and their main().
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <vector>

#include "tensor/backend.hpp"

namespace ddpm::bench {

inline double median_ms(Device dev, const std::function<void()>& fn, int reps, int warmups = 1) {
  for (int i = 0; i < warmups; ++i) fn();
  backend(dev).synchronize();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    backend(dev).synchronize();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// A benchmark's main(): run(argc, argv), any error (a bad device, preset or file, no GPU) as one line
// "<name>: error: <message>" and exit code 1.
inline int run_main(const char* name, int (*run)(int, char**), int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace ddpm::bench
