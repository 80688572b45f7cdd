// The autograd engine: leaf gradients and accumulation, graph shapes (diamonds, a leaf used twice),
// grad mode, detach, freeing the graph (also a very deep one), error messages, gradcheck's own
// reports, the micrograd demo (a small MLP fit to a function) and the absence of memory growth over
// many steps; on a GPU, the same training against the CPU.
#include <cmath>
#include <functional>
#include <memory>
#include <thread>

#include <pthread.h>

#include "autograd/autograd.hpp"
#include "tensor/allocator.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

Tensor f64(const std::vector<double>& values, const Shape& shape = {}) {
  return tensor(values, shape, DType::Float64);
}
Tensor leaf(const std::vector<double>& values, const Shape& shape = {}) {
  return set_requires_grad(f64(values, shape));
}

// An identity op whose backward counts how often it runs (to see how the engine schedules nodes).
Tensor counted_identity(const Tensor& x, std::shared_ptr<int> calls) {
  return record("counted_identity", x.clone(), {x}, [calls](const Tensor& g) -> Grads {
    ++*calls;
    return {g};
  });
}

// Runs fn on a thread with a small stack (256 KiB), so that recursion as deep as a graph would
// overflow it.
void run_with_small_stack(std::function<void()> fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_t thread;
  auto trampoline = [](void* arg) -> void* {
    (*static_cast<std::function<void()>*>(arg))();
    return nullptr;
  };
  REQUIRE(pthread_create(&thread, &attr, trampoline, &fn) == 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

}  // namespace

// The example of docs/autograd.md, word for word: a new op with its backward, checked by gradcheck.
namespace my {
using namespace ddpm;

// cube(x) = x^3, elementwise.
Tensor cube(const Tensor& x) {
  Tensor y = ops::mul(ops::mul(x, x), x);  // the forward, with the ops that record nothing
  // The backward gets g = dL/dy and returns dL/dx = g * dy/dx = g * 3x^2, one gradient per input.
  return record("cube", y, {x}, [x](const Tensor& g) -> Grads { return {g * 3.0 * x * x}; });
}

}  // namespace my

// The micrograd demo: a small MLP and Adam, written with the differentiable ops.
namespace {

struct Mlp {  // 1 -> 16 -> 16 -> 1 with tanh, float32
  std::vector<Tensor> params;
  explicit Mlp(Generator& gen, Device device = Device::cpu()) {
    auto layer = [&](int64_t in, int64_t out) {
      // Uniform(-1/sqrt(in), 1/sqrt(in)), PyTorch's nn.Linear default. Philox gives the same values
      // on either device.
      double bound = 1.0 / std::sqrt(double(in));
      params.push_back(set_requires_grad(rand({in, out}, device, &gen, -bound, bound)));
      params.push_back(set_requires_grad(rand({out}, device, &gen, -bound, bound)));
    };
    layer(1, 16);
    layer(16, 16);
    layer(16, 1);
  }
  Tensor operator()(const Tensor& x) const {  // x: [N, 1]
    Tensor h = tanh(matmul(x, params[0]) + params[1]);
    h = tanh(matmul(h, params[2]) + params[3]);
    return matmul(h, params[4]) + params[5];
  }
};

// Adam (Kingma & Ba 2015) written out with tensors, under no_grad.
struct Adam {
  std::vector<Tensor> params, m, v;
  double lr, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  int64_t t = 0;
  Adam(std::vector<Tensor> ps, double lr_) : params(std::move(ps)), lr(lr_) {
    for (const Tensor& p : params) {
      m.push_back(zeros_like(p));
      v.push_back(zeros_like(p));
    }
  }
  void step() {
    NoGradGuard no_grad;
    ++t;
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor g = grad(params[i]);
      m[i].copy_(m[i] * b1 + g * (1 - b1));
      v[i].copy_(v[i] * b2 + g * g * (1 - b2));
      Tensor m_hat = m[i] / (1 - std::pow(b1, double(t)));
      Tensor v_hat = v[i] / (1 - std::pow(b2, double(t)));
      params[i].copy_(params[i] - m_hat * lr / (sqrt(v_hat) + eps));
    }
  }
  void zero_grad() {
    for (const Tensor& p : params) ddpm::zero_grad(p);
  }
};

// The regression data: y = sin(x) on 64 evenly spaced points in [-3, 3], as [64, 1] tensors.
std::pair<Tensor, Tensor> sine_data(Device device = Device::cpu()) {
  Tensor x = ops::unsqueeze(linspace(-3.0, 3.0, 64, device), 1);
  return {x, ops::sin(x)};
}

// The losses of `steps` Adam steps of the MLP on the sine data.
std::vector<double> train_mlp(Device device, int steps, uint64_t seed) {
  std::pair<Tensor, Tensor> data = sine_data(device);
  Generator gen(seed);
  Mlp model(gen, device);
  Adam opt(model.params, 0.01);
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    opt.zero_grad();
    Tensor loss = mse_loss(model(data.first), data.second);
    backward(loss);
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

// Steps of training do not change how much memory the device's allocator holds.
void check_no_memory_growth(Device device) {
  std::pair<Tensor, Tensor> data = sine_data(device);
  Generator gen(99);
  Mlp model(gen, device);
  Adam opt(model.params, 0.01);
  auto step = [&] {
    opt.zero_grad();
    Tensor loss = mse_loss(model(data.first), data.second);
    backward(loss);
    opt.step();
  };
  Allocator& allocator = backend(device).allocator();
  // After the first steps (which create the gradients and Adam's state), every step frees exactly
  // what it allocates: the graph and the saved tensors go with the loss.
  step();
  step();
  const size_t level = allocator.stats().allocated_bytes;
  const uint64_t system = allocator.stats().system_allocations;
  for (int i = 0; i < 200; ++i) {
    step();
    if (allocator.stats().allocated_bytes != level) break;
  }
  CHECK(allocator.stats().allocated_bytes == level);
  // The caching allocator serves a repeated step from its cache.
  CHECK(allocator.stats().system_allocations == system);
}

// The mean squared error of the best straight line through the data (least squares, in double).
double best_line_mse(const Tensor& x, const Tensor& y) {
  std::vector<double> xs = x.to_vector<double>(), ys = y.to_vector<double>();
  double n = double(xs.size()), mx = 0, my = 0;
  for (size_t i = 0; i < xs.size(); ++i) { mx += xs[i] / n; my += ys[i] / n; }
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < xs.size(); ++i) { sxy += (xs[i] - mx) * (ys[i] - my); sxx += (xs[i] - mx) * (xs[i] - mx); }
  double slope = sxy / sxx, mse = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    double r = ys[i] - (my + slope * (xs[i] - mx));
    mse += r * r / n;
  }
  return mse;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("autograd docs example: cube passes gradcheck") {
  Generator gen(7);
  Tensor x = set_requires_grad(randn({3, 4}, DType::Float64, &gen));
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return my::cube(in[0]); }, {x});
  CHECK_MESSAGE(r.ok, r.report);

  // And it trains like any built-in op: d/dx sum(x^3) = 3x^2.
  Tensor v = leaf({-2.0, 0.5, 3.0});
  backward(sum(my::cube(v)));
  check_values(grad(v), {12.0, 0.75, 27.0}, 1e-12);
}

