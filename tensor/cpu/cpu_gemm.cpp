// Batched GEMM on the CPU. float32 runs our blocked engine (cpu_gemm_blocked.hpp), which packs each
// operand from its strides, so transposed views cost nothing and C is never zero-filled first;
// float64 (gradient checks, reference runs) maps the matrices in place into Eigen.
// g++ 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 GEMM kernels.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_gemm_blocked.hpp"
#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

// Row/column strides of op(X) for a stored row-major matrix with leading dim ld.
struct Strides {
  int64_t rs, cs;
};
Strides op_strides(int64_t ld, bool trans) { return trans ? Strides{1, ld} : Strides{ld, 1}; }

// C[b] (= or += per `accumulate`) alpha op(A[b]) op(B[b]) for one b, columns [j0, j1), one thread.
void gemm_f32_one(const GemmArgs& g, int64_t b, int64_t j0, int64_t j1, float* c, int64_t ldc, bool accumulate) {
  const Strides sa = op_strides(g.lda, g.trans_a), sb = op_strides(g.ldb, g.trans_b);
  blocked::StridedA pa{static_cast<const float*>(g.a) + b * g.stride_a, sa.rs, sa.cs, float(g.alpha)};
  blocked::StridedB pb{static_cast<const float*>(g.b) + b * g.stride_b + j0 * sb.cs, sb.rs, sb.cs};
  blocked::gemm(g.m, j1 - j0, g.k, pa, pb, c + j0, ldc, accumulate);
}

void scale_c(float* c, int64_t m, int64_t n, int64_t ldc, float beta) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

void gemm_f32(const GemmArgs& g) {
  float* c = static_cast<float*>(g.c);
  const float beta = float(g.beta);
  if (beta != 0.0f && beta != 1.0f) {  // then every product adds to beta * C
    for (int64_t b = 0; b < (g.stride_c == 0 ? 1 : g.batch); ++b) scale_c(c + b * g.stride_c, g.m, g.n, g.ldc, beta);
  }
  const bool accumulate = beta != 0.0f;
  if (g.stride_c == 0 && g.batch > 1) {  // the batch is reduced into one C
    blocked::sum_over_batch(g.batch, 1, g.m, g.n, g.k, c, g.ldc, accumulate,
                            [&](int64_t b, int64_t, float* out, int64_t ldc, bool add) {
                              gemm_f32_one(g, b, 0, g.n, out, ldc, add);
                            });
    return;
  }
  blocked::for_each_product(g.batch, g.m, g.n, g.k, [&](int64_t b, int64_t j0, int64_t j1) {
    gemm_f32_one(g, b, j0, j1, c + b * g.stride_c, g.ldc, accumulate);
  });
}

// Batches whose single product is below this many multiply-adds run one per thread; larger ones run
// one after another and Eigen spreads each product over the threads itself.
constexpr int64_t kSmallGemm = int64_t(1) << 18;

template <typename T>
void gemm_eigen(const GemmArgs& g) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  const T alpha = T(g.alpha), beta = T(g.beta);
  const bool reduce_batch = g.stride_c == 0 && g.batch > 1;

  auto one_batch = [&](int64_t b) {
    // Stored shapes: A is [m, k], or [k, m] when trans_a; B is [k, n], or [n, k] when trans_b.
    ConstMap a(static_cast<const T*>(g.a) + b * g.stride_a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k,
               Eigen::OuterStride<>(g.lda));
    ConstMap bm(static_cast<const T*>(g.b) + b * g.stride_b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n,
                Eigen::OuterStride<>(g.ldb));
    Map c(static_cast<T*>(g.c) + b * g.stride_c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
    const T beta_b = reduce_batch && b > 0 ? T(1) : beta;  // a reduced batch adds each product to C
    // Eigen folds alpha, the transposes and the += into one GEMM call.
    auto product = [&](const auto& op_a, const auto& op_b) {
      if (beta_b == T(0)) {
        c.noalias() = alpha * op_a * op_b;  // C is not read: it may hold garbage or NaN
      } else {
        if (beta_b != T(1)) c *= beta_b;
        c.noalias() += alpha * op_a * op_b;
      }
    };
    if (!g.trans_a && !g.trans_b) product(a, bm);
    else if (g.trans_a && !g.trans_b) product(a.transpose(), bm);
    else if (!g.trans_a && g.trans_b) product(a, bm.transpose());
    else product(a.transpose(), bm.transpose());
  };

  if (!reduce_batch && g.batch > 1 && (g.batch >= max_threads() || g.m * g.n * g.k < kSmallGemm)) {
    // Threads only pay off with enough work each: tiny batched products stay on one thread.
    const int64_t work = std::max<int64_t>(1, g.m * g.n * g.k);
    parallel_for(g.batch, std::max<int64_t>(1, kParallelGrain / work), [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) one_batch(b);  // Eigen stays on this thread in here
    });
  } else {
    for (int64_t b = 0; b < g.batch; ++b) one_batch(b);
  }
}

}  // namespace

void gemm(const GemmArgs& args) {
  DDPM_CHECK(args.batch >= 0 && args.m >= 0 && args.n >= 0 && args.k >= 0, "gemm: negative size (batch ",
             args.batch, ", m ", args.m, ", n ", args.n, ", k ", args.k, ")");
  if (args.batch == 0 || args.m == 0 || args.n == 0) return;
  if (args.dtype == DType::Float32) return gemm_f32(args);
  DDPM_DISPATCH_FLOAT(args.dtype, "matmul", gemm_eigen<scalar_t>(args));
}

}  // namespace ddpm::cpu
