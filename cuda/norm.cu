// Group norm forward and backward on the GPU (layer norm is the case G = 1, HW = 1).
// x is [B, C, HW] contiguous, Cg = C / G channels per group; group bg = b * G + g is the n = Cg * HW
// contiguous elements from bg * n, and row (b, c) = b * C + c is the HW elements from row * HW.
//   forward:  one block per group: the mean, then the variance (two passes, in double), then y.
//   backward: (1) per row (b, c): sum(dy * xhat) and sum(dy), in double, into a scratch buffer;
//             (2) one block per group: the group's sums from (1), then dx;
//             (3) dweight[c] and dbias[c]: the sums of (1) over b.
// Every sum is combined in a fixed order, so the results are the same from run to run.
#include <cstdint>
#include <limits>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernels.hpp"
#include "tensor/allocator.hpp"
#include "tensor/norm_args.hpp"
#include "tensor/norm_math.hpp"

namespace ddpm::gpu {

namespace {

// The sum of v over the warp, returned to every lane.
__device__ __forceinline__ double warp_sum(double v) {
  for (int mask = 16; mask > 0; mask >>= 1) v += __shfl_xor_sync(0xffffffffu, v, mask);
  return v;
}

// The sum of v over the block (blockDim.x a multiple of 32), returned to every thread. Every thread
// of the block must call it (it synchronises).
__device__ double block_sum(double v) {
  __shared__ double warp_sums[32];
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, nwarps = blockDim.x / 32;
  __syncthreads();  // the previous call's readers are done with warp_sums
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  double s = warp_sums[0];  // every thread adds the warp sums in the same order
  for (int w = 1; w < nwarps; ++w) s += warp_sums[w];
  return s;
}

// ---- forward ------------------------------------------------------------------------------------
// Block bg normalises group bg. hw and cg fit in 32 bits (checked on the host), so that the channel
// of element i, i / hw, is a cheap 32-bit division.
template <typename T>
__global__ void forward_kernel(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, uint32_t n, uint32_t hw,
                               uint32_t cg, uint32_t groups, double eps) {
  const int64_t bg = blockIdx.x;
  const T* xg = x + bg * n;
  T* yg = y + bg * n;
  double s = 0.0;
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) s += double(xg[i]);
  const double mu = block_sum(s) / double(n);
  double m2 = 0.0;
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    const double d = double(xg[i]) - mu;
    m2 += d * d;
  }
  const double var = block_sum(m2) / double(n);  // biased, as PyTorch's normalisation
  // Normalise with the saved (T-rounded) values, so that backward sees exactly what forward used.
  const T m = T(mu), r = T(1.0 / sqrt(var + eps));
  if (threadIdx.x == 0) {
    mean[bg] = m;
    rstd[bg] = r;
  }
  const uint32_t c0 = uint32_t(bg % groups) * cg;  // the group's first channel
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    const uint32_t c = c0 + i / hw;
    yg[i] = group_norm_apply(xg[i], m, w ? r * w[c] : r, b ? b[c] : T(0));
  }
}

// ---- backward (1): per-row sums -------------------------------------------------------------------
// Row (b, c) is summed by a group of `group` threads: 1 (short rows: adjacent threads then read
// adjacent rows, which is coalesced), 32 (a warp) or blockDim.x (long rows, one block each).
// dy_xhat[row] = sum(dy * (x - mean)) * rstd, dy_sum[row] = sum(dy).
template <typename T>
__global__ void row_sums_kernel(double* dy_xhat, double* dy_sum, const T* dy, const T* x, const T* mean,
                                const T* rstd, int64_t rows, int64_t hw, int64_t cg, int group) {
  const int lane = int(threadIdx.x) % group;
  const int64_t first = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / group;
  const int64_t step = int64_t(gridDim.x) * blockDim.x / group;
  // Every thread of a group runs the same rows, so a block-wide group reaches block_sum together.
  for (int64_t row = first; row < rows; row += step) {
    const int64_t bg = row / cg;  // (b C + c) / Cg = b G + c / Cg, as C = G Cg
    const double mu = double(mean[bg]);
    const T* dyr = dy + row * hw;
    const T* xr = x + row * hw;
    double s_dy = 0.0, s_dyx = 0.0;
    for (int64_t i = lane; i < hw; i += group) {
      const double d = double(dyr[i]);
      s_dy += d;
      s_dyx += d * (double(xr[i]) - mu);
    }
    if (group == 32) {
      s_dy = warp_sum(s_dy);
      s_dyx = warp_sum(s_dyx);
    } else if (group > 32) {
      s_dy = block_sum(s_dy);
      s_dyx = block_sum(s_dyx);
    }
    if (lane == 0) {
      dy_sum[row] = s_dy;
      dy_xhat[row] = double(rstd[bg]) * s_dyx;
    }
  }
}

