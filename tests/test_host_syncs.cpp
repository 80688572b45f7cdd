// Issue 9's rule, "no host waits inside a GPU step": a sampler step and a training step make no
// device-to-host read, no upload of host data and no synchronize, except the one read per step in
// which the trainer takes its loss and gradient norm. tensor/host_sync.hpp counts these points on
// every device, the CPU too, so the "cpu" suite checks the rule without a GPU; the "cuda" suite
// checks the same on a GPU, where the training step also uploads its batch.
#include <cmath>
#include <sstream>
#include <vector>

#include "autograd/autograd.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/trainer.hpp"
#include "diffusion/unet.hpp"
#include "nn/ema.hpp"
#include "nn/optim.hpp"
#include "tensor/host_sync.hpp"
#include "test_util.hpp"

using namespace ddpm;

namespace {

// A small U-Net with every kind of block: ResBlocks with and without a 1x1 skip, attention at 4x4,
// a down- and an upsample, dropout (which draws its masks in train mode).
UNetConfig toy_unet() {
  UNetConfig c;
  c.in_channels = 1, c.ch = 8, c.ch_mult = {1, 2}, c.num_res_blocks = 1, c.attn_resolutions = {4};
  c.groups = 4, c.dropout = 0.1, c.resolution = 8;
  return c;
}

GaussianDiffusion make_diffusion(int64_t T, Objective o = Objective::Eps, VarianceType v = VarianceType::Beta) {
  DiffusionConfig c;
  c.T = T;
  c.objective = o;
  c.variance = v;
  return GaussianDiffusion(c);
}

template <typename F>
HostSyncCounts counted(F&& f) {
  const HostSyncCounts before = host_sync_counts();
  f();
  return host_sync_counts() - before;
}

void check_counts(const HostSyncCounts& c, uint64_t reads, uint64_t uploads, uint64_t synchronizes) {
  CHECK(c.reads == reads);
  CHECK(c.uploads == uploads);
  CHECK(c.synchronizes == synchronizes);
}

// Every sampler entry point on `device`, after a first call that may upload the schedule tables (and
// the U-Net its timestep frequencies) once: nothing crosses between host and device.
void check_sampler_steps(Device device) {
  const TensorOptions on(DType::Float32, device);
  const Shape shape = {2, 1, 8, 8};
  Generator init(1);
  UNet unet(toy_unet(), &init);
  unet.to(device);
  unet.eval();
  DenoiseModel model = [&unet](const Tensor& x_t, const Tensor& t) { return unet.forward(x_t, t); };
  const Tensor mixed_t = Tensor::from_vector<int64_t>({0, 7}, {2}, device);  // the last step and another

  bool first = true;
  for (Objective obj : {Objective::Eps, Objective::X0, Objective::V}) {
    for (VarianceType vt : {VarianceType::Beta, VarianceType::BetaTilde}) {
      CAPTURE(to_string(obj));
      CAPTURE(to_string(vt));
      GaussianDiffusion d = make_diffusion(10, obj, vt);
      Generator gen(2);
      Tensor x = randn(shape, on, &gen);
      const Tensor t = full({2}, 5.0, TensorOptions(DType::Int64, device));

      // The first call: the tables go to the device once (float64, converted to float32 there), and
      // on the first forward the U-Net's frequency table.
      HostSyncCounts c = counted([&] { x = d.p_sample(model, x, t, gen, true); });
      INFO("first p_sample");
      check_counts(c, 0, first ? 2 : 1, 0);
      first = false;

      for (bool clip : {true, false}) {
        CAPTURE(clip);
        Tensor pred_x0;
        c = counted([&] { x = d.p_sample(model, x, mixed_t, gen, clip, &pred_x0); });
        INFO("p_sample");
        check_counts(c, 0, 0, 0);
        c = counted([&] { d.p_mean_variance(model, x, t, clip); });
        INFO("p_mean_variance");
        check_counts(c, 0, 0, 0);
      }
      Tensor noise = randn(shape, on, &gen);
      c = counted([&] {
        Tensor x_t = d.q_sample(x, mixed_t, noise);
        d.q_posterior_mean_variance(x, x_t, mixed_t);
        d.predict_x0_from_eps(x_t, mixed_t, noise);
        d.predict_eps_from_x0(x_t, mixed_t, x);
        Tensor v = d.v_from_x0_eps(x, mixed_t, noise);
        d.predict_x0_from_v(x_t, mixed_t, v);
        d.predict_eps_from_v(x_t, mixed_t, v);
        d.training_target(x, mixed_t, noise);
      });
      INFO("the forward process and its conversions");
      check_counts(c, 0, 0, 0);

      // The loops: T = 10 DDPM steps, and DDIM with noise (eta 0.5) and without, with snapshots and
      // a step callback. x_T is drawn on the device.
      SampleOptions o;
      o.device = device;
      o.num_progress = 3;
      int64_t calls = 0;
      o.on_step = [&calls](int64_t, int64_t) { ++calls; };
      SampleResult r;
      c = counted([&] { r = d.p_sample_loop(model, shape, gen, o); });
      INFO("p_sample_loop, 10 steps");
      check_counts(c, 0, 0, 0);
      CHECK(r.progress.size() == 3);
      CHECK(r.x0.device() == device);
      for (double eta : {0.5, 0.0}) {
        CAPTURE(eta);
        c = counted([&] { r = d.ddim_sample_loop(model, shape, 4, eta, gen, o); });
        INFO("ddim_sample_loop, 4 steps");
        check_counts(c, 0, 0, 0);
      }
      CHECK(calls == 10 + 4 + 4);

      // Another dtype on the same device: the float64 tables already there are converted, no upload.
      DenoiseModel linear = [](const Tensor& x_t, const Tensor&) { return 0.5 * x_t; };
      Tensor x64 = randn(shape, TensorOptions(DType::Float64, device), &gen);
      c = counted([&] { d.p_sample(linear, x64, mixed_t, gen, true); });
      INFO("p_sample in float64 after float32");
      check_counts(c, 0, 0, 0);
    }
  }
}

// Learned-range variances on a respaced chain, and the bound: the first call uploads the tables, the
// timestep map and the U-Net's frequencies once; after that nothing crosses.
void check_learned_sampling(Device device) {
  UNetConfig c = toy_unet();
  c.out_channels = 2;
  Generator init(1);
  UNet unet(c, &init);
  unet.to(device);
  unet.eval();
  DenoiseModel model = [&unet](const Tensor& x_t, const Tensor& t) { return unet.forward(x_t, t); };
  DiffusionConfig dc;
  dc.T = 10;
  dc.variance = VarianceType::LearnedRange;
  dc.loss = LossType::Hybrid;
  GaussianDiffusion d(dc);
  GaussianDiffusion respaced = d.respaced(4);
  Generator gen(2);
  SampleOptions o;
  o.device = device;
  HostSyncCounts n = counted([&] { respaced.p_sample_loop(model, {2, 1, 8, 8}, gen, o); });
  {
    INFO("the first respaced loop: its tables, its timestep map and the frequencies, once");
    check_counts(n, 0, 3, 0);
  }
  n = counted([&] { respaced.p_sample_loop(model, {2, 1, 8, 8}, gen, o); });
  INFO("respaced p_sample_loop with learned variances");
  check_counts(n, 0, 0, 0);
  const Tensor x0 = ops::clamp(randn({2, 1, 8, 8}, TensorOptions(DType::Float32, device), &gen), -1.0, 1.0);
  d.calc_bpd_loop(model, x0, gen);  // the full chain's tables go up here
  n = counted([&] { d.calc_bpd_loop(model, x0, gen); });
  INFO("calc_bpd_loop");
  check_counts(n, 0, 0, 0);
}

// One training step as train() takes it: L_simple, backward, clipping on the device, then one read
// of the loss and the gradient norm together, and the AdamW and EMA updates.
struct TrainStep {
  Generator gen{3};
  UNet unet{toy_unet(), &gen};
  GaussianDiffusion diffusion = make_diffusion(10);
  DenoiseModel model;
  std::unique_ptr<AdamW> optimizer;
  std::unique_ptr<EMA> ema;
  int64_t applied = 0;

