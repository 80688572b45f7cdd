// The nn ops of nn/functional.hpp other than convolution: group_norm, layer_norm, linear, dropout,
// upsample_nearest2d, attention. Three ways: against naive loop references written here, in float32
// and float64 (suite "cpu"); float64 gradcheck (suite "gradcheck"); CPU/CUDA parity of forward and
// backward (suite "cuda"). Shapes have odd sizes; inputs come contiguous, transposed or strided.
#include <cmath>
#include <functional>
#include <random>
#include <string>

#include "nn/functional.hpp"
#include "op_cases.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

using Ts = std::vector<Tensor>;
using Vec = std::vector<double>;
constexpr Arrange C = Arrange::Contiguous, T = Arrange::Transposed, S = Arrange::Strided;

// Values uniform in [lo, hi) from a generator seeded with `seed`: the same on every device and dtype.
Vec random_values(int64_t n, uint64_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Vec v(size_t(n), 0.0);
  for (double& x : v) x = u(rng);
  return v;
}

Tensor random_tensor(const Shape& shape, uint64_t seed, TensorOptions opts, Arrange a = C, double lo = -2.0,
                     double hi = 2.0) {
  return make_tensor(random_values(numel_of(shape), seed, lo, hi), shape, opts, a);
}

// A tensor's values as the reference sees them (already rounded to its dtype), row-major.
Vec values(const Tensor& t) { return t.to_vector<double>(); }

// ---- Naive references ---------------------------------------------------------------------------

// x: [B, C, HW]; group g of sample b is channels [g C/G, (g+1) C/G) at every position. Biased variance.
Vec ref_group_norm(const Vec& x, int64_t B, int64_t Ch, int64_t HW, int64_t G, const Vec& w, const Vec& bias,
                   double eps) {
  Vec y(x.size());
  const int64_t cg = Ch / G;
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t g = 0; g < G; ++g) {
      double sum = 0, sq = 0;
      const int64_t n = cg * HW;
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c)
        for (int64_t i = 0; i < HW; ++i) sum += x[size_t((b * Ch + c) * HW + i)];
      const double mean = sum / double(n);
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c)
        for (int64_t i = 0; i < HW; ++i) sq += std::pow(x[size_t((b * Ch + c) * HW + i)] - mean, 2);
      const double rstd = 1.0 / std::sqrt(sq / double(n) + eps);
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
        for (int64_t i = 0; i < HW; ++i) {
          const size_t k = size_t((b * Ch + c) * HW + i);
          y[k] = (x[k] - mean) * rstd * (w.empty() ? 1.0 : w[size_t(c)]) + (bias.empty() ? 0.0 : bias[size_t(c)]);
        }
      }
    }
  }
  return y;
}

// x: [rows, N], each row normalised on its own.
Vec ref_layer_norm(const Vec& x, int64_t rows, int64_t N, const Vec& w, const Vec& bias, double eps) {
  Vec y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t i = 0; i < N; ++i) mean += x[size_t(r * N + i)] / double(N);
    for (int64_t i = 0; i < N; ++i) var += std::pow(x[size_t(r * N + i)] - mean, 2) / double(N);
    for (int64_t i = 0; i < N; ++i) {
      const size_t k = size_t(r * N + i);
      y[k] = (x[k] - mean) / std::sqrt(var + eps) * (w.empty() ? 1.0 : w[size_t(i)]) +
             (bias.empty() ? 0.0 : bias[size_t(i)]);
    }
  }
  return y;
}

// x: [rows, in], w: [out, in], bias: [out] or empty -> [rows, out].
Vec ref_linear(const Vec& x, int64_t rows, int64_t in, const Vec& w, int64_t out, const Vec& bias) {
  Vec y(size_t(rows * out));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double s = bias.empty() ? 0.0 : bias[size_t(o)];
      for (int64_t i = 0; i < in; ++i) s += x[size_t(r * in + i)] * w[size_t(o * in + i)];
      y[size_t(r * out + o)] = s;
    }
  }
  return y;
}

// x: [B, C, H, W] -> [B, C, sH, sW].
Vec ref_upsample(const Vec& x, int64_t B, int64_t Ch, int64_t H, int64_t W, int64_t s) {
  Vec y(size_t(B * Ch * H * s * W * s));
  for (int64_t p = 0; p < B * Ch; ++p)
    for (int64_t i = 0; i < H * s; ++i)
      for (int64_t j = 0; j < W * s; ++j) y[size_t((p * H * s + i) * W * s + j)] = x[size_t((p * H + i / s) * W + j / s)];
  return y;
}

