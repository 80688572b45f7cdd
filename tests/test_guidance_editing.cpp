// Classifier guidance (Dhariwal & Nichol 2021) and editing real images (the paper's Figs. 7-8): the
// noise-aware classifier and its gradient against a float64 gradcheck, the samplers' guided mean and
// eps, starting the chain at a chosen step, shared noise and Fig. 8's interpolation, and the quality
// score built on the classifier.
#include <cmath>

#include "diffusion/checkpoint.hpp"
#include "diffusion/classifier.hpp"
#include "diffusion/editing.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/quality.hpp"
#include "cuda_parity.hpp"
#include "gaussian_data.hpp"
#include "test_util.hpp"

using namespace ddpm;
using test::Gaussian;
using test::TempDir;

namespace {

UNetConfig classifier_config() {
  UNetConfig c;
  c.in_channels = 1, c.ch = 4, c.ch_mult = {1, 2}, c.num_res_blocks = 1, c.groups = 2, c.resolution = 8;
  c.attn_resolutions = {4};
  c.num_classes = 3;
  return c;
}

Tensor int64s(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

GaussianDiffusion diffusion_of(int64_t T) {
  DiffusionConfig c;
  c.T = T;
  return GaussianDiffusion(c);
}

}  // namespace

TEST_SUITE("gradcheck") {

TEST_CASE("classifier guidance: grad log p(y | x_t) from our autograd passes a float64 gradcheck") {
  Generator gen(1);
  NoisyClassifier clf(classifier_config(), &gen);
  for (Tensor p : clf.parameters()) p.copy_(randn(p.shape(), {}, &gen, 0.0, 0.3));  // a non-zero head
  clf.to(DType::Float64);
  clf.eval();
  const Tensor x = randn({2, 1, 8, 8}, TensorOptions(DType::Float64), &gen);
  const Tensor t = int64s({3, 70}), y = int64s({2, 0});
  // d/dx of sum_b log p(y_b | x_b, t_b): the function gradcheck differentiates numerically
  GradcheckResult r = gradcheck(
      [&](const std::vector<Tensor>& in) { return sum(classifier_log_prob(clf, in[0], t, y)); },
      {set_requires_grad(x.clone())});
  INFO(r.report);
  CHECK(r.ok);
  // classifier_log_prob_grad returns that gradient (scaled), and leaves no gradient on the parameters.
  const double eps = 1e-6;
  for (const Tensor& p : clf.parameters()) zero_grad(p);  // gradcheck's backward reached them
  const Tensor g = classifier_log_prob_grad(clf, x, t, y, 2.5);
  CHECK(g.shape() == x.shape());
  std::vector<double> xs = x.to_vector<double>();
  for (size_t k : {size_t(0), size_t(37), size_t(100)}) {
    std::vector<double> hi = xs, lo = xs;
    hi[k] += eps, lo[k] -= eps;
    NoGradGuard no_grad;
    const double f_hi = ops::sum(classifier_log_prob(clf, Tensor::from_vector(hi, x.shape()), t, y)).item();
    const double f_lo = ops::sum(classifier_log_prob(clf, Tensor::from_vector(lo, x.shape()), t, y)).item();
    CHECK(g.to_vector<double>()[k] == doctest::Approx(2.5 * (f_hi - f_lo) / (2 * eps)).epsilon(1e-5));
  }
  for (const Tensor& p : clf.parameters()) CHECK(!grad(p).defined());
}

}  // TEST_SUITE

TEST_SUITE("cpu") {

TEST_CASE("noisy classifier: logits and features have their shapes - a zero head starts uniform") {
  NoisyClassifier clf(classifier_config());
  const Tensor x = zeros({5, 1, 8, 8}), t = int64s({0, 1, 2, 3, 4});
  CHECK(clf.forward(x, t).shape() == Shape{5, 3});
  CHECK(clf.features(x, t).shape() == Shape{5, clf.feature_dim()});
  CHECK(clf.feature_dim() == 8);  // ch * ch_mult.back()
  test::check_close(classifier_log_prob(clf, x, t, int64s({0, 1, 2, 0, 1})), full({5}, -std::log(3.0)), 1e-6, 1e-6);
  UNetConfig one = classifier_config();
  one.num_classes = 1;
  CHECK_THROWS_WITH_AS(NoisyClassifier(one, nullptr), doctest::Contains("num_classes is 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(clf.forward(zeros({1, 1, 4, 4}), int64s({0})), doctest::Contains("expected [B, 1, 8, 8]"),
                       std::invalid_argument);
}

TEST_CASE("classifier checkpoint round trip - and a U-Net file is refused") {
  TempDir dir("classifier");
  ClassifierCheckpoint c;
  c.config = classifier_config();
  c.diffusion.T = 50;
  c.class_names = {"cat", "dog", "owl"};
  Generator gen(3);
  NoisyClassifier clf(c.config, &gen);
  c.weights = clf.state_dict();
  save_classifier_checkpoint(dir.file("c.safetensors"), c);
  ClassifierCheckpoint back = load_classifier_checkpoint(dir.file("c.safetensors"));
  CHECK(back.class_names == c.class_names);
  CHECK(back.diffusion.T == 50);
  auto loaded = make_classifier(back, Device::cpu());
  const Tensor x = randn({2, 1, 8, 8}, {}, &gen), t = int64s({1, 2});
  test::check_close(loaded->features(x, t), clf.features(x, t), 0.0, 0.0);
  save_model_checkpoint(dir.file("unet.safetensors"), unet_preset("tiny"), DiffusionConfig(),
                        UNet(unet_preset("tiny")).state_dict());
  CHECK_THROWS_WITH_AS(load_classifier_checkpoint(dir.file("unet.safetensors")),
                       doctest::Contains("not a ddpmcpp-classifier file"), std::runtime_error);
}

TEST_CASE("classifier guidance moves the ddpm mean by variance * gradient - and ddim's eps by sqrt(1 - abar) of it") {
  GaussianDiffusion d = diffusion_of(100);
  const Gaussian g{0.2, 0.5};
  const DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  Generator gen(8);
  const Tensor x = randn({2, 1, 4, 4}, {}, &gen);
  const Tensor shift = full({2, 1, 4, 4}, 0.7);
  SampleOptions guided;
  guided.cond_fn = [&](const Tensor& x_t, const Tensor& t) {
    CHECK(t.to_vector<int64_t>() == std::vector<int64_t>{40, 40});  // the model's timesteps
    return shift + 0.0 * x_t;
  };
  Generator g1(9), g2(9);
  const Tensor t = int64s({40, 40});
  const Tensor plain = d.p_sample(model, x, t, g1, false), moved = d.p_sample(model, x, t, g2, false, nullptr, guided);
  const double var = d.schedule().betas[40];  // fixed beta variance
  test::check_close(moved - plain, var * shift, 1e-6, 1e-5);

  // DDIM, one step from t = 40 to x0 (S = 1, eta 0): x0 = (x - sqrt(1 - abar) eps) / sqrt(abar), so
  // eps - sqrt(1 - abar) s moves x0 by (1 - abar) / sqrt(abar) s.
  SampleOptions so;
  so.x_T = x;
  so.start_step = 40;
  so.clip_denoised = false;
  Generator g3(1), g4(1);
  const Tensor a = d.ddim_sample_loop(model, x.shape(), 1, 0.0, g3, so).x0;
  so.cond_fn = guided.cond_fn;
  const Tensor b = d.ddim_sample_loop(model, x.shape(), 1, 0.0, g4, so).x0;
  const double abar = d.schedule().alphas_cumprod[40];
  test::check_close(b - a, ((1 - abar) / std::sqrt(abar)) * shift, 1e-6, 1e-5);
}

TEST_CASE("start_step: from t = 0 the chain gives back its input - from T - 1 it samples the data distribution") {
  GaussianDiffusion d = diffusion_of(1000);
  Generator gen(2);
  // A model that predicts eps = 0: one step at t = 0 returns x_t / sqrt(abar_0), clipped.
  const DenoiseModel zero = [](const Tensor& x_t, const Tensor&) { return zeros(x_t.shape()); };
  const Tensor x0 = ops::clamp(randn({3, 1, 4, 4}, {}, &gen), -0.9, 0.9), noise = randn(x0.shape(), {}, &gen);
  SampleOptions so;
  so.start_step = 0;
  so.x_T = d.q_sample(x0, int64s({0, 0, 0}), noise);
  Generator g1(3);
  const Tensor back = d.p_sample_loop(zero, x0.shape(), g1, so).x0;
  const double k = std::sqrt(1 - d.schedule().alphas_cumprod[0]) / std::sqrt(d.schedule().alphas_cumprod[0]);
  test::check_close(back, ops::clamp(x0 + k * noise, -1.0, 1.0), 1e-6, 1e-5);
  CHECK(ops::max(ops::abs(back - x0)).item() < 6 * k);  // within 6 sd of the one step's noise (k = 0.01)

  // From T - 1, whatever the images (here all +1), the exact denoiser of N(0.3, 0.5^2) returns that
  // Gaussian: q has forgotten them (sqrt(abar_{T-1}) = 0.006).
  const Gaussian g{0.3, 0.5};
  const int64_t n = 4000;
  so.start_step = 999;
  so.x_T = d.q_sample(full({n, 1, 1, 1}, 1.0), full({n}, 999.0, TensorOptions(DType::Int64)), randn({n, 1, 1, 1}, {}, &gen));
  so.clip_denoised = false;
  Generator g2(4);
  const std::vector<double> s = d.p_sample_loop(g.model(d.schedule(), Objective::Eps), {n, 1, 1, 1}, g2, so).x0.to_vector<double>();
  double mean = 0, var = 0;
  for (double v : s) mean += v / double(n);
  for (double v : s) var += (v - mean) * (v - mean) / double(n - 1);
  CHECK(std::abs(mean - 0.3) < 5 * 0.5 / std::sqrt(double(n)) + 0.006 * 0.7);  // 5 standard errors + what x_T remembers
  CHECK(std::abs(var - 0.25) < 5 * 0.25 * std::sqrt(2.0 / double(n - 1)) + 0.01);
  so.start_step = 1000;
  CHECK_THROWS_WITH_AS(d.p_sample_loop(zero, {n, 1, 1, 1}, g2, so), doctest::Contains("start_step is 1000"),
                       std::invalid_argument);
}

TEST_CASE("ddim_timesteps from a start step - and the respaced chain's step at or below a timestep") {
  GaussianDiffusion d = diffusion_of(1000);
  CHECK(d.ddim_timesteps(3, 500) == std::vector<int64_t>{500, 250, 0});
  CHECK(d.ddim_timesteps(1, 500) == std::vector<int64_t>{500});
  CHECK(d.ddim_timesteps(4) == d.ddim_timesteps(4, 999));
  CHECK_THROWS_WITH_AS(d.ddim_timesteps(502, 500), doctest::Contains("start + 1 = 501"), std::invalid_argument);
  GaussianDiffusion r = d.respaced(std::vector<int64_t>{0, 100, 400, 999});
  CHECK(chain_step_at_or_below(r, 399) == 1);
  CHECK(chain_step_at_or_below(r, 400) == 2);
  CHECK(chain_step_at_or_below(r, 999) == 3);
  CHECK(chain_step_at_or_below(d, 500) == 500);
  CHECK_THROWS_WITH_AS(chain_step_at_or_below(r, 1000), doctest::Contains("--start-t is 1000"), std::invalid_argument);
}

TEST_CASE("Fig. 8: the interpolation's ends are the two images' own reconstructions") {
  GaussianDiffusion d = diffusion_of(100);
  const Gaussian g{0.0, 0.6};
  const DenoiseModel model = g.model(d.schedule(), Objective::Eps);
  Generator gen(6);
  const Tensor xa = ops::clamp(randn({1, 1, 4, 4}, {}, &gen), -1.0, 1.0), xb = ops::clamp(randn({1, 1, 4, 4}, {}, &gen), -1.0, 1.0);
  const Tensor noise = randn({1, 1, 4, 4}, {}, &gen);
  const Tensor line = interpolate_noised(d, xa, xb, 5, 50, noise);  // [5, 1, 4, 4]
  const Tensor t = int64s({50});
  test::check_close(ops::narrow(line, 0, 0, 1), d.q_sample(xa, t, noise), 0.0, 0.0);
  test::check_close(ops::narrow(line, 0, 4, 1), d.q_sample(xb, t, noise), 0.0, 0.0);
  test::check_close(ops::narrow(line, 0, 2, 1), 0.5 * (d.q_sample(xa, t, noise) + d.q_sample(xb, t, noise)), 1e-6, 1e-6);
  // Decoded with one noise for every row, row 0 is xa's reconstruction from its own x_t, and row 4 xb's.
  SampleOptions so;
  so.start_step = 50;
  so.shared_noise = true;
  so.x_T = line;
  Generator g1(11);
  const Tensor decoded = d.p_sample_loop(model, line.shape(), g1, so).x0;
  for (auto [row, x] : {std::pair<int64_t, Tensor>{0, xa}, {4, xb}}) {
    SampleOptions one = so;
    one.x_T = d.q_sample(x, t, noise);
    Generator g2(11);
    test::check_close(ops::narrow(decoded, 0, row, 1), d.p_sample_loop(model, x.shape(), g2, one).x0, 1e-6, 1e-5);
  }
  CHECK_THROWS_WITH_AS(interpolate_noised(d, xa, xb, 1, 50, noise), doctest::Contains("K is 1"), std::invalid_argument);
}

TEST_CASE("quality score: the class histogram - the share of the class asked for - and the Frechet distance") {
  ClassifiedImages s;
  s.features = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7}, {4, 2});
  s.predicted = int64s({0, 2, 2, 1});
  const FeatureStats reference = feature_statistics(s.features);
  QualityScore q = score_samples(s, reference, 3, int64s({0, 2, 1, 1}));
  CHECK(q.n == 4);
  CHECK(q.histogram == std::vector<int64_t>{1, 1, 2});
  CHECK(q.class_match == doctest::Approx(0.75));
  CHECK(q.fd == doctest::Approx(0.0).epsilon(1e-9));
  CHECK(score_samples(s, reference, 3).class_match == -1);
  CHECK(to_string(q) == "fd 0.00, class match 0.750");
}

TEST_CASE("classify_images runs in batches - the same features as one batch") {
  Generator gen(7);
  NoisyClassifier clf(classifier_config(), &gen);
  const Tensor images = ops::clamp(randn({5, 1, 8, 8}, {}, &gen), -1.0, 1.0);
  ClassifiedImages a = classify_images(clf, images, 2, Device::cpu()), b = classify_images(clf, images, 5, Device::cpu());
  CHECK(a.features.shape() == Shape{5, 8});
  test::check_close(a.features, b.features, 1e-6, 1e-5);
  CHECK(a.predicted.to_vector<int64_t>() == b.predicted.to_vector<int64_t>());
}

}  // TEST_SUITE

