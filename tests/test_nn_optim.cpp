// The optimizers, gradient clipping, learning-rate schedules and the EMA against hand-written float64
// loops of their formulas; state save and restore; on a GPU, the fused kernels against the CPU.
#include <algorithm>
#include <cmath>
#include <vector>

#include "nn/nn.hpp"
#include "tensor/allocator.hpp"
#include "tensor/host_sync.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

// A parameter of the given values and dtype that requires grad.
Tensor param(const std::vector<double>& values, const Shape& shape, DType dtype) {
  return set_requires_grad(tensor(values, shape, dtype));
}

// The gradient of step `t` for element i of parameter j: varied signs and magnitudes, one tiny (so
// that eps matters) and one exactly zero.
double grad_value(int t, size_t j, size_t i) {
  if (j == 1 && i == 2) return 1e-9 * (t + 1);
  if (j == 1 && i == 0) return 0.0;
  return std::sin(0.7 * double(i) + 1.3 * double(j) + 0.5 * t) * (1.0 + 0.5 * t);
}

// The values and gradients of a list of parameters, as float64 vectors.
std::vector<std::vector<double>> values_of(const std::vector<Tensor>& ts) {
  std::vector<std::vector<double>> out;
  for (const Tensor& t : ts) out.push_back(t.to_vector<double>());
  return out;
}

void set_grads(const std::vector<Tensor>& params, int t) {
  for (size_t j = 0; j < params.size(); ++j) {
    std::vector<double> g(size_t(params[j].numel()));
    for (size_t i = 0; i < g.size(); ++i) g[i] = grad_value(t, j, i);
    set_grad(params[j], tensor(g, params[j].shape(), params[j].dtype()));
  }
}

std::vector<Tensor> make_params(DType dtype) {
  return {param({0.5, -1.25, 2.0, 0.0, 3.5, -0.75}, {2, 3}, dtype), param({1.0, -2.0, 0.25, 4.0}, {4}, dtype)};
}

// torch.optim.AdamW in the textbook form, in float64: decoupled decay, then Adam with bias-corrected
// moments.
struct AdamWReference {
  AdamWOptions o;
  std::vector<std::vector<double>> p, m, v;
  int t = 0;

  void step(const std::vector<std::vector<double>>& g) {
    ++t;
    for (size_t j = 0; j < p.size(); ++j) {
      for (size_t i = 0; i < p[j].size(); ++i) {
        p[j][i] -= o.lr * o.weight_decay * p[j][i];
        m[j][i] = o.beta1 * m[j][i] + (1 - o.beta1) * g[j][i];
        v[j][i] = o.beta2 * v[j][i] + (1 - o.beta2) * g[j][i] * g[j][i];
        const double m_hat = m[j][i] / (1 - std::pow(o.beta1, t));
        const double v_hat = v[j][i] / (1 - std::pow(o.beta2, t));
        p[j][i] -= o.lr * m_hat / (std::sqrt(v_hat) + o.eps);
      }
    }
  }
};

std::vector<std::vector<double>> zeros_like_values(const std::vector<std::vector<double>>& x) {
  std::vector<std::vector<double>> z;
  for (const auto& row : x) z.emplace_back(row.size(), 0.0);
  return z;
}

void check_values_close(const std::vector<Tensor>& got, const std::vector<std::vector<double>>& want, double rtol) {
  REQUIRE(got.size() == want.size());
  for (size_t j = 0; j < got.size(); ++j) {
    std::vector<double> x = got[j].to_vector<double>();
    REQUIRE(x.size() == want[j].size());
    for (size_t i = 0; i < x.size(); ++i)
      CHECK_MESSAGE(std::fabs(x[i] - want[j][i]) <= rtol * std::fabs(want[j][i]) + 1e-300, "tensor ", j,
                    " element ", i, ": ", x[i], " vs ", want[j][i]);
  }
}

