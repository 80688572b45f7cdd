// Every differentiable op, two ways: gradcheck in float64 on the CPU (suite "gradcheck", one test
// case per op), and CPU/CUDA parity of forward and backward in float32 and float64 (suite "cuda").
// The inputs have odd sizes, broadcast, and come contiguous, transposed or strided (test_util.hpp's
// Arrange). Values are random but fixed, away from the kinks of abs/relu/clamp and from ties.
#include <functional>
#include <random>
#include <string>

#include "autograd/autograd.hpp"
#include "op_cases.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

using Ts = std::vector<Tensor>;
constexpr Arrange C = Arrange::Contiguous, T = Arrange::Transposed, S = Arrange::Strided;

// Makes a case's inputs on one device and dtype. The same case makes the same values everywhere:
// the k-th input of a case is drawn from a generator seeded with k.
class Inputs {
 public:
  explicit Inputs(TensorOptions opts) : opts_(opts) {}
  // Values in +-[0.1, 1.1]: signed, never within 0.1 of zero.
  Tensor any(const Shape& shape, Arrange a = C) { return make(shape, a, -1.0); }
  // Values in [0.5, 2]: for log, sqrt, division, pow bases.
  Tensor pos(const Shape& shape, Arrange a = C) { return make(shape, a, 0.5); }
  // Like any() but not requiring grad: a constant operand.
  Tensor constant(const Shape& shape, Arrange a = C) { return set_requires_grad(any(shape, a), false); }
  Tensor index(const std::vector<double>& values, const Shape& shape = {}) {
    return tensor(values, shape, TensorOptions(DType::Int64, opts_.device));
  }
  Tensor mask(const std::vector<double>& values, const Shape& shape = {}) {
    return tensor(values, shape, TensorOptions(DType::Bool, opts_.device));
  }

 private:
  Tensor make(const Shape& shape, Arrange a, double lo) {
    std::mt19937_64 rng(seed_++);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> v(size_t(numel_of(shape)));
    for (double& x : v) {
      if (lo < 0) {
        double m = 0.1 + u(rng);
        x = u(rng) < 0.5 ? -m : m;
      } else {
        x = lo + 1.5 * u(rng);
      }
    }
    return set_requires_grad(make_tensor(v, shape, opts_, a));
  }
  TensorOptions opts_;
  uint64_t seed_ = 0;
};

using Case = OpCase<Inputs>;
using Cases = std::vector<Case>;

// A unary op on a vector, a transposed matrix, a strided 3-D tensor and a 0-dim tensor.
Cases unary_cases(std::function<Tensor(const Tensor&)> op, bool positive = false) {
  auto in = [positive](Inputs& g, const Shape& s, Arrange a) { return positive ? g.pos(s, a) : g.any(s, a); };
  GradcheckFn f = [op](const Ts& x) { return op(x[0]); };
  return {
      {"[7]", f, [=](Inputs& g) { return Ts{in(g, {7}, C)}; }},
      {"[3, 5] transposed", f, [=](Inputs& g) { return Ts{in(g, {3, 5}, T)}; }},
      {"[2, 3, 3] strided", f, [=](Inputs& g) { return Ts{in(g, {2, 3, 3}, S)}; }},
      {"0-dim", f, [=](Inputs& g) { return Ts{in(g, {}, C)}; }},
  };
}

// A binary op with equal shapes (one transposed), broadcasting both ways (one strided), a 0-dim
// operand, and a constant second operand.
Cases binary_cases(std::function<Tensor(const Tensor&, const Tensor&)> op, bool positive_a = false,
                   bool positive_b = false) {
  auto a = [positive_a](Inputs& g, const Shape& s, Arrange ar) { return positive_a ? g.pos(s, ar) : g.any(s, ar); };
  auto b = [positive_b](Inputs& g, const Shape& s, Arrange ar) { return positive_b ? g.pos(s, ar) : g.any(s, ar); };
  GradcheckFn f = [op](const Ts& x) { return op(x[0], x[1]); };
  return {
      {"[3, 4] and [3, 4] transposed", f, [=](Inputs& g) { return Ts{a(g, {3, 4}, C), b(g, {3, 4}, T)}; }},
      {"[3, 1, 5] and [4, 1] strided", f, [=](Inputs& g) { return Ts{a(g, {3, 1, 5}, C), b(g, {4, 1}, S)}; }},
      {"[2, 3] strided and [3, 2, 3] transposed", f, [=](Inputs& g) { return Ts{a(g, {2, 3}, S), b(g, {3, 2, 3}, T)}; }},
      {"[5] and 0-dim", f, [=](Inputs& g) { return Ts{a(g, {5}, C), b(g, {}, C)}; }},
      {"[2, 5] and constant [5]", f, [=](Inputs& g) {
         Tensor y = b(g, {5}, C);
         return Ts{a(g, {2, 5}, T), set_requires_grad(y, false)};
       }},
  };
}

