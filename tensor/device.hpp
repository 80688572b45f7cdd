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

}  // namespace ddpm
