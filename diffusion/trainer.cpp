// The training loop and the files it keeps: the CSV log, sample grids and the two checkpoints.
#include "diffusion/trainer.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "diffusion/checkpoint.hpp"
#include "diffusion/data.hpp"
#include "diffusion/image_io.hpp"
#include "diffusion/progress.hpp"
#include "diffusion/resample.hpp"
#include "nn/ema.hpp"
#include "nn/lr_schedule.hpp"
#include "nn/optim.hpp"

namespace ddpm {

namespace fs = std::filesystem;

void validate_options(const TrainOptions& o) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("train: " + what); };
  o.model.validate();
  if (o.steps < 1) fail("steps is " + std::to_string(o.steps) + ", expected >= 1");
  if (o.batch_size < 1) fail("batch size is " + std::to_string(o.batch_size) + ", expected >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) fail("lr is " + std::to_string(o.lr) + ", expected > 0");
  if (o.warmup_steps < 0) fail("warmup is " + std::to_string(o.warmup_steps) + ", expected >= 0");
  if (!(o.grad_clip >= 0)) fail("grad clip is " + std::to_string(o.grad_clip) + ", expected >= 0 (0: off)");
  if (!(o.weight_decay >= 0)) fail("weight decay is " + std::to_string(o.weight_decay) + ", expected >= 0");
  if (!(o.ema_decay >= 0 && o.ema_decay < 1)) fail("EMA decay is " + std::to_string(o.ema_decay) + ", expected in [0, 1)");
  if (o.checkpoint_every < 0 || o.sample_every < 0) fail("checkpoint and sample intervals must be >= 0");
  if (o.sample_count < 1 || o.sample_steps < 1) fail("sample count and sample steps must be >= 1");
  if (o.sample_steps > o.diffusion.T) fail("sample steps " + std::to_string(o.sample_steps) + " exceed T = " +
                                           std::to_string(o.diffusion.T));
  if (o.resume && o.out_dir.empty()) fail("resume needs the output directory of the run to continue");
  if (!(o.p_uncond >= 0 && o.p_uncond <= 1)) fail("p_uncond (--p-uncond) is " + std::to_string(o.p_uncond) + ", expected in [0, 1]");
  if (o.eval_every < 0) fail("eval interval (--eval-every) is " + std::to_string(o.eval_every) + ", expected >= 0");
  if (o.eval_every > 0 && !o.evaluate) fail("eval_every is set but there is no evaluate function");
  o.diffusion.validate();
  if (o.importance_sampling && o.diffusion.loss != LossType::Vlb)
    fail("importance sampling of t is for the vlb loss (the loss is " + to_string(o.diffusion.loss) +
         "): use --loss vlb, or leave out --importance-sampling");
  const UNetConfig& m = o.model;
  const int64_t out_channels = o.diffusion.model_output_channels(m.in_channels);
  if (m.output_channels() != out_channels)
    fail("the U-Net outputs " + std::to_string(m.output_channels()) + " channels; " + to_string(o.diffusion.variance) +
         " variances need " + std::to_string(out_channels) +
         ": set the model's out_channels to diffusion.model_output_channels(in_channels)");
}

namespace {

void validate_images(const TrainOptions& o, const Tensor& images, const Tensor& labels) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("train: " + what); };
  const UNetConfig& m = o.model;
  if (images.dim() != 4 || images.size(1) != m.in_channels || images.size(2) != m.resolution ||
      images.size(3) != m.resolution)
    fail("the images are " + shape_str(images.shape()) + ", the model takes [N, " + std::to_string(m.in_channels) +
         ", " + std::to_string(m.resolution) + ", " + std::to_string(m.resolution) + "]");
  if (images.size(0) < 1) fail("the data set is empty");
  if (!m.class_conditional()) {
    if (labels.defined()) fail("labels were given for an unconditional model (num_classes 0; use --class-cond)");
    return;
  }
  if (!labels.defined()) fail("a class-conditional model needs a label for every image");
  if (labels.dim() != 1 || labels.size(0) != images.size(0) || labels.dtype() != DType::Int64)
    fail("labels are " + describe(labels) + ", expected int64 [" + std::to_string(images.size(0)) + "]");
  const int64_t lo = ops::min(labels).item<int64_t>(), hi = ops::max(labels).item<int64_t>();
  if (lo < 0 || hi >= m.num_classes)
    fail("labels run from " + std::to_string(lo) + " to " + std::to_string(hi) + ", but the model has " +
         std::to_string(m.num_classes) + " classes (0 .. " + std::to_string(m.num_classes - 1) + ")");
}

