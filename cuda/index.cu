// Indexing kernels with int64 indices: index_select and gather, and their adjoints index_add and
// scatter_add (atomicAdd, since several indices may hit the same output element).
// An out-of-range index is skipped, never dereferenced, and recorded (cuda_context.hpp): the host
// throws std::out_of_range at its next wait for the stream, so these ops never wait themselves.
#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernel_common.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// Each kernel walks the elements of one "driving" tensor in row-major order and unravels the linear
// index k into coordinates from the last dim to the first, adding coordinate * stride for every
// tensor that shares those coordinates. The indexed dim `dim` is handled apart: its coordinate j
// picks the index, and the index picks the coordinate in the indexed tensor.

// out[.., j, ..] = in[.., idx[j], ..]; driven by out.
template <typename U>
__global__ void index_select_kernel(TensorRef out, TensorRef in, TensorRef idx, int dim, int64_t n,
                                    IndexErrorSink error) {
  U* o = static_cast<U*>(out.data);
  const U* x = static_cast<const U*>(in.data);
  const int64_t* ip = static_cast<const int64_t*>(idx.data);
  const int64_t size = in.layout.sizes[dim];
  DDPM_GRID_STRIDE_LOOP(k, n) {
    int64_t rem = k, off_out = out.layout.offset, off_in = in.layout.offset, j = 0;
    for (int d = out.layout.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % out.layout.sizes[d];
      rem /= out.layout.sizes[d];
      off_out += c * out.layout.strides[d];
      if (d == dim) j = c;
      else off_in += c * in.layout.strides[d];
    }
    const int64_t i = ip[idx.layout.at(j)];
    if (i < 0 || i >= size) {
      report_bad_index(error, i, dim, size);
      continue;
    }
    o[off_out] = x[off_in + i * in.layout.strides[dim]];
  }
}

// out[.., j, ..] = in[.., idx[.., j, ..], ..]; driven by out, which has idx's sizes.
template <typename U>
__global__ void gather_kernel(TensorRef out, TensorRef in, TensorRef idx, int dim, int64_t n,
                              IndexErrorSink error) {
  U* o = static_cast<U*>(out.data);
  const U* x = static_cast<const U*>(in.data);
  const int64_t* ip = static_cast<const int64_t*>(idx.data);
  const int64_t size = in.layout.sizes[dim];
  DDPM_GRID_STRIDE_LOOP(k, n) {
    int64_t rem = k, off_out = out.layout.offset, off_idx = idx.layout.offset, off_in = in.layout.offset;
    for (int d = out.layout.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % out.layout.sizes[d];
      rem /= out.layout.sizes[d];
      off_out += c * out.layout.strides[d];
      off_idx += c * idx.layout.strides[d];
      if (d != dim) off_in += c * in.layout.strides[d];
    }
    const int64_t i = ip[off_idx];
    if (i < 0 || i >= size) {
      report_bad_index(error, i, dim, size);
      continue;
    }
    o[off_out] = x[off_in + i * in.layout.strides[dim]];
  }
}

// Float and double have a native atomicAdd on sm_60 and later.
template <typename T>
__device__ __forceinline__ void atomic_add(T* p, T v) {
  atomicAdd(p, v);
}

// out[.., idx[j], ..] += src[.., j, ..]; driven by src.
template <typename T>
__global__ void index_add_kernel(TensorRef out, TensorRef idx, TensorRef src, int dim, int64_t n,
                                 IndexErrorSink error) {
  T* o = static_cast<T*>(out.data);
  const T* s = static_cast<const T*>(src.data);
  const int64_t* ip = static_cast<const int64_t*>(idx.data);
  const int64_t size = out.layout.sizes[dim];
  DDPM_GRID_STRIDE_LOOP(k, n) {
    int64_t rem = k, off_src = src.layout.offset, off_out = out.layout.offset, j = 0;
    for (int d = src.layout.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % src.layout.sizes[d];
      rem /= src.layout.sizes[d];
      off_src += c * src.layout.strides[d];
      if (d == dim) j = c;
      else off_out += c * out.layout.strides[d];
    }
    const int64_t i = ip[idx.layout.at(j)];
    if (i < 0 || i >= size) {
      report_bad_index(error, i, dim, size);
      continue;
    }
    atomic_add(o + off_out + i * out.layout.strides[dim], s[off_src]);
  }
}