// Runs AdamW and the reference side by side for four steps, with the learning rate changed between
// steps, and compares parameters and moments after each.
void check_adamw_against_reference(DType dtype, AdamWOptions o, double rtol) {
  std::vector<Tensor> params = make_params(dtype);
  AdamW opt(params, o);
  AdamWReference ref{o, values_of(params), {}, {}};
  ref.m = ref.v = zeros_like_values(ref.p);
  for (int t = 0; t < 4; ++t) {
    const double lr = o.lr * (t + 1) / 2.0;
    opt.set_lr(lr);
    ref.o.lr = lr;
    set_grads(params, t);
    opt.step();
    ref.step(values_of({grad(params[0]), grad(params[1])}));
    check_values_close(params, ref.p, rtol);
    StateDict state = opt.state_dict();
    check_values_close({state[1].second, state[2].second}, ref.m, rtol);  // m.0, m.1
    check_values_close({state[3].second, state[4].second}, ref.v, rtol);  // v.0, v.1
  }
  CHECK(opt.step_count() == 4);
}

// Parameters of many sizes: more tensors than one launch's table holds (so several launches), a
// large one (so every thread of the grid visits it more than once), empty and one-element ones.
std::vector<Tensor> many_params(DType dtype, Device device, unsigned salt) {
  std::vector<Tensor> out;
  Generator gen(1234 + salt);
  for (int j = 0; j < 700; ++j) {
    const int64_t n = j == 3 ? 0 : j == 5 ? (1 << 21) + 7 : 1 + (j * 37) % 300;
    out.push_back(set_requires_grad(randn({n}, TensorOptions(dtype, device), &gen)));
  }
  return out;
}

// Copies of ts (and their gradients) on `device`, each a view 3 elements into a larger tensor, so
// that the kernels must honour the storage offset.
std::vector<Tensor> to_device(const std::vector<Tensor>& ts, Device device) {
  std::vector<Tensor> out;
  for (const Tensor& t : ts) {
    Tensor view = ops::narrow(zeros({t.numel() + 3}, TensorOptions(t.dtype(), device)), 0, 3, t.numel());
    view.copy_(t);
    out.push_back(set_requires_grad(view));
    if (grad(t).defined()) set_grad(out.back(), grad(t).to(device));
  }
  return out;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("adamw matches the formula over four steps in float64") {
  check_adamw_against_reference(DType::Float64, AdamWOptions{1e-2, 0.9, 0.999, 1e-8, 0.0}, 1e-12);
  check_adamw_against_reference(DType::Float64, AdamWOptions{1e-2, 0.9, 0.999, 1e-8, 0.1}, 1e-12);
  check_adamw_against_reference(DType::Float64, AdamWOptions{0.05, 0.8, 0.95, 1e-3, 0.5}, 1e-12);
}

TEST_CASE("adamw matches the formula over four steps in float32") {
  // float32 arithmetic against the float64 formula: the 1e-6 relative.
  check_adamw_against_reference(DType::Float32, AdamWOptions{1e-2, 0.9, 0.999, 1e-8, 0.0}, 1e-6);
  check_adamw_against_reference(DType::Float32, AdamWOptions{1e-2, 0.9, 0.999, 1e-8, 0.1}, 1e-6);
}

TEST_CASE("adamw weight decay alone shrinks parameters by lr times wd") {
  // A zero gradient leaves m = v = 0, so the only change is p *= 1 - lr wd.
  std::vector<Tensor> params = make_params(DType::Float64);
  const std::vector<double> before = params[0].to_vector<double>();
  AdamW opt(params, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.5});
  set_grad(params[0], zeros_like(params[0]));
  opt.step();
  std::vector<double> want;
  for (double x : before) want.push_back(x * (1 - 0.1 * 0.5));
  check_values(params[0], want, 1e-15);
}

TEST_CASE("adamw skips parameters without a gradient") {
  std::vector<Tensor> params = make_params(DType::Float64);
  const std::vector<double> before = params[1].to_vector<double>();
  AdamW opt(params, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.1});
  set_grads(params, 0);
  set_grad(params[1], Tensor());
  opt.step();
  check_values(params[1], before, 0.0);
  CHECK(params[0].to_vector<double>() != std::vector<double>({0.5, -1.25, 2.0, 0.0, 3.5, -0.75}));
}