  explicit TrainStep(Device device) {
    unet.to(device);
    unet.train();
    model = [this](const Tensor& x_t, const Tensor& t) { return unet.forward(x_t, t); };
    optimizer = std::make_unique<AdamW>(unet.parameters(), AdamWOptions{1e-3, 0.9, 0.999, 1e-8, 0.0});
    ema = std::make_unique<EMA>(unet.parameters(), 0.999, true);
  }

  std::vector<double> operator()(const Tensor& x0) {
    Tensor loss = diffusion.training_losses(model, x0, gen);
    backward(loss);
    const Tensor norm = clip_grad_norm_(unet.parameters(), 1.0);
    const std::vector<double> read = ops::stack({loss.to(DType::Float64), norm}).to_vector<double>();
    if (std::isfinite(read[0]) && std::isfinite(read[1])) {
      optimizer->set_lr(1e-3);
      optimizer->step();
      ema->update();
      ++applied;
    }
    optimizer->zero_grad();
    return read;
  }
};

void check_training_steps(Device device) {
  TrainStep step(device);
  const Tensor x0 = ops::clamp(randn({4, 1, 8, 8}, TensorOptions(DType::Float32, device)), -1.0, 1.0);
  std::vector<double> read;
  HostSyncCounts c = counted([&] { read = step(x0); });
  {
    INFO("the first step uploads the tables and the frequencies once, and reads once");
    check_counts(c, 1, 2, 0);
  }
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    c = counted([&] { read = step(x0); });
    check_counts(c, 1, 0, 0);
    REQUIRE(read.size() == 2);
    CHECK(read[0] > 0.0);
    CHECK(std::isfinite(read[0]));
    CHECK(read[1] > 0.0);
    CHECK(std::isfinite(read[1]));
  }
  CHECK(step.applied == 4);
  CHECK(step.ema->num_updates() == 4);
  CHECK(step.optimizer->step_count() == 4);
}


