// Elementwise kernels: unary, binary (tensor-tensor and tensor-scalar, comparisons into bool) and where.
// The op is turned into a compile-time constant once per call, so the switch inside apply_unary /
// apply_binary folds away and each loop is a plain one the compiler can vectorize. float32 sigmoid,
// silu and silu's backward use a branch-free exp (cpu_fast_math.hpp) so that their loops vectorize too.
#include <type_traits>

#include "tensor/cpu/cpu_fast_math.hpp"
#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

template <UnaryOp OP> using UnaryC = std::integral_constant<UnaryOp, OP>;
template <BinaryOp OP> using BinaryC = std::integral_constant<BinaryOp, OP>;

// Calls f(UnaryC<op>{}): one instantiation of f per op.
template <typename F>
void with_unary_op(UnaryOp op, const F& f) {
  switch (op) {
    case UnaryOp::Neg: return f(UnaryC<UnaryOp::Neg>{});
    case UnaryOp::Abs: return f(UnaryC<UnaryOp::Abs>{});
    case UnaryOp::Sign: return f(UnaryC<UnaryOp::Sign>{});
    case UnaryOp::Exp: return f(UnaryC<UnaryOp::Exp>{});
    case UnaryOp::Log: return f(UnaryC<UnaryOp::Log>{});
    case UnaryOp::Sqrt: return f(UnaryC<UnaryOp::Sqrt>{});
    case UnaryOp::Rsqrt: return f(UnaryC<UnaryOp::Rsqrt>{});
    case UnaryOp::Sin: return f(UnaryC<UnaryOp::Sin>{});
    case UnaryOp::Cos: return f(UnaryC<UnaryOp::Cos>{});
    case UnaryOp::Tanh: return f(UnaryC<UnaryOp::Tanh>{});
    case UnaryOp::Sigmoid: return f(UnaryC<UnaryOp::Sigmoid>{});
    case UnaryOp::Silu: return f(UnaryC<UnaryOp::Silu>{});
    case UnaryOp::Relu: return f(UnaryC<UnaryOp::Relu>{});
    case UnaryOp::Clamp: return f(UnaryC<UnaryOp::Clamp>{});
    case UnaryOp::PowScalar: return f(UnaryC<UnaryOp::PowScalar>{});
  }
}

template <typename F>
void with_binary_op(BinaryOp op, const F& f) {
  switch (op) {
    case BinaryOp::Add: return f(BinaryC<BinaryOp::Add>{});
    case BinaryOp::Sub: return f(BinaryC<BinaryOp::Sub>{});
    case BinaryOp::Mul: return f(BinaryC<BinaryOp::Mul>{});
    case BinaryOp::Div: return f(BinaryC<BinaryOp::Div>{});
    case BinaryOp::Pow: return f(BinaryC<BinaryOp::Pow>{});
    case BinaryOp::Maximum: return f(BinaryC<BinaryOp::Maximum>{});
    case BinaryOp::Minimum: return f(BinaryC<BinaryOp::Minimum>{});
    case BinaryOp::SiluBackward: return f(BinaryC<BinaryOp::SiluBackward>{});
    case BinaryOp::Eq: return f(BinaryC<BinaryOp::Eq>{});
    case BinaryOp::Ne: return f(BinaryC<BinaryOp::Ne>{});
    case BinaryOp::Lt: return f(BinaryC<BinaryOp::Lt>{});
    case BinaryOp::Le: return f(BinaryC<BinaryOp::Le>{});
    case BinaryOp::Gt: return f(BinaryC<BinaryOp::Gt>{});
    case BinaryOp::Ge: return f(BinaryC<BinaryOp::Ge>{});
  }
}

bool int_unary_supported(UnaryOp op) {
  return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Relu ||
         op == UnaryOp::Clamp;
}

template <typename T>
void unary_typed(UnaryOp op, TensorRef out, TensorRef in, double a, double b) {
  with_unary_op(op, [&](auto op_c) {
    constexpr UnaryOp OP = decltype(op_c)::value;
    if constexpr (std::is_same_v<T, float> && OP == UnaryOp::Silu) {
      map1<T, T>(out, in, [](float x) { return silu_fast(x); });
    } else if constexpr (std::is_same_v<T, float> && OP == UnaryOp::Sigmoid) {
      map1<T, T>(out, in, [](float x) { return sigmoid_fast(x); });
    } else if constexpr (std::is_floating_point_v<T>) {
      map1<T, T>(out, in, [a, b](T x) { return apply_unary<T>(OP, x, a, b); });
    } else {
      map1<T, T>(out, in, [a, b](T x) { return apply_unary_int<T>(OP, x, a, b); });
    }
  });
}