TEST_CASE("adamw state save and restore continues exactly") {
  const AdamWOptions o{1e-2, 0.9, 0.99, 1e-8, 0.05};
  std::vector<Tensor> a = make_params(DType::Float32);
  AdamW opt_a(a, o);
  for (int t = 0; t < 2; ++t) {
    set_grads(a, t);
    opt_a.step();
  }
  // Snapshot (the state dict shares the optimizer's tensors, so copy them as a checkpoint would).
  StateDict saved;
  for (const auto& [name, t] : opt_a.state_dict()) saved.emplace_back(name, t.clone());
  std::vector<Tensor> b = {param(a[0].to_vector<double>(), a[0].shape(), DType::Float32),
                           param(a[1].to_vector<double>(), a[1].shape(), DType::Float32)};
  AdamW opt_b(b, o);
  opt_b.load_state_dict(saved);
  CHECK(opt_b.step_count() == 2);
  for (int t = 2; t < 4; ++t) {
    set_grads(a, t);
    set_grads(b, t);
    opt_a.step();
    opt_b.step();
  }
  check_close(a[0], b[0], 0.0, 0.0);  // bit for bit
  check_close(a[1], b[1], 0.0, 0.0);
}

TEST_CASE("adamw load_state_dict refuses wrong names and shapes") {
  std::vector<Tensor> params = make_params(DType::Float32);
  AdamW opt(params);
  StateDict good = opt.state_dict();
  StateDict wrong_shape = good;
  wrong_shape[2].second = zeros({5});  // m.1 is [4]
  check_throws_with_all<std::invalid_argument>([&] { opt.load_state_dict(wrong_shape); }, {"m.1", "[5]", "[4]"});
  StateDict missing(good.begin(), good.end() - 1);  // drops v.1
  check_throws_with_all<std::invalid_argument>([&] { opt.load_state_dict(missing); }, {"missing", "v.1"});
  StateDict unknown = good;
  unknown.emplace_back("m.2", zeros({1}));
  check_throws_with_all<std::invalid_argument>([&] { opt.load_state_dict(unknown); }, {"unexpected", "m.2"});
}

TEST_CASE("adamw refuses bad options and parameters") {
  std::vector<Tensor> params = make_params(DType::Float32);
  check_throws_with<std::invalid_argument>([&] { AdamW opt(params, AdamWOptions{1e-3, 1.0, 0.999, 1e-8, 0.0}); },
                                           "betas");
  check_throws_with<std::invalid_argument>([&] { AdamW opt(params, AdamWOptions{-1.0, 0.9, 0.999, 1e-8, 0.0}); },
                                           "lr");
  check_throws_with<std::invalid_argument>([&] { AdamW opt({zeros({3})}); }, "requires grad");
  std::vector<Tensor> mixed = {params[0], param({1.0}, {1}, DType::Float64)};
  check_throws_with<std::invalid_argument>([&] { AdamW opt(mixed); }, "one device and dtype");
}

TEST_CASE("adamw and ema honour the storage offset of a parameter view") {
  // The same parameter once as its own tensor, once as a view 2 elements into a larger one.
  Tensor plain = param({0.5, -1.0, 2.0}, {3}, DType::Float32);
  Tensor base = tensor({9, 9, 0.5, -1.0, 2.0, 9}, {6}, DType::Float32);
  Tensor view = set_requires_grad(ops::narrow(base, 0, 2, 3));
  AdamW opt_plain({plain}), opt_view({view});
  EMA ema_plain({plain}, 0.5), ema_view({view}, 0.5);
  for (int t = 0; t < 2; ++t) {
    set_grad(plain, tensor({1.0, -2.0, 0.5}, {3}, DType::Float32));
    set_grad(view, tensor({1.0, -2.0, 0.5}, {3}, DType::Float32));
    opt_plain.step();
    opt_view.step();
    ema_plain.update();
    ema_view.update();
  }
  check_close(view, plain, 0.0, 0.0);
  check_close(ema_view.shadow()[0], ema_plain.shadow()[0], 0.0, 0.0);
  check_values(ops::narrow(base, 0, 0, 2), {9, 9}, 0.0);  // the elements around the view are untouched
  check_values(ops::narrow(base, 0, 5, 1), {9}, 0.0);
}

