// The CUDA backend's process-wide state: allocator, stream, cuBLAS handle, device queries and the
// index ops' error buffer. Objects are created on first use and deliberately never destroyed.
#include "cuda/cuda_context.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "cuda/cuda_check.hpp"
#include "tensor/macros.hpp"

namespace ddpm::gpu {

namespace {

struct DeviceQuery {
  int count = 0;
  bool failed = false;  // CUDA is installed but could not start
  std::string reason;   // why count is 0
};

const DeviceQuery& query() noexcept {
  static const DeviceQuery q = [] {
    DeviceQuery r;
    int n = 0;
    const cudaError_t err = cudaGetDeviceCount(&n);
    (void)cudaGetLastError();  // never leave the error for a later call to report
    if (err == cudaSuccess && n > 0) {
      r.count = n;
      return r;
    }
    const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
    if (err == cudaSuccess || err == cudaErrorNoDevice) {
      r.reason = std::string("no CUDA device is visible") +
                 (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : std::string());
      return r;
    }
    // Without the driver library the runtime answers cudaErrorInsufficientDriver, exactly as it does
    // for a driver too old for it: only whether libcuda.so.1 loads tells "no GPU here" from a fault.
    void* driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
      r.reason = "no CUDA driver is installed (libcuda.so.1 is not found)";
      return r;
    }
    dlclose(driver);
    if (err == cudaErrorStubLibrary) {  // the toolkit's stub came first on the library path: a fault
      r.failed = true;
      r.reason = "CUDA failed to start: the loader found the CUDA toolkit's stub libcuda.so.1 before the real "
                 "driver (remove .../lib64/stubs from LD_LIBRARY_PATH)";
      return r;
    }
    r.failed = true;
    r.reason = std::string("CUDA failed to start: cudaGetDeviceCount returned ") + cudaGetErrorName(err) + " (" +
               cudaGetErrorString(err) + "); check the driver (nvidia-smi), the device nodes and CUDA_VISIBLE_DEVICES";
    return r;
  }();
  return q;
}

std::mutex& bind_mutex() {
  static std::mutex m;
  return m;
}
int g_active_device = -1;  // the GPU this process uses, once chosen

}  // namespace

int device_count() noexcept { return query().count; }
const char* unavailable_reason() noexcept { return query().reason.c_str(); }
bool failed_to_start() noexcept { return query().failed; }

void bind_device(int index) {
  std::lock_guard<std::mutex> lock(bind_mutex());
  if (g_active_device < 0) {
    DDPM_CHECK(index >= 0 && index < device_count(), "device cuda:", index, ": only ", device_count(),
               " CUDA devices are visible (cuda:0 to cuda:", device_count() - 1, ")");
    g_active_device = index;
  } else if (index != g_active_device) {
    throw std::invalid_argument(::ddpm::str(
        "device cuda:", index, ": this process already uses cuda:", g_active_device,
        "; ddpmcpp drives one GPU per process (run one process per GPU, or choose it with CUDA_VISIBLE_DEVICES)"));
  }
  DDPM_CUDA_CHECK(cudaSetDevice(index));  // for the calling thread; the caller remembers it per thread
}

int active_device() {
  std::lock_guard<std::mutex> lock(bind_mutex());
  return g_active_device < 0 ? 0 : g_active_device;
}

namespace {

void* raw_cuda_alloc(size_t nbytes) {
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, nbytes);
  if (err == cudaErrorMemoryAllocation) {
    // Out of memory is not sticky; clear it and return null so the CachingAllocator can give its
    // cached blocks back to the driver and try again.
    (void)cudaGetLastError();
    return nullptr;
  }
  if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
  return p;
}

void raw_cuda_free(void* p) {
  cudaError_t err = cudaFree(p);  // synchronises the device, so no kernel still uses p
  if (err == cudaErrorCudartUnloading) return;  // the process is exiting; the driver frees it all
  if (err != cudaSuccess) throw_cuda_error(err, "cudaFree", __FILE__, __LINE__);
}

}  // namespace

Allocator& allocator() {
  // Never destroyed, like cpu_allocator(): a tensor in a static object may be freed after any
  // destruction order we could pick, and cudaFree during static destruction may find the runtime gone.
  static CachingAllocator* alloc = new CachingAllocator(raw_cuda_alloc, raw_cuda_free);
  return *alloc;
}

