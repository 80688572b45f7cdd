// tools/sample: draws images from a model checkpoint with the DDPM sampler (Algorithm 2, on all T steps or
// a respaced S-step chain) or DDIM, unconditionally or for chosen classes (classifier-free or classifier
// guidance), from noise or from real images noised to a chosen t (Figs. 7-8), and writes a PNG grid, and
// as asked the raw samples (.npy), the starting noise x_T, the progressive x0 predictions as a strip,
// interpolations, or the forward process as a strip.
#include <cmath>
#include <iostream>
#include <sstream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/editing.hpp"
#include "diffusion/guidance.hpp"
#include "diffusion/image_io.hpp"
#include "diffusion/progress.hpp"
#include "tool_common.hpp"

using namespace ddpm;

namespace {

// Spherical interpolation between two latents z0, z1 ([C, H, W] each) at K evenly spaced points,
// including both ends: [K, C, H, W]. Gaussian latents keep their norm this way, unlike a straight line.
Tensor slerp_latents(const Tensor& z0, const Tensor& z1, int64_t K) {
  std::vector<double> a = z0.to_vector<double>(), b = z1.to_vector<double>();
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) dot += a[i] * b[i], na += a[i] * a[i], nb += b[i] * b[i];
  const double theta = std::acos(std::clamp(dot / std::sqrt(na * nb), -1.0, 1.0));
  std::vector<float> out;
  out.reserve(a.size() * size_t(K));
  for (int64_t k = 0; k < K; ++k) {
    const double alpha = K == 1 ? 0.0 : double(k) / double(K - 1);
    // sin((1 - alpha) theta) / sin(theta) z0 + sin(alpha theta) / sin(theta) z1; a line when theta ~ 0
    double wa = 1 - alpha, wb = alpha;
    if (std::sin(theta) > 1e-6) wa = std::sin((1 - alpha) * theta) / std::sin(theta), wb = std::sin(alpha * theta) / std::sin(theta);
    for (size_t i = 0; i < a.size(); ++i) out.push_back(float(wa * a[i] + wb * b[i]));
  }
  Shape shape = z0.shape();
  shape.insert(shape.begin(), K);
  return Tensor::from_vector(out, shape);
}

// Images named by --forward or --init: one spec or several joined by commas (each fashion-mnist, an IDX
// file, an image folder, a PNG/JPEG or a .npy), as [N, C, H, W] for this checkpoint.
Tensor load_images_arg(const std::string& option, const std::string& specs, const UNetConfig& m) {
  std::vector<Tensor> parts;
  std::stringstream in(specs);
  for (std::string spec; std::getline(in, spec, ',');) {
    Tensor images;
    try {
      images = load_dataset(spec, m.resolution, m.in_channels);
    } catch (const std::exception& e) {
      throw std::invalid_argument("--" + option + ": " + e.what());
    }
    const Shape want = {m.in_channels, m.resolution, m.resolution};
    if (images.dim() != 4 || Shape(images.shape().begin() + 1, images.shape().end()) != want)
      throw std::invalid_argument("--" + option + " " + spec + " has shape " + shape_str(images.shape()) +
                                  ", expected [N, " + std::to_string(m.in_channels) + ", " +
                                  std::to_string(m.resolution) + ", " + std::to_string(m.resolution) +
                                  "] for this checkpoint");
    parts.push_back(images.to(DType::Float32));
  }
  if (parts.empty()) throw std::invalid_argument("--" + option + " names no images");
  return ops::cat(parts, 0);
}