TEST_CASE("sgd with momentum matches the formula") {
  for (bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    SGDOptions o{0.1, 0.9, nesterov ? 0.0 : 0.25, 0.01, nesterov};
    std::vector<Tensor> params = make_params(DType::Float64);
    SGD opt(params, o);
    std::vector<std::vector<double>> p = values_of(params), buf = zeros_like_values(p);
    for (int t = 0; t < 4; ++t) {
      set_grads(params, t);
      opt.step();
      for (size_t j = 0; j < p.size(); ++j) {
        for (size_t i = 0; i < p[j].size(); ++i) {
          double d = grad_value(t, j, i) + o.weight_decay * p[j][i];
          buf[j][i] = t == 0 ? d : o.momentum * buf[j][i] + (1 - o.dampening) * d;
          d = nesterov ? d + o.momentum * buf[j][i] : buf[j][i];
          p[j][i] -= o.lr * d;
        }
      }
      check_values_close(params, p, 1e-12);
    }
  }
}

TEST_CASE("sgd without momentum is plain gradient descent") {
  std::vector<Tensor> params = make_params(DType::Float64);
  const std::vector<double> before = params[0].to_vector<double>();
  SGD opt(params, SGDOptions{0.5});
  set_grads(params, 1);
  opt.step();
  std::vector<double> want;
  for (size_t i = 0; i < before.size(); ++i) want.push_back(before[i] - 0.5 * grad_value(1, 0, i));
  check_values(params[0], want, 1e-15);
}

TEST_CASE("clip_grad_norm returns the global norm and scales only above max_norm") {
  Tensor a = param({0, 0, 0, 0}, {2, 2}, DType::Float32), b = param({0, 0}, {2}, DType::Float64);
  Tensor no_grad = param({1}, {1}, DType::Float32);
  // a's gradient is a transposed (non-contiguous) view: [[3, 0], [4, 0]]^T = [[3, 4], [0, 0]].
  set_grad(a, ops::transpose(tensor({3, 0, 4, 0}, {2, 2}), 0, 1));
  set_grad(b, tensor({0, 12}, {2}, DType::Float64));
  const double norm = clip_grad_norm({a, b, no_grad}, 100.0);
  CHECK(norm == doctest::Approx(13.0).epsilon(1e-12));  // sqrt(9 + 16 + 144)
  check_values(grad(a), {3, 4, 0, 0}, 0.0);  // below max_norm: untouched
  CHECK(clip_grad_norm({a, b}, 1.3) == doctest::Approx(13.0).epsilon(1e-12));
  const double coef = 1.3 / (13.0 + 1e-6);
  check_values(grad(a), {3 * coef, 4 * coef, 0, 0}, 1e-7);
  check_values(grad(b), {0, 12 * coef}, 1e-15);
  CHECK(clip_grad_norm({a, b}, 1.3) == doctest::Approx(1.3).epsilon(1e-6));
}

TEST_CASE("clip_grad_norm leaves gradients alone when the norm is not finite") {
  Tensor a = param({0, 0}, {2}, DType::Float32);
  set_grad(a, tensor({INFINITY, 1.0}, {2}));
  CHECK(std::isinf(clip_grad_norm({a}, 1.0)));
  check_values(grad(a), {INFINITY, 1.0}, 0.0);
}

