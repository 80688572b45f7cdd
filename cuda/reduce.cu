// Row reductions (sum, mean, max, min, argmax, argmin, var) and softmax on the GPU. The front end
// puts the reduced dims last, so output o reduces the `inner` elements o*inner .. o*inner + inner-1.
//
// Each row is reduced by a group of threads: one thread (short rows, or column-like rows whose
// neighbours are adjacent in memory), one warp (medium rows), or a whole block (long rows). Each
// thread folds a strided slice of the row, then the group combines the partials with warp shuffles
// (and shared memory across the warps of a block). Precision: Sum, Mean and Var accumulate in double
// for float32 and float64 (int64 for integer sums); Var is two-pass (mean first, then the squared
// deviations), which is accurate without Welford's updates. Softmax works in double (see below).
// The combination order is fixed, so results are the same from run to run.
#include <limits>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernel_common.hpp"
#include "cuda/kernels.hpp"
#include "tensor/reduce_args.hpp"

namespace ddpm::gpu {

namespace {

constexpr int kReduceThreads = 256;

// ---- combining two partial results ---------------------------------------------------------------
struct SumOp {
  template <typename V>
  __device__ V operator()(V a, V b) const { return a + b; }
};

// max/min that propagate NaN: once a NaN is in the row, it is the result.
template <typename T>
struct MaxMinOp {
  bool is_max;
  __device__ T operator()(T a, T b) const {
    if (is_nan(a)) return a;
    if (is_nan(b)) return b;
    return (is_max ? a > b : a < b) ? a : b;
  }
};

// An element and its position in the row, for argmax/argmin.
template <typename T>
struct ArgVal {
  T v;
  int64_t i;
};

// Picks the winner of two candidates: a NaN beats any number (as max() propagates NaN, and as PyTorch's
// argmax reports a NaN's index), then the larger (argmax) or smaller (argmin) value, and on a tie the
// lower index, so the result is the first occurrence. This is a total order, so the combination
// order of the tree does not change the answer.
template <typename T>
struct ArgOp {
  bool is_max;
  __device__ ArgVal<T> operator()(ArgVal<T> a, ArgVal<T> b) const {
    const bool a_nan = is_nan(a.v), b_nan = is_nan(b.v);
    if (a_nan != b_nan) return a_nan ? a : b;
    if (!a_nan && a.v != b.v) return (is_max ? a.v > b.v : a.v < b.v) ? a : b;
    return a.i < b.i ? a : b;
  }
};

// ---- warp shuffles for the partial types --------------------------------------------------------
template <typename V>
__device__ __forceinline__ V shfl_xor(V v, int mask) {
  return __shfl_xor_sync(0xffffffffu, v, mask);
}
template <typename T>
__device__ __forceinline__ ArgVal<T> shfl_xor(ArgVal<T> v, int mask) {
  return ArgVal<T>{__shfl_xor_sync(0xffffffffu, v.v, mask), __shfl_xor_sync(0xffffffffu, v.i, mask)};
}

// Combines the partials of a group of `group` threads (1, 32 or blockDim.x) and returns the result to
// every thread of the group. With group == blockDim.x every thread of the block must call it (it
// contains __syncthreads); rows are assigned per block then, so they all do.
template <typename V, typename F>
__device__ V group_allreduce(V v, int group, F combine) {
  if (group == 1) return v;
  // Butterfly: after the 5 steps each lane holds the combination of all 32 lanes.
  for (int mask = 16; mask > 0; mask >>= 1) v = combine(v, shfl_xor(v, mask));
  if (group == 32) return v;
  __shared__ V warp_results[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  __syncthreads();  // the previous call's readers are done with warp_results
  if (lane == 0) warp_results[warp] = v;
  __syncthreads();
  V r = warp_results[0];  // every thread combines the few warp results in the same order
  for (int w = 1; w < nwarps; ++w) r = combine(r, warp_results[w]);
  return r;
}

// The thread's place in its group and the groups' row loop, shared by both kernels.
struct GroupIndex {
  int lane;             // 0 .. group-1
  int64_t first_row;    // this group's first row
  int64_t row_step;     // number of groups in the grid
  __device__ explicit GroupIndex(int group)
      : lane(int(threadIdx.x) % group),
        first_row((int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / group),
        row_step(int64_t(gridDim.x) * blockDim.x / group) {}
};

template <typename T>
using sum_t = std::conditional_t<std::is_integral_v<T>, int64_t, double>;

template <typename T>
__device__ __forceinline__ T lowest_or_neg_inf() {
  if constexpr (std::numeric_limits<T>::has_infinity) return -std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::lowest();
}
template <typename T>
__device__ __forceinline__ T highest_or_inf() {
  if constexpr (std::numeric_limits<T>::has_infinity) return std::numeric_limits<T>::infinity();
  else return std::numeric_limits<T>::max();
}

// ---- reduce ------------------------------------------------------------------------------------
template <typename T>
__global__ void reduce_kernel(ReduceOp op, TensorRef out, TensorRef in, int64_t outer, int64_t inner,
                              int64_t correction, int group) {
  const T* x = static_cast<const T*>(in.data);
  const GroupIndex g(group);
  for (int64_t row = g.first_row; row < outer; row += g.row_step) {
    const int64_t base = row * inner;
    const int64_t out_off = out.layout.at(row);
    const bool writer = g.lane == 0;
    switch (op) {
      case ReduceOp::Sum:
      case ReduceOp::Mean:
      case ReduceOp::Var: {
        sum_t<T> s = 0;
        for (int64_t r = g.lane; r < inner; r += group) s += sum_t<T>(x[in.layout.at(base + r)]);
        s = group_allreduce(s, group, SumOp{});
        if (op == ReduceOp::Sum) {
          if (writer) store_as(out.data, out.dtype, out_off, s);
          break;
        }
        const double mean = double(s) / double(inner);
        if (op == ReduceOp::Mean) {
          if (writer) store_as(out.data, out.dtype, out_off, mean);
          break;
        }
        // Second pass over the row: sum of squared deviations from the mean.
        double m2 = 0.0;
        for (int64_t r = g.lane; r < inner; r += group) {
          const double d = double(x[in.layout.at(base + r)]) - mean;
          m2 += d * d;
        }
        m2 = group_allreduce(m2, group, SumOp{});
        // As the CPU: with correction >= inner the denominator is 0 and the result inf or NaN.
        const int64_t dof = inner - correction > 0 ? inner - correction : 0;
        if (writer) store_as(out.data, out.dtype, out_off, m2 / double(dof));
        break;
      }
      case ReduceOp::Max:
      case ReduceOp::Min: {
        const MaxMinOp<T> combine{op == ReduceOp::Max};
        T v = combine.is_max ? lowest_or_neg_inf<T>() : highest_or_inf<T>();
        for (int64_t r = g.lane; r < inner; r += group) v = combine(v, x[in.layout.at(base + r)]);
        v = group_allreduce(v, group, combine);
        if (writer) store_as(out.data, out.dtype, out_off, v);
        break;
      }
      case ReduceOp::ArgMax:
      case ReduceOp::ArgMin: {
        const ArgOp<T> combine{op == ReduceOp::ArgMax};
        // The starting value loses to every element (ties go to the lower index, and this index is
        // the largest possible), so an all -inf row still reports index 0.
        ArgVal<T> v{combine.is_max ? lowest_or_neg_inf<T>() : highest_or_inf<T>(),
                    std::numeric_limits<int64_t>::max()};
        for (int64_t r = g.lane; r < inner; r += group) v = combine(v, ArgVal<T>{x[in.layout.at(base + r)], r});
        v = group_allreduce(v, group, combine);
        if (writer) store_as(out.data, out.dtype, out_off, v.i);
        break;
      }
    }
  }
}

// ---- softmax -----------------------------------------------------------------------------------
// y = exp(x - max) / sum(exp(x - max)), or for log: y = x - max - log(sum(exp(x - max))). Subtracting
// the row max keeps exp() from overflowing; a NaN anywhere in the row makes the row NaN. The exps and
// the sum are computed in double, as the CPU does: the kernel is memory-bound on sm_80/sm_90 anyway,
// and float32 results are then rounded once, from a nearly exact value.
template <typename T>
__global__ void softmax_kernel(TensorRef out, TensorRef in, int64_t outer, int64_t inner, bool log_softmax,
                               int group) {
  const T* x = static_cast<const T*>(in.data);
  T* y = static_cast<T*>(out.data);
  const GroupIndex g(group);
  const MaxMinOp<T> max_op{true};
  for (int64_t row = g.first_row; row < outer; row += g.row_step) {
    const int64_t base = row * inner;
    T m = lowest_or_neg_inf<T>();
    for (int64_t r = g.lane; r < inner; r += group) m = max_op(m, x[in.layout.at(base + r)]);
    m = group_allreduce(m, group, max_op);
    const double md = double(m);
    double s = 0.0;
    for (int64_t r = g.lane; r < inner; r += group) s += ::exp(double(x[in.layout.at(base + r)]) - md);
    s = group_allreduce(s, group, SumOp{});
    const double log_s = ::log(s);
    for (int64_t r = g.lane; r < inner; r += group) {
      const double shifted = double(x[in.layout.at(base + r)]) - md;
      y[out.layout.at(base + r)] = T(log_softmax ? shifted - log_s : ::exp(shifted) / s);
    }
  }
}

// How many threads reduce one row (see the file comment). `unit_stride` says whether consecutive
// elements of a row are adjacent in memory; when they are not but consecutive rows are (a sum over
// dim 0 of [N, C] reads columns), a thread per row makes a warp's loads coalesced.
int choose_group(int64_t outer, int64_t inner, bool unit_stride) {
  const int64_t resident_threads = int64_t(sm_count()) * 2048;
  if (inner <= 16 || (!unit_stride && outer >= resident_threads / 2)) return 1;
  if (inner <= 512 || outer >= resident_threads / 32) return 32;  // short rows, or a warp per row fills the GPU
  return kReduceThreads;
}

bool rows_have_unit_stride(const Layout& l) {
  return l.contiguous || l.ndim == 0 || l.sizes[l.ndim - 1] == 1 || l.strides[l.ndim - 1] == 1;
}

unsigned reduce_grid(int64_t outer, int group) {
  // outer rows of `group` threads each, capped like every grid-stride launch.
  return grid_for(outer * group, kReduceThreads);
}

}  // namespace

void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) {
  check_reduce_args("cuda ", op, out, in, inner);
  const int64_t outer = out.layout.numel();
  if (outer == 0) return;
  const int group = choose_group(outer, inner, rows_have_unit_stride(in.layout));
  DDPM_DISPATCH_NUMERIC(in.dtype, "reduce",
                        reduce_kernel<scalar_t><<<reduce_grid(outer, group), kReduceThreads, 0, stream()>>>(
                            op, out, in, outer, inner, correction, group));
  DDPM_CUDA_CHECK_LAUNCH();
}

void softmax(TensorRef out, TensorRef in, int64_t inner, bool log) {
  DDPM_CHECK(out.layout.numel() == in.layout.numel(), "cuda softmax: out has ", out.layout.numel(),
             " elements, input has ", in.layout.numel());
  DDPM_CHECK(out.dtype == in.dtype, "cuda softmax: out is ", dtype_name(out.dtype), ", input is ",
             dtype_name(in.dtype));
  const int64_t n = in.layout.numel();
  if (n == 0 || inner <= 0) return;
  DDPM_CHECK(n % inner == 0, "cuda softmax: ", n, " elements do not make rows of ", inner);
  const int64_t outer = n / inner;
  const int group = choose_group(outer, inner, rows_have_unit_stride(in.layout));
  DDPM_DISPATCH_FLOAT(in.dtype, "softmax",
                      softmax_kernel<scalar_t><<<reduce_grid(outer, group), kReduceThreads, 0, stream()>>>(
                          out, in, outer, inner, log, group));
  DDPM_CUDA_CHECK_LAUNCH();
}

}  // namespace ddpm::gpu