// q: [N, Lq, d], k: [N, Lk, d], v: [N, Lk, dv] -> [N, Lq, dv]; softmax over the keys.
Vec ref_attention(const Vec& q, const Vec& k, const Vec& v, int64_t N, int64_t Lq, int64_t Lk, int64_t d, int64_t dv) {
  Vec out(size_t(N * Lq * dv), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t i = 0; i < Lq; ++i) {
      Vec s(static_cast<size_t>(Lk), 0.0);
      double mx = -1e300, total = 0;
      for (int64_t j = 0; j < Lk; ++j) {
        double dot = 0;
        for (int64_t t = 0; t < d; ++t) dot += q[size_t((n * Lq + i) * d + t)] * k[size_t((n * Lk + j) * d + t)];
        s[size_t(j)] = dot / std::sqrt(double(d));
        mx = std::max(mx, s[size_t(j)]);
      }
      for (double& e : s) total += (e = std::exp(e - mx));
      for (int64_t j = 0; j < Lk; ++j)
        for (int64_t e = 0; e < dv; ++e)
          out[size_t((n * Lq + i) * dv + e)] += s[size_t(j)] / total * v[size_t((n * Lk + j) * dv + e)];
    }
  }
  return out;
}

// ---- gradcheck and parity cases -----------------------------------------------------------------------

// Makes a case's inputs on one device and dtype; the k-th input of a case has the same values
// everywhere (drawn from a generator seeded with k).
class Inputs {
 public:
  explicit Inputs(TensorOptions opts) : opts_(opts) {}
  // Values in [-2, 2), requiring grad.
  Tensor any(const Shape& shape, Arrange a = C) { return set_requires_grad(random_tensor(shape, seed_++, opts_, a)); }
  // Values in [0.5, 1.5): a norm weight of the usual size.
  Tensor scale(const Shape& shape) { return set_requires_grad(random_tensor(shape, seed_++, opts_, C, 0.5, 1.5)); }
  TensorOptions opts() const { return opts_; }

 private:
  TensorOptions opts_;
  uint64_t seed_ = 0;
};

using Case = OpCase<Inputs>;
using Cases = std::vector<Case>;

Cases group_norm_cases() {
  auto gn = [](int64_t groups) { return [groups](const Ts& x) { return group_norm(x[0], groups, x[1], x[2]); }; };
  return {
      {"[3, 6, 5, 7] groups 2 transposed", gn(2),
       [](Inputs& g) { return Ts{g.any({3, 6, 5, 7}, T), g.scale({6}), g.any({6})}; }},
      {"[2, 6, 5] groups 1 strided", gn(1), [](Inputs& g) { return Ts{g.any({2, 6, 5}, S), g.scale({6}), g.any({6})}; }},
      {"[2, 6, 3, 3] groups 6", gn(6), [](Inputs& g) { return Ts{g.any({2, 6, 3, 3}), g.scale({6}), g.any({6})}; }},
      {"[4, 6] groups 3 (no positions)", gn(3), [](Inputs& g) { return Ts{g.any({4, 6}), g.scale({6}), g.any({6})}; }},
  };
}

Cases group_norm_plain_cases() {
  return {
      {"[3, 4, 5, 3] groups 2", [](const Ts& x) { return group_norm(x[0], 2); },
       [](Inputs& g) { return Ts{g.any({3, 4, 5, 3})}; }},
      {"[2, 6, 7] groups 3 weight only", [](const Ts& x) { return group_norm(x[0], 3, x[1]); },
       [](Inputs& g) { return Ts{g.any({2, 6, 7}, T), g.scale({6})}; }},
  };
}

Cases layer_norm_cases() {
  return {
      {"[5, 7] affine", [](const Ts& x) { return layer_norm(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({5, 7}), g.scale({7}), g.any({7})}; }},
      {"[2, 3, 6] transposed plain", [](const Ts& x) { return layer_norm(x[0]); },
       [](Inputs& g) { return Ts{g.any({2, 3, 6}, T)}; }},
      {"[9] strided affine", [](const Ts& x) { return layer_norm(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({9}, S), g.scale({9}), g.any({9})}; }},
  };
}

