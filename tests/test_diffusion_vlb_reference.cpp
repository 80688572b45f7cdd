// The variational bound (Ho et al. 2020, eq. 5), the learned-range variances and the hybrid and vlb
// losses (Nichol & Dhariwal 2021) against improved-diffusion's formulas: tests/data/make_vlb_reference.py
// wrote them out in PyTorch, float64, and stored inputs, outputs and gradients in
// tests/data/vlb_reference.safetensors, so this test needs no PyTorch. Everything here runs in float64
// on the CPU and must agree to 1e-10 (relative, absolute near zero).
//
// The case dgll_tail holds decoder bins deep in the tails, where improved-diffusion's formula loses its
// digits in float64 (Phi(hi) - Phi(lo) of two numbers near 0 or 1): its reference is that formula in 50
// digits, which ours (the upper tail above the mean, Phi(-lo) at the top edge) must match.
//
// DDPM_VLB_REPORT=1 prints the worst error of each comparison.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/losses.hpp"
#include "nn/safetensors.hpp"
#include "test_util.hpp"

using namespace ddpm;

namespace {

const SafetensorsFile& vlb_reference() {
  static const SafetensorsFile file = load_safetensors(
      (std::filesystem::path(__FILE__).parent_path() / "data" / "vlb_reference.safetensors").string());
  return file;
}

const Tensor& expected_at(const std::string& name) { return vlb_reference().at(name); }

// Float64 results that follow the same formulas differ by the order of rounding, ~1e-15; 1e-10 leaves
// room for the few digits improved-diffusion's float64 decoder loses near p = 1e-4 (the script keeps
// its cases within 1e-12 of the 50-digit values).
constexpr double kTol = 1e-10;

// The worst |a - b| / (1 + |b|) (what check_close bounds) and |a - b| / |b| over b != 0.
void report(const std::string& what, const Tensor& ours, const Tensor& expected) {
  static const bool enabled = [] {
    const char* v = std::getenv("DDPM_VLB_REPORT");
    return v && std::string(v) == "1";
  }();
  if (!enabled) return;
  std::vector<double> a = ours.to_vector<double>(), b = expected.to_vector<double>();
  double mixed = 0.0, rel = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const double d = std::fabs(a[i] - b[i]);
    mixed = std::max(mixed, d / (1.0 + std::fabs(b[i])));
    if (b[i] != 0.0) rel = std::max(rel, d / std::fabs(b[i]));
  }
  std::printf("vlb reference %-40s mixed %.2e  relative %.2e\n", what.c_str(), mixed, rel);
}

void check_matches(const std::string& what, const Tensor& ours, const Tensor& expected, double tol = kTol) {
  INFO(what);
  REQUIRE(ours.defined());
  CHECK(ours.dtype() == DType::Float64);
  test::check_close(ours, expected, /*atol=*/tol, /*rtol=*/tol);
  report(what, ours, expected);
}

// A fresh leaf that requires grad, holding the reference tensor's values.
Tensor leaf(const std::string& name) { return set_requires_grad(expected_at(name).clone()); }

DiffusionConfig config(VarianceType variance, LossType loss) {
  DiffusionConfig c;  // linear, T = 1000, beta 1e-4 .. 0.02, eps objective, vlb_weight 0.001
  c.variance = variance;
  c.loss = loss;
  return c;
}

// The network of the script: the fixed tensor `output` whatever it is given. It records what it was
// called with, which must be the reference's x_t and t.
struct FixedModel {
  explicit FixedModel(Tensor out) : output(std::move(out)) {}
  Tensor output, seen_x_t, seen_t;
  int calls = 0;
  DenoiseModel model() {
    return [this](const Tensor& x_t, const Tensor& t) {
      seen_x_t = x_t;
      seen_t = t;
      ++calls;
      return output;
    };
  }
  void check_called_with_reference_inputs() const {
    REQUIRE(calls == 1);
    check_matches("the model's x_t", seen_x_t, expected_at("vlb.x_t"));
    CHECK(seen_t.to_vector<int64_t>() == expected_at("vlb.t").to_vector<int64_t>());
  }
};


}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("vlb reference: normal_kl on broadcast shapes and its gradients") {
  // mean1, mean2, logvar2: [2, 3, 4, 4]; logvar1: [2, 1, 1, 1]
  const std::vector<std::string> names = {"mean1", "logvar1", "mean2", "logvar2"};
  std::vector<Tensor> in;
  for (const auto& n : names) in.push_back(leaf("kl." + n));
  Tensor out = normal_kl(in[0], in[1], in[2], in[3]);
  check_matches("kl.out", out, expected_at("kl.out"));
  backward(out, expected_at("kl.cotangent"));
  for (size_t i = 0; i < names.size(); ++i) {
    REQUIRE(grad(in[i]).defined());
    check_matches("kl.grad_" + names[i], grad(in[i]), expected_at("kl.grad_" + names[i]));
  }
}

