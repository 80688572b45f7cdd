// The options that tools/train and tools/train-classifier share: the model's shape (each overrides a
// field of the preset, docs/unet.md) and the beta schedule.
#pragma once
#include <cxxopts.hpp>

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/unet.hpp"

namespace ddpm::tools {

inline const char* kShapeGroup = "Model shape (each overrides the preset's value; docs/unet.md)";

inline void add_shape_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options(kShapeGroup)
    ("in-channels", "Image channels: 1 (grey) or 3 (RGB; an image folder is converted)", cxxopts::value<int64_t>())
    ("resolution", "Image size in pixels (square); divisible by 2^(levels - 1)", cxxopts::value<int64_t>())
    ("ch", "Base channels (even, >= 4)", cxxopts::value<int64_t>())
    ("ch-mult", "Channel multiplier of each level, e.g. 1,2,2 (one level per entry)", cxxopts::value<std::string>())
    ("num-res-blocks", "ResBlocks per level going down (one more going up)", cxxopts::value<int64_t>())
    ("attn-res", "Resolutions with self-attention, e.g. 16 or 16,8, or none", cxxopts::value<std::string>())
    ("dropout", "Dropout in the ResBlocks", cxxopts::value<double>())
    ("groups", "GroupNorm groups (min(groups, channels) per layer)", cxxopts::value<int64_t>())
  ;
  // clang-format on
}

// The beta schedule, in the group "Diffusion".
inline void add_schedule_options(cxxopts::Options& options) {
  // clang-format off
  options.add_options("Diffusion")
    ("schedule", "Beta schedule: linear, cosine or quadratic", cxxopts::value<std::string>()->default_value("linear"))
    ("timesteps", "T, the number of diffusion steps", cxxopts::value<int64_t>()->default_value("1000"))
    ("beta-start", "beta_1 of the linear and quadratic schedules", cxxopts::value<double>()->default_value("1e-4"))
    ("beta-end", "beta_T of the linear and quadratic schedules", cxxopts::value<double>()->default_value("0.02"))
  ;
  // clang-format on
}
inline void read_schedule(const cxxopts::ParseResult& args, DiffusionConfig& d) {
  d.schedule = parse_beta_schedule(args["schedule"].as<std::string>());
  d.T = args["timesteps"].as<int64_t>();
  d.beta_start = args["beta-start"].as<double>();
  d.beta_end = args["beta-end"].as<double>();
}

// "1,2,2" -> {1, 2, 2}; "none" or "" -> {} (for --attn-res).
inline std::vector<int64_t> int_list(const std::string& option, const std::string& text) {
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
inline void override_shape(const cxxopts::ParseResult& args, UNetConfig& m) {
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
}  // namespace ddpm::tools
