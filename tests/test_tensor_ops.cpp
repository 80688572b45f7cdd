// The op set on the CPU, each op against a reference computed here with plain loops in double:
// elementwise, broadcasting, reductions, softmax, matmul, joining/splitting, padding, indexing.
// Every op runs in float32 and float64, on odd sizes, on contiguous and non-contiguous inputs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

const Arrange kArranges[] = {Arrange::Contiguous, Arrange::Transposed, Arrange::Strided};

double atol_for(DType d) { return d == DType::Float64 ? 1e-12 : 1e-6; }
double rtol_for(DType d) { return d == DType::Float64 ? 1e-12 : 1e-5; }

// A tensor holding `values` (shape `shape`, dtype d) as a reference for check_close.
Tensor ref_tensor(const std::vector<double>& values, const Shape& shape) {
  return shape.empty() ? scalar_tensor(values.at(0), DType::Float64) : tensor(values, shape, DType::Float64);
}

void check_ref(const Tensor& got, const std::vector<double>& want, const Shape& shape, DType d) {
  CHECK(got.dtype() == d);
  check_close(got, ref_tensor(want, shape), atol_for(d), rtol_for(d));
}

std::vector<double> positive(std::vector<double> v) {
  for (double& x : v) x = std::fabs(x) + 0.125;
  return v;
}
std::vector<double> nonzero(std::vector<double> v) {
  for (double& x : v) x += 1.0 / 16;
  return v;
}

// ---- reference reductions: groups of elements per output, in row-major order ----
struct Groups {
  Shape out_shape;
  std::vector<std::vector<double>> groups;
};

Groups group_by(const std::vector<double>& v, const Shape& shape, std::vector<int64_t> dims, bool keepdim) {
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

std::vector<double> reduce_ref(const Groups& g, const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> out;
  for (const auto& grp : g.groups) out.push_back(f(grp));
  return out;
}

double ref_sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}

// Naive broadcasting matmul in double following numpy.matmul.
std::vector<double> matmul_ref(const std::vector<double>& a, Shape sa, const std::vector<double>& b, Shape sb,
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

}  // namespace

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

// ---- Reductions ---------------------------------------------------------------------------------

const std::vector<std::vector<int64_t>> kReduceDims3 = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {-3, -2}, {0, 1, 2}};

TEST_CASE_TEMPLATE("sum mean max min over various dims with and without keepdim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v = dyadic_values(105, 4);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const auto& dims : kReduceDims3) {
      for (bool keep : {false, true}) {
        CAPTURE(arrange_name(arr));
        CAPTURE(dims.size());
        CAPTURE(dims.empty() ? 99 : dims[0]);
        CAPTURE(dims.size() > 1 ? dims[1] : 99);
        CAPTURE(keep);
        Groups g = group_by(v, shape, dims, keep);
        check_ref(ops::sum(x, dims, keep), reduce_ref(g, ref_sum), g.out_shape, d);
        check_ref(ops::mean(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return ref_sum(s) / double(s.size()); }),
                  g.out_shape, d);
        check_ref(ops::max(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }),
                  g.out_shape, d);
        check_ref(ops::min(x, dims, keep),
                  reduce_ref(g, [](const std::vector<double>& s) { return *std::min_element(s.begin(), s.end()); }),
                  g.out_shape, d);
      }
    }
  }
}

TEST_CASE_TEMPLATE("reductions of 4-d and 1-d tensors and of expanded views", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{2, 3, 1, 33};
  std::vector<double> v = dyadic_values(198, 6);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const std::vector<int64_t>& dims : std::vector<std::vector<int64_t>>{{0, 3}, {1}, {2}, {0, 1, 3}, {-1, -3}}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dims[0]);
      Groups g = group_by(v, shape, dims, false);
      check_ref(ops::sum(x, dims), reduce_ref(g, ref_sum), g.out_shape, d);
      Groups gk = group_by(v, shape, dims, true);
      check_ref(ops::max(x, dims, true),
                reduce_ref(gk, [](const std::vector<double>& s) { return *std::max_element(s.begin(), s.end()); }),
                gk.out_shape, d);
    }
  }
  // 1-d, all dims: 0-dim results
  std::vector<double> w = dyadic_values(33, 2);
  Tensor s = ops::sum(make_tensor(w, {33}, d, Arrange::Strided));
  CHECK(s.dim() == 0);
  CHECK(s.item() == doctest::Approx(ref_sum(w)).epsilon(1e-12));
  CHECK(ops::sum(make_tensor(w, {33}, d), {}, true).shape() == Shape{1});
  // an expanded tensor counts each repeat
  Tensor e = ops::expand(tensor({1, 2, 3}, {3, 1}, d), {3, 4});
  check_ref(ops::sum(e, {1}), {4, 8, 12}, {3}, d);
  check_ref(ops::sum(e, {0}), {6, 6, 6, 6}, {4}, d);
  check_ref(ops::mean(e), {2}, {}, d);
}

