// Assignment 1's grader: softplus forward against a float64 reference, and its backward by gradcheck.
#include <cmath>

#include "grader/grading.hpp"

using namespace ddpm;
using course::check_close;

namespace {

Tensor inputs() {  // [12] from -30 to 30, with 0 and small values
  return Tensor::from_vector(std::vector<double>{-30, -8, -2.5, -1, -0.1, 0, 0.05, 0.7, 1.5, 3, 9, 30}, {12});
}

Tensor reference(const Tensor& x) {  // log(1 + e^x) in float64, computed stably
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = std::max(e, 0.0) + std::log1p(std::exp(-std::abs(e)));
  return Tensor::from_vector(v, x.shape());
}

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a1 softplus forward matches the reference (2 points)") {
  const Tensor x = inputs();
  check_close("softplus_forward(x) in float64", softplus_forward(x), reference(x), 1e-12, 1e-10, x);
  const Tensor x32 = x.to(DType::Float32);
  check_close("softplus_forward(x) in float32", softplus_forward(x32).to(DType::Float64), reference(x), 1e-6, 1e-5, x);
}

TEST_CASE("a1 softplus forward does not overflow (1 point)") {
  const Tensor x = Tensor::from_vector(std::vector<float>{-1000, -100, 100, 1000}, {4});
  check_close("softplus_forward(x) for large |x| in float32 (log(1 + e^x) overflows e^x; rewrite it)",
              softplus_forward(x).to(DType::Float64), Tensor::from_vector(std::vector<double>{0, 0, 100, 1000}, {4}),
              1e-6, 1e-6, x);
}

TEST_CASE("a1 softplus backward passes gradcheck (3 points)") {
  Generator gen(1);
  const Tensor x = set_requires_grad(randn({3, 5}, TensorOptions(DType::Float64), &gen, 0.0, 3.0));
  course::check_gradient("softplus(x) for x ~ N(0, 9) [3, 5]", [](const std::vector<Tensor>& in) { return softplus(in[0]); },
                         {x});
}

TEST_CASE("a1 softplus backward is g times the sigmoid (1 point)") {
  const Tensor x = inputs(), g = full({12}, 2.0, TensorOptions(DType::Float64));
  std::vector<double> want = x.to_vector<double>();
  for (double& e : want) e = 2.0 / (1.0 + std::exp(-e));
  check_close("softplus_backward(g = 2, x)", softplus_backward(g, x), Tensor::from_vector(want, {12}), 1e-12, 1e-10, x);
}

}  // TEST_SUITE
