// tools/sample: draws images from a model checkpoint with the DDPM sampler (Algorithm 2, on all T steps or
// a respaced S-step chain) or DDIM,
// and writes a PNG grid, and as asked the raw samples (.npy), the starting noise x_T, the
// progressive x0 predictions as a strip, or spherical interpolations between two latents.
#include <cmath>
#include <iostream>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
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

// --forward: the input images, then one draw of q(x_t | x0) at each of `frames` timesteps
// round(linspace(0, T-1, frames)), as a strip (a row per image).
void forward_strip(const cxxopts::ParseResult& args, const GaussianDiffusion& diffusion, const UNetConfig& m,
                   const std::string& out_path) {
  const std::string source = args["forward"].as<std::string>();
  const int64_t frames = args["forward-frames"].as<int64_t>();
  if (frames < 2) throw std::invalid_argument("--forward-frames is " + std::to_string(frames) + ", expected >= 2");
  const bool npy = source.size() > 4 && source.compare(source.size() - 4, 4, ".npy") == 0;
  Tensor images = npy ? load_npy(source) : load_dataset(source, m.resolution, m.in_channels);  // [N, C, H, W]
  const Shape want = {m.in_channels, m.resolution, m.resolution};
  if (images.dim() != 4 || Shape(images.shape().begin() + 1, images.shape().end()) != want)
    throw std::invalid_argument("--forward " + source + " has shape " + shape_str(images.shape()) + ", expected [N, " +
                                std::to_string(m.in_channels) + ", " + std::to_string(m.resolution) + ", " +
                                std::to_string(m.resolution) + "] for this checkpoint");
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

int sample_main(int argc, char** argv) {
  cxxopts::Options options("sample", "Sample images from a DDPM checkpoint written by tools/train.");
  options.set_width(110);
  // clang-format off
  options.add_options()
    ("checkpoint", "A model.safetensors written by tools/train", cxxopts::value<std::string>())
    ("n,num", "Number of images (also --n)", cxxopts::value<int64_t>()->default_value("64"))
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
    ("npy", "Also write the samples in [-1, 1] as float32 .npy [N, C, H, W]", cxxopts::value<std::string>())
    ("latents", "Start from this x_T (.npy float32 [N, C, H, W]) instead of drawing it", cxxopts::value<std::string>())
    ("save-latents", "Write the x_T used to this .npy", cxxopts::value<std::string>())
    ("progress", "Write the predicted x0 along the way as a PNG strip (a row per sample, the first --progress-rows)",
       cxxopts::value<std::string>())
    ("progress-frames", "Frames in the --progress strip", cxxopts::value<int64_t>()->default_value("10"))
    ("progress-rows", "Samples shown in the --progress strip (0: all)", cxxopts::value<int64_t>()->default_value("8"))
    ("interpolate", "Decode K spherical interpolations between two latents (the first two of --latents, or "
                    "two drawn from --seed) instead of N samples; use --sampler ddim (eta 0) for a smooth "
                    "path, as ddpm adds fresh noise at every step", cxxopts::value<int64_t>())
    ("forward", "Instead of sampling, show the forward process: the first --n images (default 8) of IMAGES "
                "(fashion-mnist, an IDX file, an image folder, or a .npy [N, C, H, W] in [-1, 1]) and draws of "
                "q(x_t | x0) (eq. 4) at --forward-frames timesteps from 0 to T-1, as a PNG strip in --out, a row "
                "per image (the checkpoint gives the schedule and the image size)", cxxopts::value<std::string>())
    ("forward-frames", "Timesteps shown by --forward", cxxopts::value<int64_t>()->default_value("10"))
    ("device", "cpu, cuda, cuda:N or auto", cxxopts::value<std::string>()->default_value("auto"))
    ("h,help", "Show this help")
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
  const Device device = tools::resolve_device(args["device"].as<std::string>());

  ModelCheckpoint ckpt = load_model_checkpoint(checkpoint_path);
  GaussianDiffusion diffusion(ckpt.diffusion);
  if (args.count("forward")) {
    forward_strip(args, diffusion, ckpt.unet, out_path);
    return 0;
  }
  const int64_t steps = args.count("steps") ? args["steps"].as<int64_t>() : sampler == "ddpm" ? diffusion.T() : 100;
  if (steps < 1 || steps > diffusion.T())
    throw std::invalid_argument("--steps is " + std::to_string(steps) + ", expected 1 <= S <= T = " +
                                std::to_string(diffusion.T()) + " (the checkpoint's steps)");
  if (sampler == "ddpm" && args.count("eta"))
    std::cerr << "warning: --eta is DDIM's; the ddpm sampler's noise is its variances'\n";
  // DDPM on S < T steps: the respaced chain, sampled over all of its S steps.
  if (sampler == "ddpm" && steps < diffusion.T()) diffusion = diffusion.respaced(steps);
  std::shared_ptr<UNet> model = make_unet(ckpt, device);
  const UNetConfig& m = ckpt.unet;
  const Shape image_shape = {m.in_channels, m.resolution, m.resolution};
  Generator gen(args["seed"].as<uint64_t>());

  // x_T: read, drawn, or interpolated between two latents
  Tensor x_T;
  if (args.count("latents")) {
    x_T = load_npy(args["latents"].as<std::string>());
    const Shape want = {args.count("interpolate") ? x_T.size(0) : n, m.in_channels, m.resolution, m.resolution};
    if (x_T.dim() != 4 || Shape(x_T.shape().begin() + 1, x_T.shape().end()) != image_shape ||
        (!args.count("interpolate") && args.count("num") && x_T.size(0) != n))
      throw std::invalid_argument("--latents " + args["latents"].as<std::string>() + " has shape " +
                                  shape_str(x_T.shape()) + ", expected " + shape_str(want) + " for this checkpoint");
    if (!args.count("interpolate")) n = x_T.size(0);
  }
  if (args.count("interpolate")) {
    const int64_t K = args["interpolate"].as<int64_t>();
    if (K < 2) throw std::invalid_argument("--interpolate is " + std::to_string(K) + ", expected >= 2");
    if (!x_T.defined()) x_T = randn({2, m.in_channels, m.resolution, m.resolution}, {}, &gen);
    if (x_T.size(0) < 2) throw std::invalid_argument("--interpolate needs two latents, --latents has one");
    x_T = slerp_latents(ops::select(x_T, 0, 0), ops::select(x_T, 0, 1), K);
    n = K;
  }
  if (!x_T.defined()) x_T = randn({n, m.in_channels, m.resolution, m.resolution}, {}, &gen);
  if (args.count("save-latents")) save_npy(args["save-latents"].as<std::string>(), x_T);

  SampleOptions so;
  so.x_T = x_T.to(DType::Float32).to(device);
  so.device = device;
  so.clip_denoised = args.count("no-clip") == 0;
  so.num_progress = args.count("progress") ? frames : 0;
  ProgressBar bar(std::cerr, 0, steps, sampler, 1, "step");
  so.on_step = [&bar](int64_t done, int64_t) { bar.update(done); };
  std::cerr << "sampling " << n << " images with " << sampler << " (" << steps << " steps, "
            << to_string(ckpt.diffusion.variance) << " variances) from " << checkpoint_path
            << " (step " << (ckpt.metadata.count("step") ? ckpt.metadata.at("step") : "?") << ") on " << device.str()
            << "\n";
  DenoiseModel eps_theta = [&model](const Tensor& x_t, const Tensor& t) { return model->forward(x_t, t); };
  const Shape shape = {n, m.in_channels, m.resolution, m.resolution};
  SampleResult r = sampler == "ddpm" ? diffusion.p_sample_loop(eps_theta, shape, gen, so)
                                     : diffusion.ddim_sample_loop(eps_theta, shape, steps, eta, gen, so);
  bar.finish();

  save_image_grid(out_path, r.x0, args.count("interpolate") ? n : 0);
  std::cerr << "wrote " << out_path << "\n";
  if (args.count("npy")) save_npy(args["npy"].as<std::string>(), r.x0);
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
