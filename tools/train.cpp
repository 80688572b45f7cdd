// tools/train: trains a DDPM U-Net (a preset of docs/unet.md, any of its fields overridden from the command
// line) on Fashion-MNIST, an IDX file or a folder of images, and writes DIR/model.safetensors (EMA weights, enough to sample),
// DIR/state.safetensors (enough to resume exactly), DIR/log.csv and sample grids.
#include <atomic>
#include <csignal>
#include <iostream>
#include <sstream>
#include <vector>

#include "diffusion/data.hpp"
#include "diffusion/trainer.hpp"
#include "tool_common.hpp"

using namespace ddpm;

namespace {

std::atomic<bool> g_stop{false};

// "1,2,2" -> {1, 2, 2}; "none" or "" -> {} (for --attn-res).
std::vector<int64_t> int_list(const std::string& option, const std::string& text) {
  std::vector<int64_t> out;
  if (text == "none" || text.empty()) return out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    int64_t v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used == 0 || used != item.size())
      throw std::invalid_argument("--" + option + " is '" + text + "', expected comma-separated integers like 1,2,2");
    out.push_back(v);
  }
  return out;
}

// The model-shape options that were given replace the preset's values.
void override_shape(const cxxopts::ParseResult& args, UNetConfig& m) {
  if (args.count("in-channels")) m.in_channels = args["in-channels"].as<int64_t>();
  if (args.count("resolution")) m.resolution = args["resolution"].as<int64_t>();
  if (args.count("ch")) m.ch = args["ch"].as<int64_t>();
  if (args.count("ch-mult")) m.ch_mult = int_list("ch-mult", args["ch-mult"].as<std::string>());
  if (args.count("num-res-blocks")) m.num_res_blocks = args["num-res-blocks"].as<int64_t>();
  if (args.count("attn-res")) m.attn_resolutions = int_list("attn-res", args["attn-res"].as<std::string>());
  if (args.count("dropout")) m.dropout = args["dropout"].as<double>();
  if (args.count("groups")) m.groups = args["groups"].as<int64_t>();
  if (m.in_channels != 1 && m.in_channels != 3)
    throw std::invalid_argument("--in-channels is " + std::to_string(m.in_channels) + ", expected 1 or 3");
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
  ;
  options.add_options("Model shape (each overrides the preset's value; docs/unet.md)")
    ("in-channels", "Image channels: 1 (grey) or 3 (RGB; an image folder is converted)", cxxopts::value<int64_t>())
    ("resolution", "Image size in pixels (square); divisible by 2^(levels - 1)", cxxopts::value<int64_t>())
    ("ch", "Base channels (even, >= 4)", cxxopts::value<int64_t>())
    ("ch-mult", "Channel multiplier of each level, e.g. 1,2,2 (one level per entry)", cxxopts::value<std::string>())
    ("num-res-blocks", "ResBlocks per level going down (one more going up)", cxxopts::value<int64_t>())
    ("attn-res", "Resolutions with self-attention, e.g. 16 or 16,8, or none", cxxopts::value<std::string>())
    ("dropout", "Dropout in the ResBlocks", cxxopts::value<double>())
    ("groups", "GroupNorm groups (min(groups, channels) per layer)", cxxopts::value<int64_t>())
  ;
  options.add_options("Diffusion")
    ("schedule", "Beta schedule: linear, cosine or quadratic", cxxopts::value<std::string>()->default_value("linear"))
    ("timesteps", "T, the number of diffusion steps", cxxopts::value<int64_t>()->default_value("1000"))
    ("beta-start", "beta_1 of the linear and quadratic schedules", cxxopts::value<double>()->default_value("1e-4"))
    ("beta-end", "beta_T of the linear and quadratic schedules", cxxopts::value<double>()->default_value("0.02"))
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
  // clang-format on
  cxxopts::ParseResult args = options.parse(argc, argv);
  if (args.count("help")) {
    std::cout << options.help({"Model and data", "Model shape (each overrides the preset's value; docs/unet.md)",
                               "Diffusion", "Optimization", "Output"})
              << std::endl;
    return 0;
  }
  if (!args.unmatched().empty()) throw std::invalid_argument("unexpected argument '" + args.unmatched()[0] + "'");

  TrainOptions o;
  o.preset = args["preset"].as<std::string>();
  o.model = unet_preset(o.preset);
  o.model.upsample = args["upsample"].as<std::string>();
  override_shape(args, o.model);
  o.model.validate();
  o.diffusion.schedule = parse_beta_schedule(args["schedule"].as<std::string>());
  o.diffusion.T = args["timesteps"].as<int64_t>();
  o.diffusion.beta_start = args["beta-start"].as<double>();
  o.diffusion.beta_end = args["beta-end"].as<double>();
  o.diffusion.objective = parse_objective(args["objective"].as<std::string>());
  o.diffusion.variance = parse_variance(args["variance"].as<std::string>());
  o.diffusion.loss = args.count("loss") ? parse_loss(args["loss"].as<std::string>())
                                        : (o.diffusion.learns_variance() ? LossType::Hybrid : LossType::Simple);
  o.diffusion.vlb_weight = args["vlb-weight"].as<double>();
  o.importance_sampling = args.count("importance-sampling") > 0;
  o.model.out_channels = o.diffusion.model_output_channels(o.model.in_channels);
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
  Tensor images = load_dataset(o.data_name, o.model.resolution, o.model.in_channels);
  if (args.count("max-images")) {
    const int64_t n = args["max-images"].as<int64_t>();
    if (n < 1 || n > images.size(0))
      throw std::invalid_argument("--max-images is " + std::to_string(n) + ", expected 1 to the " +
                                  std::to_string(images.size(0)) + " images of " + o.data_name);
    images = ops::narrow(images, 0, 0, n).contiguous();
    o.data_name += " (first " + std::to_string(n) + " images)";  // recorded, and checked on resume
  }
  std::cerr << "training the " << o.preset << " U-Net (" << UNet(o.model).num_parameters() << " parameters) on "
            << images.size(0) << " images, batch " << o.batch_size << ", " << o.steps << " steps, on "
            << o.device.str() << "; writing to " << o.out_dir << "\n";

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  TrainResult r = train(o, images);
  if (r.stopped_early)
    std::cerr << "stopped at step " << r.end_step << "; continue with the same command and --resume\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return tools::run_tool("train", argc, argv, train_main); }
