// The CPU Backend: host memory from the caching allocator, and the kernels of cpu_kernels.hpp.
#include <cstring>

#include "tensor/allocator.hpp"
#include "tensor/backend.hpp"
#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/host_sync.hpp"

namespace ddpm {
namespace {

class CpuBackend : public Backend {
 public:
  Allocator& allocator() override { return cpu_allocator(); }

  void copy_from_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes > 0) std::memcpy(dst, src, nbytes);
  }
  void copy_to_host(void* dst, const void* src, size_t nbytes) override {
    if (nbytes > 0) std::memcpy(dst, src, nbytes);
  }
  void synchronize() override { count_synchronize(); }  // CPU kernels finish before they return

  // Every kernel of tensor/kernel_table.hpp, forwarded to its ddpm::cpu function.
  DDPM_BACKEND_KERNELS(DDPM_FORWARD_TO_CPU)
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend instance;
  return instance;
}

}  // namespace ddpm
