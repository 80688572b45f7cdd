// What the course graders share: checks that fail with a message in a student's words (what was
// compared, the worst element, expected against got), and the points of each check, which live in its
// test case's name: "a1 softplus forward matches the reference (2 points)".
#pragma once
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/autograd.hpp"

namespace ddpm::course {

// Where a and b differ most, in words: "element [1, 2] (x = 0.5): expected 0.974, got 0.5".
inline std::string worst_element(const Tensor& got, const Tensor& expected, double atol, double rtol, bool* ok,
                                 const Tensor& input = Tensor()) {
  const std::vector<double> g = got.to_vector<double>(), e = expected.to_vector<double>();
  const std::vector<double> in = input.defined() && input.numel() == got.numel() ? input.to_vector<double>()
                                                                                 : std::vector<double>();
  size_t worst = 0;
  double worst_excess = -INFINITY;
  for (size_t i = 0; i < g.size(); ++i) {
    const double excess = std::isnan(g[i]) ? INFINITY : std::abs(g[i] - e[i]) - (atol + rtol * std::abs(e[i]));
    if (excess > worst_excess) worst_excess = excess, worst = i;
  }
  *ok = worst_excess <= 0;
  std::ostringstream s;
  s.precision(6);
  std::vector<int64_t> index(got.shape().size());
  for (size_t d = index.size(), rest = worst; d-- > 0;) index[d] = int64_t(rest % size_t(got.size(int64_t(d)))), rest /= size_t(got.size(int64_t(d)));
  s << "element [";
  for (size_t d = 0; d < index.size(); ++d) s << (d ? ", " : "") << index[d];
  s << "]";
  if (!in.empty()) s << " (input " << in[worst] << ")";
  s << ": expected " << e[worst] << ", got " << g[worst] << " (tolerance " << atol << " + " << rtol << " |expected|)";
  return s.str();
}

// Fails the check unless got matches expected elementwise; `what` says what was computed, on what input.
inline void check_close(const std::string& what, const Tensor& got, const Tensor& expected, double atol = 1e-6,
                        double rtol = 1e-5, const Tensor& input = Tensor()) {
  if (!got.defined() || got.shape() != expected.shape()) {
    FAIL_CHECK(what << ": the result has shape " << (got.defined() ? shape_str(got.shape()) : std::string("(none)"))
                    << ", expected " << shape_str(expected.shape()));
    return;
  }
  bool ok = false;
  const std::string where = worst_element(got, expected, atol, rtol, &ok, input);
  if (!ok) FAIL_CHECK(what << ": wrong at " << where);
  else CHECK(ok);
}

// Fails the check unless the gradient that backward() computes matches central differences.
inline void check_gradient(const std::string& what, const GradcheckFn& f, const std::vector<Tensor>& inputs) {
  const GradcheckResult r = gradcheck(f, inputs);
  if (!r.ok) FAIL_CHECK(what << ": the gradient from backward() disagrees with central differences: " << r.report);
  else CHECK(r.ok);
}

// A number within a range, or a failure that says which.
inline void check_between(const std::string& what, double got, double lo, double hi) {
  if (!(got >= lo && got <= hi)) FAIL_CHECK(what << ": got " << got << ", expected between " << lo << " and " << hi);
  else CHECK(true);
}

}  // namespace ddpm::course
