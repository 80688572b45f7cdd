// Plain-loop references in double for the tensor op tests (test_tensor_elementwise,
// test_tensor_reductions, test_tensor_matmul_index): tolerances per dtype, value shapers, reference
// reductions by groups of elements, and a numpy-style broadcasting matmul.
#pragma once
#include <cmath>
#include <functional>
#include <vector>

#include "test_util.hpp"

namespace ddpm::test {

inline const Arrange kArranges[] = {Arrange::Contiguous, Arrange::Transposed, Arrange::Strided};

inline double atol_for(DType d) { return d == DType::Float64 ? 1e-12 : 1e-6; }
inline double rtol_for(DType d) { return d == DType::Float64 ? 1e-12 : 1e-5; }

// A tensor holding `values` (shape `shape`, dtype d) as a reference for check_close.
inline Tensor ref_tensor(const std::vector<double>& values, const Shape& shape) {
  return shape.empty() ? scalar_tensor(values.at(0), DType::Float64) : tensor(values, shape, DType::Float64);
}

inline void check_ref(const Tensor& got, const std::vector<double>& want, const Shape& shape, DType d) {
  CHECK(got.dtype() == d);
  check_close(got, ref_tensor(want, shape), atol_for(d), rtol_for(d));
}

inline std::vector<double> positive(std::vector<double> v) {
  for (double& x : v) x = std::fabs(x) + 0.125;
  return v;
}
inline std::vector<double> nonzero(std::vector<double> v) {
  for (double& x : v) x += 1.0 / 16;
  return v;
}

// ---- reference reductions: groups of elements per output, in row-major order ----
struct Groups {
  Shape out_shape;
  std::vector<std::vector<double>> groups;
};

inline Groups group_by(const std::vector<double>& v, const Shape& shape, std::vector<int64_t> dims, bool keepdim) {
  int64_t nd = int64_t(shape.size());
  std::vector<bool> red(nd, dims.empty());
  for (int64_t d : dims) red[d < 0 ? d + nd : d] = true;
  Groups g;
  Shape kept;  // shape of the output without keepdim's ones
  for (int64_t d = 0; d < nd; ++d) {
    if (!red[d]) kept.push_back(shape[d]);
    if (!red[d]) g.out_shape.push_back(shape[d]);
    else if (keepdim) g.out_shape.push_back(1);
  }
  g.groups.resize(size_t(numel_of(kept)));
  for (int64_t k = 0; k < int64_t(v.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, shape), ko;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[d]) ko.push_back(idx[d]);
    g.groups[ravel_index(ko, kept)].push_back(v[k]);
  }
  return g;
}

inline std::vector<double> reduce_ref(const Groups& g, const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> out;
  for (const auto& grp : g.groups) out.push_back(f(grp));
  return out;
}

inline double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Naive broadcasting matmul in double following numpy.matmul.
inline std::vector<double> matmul_ref(const std::vector<double>& a, Shape sa, const std::vector<double>& b, Shape sb,
                               Shape* out_shape) {
  bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  Shape batch = broadcast_shapes(ba, bb, "matmul_ref");
  int64_t nb = numel_of(batch);
  std::vector<double> out(size_t(nb * m * n));
  for (int64_t bi = 0; bi < nb; ++bi) {
    std::vector<int64_t> idx = unravel_index(bi, batch);
    auto sub = [&](const Shape& s) {
      std::vector<int64_t> j(s.size());
      for (size_t d = 0; d < s.size(); ++d) j[d] = s[d] == 1 ? 0 : idx[d + batch.size() - s.size()];
      return ravel_index(j, s);
    };
    int64_t ia = sub(ba), ib = sub(bb);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t p = 0; p < k; ++p) s += a[ia * m * k + i * k + p] * b[ib * k * n + p * n + j];
        out[bi * m * n + i * n + j] = s;
      }
  }
  *out_shape = batch;
  if (!a1) out_shape->push_back(m);
  if (!b1) out_shape->push_back(n);
  return out;
}

}  // namespace ddpm::test