TEST_CASE("clip_grad_norm_ clips on the device: the same gradients - the norm as a tensor - no host read") {
  // Two float32 parameters (one gradient a non-contiguous view) and a float64 one, as the double
  // form's test; three max_norms: above the norm (coefficient 1), below it, and infinite (off).
  for (double max_norm : {100.0, 1.3, double(INFINITY)}) {
    CAPTURE(max_norm);
    Tensor a = param({0, 0, 0, 0}, {2, 2}, DType::Float32), b = param({0, 0}, {2}, DType::Float64);
    Tensor a2 = param({0, 0, 0, 0}, {2, 2}, DType::Float32), b2 = param({0, 0}, {2}, DType::Float64);
    for (const Tensor& p : {a, a2}) set_grad(p, ops::transpose(tensor({3, 0, 4, 0}, {2, 2}), 0, 1));
    for (const Tensor& p : {b, b2}) set_grad(p, tensor({0, 12}, {2}, DType::Float64));
    Tensor norm;
    const HostSyncCounts before = host_sync_counts();
    norm = clip_grad_norm_({a, b}, max_norm);
    const HostSyncCounts used = host_sync_counts() - before;
    CHECK(used.reads == 0);
    CHECK(used.uploads == 0);
    CHECK(used.synchronizes == 0);
    CHECK(norm.dim() == 0);
    CHECK(norm.dtype() == DType::Float64);
    CHECK(norm.device() == Device::cpu());
    CHECK(norm.item() == std::sqrt(169.0));
    // Bit for bit what the double form does, and what the formula gives with the coefficient
    // rounded to each gradient's dtype (float(coef) * float(g) in float32).
    CHECK(clip_grad_norm({a2, b2}, max_norm) == norm.item());
    check_close(grad(a), grad(a2), 0.0, 0.0);
    check_close(grad(b), grad(b2), 0.0, 0.0);
    const double coef = std::min(1.0, max_norm / (13.0 + 1e-6));
    const float c32 = float(coef);
    check_values(grad(a), {double(3.0f * c32), double(4.0f * c32), 0, 0}, 0.0);
    check_values(grad(b), {0, 12.0 * coef}, 0.0);
  }
  // Non-finite norms (inf and NaN) leave the gradients alone and come back as they are.
  for (double bad : {double(INFINITY), double(NAN)}) {
    CAPTURE(bad);
    Tensor a = param({0, 0}, {2}, DType::Float32);
    set_grad(a, tensor({bad, 3.0}, {2}));
    const double n = clip_grad_norm_({a}, 1.0).item();
    CHECK(!std::isfinite(n));
    CHECK(std::isnan(n) == std::isnan(bad));
    std::vector<double> g = grad(a).to_vector<double>();
    CHECK(std::isnan(g[0]) == std::isnan(bad));
    CHECK(std::isinf(g[0]) == std::isinf(bad));
    CHECK(g[1] == 3.0);
  }
  // No gradients at all: a zero norm, nothing to scale.
  Tensor none = param({1, 2}, {2}, DType::Float32);
  CHECK(clip_grad_norm_({none}, 1.0).item() == 0.0);
  CHECK(!grad(none).defined());
  check_throws_with([&] { clip_grad_norm_({none}, 0.0); }, "max_norm must be > 0");
}

TEST_CASE("sum_of_squares kernel is exact on many chunks") {
  // 100003 elements (several chunks and a ragged end) of values whose squares are exact in double.
  std::vector<double> values(100003);
  double want = 0.0;
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = double(int64_t(i % 17) - 8) / 4.0;
    want += values[i] * values[i];
  }
  Tensor x = tensor(values, {}, DType::Float32), y = tensor({1.5, -2.0}, {2}, DType::Float64);
  Tensor out = empty({}, DType::Float64);
  cpu_backend().sum_of_squares(out.ref(), {x.ref(), y.ref()});
  CHECK(out.item() == want + 2.25 + 4.0);
}

TEST_CASE("warmup constant schedule") {
  CHECK(warmup_constant_lr(0, 2e-4, 5000) == 0.0);
  CHECK(warmup_constant_lr(2500, 2e-4, 5000) == doctest::Approx(1e-4).epsilon(1e-15));
  CHECK(warmup_constant_lr(5000, 2e-4, 5000) == 2e-4);
  CHECK(warmup_constant_lr(123456, 2e-4, 5000) == 2e-4);
  CHECK(warmup_constant_lr(0, 2e-4, 0) == 2e-4);  // no warmup
}

