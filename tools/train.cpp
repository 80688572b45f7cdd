// tools/train: trains a DDPM U-Net (a preset of docs/unet.md, any of its fields overridden from the command
// line) on Fashion-MNIST, an IDX file or a folder of images, and writes DIR/model.safetensors (EMA weights, enough to sample),
// DIR/state.safetensors (enough to resume exactly), DIR/log.csv and sample grids.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/quality.hpp"
#include "diffusion/trainer.hpp"
#include "model_options.hpp"
#include "tool_common.hpp"

using namespace ddpm;

namespace {

std::atomic<bool> g_stop{false};

// --eval-every: o.evaluate samples the EMA model, scores it with the classifier against the reference
// images' statistics (computed once here) and appends a row to DIR/eval.csv.
void setup_eval(const cxxopts::ParseResult& args, TrainOptions& o) {
  o.eval_every = args["eval-every"].as<int64_t>();
  const std::string classifier_path = tools::required<std::string>(args, "eval-classifier");
  const int64_t samples = args["eval-samples"].as<int64_t>(), steps = args["eval-steps"].as<int64_t>();
  if (samples < 2) throw std::invalid_argument("--eval-samples is " + std::to_string(samples) + ", expected >= 2");
  if (steps < 1 || steps > o.diffusion.T)
    throw std::invalid_argument("--eval-steps is " + std::to_string(steps) + ", expected 1 to T");
  std::string reference = args.count("eval-reference") ? args["eval-reference"].as<std::string>() : "";
  if (reference.empty() && args["data"].as<std::string>() != "fashion-mnist")
    throw std::invalid_argument("--eval-every needs --eval-reference (the real images to score against) for --data " +
                                args["data"].as<std::string>());
  const ClassifierCheckpoint cc = load_classifier_checkpoint(classifier_path);
  if (cc.config.in_channels != o.model.in_channels || cc.config.resolution != o.model.resolution)
    throw std::invalid_argument("--eval-classifier " + classifier_path + " takes other images than this model");
  auto classifier = make_classifier(cc, o.device);
  const Tensor real = reference.empty() ? load_idx_images(default_fashion_mnist_path("test"), o.model.resolution)
                                        : load_dataset(reference, o.model.resolution, o.model.in_channels);
  const FeatureStats stats = feature_statistics(classify_images(*classifier, real, 256, o.device).features);
  std::filesystem::create_directories(o.out_dir);
  const std::string csv = (std::filesystem::path(o.out_dir) / "eval.csv").string();
  if (!o.resume || !std::filesystem::exists(csv)) std::ofstream(csv) << "step,fd,class_match\n";
  const GaussianDiffusion diffusion(o.diffusion);
  const UNetConfig m = o.model;
  const Device device = o.device;
  const uint64_t seed = o.seed;
  o.evaluate = [=](int64_t step, UNet& model) {
    Generator gen(seed + 2);  // the same x_T at every evaluation
    Tensor labels;
    if (m.class_conditional()) {
      std::vector<int64_t> y(static_cast<size_t>(samples));
      for (size_t i = 0; i < y.size(); ++i) y[i] = int64_t(i) % m.num_classes;
      labels = Tensor::from_vector(y, {samples}).to(device);
    }
    DenoiseModel eps = [&model, &labels](const Tensor& x, const Tensor& t) { return model.forward(x, t, labels); };
    SampleOptions so;
    so.device = device;
    const Tensor x0 = diffusion.ddim_sample_loop(eps, {samples, m.in_channels, m.resolution, m.resolution}, steps, 0.0,
                                                 gen, so).x0;
    const QualityScore score = score_samples(classify_images(*classifier, x0, 256, device), stats,
                                             cc.config.num_classes, labels.defined() ? labels.cpu() : Tensor());
    std::ofstream(csv, std::ios::app) << step << "," << score.fd << "," << (score.class_match >= 0 ? tools::format_number(score.class_match) : "") << "\n";
    return to_string(score);
  };
}

void on_signal(int) {
  if (g_stop.exchange(true)) std::_Exit(130);  // a second Ctrl-C quits at once
}

int train_main(int argc, char** argv) {
  cxxopts::Options options("train", "Train a DDPM (Ho et al. 2020) U-Net on images, on the CPU or a GPU.\n"
                                    "Ctrl-C saves a checkpoint and stops; --resume continues it exactly.");
  options.set_width(110);
  // clang-format off
  options.add_options("Model and data")
    ("preset", "U-Net preset: tiny (267k parameters, the CPU demo), small (1.6M) or cifar10 (35.7M, the paper's)",
       cxxopts::value<std::string>()->default_value("tiny"))
    ("upsample", "Upsampling in the U-Net: nearest (2x nearest then a 3x3 conv) or transposed",
       cxxopts::value<std::string>()->default_value("nearest"))
    ("data", "fashion-mnist (the Debian package dataset-fashion-mnist, padded to 32x32), an IDX image file "
             "(.gz or raw), or a folder of PNG/JPEG images (resized and center-cropped)",
       cxxopts::value<std::string>()->default_value("fashion-mnist"))
    ("hflip", "Random horizontal flips of the training images")
    ("max-images", "Train on the first N images of --data only", cxxopts::value<int64_t>())
    ("class-cond", "Train a class-conditional model (Ho & Salimans 2022): a class embedding added to the time "
                   "embedding; labels from Fashion-MNIST's label file, --labels (IDX, with an IDX --data), or "
                   "an image folder's subfolders (one per class)")
    ("labels", "IDX label file of an IDX --data (with --class-cond)", cxxopts::value<std::string>())
    ("p-uncond", "With --class-cond: the probability that a training label is replaced by the null class, so "
                 "that one network also learns the unconditional model (classifier-free guidance)",
       cxxopts::value<double>()->default_value("0.1"))
  ;
  tools::add_shape_options(options);
  tools::add_schedule_options(options);
  options.add_options("Diffusion")
    ("objective", "What the network predicts: eps (the paper's L_simple), x0 or v",
       cxxopts::value<std::string>()->default_value("eps"))
    ("variance", "sigma_t^2 of the reverse process, stored in the checkpoint: beta or beta-tilde (fixed, the "
                 "paper's), or learned-range (the U-Net outputs 2C channels, the second half v giving log sigma^2 "
                 "= (v+1)/2 log beta + (1-v)/2 log beta-tilde; Nichol & Dhariwal 2021)",
       cxxopts::value<std::string>()->default_value("beta"))
    ("loss", "simple (L_simple, eq. 14), hybrid (L_simple + lambda L_vlb, the mean's gradient stopped in "
             "L_vlb; needs learned-range) or vlb (the bound alone); default: simple for fixed variances, "
             "hybrid for learned-range", cxxopts::value<std::string>())
    ("vlb-weight", "lambda of the hybrid loss (L_vlb in bits/dim, estimated as T L_t)",
       cxxopts::value<double>()->default_value("0.001"))
    ("importance-sampling", "With --loss vlb: draw t with probability ~ sqrt(E[L_t^2]) from the last 10 "
                            "losses at each t (uniform until every t has 10), weighing each by 1/(T p_t)")
  ;
  options.add_options("Optimization")
    ("steps", "Total optimizer steps (with --resume: train on up to this step)",
       cxxopts::value<int64_t>()->default_value("2000"))
    ("batch", "Images per step", cxxopts::value<int64_t>()->default_value("64"))
    ("lr", "AdamW learning rate after warmup", cxxopts::value<double>()->default_value("2e-4"))
    ("warmup", "Steps of linear learning-rate warmup from 0", cxxopts::value<int64_t>()->default_value("100"))
    ("grad-clip", "Clip the global gradient norm to this (0: no clipping)", cxxopts::value<double>()->default_value("1.0"))
    ("weight-decay", "AdamW weight decay", cxxopts::value<double>()->default_value("0"))
    ("ema-decay", "Decay of the weights' moving average that is saved and sampled",
       cxxopts::value<double>()->default_value("0.9999"))
    ("seed", "Seed of the init, the batches, t, the noise and dropout", cxxopts::value<uint64_t>()->default_value("0"))
    ("device", "cpu, cuda, cuda:N or auto (a GPU when there is one)", cxxopts::value<std::string>()->default_value("auto"))
  ;
  options.add_options("Output")
    ("out", "Output directory (created if needed)", cxxopts::value<std::string>())
    ("resume", "Continue the run in --out from its state.safetensors, with the same options")
    ("checkpoint-every", "Write the checkpoints every N steps (and always at the end; 0: only at the end)",
       cxxopts::value<int64_t>()->default_value("500"))
    ("sample-every", "Write a sample grid every N steps (and at the end; 0: only at the end)",
       cxxopts::value<int64_t>()->default_value("500"))
    ("sample-count", "Images in each sample grid", cxxopts::value<int64_t>()->default_value("16"))
    ("sample-steps", "DDIM steps for those grids (tools/sample runs the full sampler)",
       cxxopts::value<int64_t>()->default_value("50"))
    ("h,help", "Show this help")
  ;
  options.add_options("Quality score during training")
    ("eval-every", "Every N steps (and at the end), score --eval-samples DDIM samples of the EMA model with "
                   "--eval-classifier: the Frechet distance of its t = 0 features to the reference images' "
                   "(not FID), and for a class-conditional model the share classified as the class asked for; "
                   "written to DIR/eval.csv and shown on the progress line", cxxopts::value<int64_t>())
    ("eval-classifier", "A classifier.safetensors from tools/train-classifier", cxxopts::value<std::string>())
    ("eval-samples", "Samples per score", cxxopts::value<int64_t>()->default_value("500"))
    ("eval-steps", "DDIM steps (eta 0) of those samples", cxxopts::value<int64_t>()->default_value("50"))
    ("eval-reference", "The real images scored against (default: Fashion-MNIST's test split with --data "
                       "fashion-mnist; otherwise required)", cxxopts::value<std::string>())
  ;
  // clang-format on
  cxxopts::ParseResult args = options.parse(argc, argv);
  if (args.count("help")) {
    std::cout << options.help({"Model and data", tools::kShapeGroup,
                               "Diffusion", "Optimization", "Output", "Quality score during training"})
              << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) throw std::invalid_argument("unexpected argument '" + args.unmatched()[0] + "'");

  TrainOptions o;
  o.preset = args["preset"].as<std::string>();
  o.model = unet_preset(o.preset);
  o.model.upsample = args["upsample"].as<std::string>();
  tools::override_shape(args, o.model);
  o.model.validate();
  tools::read_schedule(args, o.diffusion);
  o.diffusion.objective = parse_objective(args["objective"].as<std::string>());
  o.diffusion.variance = parse_variance(args["variance"].as<std::string>());
  o.diffusion.loss = args.count("loss") ? parse_loss(args["loss"].as<std::string>())
                                        : (o.diffusion.learns_variance() ? LossType::Hybrid : LossType::Simple);
  o.diffusion.vlb_weight = args["vlb-weight"].as<double>();
  o.importance_sampling = args.count("importance-sampling") > 0;
  o.model.out_channels = o.diffusion.model_output_channels(o.model.in_channels);
  o.p_uncond = args["p-uncond"].as<double>();
  const bool class_cond = args.count("class-cond") > 0;
  if (!class_cond && (args.count("labels") || args.count("p-uncond")))
    throw std::invalid_argument("--labels and --p-uncond are for class-conditional training: add --class-cond");
  o.steps = args["steps"].as<int64_t>();
  o.batch_size = args["batch"].as<int64_t>();
  o.lr = args["lr"].as<double>();
  o.warmup_steps = args["warmup"].as<int64_t>();
  o.grad_clip = args["grad-clip"].as<double>();
  o.weight_decay = args["weight-decay"].as<double>();
  o.ema_decay = args["ema-decay"].as<double>();
  o.seed = args["seed"].as<uint64_t>();
  o.hflip = args.count("hflip") > 0;
  o.out_dir = tools::required<std::string>(args, "out");
  o.resume = args.count("resume") > 0;
  o.checkpoint_every = args["checkpoint-every"].as<int64_t>();
  o.sample_every = args["sample-every"].as<int64_t>();
  o.sample_count = args["sample-count"].as<int64_t>();
  o.sample_steps = args["sample-steps"].as<int64_t>();
  o.device = tools::resolve_device(args["device"].as<std::string>());
  o.data_name = args["data"].as<std::string>();
  o.log = &std::cerr;
  o.stop_requested = [] { return g_stop.load(); };

  validate_options(o);  // every check that does not need the data, before it loads
  if (args.count("vlb-weight") && o.diffusion.loss != LossType::Hybrid)
    std::cerr << "warning: --vlb-weight weighs L_vlb in the hybrid loss only; the " << to_string(o.diffusion.loss)
              << " loss does not use it\n";
  std::cerr << "loading " << o.data_name << " ...\n";
  Tensor images, labels;
  std::vector<std::string> class_names;
  if (class_cond) {
    LabeledImages d = load_labeled_dataset(o.data_name, o.model.resolution, o.model.in_channels,
                                           args.count("labels") ? args["labels"].as<std::string>() : "");
    images = d.images, labels = d.labels, class_names = d.class_names;
    o.model.num_classes = int64_t(class_names.size());
  } else {
    images = load_dataset(o.data_name, o.model.resolution, o.model.in_channels);
  }
  if (args.count("max-images")) {
    const int64_t n = args["max-images"].as<int64_t>();
    if (n < 1 || n > images.size(0))
      throw std::invalid_argument("--max-images is " + std::to_string(n) + ", expected 1 to the " +
                                  std::to_string(images.size(0)) + " images of " + o.data_name);
    images = ops::narrow(images, 0, 0, n).contiguous();
    if (labels.defined()) labels = ops::narrow(labels, 0, 0, n).contiguous();
    o.data_name += " (first " + std::to_string(n) + " images)";  // recorded, and checked on resume
  }
  if (args.count("eval-every")) setup_eval(args, o);
  std::cerr << "training the " << o.preset << (class_cond ? " class-conditional" : "") << " U-Net ("
            << UNet(o.model).num_parameters() << " parameters) on " << images.size(0) << " images"
            << (class_cond ? " of " + std::to_string(class_names.size()) + " classes" : "") << ", batch " << o.batch_size << ", " << o.steps << " steps, on "
            << o.device.str() << "; writing to " << o.out_dir << "\n";

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  TrainResult r = train(o, images, labels);
  if (r.stopped_early)
    std::cerr << "stopped at step " << r.end_step << "; continue with the same command and --resume\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tools::run_tool("train", argc, argv, train_main); }
