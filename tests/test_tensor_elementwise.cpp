// Elementwise ops on the CPU against references computed with plain loops in double: unary math,
// binary ops with numpy broadcasting and their scalar forms, comparisons and where. Every op runs
// in float32 and float64, on odd sizes, on contiguous and non-contiguous inputs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "tensor_ops_reference.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

TEST_SUITE("cpu") {

// ---- Elementwise unary --------------------------------------------------------------------------

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  std::function<double(double)> ref;
  bool positive_only;
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return ops::neg(x); }, [](double x) { return -x; }, false},
      {"operator-", [](const Tensor& x) { return ops::operator-(x); }, [](double x) { return -x; }, false},
      {"abs", [](const Tensor& x) { return ops::abs(x); }, [](double x) { return std::fabs(x); }, false},
      {"sign", [](const Tensor& x) { return ops::sign(x); }, [](double x) { return double((x > 0) - (x < 0)); }, false},
      {"exp", [](const Tensor& x) { return ops::exp(x); }, [](double x) { return std::exp(x); }, false},
      {"log", [](const Tensor& x) { return ops::log(x); }, [](double x) { return std::log(x); }, true},
      {"sqrt", [](const Tensor& x) { return ops::sqrt(x); }, [](double x) { return std::sqrt(x); }, true},
      {"rsqrt", [](const Tensor& x) { return ops::rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); }, true},
      {"sin", [](const Tensor& x) { return ops::sin(x); }, [](double x) { return std::sin(x); }, false},
      {"cos", [](const Tensor& x) { return ops::cos(x); }, [](double x) { return std::cos(x); }, false},
      {"tanh", [](const Tensor& x) { return ops::tanh(x); }, [](double x) { return std::tanh(x); }, false},
      {"sigmoid", [](const Tensor& x) { return ops::sigmoid(x); }, [](double x) { return 1 / (1 + std::exp(-x)); }, false},
      {"silu", [](const Tensor& x) { return ops::silu(x); }, [](double x) { return x / (1 + std::exp(-x)); }, false},
      {"relu", [](const Tensor& x) { return ops::relu(x); }, [](double x) { return x > 0 ? x : 0.0; }, false},
      {"clamp", [](const Tensor& x) { return ops::clamp(x, -1.25, 0.5); },
       [](double x) { return std::min(std::max(x, -1.25), 0.5); }, false},
      {"pow 2", [](const Tensor& x) { return ops::pow(x, 2.0); }, [](double x) { return x * x; }, false},
      {"pow 3", [](const Tensor& x) { return ops::pow(x, 3.0); }, [](double x) { return x * x * x; }, false},
      {"pow 0.5", [](const Tensor& x) { return ops::pow(x, 0.5); }, [](double x) { return std::sqrt(x); }, true},
      {"pow -1.5", [](const Tensor& x) { return ops::pow(x, -1.5); }, [](double x) { return std::pow(x, -1.5); }, true},
  };
}

TEST_CASE_TEMPLATE("unary ops match std math on odd shapes and non-contiguous inputs", T, float, double) {
  const DType d = dtype_for<T>();
  for (const UnaryCase& uc : unary_cases()) {
    for (const Shape& shape : {Shape{1}, Shape{3, 7}, Shape{2, 3, 33}}) {
      for (Arrange arr : kArranges) {
        CAPTURE(uc.name);
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 3);
        if (uc.positive_only) v = positive(v);
        Tensor x = make_tensor(v, shape, d, arr);
        Tensor y = uc.op(x);
        CHECK(y.shape() == shape);
        std::vector<double> want(v.size());
        for (size_t i = 0; i < v.size(); ++i) want[i] = uc.ref(v[i]);
        check_ref(y, want, shape, d);
        check_values(x, v, 0.0);  // the input is untouched
      }
    }
  }
}

TEST_CASE_TEMPLATE("unary ops on a 0-dim tensor give a 0-dim result", T, float, double) {
  const DType d = dtype_for<T>();
  Tensor x = scalar_tensor(0.75, d);
  Tensor y = ops::exp(x);
  CHECK(y.dim() == 0);
  CHECK(y.item() == doctest::Approx(std::exp(0.75)).epsilon(1e-6));
  CHECK(ops::sign(scalar_tensor(0.0, d)).item() == 0.0);
  CHECK(ops::relu(scalar_tensor(-3.0, d)).item() == 0.0);
}