TEST_CASE_TEMPLATE("var divides by n minus correction over dims", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v = dyadic_values(105, 7);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (const auto& dims : kReduceDims3) {
      for (int64_t corr : {0, 1, 2}) {
        for (bool keep : {false, true}) {
          CAPTURE(arrange_name(arr));
          CAPTURE(dims.empty() ? 99 : dims[0]);
          CAPTURE(dims.size());
          CAPTURE(corr);
          CAPTURE(keep);
          Groups g = group_by(v, shape, dims, keep);
          auto f = [corr](const std::vector<double>& s) {
            double m = ref_sum(s) / double(s.size()), q = 0;
            for (double x : s) q += (x - m) * (x - m);
            return q / double(int64_t(s.size()) - corr);
          };
          check_ref(ops::var(x, dims, corr, keep), reduce_ref(g, f), g.out_shape, d);
        }
      }
    }
  }
  // the default is Bessel's correction
  check_ref(ops::var(tensor({1, 2, 3, 4}, d)), {5.0 / 3.0}, {}, d);
  // a large common offset must not wreck the result (a naive E[x^2] - E[x]^2 would)
  std::vector<double> big(33);
  for (int i = 0; i < 33; ++i) big[i] = 4096 + (i % 3) * 0.5;
  double m = ref_sum(big) / 33, q = 0;
  for (double x : big) q += (x - m) * (x - m);
  check_close(ops::var(tensor(big, {33}, d), {0}, 1), scalar_tensor(q / 32, DType::Float64),
              d == DType::Float64 ? 1e-12 : 1e-4, d == DType::Float64 ? 1e-10 : 1e-3);
}

TEST_CASE_TEMPLATE("argmax and argmin give the first extreme index along a dim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5, 7};
  std::vector<double> v(105);
  for (size_t i = 0; i < v.size(); ++i) v[i] = double(int((i * 13 + 2) % 6)) - 2.5;  // many ties
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (int64_t dim : {0, 1, 2, -1, -3}) {
      for (bool keep : {false, true}) {
        CAPTURE(arrange_name(arr));
        CAPTURE(dim);
        CAPTURE(keep);
        Groups g = group_by(v, shape, {dim}, keep);
        auto first_max = [](const std::vector<double>& s) {
          return double(std::max_element(s.begin(), s.end()) - s.begin());  // first of equals
        };
        auto first_min = [](const std::vector<double>& s) {
          return double(std::min_element(s.begin(), s.end()) - s.begin());
        };
        Tensor am = ops::argmax(x, dim, keep), an = ops::argmin(x, dim, keep);
        CHECK(am.dtype() == DType::Int64);
        CHECK(an.dtype() == DType::Int64);
        CHECK(am.shape() == g.out_shape);
        CHECK(an.shape() == g.out_shape);
        check_values(am, reduce_ref(g, first_max), 0.0);
        check_values(an, reduce_ref(g, first_min), 0.0);
      }
    }
  }
  Tensor one = tensor({3, 9, 9, -1, 9}, d);
  CHECK(ops::argmax(one, 0).item() == 1);
  CHECK(ops::argmin(one, 0).item() == 3);
  CHECK(ops::argmax(one, 0).dim() == 0);
}

// ---- Softmax ------------------------------------------------------------------------------------

std::vector<double> softmax_ref(const std::vector<double>& v, const Shape& shape, int64_t dim, bool log) {
  int64_t nd = int64_t(shape.size());
  if (dim < 0) dim += nd;
  std::vector<double> out(v.size());
  const int64_t n = shape[dim];
  for (int64_t k = 0; k < int64_t(v.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, shape);
    if (idx[dim] != 0) continue;  // one pass per row, started at its first element
    std::vector<int64_t> pos(n);
    for (int64_t j = 0; j < n; ++j) {
      idx[dim] = j;
      pos[j] = ravel_index(idx, shape);
    }
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, v[pos[j]]);
    for (int64_t j = 0; j < n; ++j) s += std::exp(v[pos[j]] - mx);
    for (int64_t j = 0; j < n; ++j) out[pos[j]] = log ? v[pos[j]] - mx - std::log(s) : std::exp(v[pos[j]] - mx) / s;
  }
  return out;
}

TEST_CASE_TEMPLATE("softmax and log_softmax along each dim match the definition", T, float, double) {
  const DType d = dtype_for<T>();
  for (const Shape& shape : {Shape{7}, Shape{3, 7}, Shape{2, 3, 33}, Shape{1, 5}}) {
    std::vector<double> v = dyadic_values(size_t(numel_of(shape)), 8);
    for (Arrange arr : kArranges) {
      Tensor x = make_tensor(v, shape, d, arr);
      for (int64_t dim = -int64_t(shape.size()); dim < int64_t(shape.size()); ++dim) {
        CAPTURE(shape_str(shape));
        CAPTURE(arrange_name(arr));
        CAPTURE(dim);
        Tensor s = ops::softmax(x, dim), l = ops::log_softmax(x, dim);
        CHECK(s.shape() == shape);
        check_ref(s, softmax_ref(v, shape, dim, false), shape, d);
        check_ref(l, softmax_ref(v, shape, dim, true), shape, d);
      }
    }
  }
}