TEST_CASE("vlb reference: discretized_gaussian_log_likelihood and its gradients") {
  // dgll: [2, 2, 8, 8] uint8 levels (both ends present), scales 0.01 .. 0.5, a third of the bins clamped
  // at 1e-12. dgll_tail: [64] bins with p from ~1 down past the floor, scales 1e-4 .. 2, both edges.
  for (const std::string c : {"dgll", "dgll_tail"}) {
    INFO("case ", c);
    Tensor means = leaf(c + ".means"), log_scales = leaf(c + ".log_scales");
    Tensor out = discretized_gaussian_log_likelihood(expected_at(c + ".x"), means, log_scales);
    check_matches(c + ".out", out, expected_at(c + ".out"));
    backward(out, expected_at(c + ".cotangent"));
    check_matches(c + ".grad_means", grad(means), expected_at(c + ".grad_means"));
    check_matches(c + ".grad_log_scales", grad(log_scales), expected_at(c + ".grad_log_scales"));
    if (c == "dgll") {  // and the 50-digit values, which ours, stable in the tails, must meet as closely
      check_matches(c + ".exact_out", out, expected_at(c + ".exact_out"));
      check_matches(c + ".exact_grad_means", grad(means), expected_at(c + ".exact_grad_means"));
      check_matches(c + ".exact_grad_log_scales", grad(log_scales), expected_at(c + ".exact_grad_log_scales"));
    }
  }
}

TEST_CASE("vlb reference: q_sample and learned-range p_mean_variance and vb_terms_bpd and prior_bpd") {
  // T = 1000 linear, x0 [4, 1, 8, 8] quantized, t = [0, 1, 500, 999], model output [4, 2, 8, 8] = (eps, v)
  GaussianDiffusion d(config(VarianceType::LearnedRange, LossType::Hybrid));
  const Tensor &x0 = expected_at("vlb.x0"), &x_t = expected_at("vlb.x_t"), &t = expected_at("vlb.t");
  check_matches("vlb.x_t (q_sample)", d.q_sample(x0, t, expected_at("vlb.noise")), x_t);

  GaussianDiffusion::PMeanVariance p = d.p_mean_variance_of(expected_at("vlb.model_output"), x_t, t, /*clip=*/false);
  check_matches("vlb.pmv_mean", p.mean, expected_at("vlb.pmv_mean"));
  check_matches("vlb.pmv_log_variance", p.log_variance, expected_at("vlb.pmv_log_variance"));
  check_matches("vlb.pmv_variance", p.variance, ops::exp(expected_at("vlb.pmv_log_variance")));
  check_matches("vlb.pmv_pred_x0", p.pred_x0, expected_at("vlb.pmv_pred_x0"));
  GaussianDiffusion::PMeanVariance pc = d.p_mean_variance_of(expected_at("vlb.model_output"), x_t, t, /*clip=*/true);
  check_matches("vlb.pmv_clip_mean", pc.mean, expected_at("vlb.pmv_clip_mean"));
  check_matches("vlb.pmv_clip_pred_x0", pc.pred_x0, expected_at("vlb.pmv_clip_pred_x0"));
  check_matches("vlb.pmv_clip_log_variance", pc.log_variance, expected_at("vlb.pmv_log_variance"));

  FixedModel m{expected_at("vlb.model_output")};
  Tensor pred_x0;
  Tensor vb = d.vb_terms_bpd(m.model(), x0, x_t, t, /*clip_denoised=*/false, &pred_x0);
  m.check_called_with_reference_inputs();
  check_matches("vlb.vb_bpd", vb, expected_at("vlb.vb_bpd"));
  check_matches("vlb.vb_bpd pred_x0", pred_x0, expected_at("vlb.pmv_pred_x0"));
  check_matches("vlb.prior_bpd", d.prior_bpd(x0), expected_at("vlb.prior_bpd"));
}