TEST_CASE("autograd docs example: a training step") {
  Tensor w = set_requires_grad(randn({3, 1}, DType::Float64));  // a leaf: its gradient is wanted
  Tensor x = randn({8, 3}, DType::Float64), y = randn({8, 1}, DType::Float64);
  Tensor loss = mse_loss(matmul(x, w), y);  // the differentiable ops record the graph
  backward(loss);                          // grad(w) is now dloss/dw
  Tensor expected = matmul(ops::transpose(x, 0, 1), matmul(x, w) - y) * (2.0 / 8.0);
  check_close(grad(w), expected, 1e-12, 1e-12);
  Tensor before = w.clone();
  {
    NoGradGuard no_grad;                   // an optimizer step records nothing
    w.copy_(w - grad(w) * 0.1);
  }
  check_close(w, before - expected * 0.1, 1e-12, 1e-12);
  zero_grad(w);                            // gradients add up (+=) until cleared
  CHECK_FALSE(grad(w).defined());
}

// ---- Leaves and accumulation ----------------------------------------------------------------------

TEST_CASE("autograd leaves carry requires_grad and only leaves receive grad") {
  Tensor x = f64({1.0, 2.0});
  CHECK_FALSE(requires_grad(x));
  CHECK(is_leaf(x));
  CHECK(set_requires_grad(x).same(x));
  CHECK(requires_grad(x));
  CHECK(is_leaf(x));
  CHECK_FALSE(grad(x).defined());  // nothing accumulated yet

  Tensor y = x * 2.0;
  CHECK(requires_grad(y));
  CHECK_FALSE(is_leaf(y));
  REQUIRE(grad_fn(y) != nullptr);
  CHECK(grad_fn(y)->name() == "mul");
  CHECK(grad_fn(x) == nullptr);

  backward(sum(y));
  check_values(grad(x), {2.0, 2.0}, 0.0);
  CHECK_FALSE(grad(y).defined());  // intermediate tensors keep no gradient

  // A constant (no requires_grad) mixed in gets nothing and needs nothing.
  Tensor c = f64({5.0, 7.0});
  Tensor z = x * c;
  CHECK(grad_fn(z)->edges().size() == 2);
  CHECK_FALSE(grad_fn(z)->edges()[1].node);
  CHECK_FALSE(grad_fn(z)->edges()[1].leaf.defined());
  CHECK(grad_fn(z)->edges()[0].leaf.same(x));

  set_requires_grad(x, false);
  CHECK_FALSE(requires_grad(x));
  CHECK_FALSE(requires_grad(x * 2.0));
  CHECK(grad_fn(x * 2.0) == nullptr);
}

