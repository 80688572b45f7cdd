// tools/train-classifier: trains the noise-aware classifier p(y | x_t, t) of classifier guidance
// (Dhariwal & Nichol 2021), the U-Net's encoder half, on x_t ~ q(x_t | x0) at uniform t, with our own
// autograd and AdamW, and writes classifier.safetensors (for tools/sample --classifier and tools/eval --fd).
#include <chrono>
#include <cmath>
#include <iostream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/progress.hpp"
#include "model_options.hpp"
#include "nn/lr_schedule.hpp"
#include "tool_common.hpp"

using namespace ddpm;

namespace {

// The share of `images` classified as `labels` at timestep t (x_t drawn once from gen), in batches.
double accuracy_at(NoisyClassifier& clf, const GaussianDiffusion& diffusion, const Tensor& images,
                   const Tensor& labels, int64_t t, Generator& gen, Device device) {
  NoGradGuard no_grad;
  int64_t right = 0;
  for (int64_t first = 0; first < images.size(0); first += 256) {
    const int64_t b = std::min<int64_t>(256, images.size(0) - first);
    const Tensor x0 = ops::narrow(images, 0, first, b).to(device);
    const Tensor steps = full({b}, double(t), TensorOptions(DType::Int64, device));
    const Tensor x_t = diffusion.q_sample(x0, steps, randn(x0.shape(), TensorOptions(DType::Float32, device), &gen));
    const Tensor pred = ops::argmax(clf.forward(x_t, steps), 1).cpu();
    right += ops::sum(ops::eq(pred, ops::narrow(labels, 0, first, b)).to(DType::Int64)).item<int64_t>();
  }
  return double(right) / double(images.size(0));
}

int train_classifier_main(int argc, char** argv) {
  cxxopts::Options options("train-classifier",
                           "Train a noise-aware classifier p(y | x_t, t) (Dhariwal & Nichol 2021): the U-Net's encoder "
                           "half with the time embedding, on x_t at uniform random t.\nIt guides tools/sample "
                           "(--classifier) and scores samples in tools/eval --fd and tools/train --eval-every.");
  options.set_width(110);
  // clang-format off
  options.add_options("Model and data")
    ("preset", "The encoder's shape: the down path of this U-Net preset", cxxopts::value<std::string>()->default_value("tiny"))
    ("data", "Labelled images: fashion-mnist, an IDX image file with --labels, or a folder of one subfolder per "
             "class", cxxopts::value<std::string>()->default_value("fashion-mnist"))
    ("labels", "IDX label file of an IDX --data", cxxopts::value<std::string>())
    ("test-data", "Labelled images to report the accuracy on (default: Fashion-MNIST's test split with --data "
                  "fashion-mnist; none otherwise)", cxxopts::value<std::string>())
    ("test-labels", "IDX label file of an IDX --test-data", cxxopts::value<std::string>())
    ("test-images", "Report the accuracy on the first N test images only (default: all)", cxxopts::value<int64_t>())
  ;
  tools::add_shape_options(options);
  tools::add_schedule_options(options);
  options.add_options("Optimization")
    ("steps", "Optimizer steps", cxxopts::value<int64_t>()->default_value("1000"))
    ("batch", "Images per step", cxxopts::value<int64_t>()->default_value("64"))
    ("lr", "AdamW learning rate after warmup", cxxopts::value<double>()->default_value("1e-3"))
    ("warmup", "Steps of linear warmup", cxxopts::value<int64_t>()->default_value("100"))
    ("weight-decay", "AdamW weight decay", cxxopts::value<double>()->default_value("0.05"))
    ("seed", "Seed of the init, the batches, t and the noise", cxxopts::value<uint64_t>()->default_value("0"))
    ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"))
    ("out", "The classifier.safetensors to write (also every --checkpoint-every steps)", cxxopts::value<std::string>())
    ("checkpoint-every", "Write --out every N steps (0: only at the end)", cxxopts::value<int64_t>()->default_value("500"))
    ("h,help", "Show this help")
  ;
  // clang-format on
  cxxopts::ParseResult args = options.parse(argc, argv);
  if (args.count("help")) {
    std::cout << options.help({"Model and data", tools::kShapeGroup, "Diffusion", "Optimization"}) << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) throw std::invalid_argument("unexpected argument '" + args.unmatched()[0] + "'");
  const std::string out = tools::required<std::string>(args, "out");
  ClassifierCheckpoint ckpt;
  ckpt.config = unet_preset(args["preset"].as<std::string>());
  tools::override_shape(args, ckpt.config);
  tools::read_schedule(args, ckpt.diffusion);
  ckpt.diffusion.validate();
  const int64_t steps = args["steps"].as<int64_t>(), batch = args["batch"].as<int64_t>();
  const int64_t every = args["checkpoint-every"].as<int64_t>(), warmup = args["warmup"].as<int64_t>();
  const double lr = args["lr"].as<double>();
  if (steps < 1) throw std::invalid_argument("--steps is " + std::to_string(steps) + ", expected >= 1");
  if (batch < 1) throw std::invalid_argument("--batch is " + std::to_string(batch) + ", expected >= 1");
  if (!(lr > 0)) throw std::invalid_argument("--lr must be > 0");
  if (every < 0 || warmup < 0) throw std::invalid_argument("--checkpoint-every and --warmup must be >= 0");
  const Device device = tools::resolve_device(args["device"].as<std::string>());
  const uint64_t seed = args["seed"].as<uint64_t>();
  const UNetConfig& m = ckpt.config;

  const std::string data = args["data"].as<std::string>();
  std::cerr << "loading " << data << " ...\n";
  LabeledImages train_set = load_labeled_dataset(data, m.resolution, m.in_channels,
                                                 args.count("labels") ? args["labels"].as<std::string>() : "");
  ckpt.class_names = train_set.class_names;
  ckpt.config.num_classes = int64_t(train_set.class_names.size());
  LabeledImages test_set;
  if (args.count("test-data"))
    test_set = load_labeled_dataset(args["test-data"].as<std::string>(), m.resolution, m.in_channels,
                                    args.count("test-labels") ? args["test-labels"].as<std::string>() : "");
  else if (data == "fashion-mnist")
    test_set = {load_idx_images(default_fashion_mnist_path("test"), m.resolution),
                load_idx_labels(default_fashion_mnist_labels_path("test")), {}};

  if (args.count("test-images") && test_set.images.defined()) {
    const int64_t n = args["test-images"].as<int64_t>();
    if (n < 1) throw std::invalid_argument("--test-images is " + std::to_string(n) + ", expected >= 1");
    test_set.images = ops::narrow(test_set.images, 0, 0, std::min(n, test_set.images.size(0)));
    test_set.labels = ops::narrow(test_set.labels, 0, 0, test_set.images.size(0));
  }
  Generator gen(seed);
  NoisyClassifier clf(ckpt.config, &gen);
  clf.to(device);
  clf.train();
  AdamW optimizer(clf.parameters(), AdamWOptions{lr, 0.9, 0.999, 1e-8, args["weight-decay"].as<double>()});
  GaussianDiffusion diffusion(ckpt.diffusion);
  BatchLoader loader(train_set.images, batch, seed, /*hflip=*/false, device, 0, train_set.labels);
  std::cerr << "training the classifier (" << clf.num_parameters() << " parameters, " << ckpt.config.num_classes
            << " classes) on " << train_set.images.size(0) << " images, batch " << batch << ", " << steps
            << " steps, on " << device.str() << "; writing " << out << "\n";
  auto save = [&](int64_t step) {
    ckpt.weights = clf.state_dict();
    ckpt.metadata = {{"step", std::to_string(step)}, {"data", data}};
    save_classifier_checkpoint(out, ckpt);
  };

  ProgressBar bar(std::cerr, 0, steps, "train-classifier", batch, "img");
  const auto began = std::chrono::steady_clock::now();
  double loss_ema = NAN, acc_ema = NAN;
  for (int64_t step = 0; step < steps; ++step) {
    const Tensor y = loader.labels(loader.next_index()).to(device);  // [B]
    const Tensor x0 = loader.next();                                   // [B, C, H, W]
    // x_t ~ q(x_t | x0) at t ~ Uniform{0..T-1} (eq. 4), then the cross-entropy of p(y | x_t, t)
    const Tensor t = randint(0, diffusion.T(), {batch}, TensorOptions(DType::Int64, device), &gen);
    const Tensor x_t = diffusion.q_sample(x0, t, randn(x0.shape(), TensorOptions(DType::Float32, device), &gen));
    const Tensor logits = clf.forward(x_t, t);  // [B, K]
    const Tensor loss = -mean(reshape(gather(log_softmax(logits, 1), 1, ops::unsqueeze(y, 1)), {batch}));
    backward(loss);
    clip_grad_norm_(clf.parameters(), 1.0);
    optimizer.set_lr(warmup_constant_lr(step, lr, warmup));
    optimizer.step();
    optimizer.zero_grad();
    const std::vector<double> read =
        ops::cat({ops::reshape(detach(loss).to(DType::Float64), {1}),
                  ops::reshape(ops::mean(ops::eq(ops::argmax(detach(logits), 1), y).to(DType::Float64)), {1})}, 0)
            .to_vector<double>();
    loss_ema = std::isnan(loss_ema) ? read[0] : 0.98 * loss_ema + 0.02 * read[0];
    acc_ema = std::isnan(acc_ema) ? read[1] : 0.98 * acc_ema + 0.02 * read[1];
    char extra[80];
    std::snprintf(extra, sizeof extra, "loss %.4f, train accuracy (all t) %.3f", loss_ema, acc_ema);
    bar.update(step + 1, extra);
    if (every > 0 && (step + 1) % every == 0 && step + 1 < steps) save(step + 1);
  }
  bar.finish();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  save(steps);
  std::cerr << "wrote " << out << " after " << steps << " steps in " << tools::format_number(seconds) << " s\n";
  if (test_set.images.defined()) {
    clf.eval();
    Generator test_gen(seed + 1);
    std::cerr << "test accuracy on " << test_set.images.size(0) << " images:";
    for (int64_t t : {int64_t(0), diffusion.T() / 4, diffusion.T() / 2, 3 * diffusion.T() / 4, diffusion.T() - 1})
      std::cerr << " t=" << t << " " << tools::format_number(accuracy_at(clf, diffusion, test_set.images, test_set.labels, t,
                                                                          test_gen, device));
    std::cerr << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tools::run_tool("train-classifier", argc, argv, train_classifier_main); }
