// matmul as numpy.matmul: 1-D operands are promoted and the added dim removed after, batch dims
// broadcast, and each operand reaches the GEMM without a copy when its matrix dims are row- or
// column-major (a transposed view costs nothing).
#include <algorithm>

#include "tensor/ops.hpp"
#include "tensor/ops_common.hpp"

namespace ddpm::ops {

using namespace detail;

namespace {

// An operand as the GEMM sees it: [batch, rows, cols] with a leading dim, maybe transposed.
struct GemmOperand {
  Tensor t;  // keeps the data alive
  const void* ptr;
  int64_t ld, batch_stride;
  bool trans;
};

GemmOperand as_gemm_operand(Tensor x3) {  // x3: [B, r, c]
  for (int attempt = 0; attempt < 2; ++attempt) {
    int64_t r = x3.shape()[1], c = x3.shape()[2], sr = x3.strides()[1], sc = x3.strides()[2];
    char* base = static_cast<char*>(x3.raw_data());
    int64_t batch_stride = x3.shape()[0] == 1 ? 0 : x3.strides()[0];
    if ((c == 1 || sc == 1) && (r == 1 || sr >= std::max<int64_t>(1, c)))
      return {x3, base, r == 1 ? std::max<int64_t>(1, c) : sr, batch_stride, false};
    if ((r == 1 || sr == 1) && (c == 1 || sc >= std::max<int64_t>(1, r)))
      return {x3, base, c == 1 ? std::max<int64_t>(1, r) : sc, batch_stride, true};
    x3 = x3.contiguous();
  }
  throw std::logic_error("matmul: internal error, a contiguous operand was not accepted");
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  check_defined("matmul", a_in, "first input");
  check_defined("matmul", b_in, "second input");
  check_same_device("matmul", a_in, b_in);
  check_same_dtype("matmul", a_in, b_in);
  check_compute_dtype("matmul", a_in);
  DDPM_CHECK(a_in.dim() >= 1 && b_in.dim() >= 1, "matmul: inputs must have at least 1 dim, got ",
             shape_str(a_in.shape()), " and ", shape_str(b_in.shape()));
  Tensor a = a_in.dim() == 1 ? unsqueeze(a_in, 0) : a_in;   // [k] -> [1, k]
  Tensor b = b_in.dim() == 1 ? unsqueeze(b_in, -1) : b_in;  // [k] -> [k, 1]
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  DDPM_CHECK(b.size(-2) == k, "matmul: inner dims differ: ", shape_str(a_in.shape()), " @ ", shape_str(b_in.shape()),
             " (", k, " vs ", b.size(-2), ")");
  Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch, "matmul");
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument(str("matmul: batch dims of ", shape_str(a_in.shape()), " @ ", shape_str(b_in.shape()),
                                    " do not broadcast (", shape_str(a_batch), " vs ", shape_str(b_batch), ")"));
  }
  const int64_t nbatch = numel_of(batch);

  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape, TensorOptions(a.dtype(), a.device()));
  if (out.numel() > 0) {
    if (k == 0) {
      out.fill_(0.0);
    } else {
      Shape a_full = batch, b_full = batch;
      a_full.insert(a_full.end(), {m, k});
      b_full.insert(b_full.end(), {k, n});
      // Broadcast batch dims to [B, r, c]; reshape copies only if the batch dims do not collapse.
      GemmOperand A = as_gemm_operand(reshape(expand(a, a_full), {nbatch, m, k}));
      GemmOperand B = as_gemm_operand(reshape(expand(b, b_full), {nbatch, k, n}));
      GemmArgs g;
      g.dtype = a.dtype();
      g.batch = nbatch; g.m = m; g.n = n; g.k = k;
      g.a = A.ptr; g.lda = A.ld; g.stride_a = A.batch_stride; g.trans_a = A.trans;
      g.b = B.ptr; g.ldb = B.ld; g.stride_b = B.batch_stride; g.trans_b = B.trans;
      g.c = out.raw_data(); g.ldc = n; g.stride_c = m * n;
      backend(a.device()).gemm(g);
    }
  }
  if (a_in.dim() == 1) out = squeeze(out, -2);
  if (b_in.dim() == 1) out = squeeze(out, -1);
  return out;
}

}  // namespace ddpm::ops