TEST_CASE("autograd gradients accumulate over backward calls until zero_grad") {
  Tensor x = leaf({1.0, -2.0, 3.0});
  backward(sum(x * 3.0));
  check_values(grad(x), {3.0, 3.0, 3.0}, 0.0);
  Tensor first = grad(x);
  backward(sum(x * x));  // + 2x
  check_values(grad(x), {5.0, -1.0, 9.0}, 0.0);
  CHECK(grad(x).same(first));  // added in place: a handle on the gradient sees the sum
  check_values(first, {5.0, -1.0, 9.0}, 0.0);

  zero_grad(x, /*set_to_none=*/false);
  CHECK(grad(x).same(first));
  check_values(grad(x), {0.0, 0.0, 0.0}, 0.0);
  zero_grad(x);
  CHECK_FALSE(grad(x).defined());
  backward(sum(x * 4.0));
  check_values(grad(x), {4.0, 4.0, 4.0}, 0.0);
}

TEST_CASE("autograd a leaf used twice gets both contributions") {
  Tensor x = leaf({3.0, -1.5});
  backward(sum(x * x));  // d/dx x^2 = 2x: one x through each input of mul
  check_values(grad(x), {6.0, -3.0}, 0.0);

  zero_grad(x);
  backward(sum(x + x));
  check_values(grad(x), {2.0, 2.0}, 0.0);

  zero_grad(x);
  backward(sum(cat({x, x, x * 2.0})));
  check_values(grad(x), {4.0, 4.0}, 0.0);

  // The same leaf at the root of backward: dx/dx = 1.
  Tensor s = leaf({2.0});
  backward(s);
  check_values(grad(s), {1.0}, 0.0);
}

TEST_CASE("autograd diamond graph runs the shared node once with the summed gradient") {
  // x -> y = counted(x) -> {a = 2y, b = sin(y)} -> out = a + b: dout/dx = 2 + cos(x).
  auto calls = std::make_shared<int>(0);
  Tensor x = leaf({0.3, -1.2, 2.0});
  Tensor y = counted_identity(x, calls);
  Tensor out = sum(y * 2.0 + sin(y));
  backward(out);
  CHECK(*calls == 1);
  std::vector<double> xs = {0.3, -1.2, 2.0}, expected;
  for (double v : xs) expected.push_back(2.0 + std::cos(v));
  check_values(grad(x), expected, 1e-12);

  // A deeper diamond: every path from x to the output, summed (2^depth paths of weight 1 each).
  Tensor z = leaf({1.0});
  Tensor h = z;
  for (int i = 0; i < 10; ++i) h = h + h;
  backward(sum(h));
  check_values(grad(z), {1024.0}, 0.0);
}

