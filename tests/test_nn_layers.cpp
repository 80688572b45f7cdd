// Module and the layers: parameter names and counts, train/eval, moving and converting in place,
// state dicts (and their refusals), initializer statistics, SelfAttention2d against a float64 loop;
// on a GPU, a model moved to it.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "nn/nn.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

// A small ResBlock-like module: children named as in docs/unet.md.
struct Block : Module {
  std::shared_ptr<GroupNorm> norm1;
  std::shared_ptr<Conv2d> conv1, skip;
  Block(int64_t cin, int64_t cout) {
    norm1 = register_module("norm1", std::make_shared<GroupNorm>(2, cin));
    conv1 = register_module("conv1", std::make_shared<Conv2d>(cin, cout, 3, 1, 1));
    skip = register_module("skip", std::make_shared<Conv2d>(cin, cout, 1));
  }
  const char* type_name() const override { return "Block"; }
  Tensor forward(const Tensor& x) override { return skip->forward(x) + conv1->forward(silu(norm1->forward(x))); }
};

// A net with an own parameter, a child layer and a ModuleList of blocks, an attention and a dropout.
struct Net : Module {
  Tensor scale;
  std::shared_ptr<Linear> temb1;
  std::shared_ptr<ModuleList> down;
  explicit Net(Generator* gen = nullptr) {
    scale = register_parameter("scale", ones({1}));
    temb1 = register_module("temb1", std::make_shared<Linear>(3, 5, true, gen));
    down = register_module("down", std::make_shared<ModuleList>());
    down->push_back(std::make_shared<Block>(4, 8));
    down->push_back(std::make_shared<SelfAttention2d>(8, 2, gen));
    down->push_back(std::make_shared<Dropout>(0.5));
  }
  const char* type_name() const override { return "Net"; }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& named) {
  std::vector<std::string> out;
  for (const auto& [name, t] : named) out.push_back(name);
  return out;
}

// Sample mean and variance (dividing by n) of a tensor's elements, and its largest |value|.
struct Stats {
  double mean = 0, var = 0, max_abs = 0;
};
Stats stats_of(const Tensor& t) {
  std::vector<double> x = t.to_vector<double>();
  Stats s;
  for (double v : x) {
    s.mean += v;
    s.max_abs = std::max(s.max_abs, std::fabs(v));
  }
  s.mean /= double(x.size());
  for (double v : x) s.var += (v - s.mean) * (v - s.mean);
  s.var /= double(x.size());
  return s;
}

