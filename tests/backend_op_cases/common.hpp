// What every case of the backend-ops harness is made of: BackendOpCase, the CaseList the add_*_cases
// functions fill, and the input values, layouts and index helpers they share.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "tensor/backend.hpp"
#include "tensor/ops.hpp"
#include "tensor/philox.hpp"

namespace ddpm::backend_ops {

using Values = std::vector<double>;
// One call of the kernel on inputs already built; returns the tensors the kernel wrote.
using KernelCall = std::function<std::vector<Tensor>()>;

struct BackendOpCase {
  std::string kernel;  // its name in kBackendKernelNames
  std::string label;   // dtype, shapes, layouts, options
  // Builds the inputs on `device` (the same values on every device) and returns the call. The call
  // may be repeated (perf mode): kernels that accumulate or update in place then keep doing so.
  std::function<KernelCall(Device)> make;
  // The outputs the first call must give, row-major, from the input values alone (test mode only).
  std::function<std::vector<Values>()> reference;
  double atol = 0, rtol = 0;                // the CPU against the reference (0, 0: exactly)
  double parity_atol = 0, parity_rtol = 0;  // CUDA against the CPU (0, 0: exactly)
  double bytes = 0;                         // bytes read and written by one call, for GB/s
  double flops = 0;                         // where meaningful (gemm, conv2d, col2im's adds), else 0
};

// ---- input values and layouts -------------------------------------------------------------------

// n multiples of 1/8 in [-4, 4] in a scrambled order: exact in every float dtype, and sums and
// products of a few of them are exact in float32.
inline Values dyadic(size_t n, unsigned salt = 0) {
  Values v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double(int64_t((i * 37 + salt * 11 + 5) % 65) - 32) / 8.0;
  return v;
}
// n integers in [-lim, lim], scrambled (repeats: ties for argmax, equal pairs for comparisons).
inline Values integers(size_t n, int64_t lim, unsigned salt = 0) {
  Values v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double(int64_t((i * 7919 + salt * 104729 + 3) % uint64_t(2 * lim + 1)) - lim);
  return v;
}
inline Values map(Values v, const std::function<double(double)>& f) {
  for (double& x : v) x = f(x);
  return v;
}

// How an input lies in memory; its logical values are the same for each.
//  Transposed: the storage holds the reversed-dims tensor, the input is its permute;
//  Strided: the last dim is a step-2 slice of a wider tensor whose other elements are -999.5.
enum class Lay { Contiguous, Transposed, Strided };
inline const char* lay_name(Lay l) {
  return l == Lay::Contiguous ? "contiguous" : l == Lay::Transposed ? "transposed" : "strided";
}
constexpr Lay kLays[] = {Lay::Contiguous, Lay::Transposed, Lay::Strided};

inline std::vector<int64_t> unravel(int64_t k, const Shape& s) {
  std::vector<int64_t> idx(s.size());
  for (size_t d = s.size(); d-- > 0;) {
    idx[d] = s[d] ? k % s[d] : 0;
    k = s[d] ? k / s[d] : 0;
  }
  return idx;
}
inline int64_t ravel(const std::vector<int64_t>& idx, const Shape& s) {
  int64_t k = 0;
  for (size_t d = 0; d < s.size(); ++d) k = k * s[d] + idx[d];
  return k;
}

// A tensor of shape `shape` holding `values` (row-major), laid out as asked, on opts' device.
inline Tensor make_input(const Values& values, const Shape& shape, TensorOptions opts, Lay lay = Lay::Contiguous) {
  if (lay == Lay::Contiguous || shape.size() < 1) return shape.empty() ? scalar_tensor(values[0], opts) : tensor(values, shape, opts);
  if (lay == Lay::Transposed) {
    Shape rev(shape.rbegin(), shape.rend());
    Values base(values.size());
    for (int64_t k = 0; k < int64_t(values.size()); ++k) {
      std::vector<int64_t> idx = unravel(k, shape);
      base[size_t(ravel(std::vector<int64_t>(idx.rbegin(), idx.rend()), rev))] = values[size_t(k)];
    }
    std::vector<int64_t> perm;
    for (size_t d = shape.size(); d-- > 0;) perm.push_back(int64_t(d));
    return ops::permute(tensor(base, rev, opts), perm);
  }
  Shape wide = shape;
  wide.back() = 2 * shape.back() + 1;
  Values base(size_t(numel_of(wide)), -999.5);
  for (int64_t k = 0; k < int64_t(values.size()); ++k) {
    std::vector<int64_t> idx = unravel(k, shape);
    idx.back() = 2 * idx.back() + 1;
    base[size_t(ravel(idx, wide))] = values[size_t(k)];
  }
  return ops::slice(tensor(base, wide, opts), -1, 1, 2 * shape.back() + 1, 2);
}

// Element k of `to` read from v of shape `from` broadcast to `to` (NumPy rules).
inline double broadcast_at(const Values& v, const Shape& from, const Shape& to, int64_t k) {
  std::vector<int64_t> idx = unravel(k, to), src(from.size());
  const size_t lead = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) src[d] = from[d] == 1 ? 0 : idx[d + lead];
  return v[size_t(ravel(src, from))];
}

// The value a float32 element holds (references of float32 kernels round their inputs the same way).
inline double as_dtype(double x, DType d) {
  switch (d) {
    case DType::Float32: return double(float(x));
    case DType::Int32: case DType::Int64: return std::trunc(x);
    case DType::Bool: return x != 0 ? 1.0 : 0.0;
    default: return x;
  }
}

inline std::string dtype_label(DType d) { return dtype_name(d); }
inline double nbytes(const Shape& s, DType d) { return double(numel_of(s)) * double(dtype_size(d)); }
inline bool is_f64(DType d) { return d == DType::Float64; }
// Tolerances of a float32 / float64 result against a double reference or the other device.
inline double tol_a(DType d) { return is_f64(d) ? 1e-12 : 1e-6; }
inline double tol_r(DType d) { return is_f64(d) ? 1e-12 : 1e-5; }

struct CaseList {
  bool perf = false;               // perf-sized shapes (bench) instead of the test's
  std::vector<std::string> only;   // the kernels wanted; empty: all
  std::vector<BackendOpCase> cases;
  bool wants(std::initializer_list<const char*> kernels) const {
    if (only.empty()) return true;
    for (const char* k : kernels)
      if (std::find(only.begin(), only.end(), k) != only.end()) return true;
    return false;
  }
  void add(BackendOpCase c) {
    if (!wants({c.kernel.c_str()})) return;
    if (perf) c.reference = nullptr;  // not checked in perf mode; frees the values it holds
    cases.push_back(std::move(c));
  }
};

}  // namespace ddpm::backend_ops