TEST_CASE("autograd gradients of broadcast inputs are summed back to their shapes") {
  Tensor a = set_requires_grad(f64({1, 2, 3}, {3, 1}));
  Tensor b = set_requires_grad(f64({1, 2, 3, 4}, {4}));
  Tensor c = set_requires_grad(scalar_tensor(10.0, DType::Float64));
  backward(sum(a * b + c));  // [3, 4]
  CHECK(grad(a).shape() == Shape{3, 1});
  CHECK(grad(b).shape() == Shape{4});
  CHECK(grad(c).shape() == Shape{});
  check_values(grad(a), {10, 10, 10}, 0.0);  // sum of b
  check_values(grad(b), {6, 6, 6, 6}, 0.0);  // sum of a
  check_values(grad(c), {12}, 0.0);          // one per output element
}

TEST_CASE("autograd gradient of a non-contiguous leaf has the shape of the leaf") {
  Tensor base = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = set_requires_grad(ops::transpose(base, 0, 1));  // [3, 2] view, a leaf
  backward(sum(t * f64({1, 10}, {2})));
  CHECK(grad(t).shape() == Shape{3, 2});
  check_values(grad(t), {1, 10, 1, 10, 1, 10}, 0.0);
  CHECK_FALSE(requires_grad(base));  // the view is the leaf, not its base
}

TEST_CASE("autograd backward with an explicit gradient") {
  Tensor x = leaf({1.0, 2.0, 3.0});
  Tensor y = x * x;  // not a scalar: pass dL/dy
  backward(y, f64({1.0, 0.5, -1.0}));
  check_values(grad(x), {2.0, 2.0, -6.0}, 0.0);
}

// ---- Grad mode --------------------------------------------------------------------------------------

TEST_CASE("autograd no_grad records nothing and restores the mode") {
  Tensor x = leaf({1.0, 2.0});
  CHECK(is_grad_enabled());
  {
    NoGradGuard no_grad;
    CHECK_FALSE(is_grad_enabled());
    Tensor y = exp(x) * 3.0;
    CHECK_FALSE(requires_grad(y));
    CHECK(grad_fn(y) == nullptr);
    check_values(y, {3.0 * std::exp(1.0), 3.0 * std::exp(2.0)}, 1e-12);
    {
      GradModeGuard enable(true);
      CHECK(requires_grad(x * 2.0));
      NoGradGuard nested;
      CHECK_FALSE(requires_grad(x * 2.0));
    }
    CHECK_FALSE(is_grad_enabled());
    // Another thread starts with grad mode on: the mode is per thread.
    bool other_thread_enabled = false;
    std::thread([&] { other_thread_enabled = is_grad_enabled(); }).join();
    CHECK(other_thread_enabled);
  }
  CHECK(is_grad_enabled());
  CHECK(requires_grad(x * 2.0));

  // An optimizer-style update under no_grad leaves the parameter a leaf.
  backward(sum(x * x));
  {
    NoGradGuard no_grad;
    x.copy_(x - grad(x) * 0.25);
  }
  CHECK(is_leaf(x));
  check_values(x, {0.5, 1.0}, 0.0);
}

TEST_CASE("autograd backward records nothing itself") {
  // Backward functions use the differentiable ops; backward() turns grad mode off around them, so
  // gradients are plain tensors.
  Tensor x = leaf({0.5, 1.5});
  backward(sum(exp(x) * x));
  CHECK_FALSE(requires_grad(grad(x)));
  CHECK(is_grad_enabled());
}

// ---- detach ---------------------------------------------------------------------------------------