Cases linear_cases() {
  return {
      {"[4, 5] to 3 with bias", [](const Ts& x) { return linear(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({4, 5}), g.any({3, 5}), g.any({3})}; }},
      {"[2, 3, 5] transposed to 4 without bias", [](const Ts& x) { return linear(x[0], x[1]); },
       [](Inputs& g) { return Ts{g.any({2, 3, 5}, T), g.any({4, 5}, S)}; }},
      {"[5] to 2 with bias", [](const Ts& x) { return linear(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({5}), g.any({2, 5}, T), g.any({2})}; }},
  };
}

// The generator is made inside f, so every evaluation (and both devices) draws the same mask.
Cases dropout_cases() {
  return {
      {"[7, 5] p 0.4", [](const Ts& x) { Generator gen(3); return dropout(x[0], 0.4, true, &gen); },
       [](Inputs& g) { return Ts{g.any({7, 5})}; }},
      {"[3, 4, 5] strided p 0.1", [](const Ts& x) { Generator gen(9); return dropout(x[0], 0.1, true, &gen); },
       [](Inputs& g) { return Ts{g.any({3, 4, 5}, S)}; }},
  };
}

Cases upsample_cases() {
  return {
      {"[2, 3, 3, 5] scale 2", [](const Ts& x) { return upsample_nearest2d(x[0]); },
       [](Inputs& g) { return Ts{g.any({2, 3, 3, 5})}; }},
      {"[1, 2, 3, 2] transposed scale 3", [](const Ts& x) { return upsample_nearest2d(x[0], 3); },
       [](Inputs& g) { return Ts{g.any({1, 2, 3, 2}, T)}; }},
  };
}

Cases attention_single_head_cases() {
  GradcheckFn f = [](const Ts& x) { return attention(x[0], x[1], x[2]); };
  return {
      {"q [5, 3] k [7, 3] v [7, 4]", f, [](Inputs& g) { return Ts{g.any({5, 3}), g.any({7, 3}), g.any({7, 4})}; }},
      // The U-Net's layout: q, k, v are [B, C, HW] slices, attended over HW as transposed views.
      {"q k v [2, 4, 6] transposed views", [](const Ts& x) {
         return attention(transpose(x[0], 1, 2), transpose(x[1], 1, 2), transpose(x[2], 1, 2));
       },
       [](Inputs& g) { return Ts{g.any({2, 4, 6}), g.any({2, 4, 6}, S), g.any({2, 4, 6})}; }},
  };
}

Cases attention_multi_head_cases() {
  GradcheckFn f = [](const Ts& x) { return attention(x[0], x[1], x[2]); };
  return {
      {"[2, 3, 4, 5] heads with 6 keys", f,
       [](Inputs& g) { return Ts{g.any({2, 3, 4, 5}), g.any({2, 3, 6, 5}, T), g.any({2, 3, 6, 2})}; }},
      {"[3, 5, 2] with constant v", f, [](Inputs& g) {
         Tensor v = set_requires_grad(g.any({3, 4, 3}), false);
         return Ts{g.any({3, 5, 2}), g.any({3, 4, 2}), v};
       }},
  };
}

// Larger shapes for the GPU: a group of more than 4096 elements (512 threads a block), positions
// longer than a warp reduces (1600: a block per row), rows of one position (layer norm: a thread per
// row), and more than 32 channels and 8 rows (several blocks and slices of the weight-gradient sum).
Cases group_norm_gpu_cases() {
  return {
      {"[2, 8, 40, 40] groups 2", [](const Ts& x) { return group_norm(x[0], 2, x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({2, 8, 40, 40}), g.scale({8}), g.any({8})}; }},
      {"[3, 64, 6, 6] groups 32", [](const Ts& x) { return group_norm(x[0], 32, x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({3, 64, 6, 6}), g.scale({64}), g.any({64})}; }},
      {"[37, 300] layer_norm", [](const Ts& x) { return layer_norm(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({37, 300}), g.scale({300}), g.any({300})}; }},
      {"[5, 4, 3] layer_norm without bias", [](const Ts& x) { return layer_norm(x[0], x[1]); },
       [](Inputs& g) { return Ts{g.any({5, 4, 3}, T), g.scale({3})}; }},
  };
}

Cases attention_gpu_cases() {
  return {
      {"[2, 64, 32] self-attention", [](const Ts& x) { return attention(x[0], x[1], x[2]); },
       [](Inputs& g) { return Ts{g.any({2, 64, 32}), g.any({2, 64, 32}), g.any({2, 64, 32})}; }},
  };
}

}  // namespace

