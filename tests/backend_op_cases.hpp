// The case table of the backend-ops harness: for every kernel of tensor/kernel_table.hpp, inputs built
// on a device (several shapes, strided, transposed and broadcast views where the kernel takes
// layouts), one call of the kernel through backend(device).name(...), a naive reference (plain loops,
// double accumulation) and the bytes and flops of the call. tests/test_backend_ops.cpp checks each
// case on the CPU against its reference and on CUDA against the CPU; bench/bench_backend_ops.cpp
// times the perf-sized cases. No doctest here, so that the bench can include it.
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

// ---- copy, fill ---------------------------------------------------------------------------------

inline void add_copy_cases(CaseList& L) {
  if (!L.wants({"copy"})) return;
  struct C { Shape shape; DType from, to; Lay src, dst; bool broadcast; };
  std::vector<C> cs;
  if (L.perf) {
    cs = {{{4096, 4096}, DType::Float32, DType::Float32, Lay::Contiguous, Lay::Contiguous, false},
          {{4096, 4096}, DType::Float32, DType::Float32, Lay::Transposed, Lay::Contiguous, false},
          {{64, 128, 32, 32}, DType::Float32, DType::BFloat16, Lay::Contiguous, Lay::Contiguous, false}};
  } else {
    const DType pairs[][2] = {{DType::Float32, DType::Float32}, {DType::Float32, DType::Float64},
                              {DType::Float64, DType::Float32}, {DType::Float32, DType::BFloat16},
                              {DType::Float16, DType::Float64}, {DType::Int64, DType::Float32},
                              {DType::Float64, DType::Int32},   {DType::Int32, DType::Bool}};
    for (const auto& p : pairs)
      for (Lay src : kLays) cs.push_back({{3, 7, 33}, p[0], p[1], src, src == Lay::Strided ? Lay::Transposed : Lay::Contiguous, false});
    cs.push_back({{5, 1, 4099}, DType::Float32, DType::Float32, Lay::Strided, Lay::Strided, false});
    cs.push_back({{6, 33}, DType::Float64, DType::Float32, Lay::Contiguous, Lay::Transposed, true});
  }
  for (const C& c : cs) {
    // a broadcast source: [1, n] expanded to [m, n] (stride 0)
    const Shape src_shape = c.broadcast ? Shape{1, c.shape.back()} : c.shape;
    Values v = dyadic(size_t(numel_of(src_shape)), 1);
    auto integral = [](DType d) { return d == DType::Int32 || d == DType::Int64 || d == DType::Bool; };
    if (integral(c.from) || integral(c.to)) v = map(v, [](double x) { return std::trunc(x); });
    BackendOpCase k;
    k.kernel = "copy";
    k.label = dtype_label(c.from) + " " + lay_name(c.src) + (c.broadcast ? " broadcast" : "") + " -> " +
              dtype_label(c.to) + " " + lay_name(c.dst) + " " + shape_str(c.shape);
    k.make = [=](Device dev) -> KernelCall {
      Tensor src = make_input(v, src_shape, TensorOptions(c.from, dev), c.src);
      if (c.broadcast) src = ops::expand(src, c.shape);
      Tensor dst = make_input(Values(size_t(numel_of(c.shape)), 0.0), c.shape, TensorOptions(c.to, dev), c.dst);
      return [=] {
        backend(dev).copy(dst.ref(), src.ref());
        return std::vector<Tensor>{dst};
      };
    };
    k.reference = [=] {
      Values out(size_t(numel_of(c.shape)));
      for (int64_t i = 0; i < int64_t(out.size()); ++i) out[size_t(i)] = as_dtype(broadcast_at(v, src_shape, c.shape, i), c.to);
      return std::vector<Values>{out};
    };
    k.bytes = nbytes(c.shape, c.from) + nbytes(c.shape, c.to);
    L.add(k);
  }
}

inline void add_fill_cases(CaseList& L) {
  if (!L.wants({"fill"})) return;
  const Shape shape = L.perf ? Shape{64, 128, 32, 32} : Shape{3, 5, 33};
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int32, DType::Int64, DType::Bool}) {
    for (Lay lay : kLays) {
      if (L.perf && (lay != Lay::Contiguous || d != DType::Float32)) continue;
      const double value = d == DType::Bool ? 1.0 : d == DType::Int32 || d == DType::Int64 ? -7.0 : -2.5;
      BackendOpCase k;
      k.kernel = "fill";
      k.label = dtype_label(d) + " " + lay_name(lay) + " " + shape_str(shape);
      // A strided view comes back with its whole storage: the gaps must keep their value.
      const double gap = d == DType::Bool ? 0.0 : -3.0;
      Shape wide = shape;
      wide.back() = 2 * shape.back() + 1;
      k.make = [=](Device dev) -> KernelCall {
        Tensor base = full(wide, gap, TensorOptions(d, dev));
        Tensor dst = lay == Lay::Strided ? ops::slice(base, -1, 1, wide.back(), 2)
                                         : make_input(Values(size_t(numel_of(shape)), 0.0), shape, TensorOptions(d, dev), lay);
        return [=] {
          backend(dev).fill(dst.ref(), value);
          return std::vector<Tensor>{lay == Lay::Strided ? base : dst};
        };
      };
      k.reference = [=] {
        if (lay != Lay::Strided) return std::vector<Values>{Values(size_t(numel_of(shape)), value)};
        Values out(size_t(numel_of(wide)));
        for (size_t i = 0; i < out.size(); ++i) out[i] = int64_t(i) % wide.back() % 2 == 1 ? value : gap;
        return std::vector<Values>{out};
      };
      k.bytes = nbytes(shape, d);
      L.add(k);
    }
  }
}

// ---- elementwise --------------------------------------------------------------------------------

struct UnaryCase {
  const char* name;
  UnaryOp op;
  double a, b;
  bool positive;  // the input is |x| + 1/8 (log, sqrt, rsqrt, fractional powers)
  double (*ref)(double x, double a, double b);
};
inline const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cs = {
      {"neg", UnaryOp::Neg, 0, 0, false, [](double x, double, double) { return -x; }},
      {"abs", UnaryOp::Abs, 0, 0, false, [](double x, double, double) { return std::fabs(x); }},
      {"sign", UnaryOp::Sign, 0, 0, false, [](double x, double, double) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }},
      {"exp", UnaryOp::Exp, 0, 0, false, [](double x, double, double) { return std::exp(x); }},
      {"log", UnaryOp::Log, 0, 0, true, [](double x, double, double) { return std::log(x); }},
      {"sqrt", UnaryOp::Sqrt, 0, 0, true, [](double x, double, double) { return std::sqrt(x); }},
      {"rsqrt", UnaryOp::Rsqrt, 0, 0, true, [](double x, double, double) { return 1 / std::sqrt(x); }},
      {"sin", UnaryOp::Sin, 0, 0, false, [](double x, double, double) { return std::sin(x); }},
      {"cos", UnaryOp::Cos, 0, 0, false, [](double x, double, double) { return std::cos(x); }},
      {"tanh", UnaryOp::Tanh, 0, 0, false, [](double x, double, double) { return std::tanh(x); }},
      {"sigmoid", UnaryOp::Sigmoid, 0, 0, false, [](double x, double, double) { return 1 / (1 + std::exp(-x)); }},
      {"silu", UnaryOp::Silu, 0, 0, false, [](double x, double, double) { return x / (1 + std::exp(-x)); }},
      {"relu", UnaryOp::Relu, 0, 0, false, [](double x, double, double) { return x > 0 ? x : 0.0; }},
      {"clamp", UnaryOp::Clamp, -1.25, 0.5, false,
       [](double x, double a, double b) { return x < a ? a : x > b ? b : x; }},
      {"pow 3", UnaryOp::PowScalar, 3, 0, false, [](double x, double a, double) { return std::pow(x, a); }},
      {"pow -1.5", UnaryOp::PowScalar, -1.5, 0, true, [](double x, double a, double) { return std::pow(x, a); }},
  };
  return cs;
}

