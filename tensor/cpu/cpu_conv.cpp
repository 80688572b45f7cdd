// im2col and col2im: the data movement that turns a convolution into one GEMM (nn/functional_conv.cpp).
// Each (image, channel) plane owns kh*kw rows of the column matrix, so planes run in parallel and
// col2im can add into its own plane without atomics.
#include <algorithm>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

// Output positions o in [0, out) whose input position o * stride + shift lies in [0, in): [lo, hi).
// The rows of a column matrix are zero (padding) outside this range and a strided copy inside it.
struct Valid {
  int64_t lo, hi;
};
Valid valid_range(int64_t in, int64_t out, int64_t stride, int64_t shift) {
  const int64_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;       // first o with o*s + shift >= 0
  const int64_t hi = in - shift <= 0 ? 0 : (in - shift + stride - 1) / stride;  // first o with o*s + shift >= in
  const int64_t l = std::min(lo, out), h = std::min(hi, out);
  return {l, std::max(l, h)};
}

// Planes per thread at least, so that a thread gets some kParallelGrain elements of work.
int64_t plane_grain(const ConvGeometry& g) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, g.kh * g.kw * g.out_h * g.out_w));
}

template <typename T>
void im2col_typed(T* cols, const T* image, const ConvGeometry& g) {
  const int64_t hw = g.height * g.width, l = g.out_h * g.out_w, rows = g.kh * g.kw;
  parallel_for(g.batch * g.channels, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* src = image + p * hw;  // image plane p = (b, c): [H, W]
      T* dst = cols + p * rows * l;   // its rows (c, i, j) of cols[b]: [kh*kw, out_h*out_w]
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t shift = j - g.pad_w;  // output column ow reads input column ow * stride_w + shift
          const Valid xs = valid_range(g.width, g.out_w, g.stride_w, shift);
          for (int64_t oh = 0; oh < g.out_h; ++oh) {
            T* row = dst + ((i * g.kw + j) * g.out_h + oh) * g.out_w;
            const int64_t y = oh * g.stride_h - g.pad_h + i;
            if (y < 0 || y >= g.height) {
              std::fill(row, row + g.out_w, T(0));
              continue;
            }
            const T* in = src + y * g.width;  // row[ow] = in[ow * stride_w + shift] inside the range
            std::fill(row, row + xs.lo, T(0));
            if (g.stride_w == 1) {
              std::copy(in + xs.lo + shift, in + xs.hi + shift, row + xs.lo);
            } else {
              for (int64_t ow = xs.lo; ow < xs.hi; ++ow) row[ow] = in[ow * g.stride_w + shift];
            }
            std::fill(row + xs.hi, row + g.out_w, T(0));
          }
        }
      }
    }
  });
}

template <typename T>
void col2im_typed(T* image, const T* cols, const ConvGeometry& g) {
  const int64_t hw = g.height * g.width, l = g.out_h * g.out_w, rows = g.kh * g.kw;
  parallel_for(g.batch * g.channels, plane_grain(g), [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      T* dst = image + p * hw;
      const T* src = cols + p * rows * l;
      std::fill(dst, dst + hw, T(0));
      // The same walk as im2col with the copy reversed into +=; padding entries are dropped.
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t shift = j - g.pad_w;  // output column ow reads input column ow * stride_w + shift
          const Valid xs = valid_range(g.width, g.out_w, g.stride_w, shift);
          for (int64_t oh = 0; oh < g.out_h; ++oh) {
            const int64_t y = oh * g.stride_h - g.pad_h + i;
            if (y < 0 || y >= g.height) continue;
            const T* row = src + ((i * g.kw + j) * g.out_h + oh) * g.out_w;
            T* out = dst + y * g.width;
            if (g.stride_w == 1) {
              for (int64_t ow = xs.lo; ow < xs.hi; ++ow) out[ow + shift] += row[ow];
            } else {
              for (int64_t ow = xs.lo; ow < xs.hi; ++ow) out[ow * g.stride_w + shift] += row[ow];
            }
          }
        }
      }
    }
  });
}

void check_conv_args(const char* op, TensorRef cols, TensorRef image, const ConvGeometry& g) {
  DDPM_CHECK(cols.dtype == image.dtype, op, ": cols is ", dtype_name(cols.dtype), ", image is ",
             dtype_name(image.dtype));
  DDPM_CHECK(cols.layout.contiguous && image.layout.contiguous, op, ": cols and image must be contiguous");
  DDPM_CHECK(image.layout.numel() == g.batch * g.channels * g.height * g.width &&
                 cols.layout.numel() == g.batch * g.channels * g.kh * g.kw * g.out_h * g.out_w,
             op, ": tensor sizes do not match the geometry");
}

}  // namespace

void im2col(TensorRef cols, TensorRef image, const ConvGeometry& g) {
  check_conv_args("im2col", cols, image, g);
  if (cols.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(image.dtype, "im2col",
                      im2col_typed(static_cast<scalar_t*>(cols.data) + cols.layout.offset,
                                   static_cast<const scalar_t*>(image.data) + image.layout.offset, g));
}

void col2im(TensorRef image, TensorRef cols, const ConvGeometry& g) {
  check_conv_args("col2im", cols, image, g);
  if (image.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(image.dtype, "col2im",
                      col2im_typed(static_cast<scalar_t*>(image.data) + image.layout.offset,
                                   static_cast<const scalar_t*>(cols.data) + cols.layout.offset, g));
}

}  // namespace ddpm::cpu