std::string number(double v) {
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

// The settings a resumed run must share with the run it continues (the step count may grow).
std::map<std::string, std::string> run_settings(const TrainOptions& o) {
  std::map<std::string, std::string> m = o.model.to_metadata();
  for (const auto& kv : o.diffusion.to_metadata()) m[kv.first] = kv.second;
  m["train.data"] = o.data_name;
  m["train.batch_size"] = std::to_string(o.batch_size);
  m["train.lr"] = number(o.lr);
  m["train.warmup_steps"] = std::to_string(o.warmup_steps);
  m["train.grad_clip"] = number(o.grad_clip);
  m["train.weight_decay"] = number(o.weight_decay);
  m["train.ema_decay"] = number(o.ema_decay);
  m["train.hflip"] = o.hflip ? "1" : "0";
  m["train.importance_sampling"] = o.importance_sampling ? "1" : "0";
  if (o.model.class_conditional()) m["train.p_uncond"] = number(o.p_uncond);
  m["train.seed"] = std::to_string(o.seed);
  return m;
}

void check_same_settings(const std::string& path, std::map<std::string, std::string> saved,
                         const std::map<std::string, std::string>& now) {
  // A state written before these settings existed had their defaults.
  if (!saved.count("unet.out_channels") && saved.count("unet.in_channels"))
    saved["unet.out_channels"] = saved["unet.in_channels"];
  saved.emplace("diffusion.loss", "simple");
  saved.emplace("train.importance_sampling", "0");
  std::string diffs;
  for (const auto& [key, value] : now) {
    auto it = saved.find(key);
    std::string old = it == saved.end() ? "(missing)" : it->second;
    if (old != value) diffs += "\n  " + key + ": " + old + " in the checkpoint, " + value + " now";
  }
  if (!diffs.empty())
    throw std::runtime_error(path + " was written with other settings; resume with the same options:" + diffs);
}

// log.csv: one row per step. A resumed run keeps the rows up to the step it resumes from.
class CsvLog {
 public:
  CsvLog(const std::string& path, int64_t resume_step, double* seconds_before) {
    std::vector<std::string> kept;
    if (resume_step > 0) {
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        if (line.empty() || line[0] == 's') continue;  // the header
        int64_t step = std::atoll(line.c_str());
        if (step > resume_step) break;
        kept.push_back(line);
        *seconds_before = std::atof(line.substr(line.rfind(',') + 1).c_str());
      }
    }
    out_.open(path, std::ios::trunc);
    if (!out_) throw std::runtime_error("train: cannot write " + path);
    out_ << "step,loss,lr,grad_norm,seconds\n";
    for (const std::string& line : kept) out_ << line << '\n';
  }
  void row(int64_t step, double loss, double lr, double grad_norm, double seconds) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%lld,%.6g,%.6g,%.6g,%.2f\n", (long long)step, loss, lr, grad_norm, seconds);
    out_ << buf;
  }
  void flush() { out_.flush(); }

 private:
  std::ofstream out_;
};

}  // namespace