// ---- References ----------------------------------------------------------------------------------

TEST_SUITE("cpu") {

TEST_CASE_TEMPLATE("group_norm matches the reference", F, float, double) {
  const DType dt = dtype_for<F>();
  struct Shape4 { int64_t b, c, h, w; };
  for (Shape4 s : {Shape4{3, 6, 5, 7}, Shape4{2, 4, 1, 9}, Shape4{1, 6, 3, 1}}) {
    for (int64_t groups : {int64_t(1), int64_t(2), s.c}) {
      for (Arrange a : {C, T}) {
        for (bool affine : {false, true}) {
          CAPTURE(s.c);
          CAPTURE(groups);
          CAPTURE(arrange_name(a));
          CAPTURE(affine);
          Tensor x = random_tensor({s.b, s.c, s.h, s.w}, 1, dt, a);
          Tensor w = affine ? random_tensor({s.c}, 2, dt, C, 0.5, 1.5) : Tensor();
          Tensor b = affine ? random_tensor({s.c}, 3, dt) : Tensor();
          Tensor y = group_norm(x, groups, w, b, 1e-5);
          Vec ref = ref_group_norm(values(x), s.b, s.c, s.h * s.w, groups, affine ? values(w) : Vec{},
                                   affine ? values(b) : Vec{}, 1e-5);
          CHECK(y.dtype() == dt);
          check_close(y, tensor(ref, {s.b, s.c, s.h, s.w}, DType::Float64), tol_for(dt), tol_for(dt));
        }
      }
    }
  }
}

TEST_CASE_TEMPLATE("group_norm of 2-D and 3-D inputs and its eps", F, float, double) {
  const DType dt = dtype_for<F>();
  // [B, C]: every group is C / G channels at one position.
  Tensor x2 = random_tensor({5, 6}, 4, dt, S);
  check_close(group_norm(x2, 3), tensor(ref_group_norm(values(x2), 5, 6, 1, 3, {}, {}, 1e-5), {5, 6}, DType::Float64),
              tol_for(dt), tol_for(dt));
  // A group of one element is all mean: y = bias whatever eps.
  Tensor b = random_tensor({6}, 5, dt);
  check_close(group_norm(x2, 6, Tensor(), b, 0.1), ops::expand(b, {5, 6}), tol_for(dt), tol_for(dt));
  // eps enters as sqrt(var + eps): a large eps shrinks the output.
  Tensor x3 = random_tensor({2, 4, 7}, 6, dt);
  check_close(group_norm(x3, 2, Tensor(), Tensor(), 0.5),
              tensor(ref_group_norm(values(x3), 2, 4, 7, 2, {}, {}, 0.5), {2, 4, 7}, DType::Float64), tol_for(dt),
              tol_for(dt));
}

TEST_CASE_TEMPLATE("layer_norm matches the reference", F, float, double) {
  const DType dt = dtype_for<F>();
  for (Arrange a : {C, T, S}) {
    for (bool affine : {false, true}) {
      CAPTURE(arrange_name(a));
      CAPTURE(affine);
      Tensor x = random_tensor({3, 5, 7}, 7, dt, a);
      Tensor w = affine ? random_tensor({7}, 8, dt, C, 0.5, 1.5) : Tensor();
      Tensor b = affine ? random_tensor({7}, 9, dt) : Tensor();
      Vec ref = ref_layer_norm(values(x), 15, 7, affine ? values(w) : Vec{}, affine ? values(b) : Vec{}, 1e-5);
      check_close(layer_norm(x, w, b), tensor(ref, {3, 5, 7}, DType::Float64), tol_for(dt), tol_for(dt));
    }
  }
}

// The fused backward kernel in float32 against the same kernel in float64 (which gradcheck checks).
TEST_CASE("group_norm and layer_norm float32 gradients match float64") {
  for (bool layer : {false, true}) {
    CAPTURE(layer);
    const Shape shape = layer ? Shape{4, 5, 18} : Shape{4, 6, 5, 3};
    const int64_t channels = layer ? 18 : 6;
    Tensor grads[2][3];
    for (int i = 0; i < 2; ++i) {
      const DType dt = i == 0 ? DType::Float32 : DType::Float64;
      Tensor x = set_requires_grad(random_tensor(shape, 10, dt, T));
      Tensor w = set_requires_grad(random_tensor({channels}, 11, dt, C, 0.5, 1.5));
      Tensor b = set_requires_grad(random_tensor({channels}, 12, dt));
      Tensor y = layer ? layer_norm(x, w, b) : group_norm(x, 3, w, b);
      backward(y, random_tensor(shape, 13, dt));
      grads[i][0] = grad(x);
      grads[i][1] = grad(w);
      grads[i][2] = grad(b);
    }
    for (int j = 0; j < 3; ++j) {
      CAPTURE(j);
      CHECK(grads[0][j].dtype() == DType::Float32);
      check_close(grads[0][j], grads[1][j], 1e-5, 1e-4);
    }
  }
}

TEST_CASE("group_norm and layer_norm refuse bad arguments") {
  Tensor x = random_tensor({2, 6, 3}, 1, DType::Float32);
  check_throws_with([&] { group_norm(x, 4); }, "group_norm: 6 channels of x [2, 6, 3] do not split into 4 groups");
  check_throws_with([&] { group_norm(x, 0); }, "do not split into 0 groups");
  check_throws_with([&] { group_norm(random_tensor({6}, 1, DType::Float32), 2); }, "expected [B, C, ...]");
  check_throws_with([&] { group_norm(x, 2, random_tensor({5}, 2, DType::Float32)); },
                    "group_norm: weight has shape [5], expected [6]");
  check_throws_with([&] { group_norm(x, 2, Tensor(), random_tensor({6, 1}, 2, DType::Float32)); },
                    "group_norm: bias has shape [6, 1], expected [6]");
  check_throws_with([&] { group_norm(x, 2, random_tensor({6}, 2, DType::Float64)); },
                    "group_norm: weight is float64 but x is float32");
  check_throws_with([&] { group_norm(x.to(DType::Int64), 2); }, "group_norm: x is int64, expected float32 or float64");
  check_throws_with([&] { group_norm(zeros({0, 6, 3}), 2); }, "group_norm: x [0, 6, 3] has no elements");
  check_throws_with([&] { layer_norm(x, random_tensor({6}, 2, DType::Float32)); },
                    "layer_norm: weight has shape [6], expected [3]");
  check_throws_with([&] { layer_norm(scalar_tensor(1.0)); }, "layer_norm: x is 0-dim");
}

TEST_CASE_TEMPLATE("linear matches the reference", F, float, double) {
  const DType dt = dtype_for<F>();
  for (Arrange a : {C, T, S}) {
    for (bool with_bias : {false, true}) {
      CAPTURE(arrange_name(a));
      CAPTURE(with_bias);
      Tensor x = random_tensor({2, 3, 5}, 1, dt, a);
      Tensor w = random_tensor({4, 5}, 2, dt, a);
      Tensor b = with_bias ? random_tensor({4}, 3, dt) : Tensor();
      Vec ref = ref_linear(values(x), 6, 5, values(w), 4, with_bias ? values(b) : Vec{});
      check_close(linear(x, w, b), tensor(ref, {2, 3, 4}, DType::Float64), tol_for(dt), tol_for(dt));
    }
  }
  Tensor x1 = random_tensor({5}, 4, dt), w = random_tensor({3, 5}, 5, dt), b = random_tensor({3}, 6, dt);
  check_close(linear(x1, w, b), tensor(ref_linear(values(x1), 1, 5, values(w), 3, values(b)), {3}, DType::Float64),
              tol_for(dt), tol_for(dt));
}

TEST_CASE("linear refuses bad arguments") {
  Tensor x = random_tensor({2, 5}, 1, DType::Float32);
  check_throws_with([&] { linear(x, random_tensor({4, 6}, 2, DType::Float32)); },
                    "linear: weight has shape [4, 6], expected [out, 5] for x [2, 5]");
  check_throws_with([&] { linear(x, random_tensor({5}, 2, DType::Float32)); }, "linear: weight has shape [5]");
  check_throws_with([&] { linear(x, random_tensor({4, 5}, 2, DType::Float32), random_tensor({3}, 3, DType::Float32)); },
                    "linear: bias has shape [3], expected [4]");
  check_throws_with([&] { linear(x, random_tensor({4, 5}, 2, DType::Float64)); },
                    "linear: weight is float64 but x is float32");
}

TEST_CASE_TEMPLATE("upsample_nearest2d repeats each pixel", F, float, double) {
  const DType dt = dtype_for<F>();
  for (Arrange a : {C, T, S}) {
    for (int64_t scale : {1, 2, 3}) {
      CAPTURE(arrange_name(a));
      CAPTURE(scale);
      Tensor x = random_tensor({2, 3, 3, 5}, 1, dt, a);
      Tensor y = upsample_nearest2d(x, scale);
      check_close(y, tensor(ref_upsample(values(x), 2, 3, 3, 5, scale), {2, 3, 3 * scale, 5 * scale}, DType::Float64),
                  0.0, 0.0);  // a copy: exact
    }
  }
  check_throws_with([] { upsample_nearest2d(zeros({2, 3, 4})); }, "upsample_nearest2d: x has shape [2, 3, 4], expected [B, C, H, W]");
  check_throws_with([] { upsample_nearest2d(zeros({1, 1, 2, 2}), 0); }, "upsample_nearest2d: scale must be >= 1, got 0");
}

TEST_CASE("upsample_nearest2d backward sums each block") {
  Tensor x = set_requires_grad(zeros({1, 2, 2, 3}, DType::Float64));
  Vec g = random_values(2 * 4 * 6, 1);  // the gradient of y: [1, 2, 4, 6]
  backward(upsample_nearest2d(x, 2), tensor(g, {1, 2, 4, 6}, DType::Float64));
  Vec expected(12, 0.0);
  for (int64_t c = 0; c < 2; ++c)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 6; ++j) expected[size_t((c * 2 + i / 2) * 3 + j / 2)] += g[size_t((c * 4 + i) * 6 + j)];
  check_close(grad(x), tensor(expected, {1, 2, 2, 3}, DType::Float64), 1e-12, 1e-12);
}