TEST_CASE_TEMPLATE("softmax and log_softmax stay finite and exact for huge inputs", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> v = {1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4, 88.75, 89, 89.25};
  Shape shape{4, 3};
  Tensor x = tensor(v, shape, d);
  Tensor s = ops::softmax(x, 1), l = ops::log_softmax(x, 1);
  for (double e : s.to_vector<double>()) CHECK(std::isfinite(e));
  for (double e : l.to_vector<double>()) CHECK(std::isfinite(e));
  check_ref(s, softmax_ref(v, shape, 1, false), shape, d);
  check_ref(l, softmax_ref(v, shape, 1, true), shape, d);
  // along dim 0 of the transpose (the same rows, seen through a view)
  Tensor t = ops::transpose(x, 0, 1);
  check_ref(ops::transpose(ops::log_softmax(t, 0), 0, 1), softmax_ref(v, shape, 1, true), shape, d);
  // a row of -inf except one entry
  Tensor m = tensor({-INFINITY, 2, -INFINITY}, d);
  check_values(ops::softmax(m, 0), {0, 1, 0}, 0.0);
}

// ---- Matmul -------------------------------------------------------------------------------------

struct MatmulCase {
  Shape sa, sb;
};

TEST_CASE_TEMPLATE("matmul of 1-d 2-d and batched operands matches a naive loop", T, float, double) {
  const DType d = dtype_for<T>();
  const std::vector<MatmulCase> cases = {
      {{33}, {33}},       {{7, 33}, {33}},        {{33}, {33, 5}},         {{1, 1}, {1, 1}},
      {{7, 33}, {33, 3}}, {{3, 1}, {1, 5}},       {{1, 7}, {7, 1}},        {{2, 7, 33}, {33, 5}},
      {{7, 3}, {2, 3, 5}}, {{2, 1, 3, 4}, {5, 4, 6}}, {{5}, {2, 5, 3}},     {{2, 3, 5}, {5}},
      {{3, 2, 4}, {3, 4, 2}}, {{1, 3, 4}, {4, 4, 1}}, {{17, 64}, {64, 19}},
  };
  for (const MatmulCase& mc : cases) {
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(mc.sa));
      CAPTURE(shape_str(mc.sb));
      CAPTURE(arrange_name(arr));
      std::vector<double> va = dyadic_values(size_t(numel_of(mc.sa)), 1), vb = dyadic_values(size_t(numel_of(mc.sb)), 2);
      Arrange arr_b = arr == Arrange::Strided ? Arrange::Transposed : arr;
      Tensor a = make_tensor(va, mc.sa, d, arr), b = make_tensor(vb, mc.sb, d, arr_b);
      Shape out;
      std::vector<double> want = matmul_ref(va, mc.sa, vb, mc.sb, &out);
      Tensor y = ops::matmul(a, b);
      CHECK(y.shape() == out);
      check_ref(y, want, out, d);
    }
  }
}

TEST_CASE_TEMPLATE("matmul with transposed expanded and sliced operands", T, float, double) {
  const DType d = dtype_for<T>();
  // a^T b^T through transpose views of contiguous storage: [7, 33]^T... built explicitly
  std::vector<double> va = dyadic_values(33 * 7, 3), vb = dyadic_values(5 * 33, 4);
  Tensor A = tensor(va, {33, 7}, d), B = tensor(vb, {5, 33}, d);
  Tensor y = ops::matmul(ops::transpose(A, 0, 1), ops::transpose(B, 0, 1));  // [7, 5]
  std::vector<double> want(35);
  for (int i = 0; i < 7; ++i)
    for (int j = 0; j < 5; ++j) {
      double s = 0;
      for (int p = 0; p < 33; ++p) s += va[p * 7 + i] * vb[j * 33 + p];
      want[i * 5 + j] = s;
    }
  check_ref(y, want, {7, 5}, d);
  // an expanded batch (stride 0) on the left, a batch of 4 on the right
  std::vector<double> vc = dyadic_values(3 * 4, 5), vd = dyadic_values(4 * 4 * 2, 6);
  Tensor C = ops::expand(tensor(vc, {1, 3, 4}, d), {4, 3, 4});
  Tensor D = tensor(vd, {4, 4, 2}, d);
  Shape out;
  std::vector<double> w = matmul_ref(vc, {1, 3, 4}, vd, {4, 4, 2}, &out);
  check_ref(ops::matmul(C, D), w, out, d);
  // a batch that is itself a permuted view: [4, 3, 2] from storage [3, 4, 2]
  std::vector<double> ve = dyadic_values(3 * 4 * 2, 7);
  Tensor E = ops::permute(tensor(ve, {3, 4, 2}, d), {1, 0, 2});  // [4, 3, 2]
  std::vector<double> ve_logical(24);
  for (int b = 0; b < 4; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 2; ++j) ve_logical[b * 6 + i * 2 + j] = ve[i * 8 + b * 2 + j];
  std::vector<double> vf = dyadic_values(2 * 5, 8);
  Tensor F = tensor(vf, {2, 5}, d);
  w = matmul_ref(ve_logical, {4, 3, 2}, vf, {2, 5}, &out);
  check_ref(ops::matmul(E, F), w, out, d);
  // rows picked with a step (no unit stride anywhere in the left operand)
  std::vector<double> vg = dyadic_values(6 * 9, 9);
  Tensor G = ops::slice(ops::slice(tensor(vg, {6, 9}, d), 0, 0, 6, 2), 1, 1, 9, 3);  // [3, 3]
  std::vector<double> vg_logical;
  for (int i = 0; i < 6; i += 2)
    for (int j = 1; j < 9; j += 3) vg_logical.push_back(vg[i * 9 + j]);
  std::vector<double> vh = dyadic_values(3 * 4, 10);
  w = matmul_ref(vg_logical, {3, 3}, vh, {3, 4}, &out);
  check_ref(ops::matmul(G, tensor(vh, {3, 4}, d)), w, out, d);
}