TrainResult train(const TrainOptions& o, const Tensor& images, const Tensor& labels) {
  validate_options(o);
  validate_images(o, images, labels);
  std::ostream* log = o.log;
  if (!o.out_dir.empty()) fs::create_directories(o.out_dir);
  const std::string state_path = (fs::path(o.out_dir) / "state.safetensors").string();
  const std::string model_path = (fs::path(o.out_dir) / "model.safetensors").string();

  // One generator draws the init, then t, the noise and the dropout masks, so that its saved state
  // is all a resumed run needs to draw the same numbers. The batches come from their own stream.
  Generator gen(o.seed);
  UNet model(o.model, &gen);
  model.to(o.device);
  model.train();
  GaussianDiffusion diffusion(o.diffusion);
  AdamW optimizer(model.parameters(), AdamWOptions{o.lr, 0.9, 0.999, 1e-8, o.weight_decay});
  EMA ema(model.parameters(), o.ema_decay, /*warmup=*/true);
  LossSecondMomentResampler resampler(diffusion.T());  // used with importance_sampling only
  const std::map<std::string, std::string> settings = run_settings(o);

  TrainResult result;
  if (o.resume) {
    if (!fs::exists(state_path))
      throw std::runtime_error("train: --resume but " + state_path + " does not exist (start without --resume)");
    TrainingState state = load_training_state(state_path, model, ema, optimizer);
    check_same_settings(state_path, state.metadata, settings);
    if (o.importance_sampling) resampler.load_state_dict(state.extra);
    if (state.step >= o.steps)
      throw std::runtime_error(state_path + " is already at step " + std::to_string(state.step) +
                               "; pass --steps larger than that to train on");
    gen.set_state(state.generator);
    result.start_step = state.step;
    if (log) *log << "resuming from step " << state.step << " of " << state_path << "\n";
  }
  result.end_step = result.start_step;

  // The network as the diffusion code sees it, and a second copy with the EMA weights for samples.
  // y: the labels of the batch being trained on (class-conditional models), set each step.
  Tensor y;
  DenoiseModel eps_theta = [&model, &y](const Tensor& x_t, const Tensor& t) { return model.forward(x_t, t, y); };
  UNet ema_model(o.model);
  ema_model.to(o.device);
  ema_model.eval();

  // The generator as it was after the last completed step: what a checkpoint of that step must hold.
  Generator::State completed_gen = gen.state();
  auto save_checkpoints = [&](int64_t step) {
    if (o.out_dir.empty()) return;
    TrainingState state{step, completed_gen, settings, {}};
    if (o.importance_sampling) state.extra = resampler.state_dict();
    save_training_state(state_path, state, model, ema, optimizer);
    ema.copy_to(ema_model.parameters());
    save_model_checkpoint(model_path, o.model, o.diffusion, ema_model.state_dict(),
                          {{"step", std::to_string(step)}, {"preset", o.preset}, {"weights", "ema"},
                           {"data", o.data_name}});
  };
  auto save_samples = [&](int64_t step) {
    if (o.out_dir.empty()) return;
    ema.copy_to(ema_model.parameters());
    // A fixed seed, so that the grids of one run show the same x_T at every step; a class-conditional
    // model draws image i of class i mod num_classes.
    Generator sample_gen(o.seed + 1);
    const UNetConfig& m = o.model;
    Tensor classes;
    if (m.class_conditional()) {
      std::vector<int64_t> c(size_t(o.sample_count));
      for (size_t i = 0; i < c.size(); ++i) c[i] = int64_t(i) % m.num_classes;
      classes = Tensor::from_vector(c, {o.sample_count}).to(o.device);
    }
    DenoiseModel ema_eps = [&ema_model, &classes](const Tensor& x_t, const Tensor& t) {
      return ema_model.forward(x_t, t, classes);
    };
    SampleOptions so;
    so.device = o.device;
    SampleResult r = diffusion.ddim_sample_loop(ema_eps, {o.sample_count, m.in_channels, m.resolution, m.resolution},
                                                o.sample_steps, 0.0, sample_gen, so);
    char name[64];
    std::snprintf(name, sizeof name, "samples_%07lld.png", (long long)step);
    save_image_grid((fs::path(o.out_dir) / name).string(), r.x0, m.class_conditional() ? m.num_classes : 0);
  };
  std::string last_eval;  // what the last evaluation returned, shown on the progress line
  auto evaluate = [&](int64_t step) {
    ema.copy_to(ema_model.parameters());
    last_eval = o.evaluate(step, ema_model);
    if (log) *log << "\nstep " << step << ": " << last_eval << "\n";
  };

  double seconds_before = 0.0;
  std::unique_ptr<CsvLog> csv;
  if (!o.out_dir.empty())
    csv = std::make_unique<CsvLog>((fs::path(o.out_dir) / "log.csv").string(), result.start_step, &seconds_before);

  BatchLoader loader(images, o.batch_size, o.seed, o.hflip, o.device, result.start_step, labels);
  std::unique_ptr<ProgressBar> bar;
  if (log) bar = std::make_unique<ProgressBar>(*log, result.start_step, o.steps, "train", o.batch_size, "img");
  const auto began = std::chrono::steady_clock::now();
  int64_t nonfinite_in_a_row = 0;
  double loss_ema = NAN;

  try {
    for (int64_t step = result.start_step; step < o.steps; ++step) {
      if (o.stop_requested && o.stop_requested()) {
        result.stopped_early = true;
        break;
      }
      if (o.model.class_conditional())  // [B], some dropped to the null class
        y = loader.labels(loader.next_index(), o.p_uncond, o.model.null_class()).to(o.device);
      Tensor x0 = loader.next();  // [B, C, H, W]
      const double lr = warmup_constant_lr(step, o.lr, o.warmup_steps);
      Tensor loss, per_sample;  // scalar; [B] with importance sampling
      LossSecondMomentResampler::Draw draw;
      if (o.importance_sampling) {
        // t ~ p_t, weighed by 1 / (T p_t); the per-sample losses go back into the sampler's history.
        draw = resampler.sample(x0.size(0), gen, x0.device());
        Tensor noise = randn(x0.shape(), TensorOptions(x0.dtype(), x0.device()), &gen);
        per_sample = diffusion.training_loss_terms(eps_theta, x0, draw.t, noise).per_sample;
        loss = mean(per_sample * draw.weights);
      } else {
        loss = diffusion.training_losses(eps_theta, x0, gen);
      }
      backward(loss);
      // Clipping stays on the device; the loss and the gradient norm then come to the host together,
      // in the step's one read (its one wait for a GPU), with the per-sample losses when they are needed.
      const Tensor norm = clip_grad_norm_(model.parameters(), o.grad_clip > 0 ? o.grad_clip : INFINITY);
      std::vector<Tensor> to_read = {ops::reshape(loss.to(DType::Float64), {1}), ops::reshape(norm, {1})};
      if (per_sample.defined()) to_read.push_back(detach(per_sample).to(DType::Float64));
      const std::vector<double> read = ops::cat(to_read, 0).to_vector<double>();
      const double loss_value = read[0], grad_norm = read[1];

      if (std::isfinite(loss_value) && std::isfinite(grad_norm)) {
        optimizer.set_lr(lr);
        optimizer.step();
        ema.update();
        nonfinite_in_a_row = 0;
      } else {
        ++result.skipped_steps;
        if (log) *log << "\nstep " << step + 1 << ": loss " << loss_value << ", gradient norm " << grad_norm
                      << " are not finite; the step is skipped\n";
        if (++nonfinite_in_a_row >= 10)
          throw std::runtime_error("train: 10 steps in a row had a non-finite loss or gradient; lower --lr");
      }
      optimizer.zero_grad();
      // The step is complete: its losses join the sampler's history together with the generator's state.
      if (per_sample.defined() && std::isfinite(loss_value))
        resampler.update(draw.t_host, std::vector<double>(read.begin() + 2, read.end()));
      result.end_step = step + 1;
      completed_gen = gen.state();
      result.losses.push_back(loss_value);

      const double seconds =
          seconds_before + std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
      if (csv) csv->row(step + 1, loss_value, lr, grad_norm, seconds);
      loss_ema = std::isnan(loss_ema) ? loss_value : 0.98 * loss_ema + 0.02 * loss_value;
      if (bar) {
        char extra[64];
        std::snprintf(extra, sizeof extra, "loss %.4f", loss_ema);
        bar->update(step + 1, last_eval.empty() ? std::string(extra) : std::string(extra) + ", " + last_eval);
      }
      const bool last = step + 1 == o.steps;
      if (!last && o.checkpoint_every > 0 && (step + 1) % o.checkpoint_every == 0) {
        if (csv) csv->flush();
        save_checkpoints(step + 1);
      }
      if (!last && o.sample_every > 0 && (step + 1) % o.sample_every == 0) save_samples(step + 1);
      if (!last && o.eval_every > 0 && (step + 1) % o.eval_every == 0) evaluate(step + 1);
    }
  } catch (...) {
    // Keep what was learned: the last completed step is saved before the error goes on.
    if (csv) csv->flush();
    if (result.end_step > result.start_step) {
      try {
        save_checkpoints(result.end_step);
      } catch (...) {
      }
    }
    throw;
  }
  if (bar) bar->finish(std::isnan(loss_ema) ? "" : "loss " + std::to_string(loss_ema));
  if (csv) csv->flush();
  if (result.end_step > result.start_step || !o.resume) {
    save_checkpoints(result.end_step);
    save_samples(result.end_step);
    if (o.eval_every > 0) evaluate(result.end_step);
  }
  if (log && !o.out_dir.empty())
    *log << "step " << result.end_step << ": wrote " << model_path << " and " << state_path << "\n";
  return result;
}

}  // namespace ddpm
