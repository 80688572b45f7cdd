// The noise-aware classifier p(y | x_t, t) of classifier guidance (Dhariwal & Nichol 2021): the U-Net's
// encoder half (time embedding, conv_in, the down path, the first middle ResBlock) with a pooled linear
// head, trained on x_t at random t. Its t = 0 features also give tools/eval's Frechet distance.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "diffusion/unet.hpp"

namespace ddpm {

class NoisyClassifier : public Module {
 public:
  // config: the encoder's shape as a U-Net's (out_channels and upsample are unused), num_classes >= 2
  // the classes it tells apart. Initialized as the U-Net (init_like_paper), with a zero head, so that
  // it starts at the uniform p(y | x_t).
  NoisyClassifier(const UNetConfig& config, Generator* gen = nullptr);
  const char* type_name() const override { return "NoisyClassifier"; }
  // x_t: [B, in_channels, resolution, resolution], t: [B] integer timesteps -> logits [B, num_classes].
  Tensor forward(const Tensor& x, const Tensor& t);
  // The pooled features the head reads: [B, feature_dim()] (GroupNorm, SiLU, the mean over H and W).
  Tensor features(const Tensor& x, const Tensor& t);
  int64_t feature_dim() const { return feature_dim_; }
  // The logits from those features ([B, feature_dim()] -> [B, num_classes]): forward = head(features).
  Tensor head(const Tensor& features) { return head_->forward(features); }

  const UNetConfig config;

 private:
  int64_t feature_dim_ = 0;
  Tensor freq_;  // timestep_frequencies, made on the first forward on a device
  std::shared_ptr<Linear> temb1_, temb2_, head_;
  std::shared_ptr<Conv2d> conv_in_;
  std::shared_ptr<ModuleList> down_;
  std::vector<std::shared_ptr<UNetEntry>> down_entries_;
  std::shared_ptr<ResBlock> mid1_;
  std::shared_ptr<GroupNorm> norm_out_;
};

// log p(y | x_t, t) of each image, [B]: log_softmax of the logits at the labels y ([B] int64).
Tensor classifier_log_prob(NoisyClassifier& classifier, const Tensor& x, const Tensor& t, const Tensor& y);
// scale * grad_x sum_b log p(y_b | x_b, t_b), [B, C, H, W] in x's dtype, from our autograd (grad mode
// is switched on inside, whatever the caller's).
Tensor classifier_log_prob_grad(NoisyClassifier& classifier, const Tensor& x, const Tensor& t, const Tensor& y,
                                double scale = 1.0);
// SampleOptions::cond_fn for classifier guidance toward `labels` with scale s. The classifier must
// outlive it.
std::function<Tensor(const Tensor&, const Tensor&)> classifier_guidance(NoisyClassifier& classifier,
                                                                        const Tensor& labels, double scale);

}  // namespace ddpm