TEST_CASE_TEMPLATE("attention matches the reference", F, float, double) {
  const DType dt = dtype_for<F>();
  for (Arrange a : {C, T, S}) {
    CAPTURE(arrange_name(a));
    // Two heads of two batch entries: q [2, 2, 5, 3], keys and values over 7 positions.
    Tensor q = random_tensor({2, 2, 5, 3}, 1, dt, a), k = random_tensor({2, 2, 7, 3}, 2, dt, a);
    Tensor v = random_tensor({2, 2, 7, 4}, 3, dt, a);
    Vec ref = ref_attention(values(q), values(k), values(v), 4, 5, 7, 3, 4);
    check_close(attention(q, k, v), tensor(ref, {2, 2, 5, 4}, DType::Float64), tol_for(dt), tol_for(dt));
  }
  // Large scores: the softmax subtracts the row max, so nothing overflows.
  Tensor q = random_tensor({4, 2}, 4, dt, C, 30.0, 40.0), k = random_tensor({6, 2}, 5, dt, C, 30.0, 40.0);
  Tensor v = random_tensor({6, 3}, 6, dt);
  check_close(attention(q, k, v), tensor(ref_attention(values(q), values(k), values(v), 1, 4, 6, 2, 3), {4, 3},
                                         DType::Float64), tol_for(dt), tol_for(dt));
}