TEST_CASE("warmup cosine schedule") {
  const double base = 1e-3, min_lr = 1e-5;
  CHECK(warmup_cosine_lr(0, base, 100, 1100, min_lr) == 0.0);
  CHECK(warmup_cosine_lr(25, base, 100, 1100, min_lr) == doctest::Approx(0.25 * base).epsilon(1e-15));
  CHECK(warmup_cosine_lr(100, base, 100, 1100, min_lr) == doctest::Approx(base).epsilon(1e-15));
  CHECK(warmup_cosine_lr(600, base, 100, 1100, min_lr) == doctest::Approx((base + min_lr) / 2).epsilon(1e-14));
  // A quarter of the way: min + (base - min) (1 + cos(pi / 4)) / 2.
  CHECK(warmup_cosine_lr(350, base, 100, 1100, min_lr) ==
        doctest::Approx(min_lr + (base - min_lr) * (1 + std::sqrt(0.5)) / 2).epsilon(1e-14));
  CHECK(warmup_cosine_lr(1100, base, 100, 1100, min_lr) == doctest::Approx(min_lr).epsilon(1e-14));
  CHECK(warmup_cosine_lr(5000, base, 100, 1100, min_lr) == doctest::Approx(min_lr).epsilon(1e-14));
  LRSchedule cosine{LRSchedule::Kind::Cosine, base, 100, 1100, min_lr};
  CHECK(cosine(600) == warmup_cosine_lr(600, base, 100, 1100, min_lr));
  LRSchedule constant{LRSchedule::Kind::Constant, base, 100};
  CHECK(constant(50) == doctest::Approx(base / 2).epsilon(1e-15));
  check_throws_with<std::invalid_argument>([] { warmup_cosine_lr(0, 1e-3, 100, 100); }, "total_steps");
}

TEST_CASE("ema without warmup follows the formula") {
  std::vector<Tensor> params = make_params(DType::Float64);
  EMA ema(params, 0.9);
  std::vector<std::vector<double>> shadow = values_of(params);
  for (int t = 0; t < 3; ++t) {
    // Move the parameters, then average.
    for (size_t j = 0; j < params.size(); ++j)
      params[j].copy_(ops::add(params[j], double(t + 1) * (j + 1)));
    ema.update();
    std::vector<std::vector<double>> p = values_of(params);
    for (size_t j = 0; j < p.size(); ++j)
      for (size_t i = 0; i < p[j].size(); ++i) shadow[j][i] = 0.9 * shadow[j][i] + 0.1 * p[j][i];
    check_values_close(ema.shadow(), shadow, 1e-14);
  }
  CHECK(ema.num_updates() == 3);
  CHECK(ema.decay_at(0) == 0.9);
}

