// Error checks for the CUDA runtime and cuBLAS: every call goes through one of these macros, so a
// failure becomes a std::runtime_error that names the call, the error, and the file and line.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>

#include "tensor/macros.hpp"

namespace ddpm::gpu {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw std::runtime_error(::ddpm::str("CUDA error: ", call, " failed with ", cudaGetErrorName(err), " (",
                                       cudaGetErrorString(err), ") at ", file, ":", line));
}

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* call, const char* file, int line) {
  throw std::runtime_error(::ddpm::str("cuBLAS error: ", call, " failed with ", cublasGetStatusName(status), " (",
                                       cublasGetStatusString(status), ") at ", file, ":", line));
}

}  // namespace ddpm::gpu

#define DDPM_CUDA_CHECK(expr)                                                          \
  do {                                                                                 \
    cudaError_t ddpm_err_ = (expr);                                                    \
    if (ddpm_err_ != cudaSuccess) ::ddpm::gpu::throw_cuda_error(ddpm_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define DDPM_CUBLAS_CHECK(expr)                                                        \
  do {                                                                                 \
    cublasStatus_t ddpm_status_ = (expr);                                              \
    if (ddpm_status_ != CUBLAS_STATUS_SUCCESS)                                         \
      ::ddpm::gpu::throw_cublas_error(ddpm_status_, #expr, __FILE__, __LINE__);        \
  } while (0)

// After every kernel launch: a bad launch configuration (or a sticky error from an earlier kernel)
// shows up here, at the op that launched, instead of at some later unrelated call.
#define DDPM_CUDA_CHECK_LAUNCH() DDPM_CUDA_CHECK(cudaGetLastError())