TEST_CASE("attention refuses bad arguments") {
  Tensor q = random_tensor({2, 5, 3}, 1, DType::Float32), k = random_tensor({2, 7, 3}, 2, DType::Float32);
  Tensor v = random_tensor({2, 7, 4}, 3, DType::Float32);
  check_throws_with([&] { attention(q, random_tensor({2, 7, 4}, 2, DType::Float32), v); },
                    "attention: k [2, 7, 4] must have q's feature size 3");
  check_throws_with([&] { attention(q, k, random_tensor({2, 6, 4}, 3, DType::Float32)); },
                    "attention: v [2, 6, 4] must have one row per key (7)");
  check_throws_with([&] { attention(q, random_tensor({3, 7, 3}, 2, DType::Float32), v); },
                    "attention: leading (batch, head) dims differ");
  check_throws_with([&] { attention(q, k, random_tensor({7, 4}, 3, DType::Float32)); },
                    "must have the same number of dims");
  check_throws_with([&] { attention(q, k, v.to(DType::Float64)); }, "attention: v is float64 but x is float32");
}

TEST_CASE_TEMPLATE("dropout keeps 1 - p of the elements and scales them", F, float, double) {
  const DType dt = dtype_for<F>();
  const int64_t n = 200000;
  const double p = 0.3;
  Tensor x = ones({n}, dt);
  Generator gen(42);
  Vec y = values(dropout(x, p, true, &gen));
  int64_t kept = 0;
  double total = 0;
  bool values_ok = true;
  for (double e : y) {
    kept += e != 0.0;
    total += e;
    values_ok &= e == 0.0 || std::fabs(e - 1.0 / (1.0 - p)) <= tol_for(dt);
  }
  CHECK(values_ok);
  // Binomial(n, 0.7): the standard deviation of the keep rate is sqrt(p (1 - p) / n) ~ 0.001; allow 5 of them.
  const double sigma = std::sqrt(p * (1 - p) / double(n));
  CHECK(std::fabs(double(kept) / double(n) - (1.0 - p)) < 5 * sigma);
  // The scaling keeps the mean: E[y] = x.
  CHECK(std::fabs(total / double(n) - 1.0) < 5 * sigma / (1.0 - p));
}