TEST_CASE_TEMPLATE("matmul of a larger non-dyadic product stays accurate", T, float, double) {
  const DType d = dtype_for<T>();
  const int m = 33, k = 129, n = 17;
  std::vector<double> va(m * k), vb(k * n);
  for (int i = 0; i < m * k; ++i) va[i] = std::sin(0.37 * i);
  for (int i = 0; i < k * n; ++i) vb[i] = std::cos(0.11 * i);
  Tensor a = tensor(va, {m, k}, DType::Float64).to(d), b = tensor(vb, {k, n}, DType::Float64).to(d);
  // the reference uses the inputs as stored (rounded to float32 when d is float32)
  va = a.to_vector<double>();
  vb = b.to_vector<double>();
  Shape out;
  std::vector<double> want = matmul_ref(va, {m, k}, vb, {k, n}, &out);
  // float32 accumulation over k = 129 terms of size <= 1: absolute error well below 1e-4
  check_close(ops::matmul(a, b), tensor(want, out, DType::Float64), d == DType::Float64 ? 1e-12 : 1e-4,
              d == DType::Float64 ? 1e-12 : 1e-4);
}

// ---- Joining and splitting ----------------------------------------------------------------------

TEST_CASE_TEMPLATE("cat joins along any dim with non-contiguous inputs", T, float, double) {
  const DType d = dtype_for<T>();
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    std::vector<double> v1 = dyadic_values(6, 1), v2 = dyadic_values(3, 2), v3 = dyadic_values(12, 3);
    // dim 0: [2, 3] + [1, 3] + [4, 3]
    Tensor y = ops::cat({make_tensor(v1, {2, 3}, d, arr), make_tensor(v2, {1, 3}, d), make_tensor(v3, {4, 3}, d, arr)}, 0);
    CHECK(y.shape() == Shape{7, 3});
    std::vector<double> want = v1;
    want.insert(want.end(), v2.begin(), v2.end());
    want.insert(want.end(), v3.begin(), v3.end());
    check_ref(y, want, {7, 3}, d);
    // dim 1 (and -1): [2, 3] + [2, 1] + [2, 5]
    std::vector<double> w1 = dyadic_values(6, 4), w2 = dyadic_values(2, 5), w3 = dyadic_values(10, 6);
    for (int64_t dim : {1, -1}) {
      Tensor z = ops::cat({make_tensor(w1, {2, 3}, d, arr), make_tensor(w2, {2, 1}, d, arr), make_tensor(w3, {2, 5}, d, arr)}, dim);
      CHECK(z.shape() == Shape{2, 9});
      want.clear();
      for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 3; ++j) want.push_back(w1[i * 3 + j]);
        want.push_back(w2[i]);
        for (int j = 0; j < 5; ++j) want.push_back(w3[i * 5 + j]);
      }
      check_ref(z, want, {2, 9}, d);
    }
    // 3-d along the middle dim
    std::vector<double> u1 = dyadic_values(2 * 1 * 3, 7), u2 = dyadic_values(2 * 2 * 3, 8);
    Tensor c = ops::cat({make_tensor(u1, {2, 1, 3}, d, arr), make_tensor(u2, {2, 2, 3}, d, arr)}, 1);
    CHECK(c.shape() == Shape{2, 3, 3});
    want.clear();
    for (int b = 0; b < 2; ++b) {
      for (int j = 0; j < 3; ++j) want.push_back(u1[b * 3 + j]);
      for (int j = 0; j < 6; ++j) want.push_back(u2[b * 6 + j]);
    }
    check_ref(c, want, {2, 3, 3}, d);
  }
  // a single tensor: a copy with the same values
  Tensor one = tensor({1, 2, 3}, d);
  Tensor c1 = ops::cat({one}, 0);
  check_ref(c1, {1, 2, 3}, {3}, d);
  // an empty piece is allowed
  check_ref(ops::cat({one, zeros({0}, d), one}), {1, 2, 3, 1, 2, 3}, {6}, d);
}

