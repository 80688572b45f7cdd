// Where a tensor's storage lives: the host (CPU) or a CUDA GPU.
#pragma once
#include <string>

namespace ddpm {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

  // Parses "cpu", "cuda" or "cuda:N"; throws on anything else.
  static Device parse(const std::string& s);
};

// True when this build has the CUDA backend and a GPU is visible at run time.
bool cuda_is_available();
// The GPUs visible to this build (0 without the CUDA backend).
int cuda_device_count();
// Why CUDA is not usable ("" when it is): no CUDA backend in this build, no driver, no device, or
// the error CUDA failed to start with.
std::string cuda_unavailable_reason();
// True when CUDA is installed but failed to start (a driver too old for the runtime, missing device
// nodes, a sandbox refusal): a fault to fix, not a machine without a GPU.
bool cuda_failed_to_start();
// ddpmcpp drives one GPU per process: the first op on cuda:N makes N this process's GPU, and an op on
// another GPU then throws.

}  // namespace ddpm
