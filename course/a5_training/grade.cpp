// Assignment 5's grader: L_simple (eq. 14), Algorithm 1's draws of t and eps, and a short training run of a
// small U-Net whose loss must fall.
#include <cmath>

#include "diffusion/trainer.hpp"
#include "grader/grading.hpp"

using namespace ddpm;

TEST_SUITE("course") {

TEST_CASE("a5 L_simple is the mean squared error of the predicted eps (2 points)") {
  DiffusionConfig c;
  c.T = 100;
  GaussianDiffusion d(c);
  Generator gen(1);
  const Tensor x0 = randn({3, 1, 4, 4}, TensorOptions(DType::Float64), &gen), noise = randn(x0.shape(), TensorOptions(DType::Float64), &gen);
  const Tensor t = Tensor::from_vector(std::vector<int64_t>{5, 50, 99}, {3});
  // a "network" that predicts 0.3 x_t: the loss is mean((0.3 x_t - eps)^2) with x_t from eq. 4
  DenoiseModel model = [](const Tensor& x_t, const Tensor&) { return 0.3 * x_t; };
  const Tensor x_t = d.q_sample(x0, t, noise);
  const double want = ops::mean(ops::pow(0.3 * x_t - noise, 2.0)).item();
  course::check_close("training_losses(model = 0.3 x_t, x0, t, noise)", d.training_losses(model, x0, t, noise),
                      scalar_tensor(want, TensorOptions(DType::Float64)), 1e-12, 1e-10);
}

TEST_CASE("a5 Algorithm 1 draws t uniformly and eps from N(0 1) (2 points)") {
  DiffusionConfig c;
  c.T = 10;
  GaussianDiffusion d(c);
  std::vector<int64_t> count(10, 0);
  DenoiseModel zero = [&count](const Tensor& x_t, const Tensor& t) {
    for (int64_t s : t.to_vector<int64_t>())
      if (s >= 0 && s < 10) ++count[size_t(s)];
    return zeros(x_t.shape(), TensorOptions(x_t.dtype()));
  };
  Generator gen(2);
  const Tensor x0 = zeros({500, 1, 2, 2}, TensorOptions(DType::Float64));
  double loss = 0;  // with x0 = 0 and a zero prediction, L_simple = mean(eps^2): 1 on average
  for (int k = 0; k < 20; ++k) loss += d.training_losses(zero, x0, gen).item() / 20;
  course::check_between("L_simple of a zero prediction (the mean of eps^2 over 40,000 draws)", loss, 0.97, 1.03);
  int64_t seen = 0;
  for (int64_t k : count) seen += k;
  course::check_between("how many t the model saw (one per image and call)", double(seen), 10000, 10000);
  for (int64_t s = 0; s < 10; ++s)  // 1000 expected each; binomial sd ~30
    course::check_between("how often t = " + std::to_string(s) + " was drawn in 10,000", double(count[size_t(s)]), 850, 1150);
}

TEST_CASE("a5 the loss of a small U-Net falls in 150 steps (3 points)") {
  TrainOptions o;
  o.model.in_channels = 1, o.model.ch = 8, o.model.ch_mult = {1, 2}, o.model.num_res_blocks = 1;
  o.model.attn_resolutions = {}, o.model.groups = 4, o.model.dropout = 0.0, o.model.resolution = 8;
  o.diffusion.T = 100, o.diffusion.beta_end = 0.2;
  o.steps = 150, o.batch_size = 8, o.lr = 2e-3, o.warmup_steps = 2, o.seed = 7;
  o.checkpoint_every = 0, o.sample_every = 0;
  std::vector<float> px(16 * 64, -1.0f);  // 16 images: a bright square in one of four corners
  for (int64_t i = 0; i < 16; ++i)
    for (int64_t y = (i % 2) * 4; y < (i % 2) * 4 + 4; ++y)
      for (int64_t x = ((i / 2) % 2) * 4; x < ((i / 2) % 2) * 4 + 4; ++x) px[size_t(i * 64 + y * 8 + x)] = 1.0f;
  TrainResult r = train(o, Tensor::from_vector(px, {16, 1, 8, 8}));
  double first = 0, last = 0;
  for (size_t i = 0; i < 20; ++i) first += r.losses[i] / 20, last += r.losses[r.losses.size() - 1 - i] / 20;
  course::check_between("the mean loss of the last 20 steps divided by that of the first 20", last / first, 0.0, 0.5);
}

}  // TEST_SUITE