TEST_CASE("ema with warmup uses min of decay and one plus n over ten plus n") {
  std::vector<Tensor> params = make_params(DType::Float32);
  EMA ema(params, 0.999, true);
  CHECK(ema.decay_at(0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(ema.decay_at(1) == doctest::Approx(2.0 / 11.0).epsilon(1e-15));
  CHECK(ema.decay_at(100000) == 0.999);  // (1 + n) / (10 + n) is above decay by then
  std::vector<std::vector<double>> shadow = values_of(params);
  for (int t = 0; t < 3; ++t) {
    for (size_t j = 0; j < params.size(); ++j) params[j].copy_(ops::mul(params[j], -1.5));
    ema.update();
    const double d = std::min(0.999, (1.0 + t) / (10.0 + t));
    std::vector<std::vector<double>> p = values_of(params);
    for (size_t j = 0; j < p.size(); ++j)
      for (size_t i = 0; i < p[j].size(); ++i) shadow[j][i] = d * shadow[j][i] + (1 - d) * p[j][i];
    check_values_close(ema.shadow(), shadow, 1e-6);
  }
}

TEST_CASE("ema state save and restore and copy_to") {
  std::vector<Tensor> params = make_params(DType::Float32);
  EMA a(params, 0.99, true);
  for (int t = 0; t < 3; ++t) {
    params[0].copy_(ops::add(params[0], 1.0));
    a.update();
  }
  StateDict saved;
  for (const auto& [name, t] : a.state_dict()) saved.emplace_back(name, t.clone());
  EMA b(params, 0.99, true);
  b.load_state_dict(saved);
  CHECK(b.num_updates() == 3);
  params[1].copy_(ops::mul(params[1], 2.0));
  a.update();
  b.update();
  for (size_t j = 0; j < params.size(); ++j) check_close(a.shadow()[j], b.shadow()[j], 0.0, 0.0);

  std::vector<Tensor> copies = a.shadow_copy();
  std::vector<Tensor> target = make_params(DType::Float32);
  a.copy_to(target);
  for (size_t j = 0; j < target.size(); ++j) {
    check_close(target[j], a.shadow()[j], 0.0, 0.0);
    CHECK(copies[j].storage() != a.shadow()[j].storage());
  }
  saved[1].second = zeros({7});
  check_throws_with_all<std::invalid_argument>([&] { b.load_state_dict(saved); }, {"shadow.0", "[7]"});
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("cuda adamw multi-tensor kernel matches the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(dtype));
    std::vector<Tensor> cpu = many_params(dtype, Device::cpu(), 0);
    std::vector<Tensor> gpu = to_device(cpu, Device::cuda());
    const AdamWOptions o{1e-2, 0.9, 0.999, 1e-8, 0.1};
    AdamW opt_cpu(cpu, o), opt_gpu(gpu, o);
    Generator gen(7);
    for (int t = 0; t < 3; ++t) {
      for (size_t j = 0; j < cpu.size(); ++j) {
        Tensor g = randn(cpu[j].shape(), dtype, &gen);
        set_grad(cpu[j], g);
        set_grad(gpu[j], g.to(Device::cuda()));
      }
      opt_cpu.step();
      opt_gpu.step();
    }
    const double tol = dtype == DType::Float64 ? 1e-12 : 1e-6;
    for (size_t j = 0; j < cpu.size(); ++j) check_close(gpu[j], cpu[j], tol, tol);
    StateDict s_cpu = opt_cpu.state_dict(), s_gpu = opt_gpu.state_dict();
    for (size_t k = 1; k < s_cpu.size(); ++k) check_close(s_gpu[k].second, s_cpu[k].second, tol, tol);
  }
}

TEST_CASE("cuda ema multi-tensor kernel matches the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType dtype : {DType::Float32, DType::Float64}) {
    CAPTURE(dtype_name(dtype));
    std::vector<Tensor> cpu = many_params(dtype, Device::cpu(), 1);
    std::vector<Tensor> gpu = to_device(cpu, Device::cuda());
    EMA ema_cpu(cpu, 0.999, true), ema_gpu(gpu, 0.999, true);
    for (int t = 0; t < 3; ++t) {
      for (size_t j = 0; j < cpu.size(); ++j) {
        cpu[j].copy_(ops::add(cpu[j], 0.5 * (t + 1)));
        gpu[j].copy_(ops::add(gpu[j], 0.5 * (t + 1)));
      }
      ema_cpu.update();
      ema_gpu.update();
    }
    const double tol = dtype == DType::Float64 ? 1e-12 : 1e-6;
    for (size_t j = 0; j < cpu.size(); ++j) check_close(ema_gpu.shadow()[j], ema_cpu.shadow()[j], tol, tol);
  }
}

TEST_CASE("cuda clip_grad_norm matches the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<Tensor> cpu = many_params(DType::Float32, Device::cpu(), 2);
  cpu.push_back(set_requires_grad(zeros({33}, DType::Float64)));  // a float64 one in the same sum
  Generator gen(9);
  for (const Tensor& p : cpu) set_grad(p, randn(p.shape(), p.dtype(), &gen));
  std::vector<Tensor> gpu = to_device(cpu, Device::cuda());
  const double n_cpu = clip_grad_norm(cpu, 1.0), n_gpu = clip_grad_norm(gpu, 1.0);
  CHECK(n_gpu == doctest::Approx(n_cpu).epsilon(1e-12));
  for (size_t j = 0; j < cpu.size(); ++j) check_close(grad(gpu[j]), grad(cpu[j]), 1e-7, 1e-6);
  // The clipped gradients have norm max_norm; the sum is the same from run to run (fixed order).
  std::vector<TensorRef> refs;
  for (const Tensor& p : gpu) refs.push_back(grad(p).ref());
  Tensor first = empty({}, TensorOptions(DType::Float64, Device::cuda())), second = empty_like(first);
  backend(Device::cuda()).sum_of_squares(first.ref(), refs);
  backend(Device::cuda()).sum_of_squares(second.ref(), refs);
  CHECK(std::sqrt(first.item()) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(first.item() == second.item());
}

}  // TEST_SUITE("cuda")
