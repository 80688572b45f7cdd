// Elementwise ops: unary, binary with NumPy broadcasting, scalar forms, comparisons, where.
#include "tensor/ops.hpp"
#include "tensor/ops_common.hpp"

namespace ddpm::ops {

namespace detail {
Tensor broadcast_to(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  return expand(t, shape);
}
}  // namespace detail

using namespace detail;

namespace {

bool unary_supports_int(UnaryOp op) {
  return op == UnaryOp::Neg || op == UnaryOp::Abs || op == UnaryOp::Sign || op == UnaryOp::Relu || op == UnaryOp::Clamp;
}

Tensor unary(UnaryOp op, const Tensor& x, double a = 0.0, double b = 0.0) {
  const char* name = unary_name(op);
  check_defined(name, x, "input");
  if (unary_supports_int(op)) check_numeric_dtype(name, x); else check_compute_dtype(name, x);
  Tensor out = empty_like(x);
  backend(x.device()).unary(op, out.ref(), x.ref(), a, b);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_defined(name, a, "first input");
  check_defined(name, b, "second input");
  check_same_device(name, a, b);
  check_same_dtype(name, a, b);
  if (op == BinaryOp::Div || op == BinaryOp::Pow || op == BinaryOp::SiluBackward) check_compute_dtype(name, a); else check_numeric_dtype(name, a);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, TensorOptions(is_comparison(op) ? DType::Bool : a.dtype(), a.device()));
  backend(a.device()).binary(op, out.ref(), broadcast_to(a, shape).ref(), broadcast_to(b, shape).ref());
  return out;
}

Tensor binary_scalar(BinaryOp op, const Tensor& a, double s, bool scalar_first) {
  const char* name = binary_name(op);
  check_defined(name, a, "input");
  if (op == BinaryOp::Div || op == BinaryOp::Pow || op == BinaryOp::SiluBackward) check_compute_dtype(name, a); else check_numeric_dtype(name, a);
  Tensor out = empty(a.shape(), TensorOptions(is_comparison(op) ? DType::Bool : a.dtype(), a.device()));
  backend(a.device()).binary_scalar(op, out.ref(), a.ref(), s, scalar_first);
  return out;
}

}  // namespace

Tensor neg(const Tensor& x) { return unary(UnaryOp::Neg, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::Abs, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::Sign, x); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::Exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::Log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::Sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::Rsqrt, x); }
Tensor sin(const Tensor& x) { return unary(UnaryOp::Sin, x); }
Tensor cos(const Tensor& x) { return unary(UnaryOp::Cos, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::Tanh, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::Sigmoid, x); }
Tensor silu(const Tensor& x) { return unary(UnaryOp::Silu, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::Relu, x); }
Tensor clamp(const Tensor& x, double lo, double hi) {
  DDPM_CHECK(lo <= hi, "clamp: lo ", lo, " must be <= hi ", hi);
  return unary(UnaryOp::Clamp, x, lo, hi);
}
Tensor pow(const Tensor& x, double exponent) { return unary(UnaryOp::PowScalar, x, exponent); }

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Maximum, a, b); }
Tensor silu_backward(const Tensor& g, const Tensor& x) { return binary(BinaryOp::SiluBackward, g, x); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Minimum, a, b); }

Tensor add(const Tensor& a, double s) { return binary_scalar(BinaryOp::Add, a, s, false); }
Tensor sub(const Tensor& a, double s) { return binary_scalar(BinaryOp::Sub, a, s, false); }
Tensor sub(double s, const Tensor& a) { return binary_scalar(BinaryOp::Sub, a, s, true); }
Tensor mul(const Tensor& a, double s) { return binary_scalar(BinaryOp::Mul, a, s, false); }
Tensor div(const Tensor& a, double s) { return binary_scalar(BinaryOp::Div, a, s, false); }
Tensor div(double s, const Tensor& a) { return binary_scalar(BinaryOp::Div, a, s, true); }
Tensor pow(double s, const Tensor& a) { return binary_scalar(BinaryOp::Pow, a, s, true); }
Tensor maximum(const Tensor& a, double s) { return binary_scalar(BinaryOp::Maximum, a, s, false); }
Tensor minimum(const Tensor& a, double s) { return binary_scalar(BinaryOp::Minimum, a, s, false); }

Tensor eq(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return binary(BinaryOp::Ge, a, b); }
Tensor eq(const Tensor& a, double s) { return binary_scalar(BinaryOp::Eq, a, s, false); }
Tensor ne(const Tensor& a, double s) { return binary_scalar(BinaryOp::Ne, a, s, false); }
Tensor lt(const Tensor& a, double s) { return binary_scalar(BinaryOp::Lt, a, s, false); }
Tensor le(const Tensor& a, double s) { return binary_scalar(BinaryOp::Le, a, s, false); }
Tensor gt(const Tensor& a, double s) { return binary_scalar(BinaryOp::Gt, a, s, false); }
Tensor ge(const Tensor& a, double s) { return binary_scalar(BinaryOp::Ge, a, s, false); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined("where", cond, "cond");
  check_defined("where", a, "first input");
  check_defined("where", b, "second input");
  DDPM_CHECK(cond.dtype() == DType::Bool, "where: cond is ", dtype_name(cond.dtype()),
             ", expected a bool mask (from a comparison such as gt)");
  check_same_device("where", cond, a);
  check_same_device("where", a, b);
  check_same_dtype("where", a, b);
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, TensorOptions(a.dtype(), a.device()));
  backend(a.device()).where(out.ref(), broadcast_to(cond, shape).ref(), broadcast_to(a, shape).ref(),
                            broadcast_to(b, shape).ref());
  return out;
}

Tensor operator-(const Tensor& a) { return neg(a); }
Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
Tensor operator+(const Tensor& a, double s) { return add(a, s); }
Tensor operator-(const Tensor& a, double s) { return sub(a, s); }
Tensor operator*(const Tensor& a, double s) { return mul(a, s); }
Tensor operator/(const Tensor& a, double s) { return div(a, s); }
Tensor operator+(double s, const Tensor& a) { return add(a, s); }
Tensor operator-(double s, const Tensor& a) { return sub(s, a); }
Tensor operator*(double s, const Tensor& a) { return mul(a, s); }
Tensor operator/(double s, const Tensor& a) { return div(s, a); }

}  // namespace ddpm::ops