inline void add_unary_cases(CaseList& L) {
  if (!L.wants({"unary"})) return;
  const std::vector<Shape> shapes = L.perf ? std::vector<Shape>{{64, 128, 32, 32}} : std::vector<Shape>{{3, 7}, {2, 3, 33}, {5, 1, 257}};
  for (const UnaryCase& u : unary_cases()) {
    if (L.perf && u.op != UnaryOp::Silu && u.op != UnaryOp::Neg) continue;
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      for (size_t si = 0; si < shapes.size(); ++si) {
        const Shape shape = shapes[si];
        // the output is contiguous, or (for the last shape) a transposed view too
        const Lay in_lay = L.perf ? Lay::Contiguous : kLays[si % 3], out_lay = si == 2 ? Lay::Transposed : Lay::Contiguous;
        Values v = dyadic(size_t(numel_of(shape)), 3);
        if (u.positive) v = map(v, [](double x) { return std::fabs(x) + 0.125; });
        BackendOpCase k;
        k.kernel = "unary";
        k.label = std::string(u.name) + " " + dtype_label(d) + " " + shape_str(shape) + " " + lay_name(in_lay) +
                  " -> " + lay_name(out_lay);
        k.make = [=](Device dev) -> KernelCall {
          Tensor x = make_input(v, shape, TensorOptions(d, dev), in_lay);
          Tensor out = make_input(Values(v.size(), 0.0), shape, TensorOptions(d, dev), out_lay);
          return [=] {
            backend(dev).unary(u.op, out.ref(), x.ref(), u.a, u.b);
            return std::vector<Tensor>{out};
          };
        };
        k.reference = [=] {
          Values out(v.size());
          for (size_t i = 0; i < v.size(); ++i) out[i] = u.ref(v[i], u.a, u.b);
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = tol_a(d);
        k.rtol = k.parity_rtol = tol_r(d);
        k.bytes = 2 * nbytes(shape, d);
        L.add(k);
      }
    }
  }
  if (L.perf) return;
  // the integer ops
  for (DType d : {DType::Int32, DType::Int64}) {
    for (const UnaryCase& u : unary_cases()) {
      if (u.op != UnaryOp::Neg && u.op != UnaryOp::Abs && u.op != UnaryOp::Sign && u.op != UnaryOp::Relu &&
          u.op != UnaryOp::Clamp)
        continue;
      const double a = u.op == UnaryOp::Clamp ? -4 : 0, b = u.op == UnaryOp::Clamp ? 6 : 0;
      for (Lay lay : kLays) {
        const Shape shape{3, 33};
        Values v = integers(99, 11);
        BackendOpCase k;
        k.kernel = "unary";
        k.label = std::string(u.name) + " " + dtype_label(d) + " " + shape_str(shape) + " " + lay_name(lay);
        k.make = [=](Device dev) -> KernelCall {
          Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
          Tensor out = empty(shape, TensorOptions(d, dev));
          return [=] {
            backend(dev).unary(u.op, out.ref(), x.ref(), a, b);
            return std::vector<Tensor>{out};
          };
        };
        k.reference = [=] {
          Values out(v.size());
          for (size_t i = 0; i < v.size(); ++i) out[i] = u.ref(v[i], a, b);
          return std::vector<Values>{out};
        };
        k.bytes = 2 * nbytes(shape, d);
        L.add(k);
      }
    }
  }
}

struct BinaryCase {
  const char* name;
  BinaryOp op;
  double (*ref)(double x, double y);
};
inline const std::vector<BinaryCase>& binary_cases() {
  static const std::vector<BinaryCase> cs = {
      {"add", BinaryOp::Add, [](double x, double y) { return x + y; }},
      {"sub", BinaryOp::Sub, [](double x, double y) { return x - y; }},
      {"mul", BinaryOp::Mul, [](double x, double y) { return x * y; }},
      {"div", BinaryOp::Div, [](double x, double y) { return x / y; }},
      {"pow", BinaryOp::Pow, [](double x, double y) { return std::pow(x, y); }},
      {"maximum", BinaryOp::Maximum, [](double x, double y) { return x > y ? x : y; }},
      {"minimum", BinaryOp::Minimum, [](double x, double y) { return x < y ? x : y; }},
      {"silu_backward", BinaryOp::SiluBackward,  // x is the gradient, y silu's input
       [](double g, double y) { const double s = 1 / (1 + std::exp(-y)); return g * s * (1 + y * (1 - s)); }},
      {"eq", BinaryOp::Eq, [](double x, double y) { return double(x == y); }},
      {"ne", BinaryOp::Ne, [](double x, double y) { return double(x != y); }},
      {"lt", BinaryOp::Lt, [](double x, double y) { return double(x < y); }},
      {"le", BinaryOp::Le, [](double x, double y) { return double(x <= y); }},
      {"gt", BinaryOp::Gt, [](double x, double y) { return double(x > y); }},
      {"ge", BinaryOp::Ge, [](double x, double y) { return double(x >= y); }},
  };
  return cs;
}
// Inputs of a binary op: x is |x| + 1/8 for pow, y avoids 0 for div; comparisons see equal pairs
// (the relu of both: many zeros).
inline Values binary_x(BinaryCase b, Values v) {
  if (b.op == BinaryOp::Pow) return map(v, [](double x) { return std::fabs(x) + 0.125; });
  if (is_comparison(b.op) && b.op != BinaryOp::Lt && b.op != BinaryOp::Gt) return map(v, [](double x) { return x > 0 ? x : 0.0; });
  return v;
}
inline Values binary_y(BinaryCase b, Values v) {
  if (b.op == BinaryOp::Div) return map(v, [](double x) { return x + 1.0 / 16; });
  if (b.op == BinaryOp::Pow) return map(v, [](double x) { return x / 2; });
  return binary_x(b, v);
}

inline void add_binary_cases(CaseList& L) {
  if (!L.wants({"binary"})) return;
  struct P { Shape x, y, out; };
  std::vector<P> shapes;
  auto shape = [&](Shape x, Shape y, Shape out) { shapes.push_back({std::move(x), std::move(y), std::move(out)}); };
  if (L.perf) {
    shape({64, 128, 32, 32}, {64, 128, 32, 32}, {64, 128, 32, 32});
    shape({64, 128, 32, 32}, {1, 128, 1, 1}, {64, 128, 32, 32});
  } else {
    shape({3, 7}, {3, 7}, {3, 7});
    shape({3, 1}, {7}, {3, 7});
    shape({2, 1, 33}, {5, 1}, {2, 5, 33});
    shape({}, {4, 5}, {4, 5});
    shape({4, 1, 1}, {1, 3, 5}, {4, 3, 5});
  }
  for (const BinaryCase& b : binary_cases()) {
    if (L.perf && b.op != BinaryOp::Add && b.op != BinaryOp::Mul) continue;
    for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64}) {
      const bool integer = d == DType::Int32 || d == DType::Int64;
      if (integer && (b.op == BinaryOp::Div || b.op == BinaryOp::Pow || b.op == BinaryOp::SiluBackward)) continue;
      if (L.perf && d != DType::Float32) continue;
      for (size_t si = 0; si < shapes.size(); ++si) {
        const P p = shapes[si];
        const Lay lx = L.perf ? Lay::Contiguous : kLays[si % 3], ly = L.perf ? Lay::Contiguous : kLays[(si + 1) % 3];
        Values vx = integer ? integers(size_t(numel_of(p.x)), 11, 1) : binary_x(b, dyadic(size_t(numel_of(p.x)), 1));
        Values vy = integer ? integers(size_t(numel_of(p.y)), 11, 2) : binary_y(b, dyadic(size_t(numel_of(p.y)), 2));
        const DType out_dtype = is_comparison(b.op) ? DType::Bool : d;
        BackendOpCase k;
        k.kernel = "binary";
        k.label = std::string(b.name) + " " + dtype_label(d) + " " + shape_str(p.x) + " " + lay_name(lx) + " and " +
                  shape_str(p.y) + " " + lay_name(ly) + " -> " + shape_str(p.out);
        k.make = [=](Device dev) -> KernelCall {
          Tensor x = ops::expand(make_input(vx, p.x, TensorOptions(d, dev), lx), p.out);
          Tensor y = ops::expand(make_input(vy, p.y, TensorOptions(d, dev), ly), p.out);
          Tensor out = empty(p.out, TensorOptions(out_dtype, dev));
          return [=] {
            backend(dev).binary(b.op, out.ref(), x.ref(), y.ref());
            return std::vector<Tensor>{out};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(p.out)));
          for (int64_t i = 0; i < int64_t(out.size()); ++i)
            out[size_t(i)] = b.ref(broadcast_at(vx, p.x, p.out, i), broadcast_at(vy, p.y, p.out, i));
          return std::vector<Values>{out};
        };
        if (!integer && !is_comparison(b.op)) {
          k.atol = k.parity_atol = tol_a(d);
          k.rtol = k.parity_rtol = tol_r(d);
        }
        k.bytes = nbytes(p.x, d) + nbytes(p.y, d) + nbytes(p.out, out_dtype);
        L.add(k);
      }
    }
  }
}