// A tensor-and-scalar op: the same inputs as a unary op.
Cases scalar_cases(std::function<Tensor(const Tensor&)> op, bool positive = false) {
  return unary_cases(std::move(op), positive);
}

Cases concat(std::initializer_list<Cases> parts) {
  Cases all;
  for (const Cases& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

// ---- Views ---------------------------------------------------------------------------------------

Cases reshape_cases() {
  return {
      {"[3, 4] to [2, 6]", [](const Ts& x) { return reshape(x[0], {2, 6}); },
       [](Inputs& g) { return Ts{g.any({3, 4})}; }},
      {"[3, 4] transposed to [-1] (a copy)", [](const Ts& x) { return reshape(x[0], {-1}); },
       [](Inputs& g) { return Ts{g.any({3, 4}, T)}; }},
      {"[2, 3, 2] strided to [3, 4]", [](const Ts& x) { return reshape(x[0], {3, 4}) * 2.0; },
       [](Inputs& g) { return Ts{g.any({2, 3, 2}, S)}; }},
  };
}
Cases view_cases() {
  return {
      {"[3, 4] to [4, 3]", [](const Ts& x) { return view(x[0], {4, 3}); }, [](Inputs& g) { return Ts{g.any({3, 4})}; }},
      {"[2, 3, 3] strided to [6, 3]", [](const Ts& x) { return view(x[0], {6, 3}); },
       [](Inputs& g) { return Ts{g.any({2, 3, 3}, S)}; }},
  };
}
Cases flatten_cases() {
  return {
      {"[2, 3, 4] from 1", [](const Ts& x) { return flatten(x[0], 1); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
      {"[3, 5] all", [](const Ts& x) { return flatten(x[0]); }, [](Inputs& g) { return Ts{g.any({3, 5}, S)}; }},
  };
}
Cases permute_cases() {
  return {
      {"[2, 3, 4] by {2, 0, 1}", [](const Ts& x) { return permute(x[0], {2, 0, 1}); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4})}; }},
      {"[2, 3, 4] transposed by {-1, 0, 1}", [](const Ts& x) { return permute(x[0], {-1, 0, 1}) * 2.0; },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
  };
}
Cases transpose_cases() {
  return {
      {"[3, 5] 0 1", [](const Ts& x) { return transpose(x[0], 0, 1); }, [](Inputs& g) { return Ts{g.any({3, 5}, S)}; }},
      {"[2, 3, 4] -1 0", [](const Ts& x) { return transpose(x[0], -1, 0); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4})}; }},
  };
}
Cases slice_cases() {
  return {
      {"[7, 3] rows 1:6:2", [](const Ts& x) { return slice(x[0], 0, 1, 6, 2); },
       [](Inputs& g) { return Ts{g.any({7, 3})}; }},
      {"[3, 7] transposed cols -4:", [](const Ts& x) { return slice(x[0], -1, -4, 7); },
       [](Inputs& g) { return Ts{g.any({3, 7}, T)}; }},
      {"[2, 9] strided cols 0:9:3", [](const Ts& x) { return slice(x[0], 1, 0, 9, 3); },
       [](Inputs& g) { return Ts{g.any({2, 9}, S)}; }},
  };
}
Cases narrow_cases() {
  return {
      {"[5, 3] rows 1 len 3", [](const Ts& x) { return narrow(x[0], 0, 1, 3); },
       [](Inputs& g) { return Ts{g.any({5, 3}, T)}; }},
      {"[2, 7] cols -3 len 2", [](const Ts& x) { return narrow(x[0], 1, -3, 2); },
       [](Inputs& g) { return Ts{g.any({2, 7}, S)}; }},
  };
}
Cases select_cases() {
  return {
      {"[4, 3] row 2", [](const Ts& x) { return select(x[0], 0, 2); }, [](Inputs& g) { return Ts{g.any({4, 3})}; }},
      {"[2, 3, 5] dim -1 index -2", [](const Ts& x) { return select(x[0], -1, -2); },
       [](Inputs& g) { return Ts{g.any({2, 3, 5}, T)}; }},
      {"[5] to 0-dim", [](const Ts& x) { return select(x[0], 0, 3); }, [](Inputs& g) { return Ts{g.any({5}, S)}; }},
  };
}
Cases expand_cases() {
  return {
      {"[3, 1] to [2, 3, 4]", [](const Ts& x) { return expand(x[0], {2, 3, 4}); },
       [](Inputs& g) { return Ts{g.any({3, 1})}; }},
      {"[1, 5] strided to [3, -1]", [](const Ts& x) { return expand(x[0], {3, -1}); },
       [](Inputs& g) { return Ts{g.any({1, 5}, S)}; }},
      {"0-dim to [2, 3]", [](const Ts& x) { return expand(x[0], {2, 3}); }, [](Inputs& g) { return Ts{g.any({})}; }},
  };
}
Cases squeeze_cases() {
  return {
      {"all of [1, 3, 1, 4]", [](const Ts& x) { return squeeze(x[0]); },
       [](Inputs& g) { return Ts{g.any({1, 3, 1, 4}, T)}; }},
      {"dim 1 of [3, 1, 2]", [](const Ts& x) { return squeeze(x[0], 1); },
       [](Inputs& g) { return Ts{g.any({3, 1, 2}, S)}; }},
      {"dim 0 of [3, 2] (no-op)", [](const Ts& x) { return squeeze(x[0], 0); },
       [](Inputs& g) { return Ts{g.any({3, 2})}; }},
  };
}
Cases unsqueeze_cases() {
  return {
      {"[3, 4] at 1", [](const Ts& x) { return unsqueeze(x[0], 1); }, [](Inputs& g) { return Ts{g.any({3, 4}, T)}; }},
      {"[5] at -1", [](const Ts& x) { return unsqueeze(x[0], -1); }, [](Inputs& g) { return Ts{g.any({5}, S)}; }},
  };
}
Cases contiguous_cases() {
  return {
      {"[3, 4] transposed", [](const Ts& x) { return contiguous(x[0]); },
       [](Inputs& g) { return Ts{g.any({3, 4}, T)}; }},
      {"[2, 3] already contiguous", [](const Ts& x) { return contiguous(x[0]) * x[0]; },
       [](Inputs& g) { return Ts{g.any({2, 3})}; }},
  };
}
Cases clone_cases() {
  return {
      {"[2, 5] strided", [](const Ts& x) { return clone(x[0]) * x[0]; },
       [](Inputs& g) { return Ts{g.any({2, 5}, S)}; }},
  };
}