// train() itself, with its CSV log and progress bar: stop_requested is polled at the start of every
// step, so the counts between two polls are exactly one step's. No checkpoint or sample grid is made
// before the end of the run, outside the counted window. `batch_uploads`: 0 on the CPU (the loader's
// batch already is a CPU tensor), 1 on a GPU (the batch's copy to the device).
void check_train_loop(Device device, uint64_t batch_uploads, bool learned = false, bool conditional = false) {
  test::TempDir dir("host_syncs");
  TrainOptions o;
  o.model = toy_unet();
  if (learned) {  // the hybrid loss: the same one read per step
    o.model.out_channels = 2;
    o.diffusion.variance = VarianceType::LearnedRange;
    o.diffusion.loss = LossType::Hybrid;
  }
  if (conditional) o.model.num_classes = 4;  // the labels go up with the batch
  o.preset = "toy";
  o.diffusion.T = 100;
  o.diffusion.beta_end = 0.2;
  o.steps = 6, o.batch_size = 8, o.lr = 2e-3, o.warmup_steps = 2, o.seed = 7, o.hflip = true;
  o.checkpoint_every = 0, o.sample_every = 0, o.sample_count = 2, o.sample_steps = 3;
  o.device = device;
  o.out_dir = dir.path.string();
  std::ostringstream log;
  o.log = &log;
  std::vector<HostSyncCounts> polls;
  o.stop_requested = [&polls] {
    polls.push_back(host_sync_counts());
    return false;
  };
  std::vector<int64_t> y(12);
  for (size_t i = 0; i < y.size(); ++i) y[i] = int64_t(i % 4);
  TrainResult r = train(o, test::toy_images(12), conditional ? Tensor::from_vector(y, {12}) : Tensor());
  REQUIRE(r.losses.size() == 6);
  CHECK(r.skipped_steps == 0);
  REQUIRE(polls.size() == 6);
  {
    INFO("step 1: the tables and the frequencies go to the device once");
    check_counts(polls[1] - polls[0], 1, 2 + batch_uploads, 0);
  }
  for (size_t k = 1; k + 1 < polls.size(); ++k) {
    CAPTURE(k + 1);  // the step
    check_counts(polls[k + 1] - polls[k], 1, batch_uploads, 0);
  }
  HostSyncCounts window = polls.back() - polls.front();
  CHECK(window.reads == polls.size() - 1);  // one read per step
  CHECK(window.synchronizes == 0);
}

