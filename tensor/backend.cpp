// The device registry: the CPU backend is always there, the CUDA one registers itself when linked.
#include "tensor/backend.hpp"

#include <atomic>
#include <stdexcept>

#include "tensor/device.hpp"
#include "tensor/host_sync.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

namespace {
std::atomic<uint64_t> g_reads{0}, g_uploads{0}, g_synchronizes{0};
}  // namespace

HostSyncCounts host_sync_counts() {
  return {g_reads.load(std::memory_order_relaxed), g_uploads.load(std::memory_order_relaxed),
          g_synchronizes.load(std::memory_order_relaxed)};
}
void count_host_read() { g_reads.fetch_add(1, std::memory_order_relaxed); }
void count_upload() { g_uploads.fetch_add(1, std::memory_order_relaxed); }
void count_synchronize() { g_synchronizes.fetch_add(1, std::memory_order_relaxed); }

namespace {
Backend* g_cuda_backend = nullptr;
CudaRuntimeHooks g_cuda;
}  // namespace

void register_cuda_backend(Backend* b, const CudaRuntimeHooks& hooks) {
  g_cuda_backend = b;
  g_cuda = hooks;
}

int cuda_device_count() {
  static const int count = g_cuda.device_count ? g_cuda.device_count() : 0;
  return count;
}

bool cuda_is_available() { return cuda_device_count() > 0; }

std::string cuda_unavailable_reason() {
  if (!g_cuda_backend) return "this build of ddpmcpp has no CUDA backend (configure with -DDDPM_CUDA=ON where nvcc is installed)";
  if (cuda_is_available()) return "";
  return g_cuda.unavailable_reason();
}

bool cuda_failed_to_start() { return g_cuda_backend && !cuda_is_available() && g_cuda.failed_to_start(); }

Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
  if (!cuda_is_available())
    throw std::runtime_error("device " + device.str() + ": " + cuda_unavailable_reason() + "; use device cpu");
  // The CUDA runtime's current device is per host thread: each thread binds the GPU once.
  thread_local int bound = -1;
  if (bound != device.index) {
    g_cuda.bind_device(device.index);
    bound = device.index;
  }
  return *g_cuda_backend;
}

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    std::string idx = s.substr(5);
    bool digits = !idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos;
    DDPM_CHECK(digits, "device: cannot parse '", s, "', expected cpu, cuda or cuda:N");
    return cuda(std::stoi(idx));
  }
  throw std::invalid_argument(::ddpm::str("device: cannot parse '", s, "', expected cpu, cuda or cuda:N"));
}

}  // namespace ddpm