TEST_CASE_TEMPLATE("stack inserts a new dim at any position", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> a = dyadic_values(6, 1), b = dyadic_values(6, 2), c = dyadic_values(6, 3);
  std::vector<Tensor> ts = {make_tensor(a, {2, 3}, d), make_tensor(b, {2, 3}, d, Arrange::Transposed),
                            make_tensor(c, {2, 3}, d, Arrange::Strided)};
  const std::vector<double>* src[3] = {&a, &b, &c};
  for (int64_t dim : {0, 1, 2, -1, -3}) {
    CAPTURE(dim);
    Tensor y = ops::stack(ts, dim);
    int64_t nd = dim < 0 ? dim + 3 : dim;
    Shape shape{2, 3};
    shape.insert(shape.begin() + nd, 3);
    CHECK(y.shape() == shape);
    std::vector<double> want(18);
    for (int64_t k = 0; k < 18; ++k) {
      std::vector<int64_t> idx = unravel_index(k, shape);
      int64_t which = idx[nd];
      idx.erase(idx.begin() + nd);
      want[k] = (*src[which])[idx[0] * 3 + idx[1]];
    }
    check_ref(y, want, shape, d);
  }
  Tensor s = ops::stack({scalar_tensor(1, d), scalar_tensor(2, d)});
  check_ref(s, {1, 2}, {2}, d);
}

TEST_CASE_TEMPLATE("split and chunk give views of the requested sizes", T, float, double) {
  const DType d = dtype_for<T>();
  Tensor x = ops::reshape(arange(0, 14, 1, d), {2, 7});
  std::vector<Tensor> p = ops::split(x, 3, 1);
  REQUIRE(p.size() == 3);
  CHECK(p[0].shape() == Shape{2, 3});
  CHECK(p[2].shape() == Shape{2, 1});
  check_ref(p[0], {0, 1, 2, 7, 8, 9}, {2, 3}, d);
  check_ref(p[1], {3, 4, 5, 10, 11, 12}, {2, 3}, d);
  check_ref(p[2], {6, 13}, {2, 1}, d);
  for (const Tensor& t : p) CHECK(t.storage().get() == x.storage().get());
  p[1].fill_(-1);
  check_ref(x, {0, 1, 2, -1, -1, -1, 6, 7, 8, 9, -1, -1, -1, 13}, {2, 7}, d);

  Tensor y = ops::reshape(arange(0, 14, 1, d), {7, 2});
  std::vector<Tensor> q = ops::split(y, std::vector<int64_t>{1, 4, 2}, 0);
  REQUIRE(q.size() == 3);
  CHECK(q[0].shape() == Shape{1, 2});
  CHECK(q[1].shape() == Shape{4, 2});
  check_ref(q[2], {10, 11, 12, 13}, {2, 2}, d);
  check_ref(q[1], {2, 3, 4, 5, 6, 7, 8, 9}, {4, 2}, d);
  std::vector<Tensor> r = ops::split(y, 7, 0);
  REQUIRE(r.size() == 1);
  CHECK(r[0].shape() == Shape{7, 2});
  std::vector<Tensor> neg = ops::split(y, 1, -1);
  REQUIRE(neg.size() == 2);
  check_ref(neg[1], {1, 3, 5, 7, 9, 11, 13}, {7, 1}, d);

  // chunk follows torch.chunk: pieces of ceil(n / chunks)
  Tensor z = arange(0, 7, 1, d);
  std::vector<Tensor> c = ops::chunk(z, 3);
  REQUIRE(c.size() == 3);
  check_ref(c[0], {0, 1, 2}, {3}, d);
  check_ref(c[1], {3, 4, 5}, {3}, d);
  check_ref(c[2], {6}, {1}, d);
  std::vector<Tensor> c6 = ops::chunk(arange(0, 6, 1, d), 3);
  REQUIRE(c6.size() == 3);
  for (int i = 0; i < 3; ++i) check_ref(c6[i], {2.0 * i, 2.0 * i + 1}, {2}, d);
  std::vector<Tensor> c5 = ops::chunk(ops::reshape(arange(0, 10, 1, d), {2, 5}), 3, 1);
  REQUIRE(c5.size() == 3);
  check_ref(c5[0], {0, 1, 5, 6}, {2, 2}, d);
  check_ref(c5[2], {4, 9}, {2, 1}, d);
  // split of a transposed tensor
  Tensor t = ops::transpose(ops::reshape(arange(0, 6, 1, d), {2, 3}), 0, 1);  // [[0,3],[1,4],[2,5]]
  std::vector<Tensor> st = ops::split(t, 2, 0);
  REQUIRE(st.size() == 2);
  check_ref(st[0], {0, 3, 1, 4}, {2, 2}, d);
  check_ref(st[1], {2, 5}, {1, 2}, d);
}

