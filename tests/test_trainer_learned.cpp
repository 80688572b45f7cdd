// Training with learned-range variances (Nichol & Dhariwal 2021): the hybrid loss falls on a toy data set,
// the vlb loss with importance sampling of t resumes exactly (its loss history travels in the state), the
// checkpoint records the doubled output and samples on a respaced chain, and bad settings are refused.
#include <filesystem>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/checkpoint.hpp"
#include "diffusion/resample.hpp"
#include "diffusion/trainer.hpp"
#include "nn/safetensors.hpp"
#include "test_util.hpp"
#include "toy_training.hpp"

using namespace ddpm;
using test::toy_images;
using TempDir = test::TempDir;

namespace {

// The toy run with learned-range variances (the U-Net outputs eps, then v) and the hybrid or vlb loss.
TrainOptions learned_options(LossType loss = LossType::Hybrid) {
  TrainOptions o = test::toy_options();
  o.model.out_channels = 2;
  o.model.dropout = 0.0;
  o.diffusion.variance = VarianceType::LearnedRange;
  o.diffusion.loss = loss;
  o.steps = 150;
  return o;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("trainer: the hybrid loss of a learned-range model falls on a toy data set") {
  TrainResult r = train(learned_options(), toy_images(16));
  REQUIRE(r.losses.size() == 150);
  const double first = test::mean_of(r.losses, 0, 20), last = test::mean_of(r.losses, 130, 150);
  INFO("mean hybrid loss of the first 20 steps ", first, ", of the last 20 ", last);
  CHECK(first > 0.5);
  CHECK(last < 0.6 * first);
  CHECK(r.skipped_steps == 0);
}

TEST_CASE("trainer: the vlb loss with importance sampling resumes exactly - history and all") {
  TempDir a("is-whole"), b("is-halves");
  TrainOptions o = learned_options(LossType::Vlb);
  o.diffusion.T = 10;  // 10 steps x 10 losses: the sampler leaves uniform after about 13 batches of 8
  o.importance_sampling = true;
  o.steps = 30;
  o.out_dir = a.path.string();
  TrainResult whole = train(o, toy_images(12));
  o.out_dir = b.path.string();
  o.steps = 20;
  train(o, toy_images(12));
  o.steps = 30;
  o.resume = true;
  TrainResult second = train(o, toy_images(12));
  REQUIRE(second.losses.size() == 10);
  for (size_t i = 0; i < 10; ++i) CHECK(second.losses[i] == whole.losses[20 + i]);  // bit for bit
  SafetensorsFile state = load_safetensors(a.file("state.safetensors"));
  // By step 30 every t has its 10 losses: the sampler is past its uniform warm-up.
  LossSecondMomentResampler resampler(10);
  StateDict history;
  for (const auto& [name, t] : state.tensors)
    if (name.rfind("extra.", 0) == 0) history.emplace_back(name.substr(6), t);
  resampler.load_state_dict(history);
  CHECK(resampler.warmed_up());
  std::vector<double> p = resampler.weights();
  double total = 0;
  for (double q : p) total += q;
  CHECK(total == doctest::Approx(1.0));
  CHECK(*std::max_element(p.begin(), p.end()) > 1.5 / 10);  // not uniform any more
}

TEST_CASE("trainer: a learned-range checkpoint samples - respaced") {
  TempDir d("learned-ckpt");
  TrainOptions o = learned_options();
  o.steps = 3;
  o.out_dir = d.path.string();
  train(o, toy_images(8));
  ModelCheckpoint ckpt = load_model_checkpoint(d.file("model.safetensors"));
  CHECK(ckpt.unet.output_channels() == 2);
  CHECK(ckpt.diffusion.variance == VarianceType::LearnedRange);
  CHECK(ckpt.diffusion.loss == LossType::Hybrid);
  std::shared_ptr<UNet> model = make_unet(ckpt, Device::cpu());
  GaussianDiffusion chain = GaussianDiffusion(ckpt.diffusion).respaced(5);
  Generator gen(1);
  DenoiseModel f = [&model](const Tensor& x, const Tensor& t) { return model->forward(x, t); };
  Tensor x = chain.p_sample_loop(f, {2, 1, 8, 8}, gen).x0;
  CHECK(x.shape() == Shape{2, 1, 8, 8});
  for (float v : x.to_vector<float>()) CHECK(std::isfinite(v));
}

TEST_CASE("trainer resumes a state written before the loss and output settings existed") {
  TempDir d("old-state");
  TrainOptions o = test::toy_options();
  o.steps = 2;
  o.out_dir = d.path.string();
  train(o, toy_images(8));
  // Take the new keys out of the state's metadata, as a state of an older version lacks them.
  SafetensorsFile file = load_safetensors(d.file("state.safetensors"));
  for (const char* key : {"unet.out_channels", "diffusion.loss", "train.importance_sampling"})
    REQUIRE(file.metadata.erase(key) == 1);
  StateDict tensors(file.tensors.begin(), file.tensors.end());
  save_safetensors(d.file("state.safetensors"), tensors, file.metadata);
  o.steps = 3;
  o.resume = true;
  TrainResult r = train(o, toy_images(8));
  CHECK(r.start_step == 2);
  CHECK(r.losses.size() == 1);
}

TEST_CASE("trainer refuses learned variances without L_vlb - importance sampling without vlb - and a wrong output") {
  TrainOptions o = learned_options(LossType::Simple);
  test::check_throws_with([&] { train(o, toy_images(8)); }, "use the hybrid or vlb loss");
  o = learned_options();
  o.importance_sampling = true;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "importance sampling of t is for the vlb loss");
  o = learned_options();
  o.model.out_channels = 1;
  test::check_throws_with([&] { train(o, toy_images(8)); }, "learned-range variances need 2");
  test::check_throws_with([&] { validate_options(o); }, "set the model's out_channels");
}

}  // TEST_SUITE
