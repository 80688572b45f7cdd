// Model checkpoints (sampling) and training states (resuming), both safetensors files.
#include "diffusion/checkpoint.hpp"

#include <sstream>
#include <stdexcept>

#include "nn/safetensors.hpp"

namespace ddpm {

namespace {

constexpr const char* kModelFormat = "ddpmcpp-unet";
constexpr const char* kStateFormat = "ddpmcpp-train-state";
constexpr const char* kClassifierFormat = "ddpmcpp-classifier";

// Rethrows whatever `f` throws as one std::runtime_error that names the file.
template <typename F>
auto naming_file(const std::string& path, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (what.find(path) != std::string::npos) throw std::runtime_error(what);
    throw std::runtime_error(path + ": " + what);
  }
}

void check_format(const SafetensorsFile& file, const char* format) {
  auto it = file.metadata.find("format");
  if (it == file.metadata.end() || it->second != format)
    throw std::runtime_error(file.path + ": not a " + std::string(format) + " file (metadata format is '" +
                             (it == file.metadata.end() ? std::string("missing") : it->second) + "')");
}

// The tensors of `file` whose names start with `prefix`, with the prefix taken off.
StateDict with_prefix_removed(const SafetensorsFile& file, const std::string& prefix) {
  StateDict out;
  for (const auto& [name, tensor] : file.tensors)
    if (name.compare(0, prefix.size(), prefix) == 0) out.emplace_back(name.substr(prefix.size()), tensor);
  return out;
}

void append_prefixed(StateDict& out, const std::string& prefix, const StateDict& state) {
  for (const auto& [name, tensor] : state) out.emplace_back(prefix + name, tensor);
}

uint64_t parse_u64(const SafetensorsFile& file, const std::string& key) {
  auto it = file.metadata.find(key);
  if (it == file.metadata.end()) throw std::runtime_error(file.path + ": metadata has no " + key);
  try {
    size_t used = 0;
    uint64_t v = std::stoull(it->second, &used);
    if (used != it->second.size() || it->second[0] == '-') throw std::invalid_argument("");
    return v;
  } catch (const std::logic_error&) {
    throw std::runtime_error(file.path + ": metadata " + key + " = '" + it->second + "' is not an unsigned integer");
  }
}

// Writes float32 weights with both configurations and the format in the metadata, atomically.
void save_with_configs(const std::string& path, const char* format, const UNetConfig& unet,
                       const DiffusionConfig& diffusion, const StateDict& weights,
                       std::map<std::string, std::string> metadata) {
  for (const auto& kv : unet.to_metadata()) metadata[kv.first] = kv.second;
  for (const auto& kv : diffusion.to_metadata()) metadata[kv.first] = kv.second;
  metadata["format"] = format;
  StateDict float32;
  for (const auto& [name, tensor] : weights) float32.emplace_back(name, tensor.to(DType::Float32));
  save_safetensors(path, float32, metadata);
}

}  // namespace

void save_model_checkpoint(const std::string& path, const UNetConfig& unet, const DiffusionConfig& diffusion,
                           const StateDict& weights, const std::map<std::string, std::string>& extra) {
  save_with_configs(path, kModelFormat, unet, diffusion, weights, extra);
}

ModelCheckpoint load_model_checkpoint(const std::string& path) {
  return naming_file(path, [&] {
    SafetensorsFile file = load_safetensors(path);
    check_format(file, kModelFormat);
    ModelCheckpoint ckpt;
    ckpt.unet = UNetConfig::from_metadata(file.metadata);
    ckpt.diffusion = DiffusionConfig::from_metadata(file.metadata);
    ckpt.metadata = file.metadata;
    const int64_t want = ckpt.diffusion.model_output_channels(ckpt.unet.in_channels);
    if (ckpt.unet.output_channels() != want)
      throw std::runtime_error("the U-Net outputs " + std::to_string(ckpt.unet.output_channels()) +
                               " channels, but " + to_string(ckpt.diffusion.variance) + " variances need " +
                               std::to_string(want) + " for " + std::to_string(ckpt.unet.in_channels) +
                               "-channel images");
    for (const auto& [name, tensor] : file.tensors) ckpt.weights.emplace_back(name, tensor);
    // Check the weights against the configuration now, so a bad file fails here and not mid-sampling.
    UNet probe(ckpt.unet);
    probe.load_state_dict(ckpt.weights);
    return ckpt;
  });
}

