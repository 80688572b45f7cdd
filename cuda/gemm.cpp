// Batched GEMM through cuBLAS. GemmArgs are row-major; cuBLAS is column-major. A row-major matrix
// with leading dim ld is the column-major matrix of its transpose with the same ld, so we compute
// C^T = op(B)^T op(A)^T: swap A and B, swap m and n, and keep each operand's transpose flag.
#include <climits>
#include <utility>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_context.hpp"
#include "cuda/kernels.hpp"

namespace ddpm::gpu {

namespace {

// A column-major operand as cuBLAS sees it: `rows` x `cols` stored with leading dim `ld`.
// cuBLAS rejects ld < max(1, rows). When the matrix has a single column, ld is never used to step,
// so any value works and we raise it; with more columns a smaller ld would mean overlapping columns,
// which the front end never builds.
int fix_ld(const char* which, int64_t ld, int64_t rows, int64_t cols) {
  const int64_t need = rows > 1 ? rows : 1;
  if (ld < need) {
    DDPM_CHECK(cols <= 1, "cuda gemm: ", which, " has leading dim ", ld, " < ", need, " with ", cols, " columns");
    ld = need;
  }
  DDPM_CHECK(ld <= INT_MAX, "cuda gemm: ", which, " leading dim ", ld, " exceeds cuBLAS's int range");
  return int(ld);
}

cublasOperation_t op_of(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// stride_c == 0: C = alpha sum_b op(A[b]) op(B[b]) + beta C (the batch reduced into one C).
// With beta 0 and a packed C: the products go to a scratch [batch, m, n] in one batched call, then
// one reduction over the batch; otherwise one call per product, each adding to C.
void gemm_reduce_batch(const GemmArgs& g) {
  if (g.beta == 0.0 && g.ldc == g.n) {
    void* scratch = allocator().allocate(size_t(g.batch * g.m * g.n) * dtype_size(g.dtype));
    GemmArgs all = g;
    all.c = scratch;
    all.ldc = g.n;
    all.stride_c = g.m * g.n;
    gemm(all);
    TensorRef parts = contiguous_ref(scratch, g.dtype, {g.batch, g.m * g.n});
    std::swap(parts.layout.sizes[0], parts.layout.sizes[1]);  // [m*n, batch]: the batch last
    std::swap(parts.layout.strides[0], parts.layout.strides[1]);
    parts.layout.contiguous = false;
    reduce(ReduceOp::Sum, contiguous_ref(g.c, g.dtype, {g.m * g.n}), parts, g.batch, 0);
    allocator().deallocate(scratch);  // reused only by work queued after this on the one stream
    return;
  }
  GemmArgs one = g;
  one.batch = 1;
  for (int64_t b = 0; b < g.batch; ++b) {
    one.a = static_cast<const char*>(g.a) + b * g.stride_a * dtype_size(g.dtype);
    one.b = static_cast<const char*>(g.b) + b * g.stride_b * dtype_size(g.dtype);
    one.beta = b == 0 ? g.beta : 1.0;
    gemm(one);
  }
}

}  // namespace

void gemm(const GemmArgs& g) {
  if (g.batch == 0 || g.m == 0 || g.n == 0) return;  // nothing to write (k == 0 still scales C by beta)
  if (g.stride_c == 0 && g.batch > 1) return gemm_reduce_batch(g);
  DDPM_CHECK(g.batch > 0 && g.m > 0 && g.n > 0 && g.k >= 0, "cuda gemm: bad sizes batch ", g.batch, ", m ", g.m,
             ", n ", g.n, ", k ", g.k);
  DDPM_CHECK(g.batch <= INT_MAX && g.m <= INT_MAX && g.n <= INT_MAX && g.k <= INT_MAX,
             "cuda gemm: sizes exceed cuBLAS's int range (batch ", g.batch, ", m ", g.m, ", n ", g.n, ", k ", g.k, ")");

  // In cuBLAS's terms: C' = op(A') op(B'), C' = C^T is n x m, A' = our B (n x k after op), B' = our A.
  //   our B, row-major [k, n] (or [n, k] if trans_b) = column-major n x k (or k x n): op N (or T).
  //   our A, row-major [m, k] (or [k, m] if trans_a) = column-major k x m (or m x k): op N (or T).
  const int m = int(g.n), n = int(g.m), k = int(g.k);
  const int lda = fix_ld("B", g.ldb, g.trans_b ? g.k : g.n, g.trans_b ? g.n : g.k);
  const int ldb = fix_ld("A", g.lda, g.trans_a ? g.m : g.k, g.trans_a ? g.k : g.m);
  const int ldc = fix_ld("C", g.ldc, g.n, g.m);
  const cublasOperation_t transa = op_of(g.trans_b), transb = op_of(g.trans_a);
  const int batch = int(g.batch);

  std::lock_guard<std::mutex> lock(cublas_mutex());
  cublasHandle_t h = cublas_handle();
  switch (g.dtype) {
    case DType::Float32: {
      const float alpha = float(g.alpha), beta = float(g.beta);
      DDPM_CUBLAS_CHECK(cublasSgemmStridedBatched(
          h, transa, transb, m, n, k, &alpha, static_cast<const float*>(g.b), lda, g.stride_b,
          static_cast<const float*>(g.a), ldb, g.stride_a, &beta, static_cast<float*>(g.c), ldc, g.stride_c, batch));
      break;
    }
    case DType::Float64: {
      const double alpha = g.alpha, beta = g.beta;
      DDPM_CUBLAS_CHECK(cublasDgemmStridedBatched(
          h, transa, transb, m, n, k, &alpha, static_cast<const double*>(g.b), lda, g.stride_b,
          static_cast<const double*>(g.a), ldb, g.stride_a, &beta, static_cast<double*>(g.c), ldc, g.stride_c, batch));
      break;
    }
    default:
      throw std::invalid_argument(::ddpm::str("gemm: dtype ", dtype_name(g.dtype),
                                              " is not supported, expected float32 or float64"));
  }
}

}  // namespace ddpm::gpu
