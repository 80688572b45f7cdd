// Batched GEMM through Eigen: each batch's matrices are mapped in place (no copies), row-major with
// a leading dimension, and a transposed operand is the transpose of a map of its stored shape.
// g++ 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 GEMM kernels.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>
#include <algorithm>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

// Batches whose single product is below this many multiply-adds run one per thread; larger ones run
// one after another and Eigen spreads each product over the threads itself.
constexpr int64_t kSmallGemm = int64_t(1) << 18;

template <typename T>
void gemm_typed(const GemmArgs& g) {
  using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Eigen::OuterStride<>>;
  const T alpha = T(g.alpha), beta = T(g.beta);

  auto one_batch = [&](int64_t b) {
    // Stored shapes: A is [m, k], or [k, m] when trans_a; B is [k, n], or [n, k] when trans_b.
    ConstMap a(static_cast<const T*>(g.a) + b * g.stride_a, g.trans_a ? g.k : g.m, g.trans_a ? g.m : g.k,
               Eigen::OuterStride<>(g.lda));
    ConstMap bm(static_cast<const T*>(g.b) + b * g.stride_b, g.trans_b ? g.n : g.k, g.trans_b ? g.k : g.n,
                Eigen::OuterStride<>(g.ldb));
    Map c(static_cast<T*>(g.c) + b * g.stride_c, g.m, g.n, Eigen::OuterStride<>(g.ldc));
    // Eigen folds alpha, the transposes and the += into one GEMM call.
    auto product = [&](const auto& op_a, const auto& op_b) {
      if (beta == T(0)) {
        c.noalias() = alpha * op_a * op_b;  // C is not read: it may hold garbage or NaN
      } else {
        if (beta != T(1)) c *= beta;
        c.noalias() += alpha * op_a * op_b;
      }
    };
    if (!g.trans_a && !g.trans_b) product(a, bm);
    else if (g.trans_a && !g.trans_b) product(a.transpose(), bm);
    else if (!g.trans_a && g.trans_b) product(a, bm.transpose());
    else product(a.transpose(), bm.transpose());
  };

  if (g.batch > 1 && (g.batch >= max_threads() || g.m * g.n * g.k < kSmallGemm)) {
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
  DDPM_DISPATCH_FLOAT(args.dtype, "matmul", gemm_typed<scalar_t>(args));
}

}  // namespace ddpm::cpu