inline void add_binary_scalar_cases(CaseList& L) {
  if (!L.wants({"binary_scalar"})) return;
  const Shape shape = L.perf ? Shape{64, 128, 32, 32} : Shape{5, 33};
  for (const BinaryCase& b : binary_cases()) {
    if ((L.perf && b.op != BinaryOp::Mul) || b.op == BinaryOp::SiluBackward) continue;
    for (DType d : {DType::Float32, DType::Float64, DType::Int64}) {
      const bool integer = d == DType::Int64;
      if ((integer && (b.op == BinaryOp::Div || b.op == BinaryOp::Pow)) || (L.perf && d != DType::Float32)) continue;
      for (bool first : {false, true}) {
        if (L.perf && first) continue;
        for (Lay lay : kLays) {
          if (L.perf && lay != Lay::Contiguous) continue;
          // a scalar the ops meet as equal to some elements; fractional for floats, cut to -2 for ints
          const double s = b.op == BinaryOp::Pow ? (first ? 1.5 : 2.5) : integer ? -2.5 : 0.5;
          Values v = integer ? integers(size_t(numel_of(shape)), 11, 3) : dyadic(size_t(numel_of(shape)), 4);
          if (b.op == BinaryOp::Pow && !first) v = map(v, [](double x) { return std::fabs(x); });
          if (b.op == BinaryOp::Div && first) v = map(v, [](double x) { return x + 1.0 / 16; });
          const DType out_dtype = is_comparison(b.op) ? DType::Bool : d;
          BackendOpCase k;
          k.kernel = "binary_scalar";
          k.label = std::string(b.name) + (first ? "(s, x) " : "(x, s) ") + dtype_label(d) + " " + shape_str(shape) +
                    " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor out = empty(shape, TensorOptions(out_dtype, dev));
            return [=] {
              backend(dev).binary_scalar(b.op, out.ref(), x.ref(), s, first);
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            const double sc = integer ? std::trunc(s) : s;  // the scalar takes x's dtype first
            Values out(v.size());
            for (size_t i = 0; i < v.size(); ++i) out[i] = first ? b.ref(sc, v[i]) : b.ref(v[i], sc);
            return std::vector<Values>{out};
          };
          if (!integer && !is_comparison(b.op)) {
            k.atol = k.parity_atol = tol_a(d);
            k.rtol = k.parity_rtol = tol_r(d);
          }
          k.bytes = nbytes(shape, d) + nbytes(shape, out_dtype);
          L.add(k);
        }
      }
    }
  }
}

inline void add_where_cases(CaseList& L) {
  if (!L.wants({"where"})) return;
  struct P { Shape c, x, y, out; };
  std::vector<P> shapes;
  auto shape = [&](Shape c, Shape x, Shape y, Shape out) {
    shapes.push_back({std::move(c), std::move(x), std::move(y), std::move(out)});
  };
  if (L.perf) {
    shape({64, 128, 32, 32}, {64, 128, 32, 32}, {64, 128, 32, 32}, {64, 128, 32, 32});
  } else {
    shape({3, 7}, {3, 7}, {3, 7}, {3, 7});
    shape({2, 1, 5}, {3, 5}, {5}, {2, 3, 5});
    shape({4, 5}, {4, 5}, {}, {4, 5});
  }
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int32, DType::Int64, DType::Bool}) {
    if (L.perf && d != DType::Float32) continue;
    for (size_t si = 0; si < shapes.size(); ++si) {
      for (Lay lay : kLays) {
        if (L.perf && lay != Lay::Contiguous) continue;
        const P p = shapes[si];
        Values vc = map(integers(size_t(numel_of(p.c)), 1, 4), [](double x) { return x > 0 ? 1.0 : 0.0; });
        Values vx = d == DType::Bool ? map(integers(size_t(numel_of(p.x)), 1, 5), [](double x) { return x != 0 ? 1.0 : 0.0; })
                                     : dyadic(size_t(numel_of(p.x)), 5);
        Values vy = d == DType::Bool ? Values(size_t(numel_of(p.y)), 0.0) : dyadic(size_t(numel_of(p.y)), 6);
        if (d == DType::Int32 || d == DType::Int64) {
          vx = map(vx, [](double x) { return std::trunc(8 * x); });
          vy = map(vy, [](double x) { return std::trunc(8 * x); });
        }
        BackendOpCase k;
        k.kernel = "where";
        k.label = dtype_label(d) + " cond " + shape_str(p.c) + " " + lay_name(lay) + ", x " + shape_str(p.x) + ", y " +
                  shape_str(p.y);
        k.make = [=](Device dev) -> KernelCall {
          Tensor c = ops::expand(make_input(vc, p.c, TensorOptions(DType::Bool, dev), lay), p.out);
          Tensor x = ops::expand(make_input(vx, p.x, TensorOptions(d, dev), lay == Lay::Strided ? Lay::Transposed : lay), p.out);
          Tensor y = ops::expand(make_input(vy, p.y, TensorOptions(d, dev), Lay::Strided), p.out);
          Tensor out = empty(p.out, TensorOptions(d, dev));
          return [=] {
            backend(dev).where(out.ref(), c.ref(), x.ref(), y.ref());
            return std::vector<Tensor>{out};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(p.out)));
          for (int64_t i = 0; i < int64_t(out.size()); ++i)
            out[size_t(i)] = broadcast_at(vc, p.c, p.out, i) != 0 ? broadcast_at(vx, p.x, p.out, i) : broadcast_at(vy, p.y, p.out, i);
          return std::vector<Values>{out};
        };
        k.bytes = nbytes(p.c, DType::Bool) + nbytes(p.x, d) + nbytes(p.y, d) + nbytes(p.out, d);
        L.add(k);
      }
    }
  }
}

// ---- reductions and softmax ---------------------------------------------------------------------

// A [rows, inner] input, reduced along its last dim, laid out as `lay` ("transposed": stored as
// [inner, rows], so a row's elements are `rows` apart).
inline void add_reduce_cases(CaseList& L) {
  if (!L.wants({"reduce"})) return;
  struct R { int64_t rows, inner; };
  const std::vector<R> shapes = L.perf ? std::vector<R>{{8192, 1024}, {1, 1 << 23}, {64 * 32, 1024}}
                                       : std::vector<R>{{5, 33}, {1, 1003}, {257, 3}, {4, 1}};
  const ReduceOp all[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min,
                          ReduceOp::ArgMax, ReduceOp::ArgMin, ReduceOp::Var};
  for (const R& r : shapes) {
    for (ReduceOp op : all) {
      if (L.perf && op != ReduceOp::Sum && op != ReduceOp::Var) continue;
      for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64}) {
        const bool integer = d == DType::Int32 || d == DType::Int64;
        if ((integer && (op == ReduceOp::Mean || op == ReduceOp::Var)) || (L.perf && d != DType::Float32)) continue;
        for (int64_t corr : {0, 1}) {
          if (corr == 1 && (op != ReduceOp::Var || r.inner == 1)) continue;
          for (Lay lay : kLays) {
            if (L.perf && lay != Lay::Contiguous) continue;
            // argmax/argmin meet ties; an int32 input may also reduce into int64
            const bool ties = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
            const bool wide = d == DType::Int32 && op == ReduceOp::Sum;
            const Shape shape{r.rows, r.inner};
            Values v = integer || ties ? integers(size_t(numel_of(shape)), ties ? 2 : 1000, 6) : dyadic(size_t(numel_of(shape)), 6);
            const DType out_dtype = ties || wide ? DType::Int64 : d;
            BackendOpCase k;
            k.kernel = "reduce";
            k.label = std::string(reduce_name(op)) + (op == ReduceOp::Var ? " correction " + std::to_string(corr) : "") + " " +
                      dtype_label(d) + " -> " + dtype_label(out_dtype) + " " + shape_str(shape) + " " + lay_name(lay);
            k.make = [=](Device dev) -> KernelCall {
              Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
              Tensor out = empty({r.rows}, TensorOptions(out_dtype, dev));
              return [=] {
                backend(dev).reduce(op, out.ref(), x.ref(), r.inner, corr);
                return std::vector<Tensor>{out};
              };
            };
            k.reference = [=] {
              Values out(size_t(r.rows));
              for (int64_t o = 0; o < r.rows; ++o) {
                const double* row = v.data() + o * r.inner;
                double sum = 0, best = row[0];
                int64_t at = 0;
                for (int64_t j = 0; j < r.inner; ++j) {
                  sum += row[j];
                  const bool better = op == ReduceOp::Max || op == ReduceOp::ArgMax ? row[j] > best : row[j] < best;
                  if (better) { best = row[j]; at = j; }
                }
                const double mean = sum / double(r.inner);
                double ss = 0;
                for (int64_t j = 0; j < r.inner; ++j) ss += (row[j] - mean) * (row[j] - mean);
                switch (op) {
                  case ReduceOp::Sum: out[size_t(o)] = sum; break;
                  case ReduceOp::Mean: out[size_t(o)] = mean; break;
                  case ReduceOp::Max: case ReduceOp::Min: out[size_t(o)] = best; break;
                  case ReduceOp::ArgMax: case ReduceOp::ArgMin: out[size_t(o)] = double(at); break;
                  case ReduceOp::Var: out[size_t(o)] = ss / double(r.inner - corr); break;
                }
              }
              return std::vector<Values>{out};
            };
            if (!integer && !ties) {
              k.atol = k.parity_atol = is_f64(d) ? 1e-12 : 1e-5;
              k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
            }
            k.bytes = nbytes(shape, d) + nbytes({r.rows}, out_dtype);
            L.add(k);
          }
        }
      }
    }
  }
}

