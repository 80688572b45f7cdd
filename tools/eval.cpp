// tools/eval: evaluates a model checkpoint on data: the negative log-likelihood bound (eq. 5 of Ho et al.
// 2020) in bits/dim with its terms L_T, L_1..L_{T-1} and L_0, per-t terms as CSV, and the paper's
// rate-distortion curves (Fig. 5, Sec. 4.3) as CSV and SVG; and scores samples (--fd) with our own
// classifier: the Frechet distance of its features to real images', its class histogram, and the share
// of class-conditional samples classified as the class asked for.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/image_io.hpp"
#include "diffusion/progress.hpp"
#include "diffusion/quality.hpp"
#include "plot_svg.hpp"
#include "tool_common.hpp"

using namespace ddpm;

namespace {

// The bound's numbers summed over the images seen so far (means come from dividing by n).
struct BoundSums {
  int64_t n = 0;
  std::vector<double> total;                  // [N] the whole bound of each image, bits/dim
  double prior = 0, middle = 0, decoder = 0;  // sums over images of L_T, L_1 + ... + L_{T-1}, L_0
  std::vector<double> vb, xstart_mse, eps_mse;  // [T] sums over images of each t's term
};

// Adds one batch's BpdResult, read to the host in one go.
void accumulate(BoundSums& s, const BpdResult& r) {
  const int64_t B = r.vb.size(0), T = r.vb.size(1);
  // rows [B, 2 + 3T]: total, prior, vb[0..T-1], xstart_mse[0..T-1], mse[0..T-1]
  const Tensor rows =
      ops::cat({ops::unsqueeze(r.total_bpd, 1), ops::unsqueeze(r.prior_bpd, 1), r.vb, r.xstart_mse, r.mse}, 1);
  const std::vector<double> h = rows.to_vector<double>();  // the batch's one read
  const int64_t W = 2 + 3 * T;
  if (s.vb.empty()) s.vb.assign(size_t(T), 0.0), s.xstart_mse.assign(size_t(T), 0.0), s.eps_mse.assign(size_t(T), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    const double* row = h.data() + b * W;
    const double *vb = row + 2, *xm = vb + T, *em = xm + T;
    s.total.push_back(row[0]);
    s.prior += row[1];
    s.decoder += vb[0];
    for (int64_t t = 0; t < T; ++t) {
      if (t > 0) s.middle += vb[t];
      s.vb[size_t(t)] += vb[t], s.xstart_mse[size_t(t)] += xm[t], s.eps_mse[size_t(t)] += em[t];
    }
  }
  s.n += B;
}

void open_for_writing(std::ofstream& f, const std::string& path) {
  f.open(path);
  if (!f) throw std::runtime_error("cannot write '" + path + "'");
}

// --csv: the per-t terms averaged over the images.
// t is the chain's step, timestep the original one the model saw (the same unless --steps respaced it).
void write_terms_csv(const std::string& path, const BoundSums& s, const std::vector<int64_t>& timesteps) {
  std::ofstream f;
  open_for_writing(f, path);
  f << "t,timestep,vb_bpd,xstart_mse,eps_mse\n";
  const double n = double(s.n);
  for (size_t t = 0; t < s.vb.size(); ++t) {
    char line[160];
    std::snprintf(line, sizeof line, "%zu,%lld,%.8g,%.8g,%.8g\n", t, (long long)timesteps[t], s.vb[t] / n,
                  s.xstart_mse[t] / n, s.eps_mse[t] / n);
    f << line;
  }
  if (!f.flush()) throw std::runtime_error("cannot write '" + path + "'");
}

// --rate-distortion: Fig. 5 of the paper as CSV and SVG. The receiver holding x_t (code index t, the
// paper's x_{t+1}) has received L_T and the terms of the steps above t: rate(t) = mean of prior +
// sum_{s > t} vb[s]; its estimate of x0 from x_t has distortion(t) = RMSE on [0, 255] =
// 127.5 sqrt(mean over images and pixels of xstart_mse[t]). A last row t = -1 is x0 itself, decoded
// losslessly with L_0: rate = the whole bound, distortion 0.
void write_rate_distortion(const std::string& path, const BoundSums& s, const std::vector<int64_t>& timesteps,
                           const std::string& what) {
  const int64_t T = int64_t(s.vb.size());
  const double n = double(s.n);
  std::vector<double> steps, rate, distortion;  // each [T + 1]: x = reverse steps taken, T-1-t (paper T - t)
  double received = s.prior / n;
  for (int64_t t = T - 1; t >= -1; --t) {
    if (t < T - 1) received += s.vb[size_t(t + 1)] / n;  // the term of the step just received
    steps.push_back(double(T - 1 - t));
    rate.push_back(received);
    distortion.push_back(t >= 0 ? 127.5 * std::sqrt(s.xstart_mse[size_t(t)] / n) : 0.0);
  }
  std::ofstream f;
  open_for_writing(f, path);
  f << "t,timestep,rate_bpd,distortion_rmse\n";
  for (size_t i = 0; i < steps.size(); ++i) {
    const int64_t t = T - 1 - int64_t(i);
    char line[160];
    std::snprintf(line, sizeof line, "%lld,%lld,%.8g,%.8g\n", (long long)t,
                  (long long)(t >= 0 ? timesteps[size_t(t)] : -1), rate[i], distortion[i]);
    f << line;
  }
  if (!f.flush()) throw std::runtime_error("cannot write '" + path + "'");

  namespace svg = tools::svg;
  const std::string steps_label = "reverse process steps (T - t), T = " + std::to_string(T);
  const std::vector<svg::Panel> panels = {
      {"Distortion", steps_label, "distortion (RMSE, [0, 255])", {{steps, distortion, "#1f77b4"}}},
      {"Rate", steps_label, "rate (bits/dim)", {{steps, rate, "#d62728"}}},
      {"Rate-distortion", "rate (bits/dim)", "distortion (RMSE, [0, 255])", {{rate, distortion, "#2ca02c"}}},
  };
  const std::string svg_path = std::filesystem::path(path).replace_extension(".svg").string();
  svg::write_line_plots(svg_path, panels, "Progressive coding (Ho et al. 2020, Fig. 5): " + what);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// --fd: the samples against the real images of --data under the classifier.
int fd_main(const cxxopts::ParseResult& args) {
  const std::string samples_path = tools::required<std::string>(args, "samples");
  const std::string classifier_path = tools::required<std::string>(args, "classifier");
  const std::string data = args["data"].as<std::string>(), split = args["split"].as<std::string>();
  if (split != "test" && split != "train")
    throw std::invalid_argument("--split is '" + split + "', expected test or train");
  const int64_t batch = args["batch"].as<int64_t>();
  if (batch < 1) throw std::invalid_argument("--batch is " + std::to_string(batch) + ", expected >= 1");
  const Device device = tools::resolve_device(args["device"].as<std::string>());
  const ClassifierCheckpoint cc = load_classifier_checkpoint(classifier_path);
  const UNetConfig& m = cc.config;
  const Tensor samples = load_npy(samples_path);
  if (samples.dim() != 4 || samples.size(1) != m.in_channels || samples.size(2) != m.resolution ||
      samples.size(3) != m.resolution || samples.size(0) < 2)
    throw std::invalid_argument("--samples " + samples_path + " holds " + describe(samples) + ", expected [N >= 2, " +
                                std::to_string(m.in_channels) + ", " + std::to_string(m.resolution) + ", " +
                                std::to_string(m.resolution) + "] for this classifier");
  const std::string stem = std::filesystem::path(samples_path).replace_extension("").string();
  Tensor labels;
  if (std::filesystem::exists(stem + ".labels.npy")) {
    labels = load_npy(stem + ".labels.npy");
    if (labels.dim() != 1 || labels.size(0) != samples.size(0))
      throw std::invalid_argument(stem + ".labels.npy holds " + describe(labels) + ", expected one label per sample");
  }
  const std::string data_path = data == "fashion-mnist" ? default_fashion_mnist_path(split) : data;
  Tensor real = load_dataset(data_path, m.resolution, m.in_channels);
  if (args.count("num")) real = ops::narrow(real, 0, 0, std::min(real.size(0), args["num"].as<int64_t>()));
  auto classifier = make_classifier(cc, device);
  std::cerr << "scoring " << samples.size(0) << " samples of " << samples_path << " against " << real.size(0)
            << " images of " << data_path << " with " << classifier_path << " on " << device.str() << "\n";
  const auto start = std::chrono::steady_clock::now();
  const FeatureStats reference = feature_statistics(classify_images(*classifier, real, batch, device).features);
  const QualityScore score = score_samples(classify_images(*classifier, samples, batch, device), reference,
                                           m.num_classes, labels);
  std::printf("Frechet distance of classifier features (not FID): %.3f  (%lld samples against %lld real images)\n",
              score.fd, (long long)score.n, (long long)real.size(0));
  if (data == "fashion-mnist") {
    // The floor: as many real training images scored the same way (FD grows as the count falls).
    const Tensor train = ops::narrow(load_dataset("fashion-mnist", m.resolution, m.in_channels), 0, 0, samples.size(0));
    const double floor = frechet_distance(feature_statistics(classify_images(*classifier, train, batch, device).features),
                                          reference);
    std::printf("  the same count of real training images: %.3f\n", floor);
  }
  std::printf("class histogram of the samples:\n");
  for (int64_t k = 0; k < m.num_classes; ++k)
    std::printf("  %2lld %-14s %6lld  %5.1f%%\n", (long long)k, cc.class_names[size_t(k)].c_str(),
                (long long)score.histogram[size_t(k)], 100.0 * double(score.histogram[size_t(k)]) / double(score.n));
  if (score.class_match >= 0)
    std::printf("classified as the class asked for (%s): %.3f\n", (stem + ".labels.npy").c_str(), score.class_match);
  std::printf("time          %.1f s\n", seconds_since(start));
  return 0;
}

int eval_main(int argc, char** argv) {
  cxxopts::Options options("eval", "Evaluate a DDPM checkpoint written by tools/train on data.");
  options.set_width(110);
  // clang-format off
  options.add_options()
    ("checkpoint", "A model.safetensors written by tools/train", cxxopts::value<std::string>())
    ("nll", "Task: the negative log-likelihood bound L (eq. 5) in bits/dim, with its terms L_T, L_1..L_{T-1} "
            "and L_0 (T model evaluations per image; clips the predicted x0 to [-1, 1])")
    ("data", "fashion-mnist (the Debian package dataset-fashion-mnist, split --split, padded to the model's "
             "size), an IDX image file (.gz or raw; its channels must be the model's, its images no larger) "
             "or a folder of PNG/JPEG images (converted to the model's channels, resized and center-cropped)",
       cxxopts::value<std::string>()->default_value("fashion-mnist"))
    ("split", "test or train: which Fashion-MNIST split (only with --data fashion-mnist; an error with a "
              "file or folder, which is used whole)", cxxopts::value<std::string>()->default_value("test"))
    ("n,num", "Evaluate the first N images of the data (also --n; default: all of them)", cxxopts::value<int64_t>())
    ("batch", "Images per batch", cxxopts::value<int64_t>()->default_value("64"))
    ("steps", "Evaluate the bound of the S-step chain respaced from the checkpoint's T steps (timesteps "
              "round(linspace(0, T-1, S))) instead: a different, coarser model than the T-step one, and "
              "T/S times quicker", cxxopts::value<int64_t>())
    ("variance", "sigma_t^2 of the reverse process for a fixed-variance checkpoint: beta or beta-tilde "
                 "(default: the checkpoint's); a learned-range checkpoint uses its learned variances",
       cxxopts::value<std::string>())
    ("seed", "Seed of the noise of x_t ~ q(x_t | x0), drawn batch after batch (so the numbers depend on "
             "--batch too)", cxxopts::value<uint64_t>()->default_value("0"))
    ("csv", "Write the per-t terms averaged over the images: t, timestep, vb_bpd (L_t; L_0 at t = 0), "
            "xstart_mse, eps_mse (t = 0..T-1, the chain's 0-based step, the paper's step t+1; timestep: the "
            "original step the model saw, another number only with --steps)", cxxopts::value<std::string>())
    ("rate-distortion", "Write the rate-distortion curve of Fig. 5 to this CSV (t, timestep, rate_bpd, distortion_rmse; "
                        "t = T-1 down to 0, the receiver holding x_t, then t = -1: x0 decoded losslessly, "
                        "rate the whole bound, distortion 0) and its plots beside it as .svg",
       cxxopts::value<std::string>())
    ("fd", "Task: score --samples with --classifier at t = 0: the Frechet distance between the features of "
           "the samples and of --data (FID's formula on our classifier's features: NOT FID, comparable only "
           "between runs scored with the same classifier), the samples' class histogram, and with labels the "
           "share classified as the class asked for; also the distance of as many real training images, the "
           "floor for that sample count")
    ("samples", "The samples to score: a .npy [N, C, H, W] in [-1, 1] (tools/sample --npy); labels are read "
                "from NAME.labels.npy beside it when it exists", cxxopts::value<std::string>())
    ("classifier", "A classifier.safetensors from tools/train-classifier", cxxopts::value<std::string>())
    ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"))
    ("h,help", "Show this help")
  ;
  // clang-format on
  const std::optional<cxxopts::ParseResult> parsed = tools::parse_args(options, argc, argv);
  if (!parsed) return 0;  // --help
  const cxxopts::ParseResult& args = *parsed;

  // ---- the options, checked before anything is loaded
  if (args.count("nll") + args.count("fd") != 1)
    throw std::invalid_argument(args.count("nll") ? "ask for one task at a time: --nll or --fd"
                                                  : "nothing to do: ask for --nll (the bound in bits/dim) or --fd "
                                                    "(the quality score of --samples)");
  if (args.count("fd")) return fd_main(args);
  const std::string checkpoint_path = tools::required<std::string>(args, "checkpoint");
  const std::string data = args["data"].as<std::string>();
  const std::string split = args["split"].as<std::string>();
  if (data != "fashion-mnist" && args.count("split"))
    throw std::invalid_argument("--split applies to --data fashion-mnist only; '" + data + "' is used whole");
  if (split != "test" && split != "train")
    throw std::invalid_argument("--split is '" + split + "', expected test or train");
  const int64_t batch = args["batch"].as<int64_t>();
  if (batch < 1) throw std::invalid_argument("--batch is " + std::to_string(batch) + ", expected >= 1");
  if (args.count("num") && args["num"].as<int64_t>() < 1)
    throw std::invalid_argument("--n is " + std::to_string(args["num"].as<int64_t>()) + ", expected >= 1");
  if (args.count("rate-distortion") &&
      std::filesystem::path(args["rate-distortion"].as<std::string>()).extension() == ".svg")
    throw std::invalid_argument("--rate-distortion names the CSV to write; the .svg is written beside it");
  const Device device = tools::resolve_device(args["device"].as<std::string>());

  // ---- the model and its diffusion
  ModelCheckpoint ckpt = load_model_checkpoint(checkpoint_path);
  DiffusionConfig dc = ckpt.diffusion;
  if (args.count("variance")) {
    const VarianceType v = parse_variance(args["variance"].as<std::string>());
    if (dc.learns_variance() && v != VarianceType::LearnedRange)
      throw std::invalid_argument("--variance " + to_string(v) + ": the checkpoint learns its variances "
                                  "(learned-range); --variance applies to fixed-variance checkpoints only");
    if (!dc.learns_variance() && v == VarianceType::LearnedRange)
      throw std::invalid_argument("--variance learned-range: the checkpoint's model predicts no variances (it "
                                  "was trained with " + to_string(dc.variance) + "); use beta or beta-tilde");
    dc.variance = v;
  }
  GaussianDiffusion diffusion(dc);
  if (args.count("steps")) {
    const int64_t S = args["steps"].as<int64_t>();
    if (S < 1 || S > diffusion.T())
      throw std::invalid_argument("--steps is " + std::to_string(S) + ", expected 1 <= S <= T = " +
                                  std::to_string(diffusion.T()) + " (the checkpoint's steps)");
    diffusion = diffusion.respaced(S);
  }
  const int64_t T = diffusion.T();
  std::shared_ptr<UNet> model = make_unet(ckpt, device);
  const UNetConfig& m = ckpt.unet;

  // ---- the data. The loaders give x = p / 127.5 - 1 for bytes p in 0..255: exactly the 256 levels the
  // decoder's discretized likelihood (eq. 13) assumes, so L_0 is a probability of the true pixels.
  const std::string data_path = data == "fashion-mnist" ? default_fashion_mnist_path(split) : data;
  const std::string data_name = data == "fashion-mnist" ? "fashion-mnist " + split : data;
  std::error_code ec;
  if (data == "fashion-mnist" && !std::filesystem::exists(data_path, ec))
    throw std::runtime_error("Fashion-MNIST not found at '" + data_path + "': install the Debian package "
                             "dataset-fashion-mnist, or set DDPM_FASHION_MNIST_DIR");
  const Tensor images = load_dataset(data_path, m.resolution, m.in_channels);  // [N_all, C, H, W] on the CPU
  const int64_t available = images.size(0);
  const int64_t n = args.count("num") ? args["num"].as<int64_t>() : available;
  if (n > available)
    throw std::invalid_argument("--n is " + std::to_string(n) + ", but " + data_name + " holds only " +
                                std::to_string(available) + " images");

  // ---- the bound, batch by batch
  const std::string chain = args.count("steps") ? "the respaced " + std::to_string(T) + "-step chain (of " +
                                                      std::to_string(ckpt.diffusion.T) + ")"
                                                : "all T = " + std::to_string(T) + " steps";
  std::cerr << "evaluating the bound of " << checkpoint_path << " (step "
            << (ckpt.metadata.count("step") ? ckpt.metadata.at("step") : "?") << ") on the first " << n << " of "
            << available << " images of " << data_name << ", " << chain << ", variance " << to_string(dc.variance)
            << ", batch " << batch << ", on " << device.str() << "\n";
  DenoiseModel eps_theta = [&model](const Tensor& x_t, const Tensor& t) { return model->forward(x_t, t); };
  Generator gen(args["seed"].as<uint64_t>());
  ProgressBar bar(std::cerr, 0, n * T, "nll", 1, "img-steps");
  BoundSums sums;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t B = std::min(batch, n - first);
    const Tensor x0 = ops::narrow(images, 0, first, B).to(device);  // [B, C, H, W]
    BpdResult r = diffusion.calc_bpd_loop(eps_theta, x0, gen, /*clip_denoised=*/true,
                                          [&](int64_t done, int64_t) { bar.update(first * T + done * B); });
    accumulate(sums, r);
  }
  bar.finish();
  const double seconds = seconds_since(start);

  // ---- the report
  double mean = 0, var = 0;
  for (double v : sums.total) mean += v / double(n);
  for (double v : sums.total) var += (v - mean) * (v - mean) / double(std::max<int64_t>(n - 1, 1));
  std::printf("NLL bound of %s on %lld images of %s (%s, variance %s)\n", checkpoint_path.c_str(), (long long)n,
              data_name.c_str(), chain.c_str(), to_string(dc.variance).c_str());
  if (args.count("steps"))
    std::printf("  (the bound of the respaced chain: a coarser model than the checkpoint's T = %lld steps)\n",
                (long long)ckpt.diffusion.T);
  if (n > 1) std::printf("bits/dim      %.4f +- %.4f (standard error)\n", mean, std::sqrt(var / double(n)));
  else std::printf("bits/dim      %.4f (one image: no standard error)\n", mean);
  std::printf("  L_T (prior)             %.6f\n", sums.prior / double(n));
  std::printf("  L_1..L_{T-1} (summed)   %.6f\n", sums.middle / double(n));
  std::printf("  L_0 (decoder)           %.6f\n", sums.decoder / double(n));
  std::printf("time          %.1f s, %.2f images/s\n", seconds, double(n) / seconds);
  if (args.count("csv")) {
    write_terms_csv(args["csv"].as<std::string>(), sums, diffusion.timestep_map());
    std::printf("wrote %s\n", args["csv"].as<std::string>().c_str());
  }
  if (args.count("rate-distortion")) {
    const std::string path = args["rate-distortion"].as<std::string>();
    char what[256];
    std::snprintf(what, sizeof what, "%lld images of %s, %lld steps, %.3f bits/dim", (long long)n, data_name.c_str(),
                  (long long)T, mean);
    write_rate_distortion(path, sums, diffusion.timestep_map(), what);
    std::printf("wrote %s and %s\n", path.c_str(), std::filesystem::path(path).replace_extension(".svg").c_str());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tools::run_tool("eval", argc, argv, eval_main); }
