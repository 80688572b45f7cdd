// Cases of copy, fill, unary, binary, binary_scalar and where.
// (a part of the backend-ops harness's case table: tests/backend_op_cases.hpp)
#pragma once
#include "common.hpp"

namespace ddpm::backend_ops {

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

}  // namespace ddpm::backend_ops
