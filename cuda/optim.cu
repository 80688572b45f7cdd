// The optimizer kernels on the GPU: an AdamW step and an EMA update over all parameters in ONE
// launch each, and the sum of squares of many tensors (gradient clipping) in two small launches.
//
// How one launch covers a few hundred tensors (a multi-tensor kernel): the host packs a table of
// the tensors' pointers and sizes into the kernel's parameter block. CUDA 12.1+ on sm_70+ allows
// 32764 bytes of parameters, room for ~580 tensors, so nothing is copied to the device first (a
// device table would need a copy per step from pinned memory, guarded by an event, or a sync). A
// `__grid_constant__` parameter is read in place from the constant bank, never copied per thread.
// Lists longer than a table are split into several launches (the cifar10 U-Net has ~300 tensors).
//
// The kernel treats the tensors as one virtual concatenation and runs the ordinary grid-stride loop
// over it: thread t of G handles virtual elements t, t + G, t + 2G, ... In tensor j, which starts at
// virtual element S_j, those are the local elements i = (t - S_j) mod G, then + G, ... The host
// stores shift_j = S_j mod G, so each thread walks the table once without a division. Every thread
// gets the same number of elements (+-1) whatever the mix of small and large tensors, and
// neighbouring threads touch neighbouring elements (coalesced).
#include <array>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernels.hpp"
#include "tensor/allocator.hpp"
#include "tensor/optim_math.hpp"

namespace ddpm::gpu {

namespace {

constexpr int kOptimThreads = 256;
// The kernel parameter limit on sm_70+ (CUDA 12.1+), less room for the other parameters.
constexpr size_t kTableBytes = 32764 - 256;

// One tensor of a launch: P pointers to its first elements (param, grad, m, v for AdamW), its size,
// its shift (above) and dtype (sum_of_squares reads float32 and float64 tensors in one launch).
template <int P>
struct TableEntry {
  void* ptr[P];
  int64_t numel;
  int64_t shift;
  DType dtype;
};

template <int P>
struct TensorTable {
  static constexpr int kCapacity = int((kTableBytes - 8) / sizeof(TableEntry<P>));
  int count = 0;
  TableEntry<P> entries[kCapacity];
};
static_assert(sizeof(TensorTable<4>) <= kTableBytes, "the AdamW table must fit in the kernel parameters");

// The first local element of tensor `e` that thread t of `threads` handles: (t - shift) mod threads.
template <int P>
__device__ __forceinline__ int64_t first_element(const TableEntry<P>& e, int64_t t, int64_t threads) {
  const int64_t i = t - e.shift;
  return i < 0 ? i + threads : i;
}

// Packs the tensors of P parallel lists into tables of at most kCapacity tensors and calls
// launch(table, grid) for each, with shifts computed for that launch's grid. Empty tensors are left
// out; nothing is launched when all are empty.
template <int P, typename Launch>
void for_each_table(const std::array<const std::vector<TensorRef>*, P>& lists, const Launch& launch) {
  const size_t n = lists[0]->size();
  size_t next = 0;
  while (next < n) {
    TensorTable<P> table;
    int64_t total = 0;
    for (; next < n && table.count < TensorTable<P>::kCapacity; ++next) {
      const TensorRef& lead = (*lists[0])[next];
      const int64_t numel = lead.layout.numel();
      if (numel == 0) continue;
      TableEntry<P>& e = table.entries[table.count++];
      for (int k = 0; k < P; ++k) {
        const TensorRef& r = (*lists[k])[next];
        e.ptr[k] = static_cast<char*>(r.data) + r.layout.offset * int64_t(dtype_size(r.dtype));
      }
      e.numel = numel;
      e.dtype = lead.dtype;
      total += numel;
    }
    if (total == 0) continue;
    const unsigned grid = grid_for(total, kOptimThreads);
    const int64_t threads = int64_t(grid) * kOptimThreads;
    int64_t start = 0;  // S_j mod threads
    for (int j = 0; j < table.count; ++j) {
      table.entries[j].shift = start;
      start = (start + table.entries[j].numel) % threads;
    }
    launch(table, grid);
  }
}

// ---- AdamW -------------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kOptimThreads)
    adamw_kernel(const __grid_constant__ TensorTable<4> table, const AdamWScalars<T> s) {
  const int64_t threads = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int j = 0; j < table.count; ++j) {
    const TableEntry<4>& e = table.entries[j];
    T* p = static_cast<T*>(e.ptr[0]);
    const T* g = static_cast<const T*>(e.ptr[1]);
    T* m = static_cast<T*>(e.ptr[2]);
    T* v = static_cast<T*>(e.ptr[3]);
    for (int64_t i = first_element(e, t, threads); i < e.numel; i += threads) {
      T pi = p[i], mi = m[i], vi = v[i];  // registers: p, m, v may alias as far as the compiler knows
      adamw_update(pi, g[i], mi, vi, s);
      p[i] = pi;
      m[i] = mi;
      v[i] = vi;
    }
  }
}

// ---- EMA ---------------------------------------------------------------------------------------
template <typename T>
__global__ void __launch_bounds__(kOptimThreads)
    ema_kernel(const __grid_constant__ TensorTable<2> table, const T decay, const T one_minus_decay) {
  const int64_t threads = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int j = 0; j < table.count; ++j) {
    const TableEntry<2>& e = table.entries[j];
    T* ema = static_cast<T*>(e.ptr[0]);
    const T* param = static_cast<const T*>(e.ptr[1]);
    for (int64_t i = first_element(e, t, threads); i < e.numel; i += threads)
      ema[i] = ema_value(ema[i], param[i], decay, one_minus_decay);
  }
}