// out[.., idx[.., j, ..], ..] += src[.., j, ..]; driven by idx (src has idx's sizes).
template <typename T>
__global__ void scatter_add_kernel(TensorRef out, TensorRef idx, TensorRef src, int dim, int64_t n,
                                   IndexErrorSink error) {
  T* o = static_cast<T*>(out.data);
  const T* s = static_cast<const T*>(src.data);
  const int64_t* ip = static_cast<const int64_t*>(idx.data);
  const int64_t size = out.layout.sizes[dim];
  DDPM_GRID_STRIDE_LOOP(k, n) {
    int64_t rem = k, off_idx = idx.layout.offset, off_src = src.layout.offset, off_out = out.layout.offset;
    for (int d = idx.layout.ndim - 1; d >= 0; --d) {
      const int64_t c = rem % idx.layout.sizes[d];
      rem /= idx.layout.sizes[d];
      off_idx += c * idx.layout.strides[d];
      off_src += c * src.layout.strides[d];
      if (d != dim) off_out += c * out.layout.strides[d];
    }
    const int64_t i = ip[off_idx];
    if (i < 0 || i >= size) {
      report_bad_index(error, i, dim, size);
      continue;
    }
    atomic_add(o + off_out + i * out.layout.strides[dim], s[off_src]);
  }
}

// Checks shared by the four ops: the index dtype, the dim, and that the tensors walked together
// have the same number of dims (the kernels index each Layout's arrays with the same d).
void check_args(const char* op, const TensorRef& a, const TensorRef& b, const TensorRef& idx, int dim) {
  DDPM_CHECK(idx.dtype == DType::Int64, "cuda ", op, ": index is ", dtype_name(idx.dtype), ", expected int64");
  DDPM_CHECK(a.layout.ndim == b.layout.ndim, "cuda ", op, ": tensors have ", a.layout.ndim, " and ",
             b.layout.ndim, " dims");
  DDPM_CHECK(dim >= 0 && dim < 6 && (dim < a.layout.ndim || (a.layout.ndim == 0 && dim == 0)), "cuda ", op,
             ": dim ", dim, " is out of range for ", a.layout.ndim, " dims");
}

}  // namespace

void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim) {
  check_args("index_select", out, in, idx, dim);
  DDPM_CHECK(out.dtype == in.dtype, "cuda index_select: out is ", dtype_name(out.dtype), ", input is ",
             dtype_name(in.dtype));
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const IndexErrorSink sink = index_error_sink(IndexOp::IndexSelect);
  DDPM_DISPATCH_BY_SIZE(in.dtype, index_select_kernel<bits_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                                      out, in, idx, dim, n, sink));
  DDPM_CUDA_CHECK_LAUNCH();
  after_index_op();
}

void gather(TensorRef out, TensorRef in, TensorRef idx, int dim) {
  check_args("gather", out, in, idx, dim);
  DDPM_CHECK(idx.layout.ndim == out.layout.ndim, "cuda gather: index has ", idx.layout.ndim, " dims, out has ",
             out.layout.ndim);
  DDPM_CHECK(out.dtype == in.dtype, "cuda gather: out is ", dtype_name(out.dtype), ", input is ",
             dtype_name(in.dtype));
  const int64_t n = out.layout.numel();
  if (n == 0) return;
  const IndexErrorSink sink = index_error_sink(IndexOp::Gather);
  DDPM_DISPATCH_BY_SIZE(in.dtype, gather_kernel<bits_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                                      out, in, idx, dim, n, sink));
  DDPM_CUDA_CHECK_LAUNCH();
  after_index_op();
}

void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim) {
  check_args("index_add", out, src, idx, dim);
  DDPM_CHECK(out.dtype == src.dtype, "cuda index_add: out is ", dtype_name(out.dtype), ", src is ",
             dtype_name(src.dtype));
  const int64_t n = src.layout.numel();
  if (n == 0) return;
  const IndexErrorSink sink = index_error_sink(IndexOp::IndexAdd);
  DDPM_DISPATCH_FLOAT(src.dtype, "index_add",
                      index_add_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                          out, idx, src, dim, n, sink));
  DDPM_CUDA_CHECK_LAUNCH();
  after_index_op();
}

void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim) {
  check_args("scatter_add", out, src, idx, dim);
  DDPM_CHECK(idx.layout.ndim == src.layout.ndim, "cuda scatter_add: index has ", idx.layout.ndim,
             " dims, src has ", src.layout.ndim);
  DDPM_CHECK(out.dtype == src.dtype, "cuda scatter_add: out is ", dtype_name(out.dtype), ", src is ",
             dtype_name(src.dtype));
  const int64_t n = idx.layout.numel();
  if (n == 0) return;
  const IndexErrorSink sink = index_error_sink(IndexOp::ScatterAdd);
  DDPM_DISPATCH_FLOAT(src.dtype, "scatter_add",
                      scatter_add_kernel<scalar_t><<<grid_for(n), kBlockThreads, 0, stream()>>>(
                          out, idx, src, dim, n, sink));
  DDPM_CUDA_CHECK_LAUNCH();
  after_index_op();
}

}  // namespace ddpm::gpu
