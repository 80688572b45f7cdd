// Differentiable matmul (numpy.matmul semantics: 1-D operands, broadcast batch dims).
// For C = A B: dA = dC B^T and dB = A^T dC, batch by batch; a broadcast operand sums over the batch.
#include "autograd/autograd.hpp"

namespace ddpm {

namespace {

// [[maybe_unused]]: in the course's student version (course/make-student.sh) the gradient lines that use
// these are replaced by a stub, which leaves them unused there.
[[maybe_unused]] Tensor mT(const Tensor& x) { return ops::transpose(x, -2, -1); }  // a view: matmul takes it as is

Grads matmul_backward(const Tensor& g, const Tensor& a, const Tensor& b) {
  // Work with a: [..., m, k] and b: [..., k, n]; a 1-D a is [1, k], a 1-D b is [k, 1].
  Tensor a2 = a.dim() == 1 ? ops::unsqueeze(a, 0) : a;
  Tensor b2 = b.dim() == 1 ? ops::unsqueeze(b, -1) : b;
  [[maybe_unused]] const int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1);
  Shape batch = broadcast_shapes(Shape(a2.shape().begin(), a2.shape().end() - 2),
                                 Shape(b2.shape().begin(), b2.shape().end() - 2), "matmul");
  Shape full = batch;  // the output before matmul removed the dims it added for 1-D operands
  full.insert(full.end(), {m, n});
  Tensor g2 = ops::reshape(g, full);  // g: [..., m, n]

  Tensor ga, gb;
  // BEGIN SOLUTION matmul_grad_a
  if (requires_grad(a)) ga = ops::reshape(sum_to(ops::matmul(g2, mT(b2)), a2.shape()), a.shape());
  // END SOLUTION
  // BEGIN SOLUTION matmul_grad_b
  if (requires_grad(b)) {
    if (b2.dim() == 2 && a2.dim() > 2) {
      // b is one matrix used by every batch: fold the batch into the rows, one GEMM
      // [k, B*m] @ [B*m, n] instead of B products and a sum.
      gb = ops::matmul(mT(ops::reshape(a2, {-1, k})), ops::reshape(g2, {-1, n}));
    } else {
      gb = sum_to(ops::matmul(mT(a2), g2), b2.shape());
    }
    gb = ops::reshape(gb, b.shape());
  }
  // END SOLUTION
  return {ga, gb};
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  return record("matmul", ops::matmul(a, b), {a, b},
                [a, b](const Tensor& g) -> Grads { return matmul_backward(g, a, b); });
}

}  // namespace ddpm
