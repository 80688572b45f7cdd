// Convolution on the CPU. im2col and col2im are the readable data movement that turns a convolution
// into one GEMM (nn/functional_conv.cpp); each (image, channel) plane owns kh*kw rows of the column
// matrix, so planes run in parallel and col2im adds into its own plane without atomics.
// conv2d and conv2d_weight_grad (float32) are the fast path: the same GEMMs on the blocked engine,
// with the column matrix never written out: stride 1 reads it in place from a padded copy of each
// image (cpu_conv_direct.cpp), other strides pack each tile of it straight from the image (below).
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "tensor/cpu/cpu_conv_direct.hpp"
#include "tensor/cpu/cpu_gemm_blocked.hpp"
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

// The output positions [q, q + len) as runs within one output row: run r covers positions
// t in [start, start + len) of the range, output row oh, columns ow .. ow + len.
struct Run {
  int64_t start, len, oh, ow;
};
void runs_of(const ConvGeometry& g, int64_t q, int64_t len, std::vector<Run>& runs) {
  runs.clear();
  int64_t oh = q / g.out_w, ow = q % g.out_w;
  for (int64_t t = 0; t < len; ++oh, ow = 0) {
    const int64_t n = std::min(len - t, g.out_w - ow);
    runs.push_back({t, n, oh, ow});
    t += n;
  }
}

// Row p = (c, i, j) of image x's column matrix [C*kh*kw, out_h*out_w] over the output positions
// of `runs`: dst[t * stride] = cols[p, q + t], zero where the tap falls in the padding.
struct Tap {
  int64_t c, i, j;
  Tap(int64_t p, const ConvGeometry& g) : c(p / (g.kh * g.kw)), i(p / g.kw % g.kh), j(p % g.kw) {}
  void next(const ConvGeometry& g) {  // to row p + 1
    if (++j == g.kw) {
      j = 0;
      if (++i == g.kh) i = 0, ++c;
    }
  }
};
template <int64_t kStride>
inline void read_cols_row(const float* x, const ConvGeometry& g, const Tap& tap, const std::vector<Run>& runs,
                          float* dst) {
  const float* plane = x + tap.c * g.height * g.width;
  const int64_t shift = tap.j - g.pad_w;  // output column ow reads input column ow * stride_w + shift
  const Valid xs = valid_range(g.width, g.out_w, g.stride_w, shift);  // the columns that read the image
  for (const Run& r : runs) {
    const int64_t y = r.oh * g.stride_h - g.pad_h + tap.i;
    float* d = dst + r.start * kStride;
    int64_t lo = 0, hi = 0;  // the part of the run that reads the image: [lo, hi) within the run
    if (y >= 0 && y < g.height) {
      lo = std::clamp(xs.lo - r.ow, int64_t(0), r.len);
      hi = std::clamp(xs.hi - r.ow, lo, r.len);
    }
    for (int64_t s = 0; s < lo; ++s) d[s * kStride] = 0.0f;
    if (hi > lo) {
      const float* in = plane + y * g.width + r.ow * g.stride_w + shift;  // column ow of the run
      if (g.stride_w == 1) {
        for (int64_t s = lo; s < hi; ++s) d[s * kStride] = in[s];
      } else {
        for (int64_t s = lo; s < hi; ++s) d[s * kStride] = in[s * g.stride_w];
      }
    }
    for (int64_t s = hi; s < r.len; ++s) d[s * kStride] = 0.0f;
  }
}

// Packs B(p, q) = cols(x)[p, q0 + q] for the blocked engine (conv2d: B is the column matrix).
struct ColumnsB {
  const float* x;  // one image [C, H, W]
  const ConvGeometry* g;
  int64_t q0;      // first output position of this product's columns
  void operator()(int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) const {
    static thread_local std::vector<Run> runs;
    for (int64_t jp = 0; jp < nc; jp += blocked::kNR, dst += kc * blocked::kNR) {
      const int64_t cols = std::min<int64_t>(blocked::kNR, nc - jp);
      runs_of(*g, q0 + j0 + jp, cols, runs);
      Tap tap(p0, *g);
      for (int64_t p = 0; p < kc; ++p, tap.next(*g)) {
        float* d = dst + p * blocked::kNR;
        read_cols_row<1>(x, *g, tap, runs, d);
        for (int64_t t = cols; t < blocked::kNR; ++t) d[t] = 0.0f;
      }
    }
  }
};