// torch.nn.functional.pad semantics in a reference: out[i] = x[i - left] where in range, else value.
std::vector<double> pad_ref(const std::vector<double>& v, const Shape& shape, const std::vector<int64_t>& pads,
                            double value, Shape* out_shape) {
  size_t nd = shape.size();
  Shape os = shape;
  std::vector<int64_t> left(nd, 0);
  for (size_t p = 0; p < pads.size() / 2; ++p) {
    size_t dim = nd - 1 - p;
    left[dim] = pads[2 * p];
    os[dim] = shape[dim] + pads[2 * p] + pads[2 * p + 1];
  }
  std::vector<double> out(size_t(numel_of(os)));
  for (int64_t k = 0; k < int64_t(out.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, os);
    bool inside = true;
    for (size_t dd = 0; dd < nd; ++dd) {
      idx[dd] -= left[dd];
      if (idx[dd] < 0 || idx[dd] >= shape[dd]) inside = false;
    }
    out[k] = inside ? v[ravel_index(idx, shape)] : value;
  }
  *out_shape = os;
  return out;
}

TEST_CASE_TEMPLATE("pad adds constants and negative pads crop", T, float, double) {
  const DType d = dtype_for<T>();
  // hand-written small cases first
  check_ref(ops::pad(tensor({1, 2, 3}, d), {1, 2}, 0.5), {0.5, 1, 2, 3, 0.5, 0.5}, {6}, d);
  check_ref(ops::pad(tensor({1, 2, 3}, d), {-1, 1}), {2, 3, 0}, {3}, d);
  check_ref(ops::pad(tensor({1, 2, 3, 4}, {2, 2}, d), {0, 0, 1, 0}, 9), {9, 9, 1, 2, 3, 4}, {3, 2}, d);
  struct PadCase {
    Shape shape;
    std::vector<int64_t> pads;
  };
  const std::vector<PadCase> cases = {
      {{3, 7}, {1, 0, 2, 1}},  {{3, 7}, {-2, 1, 0, -1}}, {{2, 3, 5}, {1, 1}},     {{2, 3, 5}, {0, 3, -1, 2}},
      {{2, 3, 5}, {2, -2, 1, 1, 1, 0}}, {{1, 2, 3, 5}, {1, 2, 3, 4}}, {{7}, {-3, -3}}, {{3, 7}, {0, 0, 0, 0}},
  };
  for (const PadCase& pc : cases) {
    for (Arrange arr : kArranges) {
      CAPTURE(shape_str(pc.shape));
      CAPTURE(pc.pads.size());
      CAPTURE(pc.pads[0]);
      CAPTURE(arrange_name(arr));
      std::vector<double> v = dyadic_values(size_t(numel_of(pc.shape)), 2);
      Shape out;
      std::vector<double> want = pad_ref(v, pc.shape, pc.pads, -0.25, &out);
      Tensor y = ops::pad(make_tensor(v, pc.shape, d, arr), pc.pads, -0.25);
      CHECK(y.shape() == out);
      check_ref(y, want, out, d);
    }
  }
}

// ---- Indexing -----------------------------------------------------------------------------------

Tensor idx_tensor(const std::vector<int64_t>& v, const Shape& shape) {
  return Tensor::from_vector<int64_t>(v, shape);
}

TEST_CASE_TEMPLATE("index_select picks slices with repeats along any dim", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{5, 3, 7};
  std::vector<double> v = dyadic_values(105, 3);
  std::vector<int64_t> iv = {4, 0, 4, 2};
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    for (int64_t dim : {0, 1, 2, -1}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dim);
      int64_t nd = dim < 0 ? dim + 3 : dim;
      std::vector<int64_t> use = iv;
      for (int64_t& i : use) i %= shape[nd];
      Tensor y = ops::index_select(x, dim, idx_tensor(use, {4}));
      Shape os = shape;
      os[nd] = 4;
      CHECK(y.shape() == os);
      std::vector<double> want(size_t(numel_of(os)));
      for (int64_t k = 0; k < int64_t(want.size()); ++k) {
        std::vector<int64_t> id = unravel_index(k, os);
        id[nd] = use[id[nd]];
        want[k] = v[ravel_index(id, shape)];
      }
      check_ref(y, want, os, d);
    }
  }
  // a non-contiguous index tensor
  Tensor sidx = ops::slice(idx_tensor({2, 9, 0, 9, 1, 9}, {6}), 0, 0, 6, 2);  // {2, 0, 1}
  check_ref(ops::index_select(tensor({10, 20, 30}, d), 0, sidx), {30, 10, 20}, {3}, d);
}