TEST_CASE("autograd detach shares data and cuts the graph") {
  Tensor x = leaf({2.0, -3.0});
  Tensor y = x * 3.0;
  Tensor d = detach(y);
  CHECK_FALSE(requires_grad(d));
  CHECK(is_leaf(d));
  CHECK(d.storage() == y.storage());
  CHECK(requires_grad(y));  // the original keeps its graph

  // Through detach no gradient flows: d/dx sum(x * detach(x)) = detach(x), not 2x.
  backward(sum(x * detach(x)));
  check_values(grad(x), {2.0, -3.0}, 0.0);
}

// ---- Freeing the graph ----------------------------------------------------------------------------

TEST_CASE("autograd a second backward through a freed graph is a clear error") {
  Tensor x = leaf({1.0, 2.0});
  Tensor loss = sum(exp(x));
  backward(loss);
  check_throws_with_all<std::runtime_error>([&] { backward(loss); },
                                           {"already freed", "retain_graph", "sum"});

  // With retain_graph the graph survives one more backward, which accumulates.
  zero_grad(x);
  Tensor loss2 = sum(x * x);
  backward(loss2, Tensor(), /*retain_graph=*/true);
  backward(loss2);
  check_values(grad(x), {4.0, 8.0}, 0.0);
  check_throws_with<std::runtime_error>([&] { backward(loss2); }, "already freed");

  // Two losses sharing part of a graph: the second backward meets the freed shared node.
  Tensor h = exp(x);
  Tensor l1 = sum(h), l2 = sum(h * 2.0);
  backward(l1);
  check_throws_with<std::runtime_error>([&] { backward(l2); }, "'exp' was already freed");
}

TEST_CASE("autograd backward releases saved tensors and the graph frees with its last tensor") {
  Tensor x = leaf({0.1, 0.2, 0.3});
  std::weak_ptr<Storage> saved;
  Tensor loss;
  {
    Tensor t = x * 3.0;  // sin saves its input t
    saved = t.storage();
    loss = sum(sin(t));
  }
  CHECK_FALSE(saved.expired());  // held by the sin node for backward
  backward(loss, Tensor(), /*retain_graph=*/true);
  CHECK_FALSE(saved.expired());
  backward(loss);
  CHECK(saved.expired());  // released by the backward that freed the graph

  // Without backward, dropping the output frees the graph: no reference cycles, even though exp's
  // backward captured exp's own result.
  std::weak_ptr<Node> node;
  std::weak_ptr<Storage> exp_result;
  {
    Tensor y = exp(x);
    node = grad_fn(y);
    exp_result = y.storage();
    Tensor z = y * 2.0;
  }
  CHECK(node.expired());
  CHECK(exp_result.expired());
}


TEST_CASE("autograd a very deep graph is differentiated and freed without deep recursion") {
  // 50000 nodes in a chain: recursion over it (in the topological sort or in freeing the nodes)
  // needs megabytes of stack; the engine uses loops.
  double result = 0.0;
  bool freed = false;
  run_with_small_stack([&] {
    Tensor x = leaf({1.0});
    std::weak_ptr<Node> first;
    {
      Tensor h = x * 1.0;
      first = grad_fn(h);
      for (int i = 1; i < 50000; ++i) h = h * 1.0;
      backward(sum(h), Tensor(), /*retain_graph=*/true);
    }
    freed = first.expired();
    result = grad(x).item();
  });
  CHECK(result == 1.0);
  CHECK(freed);
}

// ---- Errors ---------------------------------------------------------------------------------------

TEST_CASE("autograd errors name the problem and the fix") {
  Tensor x = leaf({1.0, 2.0});
  check_throws_with<std::invalid_argument>([&] { backward(x * 2.0); }, "one-element");
  check_throws_with<std::invalid_argument>([&] { backward(f64({1.0})); }, "does not require grad");
  check_throws_with<std::invalid_argument>([&] { backward(x * 2.0, f64({1.0, 2.0, 3.0})); }, "does not match");
  check_throws_with<std::invalid_argument>([&] { set_requires_grad(tensor({1, 2}, {}, DType::Int64)); },
                                           "only floating-point");
  check_throws_with_all<std::invalid_argument>([&] { set_requires_grad(x * 2.0, false); }, {"'mul'", "detach"});
  check_throws_with<std::invalid_argument>([&] { set_grad(x, f64({1.0})); }, "does not match");

  // A backward returning a gradient of the wrong shape is caught at once, naming the op and input.
  Tensor bad = record("bad_op", ops::sum(x), {x}, [](const Tensor& g) -> Grads { return {g}; });
  check_throws_with_all<std::logic_error>([&] { backward(bad); }, {"'bad_op'", "input 0", "sum_to"});
  Tensor wrong_count = record("two_grads", ops::neg(x), {x}, [](const Tensor& g) -> Grads { return {g, g}; });
  check_throws_with_all<std::logic_error>([&] { backward(sum(wrong_count)); }, {"'two_grads'", "2 gradients for 1"});
}

