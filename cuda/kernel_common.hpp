// Helpers shared by the CUDA kernels: the grid-stride loop, dtype conversion, loads and stores
// through a runtime dtype, and the out-of-range report of the index ops. Device code: .cu files only.
#pragma once
#include <cuda_runtime.h>

#include <cstdint>
#include <limits>
#include <type_traits>

#include "cuda/cuda_context.hpp"
#include "tensor/backend.hpp"

namespace ddpm::gpu {

// Thread t of the grid handles items t, t + G, t + 2G, ... where G is the number of threads in the
// grid, so a grid sized to the GPU (grid_for) covers any n. 64-bit, since n may exceed 2^31.
#define DDPM_GRID_STRIDE_LOOP(i, n)                                                          \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x, ddpm_step_ = int64_t(gridDim.x) * blockDim.x; \
       i < (n); i += ddpm_step_)

// convert<D>(s) and is_half_v are tensor/dtype.hpp's, shared with the CPU.

// ((T*)base)[off] converted to D, where T is named at run time by `t`. The switch is uniform across
// the grid (every thread takes the same branch), so it costs a few instructions, not divergence.
template <typename D>
__device__ __forceinline__ D load_as(const void* base, DType t, int64_t off) {
  switch (t) {
    case DType::Float32: return convert<D>(static_cast<const float*>(base)[off]);
    case DType::Float64: return convert<D>(static_cast<const double*>(base)[off]);
    case DType::BFloat16: return convert<D>(static_cast<const bfloat16*>(base)[off]);
    case DType::Float16: return convert<D>(static_cast<const float16*>(base)[off]);
    case DType::Int32: return convert<D>(static_cast<const int32_t*>(base)[off]);
    case DType::Int64: return convert<D>(static_cast<const int64_t*>(base)[off]);
    case DType::Bool: return convert<D>(static_cast<const bool*>(base)[off]);
  }
  return D();
}

// ((T*)base)[off] = convert<T>(v), with T named at run time by `t`.
template <typename V>
__device__ __forceinline__ void store_as(void* base, DType t, int64_t off, V v) {
  switch (t) {
    case DType::Float32: static_cast<float*>(base)[off] = convert<float>(v); break;
    case DType::Float64: static_cast<double*>(base)[off] = convert<double>(v); break;
    case DType::BFloat16: static_cast<bfloat16*>(base)[off] = convert<bfloat16>(v); break;
    case DType::Float16: static_cast<float16*>(base)[off] = convert<float16>(v); break;
    case DType::Int32: static_cast<int32_t*>(base)[off] = convert<int32_t>(v); break;
    case DType::Int64: static_cast<int64_t*>(base)[off] = convert<int64_t>(v); break;
    case DType::Bool: static_cast<bool*>(base)[off] = convert<bool>(v); break;
  }
}

template <typename T>
__device__ __forceinline__ bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return x != x;
  else return false;
}

// Kernels that only move elements (where, index_select, gather) are instantiated per element size,
// not per dtype: this binds `bits_t` to the unsigned type as wide as `dtype`'s element.
#define DDPM_DISPATCH_BY_SIZE(dtype, ...)                                   \
  switch (::ddpm::dtype_size(dtype)) {                                      \
    case 1: { using bits_t = uint8_t; __VA_ARGS__; break; }                 \
    case 2: { using bits_t = uint16_t; __VA_ARGS__; break; }                \
    case 4: { using bits_t = uint32_t; __VA_ARGS__; break; }                \
    case 8: { using bits_t = uint64_t; __VA_ARGS__; break; }                \
    default: throw std::invalid_argument("unsupported element size");       \
  }

// Called by the thread that found an out-of-range index (see cuda_context.hpp): the first thread to
// claim the record writes its op, index, dim and the dim's size, so the host can name one offending
// value when it next waits for the stream.
__device__ __forceinline__ void report_bad_index(const IndexErrorSink& sink, int64_t index, int dim, int64_t size) {
  unsigned long long* r = sink.record;
  if (atomicCAS(r, 0ull, sink.op) == 0ull) {
    r[1] = static_cast<unsigned long long>(index);
    r[2] = static_cast<unsigned long long>(dim);
    r[3] = static_cast<unsigned long long>(size);
  }
}

}  // namespace ddpm::gpu