TEST_CASE_TEMPLATE("gather reads along a dim at per-element indices", T, float, double) {
  const DType d = dtype_for<T>();
  const Shape shape{3, 5};
  std::vector<double> v = dyadic_values(15, 1);
  for (Arrange arr : kArranges) {
    Tensor x = make_tensor(v, shape, d, arr);
    // dim 1: index [3, 4]
    std::vector<int64_t> i1 = {4, 0, 0, 2, 1, 1, 3, 4, 0, 2, 2, 2};
    Tensor y = ops::gather(x, 1, idx_tensor(i1, {3, 4}));
    CHECK(y.shape() == Shape{3, 4});
    std::vector<double> want(12);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[i * 4 + j] = v[i * 5 + i1[i * 4 + j]];
    check_ref(y, want, {3, 4}, d);
    // dim 0 (and -2): index [2, 5]
    std::vector<int64_t> i0 = {2, 0, 1, 1, 0, 0, 2, 2, 1, 0};
    for (int64_t dim : {0, -2}) {
      CAPTURE(arrange_name(arr));
      CAPTURE(dim);
      Tensor z = ops::gather(x, dim, idx_tensor(i0, {2, 5}));
      CHECK(z.shape() == Shape{2, 5});
      want.assign(10, 0);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 5; ++j) want[i * 5 + j] = v[i0[i * 5 + j] * 5 + j];
      check_ref(z, want, {2, 5}, d);
    }
  }
  // transposed index
  Tensor ti = ops::transpose(idx_tensor({0, 1, 2, 2, 1, 0}, {2, 3}), 0, 1);  // [3, 2]: 0 2 / 1 1 / 2 0
  Tensor x = tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {3, 3}, d);
  check_ref(ops::gather(x, 1, ti), {1, 3, 5, 5, 9, 7}, {3, 2}, d);
}

TEST_CASE_TEMPLATE("index_add accumulates repeated indices into zeros", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<int64_t> iv = {1, 3, 1, 0, 1};
  std::vector<double> sv = dyadic_values(5 * 3, 2);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    // dim 0: shape [4, 3], src [5, 3]
    Tensor y = ops::index_add({4, 3}, 0, idx_tensor(iv, {5}), make_tensor(sv, {5, 3}, d, arr));
    CHECK(y.shape() == Shape{4, 3});
    CHECK(y.dtype() == d);
    std::vector<double> want(12, 0.0);
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 3; ++c) want[iv[j] * 3 + c] += sv[j * 3 + c];
    check_ref(y, want, {4, 3}, d);
    // dim 1 (and -1): shape [3, 4], src [3, 5]
    for (int64_t dim : {1, -1}) {
      Tensor z = ops::index_add({3, 4}, dim, idx_tensor(iv, {5}), make_tensor(sv, {3, 5}, d, arr));
      want.assign(12, 0.0);
      for (int r = 0; r < 3; ++r)
        for (int j = 0; j < 5; ++j) want[r * 4 + iv[j]] += sv[r * 5 + j];
      check_ref(z, want, {3, 4}, d);
    }
  }
}

TEST_CASE_TEMPLATE("scatter_add accumulates at per-element indices into zeros", T, float, double) {
  const DType d = dtype_for<T>();
  std::vector<double> sv = dyadic_values(12, 4);
  std::vector<int64_t> iv = {4, 0, 4, 2, 1, 1, 1, 3, 0, 2, 0, 0};
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    // dim 1: out [3, 5], index/src [3, 4]
    Tensor y = ops::scatter_add({3, 5}, 1, idx_tensor(iv, {3, 4}), make_tensor(sv, {3, 4}, d, arr));
    CHECK(y.shape() == Shape{3, 5});
    std::vector<double> want(15, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[i * 5 + iv[i * 4 + j]] += sv[i * 4 + j];
    check_ref(y, want, {3, 5}, d);
    // dim 0: out [5, 4], index/src [3, 4]
    Tensor z = ops::scatter_add({5, 4}, 0, idx_tensor(iv, {3, 4}), make_tensor(sv, {3, 4}, d, arr));
    want.assign(20, 0.0);
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want[iv[i * 4 + j] * 4 + j] += sv[i * 4 + j];
    check_ref(z, want, {5, 4}, d);
  }
  // scatter_add is the adjoint of gather: <gather(x, idx), g> == <x, scatter_add(idx, g)>
  std::vector<double> xv = dyadic_values(15, 5);
  Tensor x = tensor(xv, {3, 5}, d);
  Tensor idx = idx_tensor(iv, {3, 4});
  Tensor g = tensor(sv, {3, 4}, d);
  double lhs = ops::sum(ops::mul(ops::gather(x, 1, idx), g)).item();
  double rhs = ops::sum(ops::mul(x, ops::scatter_add({3, 5}, 1, idx, g))).item();
  CHECK(lhs == doctest::Approx(rhs).epsilon(1e-6));
}

// ---- Large odd sizes (the parallel and blocked paths) -------------------------------------------

