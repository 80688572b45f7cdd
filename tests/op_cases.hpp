// Test cases of differentiable ops, checked two ways: gradcheck in float64 on the CPU, and CPU/CUDA
// parity of the forward and of every input's gradient in float32 and float64. `Inputs` is the
// suite's maker of input values (each suite picks value ranges that suit its ops); it is built
// from TensorOptions and gives the same values on every device.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"
#include "autograd/gradcheck.hpp"
#include "test_util.hpp"

namespace ddpm::test {

template <typename Inputs>
struct OpCase {
  std::string label;
  GradcheckFn f;
  std::function<std::vector<Tensor>(Inputs&)> make;
};

template <typename Inputs>
void check_gradients(const std::vector<OpCase<Inputs>>& cases) {
  for (const OpCase<Inputs>& c : cases) {
    Inputs in(DType::Float64);
    GradcheckResult r = gradcheck(c.f, c.make(in));
    CHECK_MESSAGE(r.ok, c.label, ": ", r.report);
  }
}

// Runs each case on the CPU and the GPU with the same values and output gradient, and compares the
// outputs and every input's gradient.
template <typename Inputs>
void check_parity(const std::vector<OpCase<Inputs>>& cases) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const double atol = dtype == DType::Float64 ? 1e-10 : 1e-5, rtol = dtype == DType::Float64 ? 1e-10 : 1e-4;
    for (const OpCase<Inputs>& c : cases) {
      CAPTURE(c.label);
      CAPTURE(dtype_name(dtype));
      Inputs on_cpu(TensorOptions(dtype, Device::cpu())), on_gpu(TensorOptions(dtype, Device::cuda()));
      std::vector<Tensor> xc = c.make(on_cpu), xg = c.make(on_gpu);
      Tensor yc = c.f(xc), yg = c.f(xg);
      REQUIRE(yg.device().is_cuda());
      check_close(yg, yc, atol, rtol);
      Generator gen(5);
      Tensor w = randn(yc.shape(), TensorOptions(dtype), &gen);
      backward(yc, w);
      backward(yg, w.to(Device::cuda()));
      for (size_t i = 0; i < xc.size(); ++i) {
        if (!requires_grad(xc[i])) continue;
        CAPTURE(i);
        REQUIRE(grad(xg[i]).defined());
        CHECK(grad(xg[i]).device().is_cuda());
        check_close(grad(xg[i]), grad(xc[i]), atol, rtol);
      }
    }
  }
}

}  // namespace ddpm::test