// Packs B(q, p) = cols(x)[p, q]: the transposed column matrix (conv2d_weight_grad: depth runs
// over output positions, columns over the rows p of the column matrix).
struct ColumnsTransposedB {
  const float* x;
  const ConvGeometry* g;
  void operator()(int64_t q0, int64_t kc, int64_t j0, int64_t nc, float* dst) const {
    static thread_local std::vector<Run> runs;
    runs_of(*g, q0, kc, runs);
    for (int64_t jp = 0; jp < nc; jp += blocked::kNR, dst += kc * blocked::kNR) {
      const int64_t cols = std::min<int64_t>(blocked::kNR, nc - jp);
      Tap tap(j0 + jp, *g);
      for (int64_t jj = 0; jj < blocked::kNR; ++jj, tap.next(*g)) {
        if (jj < cols) read_cols_row<blocked::kNR>(x, *g, tap, runs, dst + jj);
        else for (int64_t q = 0; q < kc; ++q) dst[q * blocked::kNR + jj] = 0.0f;
      }
    }
  }
};

void check_conv_args(const char* op, TensorRef cols, TensorRef image, const ConvGeometry& g) {
  DDPM_CHECK(cols.dtype == image.dtype, op, ": cols is ", dtype_name(cols.dtype), ", image is ",
             dtype_name(image.dtype));
  DDPM_CHECK(cols.layout.contiguous && image.layout.contiguous, op, ": cols and image must be contiguous");
  DDPM_CHECK(image.layout.numel() == g.batch * g.channels * g.height * g.width &&
                 cols.layout.numel() == g.batch * g.channels * g.kh * g.kw * g.out_h * g.out_w,
             op, ": tensor sizes do not match the geometry");
}

void check_conv_kernel_args(const char* op, std::initializer_list<TensorRef> ts) {
  for (const TensorRef& t : ts) {
    DDPM_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, op, ": dtype ", dtype_name(t.dtype),
               " is not supported, expected float32 or float64");
    DDPM_CHECK(t.dtype == ts.begin()->dtype, op, ": the tensors' dtypes differ");
    DDPM_CHECK(t.layout.contiguous, op, ": every tensor must be contiguous");
  }
}

// x, or silu(x) written out when silu_x and the path taken does not apply silu as it reads x (only
// the float32 stride-1 path does).
struct SiluInput {
  TensorRef ref;
  std::vector<double> storage;  // float32 or float64 values, as x's dtype
  SiluInput(TensorRef x, const ConvGeometry& g, bool silu_x) : ref(x) {
    if (!silu_x || (x.dtype == DType::Float32 && conv_is_stride1(g))) return;
    const int64_t n = x.layout.numel();
    storage.resize(size_t(x.dtype == DType::Float64 ? n : (n + 1) / 2));
    ref.data = storage.data();
    ref.layout.offset = 0;
    unary(UnaryOp::Silu, ref, x, 0.0, 0.0);
  }
};

// float64 (gradient checks): the column matrix written out by im2col, then one gemm call.
void conv_f64(TensorRef out, TensorRef first, TensorRef bias, TensorRef x, const ConvGeometry& g, bool weight_grad) {
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  std::vector<double> cols(size_t(g.batch * rows * l));
  im2col(contiguous_ref(cols.data(), DType::Float64, {g.batch, rows, l}), x, g);
  const int64_t cout = out.layout.numel() / (weight_grad ? rows : g.batch * l);
  GemmArgs a;
  a.dtype = DType::Float64;
  a.batch = g.batch, a.m = cout;
  const double* f = static_cast<const double*>(first.data) + first.layout.offset;
  if (!weight_grad) {  // y[b] = W @ cols[b]
    a.n = l, a.k = rows;
    a.a = f, a.lda = rows, a.stride_a = 0;
    a.b = cols.data(), a.ldb = l, a.stride_b = rows * l;
    a.ldc = l, a.stride_c = cout * l;
  } else {  // dW = sum_b dy[b] @ cols[b]^T
    a.n = rows, a.k = l;
    a.a = f, a.lda = l, a.stride_a = cout * l;
    a.b = cols.data(), a.ldb = l, a.stride_b = rows * l, a.trans_b = true;
    a.ldc = rows, a.stride_c = 0;
  }
  double* o = static_cast<double*>(out.data) + out.layout.offset;
  a.c = o;
  gemm(a);
  if (bias.data) {
    const double* bp = static_cast<const double*>(bias.data) + bias.layout.offset;
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t co = 0; co < cout; ++co)
        for (int64_t q = 0; q < l; ++q) o[(b * cout + co) * l + q] += bp[co];
  }
}

}  // namespace

