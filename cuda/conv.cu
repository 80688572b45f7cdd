// im2col and col2im on the GPU, the same layouts as tensor/cpu/cpu_conv.cpp. One thread per output
// element: im2col per column entry, col2im per image pixel, gathering the entries that came from it
// (scattering from the columns would need atomics, and their order, hence the rounding, varies).
#include <algorithm>
#include <limits>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernel_common.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// The geometry in the kernels' index type I. I is int32 when every index fits, because 64-bit
// division and modulo (five per element here) cost several times the instructions of 32-bit ones.
template <typename I>
struct Geom {
  I height, width, kh, kw, stride_h, stride_w, pad_h, pad_w, out_h, out_w;
};

template <typename I>
Geom<I> geom_as(const ConvGeometry& g) {
  return {I(g.height), I(g.width),    I(g.kh),    I(g.kw),    I(g.stride_h),
          I(g.stride_w), I(g.pad_h), I(g.pad_w), I(g.out_h), I(g.out_w)};
}

template <typename I>
__device__ __forceinline__ I imin(I a, I b) {
  return a < b ? a : b;
}

// cols [B, C*kh*kw, out_h*out_w]: cols[p, (i, j), (oh, ow)] = image[p, oh*sh - ph + i, ow*sw - pw + j]
// for each plane p = (b, c), or 0 where that pixel lies in the padding.
template <typename T, typename I>
__global__ void im2col_kernel(T* __restrict__ cols, const T* __restrict__ image, Geom<I> g, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  for (I k = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); k < n; k += step) {
    I rest = k;
    const I ow = rest % g.out_w;
    rest /= g.out_w;
    const I oh = rest % g.out_h;
    rest /= g.out_h;
    const I j = rest % g.kw;
    rest /= g.kw;
    const I i = rest % g.kh;
    const I plane = rest / g.kh;
    const I y = oh * g.stride_h - g.pad_h + i, x = ow * g.stride_w - g.pad_w + j;
    const bool inside = y >= 0 && y < g.height && x >= 0 && x < g.width;
    cols[k] = inside ? image[(plane * g.height + y) * g.width + x] : T(0);
  }
}

// image [B, C, H, W]: pixel (p, y, x) is the sum of the column entries (p, (i, j), (oh, ow)) with
// oh*sh - ph + i = y and ow*sw - pw + j = x. Only the windows that cover the pixel are visited.
template <typename T, typename I>
__global__ void col2im_kernel(T* __restrict__ image, const T* __restrict__ cols, Geom<I> g, I n) {
  const I step = I(gridDim.x) * I(blockDim.x);
  const I rows_per_plane = g.kh * g.kw * g.out_h * g.out_w;
  for (I k = I(blockIdx.x) * I(blockDim.x) + I(threadIdx.x); k < n; k += step) {
    const I x = k % g.width;
    const I rest = k / g.width;
    const I y = rest % g.height;
    const I plane = rest / g.height;
    const I yp = y + g.pad_h, xp = x + g.pad_w;  // the pixel in padded coordinates, >= 0
    // Window oh covers yp when oh*sh <= yp < oh*sh + kh, i.e. (yp - kh) / sh < oh <= yp / sh.
    const I oh_lo = yp < g.kh ? I(0) : (yp - g.kh) / g.stride_h + 1;
    const I oh_hi = imin(yp / g.stride_h + 1, g.out_h);
    const I ow_lo = xp < g.kw ? I(0) : (xp - g.kw) / g.stride_w + 1;
    const I ow_hi = imin(xp / g.stride_w + 1, g.out_w);
    const T* plane_cols = cols + plane * rows_per_plane;
    T sum = T(0);
    for (I oh = oh_lo; oh < oh_hi; ++oh) {
      const I i = yp - oh * g.stride_h;
      for (I ow = ow_lo; ow < ow_hi; ++ow) {
        const I j = xp - ow * g.stride_w;
        sum += plane_cols[((i * g.kw + j) * g.out_h + oh) * g.out_w + ow];
      }
    }
    image[k] = sum;
  }
}

// 32-bit indices when the larger tensor, plus a grid's worth of threads past its end (the last
// grid-stride step), stays far from overflow.
bool fits_int32(int64_t image_numel, int64_t cols_numel) {
  return std::max(image_numel, cols_numel) <= std::numeric_limits<int32_t>::max() / 2;
}

template <typename T>
void launch_im2col(T* cols, const T* image, const ConvGeometry& g, int64_t n, bool small) {
  const unsigned blocks = grid_for(n);
  if (small)
    im2col_kernel<T, int32_t><<<blocks, kBlockThreads, 0, stream()>>>(cols, image, geom_as<int32_t>(g), int32_t(n));
  else
    im2col_kernel<T, int64_t><<<blocks, kBlockThreads, 0, stream()>>>(cols, image, geom_as<int64_t>(g), n);
}

template <typename T>
void launch_col2im(T* image, const T* cols, const ConvGeometry& g, int64_t n, bool small) {
  const unsigned blocks = grid_for(n);
  if (small)
    col2im_kernel<T, int32_t><<<blocks, kBlockThreads, 0, stream()>>>(image, cols, geom_as<int32_t>(g), int32_t(n));
  else
    col2im_kernel<T, int64_t><<<blocks, kBlockThreads, 0, stream()>>>(image, cols, geom_as<int64_t>(g), n);
}

void check_conv_args(const char* op, TensorRef cols, TensorRef image, const ConvGeometry& g) {
  DDPM_CHECK(cols.dtype == image.dtype, "cuda ", op, ": cols is ", dtype_name(cols.dtype), ", image is ",
             dtype_name(image.dtype));
  DDPM_CHECK(cols.layout.contiguous && image.layout.contiguous, "cuda ", op, ": cols and image must be contiguous");
  DDPM_CHECK(image.layout.numel() == g.batch * g.channels * g.height * g.width &&
                 cols.layout.numel() == g.batch * g.channels * g.kh * g.kw * g.out_h * g.out_w,
             "cuda ", op, ": tensor sizes do not match the geometry");
}

}  // namespace

void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g) {
  check_conv_args("im2col", cols, image, g);
  const int64_t n = cols.layout.numel();
  if (n == 0) return;
  const bool small = fits_int32(image.layout.numel(), n);
  DDPM_DISPATCH_FLOAT(image.dtype, "im2col",
                      launch_im2col(static_cast<scalar_t*>(cols.data) + cols.layout.offset,
                                    static_cast<const scalar_t*>(image.data) + image.layout.offset, g, n, small));
  DDPM_CUDA_CHECK_LAUNCH();
}

void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g) {
  check_conv_args("col2im", cols, image, g);
  const int64_t n = image.layout.numel();
  if (n == 0) return;
  const bool small = fits_int32(n, cols.layout.numel());
  DDPM_DISPATCH_FLOAT(image.dtype, "col2im",
                      launch_col2im(static_cast<scalar_t*>(image.data) + image.layout.offset,
                                    static_cast<const scalar_t*>(cols.data) + cols.layout.offset, g, n, small));
  DDPM_CUDA_CHECK_LAUNCH();
}

}  // namespace ddpm::gpu