TEST_CASE_TEMPLATE("unary ops keep nan inf and saturate sigmoid at the extremes", T, float, double) {
  const DType d = dtype_for<T>();
  Tensor x = tensor({-1000, 1000, INFINITY, -INFINITY}, d);
  check_values(ops::sigmoid(x), {0, 1, 1, 0}, 0.0);
  check_values(ops::tanh(x), {-1, 1, 1, -1}, 0.0);
  check_values(ops::relu(x), {0, 1000, INFINITY, 0}, 0.0);
  Tensor e = ops::exp(tensor({-INFINITY, 0}, d));
  check_values(e, {0, 1}, 0.0);
  Tensor l = ops::log(tensor({0, -1}, d));
  std::vector<double> lv = l.to_vector<double>();
  CHECK(lv[0] == -INFINITY);
  CHECK(std::isnan(lv[1]));
  CHECK(std::isnan(ops::sqrt(tensor({-1}, d)).item()));
}

TEST_CASE("integer unary ops neg abs sign relu clamp keep the integer dtype") {
  for (DType d : {DType::Int32, DType::Int64}) {
    CAPTURE(dtype_name(d));
    std::vector<double> v = {-7, -1, 0, 2, 9, -3, 5};
    for (Arrange arr : kArranges) {
      CAPTURE(arrange_name(arr));
      Tensor x = make_tensor(v, {7}, d, arr);
      Tensor n = ops::neg(x);
      CHECK(n.dtype() == d);
      check_values(n, {7, 1, 0, -2, -9, 3, -5}, 0.0);
      check_values(ops::abs(x), {7, 1, 0, 2, 9, 3, 5}, 0.0);
      check_values(ops::sign(x), {-1, -1, 0, 1, 1, -1, 1}, 0.0);
      check_values(ops::relu(x), {0, 0, 0, 2, 9, 0, 5}, 0.0);
      Tensor c = ops::clamp(x, -2, 4);
      CHECK(c.dtype() == d);
      check_values(c, {-2, -1, 0, 2, 4, -2, 4}, 0.0);
    }
    // 2-D transposed
    Tensor t = make_tensor({1, -2, 3, -4, 5, -6}, {2, 3}, d, Arrange::Transposed);
    check_values(ops::abs(t), {1, 2, 3, 4, 5, 6}, 0.0);
  }
}

TEST_CASE("integer clamp bounds and scalars beyond the int range saturate instead of overflowing") {
  // Both were plain casts of a double to the int type: undefined behaviour past its range.
  Tensor x = Tensor::from_vector<int32_t>({-7, 0, INT32_MAX, INT32_MIN}, {4});
  check_values(ops::clamp(x, -1e10, 1e10), {-7, 0, INT32_MAX, INT32_MIN}, 0.0);
  check_values(ops::clamp(x, -3, 1e10), {-3, 0, INT32_MAX, -3}, 0.0);
  Tensor y = Tensor::from_vector<int32_t>({1, -1}, {2});
  CHECK(ops::mul(y, 1e10).to_vector<int64_t>() == std::vector<int64_t>{INT32_MAX, -INT32_MAX});  // 1e10 -> INT32_MAX
  CHECK(ops::add(y, std::nan("")).to_vector<int64_t>() == std::vector<int64_t>{1, -1});          // NaN -> 0
  CHECK(ops::add(y, -2.75).to_vector<int64_t>() == std::vector<int64_t>{-1, -3});                // truncates
}

// ---- Elementwise binary with broadcasting -------------------------------------------------------

struct BinaryCase {
  const char* name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<double(double, double)> ref;
  int domain;  // 0: any, 1: b nonzero, 2: a positive
};

std::vector<BinaryCase> binary_cases() {
  using namespace ddpm::ops;
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return ops::add(a, b); }, [](double a, double b) { return a + b; }, 0},
      {"sub", [](const Tensor& a, const Tensor& b) { return ops::sub(a, b); }, [](double a, double b) { return a - b; }, 0},
      {"mul", [](const Tensor& a, const Tensor& b) { return ops::mul(a, b); }, [](double a, double b) { return a * b; }, 0},
      {"div", [](const Tensor& a, const Tensor& b) { return ops::div(a, b); }, [](double a, double b) { return a / b; }, 1},
      {"pow", [](const Tensor& a, const Tensor& b) { return ops::pow(a, b); },
       [](double a, double b) { return std::pow(a, b); }, 2},
      {"maximum", [](const Tensor& a, const Tensor& b) { return ops::maximum(a, b); },
       [](double a, double b) { return std::max(a, b); }, 0},
      {"minimum", [](const Tensor& a, const Tensor& b) { return ops::minimum(a, b); },
       [](double a, double b) { return std::min(a, b); }, 0},
      {"operator+", [](const Tensor& a, const Tensor& b) { return a + b; }, [](double a, double b) { return a + b; }, 0},
      {"operator-", [](const Tensor& a, const Tensor& b) { return a - b; }, [](double a, double b) { return a - b; }, 0},
      {"operator*", [](const Tensor& a, const Tensor& b) { return a * b; }, [](double a, double b) { return a * b; }, 0},
      {"operator/", [](const Tensor& a, const Tensor& b) { return a / b; }, [](double a, double b) { return a / b; }, 1},
  };
}

