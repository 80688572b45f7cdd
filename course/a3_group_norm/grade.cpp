// Assignment 3's grader: group norm on the CPU against a plain float64 reference, and its backward by
// gradcheck with respect to x, the weight and the bias.
#include <cmath>

#include "grader/grading.hpp"
#include "nn/functional.hpp"

using namespace ddpm;

namespace {

// y = (x - mean_g) / sqrt(var_g + eps) * w[c] + b[c] over the C/G channels and all positions of group g.
Tensor reference(const Tensor& x, int64_t groups, const Tensor& w, const Tensor& b, double eps) {
  const int64_t B = x.size(0), C = x.size(1), hw = x.numel() / (B * C), cg = C / groups, n = cg * hw;
  std::vector<double> v = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>(), y(v.size());
  for (int64_t bg = 0; bg < B * groups; ++bg) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; ++i) mean += v[size_t(bg * n + i)] / double(n);
    for (int64_t i = 0; i < n; ++i) var += std::pow(v[size_t(bg * n + i)] - mean, 2) / double(n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t c = (bg % groups) * cg + i / hw;
      y[size_t(bg * n + i)] = (v[size_t(bg * n + i)] - mean) / std::sqrt(var + eps) * wv[size_t(c)] + bv[size_t(c)];
    }
  }
  return Tensor::from_vector(y, x.shape());
}

}  // namespace

TEST_SUITE("course") {

TEST_CASE("a3 group norm forward matches the reference (3 points)") {
  Generator gen(1);
  const Tensor x = randn({2, 6, 3, 3}, TensorOptions(DType::Float64), &gen, 2.0, 3.0);
  const Tensor w = randn({6}, TensorOptions(DType::Float64), &gen), b = randn({6}, TensorOptions(DType::Float64), &gen);
  course::check_close("group_norm(x [2, 6, 3, 3], 3 groups, w, b) in float64", group_norm(x, 3, w, b, 1e-5),
                      reference(x, 3, w, b, 1e-5), 1e-10, 1e-9);
  course::check_close("group_norm in float32", group_norm(x.to(DType::Float32), 3, w.to(DType::Float32), b.to(DType::Float32), 1e-5)
                                                   .to(DType::Float64),
                      reference(x, 3, w, b, 1e-5), 1e-4, 1e-4);
}

TEST_CASE("a3 group norm backward passes gradcheck (4 points)") {
  Generator gen(2);
  const Tensor x = set_requires_grad(randn({2, 4, 2, 3}, TensorOptions(DType::Float64), &gen));
  const Tensor w = set_requires_grad(randn({4}, TensorOptions(DType::Float64), &gen));
  const Tensor b = set_requires_grad(randn({4}, TensorOptions(DType::Float64), &gen));
  course::check_gradient("group_norm(x [2, 4, 2, 3], 2 groups, w, b) with respect to x, w and b",
                         [](const std::vector<Tensor>& in) { return group_norm(in[0], 2, in[1], in[2], 1e-5); }, {x, w, b});
}

TEST_CASE("a3 layer norm is group norm of one group (1 point)") {
  Generator gen(3);
  const Tensor x = randn({3, 5}, TensorOptions(DType::Float64), &gen);
  const Tensor w = full({5}, 1.0, TensorOptions(DType::Float64)), b = zeros({5}, TensorOptions(DType::Float64));
  course::check_close("layer_norm(x [3, 5]) (rows as groups of one position each)", layer_norm(x, w, b, 1e-5),
                      ops::reshape(reference(ops::reshape(x, {3, 1, 5}), 1, full({1}, 1.0, TensorOptions(DType::Float64)),
                                             zeros({1}, TensorOptions(DType::Float64)), 1e-5), {3, 5}),
                      1e-10, 1e-9);
}

}  // TEST_SUITE
