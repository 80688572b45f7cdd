// The two files a training run writes: model.safetensors (the EMA weights under the spec's names,
// with the model and diffusion configuration in its metadata, everything sampling needs) and
// state.safetensors (weights, EMA, AdamW moments, step and RNG state: everything resuming needs).
#pragma once
#include <map>
#include <memory>
#include <string>

#include "diffusion/classifier.hpp"
#include "diffusion/gaussian_diffusion.hpp"
#include "diffusion/unet.hpp"
#include "nn/ema.hpp"
#include "nn/optim.hpp"

namespace ddpm {

// What a model checkpoint holds: enough to rebuild the network and its diffusion, and sample.
struct ModelCheckpoint {
  UNetConfig unet;
  DiffusionConfig diffusion;
  StateDict weights;                            // the spec's parameter names, float32
  std::map<std::string, std::string> metadata;  // everything in the file's metadata (step, preset, ...)
};

// Writes `weights` (the names of model.state_dict()) and both configurations, plus `extra` metadata
// (e.g. "step"), atomically. The file marks itself with format = ddpmcpp-unet.
void save_model_checkpoint(const std::string& path, const UNetConfig& unet, const DiffusionConfig& diffusion,
                           const StateDict& weights, const std::map<std::string, std::string>& extra = {});
// Reads and validates a model checkpoint: a missing, truncated or malformed file, another format,
// a configuration that does not parse, or weights that do not fit that configuration throw
// std::runtime_error naming the file and the problem.
ModelCheckpoint load_model_checkpoint(const std::string& path);
// The checkpoint's U-Net, with its weights loaded, in eval mode, on `device`.
std::shared_ptr<UNet> make_unet(const ModelCheckpoint& checkpoint, Device device);

// A noise-aware classifier written by tools/train-classifier (format = ddpmcpp-classifier): its shape
// (unet.* keys, unet.num_classes the classes), the diffusion it was trained for (its schedule and T),
// the class names (metadata classes, comma-separated) and the weights.
struct ClassifierCheckpoint {
  UNetConfig config;
  DiffusionConfig diffusion;
  std::vector<std::string> class_names;
  StateDict weights;
  std::map<std::string, std::string> metadata;
};
void save_classifier_checkpoint(const std::string& path, const ClassifierCheckpoint& checkpoint);
// Validates as load_model_checkpoint does (std::runtime_error naming the file).
ClassifierCheckpoint load_classifier_checkpoint(const std::string& path);
std::shared_ptr<NoisyClassifier> make_classifier(const ClassifierCheckpoint& checkpoint, Device device);

// The training state: the model's own (not averaged) weights, the EMA, AdamW, the step and the
// generator that draws t, the noise and the dropout masks.
struct TrainingState {
  int64_t step = 0;
  Generator::State generator;
  std::map<std::string, std::string> metadata;  // the run's settings, checked on resume
  StateDict extra;                              // other state of the run (the timestep resampler's), saved
                                                // under "extra." and given back as it was
};
void save_training_state(const std::string& path, const TrainingState& state, const Module& model, const EMA& ema,
                         const AdamW& optimizer);
// Loads into model, ema and optimizer (which must be built with the same configuration) and returns
// the step, generator state and metadata. Throws std::runtime_error naming the file on any mismatch.
TrainingState load_training_state(const std::string& path, Module& model, EMA& ema, AdamW& optimizer);

}  // namespace ddpm