// Integer division by zero would kill the process (SIGFPE); refuse it like any other bad input.
template <typename T>
void check_no_zero_divisor(TensorRef divisor) {
  Strided<1> s = coalesce(make_strided<1>({&divisor.layout}));
  const T* p = static_cast<const T*>(divisor.data);
  Walker<1> w(s, 0);
  for (int64_t k = 0, n = s.numel(); k < n; ++k, w.next())
    DDPM_CHECK(p[w.offset[0]] != 0, "div: integer division by zero");
}

template <typename T>
void binary_typed(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) {
  with_binary_op(op, [&](auto op_c) {
    constexpr BinaryOp OP = decltype(op_c)::value;
    if constexpr (OP >= BinaryOp::Eq) {
      map2<bool, T, T>(out, x, y, [](T u, T v) { return apply_compare<T>(OP, u, v); });
    } else {
      if constexpr (OP == BinaryOp::Div && std::is_integral_v<T>) check_no_zero_divisor<T>(y);
      if constexpr (std::is_same_v<T, float> && OP == BinaryOp::SiluBackward)
        map2<T, T, T>(out, x, y, [](float g, float v) { return silu_backward_fast(g, v); });
      else
        map2<T, T, T>(out, x, y, [](T u, T v) { return apply_binary<T>(OP, u, v); });
    }
  });
}

template <typename T>
void binary_scalar_typed(BinaryOp op, TensorRef out, TensorRef x, double scalar, bool scalar_first) {
  const T s = convert<T>(scalar);  // as the GPU: an int tensor's scalar truncates and saturates
  with_binary_op(op, [&](auto op_c) {
    constexpr BinaryOp OP = decltype(op_c)::value;
    if constexpr (OP >= BinaryOp::Eq) {
      if (scalar_first) map1<bool, T>(out, x, [s](T v) { return apply_compare<T>(OP, s, v); });
      else map1<bool, T>(out, x, [s](T u) { return apply_compare<T>(OP, u, s); });
    } else {
      if constexpr (OP == BinaryOp::Div && std::is_integral_v<T>) {
        if (scalar_first) check_no_zero_divisor<T>(x);
        else DDPM_CHECK(s != 0, "div: integer division by zero (scalar ", scalar, ")");
      }
      if (scalar_first) map1<T, T>(out, x, [s](T v) { return apply_binary<T>(OP, s, v); });
      else map1<T, T>(out, x, [s](T u) { return apply_binary<T>(OP, u, s); });
    }
  });
}

}  // namespace

void unary(UnaryOp op, TensorRef out, TensorRef in, double a, double b) {
  DDPM_CHECK(!is_integral(in.dtype) || int_unary_supported(op), unary_name(op),
             ": dtype ", dtype_name(in.dtype), " is not supported, expected float32 or float64");
  DDPM_DISPATCH_NUMERIC(in.dtype, unary_name(op), unary_typed<scalar_t>(op, out, in, a, b));
}

void binary(BinaryOp op, TensorRef out, TensorRef x, TensorRef y) {
  DDPM_DISPATCH_NUMERIC(x.dtype, binary_name(op), binary_typed<scalar_t>(op, out, x, y));
}

void binary_scalar(BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first) {
  DDPM_DISPATCH_NUMERIC(x.dtype, binary_name(op), binary_scalar_typed<scalar_t>(op, out, x, s, scalar_first));
}

void where(TensorRef out, TensorRef cond, TensorRef x, TensorRef y) {
  DDPM_CHECK(cond.dtype == DType::Bool, "where: condition is ", dtype_name(cond.dtype), ", expected bool");
  DDPM_DISPATCH_ALL(out.dtype, "where",
                    map3<scalar_t, bool, scalar_t, scalar_t>(out, cond, x, y,
                                                             [](bool c, scalar_t u, scalar_t v) { return c ? u : v; }));
}

}  // namespace ddpm::cpu
