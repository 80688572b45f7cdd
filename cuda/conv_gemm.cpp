// conv2d and conv2d_weight_grad on the GPU: im2col (conv.cu) into a scratch block from the caching
// allocator, then one cuBLAS call (gemm.cpp). The CPU packs the column matrix tile by tile instead;
// on the GPU the column matrix's round trip through memory is small beside the GEMM.
#include <initializer_list>

#include "cuda/cuda_context.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// A scratch column matrix [B, C*kh*kw, out_h*out_w] for x (or silu(x), through a second scratch),
// filled by im2col; freed by its destructor, after the GEMM that reads it is queued (the allocator
// hands a block out again only to later work on the one stream).
struct Columns {
  TensorRef ref;
  Columns(TensorRef x, const ConvGeometry& g, bool silu_x) {
    const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
    const size_t elem = dtype_size(x.dtype);
    void* activated = nullptr;
    if (silu_x) {
      activated = allocator().allocate(size_t(x.layout.numel()) * elem);
      TensorRef s = x;
      s.data = activated;
      s.layout.offset = 0;
      unary(UnaryOp::Silu, s, x, 0.0, 0.0);
      x = s;
    }
    ref = contiguous_ref(allocator().allocate(size_t(g.batch * rows * l) * elem), x.dtype, {g.batch, rows, l});
    im2col(ref, x, g);
    if (activated) allocator().deallocate(activated);
  }
  ~Columns() { allocator().deallocate(ref.data); }
  Columns(const Columns&) = delete;
  Columns& operator=(const Columns&) = delete;
};

void check(const char* op, std::initializer_list<TensorRef> ts) {
  for (const TensorRef& t : ts) {
    DDPM_CHECK(t.dtype == DType::Float32 || t.dtype == DType::Float64, "cuda ", op, ": dtype ", dtype_name(t.dtype),
               " is not supported, expected float32 or float64");
    DDPM_CHECK(t.dtype == ts.begin()->dtype, "cuda ", op, ": the tensors' dtypes differ");
    DDPM_CHECK(t.layout.contiguous, "cuda ", op, ": every tensor must be contiguous");
  }
}

}  // namespace

void conv2d(TensorRef y, TensorRef x, TensorRef weight, TensorRef bias, const ConvGeometry& g, bool silu_x) {
  check("conv2d", {y, x, weight});
  if (bias.data) check("conv2d", {y, bias});
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const int64_t cout = weight.layout.numel() / (rows > 0 ? rows : 1);
  if (y.layout.numel() == 0) return;
  Columns cols(x, g, silu_x);
  const size_t e = dtype_size(x.dtype);
  // y[b] [Cout, L] = W [Cout, rows] @ cols[b] [rows, L]
  GemmArgs a;
  a.dtype = x.dtype;
  a.batch = g.batch, a.m = cout, a.n = l, a.k = rows;
  a.a = static_cast<const char*>(weight.data) + weight.layout.offset * e, a.lda = rows, a.stride_a = 0;
  a.b = cols.ref.data, a.ldb = l, a.stride_b = rows * l;
  a.c = static_cast<char*>(y.data) + y.layout.offset * e, a.ldc = l, a.stride_c = cout * l;
  if (bias.data) {  // y = bias broadcast over the batch and positions, then y += W @ cols
    TensorRef wide = y, from = bias;
    wide.layout.ndim = from.layout.ndim = 3;
    wide.layout.sizes[0] = from.layout.sizes[0] = g.batch;
    wide.layout.sizes[1] = from.layout.sizes[1] = cout;
    wide.layout.sizes[2] = from.layout.sizes[2] = l;
    wide.layout.strides[0] = cout * l, wide.layout.strides[1] = l, wide.layout.strides[2] = 1;
    from.layout.strides[0] = 0, from.layout.strides[1] = 1, from.layout.strides[2] = 0;
    from.layout.contiguous = false;
    copy(wide, from);
    a.beta = 1.0;
  }
  gemm(a);
}

void conv2d_weight_grad(TensorRef dweight, TensorRef dy, TensorRef x, const ConvGeometry& g, bool silu_x) {
  check("conv2d_weight_grad", {dweight, dy, x});
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const int64_t cout = dweight.layout.numel() / (rows > 0 ? rows : 1);
  if (dweight.layout.numel() == 0) return;
  Columns cols(x, g, silu_x);
  const size_t e = dtype_size(x.dtype);
  // dW [Cout, rows] = sum_b dy[b] [Cout, L] @ cols[b]^T [L, rows]: a batch reduced into one C
  GemmArgs a;
  a.dtype = x.dtype;
  a.batch = g.batch, a.m = cout, a.n = rows, a.k = l;
  a.a = static_cast<const char*>(dy.data) + dy.layout.offset * e, a.lda = l, a.stride_a = cout * l;
  a.b = cols.ref.data, a.ldb = l, a.stride_b = rows * l, a.trans_b = true;
  a.c = static_cast<char*>(dweight.data) + dweight.layout.offset * e, a.ldc = rows, a.stride_c = 0;
  gemm(a);
}

}  // namespace ddpm::gpu