// ---- Elementwise ---------------------------------------------------------------------------------

Cases pow_cases() {
  return concat({
      unary_cases([](const Tensor& x) { return pow(x, 2.5); }, true),
      unary_cases([](const Tensor& x) { return pow(x, -1.5); }, true),
      unary_cases([](const Tensor& x) { return pow(x, 3.0); }),  // an integer power of signed values
      unary_cases([](const Tensor& x) { return pow(x, 0.0) + x; }),
      binary_cases([](const Tensor& a, const Tensor& b) { return pow(a, b); }, true, false),
      scalar_cases([](const Tensor& x) { return pow(1.7, x); }),
      scalar_cases([](const Tensor& x) { return pow(0.0, x); }, true),
  });
}
Cases maximum_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return maximum(a, b); }),
                 scalar_cases([](const Tensor& x) { return maximum(x, 0.35); })});
}
Cases minimum_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return minimum(a, b); }),
                 scalar_cases([](const Tensor& x) { return minimum(x, -0.25); })});
}
Cases where_cases() {
  GradcheckFn f = [](const Ts& x) { return where(x[0], x[1], x[2]); };
  return {
      {"[3, 4] mask, a [3, 4], b [3, 4] transposed", f,
       [](Inputs& g) {
         return Ts{g.mask({1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0}, {3, 4}), g.any({3, 4}), g.any({3, 4}, T)};
       }},
      {"[4] mask, a [3, 1] strided, b 0-dim", f,
       [](Inputs& g) { return Ts{g.mask({0, 1, 1, 0}, {4}), g.any({3, 1}, S), g.any({})}; }},
      {"[2, 1, 3] mask, a [3], constant b [4, 1]", f, [](Inputs& g) {
         return Ts{g.mask({1, 0, 1, 0, 0, 1}, {2, 1, 3}), g.any({3}), g.constant({4, 1})};
       }},
  };
}
Cases operators_cases() {
  return {
      {"-a + b - c * d / e", [](const Ts& x) { return -x[0] + x[1] - x[2] * x[3] / x[4]; },
       [](Inputs& g) { return Ts{g.any({3, 4}), g.any({4}, S), g.any({3, 1}), g.any({3, 4}, T), g.pos({4})}; }},
      {"scalars on both sides",
       [](const Ts& x) { return (2.0 + x[0]) * 3.0 - (1.5 - x[0]) / 0.5 + 2.0 / x[1] - x[1] / 4.0; },
       [](Inputs& g) { return Ts{g.any({2, 3}, T), g.pos({3}, S)}; }},
  };
}