// --forward: the input images, then one draw of q(x_t | x0) at each of `frames` timesteps
// round(linspace(0, T-1, frames)), as a strip (a row per image).
void forward_strip(const cxxopts::ParseResult& args, const GaussianDiffusion& diffusion, const UNetConfig& m,
                   const std::string& out_path) {
  const std::string source = args["forward"].as<std::string>();
  const int64_t frames = args["forward-frames"].as<int64_t>();
  if (frames < 2) throw std::invalid_argument("--forward-frames is " + std::to_string(frames) + ", expected >= 2");
  Tensor images = load_images_arg("forward", source, m);  // [N, C, H, W]
  const int64_t n = args.count("num") ? args["num"].as<int64_t>() : std::min<int64_t>(8, images.size(0));
  if (n < 1 || n > images.size(0))
    throw std::invalid_argument("--n is " + std::to_string(n) + ", but " + source + " holds " +
                                std::to_string(images.size(0)) + " images");
  const Tensor x0 = ops::narrow(images, 0, 0, n).to(DType::Float32);  // [n, C, H, W]
  Generator gen(args["seed"].as<uint64_t>());
  std::vector<Tensor> strip = {x0};
  std::string shown;
  const int64_t T = diffusion.T();
  for (int64_t j = 0; j < frames; ++j) {
    const int64_t t = int64_t(std::nearbyint(double(j) * double(T - 1) / double(frames - 1)));
    const Tensor steps = full({n}, double(t), TensorOptions(DType::Int64));
    strip.push_back(diffusion.q_sample(x0, steps, randn(x0.shape(), {}, &gen)));
    shown += (j ? ", " : "") + std::to_string(t);
  }
  save_image_strip(out_path, strip);
  std::cerr << "wrote " << out_path << ": " << n << " images of " << source << ", then q(x_t | x0) at t = " << shown
            << "\n";
}

// The class labels of a batch: --class K (every row K) or all (rows grouped by class, per_class each).
Tensor class_labels(const std::string& spec, int64_t rows, int64_t per_class, int64_t num_classes) {
  std::vector<int64_t> y(static_cast<size_t>(rows));
  if (spec == "all") {
    for (int64_t i = 0; i < rows; ++i) y[size_t(i)] = i / per_class;
  } else {
    int64_t k = -1;
    try {
      size_t used = 0;
      k = std::stoll(spec, &used);
      if (used != spec.size()) k = -1;
    } catch (const std::logic_error&) {
    }
    if (k < 0 || k >= num_classes)
      throw std::invalid_argument("--class is '" + spec + "', expected a class 0 to " + std::to_string(num_classes - 1) +
                                  " or all");
    std::fill(y.begin(), y.end(), k);
  }
  return Tensor::from_vector(y, {rows});
}