// A uniform(+-bound) sample: every |value| <= bound, the largest close to it, the variance bound^2 / 3.
// With n >= 30000 samples the variance's relative standard error is below 0.6%, so 3% is 5 of them.
void check_uniform(const Tensor& t, double bound) {
  REQUIRE(t.numel() >= 30000);
  Stats s = stats_of(t);
  CHECK(s.max_abs <= bound);
  CHECK(s.max_abs >= 0.99 * bound);
  CHECK(std::fabs(s.mean) <= 0.02 * bound);
  CHECK(s.var == doctest::Approx(bound * bound / 3.0).epsilon(0.03));
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("module parameter names join child names with dots in registration order") {
  Net net;
  const std::vector<std::string> want = {
      "scale",                    "temb1.weight",          "temb1.bias",
      "down.0.norm1.weight",      "down.0.norm1.bias",     "down.0.conv1.weight",
      "down.0.conv1.bias",        "down.0.skip.weight",    "down.0.skip.bias",
      "down.1.norm.weight",       "down.1.norm.bias",      "down.1.qkv.weight",
      "down.1.qkv.bias",          "down.1.proj.weight",    "down.1.proj.bias"};
  CHECK(names_of(net.named_parameters()) == want);
  CHECK(names_of(net.state_dict()) == want);
  CHECK(net.parameters().size() == want.size());
  CHECK(names_of(net.named_children()[0].second->named_parameters()) ==
        std::vector<std::string>{"weight", "bias"});
  for (const Tensor& p : net.parameters()) CHECK(requires_grad(p));
  // The registry holds the layers' own tensors, not copies.
  CHECK(net.named_parameters()[1].second.same(net.temb1->weight));
}

TEST_CASE("module registration refuses bad and duplicate names") {
  Module m;
  m.register_parameter("w", zeros({2}));
  check_throws_with<std::invalid_argument>([&] { m.register_parameter("w", zeros({2})); }, "already taken");
  check_throws_with<std::invalid_argument>([&] { m.register_buffer("w", zeros({2})); }, "already taken");
  check_throws_with<std::invalid_argument>([&] { m.register_module("w", std::make_shared<Linear>(2, 2)); },
                                           "already taken");
  check_throws_with<std::invalid_argument>([&] { m.register_parameter("a.b", zeros({2})); }, "no '.'");
  check_throws_with<std::invalid_argument>([&] { m.register_parameter("", zeros({2})); }, "non-empty");
  check_throws_with<std::logic_error>([&] { m.forward(zeros({2})); }, "no single-input forward");
}

TEST_CASE("buffers are saved and moved but not trained") {
  Module m;
  m.register_parameter("w", zeros({2}));
  Tensor b = m.register_buffer("running", ones({3}));
  CHECK(m.parameters().size() == 1);
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"running"});
  CHECK(names_of(m.state_dict()) == std::vector<std::string>{"w", "running"});
  m.to(DType::Float64);
  CHECK(b.dtype() == DType::Float64);
}

TEST_CASE("layer parameter counts and shapes") {
  CHECK(Linear(3, 4).num_parameters() == 16);
  CHECK(Linear(3, 4, false).num_parameters() == 12);
  CHECK(!Linear(3, 4, false).bias.defined());
  CHECK(Linear(3, 4).weight.shape() == Shape{4, 3});
  Conv2d conv(3, 8, 3, 1, 1);
  CHECK(conv.num_parameters() == 8 * 3 * 9 + 8);
  CHECK(conv.weight.shape() == Shape{8, 3, 3, 3});
  ConvTranspose2d up(8, 4, 4, 2, 1);
  CHECK(up.num_parameters() == 8 * 4 * 16 + 4);
  CHECK(up.weight.shape() == Shape{8, 4, 4, 4});  // [in, out, k, k]
  CHECK(GroupNorm(4, 16).num_parameters() == 32);
  CHECK(GroupNorm(4, 16, 1e-5, false).num_parameters() == 0);
  CHECK(LayerNorm(10).num_parameters() == 20);
  CHECK(Dropout(0.1).num_parameters() == 0);
  // norm 2c + qkv (3c c + 3c) + proj (c c + c) with c = 32.
  CHECK(SelfAttention2d(32, 8).num_parameters() == 64 + (96 * 32 + 96) + (32 * 32 + 32));
  Net net;
  CHECK(net.num_parameters() == 1 + 20 + (8 + 8 * 4 * 9 + 8 + 8 * 4 + 8) + (16 + 24 * 8 + 24 + 64 + 8));
}

TEST_CASE("layers refuse impossible configurations") {
  check_throws_with<std::invalid_argument>([] { GroupNorm(3, 16); }, "16 channels cannot be split into 3 groups");
  check_throws_with<std::invalid_argument>([] { Dropout(1.0); }, "p must be in [0, 1)");
  check_throws_with<std::invalid_argument>([] { ConvTranspose2d(2, 2, 3, 2, 1, 2); }, "output_padding");
  check_throws_with<std::invalid_argument>([] { Linear(0, 2); }, "positive");
}

TEST_CASE("train and eval propagate to every descendant") {
  Net net;
  CHECK(net.is_training());
  net.eval();
  CHECK(!net.is_training());
  CHECK(!net.down->is_training());
  for (const auto& m : *net.down) CHECK(!m->is_training());
  CHECK(!net.down->at<Block>(0)->conv1->is_training());
  net.train();
  CHECK(net.down->at<SelfAttention2d>(1)->norm->is_training());
}

