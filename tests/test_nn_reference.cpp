// Our nn ops, their gradients and AdamW against PyTorch's numbers. tests/data/make_reference.py
// computed them once with PyTorch and stored them in tests/data/reference.safetensors, so these
// tests need no PyTorch (llm.c's test_gpt2 works the same way).
//
// Each op case <case> holds the inputs <case>.<input>, the output <case>.out, a cotangent
// <case>.cotangent and the gradients <case>.grad_<input> of sum(out * cotangent). The op settings
// below (stride, padding, groups, ...) are the ones the script used; its metadata lists them.
#include <filesystem>
#include <functional>

#include "nn/functional.hpp"
#include "nn/optim.hpp"
#include "nn/safetensors.hpp"
#include "reference_data.hpp"
#include "test_util.hpp"

using namespace ddpm;

namespace {

using test::reference;

// Ours and PyTorch's results differ only in the order of rounding: in float64 by ~1e-15, in float32
// by ~1e-6 (the script checks that PyTorch's float32 results are within 2e-6 of the exact ones).
// Elements must agree within tol * (1 + |reference|): relative for large values, absolute near zero.
double tolerance(DType dtype) { return dtype == DType::Float64 ? 1e-10 : 1e-5; }

void check_matches(const Tensor& ours, const Tensor& expected, double tol) {
  REQUIRE(ours.dtype() == expected.dtype());
  test::check_close(ours, expected, /*atol=*/tol, /*rtol=*/tol);
}

using Op = std::function<Tensor(const std::vector<Tensor>& inputs)>;

// Runs `op` on the case's inputs (fresh leaves that require grad), compares the output with
// <case>.out, backpropagates <case>.cotangent and compares each input's gradient with
// <case>.grad_<input>.
void check_against_reference(const std::string& name, const std::vector<std::string>& input_names, const Op& op) {
  INFO("reference case ", name);
  const SafetensorsFile& ref = reference();
  std::vector<Tensor> inputs;
  for (const std::string& input : input_names) inputs.push_back(set_requires_grad(ref.at(name + "." + input).clone()));

  Tensor out = op(inputs);
  const Tensor& expected = ref.at(name + ".out");
  double tol = tolerance(expected.dtype());
  {
    INFO("output");
    check_matches(out, expected, tol);
  }
  backward(out, ref.at(name + ".cotangent"));
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient of ", input_names[i]);
    REQUIRE(grad(inputs[i]).defined());
    check_matches(grad(inputs[i]), ref.at(name + ".grad_" + input_names[i]), tol);
  }
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("reference conv2d matches pytorch") {
  // x: [2, 3, 6, 5], weight: [4, 3, 3, 3] -> [2, 4, 6, 5]
  for (const char* name : {"conv2d_s1p1", "conv2d_s1p1_f32"})
    check_against_reference(name, {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in[2], /*stride=*/1, /*padding=*/1);
    });
  // x: [2, 3, 7, 6], weight: [5, 3, 3, 3] -> [2, 5, 4, 3]
  check_against_reference("conv2d_s2p1", {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
    return conv2d(in[0], in[1], in[2], /*stride=*/2, /*padding=*/1);
  });
}

TEST_CASE("reference conv_transpose2d matches pytorch") {
  // x: [2, 4, 5, 4], weight: [4, 3, 4, 4] -> [2, 3, 10, 8]: the U-Net's transposed upsampler
  check_against_reference("conv_transpose2d_k4s2p1", {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
    return conv_transpose2d(in[0], in[1], in[2], /*stride=*/2, /*padding=*/1, /*output_padding=*/0);
  });
  // x: [2, 3, 4, 5], weight: [3, 2, 3, 3] -> [2, 2, 8, 10]
  check_against_reference("conv_transpose2d_k3s2p1op1", {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
    return conv_transpose2d(in[0], in[1], in[2], /*stride=*/2, /*padding=*/1, /*output_padding=*/1);
  });
}

TEST_CASE("reference group_norm matches pytorch") {
  // x: [2, 6, 5, 4] in 3 groups of 2 channels, weight and bias [6]
  check_against_reference("group_norm", {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
    return group_norm(in[0], /*groups=*/3, in[1], in[2], /*eps=*/1e-5);
  });
  // x: [2, 8, 4, 4] in 4 groups, float32
  check_against_reference("group_norm_f32", {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) {
    return group_norm(in[0], /*groups=*/4, in[1], in[2], /*eps=*/1e-5);
  });
}

TEST_CASE("reference linear matches pytorch") {
  // x: [2, 3, 5], weight: [4, 5], bias: [4] -> [2, 3, 4]
  for (const char* name : {"linear", "linear_f32"})
    check_against_reference(name, {"x", "weight", "bias"},
                            [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); });
}

TEST_CASE("reference attention matches pytorch") {
  // q: [2, 3, 5, 4], k: [2, 3, 6, 4], v: [2, 3, 6, 3] -> [2, 3, 5, 3] (batch, heads, positions, dims)
  for (const char* name : {"attention", "attention_f32"})
    check_against_reference(name, {"q", "k", "v"},
                            [](const std::vector<Tensor>& in) { return attention(in[0], in[1], in[2]); });
}

TEST_CASE("reference adamw matches pytorch over three steps") {
  // float32 weight [4, 3] and bias [4]; the bias's gradients are ~1e-7, the size of eps, so where
  // eps enters the update shows. The options are the script's.
  const SafetensorsFile& ref = reference();
  Tensor weight = set_requires_grad(ref.at("adamw.weight").clone());
  Tensor bias = set_requires_grad(ref.at("adamw.bias").clone());
  AdamW opt({weight, bias}, AdamWOptions{/*lr=*/0.05, /*beta1=*/0.9, /*beta2=*/0.99, /*eps=*/1e-8,
                                         /*weight_decay=*/0.1});
  for (int step = 1; step <= 3; ++step) {
    std::string prefix = "adamw.step" + std::to_string(step) + ".";
    INFO("after step ", step);
    set_grad(weight, ref.at(prefix + "grad_weight").clone());
    set_grad(bias, ref.at(prefix + "grad_bias").clone());
    opt.step();
    // 1e-6 relative; 1e-7 absolute for the elements near zero (float32 resolves ~1e-8 there).
    test::check_close(weight, ref.at(prefix + "weight"), /*atol=*/1e-7, /*rtol=*/1e-6);
    test::check_close(bias, ref.at(prefix + "bias"), /*atol=*/1e-7, /*rtol=*/1e-6);
  }
}

}  // TEST_SUITE