// Pairs of shapes that broadcast, with odd sizes.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {{3, 7}, {3, 7}}, {{3, 1}, {7}}, {{2, 1, 5}, {3, 1}}, {{1}, {33}}, {{}, {3, 7}},
    {{4, 1, 1}, {1, 3, 5}}, {{33}, {}}, {{2, 3, 1}, {2, 3, 7}}, {{1, 1}, {1}}};

TEST_CASE_TEMPLATE("binary ops broadcast like numpy on odd shapes and non-contiguous inputs", T, float, double) {
  const DType d = dtype_for<T>();
  for (const BinaryCase& bc : binary_cases()) {
    for (const auto& sp : kBroadcastPairs) {
      for (Arrange arr : kArranges) {
        const Shape &sa = sp.first, &sb = sp.second;
        CAPTURE(bc.name);
        CAPTURE(shape_str(sa));
        CAPTURE(shape_str(sb));
        CAPTURE(arrange_name(arr));
        std::vector<double> va = dyadic_values(size_t(numel_of(sa)), 1);
        std::vector<double> vb = dyadic_values(size_t(numel_of(sb)), 2);
        if (bc.domain == 1) vb = nonzero(vb);
        if (bc.domain == 2) va = positive(va);
        // the second operand gets the other arrangement so mixed layouts are covered too
        Arrange arr_b = arr == Arrange::Contiguous ? Arrange::Strided : Arrange::Contiguous;
        Tensor a = make_tensor(va, sa, d, arr), b = make_tensor(vb, sb, d, arr_b);
        Shape out = broadcast_shapes(sa, sb, "test");
        Tensor y = bc.op(a, b);
        CHECK(y.shape() == out);
        std::vector<double> ea = broadcast_ref(va, sa, out), eb = broadcast_ref(vb, sb, out), want(ea.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = bc.ref(ea[i], eb[i]);
        check_ref(y, want, out, d);
        // and with the operands swapped (the broadcast goes the other way)
        if (bc.domain == 0) {
          Tensor z = bc.op(b, a);
          for (size_t i = 0; i < want.size(); ++i) want[i] = bc.ref(eb[i], ea[i]);
          check_ref(z, want, out, d);
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("binary ops on expanded stride-zero inputs", T, float, double) {
  const DType d = dtype_for<T>();
  Tensor a = ops::expand(tensor({1, 2, 3}, {3, 1}, d), {3, 5});
  Tensor b = ops::expand(tensor({10, 20, 30, 40, 50}, {5}, d), {3, 5});
  Tensor y = ops::add(a, b);
  std::vector<double> want;
  for (int i = 1; i <= 3; ++i)
    for (int j = 1; j <= 5; ++j) want.push_back(i + 10 * j);
  check_ref(y, want, {3, 5}, d);
  Tensor m = ops::mul(ops::transpose(a, 0, 1), ops::transpose(b, 0, 1));  // [5, 3]
  want.clear();
  for (int j = 1; j <= 5; ++j)
    for (int i = 1; i <= 3; ++i) want.push_back(i * 10.0 * j);
  check_ref(m, want, {5, 3}, d);
}

TEST_CASE_TEMPLATE("division by zero gives infinities and nan", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> v = ops::div(tensor({1, -1, 0}, d), tensor({0, 0, 0}, d)).to_vector<double>();
  CHECK(v[0] == INFINITY);
  CHECK(v[1] == -INFINITY);
  CHECK(std::isnan(v[2]));
}

struct ScalarCase {
  const char* name;
  std::function<Tensor(const Tensor&, double)> op;
  std::function<double(double, double)> ref;
  int domain;  // 0: any, 1: tensor nonzero
};

std::vector<ScalarCase> scalar_cases() {
  using namespace ddpm::ops;
  return {
      {"add(a, s)", [](const Tensor& a, double s) { return ops::add(a, s); }, [](double x, double s) { return x + s; }, 0},
      {"sub(a, s)", [](const Tensor& a, double s) { return ops::sub(a, s); }, [](double x, double s) { return x - s; }, 0},
      {"sub(s, a)", [](const Tensor& a, double s) { return ops::sub(s, a); }, [](double x, double s) { return s - x; }, 0},
      {"mul(a, s)", [](const Tensor& a, double s) { return ops::mul(a, s); }, [](double x, double s) { return x * s; }, 0},
      {"div(a, s)", [](const Tensor& a, double s) { return ops::div(a, s); }, [](double x, double s) { return x / s; }, 0},
      {"div(s, a)", [](const Tensor& a, double s) { return ops::div(s, a); }, [](double x, double s) { return s / x; }, 1},
      {"pow(a, s)", [](const Tensor& a, double s) { return ops::pow(a, s); },
       [](double x, double s) { return std::pow(x, s); }, 0},
      {"pow(s, a)", [](const Tensor& a, double s) { return ops::pow(s, a); },
       [](double x, double s) { return std::pow(s, x); }, 0},
      {"maximum(a, s)", [](const Tensor& a, double s) { return ops::maximum(a, s); },
       [](double x, double s) { return std::max(x, s); }, 0},
      {"minimum(a, s)", [](const Tensor& a, double s) { return ops::minimum(a, s); },
       [](double x, double s) { return std::min(x, s); }, 0},
      {"a + s", [](const Tensor& a, double s) { return a + s; }, [](double x, double s) { return x + s; }, 0},
      {"a - s", [](const Tensor& a, double s) { return a - s; }, [](double x, double s) { return x - s; }, 0},
      {"a * s", [](const Tensor& a, double s) { return a * s; }, [](double x, double s) { return x * s; }, 0},
      {"a / s", [](const Tensor& a, double s) { return a / s; }, [](double x, double s) { return x / s; }, 0},
      {"s + a", [](const Tensor& a, double s) { return s + a; }, [](double x, double s) { return s + x; }, 0},
      {"s - a", [](const Tensor& a, double s) { return s - a; }, [](double x, double s) { return s - x; }, 0},
      {"s * a", [](const Tensor& a, double s) { return s * a; }, [](double x, double s) { return s * x; }, 0},
      {"s / a", [](const Tensor& a, double s) { return s / a; }, [](double x, double s) { return s / x; }, 1},
  };
}

TEST_CASE_TEMPLATE("scalar forms of binary ops and operators", T, float, double) {
  const DType d = dtype_for<T>();
  for (const ScalarCase& sc : scalar_cases()) {
    for (double s : {2.0, -0.375, 0.1}) {
      for (Arrange arr : kArranges) {
        CAPTURE(sc.name);
        CAPTURE(s);
        CAPTURE(arrange_name(arr));
        Shape shape{3, 7};
        std::vector<double> v = dyadic_values(21, 5);
        if (sc.domain == 1) v = nonzero(v);
        if (std::string(sc.name) == "pow(a, s)") v = positive(v);
        double sv = std::string(sc.name) == "pow(s, a)" ? std::fabs(s) : s;
        Tensor y = sc.op(make_tensor(v, shape, d, arr), sv);
        CHECK(y.shape() == shape);
        std::vector<double> want(v.size());
        for (size_t i = 0; i < v.size(); ++i) want[i] = sc.ref(v[i], sv);
        check_ref(y, want, shape, d);
      }
    }
  }
}

// ---- Comparisons and where ----------------------------------------------------------------------

TEST_CASE_TEMPLATE("comparisons broadcast and give bool masks", T, float, double) {
  const DType d = dtype_for<T>();
  using Cmp = std::function<Tensor(const Tensor&, const Tensor&)>;
  using CmpS = std::function<Tensor(const Tensor&, double)>;
  struct C {
    const char* name;
    Cmp op;
    CmpS ops_;
    std::function<bool(double, double)> ref;
  };
  std::vector<C> cases = {
      {"eq", [](const Tensor& a, const Tensor& b) { return ops::eq(a, b); },
       [](const Tensor& a, double s) { return ops::eq(a, s); }, [](double a, double b) { return a == b; }},
      {"ne", [](const Tensor& a, const Tensor& b) { return ops::ne(a, b); },
       [](const Tensor& a, double s) { return ops::ne(a, s); }, [](double a, double b) { return a != b; }},
      {"lt", [](const Tensor& a, const Tensor& b) { return ops::lt(a, b); },
       [](const Tensor& a, double s) { return ops::lt(a, s); }, [](double a, double b) { return a < b; }},
      {"le", [](const Tensor& a, const Tensor& b) { return ops::le(a, b); },
       [](const Tensor& a, double s) { return ops::le(a, s); }, [](double a, double b) { return a <= b; }},
      {"gt", [](const Tensor& a, const Tensor& b) { return ops::gt(a, b); },
       [](const Tensor& a, double s) { return ops::gt(a, s); }, [](double a, double b) { return a > b; }},
      {"ge", [](const Tensor& a, const Tensor& b) { return ops::ge(a, b); },
       [](const Tensor& a, double s) { return ops::ge(a, s); }, [](double a, double b) { return a >= b; }},
  };
  // few distinct values so that ties occur often
  auto small = [](size_t n, unsigned salt) {
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = double(int((i * 7 + salt) % 5) - 2) / 2.0;
    return v;
  };
  for (const C& c : cases) {
    for (const auto& sp : kBroadcastPairs) {
      for (Arrange arr : kArranges) {
        CAPTURE(c.name);
        CAPTURE(shape_str(sp.first));
        CAPTURE(shape_str(sp.second));
        CAPTURE(arrange_name(arr));
        std::vector<double> va = small(size_t(numel_of(sp.first)), 1), vb = small(size_t(numel_of(sp.second)), 3);
        Tensor a = make_tensor(va, sp.first, d, arr), b = make_tensor(vb, sp.second, d, Arrange::Strided);
        Shape out = broadcast_shapes(sp.first, sp.second, "test");
        Tensor m = c.op(a, b);
        CHECK(m.dtype() == DType::Bool);
        CHECK(m.shape() == out);
        std::vector<double> ea = broadcast_ref(va, sp.first, out), eb = broadcast_ref(vb, sp.second, out);
        std::vector<double> want(ea.size());
        for (size_t i = 0; i < want.size(); ++i) want[i] = c.ref(ea[i], eb[i]) ? 1.0 : 0.0;
        check_values(m, want, 0.0);
      }
    }
    for (double s : {0.5, -1.0, 0.25}) {
      {
        CAPTURE(c.name);
        CAPTURE(s);
        std::vector<double> va = small(21, 2);
        Tensor m = c.ops_(make_tensor(va, {3, 7}, d, Arrange::Transposed), s);
        CHECK(m.dtype() == DType::Bool);
        std::vector<double> want(21);
        for (size_t i = 0; i < 21; ++i) want[i] = c.ref(va[i], s) ? 1.0 : 0.0;
        check_values(m, want, 0.0);
      }
    }
  }
  // nan compares unequal to everything
  Tensor n = tensor({NAN, 1}, d);
  check_values(ops::eq(n, n), {0, 1}, 0.0);
  check_values(ops::ne(n, n), {1, 0}, 0.0);
  check_values(ops::lt(n, 2.0), {0, 1}, 0.0);
}

TEST_CASE_TEMPLATE("where picks from two broadcast tensors by a bool mask", T, float, double) {
  const DType d = dtype_for<T>();
  // cond [3, 1], a [7], b [3, 7]
  std::vector<double> vc = {1, 0, 1};
  Tensor cond = tensor(vc, {3, 1}).to(DType::Bool);
  std::vector<double> va = dyadic_values(7, 1), vb = dyadic_values(21, 2);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    Tensor a = make_tensor(va, {7}, d, arr), b = make_tensor(vb, {3, 7}, d, arr);
    Tensor y = ops::where(cond, a, b);
    CHECK(y.shape() == Shape{3, 7});
    std::vector<double> want(21);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 7; ++j) want[i * 7 + j] = vc[i] ? va[j] : vb[i * 7 + j];
    check_ref(y, want, {3, 7}, d);
  }
  // a mask from a comparison on a transposed tensor, a 0-dim other branch
  Tensor x = make_tensor(vb, {3, 7}, d, Arrange::Transposed);
  Tensor y = ops::where(ops::gt(x, 0.0), x, scalar_tensor(-1.0, d));
  std::vector<double> want(21);
  for (int i = 0; i < 21; ++i) want[i] = vb[i] > 0 ? vb[i] : -1.0;
  check_ref(y, want, {3, 7}, d);
  // a mask that broadcasts up: cond [2, 1, 5] with a, b [3, 1]
  std::vector<double> vc2 = {1, 0, 0, 1, 1, 0, 1, 0, 1, 0};
  Tensor c2 = make_tensor(vc2, {2, 1, 5}, DType::Bool, Arrange::Strided);
  Tensor y2 = ops::where(c2, tensor({1, 2, 3}, {3, 1}, d), tensor({-1, -2, -3}, {3, 1}, d));
  CHECK(y2.shape() == Shape{2, 3, 5});
  want.assign(30, 0);
  for (int p = 0; p < 2; ++p)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j) want[p * 15 + i * 5 + j] = vc2[p * 5 + j] ? i + 1.0 : -(i + 1.0);
  check_ref(y2, want, {2, 3, 5}, d);
}

}  // TEST_SUITE("cpu")