int sample_main(int argc, char** argv) {
  cxxopts::Options options("sample", "Sample images from a DDPM checkpoint written by tools/train.");
  options.set_width(110);
  // clang-format off
  options.add_options()
    ("checkpoint", "A model.safetensors written by tools/train", cxxopts::value<std::string>())
    ("n,num", "Number of images (also --n); with --class all, images per class (default 8); with --init, "
              "input images (default 8)", cxxopts::value<int64_t>()->default_value("64"))
    ("sampler", "ddpm (ancestral, Algorithm 2) or ddim (Song et al. 2021)",
       cxxopts::value<std::string>()->default_value("ddpm"))
    ("steps", "Steps S, the timesteps round(linspace(0, T-1, S)). ddim: default 100. ddpm: default all T; "
              "S < T samples the respaced S-step chain (betas recomputed for it, as improved-diffusion's "
              "SpacedDiffusion), with the checkpoint's fixed or learned variances",
       cxxopts::value<int64_t>())
    ("eta", "DDIM eta: 0 deterministic, 1 as stochastic as DDPM (DDIM's sigma comes from eta, also for "
            "learned variances, as improved-diffusion)", cxxopts::value<double>()->default_value("0"))
    ("no-clip", "Do not clip the predicted x0 to [-1, 1] along the way")
    ("seed", "Seed of x_T and the sampler's noise", cxxopts::value<uint64_t>()->default_value("0"))
    ("out", "The PNG grid to write", cxxopts::value<std::string>())
    ("npy", "Also write the samples in [-1, 1] as float32 .npy [N, C, H, W] (with --class, their labels "
            "beside it as NAME.labels.npy, float32 [N])", cxxopts::value<std::string>())
    ("latents", "Start from this x_T (.npy float32 [N, C, H, W]) instead of drawing it", cxxopts::value<std::string>())
    ("save-latents", "Write the x_T used to this .npy", cxxopts::value<std::string>())
    ("progress", "Write the predicted x0 along the way as a PNG strip (a row per sample, the first --progress-rows)",
       cxxopts::value<std::string>())
    ("progress-frames", "Frames in the --progress strip", cxxopts::value<int64_t>()->default_value("10"))
    ("progress-rows", "Samples shown in the --progress strip (0: all)", cxxopts::value<int64_t>()->default_value("8"))
    ("interpolate", "Decode K interpolations instead of N samples. Without --init: spherical, between two "
                    "latents x_T (the first two of --latents, or two drawn from --seed); use --sampler ddim "
                    "(eta 0) for a smooth path. With --init A,B --start-t t: the paper's Fig. 8, both images "
                    "noised to t with the same noise, linearly interpolated in x_t, and decoded with the same "
                    "noise for every row (the grid: A, the K decodings, B)", cxxopts::value<int64_t>())
    ("forward", "Instead of sampling, show the forward process: the first --n images (default 8) of IMAGES "
                "(fashion-mnist, an IDX file, an image folder, a PNG/JPEG, or a .npy [N, C, H, W] in [-1, 1]) "
                "and draws of q(x_t | x0) (eq. 4) at --forward-frames timesteps from 0 to T-1, as a PNG strip "
                "in --out, a row per image (the checkpoint gives the schedule and the image size)",
       cxxopts::value<std::string>())
    ("forward-frames", "Timesteps shown by --forward", cxxopts::value<int64_t>()->default_value("10"))
    ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"))
    ("h,help", "Show this help")
  ;
  options.add_options("Classes and guidance")
    ("class", "A class-conditional model's class: K (0 .. num_classes-1) for every image, or all (a grid with a "
              "row of --n images per class). Without it a class-conditional model samples unconditionally "
              "(the null class)", cxxopts::value<std::string>())
    ("guidance", "Classifier-free guidance weight w (Ho & Salimans 2022), in the convention "
                 "eps = eps(x, null) + w (eps(x, c) - eps(x, null)): w = 0 is the unconditional model, w = 1 "
                 "plain conditional sampling, w > 1 stronger guidance (their w' = w - 1). Both halves run in "
                 "one batch", cxxopts::value<double>()->default_value("1"))
    ("classifier", "Classifier guidance (Dhariwal & Nichol 2021) toward --class with a classifier.safetensors "
                   "from tools/train-classifier: the mean moves by s Sigma grad log p(y | x_t) (ddpm), or eps "
                   "by -s sqrt(1 - abar) grad (ddim)", cxxopts::value<std::string>())
    ("classifier-scale", "The scale s of classifier guidance", cxxopts::value<double>()->default_value("1"))
  ;
  options.add_options("Editing real images (Figs. 7 and 8)")
    ("init", "Start from these images instead of noise: IMAGES (fashion-mnist, an IDX file, an image folder, a "
             "PNG/JPEG, a .npy, or several joined by commas), the first --n of them, each noised to x_t with q "
             "(eq. 4) at --start-t and sampled back with the reverse chain from there (SDEdit-style "
             "editing). The grid: a row per input with the input, x_t and --per-input samples",
       cxxopts::value<std::string>())
    ("start-t", "The timestep index t of --init (0 .. T-1, the paper's t - 1): 0 gives back nearly the input, "
                "T-1 samples as from noise; a respaced chain starts at its last step <= t",
       cxxopts::value<int64_t>())
    ("per-input", "Samples of p(x0 | x_t) per --init image, all from the same x_t (Fig. 7)",
       cxxopts::value<int64_t>()->default_value("4"))
  ;
  // clang-format on
  const std::optional<cxxopts::ParseResult> parsed = tools::parse_args(options, argc, argv);
  if (!parsed) return 0;  // --help
  const cxxopts::ParseResult& args = *parsed;

  const std::string checkpoint_path = tools::required<std::string>(args, "checkpoint");
  const std::string out_path = tools::required<std::string>(args, "out");
  const std::string sampler = args["sampler"].as<std::string>();
  if (sampler != "ddpm" && sampler != "ddim")
    throw std::invalid_argument("--sampler is '" + sampler + "', expected ddpm or ddim");
  int64_t n = args["num"].as<int64_t>();
  if (n < 1) throw std::invalid_argument("--n is " + std::to_string(n) + ", expected >= 1");
  const double eta = args["eta"].as<double>();
  if (!(eta >= 0)) throw std::invalid_argument("--eta is " + std::to_string(eta) + ", expected >= 0");
  const int64_t frames = args["progress-frames"].as<int64_t>();
  if (frames < 1) throw std::invalid_argument("--progress-frames must be >= 1");
  const int64_t progress_rows = args["progress-rows"].as<int64_t>();
  if (progress_rows < 0) throw std::invalid_argument("--progress-rows must be >= 0 (0: all)");
  const double w = args["guidance"].as<double>();
  if (!std::isfinite(w)) throw std::invalid_argument("--guidance is not a finite number");
  const double classifier_scale = args["classifier-scale"].as<double>();
  if (!std::isfinite(classifier_scale)) throw std::invalid_argument("--classifier-scale is not a finite number");
  const int64_t per_input = args["per-input"].as<int64_t>();
  if (per_input < 1) throw std::invalid_argument("--per-input is " + std::to_string(per_input) + ", expected >= 1");
  const bool init = args.count("init") > 0, interpolate = args.count("interpolate") > 0;
  if (init != (args.count("start-t") > 0)) throw std::invalid_argument("--init and --start-t go together");
  if (init && args.count("latents")) throw std::invalid_argument("--init starts from images; leave out --latents");
  const std::string class_spec = args.count("class") ? args["class"].as<std::string>() : "";
  if (class_spec == "all" && (init || interpolate))
    throw std::invalid_argument("--class all draws a grid of classes from noise; with --init or --interpolate give one "
                                "class K");
  if (args.count("classifier") && class_spec.empty())
    throw std::invalid_argument("--classifier guides toward a class: give --class K or all");
  const Device device = tools::resolve_device(args["device"].as<std::string>());

  ModelCheckpoint ckpt = load_model_checkpoint(checkpoint_path);
  GaussianDiffusion diffusion(ckpt.diffusion);
  if (args.count("forward")) {
    forward_strip(args, diffusion, ckpt.unet, out_path);
    return 0;
  }
  const UNetConfig& m = ckpt.unet;
  if (!class_spec.empty() && !m.class_conditional() && !args.count("classifier"))
    throw std::invalid_argument("--class needs a class-conditional model (this one was trained without --class-cond) "
                                "or a --classifier to guide it");
  if (args.count("guidance") && (class_spec.empty() || !m.class_conditional()))
    std::cerr << "warning: --guidance mixes a class-conditional model's predictions for --class; it is unused here\n";
  const int64_t steps = args.count("steps") ? args["steps"].as<int64_t>() : sampler == "ddpm" ? diffusion.T() : 100;
  if (steps < 1 || steps > diffusion.T())
    throw std::invalid_argument("--steps is " + std::to_string(steps) + ", expected 1 <= S <= T = " +
                                std::to_string(diffusion.T()) + " (the checkpoint's steps)");
  if (sampler == "ddpm" && args.count("eta"))
    std::cerr << "warning: --eta is DDIM's; the ddpm sampler's noise is its variances'\n";
  // DDPM on S < T steps: the respaced chain, sampled over all of its S steps.
  if (sampler == "ddpm" && steps < diffusion.T()) diffusion = diffusion.respaced(steps);
  std::shared_ptr<UNet> model = make_unet(ckpt, device);
  std::optional<ClassifierCheckpoint> classifier_file;
  if (args.count("classifier")) classifier_file = load_classifier_checkpoint(args["classifier"].as<std::string>());
  // The classes --class counts: the model's, or the guiding classifier's for an unconditional model.
  const int64_t classes = m.class_conditional() ? m.num_classes : classifier_file ? classifier_file->config.num_classes : 0;
  const Shape image_shape = {m.in_channels, m.resolution, m.resolution};
  Generator gen(args["seed"].as<uint64_t>());

  SampleOptions so;
  so.device = device;
  so.clip_denoised = args.count("no-clip") == 0;
  so.num_progress = args.count("progress") ? frames : 0;
  int64_t ncols = 0;              // the grid's columns (0: square)
  std::vector<Tensor> strip_head;  // --init: the inputs and x_t, shown before the samples
  Tensor x_T;
  int64_t ddim_steps = steps;

  if (init) {
    // Fig. 7: inputs noised to x_t (one x_t per input, shared by its per_input samples), sampled back from there.
    const Tensor images = load_images_arg("init", args["init"].as<std::string>(), m);
    const int64_t start_t = args["start-t"].as<int64_t>();
    const int64_t step = sampler == "ddpm" ? chain_step_at_or_below(diffusion, start_t) : start_t;
    if (sampler == "ddim") {
      chain_step_at_or_below(diffusion, start_t);  // checks the range
      ddim_steps = std::min(steps, start_t + 1);
    }
    const int64_t t_actual = diffusion.timestep_map()[size_t(step)];
    so.start_step = step;
    if (interpolate) {
      if (images.size(0) < 2)
        throw std::invalid_argument("--interpolate with --init needs two images (--init A,B), got " +
                                    std::to_string(images.size(0)));
      const int64_t K = args["interpolate"].as<int64_t>();
      if (K < 2) throw std::invalid_argument("--interpolate is " + std::to_string(K) + ", expected >= 2");
      const Tensor xa = ops::narrow(images, 0, 0, 1), xb = ops::narrow(images, 0, 1, 1);
      const Tensor noise = randn(xa.shape(), {}, &gen);  // the same noise for both
      x_T = interpolate_noised(diffusion, xa, xb, K, step, noise);
      so.shared_noise = true;
      strip_head = {xa, xb};
      n = K;
      std::cerr << "interpolating " << K << " points between two images noised to t = " << t_actual << "\n";
    } else {
      const int64_t inputs = args.count("num") ? n : std::min<int64_t>(8, images.size(0));
      if (inputs > images.size(0))
        throw std::invalid_argument("--n is " + std::to_string(inputs) + ", but --init holds " +
                                    std::to_string(images.size(0)) + " images");
      const Tensor x0 = ops::narrow(images, 0, 0, inputs);  // [inputs, C, H, W]
      const Tensor t = full({inputs}, double(step), TensorOptions(DType::Int64));
      const Tensor x_t = diffusion.q_sample(x0, t, randn(x0.shape(), {}, &gen));  // eq. 4
      std::vector<int64_t> rows;  // each input's x_t, per_input times in a row
      for (int64_t i = 0; i < inputs; ++i)
        for (int64_t j = 0; j < per_input; ++j) rows.push_back(i);
      x_T = ops::index_select(x_t, 0, Tensor::from_vector(rows, {int64_t(rows.size())}));
      strip_head = {x0, x_t};
      n = inputs * per_input;
      std::cerr << "editing " << inputs << " images: noised to t = " << t_actual << ", " << per_input
                << " samples of p(x0 | x_t) each\n";
    }
  } else {
    // x_T: read, drawn, or interpolated between two latents
    if (class_spec == "all") {
      const int64_t per_class = args.count("num") ? n : 8;
      n = per_class * classes;
      ncols = per_class;
    }
    if (args.count("latents")) {
      x_T = load_npy(args["latents"].as<std::string>());
      const Shape want = {interpolate ? x_T.size(0) : n, m.in_channels, m.resolution, m.resolution};
      if (x_T.dim() != 4 || Shape(x_T.shape().begin() + 1, x_T.shape().end()) != image_shape ||
          (!interpolate && args.count("num") && x_T.size(0) != n))
        throw std::invalid_argument("--latents " + args["latents"].as<std::string>() + " has shape " +
                                    shape_str(x_T.shape()) + ", expected " + shape_str(want) + " for this checkpoint");
      if (!interpolate) n = x_T.size(0);
    }
    if (interpolate) {
      const int64_t K = args["interpolate"].as<int64_t>();
      if (K < 2) throw std::invalid_argument("--interpolate is " + std::to_string(K) + ", expected >= 2");
      if (!x_T.defined()) x_T = randn({2, m.in_channels, m.resolution, m.resolution}, {}, &gen);
      if (x_T.size(0) < 2) throw std::invalid_argument("--interpolate needs two latents, --latents has one");
      x_T = slerp_latents(ops::select(x_T, 0, 0), ops::select(x_T, 0, 1), K);
      n = K;
    }
    if (!x_T.defined()) x_T = randn({n, m.in_channels, m.resolution, m.resolution}, {}, &gen);
  }
  if (args.count("save-latents")) save_npy(args["save-latents"].as<std::string>(), x_T);
  so.x_T = x_T.to(DType::Float32).to(device);

  // The model: plain, or toward --class (classifier-free guidance with weight w), plus classifier guidance.
  Tensor labels;
  DenoiseModel eps_theta = [&model](const Tensor& x_t, const Tensor& t) { return model->forward(x_t, t); };
  std::shared_ptr<NoisyClassifier> classifier;
  std::string guided;
  if (!class_spec.empty()) {
    labels = class_labels(class_spec, n, ncols > 0 ? ncols : n, classes).to(device);
    if (m.class_conditional()) {
      eps_theta = classifier_free_guidance(*model, labels, w);
      guided = ", class " + class_spec + ", guidance w = " + tools::format_number(w);
    }
  }
  if (classifier_file) {
    const ClassifierCheckpoint& cc = *classifier_file;
    if (cc.config.in_channels != m.in_channels || cc.config.resolution != m.resolution || cc.diffusion.T != ckpt.diffusion.T ||
        cc.diffusion.schedule != ckpt.diffusion.schedule)
      throw std::invalid_argument("--classifier " + args["classifier"].as<std::string>() +
                                  " was trained for other images or another schedule (" + std::to_string(cc.config.resolution) +
                                  " px, T = " + std::to_string(cc.diffusion.T) + ") than this model's");
    if (m.class_conditional() && cc.config.num_classes != m.num_classes)
      throw std::invalid_argument("--classifier tells " + std::to_string(cc.config.num_classes) +
                                  " classes apart, the model has " + std::to_string(m.num_classes));
    classifier = make_classifier(cc, device);
    so.cond_fn = classifier_guidance(*classifier, labels, classifier_scale);
    guided += ", classifier guidance s = " + tools::format_number(classifier_scale);
  }
  if (m.class_conditional() && class_spec.empty()) guided = ", unconditional (the null class)";

  const int64_t total_steps = init ? (sampler == "ddpm" ? so.start_step + 1 : ddim_steps) : steps;
  ProgressBar bar(std::cerr, 0, total_steps, sampler, 1, "step");
  so.on_step = [&bar](int64_t done, int64_t) { bar.update(done); };
  std::cerr << "sampling " << n << " images with " << sampler << " (" << total_steps << " steps, "
            << to_string(ckpt.diffusion.variance) << " variances" << guided << ") from " << checkpoint_path
            << " (step " << (ckpt.metadata.count("step") ? ckpt.metadata.at("step") : "?") << ") on " << device.str()
            << "\n";
  const Shape shape = {n, m.in_channels, m.resolution, m.resolution};
  SampleResult r = sampler == "ddpm" ? diffusion.p_sample_loop(eps_theta, shape, gen, so)
                                     : diffusion.ddim_sample_loop(eps_theta, shape, ddim_steps, eta, gen, so);
  bar.finish();

  if (init && interpolate) {
    // One row: A, the K decodings, B.
    save_image_grid(out_path, ops::cat({strip_head[0], r.x0.cpu(), strip_head[1]}, 0), n + 2);
  } else if (init) {
    // A row per input: the input, x_t, then its samples.
    const int64_t inputs = n / per_input;
    std::vector<Tensor> columns = strip_head;
    const Tensor samples = ops::reshape(r.x0.cpu(), {inputs, per_input, m.in_channels, m.resolution, m.resolution});
    for (int64_t j = 0; j < per_input; ++j) columns.push_back(ops::select(samples, 1, j));
    save_image_strip(out_path, columns);
  } else {
    save_image_grid(out_path, r.x0, interpolate ? n : ncols);
  }
  std::cerr << "wrote " << out_path << "\n";
  if (args.count("npy")) {
    const std::string npy = args["npy"].as<std::string>();
    save_npy(npy, r.x0);
    if (labels.defined()) {
      const std::string stem = npy.size() > 4 && npy.compare(npy.size() - 4, 4, ".npy") == 0 ? npy.substr(0, npy.size() - 4) : npy;
      save_npy(stem + ".labels.npy", labels);
    }
  }
  if (args.count("progress")) {
    std::vector<Tensor> frames_shown;  // each [rows, C, H, W]
    const int64_t rows = progress_rows == 0 ? n : std::min(progress_rows, n);
    for (const Tensor& frame : r.progress) frames_shown.push_back(ops::narrow(frame, 0, 0, rows));
    save_image_strip(args["progress"].as<std::string>(), frames_shown);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tools::run_tool("sample", argc, argv, sample_main); }
