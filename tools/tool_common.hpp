// What the command-line tools share: the device option, and running main so that any error ends as
// one line on stderr and exit code 1 (never a crash or an uncaught exception).
#pragma once
#include <cxxopts.hpp>

#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tensor/device.hpp"

namespace ddpm::tools {

// "auto": the GPU when one is usable, else the CPU (with a warning on stderr where CUDA is installed
// but failed to start: that is a fault to fix, not a machine without a GPU). "cuda" or "cuda:N"
// without that GPU is an error that says why.
inline Device resolve_device(const std::string& name) {
  if (name == "auto") {
    if (cuda_is_available()) return Device::cuda(0);
    if (cuda_failed_to_start())
      std::fprintf(stderr, "warning: --device auto: %s; using the CPU\n", cuda_unavailable_reason().c_str());
    return Device::cpu();
  }
  Device device = Device::parse(name);
  if (device.is_cuda() && device.index >= cuda_device_count())
    throw std::runtime_error("--device " + name + ": " +
                             (cuda_is_available() ? "there are only " + std::to_string(cuda_device_count()) +
                                                        " GPUs (cuda:0 to cuda:" +
                                                        std::to_string(cuda_device_count() - 1) + ")"
                                                  : cuda_unavailable_reason()) +
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

// Parses argv for sample and eval, whose options include "n,num" and "h,help": accepts --n and --n=K
// (cxxopts takes one-letter names as short options only, -n), refuses stray arguments, and prints the
// help and returns nothing when it is asked for.
inline std::optional<cxxopts::ParseResult> parse_args(cxxopts::Options& options, int argc, char** argv) {
  std::vector<std::string> words(argv, argv + argc);
  std::vector<char*> fixed;
  for (std::string& w : words) {
    if (w == "--n") w = "-n";
    else if (w.rfind("--n=", 0) == 0) w = "--num=" + w.substr(4);
    fixed.push_back(w.data());
  }
  cxxopts::ParseResult args = options.parse(int(fixed.size()), fixed.data());
  if (args.count("help")) {
    std::printf("%s\n", options.help().c_str());
    return std::nullopt;
  }
  if (!args.unmatched().empty()) throw std::invalid_argument("unexpected argument '" + args.unmatched()[0] + "'");
  return args;
}

// A number as short as it reads: 3, 0.1, 1e-05.
inline std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A required option's value, with a clear message when it is missing.
template <typename T>
T required(const cxxopts::ParseResult& args, const std::string& name) {
  if (!args.count(name)) throw std::invalid_argument("--" + name + " is required");
  return args[name].as<T>();
}

}  // namespace ddpm::tools