TEST_CASE("dropout masks are reproducible and the generator moves on") {
  Tensor x = random_tensor({64, 33}, 1, DType::Float32);
  Generator a(7), b(7), c(8);
  Tensor ya = dropout(x, 0.5, true, &a), yb = dropout(x, 0.5, true, &b), yc = dropout(x, 0.5, true, &c);
  check_close(ya, yb, 0.0, 0.0);                                  // same seed: same mask
  CHECK(ops::sum(ops::ne(ya, yc).to(DType::Float32)).item() > 0);  // another seed: another mask
  Tensor ya2 = dropout(x, 0.5, true, &a);                          // the same generator advanced
  CHECK(ops::sum(ops::ne(ya, ya2).to(DType::Float32)).item() > 0);
  // Where an element is kept it is x / (1 - p), else 0.
  Vec xv = values(x), yv = values(ya);
  for (size_t i = 0; i < xv.size(); ++i) REQUIRE((yv[i] == 0.0 || std::fabs(yv[i] - 2.0 * xv[i]) < 1e-6));
}

TEST_CASE("dropout is the identity in eval mode and for p 0") {
  Tensor x = set_requires_grad(random_tensor({5, 7}, 1, DType::Float64));
  CHECK(dropout(x, 0.5, false).same(x));
  CHECK(dropout(x, 0.0, true).same(x));
  check_throws_with([&] { dropout(x, 1.0, true); }, "dropout: p must be in [0, 1), got 1");
  check_throws_with([&] { dropout(x, -0.1, false); }, "dropout: p must be in [0, 1), got -0.1");
  check_throws_with([&] { dropout(x.to(DType::Int32), 0.5, true); }, "dropout: x is int32, expected float32 or float64");
}

}  // TEST_SUITE("cpu")

// ---- float64 gradcheck ---------------------------------------------------------------------------

TEST_SUITE("gradcheck") {

TEST_CASE("gradcheck group_norm affine") { check_gradients(group_norm_cases()); }
TEST_CASE("gradcheck group_norm without affine") { check_gradients(group_norm_plain_cases()); }
TEST_CASE("gradcheck layer_norm") { check_gradients(layer_norm_cases()); }
TEST_CASE("gradcheck linear") { check_gradients(linear_cases()); }
TEST_CASE("gradcheck dropout") { check_gradients(dropout_cases()); }
TEST_CASE("gradcheck upsample_nearest2d") { check_gradients(upsample_cases()); }
TEST_CASE("gradcheck attention single head") { check_gradients(attention_single_head_cases()); }
TEST_CASE("gradcheck attention multi-head") { check_gradients(attention_multi_head_cases()); }

}  // TEST_SUITE("gradcheck")

// ---- CPU/CUDA parity -----------------------------------------------------------------------------

TEST_SUITE("cuda") {

TEST_CASE("cuda parity group_norm") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(group_norm_cases());
  check_parity(group_norm_plain_cases());
  check_parity(group_norm_gpu_cases());
}
TEST_CASE("cuda parity layer_norm") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(layer_norm_cases());
}
TEST_CASE("cuda parity linear") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(linear_cases());
}
TEST_CASE("cuda parity dropout") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(dropout_cases());
}
TEST_CASE("cuda parity upsample_nearest2d") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(upsample_cases());
}
TEST_CASE("cuda parity attention") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_parity(attention_single_head_cases());
  check_parity(attention_multi_head_cases());
  check_parity(attention_gpu_cases());
}

}  // TEST_SUITE("cuda")
