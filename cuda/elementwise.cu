// Elementwise CUDA kernels: copy with dtype conversion, fill, unary, binary (also with a scalar), where.
// Every kernel is a grid-stride loop with two bodies: a plain `offset + i` one when all operands are
// contiguous, and one that maps i through each operand's strided Layout (broadcasts have stride 0).
#include <cmath>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernel_common.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// ---- copy: dst[k] = convert(src[k]) ------------------------------------------------------------
// Templated on the destination type only; the source type is a uniform switch inside load_as, which
// keeps 7 instantiations instead of 49 for a kernel that is bound by memory anyway.
template <typename D>
__global__ void copy_kernel(TensorRef dst, TensorRef src, int64_t n, bool contiguous) {
  D* out = static_cast<D*>(dst.data);
  const DType src_dtype = src.dtype;
  const void* in = src.data;
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) out[dst.layout.offset + i] = load_as<D>(in, src_dtype, src.layout.offset + i);
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) out[dst.layout.at(i)] = load_as<D>(in, src_dtype, src.layout.at(i));
  }
}

// ---- fill: dst[k] = value ----------------------------------------------------------------------
template <typename T>
__global__ void fill_kernel(TensorRef dst, T value, int64_t n, bool contiguous) {
  T* out = static_cast<T*>(dst.data);
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) out[dst.layout.offset + i] = value;
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) out[dst.layout.at(i)] = value;
  }
}

// ---- unary: out[k] = f(in[k]) ------------------------------------------------------------------
// The op is a run-time argument (uniform branch) rather than a template parameter: one kernel per
// dtype instead of one per (op, dtype) keeps the two-architecture build short.
template <typename T>
__device__ __forceinline__ T unary_value(UnaryOp op, T x, double a, double b) {
  if constexpr (std::is_floating_point_v<T>) return apply_unary(op, x, a, b);
  else return apply_unary_int(op, x, a, b);
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, TensorRef out, TensorRef in, double a, double b, int64_t n,
                             bool contiguous) {
  T* o = static_cast<T*>(out.data);
  const T* x = static_cast<const T*>(in.data);
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) o[out.layout.offset + i] = unary_value(op, x[in.layout.offset + i], a, b);
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) o[out.layout.at(i)] = unary_value(op, x[in.layout.at(i)], a, b);
  }
}

// ---- binary: out[k] = f(x[k], y[k]); comparisons write bool ---------------------------------------
template <typename T>
__global__ void binary_kernel(BinaryOp op, bool compare, TensorRef out, TensorRef x, TensorRef y, int64_t n,
                              bool contiguous) {
  void* o = out.data;
  const T* xp = static_cast<const T*>(x.data);
  const T* yp = static_cast<const T*>(y.data);
  auto body = [=](int64_t oo, int64_t xo, int64_t yo) {
    if (compare) static_cast<bool*>(o)[oo] = apply_compare(op, xp[xo], yp[yo]);
    else static_cast<T*>(o)[oo] = apply_binary(op, xp[xo], yp[yo]);
  };
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) body(out.layout.offset + i, x.layout.offset + i, y.layout.offset + i);
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) body(out.layout.at(i), x.layout.at(i), y.layout.at(i));
  }
}

// ---- binary_scalar: out[k] = f(x[k], s) or f(s, x[k]) -----------------------------------------
template <typename T>
__global__ void binary_scalar_kernel(BinaryOp op, bool compare, TensorRef out, TensorRef x, T s,
                                     bool scalar_first, int64_t n, bool contiguous) {
  void* o = out.data;
  const T* xp = static_cast<const T*>(x.data);
  auto body = [=](int64_t oo, int64_t xo) {
    const T lhs = scalar_first ? s : xp[xo];
    const T rhs = scalar_first ? xp[xo] : s;
    if (compare) static_cast<bool*>(o)[oo] = apply_compare(op, lhs, rhs);
    else static_cast<T*>(o)[oo] = apply_binary(op, lhs, rhs);
  };
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) body(out.layout.offset + i, x.layout.offset + i);
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) body(out.layout.at(i), x.layout.at(i));
  }
}

// ---- where: out[k] = cond[k] ? x[k] : y[k] -------------------------------------------------------
// Only moves elements, so it is instantiated per element size (bits_t), not per dtype.
template <typename U>
__global__ void where_kernel(TensorRef out, TensorRef cond, TensorRef x, TensorRef y, int64_t n, bool contiguous) {
  U* o = static_cast<U*>(out.data);
  const bool* c = static_cast<const bool*>(cond.data);
  const U* xp = static_cast<const U*>(x.data);
  const U* yp = static_cast<const U*>(y.data);
  if (contiguous) {
    DDPM_GRID_STRIDE_LOOP(i, n) {
      o[out.layout.offset + i] = c[cond.layout.offset + i] ? xp[x.layout.offset + i] : yp[y.layout.offset + i];
    }
  } else {
    DDPM_GRID_STRIDE_LOOP(i, n) o[out.layout.at(i)] = c[cond.layout.at(i)] ? xp[x.layout.at(i)] : yp[y.layout.at(i)];
  }
}

