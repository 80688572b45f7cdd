// tests/data/reference.safetensors: PyTorch's numbers, computed once by tests/data/make_reference.py,
// loaded once per test executable.
#pragma once
#include <filesystem>

#include "nn/safetensors.hpp"

namespace ddpm::test {

// The reference file sits beside this header, in data/.
inline const SafetensorsFile& reference() {
  static const SafetensorsFile file = load_safetensors(
      (std::filesystem::path(__FILE__).parent_path() / "data" / "reference.safetensors").string());
  return file;
}

}  // namespace ddpm::test
