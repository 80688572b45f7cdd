// The element math of every elementwise op, written once for the CPU and CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tensor/dtype.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

enum class UnaryOp {
  Neg, Abs, Sign, Exp, Log, Sqrt, Rsqrt, Sin, Cos, Tanh, Sigmoid, Silu, Relu,
  Clamp,     // min(max(x, a), b)
  PowScalar  // x^a
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,  // result has the inputs' dtype
  SiluBackward,                               // g * silu'(x), from the gradient g and silu's input x
  Eq, Ne, Lt, Le, Gt, Ge                      // result is a bool mask
};

enum class ReduceOp { Sum, Mean, Max, Min, ArgMax, ArgMin, Var };

DDPM_HD bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }
const char* unary_name(UnaryOp op);
const char* binary_name(BinaryOp op);
const char* reduce_name(ReduceOp op);

// Math overloads for float/double (CUDA provides the same names for both on the device).
template <typename T>
DDPM_HD T apply_unary(UnaryOp op, T x, double a, double b) {
  using std::abs; using std::exp; using std::log; using std::sqrt; using std::sin; using std::cos;
  using std::tanh; using std::pow;
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return x < T(0) ? -x : x;
    case UnaryOp::Sign: return T((x > T(0)) - (x < T(0)));
    case UnaryOp::Exp: return exp(x);
    case UnaryOp::Log: return log(x);
    case UnaryOp::Sqrt: return sqrt(x);
    case UnaryOp::Rsqrt: return T(1) / sqrt(x);
    case UnaryOp::Sin: return sin(x);
    case UnaryOp::Cos: return cos(x);
    case UnaryOp::Tanh: return tanh(x);
    case UnaryOp::Sigmoid: return T(1) / (T(1) + exp(-x));
    case UnaryOp::Silu: return x / (T(1) + exp(-x));
    case UnaryOp::Relu: return x > T(0) ? x : T(0);
    case UnaryOp::Clamp: return x < T(a) ? T(a) : (x > T(b) ? T(b) : x);
    case UnaryOp::PowScalar: return pow(x, T(a));
  }
  return x;
}

// Integer types get only the ops that make sense for them (the front end checks which).
template <typename T>
DDPM_HD T apply_unary_int(UnaryOp op, T x, double a, double b) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return x < 0 ? -x : x;
    case UnaryOp::Sign: return T((x > 0) - (x < 0));
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::Clamp: {  // bounds beyond T's range (or +-inf for a one-sided clamp) saturate
      const T lo = saturate_cast<T>(a), hi = saturate_cast<T>(b);
      return x < lo ? lo : (x > hi ? hi : x);
    }
    default: return x;
  }
}

template <typename T>
DDPM_HD T apply_binary(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Add: return x + y;
    case BinaryOp::Sub: return x - y;
    case BinaryOp::Mul: return x * y;
    case BinaryOp::Div: return x / y;
    case BinaryOp::Pow: { using std::pow; return T(pow(x, y)); }
    case BinaryOp::Maximum: return x > y ? x : y;  // a NaN in y loses; fine for our use
    case BinaryOp::Minimum: return x < y ? x : y;
    case BinaryOp::SiluBackward:  // x is the gradient g, y silu's input: g s (1 + y (1 - s)), s = sigmoid(y)
      if constexpr (std::is_floating_point<T>::value) {
        using std::exp;
        const T s = T(1) / (T(1) + exp(-y));
        return x * s * (T(1) + y * (T(1) - s));
      }
      return x;
    default: return x;
  }
}

template <typename T>
DDPM_HD bool apply_compare(BinaryOp op, T x, T y) {
  switch (op) {
    case BinaryOp::Eq: return x == y;
    case BinaryOp::Ne: return x != y;
    case BinaryOp::Lt: return x < y;
    case BinaryOp::Le: return x <= y;
    case BinaryOp::Gt: return x > y;
    case BinaryOp::Ge: return x >= y;
    default: return false;
  }
}

}  // namespace ddpm
