// gradcheck: compares the gradients backward() computes with central differences, in float64.
// Students check a new op's backward with it; every differentiable op has a gradcheck test.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

struct GradcheckResult {
  bool ok = true;
  // What was checked; on failure, each failing input with its worst element.
  std::string report;
  // The worst element over all inputs (input -1 when nothing was compared).
  int64_t input = -1;     // index into the inputs
  int64_t element = -1;   // row-major index in that input
  double analytic = 0.0;  // d(projected output)/d(element) from backward()
  double numeric = 0.0;   // the same from central differences
  explicit operator bool() const { return ok; }
};

using GradcheckFn = std::function<Tensor(const std::vector<Tensor>&)>;

// Checks the gradient of f at `inputs` with respect to every input that requires grad (leaves,
// float64). The output of f is reduced to a number by a fixed random projection, L = sum(w * f(x)),
// so one backward gives dL/dx = J^T w; an error anywhere in the Jacobian J shows up in it (for almost
// every w). The numeric value for element x_k is (L(x_k + eps) - L(x_k - eps)) / (2 eps); an element
// passes when |analytic - numeric| <= atol + rtol * |numeric|.
// Inputs are perturbed in place (and restored), so views and non-contiguous inputs are checked as
// they are; an input whose elements overlap in memory (an expanded view) is rejected.
GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps = 1e-6,
                          double atol = 1e-5, double rtol = 1e-3);

}  // namespace ddpm