// ---- Reductions ----------------------------------------------------------------------------------

// A reduction over all dims, over a middle dim with keepdim, over two dims with a negative one,
// on a 0-dim tensor, and over a dim of size 1.
Cases reduce_cases(std::function<Tensor(const Tensor&, const std::vector<int64_t>&, bool)> op) {
  return {
      {"[3, 5] all", [op](const Ts& x) { return op(x[0], {}, false); }, [](Inputs& g) { return Ts{g.any({3, 5}, T)}; }},
      {"[2, 3, 4] dim 1 keepdim", [op](const Ts& x) { return op(x[0], {1}, true); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, S)}; }},
      {"[2, 3, 4] dims {0, -1}", [op](const Ts& x) { return op(x[0], {0, -1}, false); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
      {"0-dim", [op](const Ts& x) { return op(x[0], {}, false); }, [](Inputs& g) { return Ts{g.any({})}; }},
      {"[3, 1] dim 1", [op](const Ts& x) { return op(x[0], {1}, false); }, [](Inputs& g) { return Ts{g.any({3, 1})}; }},
  };
}
Cases var_cases() {
  return {
      {"[3, 5] all", [](const Ts& x) { return var(x[0]); }, [](Inputs& g) { return Ts{g.any({3, 5}, T)}; }},
      {"[2, 3, 4] dim 1 correction 0 keepdim", [](const Ts& x) { return var(x[0], {1}, 0, true); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, S)}; }},
      {"[2, 3, 4] dims {0, -1}", [](const Ts& x) { return var(x[0], {0, -1}); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
  };
}
Cases softmax_like_cases(std::function<Tensor(const Tensor&, int64_t)> op) {
  return {
      {"[3, 5] dim 1", [op](const Ts& x) { return op(x[0], 1); }, [](Inputs& g) { return Ts{g.any({3, 5}, T)}; }},
      {"[2, 3, 4] dim 0", [op](const Ts& x) { return op(x[0], 0); }, [](Inputs& g) { return Ts{g.any({2, 3, 4}, S)}; }},
      {"[2, 3, 4] dim -2", [op](const Ts& x) { return op(x[0], -2); }, [](Inputs& g) { return Ts{g.any({2, 3, 4})}; }},
      {"[7] scaled", [op](const Ts& x) { return op(x[0] * 4.0, 0); }, [](Inputs& g) { return Ts{g.any({7})}; }},
      {"0-dim", [op](const Ts& x) { return op(x[0], -1) + x[0]; }, [](Inputs& g) { return Ts{g.any({})}; }},
  };
}
Cases sum_to_cases() {
  return {
      {"[2, 3, 4] to [3, 1]", [](const Ts& x) { return sum_to(x[0], {3, 1}); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
      {"[2, 3] to 0-dim", [](const Ts& x) { return sum_to(x[0], {}); }, [](Inputs& g) { return Ts{g.any({2, 3}, S)}; }},
  };
}

// ---- Matrix product ------------------------------------------------------------------------------

Cases matmul_cases() {
  GradcheckFn f = [](const Ts& x) { return matmul(x[0], x[1]); };
  return {
      {"[3, 4] @ [4, 5]", f, [](Inputs& g) { return Ts{g.any({3, 4}), g.any({4, 5})}; }},
      {"[3, 4] transposed @ [4, 2] strided", f, [](Inputs& g) { return Ts{g.any({3, 4}, T), g.any({4, 2}, S)}; }},
      {"[4] @ [4, 3]", f, [](Inputs& g) { return Ts{g.any({4}), g.any({4, 3}, T)}; }},
      {"[3, 4] @ [4]", f, [](Inputs& g) { return Ts{g.any({3, 4}), g.any({4}, S)}; }},
      {"[5] @ [5]", f, [](Inputs& g) { return Ts{g.any({5}), g.any({5})}; }},
      {"[2, 3, 4] @ [4, 5] (shared matrix)", f, [](Inputs& g) { return Ts{g.any({2, 3, 4}, T), g.any({4, 5})}; }},
      {"[3, 4] @ [2, 4, 3]", f, [](Inputs& g) { return Ts{g.any({3, 4}), g.any({2, 4, 3}, S)}; }},
      {"[2, 1, 3, 4] @ [3, 4, 2] (broadcast batch)", f,
       [](Inputs& g) { return Ts{g.any({2, 1, 3, 4}), g.any({3, 4, 2}, T)}; }},
      {"[4] @ [2, 4, 3]", f, [](Inputs& g) { return Ts{g.any({4}), g.any({2, 4, 3})}; }},
      {"[2, 3, 4] @ [4]", f, [](Inputs& g) { return Ts{g.any({2, 3, 4}), g.any({4})}; }},
      {"constant [3, 4] @ [4, 2]", f, [](Inputs& g) { return Ts{g.constant({3, 4}), g.any({4, 2})}; }},
  };
}

// ---- Joining, padding, indexing ------------------------------------------------------------------

Cases cat_cases() {
  return {
      {"three along dim 1", [](const Ts& x) { return cat({x[0], x[1], x[2]}, 1); },
       [](Inputs& g) { return Ts{g.any({2, 3}), g.any({2, 1}, S), g.constant({2, 4}, T)}; }},
      {"two along dim -3", [](const Ts& x) { return cat({x[0], x[1]}, -3); },
       [](Inputs& g) { return Ts{g.any({1, 2, 3}, T), g.any({2, 2, 3})}; }},
  };
}
Cases stack_cases() {
  return {
      {"three [2, 3] at 0", [](const Ts& x) { return stack({x[0], x[1], x[2]}, 0); },
       [](Inputs& g) { return Ts{g.any({2, 3}), g.any({2, 3}, T), g.any({2, 3}, S)}; }},
      {"two [4] at -1", [](const Ts& x) { return stack({x[0], x[1]}, -1); },
       [](Inputs& g) { return Ts{g.any({4}), g.any({4})}; }},
  };
}
Cases split_cases() {
  return {
      {"[7, 2] by 3 (3, 3, 1)", [](const Ts& x) {
         Ts p = split(x[0], 3, 0);
         return cat({p[2] * 3.0, p[0], p[1] * p[1]}, 0);
       },
       [](Inputs& g) { return Ts{g.any({7, 2}, T)}; }},
      {"[2, 6] into {1, 0, 5} along 1", [](const Ts& x) {
         Ts p = split(x[0], std::vector<int64_t>{1, 0, 5}, 1);
         return cat({p[0] * 2.0, p[1], exp(p[2])}, 1);
       },
       [](Inputs& g) { return Ts{g.any({2, 6}, S)}; }},
      {"[3, 4] only one piece used", [](const Ts& x) { return split(x[0], 2, 1)[1]; },
       [](Inputs& g) { return Ts{g.any({3, 4})}; }},
  };
}
Cases chunk_cases() {
  return {
      {"[5, 3] into 3 chunks", [](const Ts& x) {
         Ts p = chunk(x[0], 3, 0);
         return cat({p[0] * 2.0, p[1] * p[1], p[2] - 1.0}, 0);
       },
       [](Inputs& g) { return Ts{g.any({5, 3}, T)}; }},
  };
}
Cases pad_cases() {
  return {
      {"[2, 3, 4] pad last two dims", [](const Ts& x) { return pad(x[0], {1, 2, 0, 1}, 0.5); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, T)}; }},
      {"[3, 5] crop and pad", [](const Ts& x) { return pad(x[0], {-1, 2, 1, -2}); },
       [](Inputs& g) { return Ts{g.any({3, 5}, S)}; }},
      {"[4] crop both sides", [](const Ts& x) { return pad(x[0], {-1, -2}); },
       [](Inputs& g) { return Ts{g.any({4})}; }},
  };
}
Cases index_select_cases() {
  return {
      {"[5, 3] rows {4, 0, 4, 2}", [](const Ts& x) { return index_select(x[0], 0, x[1]); },
       [](Inputs& g) { return Ts{g.any({5, 3}, T), g.index({4, 0, 4, 2})}; }},
      {"[2, 3, 4] dim -1 {3, 3, 1}", [](const Ts& x) { return index_select(x[0], -1, x[1]); },
       [](Inputs& g) { return Ts{g.any({2, 3, 4}, S), g.index({3, 3, 1})}; }},
  };
}
Cases gather_cases() {
  return {
      {"[3, 4] dim 1", [](const Ts& x) { return gather(x[0], 1, x[1]); },
       [](Inputs& g) { return Ts{g.any({3, 4}, T), g.index({0, 3, 3, 1, 2, 2, 0, 0, 1}, {3, 3})}; }},
      {"[4, 3] dim 0, index smaller than input", [](const Ts& x) { return gather(x[0], 0, x[1]); },
       [](Inputs& g) { return Ts{g.any({4, 3}, S), g.index({3, 0, 1, 3}, {2, 2})}; }},
  };
}
Cases index_add_cases() {
  return {
      {"into [4, 3] rows {1, 3, 1}", [](const Ts& x) { return index_add({4, 3}, 0, x[1], x[0]); },
       [](Inputs& g) { return Ts{g.any({3, 3}, T), g.index({1, 3, 1})}; }},
  };
}
Cases scatter_add_cases() {
  return {
      {"into [3, 4] dim 1", [](const Ts& x) { return scatter_add({3, 4}, 1, x[1], x[0]); },
       [](Inputs& g) { return Ts{g.any({3, 2}, S), g.index({0, 0, 3, 1, 2, 3}, {3, 2})}; }},
  };
}
Cases mse_loss_cases() {
  return {
      {"[3, 4] transposed and [3, 4]", [](const Ts& x) { return mse_loss(x[0], x[1]); },
       [](Inputs& g) { return Ts{g.any({3, 4}, T), g.any({3, 4})}; }},
      {"[5] strided against a constant", [](const Ts& x) { return mse_loss(x[0], x[1]); },
       [](Inputs& g) { return Ts{g.any({5}, S), g.constant({5})}; }},
  };
}
Cases composite_cases() {
  return {
      {"tanh(x @ W + b) then log_softmax and a loss", [](const Ts& x) {
         Tensor h = tanh(matmul(x[0], x[1]) + x[2]);
         return mse_loss(log_softmax(h, -1), x[3]) + var(h) * 0.1;
       },
       [](Inputs& g) { return Ts{g.any({4, 3}), g.any({3, 5}, T), g.any({5}), g.constant({4, 5})}; }},
  };
}