TEST_SUITE("cuda") {

// Conditioning and guidance are compositions of ops that each have their CUDA kernel and parity test;
// this checks them on the GPU against the CPU: a class-conditional forward with classifier-free
// guidance, the classifier's gradient, and a guided ddpm step from a start step with shared noise.
TEST_CASE("cuda classifier-free and classifier guidance match the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const Device gpu = Device::cuda();
  Generator gen(31);
  UNetConfig uc = classifier_config();
  uc.attn_resolutions = {};
  UNet model(uc, &gen);
  NoisyClassifier clf(classifier_config(), &gen);
  for (Module* m : {static_cast<Module*>(&model), static_cast<Module*>(&clf)})
    for (Tensor p : m->parameters()) p.copy_(randn(p.shape(), {}, &gen, 0.0, 0.3));
  model.eval(), clf.eval();
  const Tensor x = randn({3, 1, 8, 8}, {}, &gen), t = int64s({2, 30, 90}), y = int64s({1, 0, 2});
  GaussianDiffusion d = diffusion_of(100);
  auto guided_step = [&](Device dev) {
    model.to(dev), clf.to(dev);
    const DenoiseModel eps = classifier_free_guidance(model, y.to(dev), 2.5);
    SampleOptions so;
    so.shared_noise = true;
    so.cond_fn = classifier_guidance(clf, y.to(dev), 1.5);
    Generator g(5);  // Philox: the same noise on both devices
    return d.p_sample(eps, x.to(dev), t.to(dev), g, true, nullptr, so);
  };
  test::check_parity(guided_step, gpu, 1e-4, 1e-4);
  test::check_parity([&](Device dev) {
    clf.to(dev);
    return classifier_log_prob_grad(clf, x.to(dev), t.to(dev), y.to(dev), 1.0);
  }, gpu, 1e-4, 1e-4);
  model.to(Device::cpu()), clf.to(Device::cpu());
}

}  // TEST_SUITE("cuda")