// ---- backward (2): dx ------------------------------------------------------------------------------
template <typename T>
__global__ void dx_kernel(T* dx, const T* dy, const T* x, const T* mean, const T* rstd, const T* w,
                          const double* dy_xhat, const double* dy_sum, uint32_t n, uint32_t hw, uint32_t cg,
                          uint32_t groups) {
  const int64_t bg = blockIdx.x;
  const uint32_t c0 = uint32_t(bg % groups) * cg;  // the group's first channel
  const int64_t row0 = bg * cg;                   // its first row (b, c0) = b C + g Cg = bg Cg
  double s_wdy = 0.0, s_wdy_xhat = 0.0;
  for (uint32_t j = threadIdx.x; j < cg; j += blockDim.x) {
    const double wc = w ? double(w[c0 + j]) : 1.0;
    s_wdy += wc * dy_sum[row0 + j];
    s_wdy_xhat += wc * dy_xhat[row0 + j];
  }
  s_wdy = block_sum(s_wdy);
  s_wdy_xhat = block_sum(s_wdy_xhat);
  const T r = rstd[bg], m = mean[bg];
  const GroupNormDxCoeffs k = group_norm_dx_coeffs(s_wdy, s_wdy_xhat, double(r), double(n));
  const T coef_x = T(k.coef_x), coef_0 = T(k.coef_0);
  const T* xg = x + bg * n;
  const T* dyg = dy + bg * n;
  T* dxg = dx + bg * n;
  for (uint32_t i = threadIdx.x; i < n; i += blockDim.x) {
    const uint32_t c = c0 + i / hw;
    dxg[i] = group_norm_dx(dyg[i], xg[i], m, w ? r * w[c] : r, coef_x, coef_0);
  }
}

// ---- backward (3): dweight, dbias ---------------------------------------------------------------------
// dweight[c] = sum_b dy_xhat[b, c], dbias[c] = sum_b dy_sum[b, c]. A block is 32 x kSlices threads:
// x picks the channel (a warp reads 32 adjacent values), y a slice of the batch; the slices' partial
// sums are then added in order.
constexpr int kSlices = 8;

template <typename T>
__global__ void weight_grads_kernel(T* dweight, T* dbias, const double* dy_xhat, const double* dy_sum, int64_t batch,
                                    int64_t channels) {
  __shared__ double part_w[kSlices][32], part_b[kSlices][32];
  const int64_t c = int64_t(blockIdx.x) * 32 + threadIdx.x;
  double sw = 0.0, sb = 0.0;
  if (c < channels) {
    for (int64_t b = threadIdx.y; b < batch; b += kSlices) {
      sw += dy_xhat[b * channels + c];
      sb += dy_sum[b * channels + c];
    }
  }
  part_w[threadIdx.y][threadIdx.x] = sw;
  part_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y != 0 || c >= channels) return;
  for (int s = 1; s < kSlices; ++s) {
    sw += part_w[s][threadIdx.x];
    sb += part_b[s][threadIdx.x];
  }
  if (dweight) dweight[c] = T(sw);
  if (dbias) dbias[c] = T(sb);
}

// ---- host side ----------------------------------------------------------------------------------
// The shared checks, plus the limits of the kernels' 32-bit indexing.
void check_cuda_limits(const char* op, const NormShape& s) {
  DDPM_CHECK(s.n <= std::numeric_limits<int32_t>::max(), op, ": a group of ", s.n,
             " elements is too large for the CUDA kernel (at most 2^31 - 1)");
  DDPM_CHECK(s.batch * s.groups <= std::numeric_limits<int32_t>::max(), op, ": ", s.batch * s.groups,
             " groups are too many for one CUDA grid");
  DDPM_CHECK(s.channels <= std::numeric_limits<int32_t>::max(), op, ": ", s.channels,
             " channels are too many for the CUDA kernel (at most 2^31 - 1)");
}