cudaStream_t stream() {
  // A blocking stream (not cudaStreamNonBlocking): it still orders itself after anything put on the
  // legacy default stream, which costs nothing here and protects code that uses cudaMemcpy directly.
  static cudaStream_t s = [] {
    cudaStream_t created = nullptr;
    DDPM_CUDA_CHECK(cudaStreamCreate(&created));
    return created;
  }();
  return s;
}

cublasHandle_t cublas_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    DDPM_CUBLAS_CHECK(cublasCreate(&created));
    DDPM_CUBLAS_CHECK(cublasSetStream(created, stream()));
    // The default math mode keeps float32 GEMMs in full FP32 (no TF32), so results match the CPU.
    return created;
  }();
  return h;
}

std::mutex& cublas_mutex() {
  static std::mutex m;
  return m;
}

int sm_count() {
  static const int count = [] {
    int n = 0;
    DDPM_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, active_device()));
    return std::max(n, 1);
  }();
  return count;
}

unsigned grid_for(int64_t n, int threads) {
  // 2048 resident threads per SM on sm_80/sm_90; allow a few waves so uneven blocks balance out.
  const int64_t max_blocks = int64_t(sm_count()) * (2048 / threads) * 4;
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(std::max<int64_t>(1, std::min(blocks, max_blocks)));
}

namespace {

constexpr size_t kRecordWords = 4;

struct IndexErrorBuffers {
  unsigned long long* device = nullptr;  // written by the kernels
  unsigned long long* host = nullptr;    // pinned: its copy rides along with every synchronization
};

// Allocated and zeroed once, never freed (32 bytes each; see allocator() for why nothing is freed).
const IndexErrorBuffers& index_error_buffers() {
  static const IndexErrorBuffers b = [] {
    IndexErrorBuffers r;
    void* d = nullptr;
    void* h = nullptr;
    DDPM_CUDA_CHECK(cudaMalloc(&d, kRecordWords * sizeof(unsigned long long)));
    DDPM_CUDA_CHECK(cudaMemset(d, 0, kRecordWords * sizeof(unsigned long long)));
    DDPM_CUDA_CHECK(cudaMallocHost(&h, kRecordWords * sizeof(unsigned long long)));
    r.device = static_cast<unsigned long long*>(d);
    r.host = static_cast<unsigned long long*>(h);
    return r;
  }();
  return b;
}

// Serialises the host's reads of the record. One host thread drives the GPU in this library; were two
// to, an error recorded by the other's kernel between this read and the clear below could be lost.
std::mutex& check_mutex() {
  static std::mutex m;
  return m;
}

const char* index_op_name(unsigned long long op) {
  switch (static_cast<IndexOp>(op)) {
    case IndexOp::IndexSelect: return "index_select";
    case IndexOp::Gather: return "gather";
    case IndexOp::IndexAdd: return "index_add";
    case IndexOp::ScatterAdd: return "scatter_add";
  }
  return "an index op";
}

bool sync_checks() {
  static const bool on = [] {
    const char* v = std::getenv("DDPM_CUDA_SYNC_CHECKS");
    return v && std::string(v) == "1";
  }();
  return on;
}

}  // namespace

IndexErrorSink index_error_sink(IndexOp op) {
  return {index_error_buffers().device, static_cast<unsigned long long>(op)};
}

void after_index_op() {
  if (sync_checks()) synchronize_and_check();
}

void synchronize_and_check() {
  const IndexErrorBuffers& b = index_error_buffers();
  std::lock_guard<std::mutex> lock(check_mutex());
  DDPM_CUDA_CHECK(cudaMemcpyAsync(b.host, b.device, kRecordWords * sizeof(unsigned long long),
                                  cudaMemcpyDeviceToHost, stream()));
  DDPM_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (b.host[0] == 0) return;
  const unsigned long long op = b.host[0];
  const int64_t index = static_cast<int64_t>(b.host[1]);
  const int64_t dim = static_cast<int64_t>(b.host[2]);
  const int64_t size = static_cast<int64_t>(b.host[3]);
  b.host[0] = 0;
  DDPM_CUDA_CHECK(cudaMemsetAsync(b.device, 0, kRecordWords * sizeof(unsigned long long), stream()));
  throw std::out_of_range(::ddpm::str(
      index_op_name(op), ": index ", index, " is out of range for dim ", dim, " of size ", size, " (valid range [0, ",
      size, ")); found on the GPU at the next synchronization, so later ops may have run",
      sync_checks() ? "" : " (DDPM_CUDA_SYNC_CHECKS=1 stops at the op itself)"));
}

}  // namespace ddpm::gpu