// Classifier-free guidance at w = 3 (the batch of 2B) on a class-conditional model: no host read,
// upload or synchronize per sampler loop once its tables are on the device.
void check_guided_sampling(Device device) {
  UNetConfig c = toy_unet();
  c.num_classes = 3;
  UNet unet(c);
  unet.to(device);
  unet.eval();
  const Tensor labels = Tensor::from_vector(std::vector<int64_t>{0, 2}, {2}).to(device);
  DenoiseModel model = classifier_free_guidance(unet, labels, 3.0);
  DiffusionConfig dc;
  dc.T = 10;
  GaussianDiffusion d(dc);
  Generator gen(2);
  SampleOptions o;
  o.device = device;
  d.ddim_sample_loop(model, {2, 1, 8, 8}, 3, 0.0, gen, o);  // the tables and frequencies go up once
  HostSyncCounts n = counted([&] {
    d.p_sample_loop(model, {2, 1, 8, 8}, gen, o);
    d.ddim_sample_loop(model, {2, 1, 8, 8}, 3, 0.0, gen, o);
  });
  check_counts(n, 0, 0, 0);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("guided sampling of a class-conditional model makes no host read - upload or synchronize") {
  check_guided_sampling(Device::cpu());
}

TEST_CASE("class-conditional train reads once per step and never synchronizes") {
  check_train_loop(Device::cpu(), 0, false, true);
}

TEST_CASE("a sampler step makes no host read - upload or synchronize") { check_sampler_steps(Device::cpu()); }

TEST_CASE("a training step reads once - its loss and gradient norm together") {
  check_training_steps(Device::cpu());
}

TEST_CASE("train reads once per step and never synchronizes") { check_train_loop(Device::cpu(), 0); }

TEST_CASE("learned variances: a respaced sampler and the bound make no host read - upload or synchronize") {
  check_learned_sampling(Device::cpu());
}

TEST_CASE("train with the hybrid loss reads once per step and never synchronizes") {
  check_train_loop(Device::cpu(), 0, true);
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("cuda sampler step makes no host read - upload or synchronize") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_sampler_steps(Device::cuda());
}

TEST_CASE("cuda training step reads once - its loss and gradient norm together") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_training_steps(Device::cuda());
}

TEST_CASE("cuda train reads once per step - uploads only its batch and never synchronizes") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_train_loop(Device::cuda(), 1);
}

TEST_CASE("cuda learned variances: a respaced sampler and the bound make no host read - upload or synchronize") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_learned_sampling(Device::cuda());
}

TEST_CASE("cuda train with the hybrid loss reads once per step and never synchronizes") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_train_loop(Device::cuda(), 1, true);
}

TEST_CASE("cuda guided sampling of a class-conditional model makes no host read - upload or synchronize") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_guided_sampling(Device::cuda());
}

TEST_CASE("cuda class-conditional train reads once per step - uploads its batch and labels and never synchronizes") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  check_train_loop(Device::cuda(), 2, false, true);
}

}  // TEST_SUITE("cuda")