void check_numel(const char* op, const TensorRef& out, const TensorRef& in, const char* what) {
  DDPM_CHECK(in.layout.numel() == out.layout.numel(), "cuda ", op, ": ", what, " has ", in.layout.numel(),
             " elements, out has ", out.layout.numel());
}

}  // namespace

void copy(TensorRef dst, TensorRef src) {
  check_numel("copy", dst, src, "src");
  const int64_t n = dst.layout.numel();
  if (n == 0) return;
  const bool contiguous = dst.layout.contiguous && src.layout.contiguous;
  if (contiguous && dst.dtype == src.dtype) {  // a plain memcpy on the stream
    const size_t esize = dtype_size(dst.dtype);
    char* d = static_cast<char*>(dst.data) + dst.layout.offset * int64_t(esize);
    const char* s = static_cast<const char*>(src.data) + src.layout.offset * int64_t(esize);
    if (d != s) DDPM_CUDA_CHECK(cudaMemcpyAsync(d, s, size_t(n) * esize, cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  DDPM_DISPATCH_ALL(dst.dtype, "copy",
                    copy_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(dst, src, n, contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

void fill(TensorRef dst, double value) {
  const int64_t n = dst.layout.numel();
  if (n == 0) return;
  // +0.0 is all-zero bits in every dtype (false, 0, +0.0 in float/bf16/fp16): a memset does it.
  if (dst.layout.contiguous && value == 0.0 && !std::signbit(value)) {
    const size_t esize = dtype_size(dst.dtype);
    char* d = static_cast<char*>(dst.data) + dst.layout.offset * int64_t(esize);
    DDPM_CUDA_CHECK(cudaMemsetAsync(d, 0, size_t(n) * esize, stream()));
    return;
  }
  DDPM_DISPATCH_ALL(dst.dtype, "fill",
                    fill_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                        dst, convert<scalar_t>(value), n, dst.layout.contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b) {
  check_numel("unary", out, in, "input");
  DDPM_CHECK(out.dtype == in.dtype, "cuda unary: out is ", dtype_name(out.dtype), ", input is ", dtype_name(in.dtype));
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const bool contiguous = out.layout.contiguous && in.layout.contiguous;
  DDPM_DISPATCH_NUMERIC(in.dtype, "unary",
                        unary_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                            op, out, in, a, b, n, contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) {
  check_numel("binary", out, x, "x");
  check_numel("binary", out, y, "y");
  const bool compare = is_comparison(op);
  DDPM_CHECK(x.dtype == y.dtype, "cuda binary: x is ", dtype_name(x.dtype), ", y is ", dtype_name(y.dtype));
  DDPM_CHECK(out.dtype == (compare ? DType::Bool : x.dtype), "cuda binary: out is ", dtype_name(out.dtype),
             ", expected ", dtype_name(compare ? DType::Bool : x.dtype));
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const bool contiguous = out.layout.contiguous && x.layout.contiguous && y.layout.contiguous;
  DDPM_DISPATCH_NUMERIC(x.dtype, "binary",
                        binary_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                            op, compare, out, x, y, n, contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first) {
  check_numel("binary_scalar", out, x, "x");
  const bool compare = is_comparison(op);
  DDPM_CHECK(out.dtype == (compare ? DType::Bool : x.dtype), "cuda binary_scalar: out is ", dtype_name(out.dtype),
             ", expected ", dtype_name(compare ? DType::Bool : x.dtype));
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const bool contiguous = out.layout.contiguous && x.layout.contiguous;
  // The scalar takes x's type first (as the CPU does): for int x, 2.5 becomes 2.
  DDPM_DISPATCH_NUMERIC(x.dtype, "binary_scalar",
                        binary_scalar_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                            op, compare, out, x, convert<scalar_t>(s), scalar_first, n, contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y) {
  check_numel("where", out, cond, "cond");
  check_numel("where", out, x, "x");
  check_numel("where", out, y, "y");
  DDPM_CHECK(cond.dtype == DType::Bool, "cuda where: cond is ", dtype_name(cond.dtype), ", expected bool");
  DDPM_CHECK(x.dtype == out.dtype && y.dtype == out.dtype, "cuda where: out, x and y are ", dtype_name(out.dtype),
             ", ", dtype_name(x.dtype), " and ", dtype_name(y.dtype), ", expected one dtype");
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const bool contiguous = out.layout.contiguous && cond.layout.contiguous && x.layout.contiguous && y.layout.contiguous;
  DDPM_DISPATCH_BY_SIZE(out.dtype, where_kernel<bits_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                                       out, cond, x, y, n, contiguous));
  DDPM_CUDA_CHECK_LAUNCH();
}

}  // namespace ddpm::gpu