inline void add_softmax_cases(CaseList& L) {
  if (!L.wants({"softmax"})) return;
  struct R { int64_t rows, inner; };
  const std::vector<R> shapes = L.perf ? std::vector<R>{{64 * 4 * 256, 256}, {8192, 1024}}
                                       : std::vector<R>{{3, 7}, {6, 33}, {2, 1025}, {129, 5}, {4, 1}};
  for (const R& r : shapes) {
    for (bool log : {false, true}) {
      for (DType d : {DType::Float32, DType::Float64}) {
        if (L.perf && d != DType::Float32) continue;
        for (Lay lay : kLays) {
          if (L.perf && lay != Lay::Contiguous) continue;
          const Shape shape{r.rows, r.inner};
          Values v = dyadic(size_t(numel_of(shape)), 8);
          if (r.rows == 3) v = {1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4, 88.75, 89, 89.25, 3, -3,
                                5, 6, 7, 8, 9, 10, 11};  // huge values: the max must be subtracted
          BackendOpCase k;
          k.kernel = "softmax";
          k.label = std::string(log ? "log_softmax " : "softmax ") + dtype_label(d) + " " + shape_str(shape) + " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor out = make_input(Values(v.size(), 0.0), shape, TensorOptions(d, dev), lay == Lay::Transposed ? Lay::Strided : Lay::Contiguous);
            return [=] {
              backend(dev).softmax(out.ref(), x.ref(), r.inner, log);
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(v.size());
            for (int64_t o = 0; o < r.rows; ++o) {
              const double* row = v.data() + o * r.inner;
              double mx = -std::numeric_limits<double>::infinity(), sum = 0;
              for (int64_t j = 0; j < r.inner; ++j) mx = std::max(mx, row[j]);
              for (int64_t j = 0; j < r.inner; ++j) sum += std::exp(row[j] - mx);
              for (int64_t j = 0; j < r.inner; ++j)
                out[size_t(o * r.inner + j)] = log ? row[j] - mx - std::log(sum) : std::exp(row[j] - mx) / sum;
            }
            return std::vector<Values>{out};
          };
          k.atol = k.parity_atol = tol_a(d);
          k.rtol = k.parity_rtol = tol_r(d);
          k.bytes = 2 * nbytes(shape, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- gemm ---------------------------------------------------------------------------------------

inline void add_gemm_cases(CaseList& L) {
  if (!L.wants({"gemm"})) return;
  // broadcast_b: B's batch stride is 0; reduce_c: C's is 0 (the batch is summed into one C)
  struct G { int64_t batch, m, n, k; bool ta, tb; bool broadcast_b; double alpha, beta; bool reduce_c = false; };
  const std::vector<G> shapes =
      L.perf ? std::vector<G>{{1, 512, 512, 512, false, false, false, 1, 0},
                              {1, 1024, 1024, 1024, false, true, false, 1, 0},
                              {64, 1024, 128, 1152, true, true, true, 1, 0},    // a 3x3 conv of 128 channels at 32x32, transposed
                              {64, 128, 1152, 1024, false, false, false, 1, 0, true},  // its weight gradient, summed over the batch
                              {64, 256, 256, 32, false, true, false, 1, 0}}     // attention scores
             : std::vector<G>{{1, 1, 1, 1, false, false, false, 1, 0},   {1, 7, 5, 33, false, false, false, 1, 0},
                              {2, 7, 5, 33, true, false, false, 1, 0},   {3, 4, 6, 5, false, true, false, 1, 0},
                              {2, 33, 17, 129, true, true, false, 1, 0}, {4, 3, 2, 4, false, false, true, 1, 0},
                              {2, 5, 3, 7, false, false, false, 0.5, 1}, {1, 65, 67, 129, false, true, false, -2, 0.25},
                              {3, 4, 5, 6, false, true, false, 1, 0, true}, {4, 3, 2, 5, true, false, true, 0.5, 1, true}};
  for (const G& g : shapes) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      // A stored as [batch, m, k] (or [batch, k, m] when ta), B as [batch, k, n] or [batch, n, k], both
      // with a padded leading dimension (ld = cols + 3) so that ld != the logical width.
      const int64_t a_rows = g.ta ? g.k : g.m, a_cols = g.ta ? g.m : g.k;
      const int64_t b_rows = g.tb ? g.n : g.k, b_cols = g.tb ? g.k : g.n;
      const int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = g.n + 1;
      const int64_t sa = a_rows * lda, sb = g.broadcast_b ? 0 : b_rows * ldb, sc = g.reduce_c ? 0 : g.m * ldc;
      const int64_t nb = g.broadcast_b ? 1 : g.batch, nc = g.reduce_c ? 1 : g.batch;
      Values va = dyadic(size_t(g.batch * sa), 1), vb = dyadic(size_t(nb * b_rows * ldb), 2), vc = dyadic(size_t(nc * g.m * ldc), 3);
      if (g.k > 64 && !L.perf) {  // non-dyadic values: the order of the sums matters at the last bits
        for (size_t i = 0; i < va.size(); ++i) va[i] = std::sin(0.37 * double(i));
        for (size_t i = 0; i < vb.size(); ++i) vb[i] = std::cos(0.11 * double(i));
      }
      BackendOpCase k;
      k.kernel = "gemm";
      k.label = dtype_label(d) + " batch " + std::to_string(g.batch) + " m " + std::to_string(g.m) + " n " + std::to_string(g.n) +
                " k " + std::to_string(g.k) + (g.ta ? " A^T" : "") + (g.tb ? " B^T" : "") + (g.broadcast_b ? " B broadcast" : "") + (g.reduce_c ? " C summed over the batch" : "") +
                (g.beta != 0 || g.alpha != 1 ? " alpha " + std::to_string(g.alpha) + " beta " + std::to_string(g.beta) : "");
      k.make = [=](Device dev) -> KernelCall {
        Tensor a = tensor(va, {int64_t(va.size())}, TensorOptions(d, dev));
        Tensor b = tensor(vb, {int64_t(vb.size())}, TensorOptions(d, dev));
        Tensor c = tensor(vc, {int64_t(vc.size())}, TensorOptions(d, dev));  // beta reads it
        return [=] {
          GemmArgs args;
          args.dtype = d;
          args.batch = g.batch; args.m = g.m; args.n = g.n; args.k = g.k;
          args.a = a.raw_data(); args.lda = lda; args.stride_a = sa; args.trans_a = g.ta;
          args.b = b.raw_data(); args.ldb = ldb; args.stride_b = sb; args.trans_b = g.tb;
          args.c = c.raw_data(); args.ldc = ldc; args.stride_c = sc;
          args.alpha = g.alpha; args.beta = g.beta;
          backend(dev).gemm(args);
          return std::vector<Tensor>{c};
        };
      };
      k.reference = [=] {
        Values out = vc;  // the padding columns of C stay as they were
        for (int64_t ci = 0; ci < nc; ++ci)
          for (int64_t i = 0; i < g.m; ++i)
            for (int64_t j = 0; j < g.n; ++j) {
              double acc = 0;  // over p, and over the batch when C is shared
              for (int64_t bi = g.reduce_c ? 0 : ci; bi < (g.reduce_c ? g.batch : ci + 1); ++bi)
                for (int64_t p = 0; p < g.k; ++p) {
                  const double x = va[size_t(bi * sa + (g.ta ? p * lda + i : i * lda + p))];
                  const double y = vb[size_t(bi * sb + (g.tb ? j * ldb + p : p * ldb + j))];
                  acc += as_dtype(x, d) * as_dtype(y, d);
                }
              double& o = out[size_t(ci * g.m * ldc + i * ldc + j)];
              o = g.alpha * acc + (g.beta != 0 ? g.beta * as_dtype(o, d) : 0.0);
            }
        return std::vector<Values>{out};
      };
      k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-4;
      k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
      const double es = double(dtype_size(d));
      k.bytes = es * double(g.batch * g.m * g.k + nb * g.k * g.n + nc * g.m * g.n * (g.beta != 0 ? 2 : 1));
      k.flops = 2.0 * double(g.batch) * double(g.m) * double(g.n) * double(g.k);
      L.add(k);
    }
  }
}

// ---- indexing -----------------------------------------------------------------------------------

inline void add_index_cases(CaseList& L) {
  if (!L.wants({"index_select", "gather", "index_add", "scatter_add"})) return;
  const Shape shape = L.perf ? Shape{64, 128, 1024} : Shape{5, 3, 7};
  const std::vector<int64_t> dims = L.perf ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{0, 1, 2};
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64, DType::Bool}) {
    if (L.perf && d != DType::Float32) continue;
    for (int64_t dim : dims) {
      for (Lay lay : kLays) {
        if (L.perf && lay != Lay::Contiguous) continue;
        const int64_t size = shape[size_t(dim)];
        Values v = d == DType::Bool ? map(integers(size_t(numel_of(shape)), 1, 3), [](double x) { return double(x > 0); })
                 : d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 3) : dyadic(size_t(numel_of(shape)), 3);
        const std::string where = dtype_label(d) + " " + shape_str(shape) + " " + lay_name(lay) + " dim " + std::to_string(dim);
        // index_select: 7 indices with repeats (a strided index for the strided input)
        {
          const int64_t n = L.perf ? size : 7;
          Values iv(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) iv[size_t(j)] = double((j * 4 + 4) % size);
          Shape os = shape;
          os[size_t(dim)] = n;
          BackendOpCase k;
          k.kernel = "index_select";
          k.label = where + " " + std::to_string(n) + " indices";
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor idx = make_input(iv, {n}, TensorOptions(DType::Int64, dev), lay == Lay::Strided ? Lay::Strided : Lay::Contiguous);
            Tensor out = empty(os, TensorOptions(d, dev));
            return [=] {
              backend(dev).index_select(out.ref(), x.ref(), idx.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(size_t(numel_of(os)));
            for (int64_t o = 0; o < int64_t(out.size()); ++o) {
              std::vector<int64_t> at = unravel(o, os);
              at[size_t(dim)] = int64_t(iv[size_t(at[size_t(dim)])]);
              out[size_t(o)] = v[size_t(ravel(at, shape))];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(os, d) + 8.0 * double(n);
          L.add(k);
        }
        // gather: an index of the input's shape except 4 along dim (transposed for the transposed input)
        Shape is = shape;
        is[size_t(dim)] = L.perf ? size : 4;
        Values gi(size_t(numel_of(is)));
        for (size_t i = 0; i < gi.size(); ++i) gi[i] = double((i * 5 + 1) % size_t(size));
        {
          BackendOpCase k;
          k.kernel = "gather";
          k.label = where + " index " + shape_str(is);
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor idx = make_input(gi, is, TensorOptions(DType::Int64, dev), lay == Lay::Transposed ? Lay::Transposed : Lay::Contiguous);
            Tensor out = empty(is, TensorOptions(d, dev));
            return [=] {
              backend(dev).gather(out.ref(), x.ref(), idx.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(gi.size());
            for (int64_t o = 0; o < int64_t(out.size()); ++o) {
              std::vector<int64_t> at = unravel(o, is);
              at[size_t(dim)] = int64_t(gi[size_t(o)]);
              out[size_t(o)] = v[size_t(ravel(at, shape))];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(is, d) + nbytes(is, DType::Int64);
          L.add(k);
        }
        if (d != DType::Float32 && d != DType::Float64) continue;  // the adjoints: float32 and float64
        // scatter_add: the gather's index, src of its shape, into an out that already holds values
        {
          Values sv = d == DType::Int64 ? integers(gi.size(), 1000, 9) : dyadic(gi.size(), 9);
          Values ov = d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 10) : dyadic(size_t(numel_of(shape)), 10);
          BackendOpCase k;
          k.kernel = "scatter_add";
          k.label = dtype_label(d) + " into " + shape_str(shape) + " dim " + std::to_string(dim) + " src " + shape_str(is) +
                    " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor out = make_input(ov, shape, TensorOptions(d, dev));
            Tensor idx = make_input(gi, is, TensorOptions(DType::Int64, dev), lay == Lay::Transposed ? Lay::Transposed : Lay::Contiguous);
            Tensor src = make_input(sv, is, TensorOptions(d, dev), lay);
            return [=] {
              backend(dev).scatter_add(out.ref(), idx.ref(), src.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out = ov;
            for (int64_t s = 0; s < int64_t(gi.size()); ++s) {
              std::vector<int64_t> at = unravel(s, is);
              at[size_t(dim)] = int64_t(gi[size_t(s)]);
              out[size_t(ravel(at, shape))] += sv[size_t(s)];
            }
            return std::vector<Values>{out};
          };
          // float32 atomics add in any order: the values are exact, so the order cannot matter
          k.bytes = 2 * nbytes(is, d) + nbytes(is, DType::Int64) + nbytes(shape, d);
          L.add(k);
        }
        // index_add: 7 rows (with repeats) of src into an out that already holds values
        {
          const int64_t n = L.perf ? size : 7;
          Values iv(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) iv[size_t(j)] = double((j * 4 + 4) % size);
          Shape ss = shape;
          ss[size_t(dim)] = n;
          Values sv = d == DType::Int64 ? integers(size_t(numel_of(ss)), 1000, 11) : dyadic(size_t(numel_of(ss)), 11);
          Values ov = d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 12) : dyadic(size_t(numel_of(shape)), 12);
          BackendOpCase k;
          k.kernel = "index_add";
          k.label = dtype_label(d) + " into " + shape_str(shape) + " dim " + std::to_string(dim) + " src " + shape_str(ss) +
                    " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor out = make_input(ov, shape, TensorOptions(d, dev));
            Tensor idx = make_input(iv, {n}, TensorOptions(DType::Int64, dev), lay == Lay::Strided ? Lay::Strided : Lay::Contiguous);
            Tensor src = make_input(sv, ss, TensorOptions(d, dev), lay);
            return [=] {
              backend(dev).index_add(out.ref(), idx.ref(), src.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out = ov;
            for (int64_t s = 0; s < int64_t(sv.size()); ++s) {
              std::vector<int64_t> at = unravel(s, ss);
              at[size_t(dim)] = int64_t(iv[size_t(at[size_t(dim)])]);
              out[size_t(ravel(at, shape))] += sv[size_t(s)];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(ss, d) + 8.0 * double(n) + nbytes(shape, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- random -------------------------------------------------------------------------------------

inline void add_random_cases(CaseList& L) {
  if (!L.wants({"random"})) return;
  struct R { const char* name; Distribution dist; double a, b; };
  const R dists[] = {{"uniform [-2, 5)", Distribution::Uniform, -2, 5},
                     {"normal (1, 2)", Distribution::Normal, 1, 2},
                     {"bernoulli 0.3", Distribution::Bernoulli, 0.3, 0},
                     {"randint [-5, 9)", Distribution::RandInt, -5, 9}};
  const std::vector<Shape> shapes = L.perf ? std::vector<Shape>{{64, 128, 32, 32}} : std::vector<Shape>{{1}, {3, 7}, {33, 65}};
  for (const R& r : dists) {
    for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64}) {
      if ((d == DType::Int64 && r.dist != Distribution::RandInt && r.dist != Distribution::Bernoulli) ||
          (L.perf && d != DType::Float32))
        continue;
      for (const Shape& shape : shapes) {
        const uint64_t seed = 31337, offset = 5;
        BackendOpCase k;
        k.kernel = "random";
        k.label = std::string(r.name) + " " + dtype_label(d) + " " + shape_str(shape) + " offset 5";
        k.make = [=](Device dev) -> KernelCall {
          Tensor out = empty(shape, TensorOptions(d, dev));
          return [=] {
            backend(dev).random(r.dist, out.ref(), seed, offset, r.a, r.b);
            return std::vector<Tensor>{out};
          };
        };
        // The contract is philox_sample itself; the reference rounds it to the dtype.
        k.reference = [=] {
          Values out(size_t(numel_of(shape)));
          for (size_t i = 0; i < out.size(); ++i)
            out[i] = as_dtype(philox_sample(r.dist, seed, offset, uint64_t(i), r.a, r.b), d);
          return std::vector<Values>{out};
        };
        if (d == DType::BFloat16) k.rtol = 1.0 / 256;  // rounded to 8 bits
        // Box-Muller's log/sin/cos may differ in the last bit between libm and CUDA's math library
        if (r.dist == Distribution::Normal) {
          k.parity_atol = is_f64(d) ? 1e-13 : d == DType::BFloat16 ? 1e-7 : 1e-6;
          k.parity_rtol = is_f64(d) ? 1e-13 : d == DType::BFloat16 ? 1.0 / 128 : 1e-6;
        }
        k.bytes = nbytes(shape, d);
        L.add(k);
      }
    }
  }
}

// ---- convolution --------------------------------------------------------------------------------

inline ConvGeometry conv_geometry(int64_t b, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t stride,
                                  int64_t pad) {
  ConvGeometry g;
  g.batch = b; g.channels = c; g.height = h; g.width = w;
  g.kh = kh; g.kw = kw; g.stride_h = g.stride_w = stride; g.pad_h = g.pad_w = pad;
  g.out_h = (h + 2 * pad - kh) / stride + 1;
  g.out_w = (w + 2 * pad - kw) / stride + 1;
  return g;
}

// The image pixel that column entry (b, row, col) reads, or -1 for padding.
inline int64_t im2col_source(const ConvGeometry& g, int64_t b, int64_t row, int64_t col) {
  const int64_t c = row / (g.kh * g.kw), i = row / g.kw % g.kh, j = row % g.kw;
  const int64_t y = col / g.out_w * g.stride_h - g.pad_h + i, x = col % g.out_w * g.stride_w - g.pad_w + j;
  if (y < 0 || y >= g.height || x < 0 || x >= g.width) return -1;
  return ((b * g.channels + c) * g.height + y) * g.width + x;
}

inline void add_conv_cases(CaseList& L) {
  if (!L.wants({"im2col", "col2im", "conv2d", "conv2d_weight_grad"})) return;
  const std::vector<ConvGeometry> gs =
      // perf: the cifar10 preset's widest conv, a stride-2 one, and the tiny preset's three sizes;
      // test: small odd shapes, and one (40 channels, cout 150) past the GEMM engine's blocks
      L.perf ? std::vector<ConvGeometry>{conv_geometry(64, 128, 32, 32, 3, 3, 1, 1), conv_geometry(64, 64, 32, 32, 3, 3, 2, 1),
                                         conv_geometry(64, 16, 32, 32, 3, 3, 1, 1), conv_geometry(64, 32, 16, 16, 3, 3, 1, 1),
                                         conv_geometry(64, 32, 8, 8, 3, 3, 1, 1), conv_geometry(1, 32, 16, 16, 3, 3, 1, 1)}
             : std::vector<ConvGeometry>{conv_geometry(2, 3, 5, 7, 3, 3, 1, 1), conv_geometry(1, 2, 6, 6, 3, 3, 2, 1),
                                         conv_geometry(2, 1, 4, 5, 1, 1, 1, 0), conv_geometry(1, 3, 7, 4, 2, 3, 2, 0),
                                         conv_geometry(3, 2, 3, 3, 3, 3, 1, 2), conv_geometry(1, 40, 6, 6, 3, 3, 1, 1),
                                         conv_geometry(2, 40, 7, 5, 3, 3, 2, 1)};
  for (const ConvGeometry& g : gs) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      const Shape image_shape{g.batch, g.channels, g.height, g.width};
      const Shape cols_shape{g.batch, g.channels * g.kh * g.kw, g.out_h * g.out_w};
      const std::string geo = "image " + shape_str(image_shape) + " kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
                              " stride " + std::to_string(g.stride_h) + " pad " + std::to_string(g.pad_h);
      {
        Values v = dyadic(size_t(numel_of(image_shape)), 1);
        BackendOpCase k;
        k.kernel = "im2col";
        k.label = dtype_label(d) + " " + geo;
        k.make = [=](Device dev) -> KernelCall {
          Tensor image = tensor(v, image_shape, TensorOptions(d, dev));
          Tensor cols = full(cols_shape, 77.0, TensorOptions(d, dev));  // every entry must be written
          return [=] {
            backend(dev).im2col(cols.ref(), image.ref(), g);
            return std::vector<Tensor>{cols};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(cols_shape)));
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t row = 0; row < cols_shape[1]; ++row)
              for (int64_t col = 0; col < cols_shape[2]; ++col) {
                const int64_t src = im2col_source(g, b, row, col);
                out[size_t((b * cols_shape[1] + row) * cols_shape[2] + col)] = src < 0 ? 0.0 : v[size_t(src)];
              }
          return std::vector<Values>{out};
        };
        k.bytes = nbytes(image_shape, d) + nbytes(cols_shape, d);
        L.add(k);
      }
      {
        Values v = dyadic(size_t(numel_of(cols_shape)), 2);
        BackendOpCase k;
        k.kernel = "col2im";
        k.label = dtype_label(d) + " " + geo;
        k.make = [=](Device dev) -> KernelCall {
          Tensor cols = tensor(v, cols_shape, TensorOptions(d, dev));
          Tensor image = full(image_shape, 77.0, TensorOptions(d, dev));  // overwritten, not accumulated into
          return [=] {
            backend(dev).col2im(image.ref(), cols.ref(), g);
            return std::vector<Tensor>{image};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(image_shape)), 0.0);
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t row = 0; row < cols_shape[1]; ++row)
              for (int64_t col = 0; col < cols_shape[2]; ++col) {
                const int64_t dst = im2col_source(g, b, row, col);
                if (dst >= 0) out[size_t(dst)] += v[size_t((b * cols_shape[1] + row) * cols_shape[2] + col)];
              }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = tol_a(d);
        k.rtol = k.parity_rtol = tol_r(d);
        k.bytes = nbytes(image_shape, d) + nbytes(cols_shape, d);
        k.flops = double(numel_of(cols_shape));
        L.add(k);
      }
      // conv2d and its weight gradient with cout output channels: y[b] = W @ cols(x[b]),
      // dW = sum_b dy[b] @ cols(x[b])^T, from the column entries im2col_source names
      const int64_t cout = L.perf ? g.channels : (g.channels >= 40 ? 150 : 5), rows = cols_shape[1], l = cols_shape[2];
      const Shape w_shape{cout, g.channels, g.kh, g.kw}, y_shape{g.batch, cout, g.out_h, g.out_w};
      const double conv_flops = 2.0 * double(g.batch) * double(cout) * double(rows) * double(l);
      // silu_x: the kernels read silu(x) instead of x
      auto input_value = [](const Values& v, int64_t src, bool silu_x) {
        const double x = v[size_t(src)];
        return silu_x ? x / (1.0 + std::exp(-x)) : x;
      };
      for (bool silu_x : {false, true}) {
      if (L.perf && silu_x) continue;
      const std::string act = silu_x ? " of silu(x)" : "";
      for (bool with_bias : {true, false}) {
        if (L.perf && !with_bias) continue;
        Values v = dyadic(size_t(numel_of(image_shape)), 4), w = dyadic(size_t(numel_of(w_shape)), 5);
        Values bias = dyadic(size_t(cout), 8);
        BackendOpCase k;
        k.kernel = "conv2d";
        k.label = dtype_label(d) + " " + geo + " cout " + std::to_string(cout) + (with_bias ? " bias" : "") + act;
        k.make = [=](Device dev) -> KernelCall {
          const TensorOptions o(d, dev);
          Tensor x = tensor(v, image_shape, o), wt = tensor(w, w_shape, o), bt = tensor(bias, {cout}, o);
          Tensor y = full(y_shape, 77.0, o);  // overwritten
          return [=] {
            backend(dev).conv2d(y.ref(), x.ref(), wt.ref(), with_bias ? bt.ref() : TensorRef{}, g, silu_x);
            return std::vector<Tensor>{y};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(y_shape)));
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t o = 0; o < cout; ++o)
              for (int64_t col = 0; col < l; ++col) {
                double acc = with_bias ? bias[size_t(o)] : 0.0;
                for (int64_t row = 0; row < rows; ++row) {
                  const int64_t src = im2col_source(g, b, row, col);
                  if (src >= 0) acc += w[size_t(o * rows + row)] * input_value(v, src, silu_x);
                }
                out[size_t((b * cout + o) * l + col)] = acc;
              }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-5;
        k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
        k.bytes = nbytes(image_shape, d) + nbytes(w_shape, d) + nbytes(y_shape, d);
        k.flops = conv_flops;
        L.add(k);
      }
      {
        Values v = dyadic(size_t(numel_of(image_shape)), 6), dy = dyadic(size_t(numel_of(y_shape)), 7);
        BackendOpCase k;
        k.kernel = "conv2d_weight_grad";
        k.label = dtype_label(d) + " " + geo + " cout " + std::to_string(cout) + act;
        k.make = [=](Device dev) -> KernelCall {
          Tensor x = tensor(v, image_shape, TensorOptions(d, dev)), dyt = tensor(dy, y_shape, TensorOptions(d, dev));
          Tensor dw = full(w_shape, 77.0, TensorOptions(d, dev));  // overwritten, not accumulated into
          return [=] {
            backend(dev).conv2d_weight_grad(dw.ref(), dyt.ref(), x.ref(), g, silu_x);
            return std::vector<Tensor>{dw};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(w_shape)), 0.0);
          for (int64_t o = 0; o < cout; ++o)
            for (int64_t row = 0; row < rows; ++row) {
              double acc = 0;
              for (int64_t b = 0; b < g.batch; ++b)
                for (int64_t col = 0; col < l; ++col) {
                  const int64_t src = im2col_source(g, b, row, col);
                  if (src >= 0) acc += dy[size_t((b * cout + o) * l + col)] * input_value(v, src, silu_x);
                }
              out[size_t(o * rows + row)] = acc;
            }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-5;
        k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
        k.bytes = nbytes(image_shape, d) + nbytes(w_shape, d) + nbytes(y_shape, d);
        k.flops = conv_flops;
        L.add(k);
      }
      }  // silu_x
    }
  }
}

// ---- group norm ---------------------------------------------------------------------------------

// The reference statistics of x [B, C, HW] in G groups: mean and rstd [B, G].
inline void group_stats(const Values& x, int64_t B, int64_t C, int64_t HW, int64_t G, double eps, Values& mean, Values& rstd) {
  const int64_t cg = C / G, n = cg * HW;
  mean.assign(size_t(B * G), 0.0);
  rstd.assign(size_t(B * G), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < G; ++g) {
      const double* p = x.data() + (b * C + g * cg) * HW;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) s += p[i];
      const double m = s / double(n);
      for (int64_t i = 0; i < n; ++i) ss += (p[i] - m) * (p[i] - m);
      mean[size_t(b * G + g)] = m;
      rstd[size_t(b * G + g)] = 1 / std::sqrt(ss / double(n) + eps);
    }
}

inline void add_group_norm_cases(CaseList& L) {
  if (!L.wants({"group_norm_forward", "group_norm_backward"})) return;
  struct N { int64_t B, C, HW, G; };
  const std::vector<N> shapes = L.perf ? std::vector<N>{{64, 128, 1024, 32}, {64 * 256, 128, 1, 1}}
                                       : std::vector<N>{{2, 6, 5, 3}, {1, 4, 33, 1}, {3, 8, 1, 8}, {5, 7, 1, 1}, {2, 32, 17, 8}};
  const double eps = 1e-5;
  for (const N& s : shapes) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      for (bool affine : {true, false}) {
        if (L.perf && !affine) continue;
        const Shape xs{s.B, s.C, s.HW}, cs{s.C}, stats{s.B, s.G};
        Values x = map(dyadic(size_t(numel_of(xs)), 1), [](double v) { return v * 0.75 + 0.5; });
        Values w = map(dyadic(size_t(s.C), 2), [](double v) { return v / 4 + 1; }), b = dyadic(size_t(s.C), 3);
        Values dy = dyadic(size_t(numel_of(xs)), 4);
        const std::string label = dtype_label(d) + " x " + shape_str(xs) + " groups " + std::to_string(s.G) + (affine ? "" : " no affine");
        auto xd = [=] { return map(x, [d](double v) { return as_dtype(v, d); }); };
        {
          BackendOpCase k;
          k.kernel = "group_norm_forward";
          k.label = label;
          k.make = [=](Device dev) -> KernelCall {
            const TensorOptions o(d, dev);
            Tensor xt = tensor(x, xs, o), wt = tensor(w, cs, o), bt = tensor(b, cs, o);
            Tensor y = empty(xs, o), mean = empty(stats, o), rstd = empty(stats, o);
            return [=] {
              backend(dev).group_norm_forward(y.ref(), mean.ref(), rstd.ref(), xt.ref(), affine ? wt.ref() : TensorRef{},
                                              affine ? bt.ref() : TensorRef{}, s.G, eps);
              return std::vector<Tensor>{y, mean, rstd};
            };
          };
          k.reference = [=] {
            Values mean, rstd, y(x.size());
            const Values xv = xd();
            group_stats(xv, s.B, s.C, s.HW, s.G, eps, mean, rstd);
            for (int64_t i = 0; i < int64_t(y.size()); ++i) {
              const int64_t bb = i / (s.C * s.HW), c = i / s.HW % s.C, g = c / (s.C / s.G);
              const double xhat = (xv[size_t(i)] - mean[size_t(bb * s.G + g)]) * rstd[size_t(bb * s.G + g)];
              y[size_t(i)] = affine ? xhat * w[size_t(c)] + b[size_t(c)] : xhat;
            }
            return std::vector<Values>{y, mean, rstd};
          };
          k.atol = k.parity_atol = is_f64(d) ? 1e-10 : 1e-5;
          k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
          k.bytes = 2 * nbytes(xs, d) + 2 * nbytes(cs, d) + 2 * nbytes(stats, d);
          L.add(k);
        }
        {
          BackendOpCase k;
          k.kernel = "group_norm_backward";
          k.label = label;
          // mean and rstd come from the reference statistics (in the dtype), as a forward would save them
          Values mean, rstd;
          group_stats(map(x, [d](double v) { return as_dtype(v, d); }), s.B, s.C, s.HW, s.G, eps, mean, rstd);
          k.make = [=](Device dev) -> KernelCall {
            const TensorOptions o(d, dev);
            Tensor xt = tensor(x, xs, o), wt = tensor(w, cs, o), dyt = tensor(dy, xs, o);
            Tensor mt = tensor(mean, stats, o), rt = tensor(rstd, stats, o);
            Tensor dx = empty(xs, o), dw = full(cs, 77.0, o), db = full(cs, 77.0, o);
            return [=] {
              backend(dev).group_norm_backward(dx.ref(), affine ? dw.ref() : TensorRef{}, affine ? db.ref() : TensorRef{},
                                               dyt.ref(), xt.ref(), mt.ref(), rt.ref(), affine ? wt.ref() : TensorRef{}, s.G);
              return affine ? std::vector<Tensor>{dx, dw, db} : std::vector<Tensor>{dx};
            };
          };
          k.reference = [=] {
            // with mean and rstd as given (rounded to the dtype): xhat = (x - mean) rstd, g = dy w,
            // dx = rstd (g - mean_group(g) - xhat mean_group(g xhat)); dw = sum dy xhat; db = sum dy
            const Values xv = xd();
            auto md = [d](double v) { return as_dtype(v, d); };
            const int64_t cg = s.C / s.G, n = cg * s.HW;
            Values dx(x.size()), dw(size_t(s.C), 0.0), db(size_t(s.C), 0.0);
            for (int64_t bb = 0; bb < s.B; ++bb)
              for (int64_t g = 0; g < s.G; ++g) {
                const double m = md(mean[size_t(bb * s.G + g)]), r = md(rstd[size_t(bb * s.G + g)]);
                double sg = 0, sgx = 0;
                for (int64_t i = 0; i < n; ++i) {
                  const int64_t at = (bb * s.C + g * cg) * s.HW + i, c = g * cg + i / s.HW;
                  const double xhat = (xv[size_t(at)] - m) * r, gi = dy[size_t(at)] * (affine ? w[size_t(c)] : 1.0);
                  sg += gi;
                  sgx += gi * xhat;
                  dw[size_t(c)] += dy[size_t(at)] * xhat;
                  db[size_t(c)] += dy[size_t(at)];
                }
                for (int64_t i = 0; i < n; ++i) {
                  const int64_t at = (bb * s.C + g * cg) * s.HW + i, c = g * cg + i / s.HW;
                  const double xhat = (xv[size_t(at)] - m) * r, gi = dy[size_t(at)] * (affine ? w[size_t(c)] : 1.0);
                  dx[size_t(at)] = r * (gi - sg / double(n) - xhat * sgx / double(n));
                }
              }
            return affine ? std::vector<Values>{dx, dw, db} : std::vector<Values>{dx};
          };
          k.atol = k.parity_atol = is_f64(d) ? 1e-10 : 1e-4;
          k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
          k.bytes = 3 * nbytes(xs, d) + 3 * nbytes(cs, d) + 2 * nbytes(stats, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- optimizer steps ----------------------------------------------------------------------------

// The sizes of a list of parameters: odd ones, a 1, an empty one; for perf a U-Net's worth.
inline std::vector<int64_t> param_sizes(bool perf) {
  if (perf) {
    std::vector<int64_t> s;
    for (int j = 0; j < 200; ++j) s.push_back(j % 2 ? 128 : 128 * 128 * 9 / (1 + j % 4));
    return s;
  }
  return {7, 1, 0, 33, 129, 4099, 2};
}

// Tensors of those sizes on dev, each a view 3 elements into its own buffer (the kernels must honour
// offsets), holding `values` in order.
inline std::vector<Tensor> param_list(const std::vector<int64_t>& sizes, const Values& values, DType d, Device dev) {
  std::vector<Tensor> out;
  size_t at = 0;
  for (int64_t n : sizes) {
    Tensor buf = tensor(Values(size_t(n + 3), -999.5), {n + 3}, TensorOptions(d, dev));
    Tensor view = ops::narrow(buf, 0, 3, n);
    view.copy_(tensor(Values(values.begin() + long(at), values.begin() + long(at + size_t(n))), {n}, TensorOptions(d, dev)));
    at += size_t(n);
    out.push_back(view);
  }
  return out;
}
inline std::vector<TensorRef> refs_of(const std::vector<Tensor>& ts) {
  std::vector<TensorRef> out;
  for (const Tensor& t : ts) out.push_back(t.ref());
  return out;
}
// The list's tensors in one 1-D tensor (the call's output for comparing).
inline Tensor joined(const std::vector<Tensor>& ts) {
  std::vector<Tensor> nonempty;
  for (const Tensor& t : ts)
    if (t.numel() > 0) nonempty.push_back(t);
  return ops::cat(nonempty, 0);
}
inline size_t total(const std::vector<int64_t>& sizes) {
  size_t n = 0;
  for (int64_t s : sizes) n += size_t(s);
  return n;
}

inline void add_optimizer_cases(CaseList& L) {
  if (!L.wants({"adamw_step", "ema_update", "sum_of_squares"})) return;
  const std::vector<int64_t> sizes = param_sizes(L.perf);
  const size_t n = total(sizes);
  const std::string list = std::to_string(sizes.size()) + " tensors of " + std::to_string(n) + " elements";
  for (DType d : {DType::Float32, DType::Float64}) {
    if (L.perf && d != DType::Float32) continue;
    const Values p0 = dyadic(n, 1), g = dyadic(n, 2), m0 = map(dyadic(n, 3), [](double x) { return x / 8; });
    const Values v0 = map(dyadic(n, 4), [](double x) { return x * x / 4; });
    for (int t : {1, 7}) {
      AdamWStep s;
      s.lr = 1e-2;
      s.weight_decay = t == 1 ? 0.1 : 0.0;
      s.bias_correction1 = 1 - std::pow(s.beta1, t);
      s.bias_correction2 = 1 - std::pow(s.beta2, t);
      BackendOpCase k;
      k.kernel = "adamw_step";
      k.label = dtype_label(d) + " " + list + " step " + std::to_string(t) + " weight decay " + std::to_string(s.weight_decay);
      k.make = [=](Device dev) -> KernelCall {
        std::vector<Tensor> p = param_list(sizes, p0, d, dev), gr = param_list(sizes, g, d, dev);
        std::vector<Tensor> m = param_list(sizes, m0, d, dev), v = param_list(sizes, v0, d, dev);
        return [=] {
          backend(dev).adamw_step(refs_of(p), refs_of(gr), refs_of(m), refs_of(v), s);
          return std::vector<Tensor>{joined(p), joined(m), joined(v)};
        };
      };
      k.reference = [=] {
        Values p(n), m(n), v(n);
        for (size_t i = 0; i < n; ++i) {
          const double gi = as_dtype(g[i], d);
          m[i] = s.beta1 * m0[i] + (1 - s.beta1) * gi;
          v[i] = s.beta2 * v0[i] + (1 - s.beta2) * gi * gi;
          p[i] = p0[i] - s.lr * (s.weight_decay * p0[i] + (m[i] / s.bias_correction1) / (std::sqrt(v[i] / s.bias_correction2) + s.eps));
        }
        return std::vector<Values>{p, m, v};
      };
      k.atol = is_f64(d) ? 1e-12 : 1e-6;
      k.rtol = is_f64(d) ? 1e-10 : 1e-5;
      k.bytes = 7 * double(n) * double(dtype_size(d));  // reads p, g, m, v; writes p, m, v
      L.add(k);
    }
    for (double decay : {0.5, 0.999}) {
      BackendOpCase k;
      k.kernel = "ema_update";
      k.label = dtype_label(d) + " " + list + " decay " + std::to_string(decay);
      k.make = [=](Device dev) -> KernelCall {
        std::vector<Tensor> e = param_list(sizes, p0, d, dev), p = param_list(sizes, g, d, dev);
        return [=] {
          backend(dev).ema_update(refs_of(e), refs_of(p), decay);
          return std::vector<Tensor>{joined(e)};
        };
      };
      k.reference = [=] {
        Values e(n);
        for (size_t i = 0; i < n; ++i) e[i] = decay * p0[i] + (1 - decay) * g[i];
        return std::vector<Values>{e};
      };
      k.atol = tol_a(d);
      k.rtol = tol_r(d);
      k.bytes = 3 * double(n) * double(dtype_size(d));
      L.add(k);
    }
  }
  // sum_of_squares over float32 and float64 tensors in one list, as clip_grad_norm passes them
  for (bool mixed : {false, true}) {
    if (L.perf && mixed) continue;
    const Values x = dyadic(n, 5);
    BackendOpCase k;
    k.kernel = "sum_of_squares";
    k.label = std::string(mixed ? "float32 and float64 " : "float32 ") + list;
    k.make = [=](Device dev) -> KernelCall {
      std::vector<Tensor> a = param_list(sizes, x, DType::Float32, dev), b = param_list(sizes, x, DType::Float64, dev);
      std::vector<Tensor> ts;
      for (size_t j = 0; j < sizes.size(); ++j) ts.push_back(mixed && j % 2 ? b[j] : a[j]);
      Tensor out = full({}, 77.0, TensorOptions(DType::Float64, dev));
      return [=] {
        backend(dev).sum_of_squares(out.ref(), refs_of(ts));
        return std::vector<Tensor>{out};
      };
    };
    k.reference = [=] {
      double s = 0;
      for (double v : x) s += v * v;
      return std::vector<Values>{Values{s}};
    };
    k.atol = k.parity_atol = 1e-9;
    k.rtol = k.parity_rtol = 1e-12;
    k.bytes = double(n) * 4;
    L.add(k);
  }
}

// Every case of every kernel (or of the kernels in `only`): test-sized, or perf-sized (perf = true:
// no references, which would take long at those sizes).
inline std::vector<BackendOpCase> backend_op_cases(bool perf, std::vector<std::string> only = {}) {
  CaseList L;
  L.perf = perf;
  L.only = std::move(only);
  add_copy_cases(L);
  add_fill_cases(L);
  add_unary_cases(L);
  add_binary_cases(L);
  add_binary_scalar_cases(L);
  add_where_cases(L);
  add_reduce_cases(L);
  add_softmax_cases(L);
  add_gemm_cases(L);
  add_index_cases(L);
  add_random_cases(L);
  add_conv_cases(L);
  add_group_norm_cases(L);
  add_optimizer_cases(L);
  return L.cases;
}

}  // namespace ddpm::backend_ops
