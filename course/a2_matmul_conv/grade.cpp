// Assignment 2's grader: matmul's backward, conv2d's backward, and conv_transpose2d as conv2d's adjoint,
// by gradcheck and by the adjoint identity <conv2d(x, W), y> = <x, conv_transpose2d(y, W)>.
#include "grader/grading.hpp"
#include "nn/functional.hpp"

using namespace ddpm;

namespace {

Tensor r64(const Shape& shape, Generator& gen) { return randn(shape, TensorOptions(DType::Float64), &gen); }

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a2 matmul backward passes gradcheck (3 points)") {
  Generator gen(1);
  course::check_gradient("matmul(A [3, 4], B [4, 2])", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                         {set_requires_grad(r64({3, 4}, gen)), set_requires_grad(r64({4, 2}, gen))});
  course::check_gradient("matmul(A [2, 3, 4], B [4, 5]): B shared by the batch",
                         [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                         {set_requires_grad(r64({2, 3, 4}, gen)), set_requires_grad(r64({4, 5}, gen))});
  course::check_gradient("matmul(A [2, 1, 3, 4], B [3, 4, 2]): broadcast batches",
                         [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                         {set_requires_grad(r64({2, 1, 3, 4}, gen)), set_requires_grad(r64({3, 4, 2}, gen))});
}

TEST_CASE("a2 matmul backward is dA = dC B^T and dB = A^T dC (1 point)") {
  Generator gen(2);
  const Tensor a = set_requires_grad(r64({3, 4}, gen)), b = set_requires_grad(r64({4, 2}, gen)), dc = r64({3, 2}, gen);
  backward(sum(matmul(a, b) * dc));
  course::check_close("dL/dA for L = sum(dC * (A B))", grad(a), ops::matmul(dc, ops::transpose(b, 0, 1)), 1e-12, 1e-10);
  course::check_close("dL/dB", grad(b), ops::matmul(ops::transpose(a, 0, 1), dc), 1e-12, 1e-10);
}

TEST_CASE("a2 conv2d input gradient passes gradcheck (2 points)") {
  Generator gen(3);
  const Tensor w = r64({3, 2, 3, 3}, gen);
  course::check_gradient("conv2d(x [2, 2, 5, 5], W [3, 2, 3, 3], stride 2, padding 1) with respect to x",
                         [w](const std::vector<Tensor>& in) { return conv2d(in[0], w, Tensor(), 2, 1); },
                         {set_requires_grad(r64({2, 2, 5, 5}, gen))});
}

TEST_CASE("a2 conv2d weight gradient passes gradcheck (2 points)") {
  Generator gen(4);
  const Tensor x = r64({2, 2, 5, 5}, gen);
  course::check_gradient("conv2d(x [2, 2, 5, 5], W [3, 2, 3, 3], stride 1, padding 1) with respect to W",
                         [x](const std::vector<Tensor>& in) { return conv2d(x, in[0], Tensor(), 1, 1); },
                         {set_requires_grad(r64({3, 2, 3, 3}, gen))});
}

TEST_CASE("a2 conv_transpose2d is the adjoint of conv2d (2 points)") {
  Generator gen(5);
  // conv2d maps [2, 3, 6, 6] to [2, 4, 3, 3] with stride 2, padding 1; W: [4, 3, 3, 3] is also conv_transpose2d's
  // [in = 4, out = 3, 3, 3] weight, and output_padding 1 gives back 6 x 6.
  const Tensor x = r64({2, 3, 6, 6}, gen), w = r64({4, 3, 3, 3}, gen), y = r64({2, 4, 3, 3}, gen);
  const Tensor back = conv_transpose2d(y, w, Tensor(), 2, 1, 1);
  if (back.shape() != x.shape()) {
    FAIL_CHECK("conv_transpose2d(y [2, 4, 3, 3], W, stride 2, padding 1, output_padding 1) has shape "
               << shape_str(back.shape()) << ", expected [2, 3, 6, 6]");
    return;
  }
  const double lhs = ops::sum(conv2d(x, w, Tensor(), 2, 1) * y).item(), rhs = ops::sum(x * back).item();
  course::check_close("<conv2d(x, W), y> against <x, conv_transpose2d(y, W)>", scalar_tensor(rhs, TensorOptions(DType::Float64)),
                      scalar_tensor(lhs, TensorOptions(DType::Float64)), 1e-9, 1e-9);
}

}  // TEST_SUITE