TEST_CASE("dropout module follows the mode") {
  Dropout drop(0.5);
  Tensor x = ones({1000});
  drop.eval();
  check_close(drop.forward(x), x, 0.0, 0.0);
  drop.train();
  std::vector<double> y = drop.forward(x).to_vector<double>();
  int zeros_seen = 0;
  for (double v : y) {
    CHECK((v == 0.0 || v == 2.0));
    zeros_seen += v == 0.0;
  }
  CHECK(zeros_seen > 400);
  CHECK(zeros_seen < 600);
}

TEST_CASE("state_dict round trip between two differently initialized models") {
  Generator g1(1), g2(2);
  Net a(&g1), b(&g2);
  CHECK(a.temb1->weight.to_vector<double>() != b.temb1->weight.to_vector<double>());
  b.load_state_dict(a.state_dict());
  for (size_t i = 0; i < a.parameters().size(); ++i) check_close(b.parameters()[i], a.parameters()[i], 0.0, 0.0);
  // The loaded values are copies: changing a afterwards leaves b alone.
  a.temb1->weight.fill_(7.0);
  CHECK(b.temb1->weight.to_vector<double>()[0] != 7.0);
  // The std::map that load_safetensors returns works as well.
  std::map<std::string, Tensor> as_map;
  for (const auto& [name, t] : a.state_dict()) as_map[name] = t;
  b.load_state_dict(as_map);
  CHECK(b.temb1->weight.to_vector<double>()[0] == 7.0);
}

TEST_CASE("load_state_dict refuses unknown missing and wrong shape tensors naming them") {
  Net net;
  const std::vector<double> before = net.temb1->weight.to_vector<double>();
  StateDict state = net.state_dict();
  for (auto& [name, t] : state) t = zeros_like(t);  // were anything loaded, it would show

  StateDict unknown = state;
  unknown.emplace_back("down.0.conv2.weight", zeros({8, 8, 3, 3}));
  check_throws_with_all<std::invalid_argument>([&] { net.load_state_dict(unknown); },
                                               {"Net", "unexpected", "'down.0.conv2.weight'"});
  StateDict missing = state;
  missing.erase(missing.begin() + 5);  // down.0.conv1.weight
  check_throws_with_all<std::invalid_argument>([&] { net.load_state_dict(missing); },
                                               {"missing", "'down.0.conv1.weight'", "[8, 4, 3, 3]"});
  StateDict wrong = state;
  wrong[1].second = zeros({3, 5});  // temb1.weight is [5, 3]
  check_throws_with_all<std::invalid_argument>([&] { net.load_state_dict(wrong); },
                                               {"'temb1.weight'", "[3, 5]", "[5, 3]"});
  // Several problems are all named in one message.
  missing.emplace_back("extra", zeros({1}));
  check_throws_with_all<std::invalid_argument>([&] { net.load_state_dict(missing); },
                                               {"2 problems", "'down.0.conv1.weight'", "'extra'"});
  check_values(net.temb1->weight, before, 0.0);  // nothing was loaded
}

TEST_CASE("module to dtype converts parameters in place") {
  Generator gen(3);
  Linear lin(3, 2, true, &gen);
  const Tensor handle = lin.weight;  // e.g. an optimizer's
  const std::vector<double> values = lin.weight.to_vector<double>();
  set_grad(lin.weight, ones({2, 3}));
  lin.to(DType::Float64);
  CHECK(handle.dtype() == DType::Float64);
  CHECK(lin.weight.same(handle));
  CHECK(lin.parameters()[0].dtype() == DType::Float64);
  CHECK(requires_grad(lin.weight));
  CHECK(grad(lin.weight).dtype() == DType::Float64);
  check_values(lin.weight, values, 0.0);
  Tensor y = lin.forward(ones({4, 3}, DType::Float64));
  CHECK(y.dtype() == DType::Float64);
  check_throws_with<std::invalid_argument>([&] { lin.to(DType::Int32); }, "floating point");
  lin.to(Device::cpu());  // already there: nothing changes
  CHECK(lin.weight.same(handle));
}