namespace {

// A network of type M built from its configuration, with the weights loaded, in eval mode, on `device`.
template <typename M>
std::shared_ptr<M> make_loaded(const UNetConfig& config, const StateDict& weights, Device device) {
  auto model = std::make_shared<M>(config);
  model->load_state_dict(weights);
  model->to(device);
  model->eval();
  return model;
}

}  // namespace

std::shared_ptr<UNet> make_unet(const ModelCheckpoint& checkpoint, Device device) {
  return make_loaded<UNet>(checkpoint.unet, checkpoint.weights, device);
}

void save_classifier_checkpoint(const std::string& path, const ClassifierCheckpoint& c) {
  std::map<std::string, std::string> metadata = c.metadata;
  std::string names;
  for (const std::string& n : c.class_names) {
    if (n.find(',') != std::string::npos)
      throw std::invalid_argument("save_classifier_checkpoint: the class name '" + n + "' has a comma (the "
                                  "metadata lists the names comma-separated); rename its folder");
    names += (names.empty() ? "" : ",") + n;
  }
  metadata["classes"] = names;
  save_with_configs(path, kClassifierFormat, c.config, c.diffusion, c.weights, metadata);
}

ClassifierCheckpoint load_classifier_checkpoint(const std::string& path) {
  return naming_file(path, [&] {
    SafetensorsFile file = load_safetensors(path);
    check_format(file, kClassifierFormat);
    ClassifierCheckpoint c;
    c.config = UNetConfig::from_metadata(file.metadata);
    c.diffusion = DiffusionConfig::from_metadata(file.metadata);
    c.metadata = file.metadata;
    std::stringstream names(file.metadata.count("classes") ? file.metadata.at("classes") : "");
    for (std::string name; std::getline(names, name, ',');) c.class_names.push_back(name);
    if (int64_t(c.class_names.size()) != c.config.num_classes)
      throw std::runtime_error("the metadata names " + std::to_string(c.class_names.size()) +
                               " classes (classes), but unet.num_classes is " + std::to_string(c.config.num_classes));
    for (const auto& [name, tensor] : file.tensors) c.weights.emplace_back(name, tensor);
    NoisyClassifier probe(c.config);  // the weights must fit the configuration
    probe.load_state_dict(c.weights);
    return c;
  });
}

std::shared_ptr<NoisyClassifier> make_classifier(const ClassifierCheckpoint& checkpoint, Device device) {
  return make_loaded<NoisyClassifier>(checkpoint.config, checkpoint.weights, device);
}

void save_training_state(const std::string& path, const TrainingState& state, const Module& model, const EMA& ema,
                         const AdamW& optimizer) {
  StateDict tensors;
  append_prefixed(tensors, "model.", model.state_dict());
  append_prefixed(tensors, "ema.", ema.state_dict());
  append_prefixed(tensors, "adamw.", optimizer.state_dict());
  append_prefixed(tensors, "extra.", state.extra);
  std::map<std::string, std::string> metadata = state.metadata;
  metadata["format"] = kStateFormat;
  metadata["step"] = std::to_string(state.step);
  metadata["generator.seed"] = std::to_string(state.generator.seed);
  metadata["generator.offset"] = std::to_string(state.generator.offset);
  save_safetensors(path, tensors, metadata);
}

TrainingState load_training_state(const std::string& path, Module& model, EMA& ema, AdamW& optimizer) {
  return naming_file(path, [&] {
    SafetensorsFile file = load_safetensors(path);
    check_format(file, kStateFormat);
    TrainingState state;
    state.step = int64_t(parse_u64(file, "step"));
    state.generator.seed = parse_u64(file, "generator.seed");
    state.generator.offset = parse_u64(file, "generator.offset");
    state.metadata = file.metadata;
    model.load_state_dict(with_prefix_removed(file, "model."));
    ema.load_state_dict(with_prefix_removed(file, "ema."));
    optimizer.load_state_dict(with_prefix_removed(file, "adamw."));
    state.extra = with_prefix_removed(file, "extra.");
    return state;
  });
}

}  // namespace ddpm