// ---- One list of cases per op ------------------------------------------------------------------

Cases neg_cases() {
  return unary_cases([](const Tensor& x) { return neg(x); });
}
Cases abs_cases() {
  return unary_cases([](const Tensor& x) { return abs(x); });
}
Cases sign_cases() {
  return unary_cases([](const Tensor& x) { return sign(x) * x; });
}
Cases exp_cases() {
  return unary_cases([](const Tensor& x) { return exp(x); });
}
Cases log_cases() {
  return unary_cases([](const Tensor& x) { return log(x); }, true);
}
Cases sqrt_cases() {
  return unary_cases([](const Tensor& x) { return sqrt(x); }, true);
}
Cases rsqrt_cases() {
  return unary_cases([](const Tensor& x) { return rsqrt(x); }, true);
}
Cases sin_cases() {
  return unary_cases([](const Tensor& x) { return sin(x * 3.0); });
}
Cases cos_cases() {
  return unary_cases([](const Tensor& x) { return cos(x * 3.0); });
}
Cases tanh_cases() {
  return unary_cases([](const Tensor& x) { return tanh(x * 2.0); });
}
Cases sigmoid_cases() {
  return unary_cases([](const Tensor& x) { return sigmoid(x * 2.0); });
}
Cases silu_cases() {
  return unary_cases([](const Tensor& x) { return silu(x * 2.0); });
}
Cases relu_cases() {
  return unary_cases([](const Tensor& x) { return relu(x); });
}
Cases clamp_cases() {
  return unary_cases([](const Tensor& x) { return clamp(x, -0.45, 0.55); });
}
Cases add_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return add(a, b); }),
                 scalar_cases([](const Tensor& x) { return add(x, 1.5); })});
}
Cases sub_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return sub(a, b); }),
                 scalar_cases([](const Tensor& x) { return sub(x, 1.5); }),
                 scalar_cases([](const Tensor& x) { return sub(1.5, x); })});
}
Cases mul_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return mul(a, b); }),
                 scalar_cases([](const Tensor& x) { return mul(x, -2.5); })});
}
Cases div_cases() {
  return concat({binary_cases([](const Tensor& a, const Tensor& b) { return div(a, b); }, false, true),
                 scalar_cases([](const Tensor& x) { return div(x, -2.5); }),
                 scalar_cases([](const Tensor& x) { return div(1.5, x); }, true)});
}
Cases sum_cases() {
  return reduce_cases([](const Tensor& x, const std::vector<int64_t>& d, bool k) { return sum(x, d, k); });
}
Cases mean_cases() {
  return reduce_cases([](const Tensor& x, const std::vector<int64_t>& d, bool k) { return mean(x, d, k); });
}
Cases max_cases() {
  return reduce_cases([](const Tensor& x, const std::vector<int64_t>& d, bool k) { return max(x, d, k); });
}
Cases min_cases() {
  return reduce_cases([](const Tensor& x, const std::vector<int64_t>& d, bool k) { return min(x, d, k); });
}
Cases softmax_cases() {
  return softmax_like_cases([](const Tensor& x, int64_t d) { return softmax(x, d); });
}
Cases log_softmax_cases() {
  return softmax_like_cases([](const Tensor& x, int64_t d) { return log_softmax(x, d); });
}

}  // namespace