TEST_CASE("vlb reference: the hybrid loss terms and their gradient with the mean's stop-gradient") {
  GaussianDiffusion d(config(VarianceType::LearnedRange, LossType::Hybrid));
  const double T = double(d.T());
  FixedModel m{leaf("vlb.model_output")};
  LossTerms terms = d.training_loss_terms(m.model(), expected_at("vlb.x0"), expected_at("vlb.t"), expected_at("vlb.noise"));
  m.check_called_with_reference_inputs();
  check_matches("vlb.hybrid_mse", terms.mse, expected_at("vlb.hybrid_mse"));
  check_matches("vlb.vb_bpd (hybrid's)", terms.vb, expected_at("vlb.vb_bpd"));
  // ours weighs L_t by lambda T = 0.001 T; improved-diffusion's RESCALED_MSE by T / 1000: the same
  check_matches("vlb.hybrid_vb", d.config().vlb_weight * T * terms.vb, expected_at("vlb.hybrid_vb"));
  check_matches("vlb.hybrid_loss", terms.per_sample, expected_at("vlb.hybrid_loss"));
  check_matches("vlb.hybrid loss (mean)", terms.loss, ops::mean(expected_at("vlb.hybrid_loss")));

  backward(sum(terms.per_sample));
  const Tensor g = grad(m.output);
  REQUIRE(g.defined());
  check_matches("vlb.hybrid_grad", g, expected_at("vlb.hybrid_grad"));

  // The stop-gradient, checked on its own: the eps half gets the mse's gradient alone,
  // d/d eps mean((eps - noise)^2) = 2 (eps - noise) / (C H W), and the v half the vlb's alone, which is
  // lambda T times that of the vlb loss T L_t (whose mean half is not stopped, but which has the same
  // partial derivative in v).
  const int64_t C = 1, CHW = 64;
  Tensor eps = ops::narrow(expected_at("vlb.model_output"), 1, 0, C);
  check_matches("hybrid eps-half gradient = mse's", ops::narrow(g, 1, 0, C),
                ops::mul(ops::sub(eps, expected_at("vlb.noise")), 2.0 / double(CHW)));
  check_matches("hybrid v-half gradient = lambda vlb's", ops::narrow(g, 1, C, C),
                ops::mul(ops::narrow(expected_at("vlb.vlb_grad"), 1, C, C), d.config().vlb_weight));
}

TEST_CASE("vlb reference: the vlb loss T L_t and its gradient in both halves") {
  GaussianDiffusion d(config(VarianceType::LearnedRange, LossType::Vlb));
  FixedModel m{leaf("vlb.model_output")};
  LossTerms terms = d.training_loss_terms(m.model(), expected_at("vlb.x0"), expected_at("vlb.t"), expected_at("vlb.noise"));
  m.check_called_with_reference_inputs();
  check_matches("vlb.vb_bpd (vlb loss's)", terms.vb, expected_at("vlb.vb_bpd"));
  check_matches("vlb.vlb_loss", terms.per_sample, expected_at("vlb.vlb_loss"));
  check_matches("vlb.vlb loss (mean)", terms.loss, ops::mean(expected_at("vlb.vlb_loss")));
  backward(sum(terms.per_sample));
  REQUIRE(grad(m.output).defined());
  check_matches("vlb.vlb_grad", grad(m.output), expected_at("vlb.vlb_grad"));
}

TEST_CASE("vlb reference: vb_terms_bpd with fixed variances clipped and not and its gradient") {
  // The model output is the eps half of vlb.model_output, [4, 1, 8, 8].
  // beta-tilde is improved-diffusion's FIXED_SMALL and beta its FIXED_LARGE (log beta-tilde_1 at t = 0).
  struct Case { VarianceType variance; const char* name; };
  for (const Case& c : {Case{VarianceType::BetaTilde, "fixed_small"}, Case{VarianceType::Beta, "fixed_large"}}) {
    for (bool clip : {false, true}) {
      const std::string name = std::string("fixed.") + c.name + (clip ? "_clip" : "_noclip");
      INFO("case ", name);
      GaussianDiffusion d(config(c.variance, LossType::Simple));
      FixedModel m{set_requires_grad(ops::narrow(expected_at("vlb.model_output"), 1, 0, 1).clone())};
      Tensor vb = d.vb_terms_bpd(m.model(), expected_at("vlb.x0"), expected_at("vlb.x_t"), expected_at("vlb.t"), clip);
      m.check_called_with_reference_inputs();
      check_matches(name + ".vb_bpd", vb, expected_at(name + ".vb_bpd"));
      backward(sum(vb));
      REQUIRE(grad(m.output).defined());
      check_matches(name + ".grad", grad(m.output), expected_at(name + ".grad"));
    }
  }
}

TEST_CASE("vlb reference: respaced chains keep space_timesteps' steps and SpacedDiffusion's betas") {
  GaussianDiffusion base(config(VarianceType::LearnedRange, LossType::Hybrid));
  for (int64_t S : {10, 7, 50}) {
    const std::string c = "respace" + std::to_string(S);
    INFO("case ", c);
    const std::vector<int64_t> keep = expected_at(c + ".timesteps").to_vector<int64_t>();
    REQUIRE(keep.size() == size_t(S));
    GaussianDiffusion r = base.respaced(S);
    CHECK(r.T() == S);
    CHECK(r.timestep_map() == keep);
    check_matches(c + ".betas", Tensor::from_vector(r.schedule().betas, {S}), expected_at(c + ".betas"));
    GaussianDiffusion by_list = base.respaced(keep);
    CHECK(by_list.timestep_map() == keep);
    check_matches(c + ".betas (from the list)", Tensor::from_vector(by_list.schedule().betas, {S}),
                  expected_at(c + ".betas"));
  }
}

}  // TEST_SUITE