TEST_CASE_TEMPLATE("ops on large odd-sized tensors use every element", T, float, double) {
  const DType d = dtype_for<T>();
  // elementwise over 100003 strided elements
  std::vector<double> v = dyadic_values(100003, 3);
  Tensor x = make_tensor(v, {100003}, d, Arrange::Strided);
  std::vector<double> want(v.size());
  for (size_t i = 0; i < v.size(); ++i) want[i] = std::tanh(v[i]) * 2.0;
  check_ref(ops::mul(ops::tanh(x), 2.0), want, {100003}, d);
  // full reductions: sums of multiples of 1/8 are exact in any order
  check_ref(ops::sum(x), {ref_sum(v)}, {}, d);
  check_ref(ops::mean(x), {ref_sum(v) / 100003.0}, {}, d);
  check_ref(ops::max(x), {*std::max_element(v.begin(), v.end())}, {}, d);
  CHECK(ops::argmin(x, 0).item() == double(std::min_element(v.begin(), v.end()) - v.begin()));
  {
    double m = ref_sum(v) / 100003.0, q = 0;
    for (double e : v) q += (e - m) * (e - m);
    check_ref(ops::var(x), {q / 100002.0}, {}, d);
  }
  // long rows and many rows, transposed
  const Shape shape{7, 4099};
  std::vector<double> w = dyadic_values(7 * 4099, 5);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    Tensor y = make_tensor(w, shape, d, arr);
    for (int64_t dim : {0, 1}) {
      CAPTURE(dim);
      Groups g = group_by(w, shape, {dim}, false);
      check_ref(ops::sum(y, {dim}), reduce_ref(g, ref_sum), g.out_shape, d);
      check_ref(ops::min(y, {dim}), reduce_ref(g, [](const std::vector<double>& s) {
                  return *std::min_element(s.begin(), s.end());
                }), g.out_shape, d);
      check_ref(ops::softmax(y, dim), softmax_ref(w, shape, dim, false), shape, d);
      check_ref(ops::log_softmax(y, dim), softmax_ref(w, shape, dim, true), shape, d);
    }
    // broadcasting a long row against many rows
    std::vector<double> r = dyadic_values(4099, 6);
    Tensor z = ops::sub(y, make_tensor(r, {4099}, d, Arrange::Strided));
    std::vector<double> zw(w.size());
    for (size_t i = 0; i < w.size(); ++i) zw[i] = w[i] - r[i % 4099];
    check_ref(z, zw, shape, d);
  }
  // a bigger matmul through transposed views (the GEMM library path)
  std::vector<double> va = dyadic_values(65 * 129, 7), vb = dyadic_values(67 * 65, 8);
  Tensor A = ops::transpose(tensor(va, {65, 129}, d), 0, 1);  // [129, 65]
  Tensor B = ops::transpose(tensor(vb, {67, 65}, d), 0, 1);   // [65, 67]
  std::vector<double> la(129 * 65), lb(65 * 67);
  for (int i = 0; i < 129; ++i)
    for (int p = 0; p < 65; ++p) la[i * 65 + p] = va[p * 129 + i];
  for (int p = 0; p < 65; ++p)
    for (int j = 0; j < 67; ++j) lb[p * 67 + j] = vb[j * 65 + p];
  Shape out;
  std::vector<double> mm = matmul_ref(la, {129, 65}, lb, {65, 67}, &out);
  check_ref(ops::matmul(A, B), mm, out, d);
}

TEST_CASE("float32 sums and means of a million elements stay accurate") {
  const int64_t n = 1000003;
  Tensor x = full({n}, 0.1);  // float32(0.1) each
  const double v = double(0.1f);
  CHECK(ops::sum(x).item() == doctest::Approx(double(n) * v).epsilon(1e-6));
  CHECK(ops::mean(x).item() == doctest::Approx(v).epsilon(1e-6));
  CHECK(std::fabs(ops::var(x).item()) < 1e-9);
  Tensor y = ops::reshape(full({1000, 1001}, 0.1), {1000, 1001});
  std::vector<double> cols = ops::sum(y, {0}).to_vector<double>();
  for (double c : cols) CHECK(c == doctest::Approx(1000 * v).epsilon(1e-6));
}

// ---- Empty tensors ------------------------------------------------------------------------------

TEST_CASE("ops on empty tensors give empty results and zero sums") {
  Tensor e = zeros({0, 3});
  CHECK(ops::add(e, e).shape() == Shape{0, 3});
  CHECK(ops::exp(e).numel() == 0);
  CHECK(ops::add(e, tensor({1, 2, 3})).shape() == Shape{0, 3});
  Tensor s = ops::sum(e, {0});
  CHECK(s.shape() == Shape{3});
  check_values(s, {0, 0, 0}, 0.0);
  CHECK(ops::sum(e, {1}).shape() == Shape{0});
  CHECK(ops::sum(e).item() == 0.0);
  CHECK(ops::matmul(zeros({2, 0}), zeros({0, 3})).shape() == Shape{2, 3});
  check_values(ops::matmul(zeros({2, 0}), zeros({0, 3})), std::vector<double>(6, 0.0), 0.0);
  CHECK(ops::cat({e, ones({2, 3})}, 0).shape() == Shape{2, 3});
}

}  // TEST_SUITE("cpu")