TEST_SUITE("gradcheck") {

TEST_CASE("gradcheck reshape") { check_gradients(reshape_cases()); }
TEST_CASE("gradcheck view") { check_gradients(view_cases()); }
TEST_CASE("gradcheck flatten") { check_gradients(flatten_cases()); }
TEST_CASE("gradcheck permute") { check_gradients(permute_cases()); }
TEST_CASE("gradcheck transpose") { check_gradients(transpose_cases()); }
TEST_CASE("gradcheck slice") { check_gradients(slice_cases()); }
TEST_CASE("gradcheck narrow") { check_gradients(narrow_cases()); }
TEST_CASE("gradcheck select") { check_gradients(select_cases()); }
TEST_CASE("gradcheck expand") { check_gradients(expand_cases()); }
TEST_CASE("gradcheck squeeze") { check_gradients(squeeze_cases()); }
TEST_CASE("gradcheck unsqueeze") { check_gradients(unsqueeze_cases()); }
TEST_CASE("gradcheck contiguous") { check_gradients(contiguous_cases()); }
TEST_CASE("gradcheck clone") { check_gradients(clone_cases()); }
TEST_CASE("gradcheck neg") { check_gradients(neg_cases()); }
TEST_CASE("gradcheck abs") { check_gradients(abs_cases()); }
TEST_CASE("gradcheck sign") { check_gradients(sign_cases()); }
TEST_CASE("gradcheck exp") { check_gradients(exp_cases()); }
TEST_CASE("gradcheck log") { check_gradients(log_cases()); }
TEST_CASE("gradcheck sqrt") { check_gradients(sqrt_cases()); }
TEST_CASE("gradcheck rsqrt") { check_gradients(rsqrt_cases()); }
TEST_CASE("gradcheck sin") { check_gradients(sin_cases()); }
TEST_CASE("gradcheck cos") { check_gradients(cos_cases()); }
TEST_CASE("gradcheck tanh") { check_gradients(tanh_cases()); }
TEST_CASE("gradcheck sigmoid") { check_gradients(sigmoid_cases()); }
TEST_CASE("gradcheck silu") { check_gradients(silu_cases()); }
TEST_CASE("gradcheck relu") { check_gradients(relu_cases()); }
TEST_CASE("gradcheck clamp") { check_gradients(clamp_cases()); }
TEST_CASE("gradcheck pow") { check_gradients(pow_cases()); }
TEST_CASE("gradcheck add") { check_gradients(add_cases()); }
TEST_CASE("gradcheck sub") { check_gradients(sub_cases()); }
TEST_CASE("gradcheck mul") { check_gradients(mul_cases()); }
TEST_CASE("gradcheck div") { check_gradients(div_cases()); }
TEST_CASE("gradcheck maximum") { check_gradients(maximum_cases()); }
TEST_CASE("gradcheck minimum") { check_gradients(minimum_cases()); }
TEST_CASE("gradcheck where") { check_gradients(where_cases()); }
TEST_CASE("gradcheck operators") { check_gradients(operators_cases()); }
TEST_CASE("gradcheck sum") { check_gradients(sum_cases()); }
TEST_CASE("gradcheck mean") { check_gradients(mean_cases()); }
TEST_CASE("gradcheck max") { check_gradients(max_cases()); }
TEST_CASE("gradcheck min") { check_gradients(min_cases()); }
TEST_CASE("gradcheck var") { check_gradients(var_cases()); }
TEST_CASE("gradcheck softmax") { check_gradients(softmax_cases()); }
TEST_CASE("gradcheck log_softmax") { check_gradients(log_softmax_cases()); }
TEST_CASE("gradcheck sum_to") { check_gradients(sum_to_cases()); }
TEST_CASE("gradcheck matmul") { check_gradients(matmul_cases()); }
TEST_CASE("gradcheck cat") { check_gradients(cat_cases()); }
TEST_CASE("gradcheck stack") { check_gradients(stack_cases()); }
TEST_CASE("gradcheck split") { check_gradients(split_cases()); }
TEST_CASE("gradcheck chunk") { check_gradients(chunk_cases()); }
TEST_CASE("gradcheck pad") { check_gradients(pad_cases()); }
TEST_CASE("gradcheck index_select") { check_gradients(index_select_cases()); }
TEST_CASE("gradcheck gather") { check_gradients(gather_cases()); }
TEST_CASE("gradcheck index_add") { check_gradients(index_add_cases()); }
TEST_CASE("gradcheck scatter_add") { check_gradients(scatter_add_cases()); }
TEST_CASE("gradcheck mse_loss") { check_gradients(mse_loss_cases()); }
TEST_CASE("gradcheck composite") { check_gradients(composite_cases()); }

}  // TEST_SUITE("gradcheck")