// ---- sum of squares ----------------------------------------------------------------------------
// The sum of v over the block, returned to thread 0: warp shuffles, then the warps' sums in order
// (a fixed order, so the result is the same from run to run).
__device__ double block_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  __shared__ double warp_sums[kOptimThreads / 32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double total = 0.0;
  if (threadIdx.x == 0)
    for (int w = 0; w < int(blockDim.x / 32); ++w) total += warp_sums[w];
  return total;
}

template <typename T>
__device__ __forceinline__ double squares_of(const TableEntry<1>& e, int64_t t, int64_t threads) {
  const T* x = static_cast<const T*>(e.ptr[0]);
  double s = 0.0;
  for (int64_t i = first_element(e, t, threads); i < e.numel; i += threads) s += double(x[i]) * double(x[i]);
  return s;
}

// Each block writes the sum of squares of its elements to partial[blockIdx.x].
__global__ void __launch_bounds__(kOptimThreads)
    squares_partial_kernel(const __grid_constant__ TensorTable<1> table, double* partial) {
  const int64_t threads = int64_t(gridDim.x) * blockDim.x;
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  double s = 0.0;
  for (int j = 0; j < table.count; ++j) {
    const TableEntry<1>& e = table.entries[j];
    s += e.dtype == DType::Float64 ? squares_of<double>(e, t, threads) : squares_of<float>(e, t, threads);
  }
  s = block_sum(s);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// One block: out[0] = sum of the n partial sums.
__global__ void __launch_bounds__(kOptimThreads) sum_partials_kernel(const double* partial, int64_t n, double* out) {
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partial[i];
  s = block_sum(s);
  if (threadIdx.x == 0) out[0] = s;
}

// Device scratch memory from the caching allocator, returned when the scope ends. Returning it right
// after the launches is safe: the next user's kernels run after ours on the same stream.
struct Scratch {
  explicit Scratch(size_t nbytes) : ptr(allocator().allocate(nbytes)) {}
  ~Scratch() { allocator().deallocate(ptr); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  void* ptr;
};

}  // namespace

void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step) {
  check_multi_tensor_lists("adamw_step", {&params, &grads, &m, &v});
  if (params.empty()) return;
  DDPM_DISPATCH_FLOAT(params[0].dtype, "adamw_step", {
    const AdamWScalars<scalar_t> s = adamw_scalars<scalar_t>(step);
    for_each_table<4>({&params, &grads, &m, &v}, [&](const TensorTable<4>& table, unsigned grid) {
      adamw_kernel<scalar_t><<<grid, kOptimThreads, 0, stream()>>>(table, s);
      DDPM_CUDA_CHECK_LAUNCH();
    });
  });
}

void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay) {
  check_multi_tensor_lists("ema_update", {&ema, &params});
  if (ema.empty()) return;
  DDPM_DISPATCH_FLOAT(ema[0].dtype, "ema_update", {
    const scalar_t d = scalar_t(decay), one_minus_d = scalar_t(1.0 - decay);
    for_each_table<2>({&ema, &params}, [&](const TensorTable<2>& table, unsigned grid) {
      ema_kernel<scalar_t><<<grid, kOptimThreads, 0, stream()>>>(table, d, one_minus_d);
      DDPM_CUDA_CHECK_LAUNCH();
    });
  });
}

void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors) {
  DDPM_CHECK(out.dtype == DType::Float64 && out.layout.numel() == 1, "sum_of_squares: out must be one float64 element");
  for (size_t j = 0; j < tensors.size(); ++j) {
    const TensorRef& t = tensors[j];
    DDPM_CHECK(t.layout.contiguous, "sum_of_squares: tensor ", j, " is not contiguous");
    DDPM_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, "sum_of_squares: tensor ", j, " is ",
               dtype_name(t.dtype), ", expected float32 or float64");
  }
  double* result = static_cast<double*>(out.data) + out.layout.offset;
  // First the blocks of every launch write their partial sums, then one block adds them in order.
  int64_t blocks = 0;
  for_each_table<1>({&tensors}, [&](const TensorTable<1>&, unsigned grid) { blocks += grid; });
  if (blocks == 0) {  // no elements at all
    DDPM_CUDA_CHECK(cudaMemsetAsync(result, 0, sizeof(double), stream()));
    return;
  }
  Scratch partial(size_t(blocks) * sizeof(double));
  double* next = static_cast<double*>(partial.ptr);
  for_each_table<1>({&tensors}, [&](const TensorTable<1>& table, unsigned grid) {
    squares_partial_kernel<<<grid, kOptimThreads, 0, stream()>>>(table, next);
    DDPM_CUDA_CHECK_LAUNCH();
    next += grid;
  });
  sum_partials_kernel<<<1, kOptimThreads, 0, stream()>>>(static_cast<double*>(partial.ptr), blocks, result);
  DDPM_CUDA_CHECK_LAUNCH();
}

}  // namespace ddpm::gpu