void conv2d(TensorRef y, TensorRef x, TensorRef weight, TensorRef bias, const ConvGeometry& g, bool silu_x) {
  check_conv_kernel_args("conv2d", {y, x, weight});
  if (bias.data) check_conv_kernel_args("conv2d", {y, bias});
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const int64_t cout = weight.layout.numel() / std::max<int64_t>(1, rows);
  DDPM_CHECK(x.layout.numel() == g.batch * g.channels * g.height * g.width && weight.layout.numel() == cout * rows &&
                 y.layout.numel() == g.batch * cout * l,
             "conv2d: tensor sizes do not match the geometry");
  if (y.layout.numel() == 0) return;
  DDPM_CHECK(!bias.data || bias.layout.numel() == cout, "conv2d: bias has ", bias.layout.numel(),
             " elements, expected ", cout);
  SiluInput input(x, g, silu_x);
  x = input.ref;
  if (x.dtype == DType::Float64) return conv_f64(y, weight, bias, x, g, false);
  const float* xp = static_cast<const float*>(x.data) + x.layout.offset;
  const float* wp = static_cast<const float*>(weight.data) + weight.layout.offset;
  const float* bp = bias.data ? static_cast<const float*>(bias.data) + bias.layout.offset : nullptr;
  float* yp = static_cast<float*>(y.data) + y.layout.offset;
  if (conv_is_stride1(g)) return conv2d_stride1(yp, xp, wp, bp, cout, g, silu_x);
  // y[b] [Cout, L] = W [Cout, C*kh*kw] @ cols(x[b]) [C*kh*kw, L]
  blocked::for_each_product(g.batch, cout, l, rows, [&](int64_t b, int64_t j0, int64_t j1) {
    blocked::StridedA a{wp, rows, 1, 1.0f};
    ColumnsB cols{xp + b * g.channels * g.height * g.width, &g, j0};
    float* yb = yp + b * cout * l;
    blocked::gemm(cout, j1 - j0, rows, a, cols, yb + j0, l, /*accumulate=*/false);
    if (bp)
      for (int64_t co = 0; co < cout; ++co)
        for (int64_t q = j0; q < j1; ++q) yb[co * l + q] += bp[co];
  });
}

void conv2d_weight_grad(TensorRef dweight, TensorRef dy, TensorRef x, const ConvGeometry& g, bool silu_x) {
  check_conv_kernel_args("conv2d_weight_grad", {dweight, dy, x});
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const int64_t cout = dweight.layout.numel() / std::max<int64_t>(1, rows);
  DDPM_CHECK(x.layout.numel() == g.batch * g.channels * g.height * g.width &&
                 dweight.layout.numel() == cout * rows && dy.layout.numel() == g.batch * cout * l,
             "conv2d_weight_grad: tensor sizes do not match the geometry");
  if (dweight.layout.numel() == 0) return;
  SiluInput input(x, g, silu_x);
  x = input.ref;
  if (x.dtype == DType::Float64) return conv_f64(dweight, dy, TensorRef{}, x, g, true);
  const float* xp = static_cast<const float*>(x.data) + x.layout.offset;
  const float* dyp = static_cast<const float*>(dy.data) + dy.layout.offset;
  float* dwp = static_cast<float*>(dweight.data) + dweight.layout.offset;
  if (conv_is_stride1(g)) return conv2d_weight_grad_stride1(dwp, dyp, xp, cout, g, silu_x);
  // dW [Cout, C*kh*kw] = sum_b dy[b] [Cout, L] @ cols(x[b])^T [L, C*kh*kw]
  blocked::sum_over_batch(g.batch, 1, cout, rows, l, dwp, rows, /*accumulate=*/false,
                          [&](int64_t b, int64_t, float* out, int64_t ldc, bool add) {
                            blocked::StridedA a{dyp + b * cout * l, l, 1, 1.0f};
                            ColumnsTransposedB cols{xp + b * g.channels * g.height * g.width, &g};
                            blocked::gemm(cout, rows, l, a, cols, out, ldc, add);
                          });
}

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