// A tensor's first element, or nullptr for an absent (non-affine) weight or bias.
template <typename T>
T* first(TensorRef t) {
  return t.data ? static_cast<T*>(t.data) + t.layout.offset : nullptr;
}

// Threads for a block that walks n elements: a power of two from 32 to 512, about 8 elements each.
int block_threads(int64_t n) {
  int t = 32;
  while (t < 512 && int64_t(t) * 8 < n) t *= 2;
  return t;
}

// Temporary device memory from the caching allocator. Freeing it right after the launches is safe:
// every kernel runs on stream(), so the next user of the block runs after the kernels that read it.
class Scratch {
 public:
  explicit Scratch(size_t nbytes) : ptr_(allocator().allocate(nbytes)) {}
  ~Scratch() { allocator().deallocate(ptr_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  double* doubles() const { return static_cast<double*>(ptr_); }

 private:
  void* ptr_;
};

template <typename T>
void forward_typed(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef w, TensorRef b,
                   const NormShape& s, double eps) {
  forward_kernel<T><<<unsigned(s.batch * s.groups), block_threads(s.n), 0, stream()>>>(
      first<T>(y), first<T>(mean), first<T>(rstd), first<const T>(x), first<const T>(w), first<const T>(b),
      uint32_t(s.n), uint32_t(s.hw), uint32_t(s.cg), uint32_t(s.groups), eps);
  DDPM_CUDA_CHECK_LAUNCH();
}

template <typename T>
void backward_typed(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x, TensorRef mean,
                    TensorRef rstd, TensorRef w, const NormShape& s) {
  const int64_t rows = s.batch * s.channels;
  Scratch scratch(size_t(2 * rows) * sizeof(double));
  double* dy_xhat = scratch.doubles();
  double* dy_sum = dy_xhat + rows;

  // (1) A thread per row for rows of up to 8 elements, a warp up to 1024, else a block of 256.
  // grid_for sizes the grid-stride loop over rows * group threads.
  const int group = s.hw <= 8 ? 1 : s.hw <= 1024 ? 32 : 256;
  const int threads = group == 256 ? 256 : 128;
  row_sums_kernel<T><<<grid_for(rows * group, threads), threads, 0, stream()>>>(
      dy_xhat, dy_sum, first<const T>(dy), first<const T>(x), first<const T>(mean), first<const T>(rstd), rows, s.hw,
      s.cg, group);
  DDPM_CUDA_CHECK_LAUNCH();

  // (2)
  dx_kernel<T><<<unsigned(s.batch * s.groups), block_threads(s.n), 0, stream()>>>(
      first<T>(dx), first<const T>(dy), first<const T>(x), first<const T>(mean), first<const T>(rstd),
      first<const T>(w), dy_xhat, dy_sum, uint32_t(s.n), uint32_t(s.hw), uint32_t(s.cg), uint32_t(s.groups));
  DDPM_CUDA_CHECK_LAUNCH();

  // (3)
  if (dweight.data || dbias.data) {
    weight_grads_kernel<T><<<unsigned((s.channels + 31) / 32), dim3(32, kSlices), 0, stream()>>>(
        first<T>(dweight), first<T>(dbias), dy_xhat, dy_sum, s.batch, s.channels);
    DDPM_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                        int64_t groups, double eps) {
  const char* op = "cuda group_norm";
  const NormShape s = check_group_norm_forward(op, y, mean, rstd, x, weight, bias, groups);
  check_cuda_limits(op, s);
  if (x.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(x.dtype, op, forward_typed<scalar_t>(y, mean, rstd, x, weight, bias, s, eps));
}

void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                         TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups) {
  const char* op = "cuda group_norm backward";
  const NormShape s = check_group_norm_backward(op, dx, dweight, dbias, dy, x, mean, rstd, weight, groups);
  check_cuda_limits(op, s);
  DDPM_CHECK(x.layout.numel() > 0, op, ": x has no elements");
  DDPM_DISPATCH_FLOAT(x.dtype, op, backward_typed<scalar_t>(dx, dweight, dbias, dy, x, mean, rstd, weight, s));
}

}  // namespace ddpm::gpu
