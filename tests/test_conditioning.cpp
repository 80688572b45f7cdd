// Class conditioning (Ho & Salimans 2022): the U-Net's class embedding and null class, labels from IDX
// files and folders, the loader's labels and label dropout, class-conditional training and resuming, and
// classifier-free guidance's mix at w = 0, 1 and beyond.
#include <cmath>
#include <filesystem>
#include <fstream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/image_io.hpp"
#include "diffusion/trainer.hpp"
#include "nn/safetensors.hpp"
#include "test_util.hpp"
#include "toy_training.hpp"

using namespace ddpm;
using test::TempDir;

namespace {

UNetConfig small_conditional(int64_t classes) {
  UNetConfig c;
  c.in_channels = 1, c.ch = 8, c.ch_mult = {1, 2}, c.num_res_blocks = 1, c.groups = 4, c.resolution = 8;
  c.num_classes = classes;
  return c;
}

// Every parameter redrawn, so that the zero-initialized output layers pass the class embedding through.
void randomize(Module& m, uint64_t seed) {
  Generator gen(seed);
  for (Tensor p : m.parameters()) p.copy_(randn(p.shape(), {}, &gen, 0.0, 0.3));
}

Tensor labels_of(const std::vector<int64_t>& v) { return Tensor::from_vector(v, {int64_t(v.size())}); }

// The toy images' class: where the bright square is (test::toy_images), image i is class i % 4.
Tensor toy_labels(int64_t n) {
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = i % 4;
  return labels_of(y);
}

void write_idx_labels(const std::string& path, const std::vector<uint8_t>& labels) {
  std::ofstream out(path, std::ios::binary);
  const uint32_t n = uint32_t(labels.size());
  const unsigned char head[8] = {0, 0, 8, 1, uint8_t(n >> 24), uint8_t(n >> 16), uint8_t(n >> 8), uint8_t(n)};
  out.write(reinterpret_cast<const char*>(head), 8);
  out.write(reinterpret_cast<const char*>(labels.data()), std::streamsize(labels.size()));
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("class-conditional U-Net: the null class is the default and labels change the output") {
  UNet model(small_conditional(3));
  randomize(model, 1);
  CHECK(model.num_parameters() == UNet([] { UNetConfig c = small_conditional(3); c.num_classes = 0; return c; }())
                                          .num_parameters() + 4 * 32);  // (3 + 1) rows of 4 ch = 32
  Generator gen(2);
  const Tensor x = randn({4, 1, 8, 8}, {}, &gen), t = labels_of({0, 5, 50, 99});
  const Tensor none = model.forward(x, t);
  test::check_close(none, model.forward(x, t, labels_of({3, 3, 3, 3})), 0.0, 0.0);  // 3: the null class
  const Tensor a = model.forward(x, t, labels_of({0, 0, 0, 0})), b = model.forward(x, t, labels_of({1, 1, 1, 1}));
  CHECK(ops::max(ops::abs(a - b)).item() > 1e-3);
  // Each row depends on its own label only.
  const Tensor mixed = model.forward(x, t, labels_of({0, 1, 0, 1}));
  test::check_close(ops::select(mixed, 0, 1), ops::select(b, 0, 1), 1e-5, 1e-5);
  test::check_close(ops::select(mixed, 0, 2), ops::select(a, 0, 2), 1e-5, 1e-5);
  CHECK_THROWS_WITH_AS(model.forward(x, t, labels_of({0, 1})), doctest::Contains("expected int64 [4]"),
                       std::invalid_argument);
  CHECK_THROWS_AS(model.forward(x, t, labels_of({0, 1, 2, 4})), std::exception);  // past the null class
  UNetConfig plain = small_conditional(0);
  UNet unconditional(plain);
  CHECK_THROWS_WITH_AS(unconditional.forward(x, t, labels_of({0, 0, 0, 0})), doctest::Contains("--class-cond"),
                       std::invalid_argument);
}

TEST_CASE("class-conditional U-Net: num_classes reaches the metadata and back - old files are unconditional") {
  UNetConfig c = small_conditional(10);
  auto meta = c.to_metadata();
  CHECK(meta.at("unet.num_classes") == "10");
  CHECK(UNetConfig::from_metadata(meta).num_classes == 10);
  meta.erase("unet.num_classes");
  CHECK(UNetConfig::from_metadata(meta).num_classes == 0);
  CHECK(small_conditional(0).to_metadata().count("unet.num_classes") == 0);
  c.num_classes = -1;
  CHECK_THROWS_WITH_AS(c.validate(), doctest::Contains("num_classes is -1"), std::invalid_argument);
}

TEST_CASE("IDX labels and labelled image folders load - and bad ones are refused") {
  TempDir dir("labels");
  write_idx_labels(dir.file("labels.idx"), {3, 1, 4, 1, 5});
  CHECK(load_idx_labels(dir.file("labels.idx")).to_vector<int64_t>() == std::vector<int64_t>{3, 1, 4, 1, 5});
  {
    std::ofstream(dir.file("short.idx"), std::ios::binary).write("\0\0\x08\x01\0\0\0\x09\x01", 9);
  }
  CHECK_THROWS_WITH_AS(load_idx_labels(dir.file("short.idx")), doctest::Contains("promises 9 labels"), std::runtime_error);
  CHECK_THROWS_WITH_AS(load_idx_labels(dir.file("nothing.idx")), doctest::Contains("load_idx_labels"), std::runtime_error);

  // A folder of class folders: class k is the k-th subfolder with images, by name.
  for (const char* cls : {"b_shirt", "a_boot"}) {
    std::filesystem::create_directories(dir.path / "classes" / cls);
    for (int i = 0; i < (cls[0] == 'a' ? 2 : 3); ++i)
      save_image_grid((dir.path / "classes" / cls / ("img" + std::to_string(i) + ".png")).string(),
                      full({1, 1, 4, 4}, cls[0] == 'a' ? -1.0 : 1.0), 1, 0);
  }
  std::filesystem::create_directories(dir.path / "classes" / "c_empty");
  LabeledImages d = load_labeled_dataset((dir.path / "classes").string(), 4, 1);
  CHECK(d.class_names == std::vector<std::string>{"a_boot", "b_shirt"});
  CHECK(d.labels.to_vector<int64_t>() == std::vector<int64_t>{0, 0, 1, 1, 1});
  CHECK(d.images.shape() == Shape{5, 1, 4, 4});
  CHECK(ops::max(ops::narrow(d.images, 0, 0, 2)).item() == -1.0);  // the boots are dark, the shirts bright
  CHECK(ops::min(ops::narrow(d.images, 0, 2, 3)).item() == 1.0);
  // An IDX image file needs its labels, as many as images.
  CHECK_THROWS_AS(load_labeled_dataset(dir.file("missing-images.idx"), 4, 1), std::exception);
  CHECK_THROWS_WITH_AS(load_labeled_dataset((dir.path / "classes" / "a_boot").string(), 4, 1),
                       doctest::Contains("one per class"), std::runtime_error);
}

TEST_CASE("Fashion-MNIST labels: 60000 and 10000 labels of ten named classes") {
  if (!std::filesystem::exists(default_fashion_mnist_labels_path("test"))) {
    MESSAGE("Fashion-MNIST is not installed here; nothing to check");  // CI installs it
    return;
  }
  const Tensor test = load_idx_labels(default_fashion_mnist_labels_path("test"));
  CHECK(test.size(0) == 10000);
  CHECK(ops::min(test).item() == 0);
  CHECK(ops::max(test).item() == 9);
  CHECK(fashion_mnist_classes().size() == 10);
  CHECK(fashion_mnist_classes()[9] == "Ankle boot");
}

TEST_CASE("BatchLoader labels follow their images - and label dropout drops p of them") {
  const int64_t n = 13;
  std::vector<float> pixels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) pixels[size_t(i)] = float(i);
  const Tensor images = Tensor::from_vector(pixels, {n, 1, 1, 1});  // image i holds the value i
  std::vector<int64_t> y(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) y[size_t(i)] = 100 + i;
  BatchLoader loader(images, 5, 3, false, Device::cpu(), 0, labels_of(y));
  for (int64_t k : {0, 2, 7}) {
    const std::vector<float> img = loader.batch(k).to_vector<float>();
    const std::vector<int64_t> lab = loader.labels(k).to_vector<int64_t>();
    for (size_t i = 0; i < img.size(); ++i) CHECK(lab[i] == 100 + int64_t(img[i]));
  }
  // Dropout: a pure function of (seed, k, row); p = 0 never, p = 1 always, p = 0.1 about 10%.
  CHECK(loader.labels(4, 0.0, -1).to_vector<int64_t>() == loader.labels(4).to_vector<int64_t>());
  for (int64_t v : loader.labels(4, 1.0, -1).to_vector<int64_t>()) CHECK(v == -1);
  int64_t dropped = 0;
  const int64_t draws = 20000;
  for (int64_t k = 0; k < draws / 5; ++k)
    for (int64_t v : loader.labels(k, 0.1, -1).to_vector<int64_t>()) dropped += v == -1;
  // binomial(20000, 0.1): sd 42; 5 sd either way
  CHECK(std::abs(double(dropped) - 0.1 * draws) < 5 * std::sqrt(draws * 0.1 * 0.9));
  CHECK(BatchLoader::label_dropped(3, 9, 2, 0.5) == BatchLoader::label_dropped(3, 9, 2, 0.5));
  CHECK_THROWS_WITH_AS(BatchLoader(images, 5, 3, false, Device::cpu(), 0, labels_of({1, 2})),
                       doctest::Contains("one per image"), std::invalid_argument);
}

TEST_CASE("trainer: a class-conditional model learns - resumes exactly - and its checkpoint says so") {
  TempDir a("cond_whole"), b("cond_halves");
  TrainOptions o = test::toy_options();
  o.model.num_classes = 4;
  o.p_uncond = 0.2;
  o.checkpoint_every = 4;
  o.out_dir = a.path.string();
  const Tensor images = test::toy_images(12), labels = toy_labels(12);
  TrainResult whole = train(o, images, labels);
  o.out_dir = b.path.string();
  o.steps = 5;
  train(o, images, labels);
  o.steps = 12;
  o.resume = true;
  TrainResult second = train(o, images, labels);
  REQUIRE(second.losses.size() == 7);
  for (size_t i = 0; i < 7; ++i) CHECK(second.losses[i] == whole.losses[5 + i]);  // the same labels dropped
  ModelCheckpoint ckpt = load_model_checkpoint(a.file("model.safetensors"));
  CHECK(ckpt.unet.num_classes == 4);
  CHECK(load_safetensors(a.file("state.safetensors")).metadata.at("train.p_uncond") == "0.20000000000000001");
  // Resuming with another p_uncond is refused.
  o.p_uncond = 0.5;
  o.steps = 14;
  CHECK_THROWS_WITH_AS(train(o, images, labels), doctest::Contains("train.p_uncond"), std::runtime_error);
}

TEST_CASE("trainer refuses missing - extra - and out-of-range labels and a bad p_uncond") {
  TrainOptions o = test::toy_options();
  o.steps = 1;
  const Tensor images = test::toy_images(8);
  CHECK_THROWS_WITH_AS(train(o, images, toy_labels(8)), doctest::Contains("unconditional model"), std::invalid_argument);
  o.model.num_classes = 4;
  CHECK_THROWS_WITH_AS(train(o, images), doctest::Contains("needs a label for every image"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(train(o, images, toy_labels(7)), doctest::Contains("expected int64 [8]"), std::invalid_argument);
  o.model.num_classes = 3;
  CHECK_THROWS_WITH_AS(train(o, images, toy_labels(8)), doctest::Contains("labels run from 0 to 3"),
                       std::invalid_argument);
  o.p_uncond = 1.5;
  CHECK_THROWS_WITH_AS(validate_options(o), doctest::Contains("--p-uncond"), std::invalid_argument);
}

TEST_CASE("classifier-free guidance: w = 0 is the unconditional model - w = 1 the conditional one") {
  UNetConfig c = small_conditional(3);
  c.out_channels = 2;  // a learned-variance output: only the first channel is mixed
  UNet model(c);
  randomize(model, 4);
  model.eval();
  Generator gen(5);
  const Tensor x = randn({3, 1, 8, 8}, {}, &gen), t = labels_of({10, 40, 90}), y = labels_of({2, 0, 1});
  NoGradGuard no_grad;
  const Tensor cond = model.forward(x, t, y), uncond = model.forward(x, t, labels_of({3, 3, 3}));
  // the one batch of 2B gives the separate evaluations (to rounding)
  test::check_close(classifier_free_guidance(model, y, 0.0, /*joint=*/true)(x, t), uncond, 1e-5, 1e-5);
  test::check_close(classifier_free_guidance(model, y, 1.0, /*joint=*/true)(x, t), cond, 1e-5, 1e-5);
  test::check_close(classifier_free_guidance(model, y, 1.0)(x, t), cond, 0.0, 0.0);
  test::check_close(classifier_free_guidance(model, y, 0.0)(x, t), uncond, 0.0, 0.0);
  const Tensor w3 = classifier_free_guidance(model, y, 3.0)(x, t);
  test::check_close(ops::narrow(w3, 1, 0, 1), ops::narrow(uncond, 1, 0, 1) + 3.0 * (ops::narrow(cond, 1, 0, 1) - ops::narrow(uncond, 1, 0, 1)),
                    1e-5, 1e-5);
  test::check_close(ops::narrow(w3, 1, 1, 1), ops::narrow(cond, 1, 1, 1), 1e-5, 1e-5);  // the variances: the conditional's
  CHECK_THROWS_WITH_AS(classifier_free_guidance(model, labels_of({0, 3, 1}), 2.0), doctest::Contains("classes 0 .. 2"),
                       std::invalid_argument);
  UNet plain(small_conditional(0));
  CHECK_THROWS_WITH_AS(classifier_free_guidance(plain, y, 2.0), doctest::Contains("--class-cond"), std::invalid_argument);
}

TEST_CASE("classifier_free_mix is eps(null) + w (eps(c) - eps(null)) elementwise") {
  const Tensor c = full({1, 2, 1, 1}, 2.0), u = full({1, 2, 1, 1}, 0.5);
  CHECK(classifier_free_mix(c, u, 3.0, 2).to_vector<double>() == std::vector<double>{5.0, 5.0});
  CHECK(classifier_free_mix(c, u, 3.0, 1).to_vector<double>() == std::vector<double>{5.0, 2.0});
  CHECK_THROWS_AS(classifier_free_mix(c, u, 1.0, 3), std::invalid_argument);
}

}  // TEST_SUITE