TEST_CASE("zero_grad drops every parameter gradient") {
  Net net;
  for (const Tensor& p : net.parameters()) set_grad(p, ones_like(p));
  net.zero_grad(false);
  for (const Tensor& p : net.parameters()) CHECK(stats_of(grad(p)).max_abs == 0.0);
  net.zero_grad();
  for (const Tensor& p : net.parameters()) CHECK(!grad(p).defined());
}

TEST_CASE("a tied weight is one parameter but two state_dict entries") {
  Module m;
  auto lin = std::make_shared<Linear>(2, 2);
  m.register_module("a", lin);
  m.register_module("b", lin);
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"a.weight", "a.bias"});
  CHECK(m.state_dict().size() == 4);
}

TEST_CASE("sequential chains forwards and modulelist checks types") {
  Generator gen(5);
  auto l1 = std::make_shared<Linear>(3, 4, true, &gen);
  auto l2 = std::make_shared<Linear>(4, 2, true, &gen);
  Sequential seq({l1, l2});
  CHECK(names_of(seq.named_parameters()) ==
        std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
  Tensor x = randn({5, 3}, {}, &gen);
  check_close(seq.forward(x), l2->forward(l1->forward(x)), 0.0, 0.0);
  CHECK(seq.size() == 2);
  CHECK(seq.at<Linear>(1) == l2);
  check_throws_with<std::invalid_argument>([&] { seq.at<Conv2d>(0); }, "entry 0 is a Linear");
  check_throws_with<std::out_of_range>([&] { (void)seq[2]; }, "out of range");
}

TEST_CASE("fans of linear conv and transposed conv weights") {
  init::Fans f = init::fans(zeros({5, 3}));
  CHECK((f.fan_in == 3 && f.fan_out == 5));
  f = init::fans(zeros({8, 4, 3, 3}));
  CHECK((f.fan_in == 36 && f.fan_out == 72));
  f = init::fans(zeros({8, 4, 4, 4}));  // ConvTranspose2d [in 8, out 4]: fan_in from dim 1, as PyTorch
  CHECK((f.fan_in == 64 && f.fan_out == 128));
  check_throws_with<std::invalid_argument>([] { init::fans(zeros({3})); }, "at least 2 dims");
}

TEST_CASE("pytorch default init bounds and variance") {
  Generator gen(11);
  Linear lin(256, 160, true, &gen);  // 40960 weights, bound 1 / sqrt(256)
  check_uniform(lin.weight, 1.0 / 16.0);
  Stats b = stats_of(lin.bias);
  CHECK(b.max_abs <= 1.0 / 16.0);
  CHECK(b.max_abs >= 0.9 / 16.0);
  Conv2d conv(64, 64, 3, 1, 1, true, &gen);  // fan_in 576
  check_uniform(conv.weight, 1.0 / 24.0);
  ConvTranspose2d up(64, 48, 4, 2, 1, 0, true, &gen);  // fan_in = 48 * 16 = 768
  check_uniform(up.weight, 1.0 / std::sqrt(768.0));
}

TEST_CASE("fan average uniform bounds and variance") {
  Generator gen(12);
  Tensor w = zeros({96, 64, 3, 3});  // fan_in 576, fan_out 864: variance scale / 720
  init::fan_avg_uniform_(w, 1.0, &gen);
  check_uniform(w, std::sqrt(3.0 / 720.0));
  init::fan_avg_uniform_(w, 0.25, &gen);
  check_uniform(w, std::sqrt(3.0 * 0.25 / 720.0));
  CHECK(stats_of(w).var == doctest::Approx(0.25 / 720.0).epsilon(0.03));
  init::zeros_(w);
  CHECK(stats_of(w).max_abs == 0.0);
}

TEST_CASE("kaiming uniform bound follows the gain") {
  Generator gen(13);
  Tensor w = zeros({200, 300});
  init::kaiming_uniform_(w, 0.0, &gen);  // ReLU gain sqrt(2): bound sqrt(6 / 300)
  check_uniform(w, std::sqrt(6.0 / 300.0));
}

TEST_CASE("the same seed gives the same weights") {
  Generator a(42), b(42), c(43);
  Net na(&a), nb(&b), nc(&c);
  check_close(na.temb1->weight, nb.temb1->weight, 0.0, 0.0);
  check_close(na.down->at<SelfAttention2d>(1)->qkv->weight, nb.down->at<SelfAttention2d>(1)->qkv->weight, 0.0, 0.0);
  CHECK(na.temb1->weight.to_vector<double>() != nc.temb1->weight.to_vector<double>());
}

TEST_CASE("self attention matches a float64 loop of the DDPM AttnBlock") {
  const int64_t B = 2, C = 4, H = 3, W = 2, N = H * W, G = 2;
  Generator gen(21);
  SelfAttention2d attn(C, G, &gen);
  attn.to(DType::Float64);
  // Non-trivial norm affine parameters and proj, so that every piece shows in the output.
  init::uniform_(attn.norm->weight, 0.5, 1.5, &gen);
  init::uniform_(attn.norm->bias, -0.5, 0.5, &gen);
  Tensor x = randn({B, C, H, W}, DType::Float64, &gen);
  Tensor y = attn.forward(x);

  const std::vector<double> xv = x.to_vector<double>(), gw = attn.norm->weight.to_vector<double>(),
                            gb = attn.norm->bias.to_vector<double>(), qw = attn.qkv->weight.to_vector<double>(),
                            qb = attn.qkv->bias.to_vector<double>(), pw = attn.proj->weight.to_vector<double>(),
                            pb = attn.proj->bias.to_vector<double>();
  std::vector<double> want(xv.size());
  for (int64_t b = 0; b < B; ++b) {
    auto X = [&](int64_t c, int64_t n) { return xv[size_t((b * C + c) * N + n)]; };
    // GroupNorm over each group of C / G channels and all positions (biased variance, eps 1e-5).
    std::vector<double> hn(size_t(C * N));
    for (int64_t g = 0; g < G; ++g) {
      double mean = 0, var = 0;
      const int64_t c0 = g * C / G, c1 = (g + 1) * C / G;
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n) mean += X(c, n);
      mean /= double((c1 - c0) * N);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n) var += (X(c, n) - mean) * (X(c, n) - mean);
      var /= double((c1 - c0) * N);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n)
          hn[size_t(c * N + n)] = (X(c, n) - mean) / std::sqrt(var + 1e-5) * gw[size_t(c)] + gb[size_t(c)];
    }
    // qkv: a 1x1 conv to 3C channels; q, k, v are channel blocks [0, C), [C, 2C), [2C, 3C).
    std::vector<double> qkv(size_t(3 * C * N));
    for (int64_t o = 0; o < 3 * C; ++o)
      for (int64_t n = 0; n < N; ++n) {
        double s = qb[size_t(o)];
        for (int64_t c = 0; c < C; ++c) s += qw[size_t(o * C + c)] * hn[size_t(c * N + n)];
        qkv[size_t(o * N + n)] = s;
      }
    auto q = [&](int64_t c, int64_t n) { return qkv[size_t(c * N + n)]; };
    auto k = [&](int64_t c, int64_t n) { return qkv[size_t((C + c) * N + n)]; };
    auto v = [&](int64_t c, int64_t n) { return qkv[size_t((2 * C + c) * N + n)]; };
    // w[i][j] = softmax over keys j of q_i . k_j / sqrt(C); h[c][i] = sum_j w[i][j] v[c][j].
    std::vector<double> h(size_t(C * N), 0.0);
    for (int64_t i = 0; i < N; ++i) {
      std::vector<double> w(static_cast<size_t>(N));
      double top = -1e300, total = 0;
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t c = 0; c < C; ++c) s += q(c, i) * k(c, j);
        w[size_t(j)] = s / std::sqrt(double(C));
        top = std::max(top, w[size_t(j)]);
      }
      for (double& e : w) total += (e = std::exp(e - top));
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < N; ++j) h[size_t(c * N + i)] += w[size_t(j)] / total * v(c, j);
    }
    // out = x + proj(h), proj a 1x1 conv.
    for (int64_t o = 0; o < C; ++o)
      for (int64_t n = 0; n < N; ++n) {
        double s = pb[size_t(o)];
        for (int64_t c = 0; c < C; ++c) s += pw[size_t(o * C + c)] * h[size_t(c * N + n)];
        want[size_t((b * C + o) * N + n)] = X(o, n) + s;
      }
  }
  check_values(y, want, 1e-12);
}

