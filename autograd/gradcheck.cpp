// gradcheck: analytic gradients (one backward of a random projection of f) against central
// differences, element by element, in float64.
#include "autograd/gradcheck.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "autograd/engine.hpp"
#include "tensor/macros.hpp"
#include "tensor/ops.hpp"

namespace ddpm {

namespace {

// The projection weights: fixed, in +-[0.5, 1.5], so that every output element counts.
std::vector<double> projection_weights(int64_t n) {
  std::mt19937_64 rng(0x67726164636b);  // the engine's output is specified by the standard: portable
  std::vector<double> w(size_t(n), 0.0);
  for (double& v : w) {
    double u = double(rng() >> 11) * 0x1.0p-53;  // uniform in [0, 1)
    v = u < 0.5 ? -(0.5 + 2.0 * u) : (0.5 + 2.0 * (u - 0.5));
  }
  return w;
}

// L = sum(w * f(x)) on the host, in double.
double project(const Tensor& out, const std::vector<double>& w) {
  std::vector<double> y = out.to_vector<double>();
  double sum = 0.0;
  for (size_t i = 0; i < y.size(); ++i) sum += w[i] * y[i];
  return sum;
}

// A 0-dim view of element k (row-major) of x, for writing into x in place.
Tensor element_view(const Tensor& x, int64_t k) {
  std::vector<int64_t> index(size_t(x.dim()));
  for (int64_t d = x.dim() - 1; d >= 0; --d) {
    index[size_t(d)] = k % x.shape()[size_t(d)];
    k /= x.shape()[size_t(d)];
  }
  Tensor v = x;
  for (int64_t i : index) v = ops::select(v, 0, i);
  return v;
}

std::string index_str(const Shape& shape, int64_t k) {
  Shape index(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    index[size_t(d)] = k % shape[size_t(d)];
    k /= shape[size_t(d)];
  }
  return shape_str(index);
}

Tensor call_f(const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  Tensor out = f(inputs);
  DDPM_CHECK(out.defined(), "gradcheck: f returned an undefined tensor");
  DDPM_CHECK(out.dtype() == DType::Float64, "gradcheck: f returned ", describe(out),
             "; central differences need float64 all the way (make the inputs float64 and convert nothing)");
  return out;
}

}  // namespace

GradcheckResult gradcheck(const GradcheckFn& f, const std::vector<Tensor>& inputs, double eps, double atol,
                          double rtol) {
  DDPM_CHECK(eps > 0 && atol >= 0 && rtol >= 0, "gradcheck: need eps > 0, atol >= 0, rtol >= 0, got eps ", eps,
             ", atol ", atol, ", rtol ", rtol);
  std::vector<size_t> checked;  // the inputs that require grad
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!requires_grad(x)) continue;
    DDPM_CHECK(is_leaf(x), "gradcheck: input ", i, " (", describe(x), ") was made by '", grad_fn(x)->name(),
               "'; pass leaves (detach(x), then set_requires_grad)");
    DDPM_CHECK(x.dtype() == DType::Float64, "gradcheck: input ", i, " is ", describe(x),
               "; central differences need float64 (convert with .to(DType::Float64))");
    for (int64_t d = 0; d < x.dim(); ++d)
      DDPM_CHECK(x.strides()[size_t(d)] != 0 || x.shape()[size_t(d)] <= 1, "gradcheck: input ", i, " (",
                 describe(x), ") has stride 0 on dim ", d, ", so its elements overlap and cannot be perturbed "
                 "one at a time; pass a copy (x.clone())");
    checked.push_back(i);
  }
  DDPM_CHECK(!checked.empty(), "gradcheck: no input requires grad; mark the inputs to check with set_requires_grad");

  // ---- Analytic: one backward of L = sum(w * f(x)), with the inputs' own gradients set aside.
  std::vector<Tensor> saved_grads;
  for (const Tensor& x : inputs) {
    saved_grads.push_back(grad(x));
    set_grad(x, Tensor());
  }
  std::vector<std::vector<double>> analytic(inputs.size());
  std::vector<double> w;
  bool recorded = false;
  try {
    GradModeGuard grad_on(true);
    Tensor out = call_f(f, inputs);
    w = projection_weights(out.numel());
    recorded = requires_grad(out);
    if (recorded) {
      Tensor w_tensor = Tensor::from_vector(w, out.shape()).to(out.device());
      backward(out, w_tensor);
    }
    for (size_t i : checked) {
      Tensor g = grad(inputs[i]);
      analytic[i] = g.defined() ? g.to_vector<double>() : std::vector<double>(size_t(inputs[i].numel()), 0.0);
    }
  } catch (...) {
    for (size_t i = 0; i < inputs.size(); ++i) set_grad(inputs[i], saved_grads[i]);
    throw;
  }
  for (size_t i = 0; i < inputs.size(); ++i) set_grad(inputs[i], saved_grads[i]);

  // ---- Numeric: perturb each element in place by +-eps, evaluate L again, compare.
  GradcheckResult result;
  std::ostringstream failures;
  failures.precision(10);
  double worst_ratio = -1.0;  // |analytic - numeric| / (atol + rtol |numeric|) of the worst element
  int64_t compared = 0;
  NoGradGuard no_grad;
  for (size_t i : checked) {
    const Tensor& x = inputs[i];
    std::vector<double> original = x.to_vector<double>();
    std::vector<double> numeric(original.size());
    for (int64_t k = 0; k < x.numel(); ++k) {
      Tensor e = element_view(x, k);
      e.fill_(original[size_t(k)] + eps);
      double plus = project(call_f(f, inputs), w);
      e.fill_(original[size_t(k)] - eps);
      double minus = project(call_f(f, inputs), w);
      e.fill_(original[size_t(k)]);  // restored exactly: the value came from x in float64
      numeric[size_t(k)] = (plus - minus) / (2.0 * eps);
    }
    int64_t bad = 0, input_worst = 0;
    double input_worst_ratio = -1.0;
    for (int64_t k = 0; k < x.numel(); ++k) {
      double a = analytic[i][size_t(k)], n = numeric[size_t(k)];
      double ratio = std::fabs(a - n) / (atol + rtol * std::fabs(n));
      if (std::isnan(ratio)) ratio = std::numeric_limits<double>::infinity();
      ++compared;
      if (ratio > 1.0) ++bad;
      if (ratio > input_worst_ratio) { input_worst_ratio = ratio; input_worst = k; }
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        result.input = int64_t(i);
        result.element = k;
        result.analytic = a;
        result.numeric = n;
      }
    }
    if (bad > 0) {
      result.ok = false;
      double a = analytic[i][size_t(input_worst)], n = numeric[size_t(input_worst)];
      failures << "\n  input " << i << " (" << describe(x) << "): " << bad << " of " << x.numel()
               << " elements differ; worst is element " << input_worst << " at " << index_str(x.shape(), input_worst)
               << ": analytic " << a << " vs numeric " << n << " (|diff| " << std::fabs(a - n) << " > atol "
               << atol << " + rtol " << rtol << " * |numeric|)";
    }
  }

  std::ostringstream report;
  report.precision(10);
  if (result.ok) {
    report << "gradcheck passed: " << compared << " elements of " << checked.size() << " input(s), worst "
           << "|analytic - numeric| at " << worst_ratio << " of the tolerance";
  } else {
    report << "gradcheck failed (eps " << eps << "):" << failures.str();
    if (!recorded)
      report << "\n  f's output does not require grad, so no gradient was computed: does f call the "
                "differentiable ddpm:: ops (not ddpm::ops::), outside NoGradGuard?";
  }
  result.report = report.str();
  return result;
}

}  // namespace ddpm