TEST_CASE("autograd to converts gradients back to the dtype of the input") {
  Tensor x = leaf({1.5, -2.0});
  Tensor y = to(x, DType::Float32);
  CHECK(y.dtype() == DType::Float32);
  backward(sum(y * y));
  CHECK(grad(x).dtype() == DType::Float64);
  check_values(grad(x), {3.0, -4.0}, 0.0);
  check_throws_with<std::invalid_argument>([&] { to(x, DType::Int64); }, "cut the gradient");
  // Tensor's own copying members are not recorded; the free functions are.
  CHECK_FALSE(requires_grad(x.clone()));
  CHECK(requires_grad(clone(x)));
  CHECK(requires_grad(contiguous(x)));
  CHECK_FALSE(contiguous(x).same(x));
}

TEST_CASE("autograd maximum minimum max and min split the gradient evenly at ties") {
  Tensor a = leaf({1.0, 2.0, 3.0});
  Tensor b = leaf({2.0, 2.0, 1.0});
  backward(sum(maximum(a, b)));
  check_values(grad(a), {0.0, 0.5, 1.0}, 0.0);
  check_values(grad(b), {1.0, 0.5, 0.0}, 0.0);

  Tensor m = leaf({4.0, 1.0, 4.0, 2.0});
  backward(max(m));
  check_values(grad(m), {0.5, 0.0, 0.5, 0.0}, 0.0);
  zero_grad(m);
  backward(min(m));
  check_values(grad(m), {0.0, 1.0, 0.0, 0.0}, 0.0);
}

// ---- gradcheck itself -------------------------------------------------------------------------------

TEST_CASE("autograd gradcheck reports the input and the worst element of a wrong backward") {
  // d/dx x^2 written wrongly as x (off by a factor 2): every element of input 1 fails.
  auto wrong_square = [](const Tensor& x) {
    return record("wrong_square", ops::mul(x, x), {x}, [x](const Tensor& g) -> Grads { return {g * x}; });
  };
  Tensor a = leaf({0.5, -1.0, 2.0}, {3});
  Tensor b = leaf({1.0, 3.0, -0.25, 0.75}, {2, 2});
  GradcheckResult r = gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(in[0]) + sum(wrong_square(in[1])); }, {a, b});
  CHECK_FALSE(r.ok);
  CHECK_FALSE(bool(r));
  CHECK(r.input == 1);
  CHECK(r.element == 1);  // the largest |x|: the error x is largest there
  CHECK(std::fabs(r.numeric - 2.0 * r.analytic) < 1e-6);
  CHECK_MESSAGE(r.report.find("input 1") != std::string::npos, r.report);
  CHECK_MESSAGE(r.report.find("element 1 at [0, 1]") != std::string::npos, r.report);
  CHECK_MESSAGE(r.report.find("4 of 4 elements differ") != std::string::npos, r.report);
  CHECK_MESSAGE(r.report.find("input 0") == std::string::npos, r.report);
  // The inputs are unchanged and their gradients left alone.
  check_values(b, {1.0, 3.0, -0.25, 0.75}, 0.0);
  CHECK_FALSE(grad(a).defined());

  // The right backward passes.
  GradcheckResult good = gradcheck([](const std::vector<Tensor>& in) { return in[0] * in[0]; }, {b});
  CHECK_MESSAGE(good.ok, good.report);
  CHECK(good.report.find("passed") != std::string::npos);
}

