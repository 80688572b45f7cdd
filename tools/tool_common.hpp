// What the command-line tools share: the device option, and running main so that any error ends as
// one line on stderr and exit code 1 (never a crash or an uncaught exception).
#pragma once
#include <cxxopts.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <string>

#include "tensor/device.hpp"

namespace ddpm::tools {

// "auto": the GPU when one is usable, else the CPU. "cuda" without a usable GPU is an error.
inline Device resolve_device(const std::string& name) {
  if (name == "auto") return cuda_is_available() ? Device::cuda(0) : Device::cpu();
  Device device = Device::parse(name);
  if (device.is_cuda() && device.index >= cuda_device_count())
    throw std::runtime_error("--device " + name + ": " +
                             (cuda_is_available() ? "there are only " + std::to_string(cuda_device_count()) + " GPUs"
                                                  : std::string("no usable CUDA GPU (none is visible, or this build "
                                                                "has no CUDA backend)")) +
                             "; use --device cpu or auto");
  return device;
}

// Runs body(argc, argv) and turns every exception into "<tool>: error: <message>" and exit code 1.
inline int run_tool(const char* tool, int argc, char** argv, const std::function<int(int, char**)>& body) {
  try {
    return body(argc, argv);
  } catch (const cxxopts::exceptions::exception& e) {
    std::fprintf(stderr, "%s: error: %s (see %s --help)\n", tool, e.what(), tool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
  }
  return 1;
}

// A required option's value, with a clear message when it is missing.
template <typename T>
T required(const cxxopts::ParseResult& args, const std::string& name) {
  if (!args.count(name)) throw std::invalid_argument("--" + name + " is required");
  return args[name].as<T>();
}

}  // namespace ddpm::tools