// Without a GPU each case prints the skip marker and ctest reports it as skipped.
TEST_SUITE("cuda") {

TEST_CASE("cuda parity reshape backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(reshape_cases());
}
TEST_CASE("cuda parity view backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(view_cases());
}
TEST_CASE("cuda parity flatten backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(flatten_cases());
}
TEST_CASE("cuda parity permute backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(permute_cases());
}
TEST_CASE("cuda parity transpose backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(transpose_cases());
}
TEST_CASE("cuda parity slice backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(slice_cases());
}
TEST_CASE("cuda parity narrow backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(narrow_cases());
}
TEST_CASE("cuda parity select backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(select_cases());
}
TEST_CASE("cuda parity expand backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(expand_cases());
}
TEST_CASE("cuda parity squeeze backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(squeeze_cases());
}
TEST_CASE("cuda parity unsqueeze backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(unsqueeze_cases());
}
TEST_CASE("cuda parity contiguous backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(contiguous_cases());
}
TEST_CASE("cuda parity clone backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(clone_cases());
}
TEST_CASE("cuda parity neg backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(neg_cases());
}
TEST_CASE("cuda parity abs backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(abs_cases());
}
TEST_CASE("cuda parity sign backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sign_cases());
}
TEST_CASE("cuda parity exp backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(exp_cases());
}
TEST_CASE("cuda parity log backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(log_cases());
}
TEST_CASE("cuda parity sqrt backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sqrt_cases());
}
TEST_CASE("cuda parity rsqrt backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(rsqrt_cases());
}
TEST_CASE("cuda parity sin backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sin_cases());
}
TEST_CASE("cuda parity cos backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(cos_cases());
}
TEST_CASE("cuda parity tanh backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(tanh_cases());
}
TEST_CASE("cuda parity sigmoid backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sigmoid_cases());
}
TEST_CASE("cuda parity silu backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(silu_cases());
}
TEST_CASE("cuda parity relu backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(relu_cases());
}
TEST_CASE("cuda parity clamp backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(clamp_cases());
}
TEST_CASE("cuda parity pow backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(pow_cases());
}
TEST_CASE("cuda parity add backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(add_cases());
}
TEST_CASE("cuda parity sub backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sub_cases());
}
TEST_CASE("cuda parity mul backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(mul_cases());
}
TEST_CASE("cuda parity div backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(div_cases());
}
TEST_CASE("cuda parity maximum backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(maximum_cases());
}
TEST_CASE("cuda parity minimum backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(minimum_cases());
}
TEST_CASE("cuda parity where backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(where_cases());
}
TEST_CASE("cuda parity operators backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(operators_cases());
}
TEST_CASE("cuda parity sum backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sum_cases());
}
TEST_CASE("cuda parity mean backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(mean_cases());
}
TEST_CASE("cuda parity max backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(max_cases());
}
TEST_CASE("cuda parity min backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(min_cases());
}
TEST_CASE("cuda parity var backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(var_cases());
}
TEST_CASE("cuda parity softmax backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(softmax_cases());
}
TEST_CASE("cuda parity log_softmax backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(log_softmax_cases());
}
TEST_CASE("cuda parity sum_to backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(sum_to_cases());
}
TEST_CASE("cuda parity matmul backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(matmul_cases());
}
TEST_CASE("cuda parity cat backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(cat_cases());
}
TEST_CASE("cuda parity stack backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(stack_cases());
}
TEST_CASE("cuda parity split backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(split_cases());
}
TEST_CASE("cuda parity chunk backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(chunk_cases());
}
TEST_CASE("cuda parity pad backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(pad_cases());
}
TEST_CASE("cuda parity index_select backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(index_select_cases());
}
TEST_CASE("cuda parity gather backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(gather_cases());
}
TEST_CASE("cuda parity index_add backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(index_add_cases());
}
TEST_CASE("cuda parity scatter_add backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(scatter_add_cases());
}
TEST_CASE("cuda parity mse_loss backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(mse_loss_cases());
}
TEST_CASE("cuda parity composite backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(composite_cases());
}

}  // TEST_SUITE("cuda")