TEST_CASE("autograd gradcheck explains an f that records no graph and rejects bad inputs") {
  Tensor x = leaf({0.5, 1.5});
  GradcheckResult r = gradcheck([](const std::vector<Tensor>& in) { return ops::exp(in[0]); }, {x});
  CHECK_FALSE(r.ok);
  CHECK_MESSAGE(r.report.find("does not require grad") != std::string::npos, r.report);

  check_throws_with<std::invalid_argument>(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {set_requires_grad(tensor({1.0}))}); },
      "float64");
  Tensor wide = set_requires_grad(ops::expand(f64({1.0}, {1}), {3}));
  check_throws_with<std::invalid_argument>(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return in[0] * 2.0; }, {wide}); }, "stride 0");
  check_throws_with<std::invalid_argument>(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {f64({1.0})}); }, "no input requires grad");
  check_throws_with<std::invalid_argument>(
      [&] { gradcheck([](const std::vector<Tensor>& in) { return in[0]; }, {x * 2.0}); }, "pass leaves");
}

// ---- The micrograd demo ---------------------------------------------------------------------------


TEST_CASE("autograd micrograd demo: an MLP fits sin(x)") {
  // A constant predictor has mse = var(sin x) ~ 0.5 on this data, the best straight line ~ 0.17;
  // only a model that bends with the data gets below 0.01 (1/16 of the line's error). The MLP
  // reaches a few 1e-6 here in float32, so the bound leaves a wide margin for other summation orders.
  std::pair<Tensor, Tensor> data = sine_data();
  const Tensor& x = data.first;
  const Tensor& y = data.second;
  double line = best_line_mse(x, y);
  REQUIRE(line > 0.15);
  REQUIRE(line < 0.20);

  std::vector<double> losses = train_mlp(Device::cpu(), 1500, 1234);
  double first = losses.front(), last = losses.back();
  MESSAGE("MLP mse: first ", first, ", last ", last, ", best line ", line);
  CHECK(first > 0.1);
  CHECK(last < 0.01);
  CHECK(last < line / 16);
}

TEST_CASE("autograd many training steps do not grow memory") { check_no_memory_growth(Device::cpu()); }

}  // TEST_SUITE("cpu")

// Without a GPU each case prints the skip marker and ctest reports it as skipped.
TEST_SUITE("cuda") {

TEST_CASE("cuda autograd MLP training matches the CPU") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  // The same initial weights (Philox) and data on both devices; float32 sums in different orders
  // make the losses drift apart by about 1e-6 relative over these steps.
  std::vector<double> cpu = train_mlp(Device::cpu(), 30, 1234), gpu = train_mlp(Device::cuda(), 30, 1234);
  REQUIRE(cpu.size() == gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    CAPTURE(i);
    CHECK(std::fabs(gpu[i] - cpu[i]) <= 1e-4 * std::fabs(cpu[i]));
  }
  CHECK(gpu.back() < gpu.front());
}

TEST_CASE("cuda autograd many training steps do not grow GPU memory") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_no_memory_growth(Device::cuda());
}

TEST_CASE("cuda autograd to moves gradients back across devices") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Tensor x = leaf({1.5, -2.0, 0.25});
  Tensor y = to(x, Device::cuda());
  CHECK(y.device().is_cuda());
  backward(sum(y * y));
  REQUIRE(grad(x).defined());
  CHECK(grad(x).device().is_cpu());
  check_values(grad(x), {3.0, -4.0, 0.5}, 1e-12);
}

TEST_CASE("cuda autograd gradcheck runs on the GPU") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Generator gen(3);
  TensorOptions opts(DType::Float64, Device::cuda());
  Tensor a = set_requires_grad(randn({3, 4}, opts, &gen));
  Tensor b = set_requires_grad(ops::transpose(randn({5, 4}, opts, &gen), 0, 1));  // [4, 5], not contiguous
  GradcheckResult r = gradcheck(
      [](const std::vector<Tensor>& in) { return log_softmax(tanh(matmul(in[0], in[1])), -1); }, {a, b});
  CHECK_MESSAGE(r.ok, r.report);
}

}  // TEST_SUITE("cuda")