TEST_CASE("self attention with a zero proj is the identity and gradients reach every parameter") {
  Generator gen(22);
  SelfAttention2d attn(8, 4, &gen);
  Tensor x = randn({2, 8, 4, 4}, {}, &gen);
  init::zeros_(attn.proj->weight);
  init::zeros_(attn.proj->bias);
  check_close(attn.forward(x), x, 0.0, 0.0);  // the DDPM init: the residual branch starts at zero

  init::fan_avg_uniform_(attn.proj->weight, 1.0, &gen);
  backward(sum(pow(attn.forward(x), 2.0)));
  for (const auto& [name, p] : attn.named_parameters()) {
    CAPTURE(name);
    REQUIRE(grad(p).defined());
    CHECK(stats_of(grad(p)).max_abs > 0.0);
  }
  check_throws_with<std::invalid_argument>([&] { attn.forward(zeros({2, 4, 4, 4})); }, "expected [B, 8, H, W]");
}

TEST_CASE("a model trains with adamw on a tiny regression") {
  // Linear -> SiLU -> Linear fit to y = sin(x): the loss must fall by a large factor.
  Generator gen(31);
  Sequential net({std::make_shared<Linear>(1, 16, true, &gen), std::make_shared<Linear>(16, 1, true, &gen)});
  auto model = [&](const Tensor& x) { return net.at<Linear>(1)->forward(silu(net.at<Linear>(0)->forward(x))); };
  Tensor x = reshape(linspace(-3, 3, 64), {64, 1});
  Tensor y = sin(x);
  AdamW opt(net.parameters(), AdamWOptions{1e-2, 0.9, 0.999, 1e-8, 0.0});
  double first = 0, last = 0;
  for (int step = 0; step < 300; ++step) {
    Tensor loss = mse_loss(model(x), y);
    if (step == 0) first = loss.item();
    last = loss.item();
    opt.zero_grad();
    backward(loss);
    opt.step();
  }
  CHECK(last < first / 20);
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("cuda module to device moves parameters in place") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Generator gen(41);
  Net net(&gen);
  const Tensor handle = net.temb1->weight;
  Tensor x = randn({4, 3}, {}, &gen);
  Tensor y_cpu = net.temb1->forward(x);
  net.to(Device::cuda());
  CHECK(handle.device().is_cuda());
  CHECK(net.temb1->weight.same(handle));
  for (const Tensor& p : net.parameters()) CHECK(p.device().is_cuda());
  check_close(net.temb1->forward(x.to(Device::cuda())), y_cpu, 1e-6, 1e-5);
  // A GPU state dict loads into a CPU model.
  Net back;
  back.load_state_dict(net.state_dict());
  check_close(back.temb1->weight, handle, 0.0, 0.0);
}

}  // TEST_SUITE("cuda")
