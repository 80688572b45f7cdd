// The noise-aware classifier: the U-Net's encoder half with a head, and the gradient classifier
// guidance adds to the sampler's mean.
#include "diffusion/classifier.hpp"

#include "nn/init.hpp"

namespace ddpm {

NoisyClassifier::NoisyClassifier(const UNetConfig& c, Generator* gen) : config(c) {
  config.validate();
  DDPM_CHECK(c.num_classes >= 2, "NoisyClassifier: num_classes is ", c.num_classes, ", expected >= 2");
  const int64_t ch = c.ch, temb_ch = 4 * ch;
  temb1_ = register_module("temb1", std::make_shared<Linear>(ch, temb_ch, true, gen));
  temb2_ = register_module("temb2", std::make_shared<Linear>(temb_ch, temb_ch, true, gen));
  conv_in_ = register_module("conv_in", std::make_shared<Conv2d>(c.in_channels, ch, 3, 1, 1, true, gen));
  down_ = register_module("down", std::make_shared<ModuleList>());
  const DownPath d = build_down_path(*down_, c, gen);
  down_entries_ = d.entries;
  feature_dim_ = d.channels;
  mid1_ = register_module("mid1", std::make_shared<ResBlock>(d.channels, d.channels, temb_ch, c.groups, c.dropout, gen));
  norm_out_ = register_module("norm_out", std::make_shared<GroupNorm>(std::min(c.groups, d.channels), d.channels));
  head_ = register_module("head", std::make_shared<Linear>(d.channels, c.num_classes, true, gen));
  init_like_paper(*this, gen);
  init::zeros_(head_->weight);
}

Tensor NoisyClassifier::features(const Tensor& x, const Tensor& t) {
  const UNetConfig& c = config;
  DDPM_CHECK(x.dim() == 4 && x.size(1) == c.in_channels && x.size(2) == c.resolution && x.size(3) == c.resolution,
             "NoisyClassifier: x has shape ", shape_str(x.shape()), ", expected [B, ", c.in_channels, ", ",
             c.resolution, ", ", c.resolution, "]");
  DDPM_CHECK(t.dim() == 1 && t.size(0) == x.size(0), "NoisyClassifier: t has shape ", shape_str(t.shape()),
             ", expected [", x.size(0), "]");
  const DType dtype = temb1_->weight.dtype();
  if (!freq_.defined() || freq_.device() != x.device() || freq_.dtype() != dtype)
    freq_ = timestep_frequencies(c.ch, dtype, x.device());
  Tensor temb = temb2_->forward(silu(temb1_->forward(timestep_embedding(t, freq_))));  // [B, 4ch]
  Tensor h = conv_in_->forward(x);
  for (const auto& e : down_entries_) h = e->forward(h, temb);
  h = silu(norm_out_->forward(mid1_->forward(h, temb)));  // [B, C, H', W']
  return mean(h, {2, 3});                                 // [B, C]
}

Tensor NoisyClassifier::forward(const Tensor& x, const Tensor& t) { return head(features(x, t)); }

Tensor classifier_log_prob(NoisyClassifier& classifier, const Tensor& x, const Tensor& t, const Tensor& y) {
  DDPM_CHECK(y.dim() == 1 && y.size(0) == x.size(0) && y.dtype() == DType::Int64, "classifier_log_prob: y is ",
             describe(y), ", expected int64 [", x.size(0), "]");
  Tensor log_p = log_softmax(classifier.forward(x, t), 1);        // [B, K]
  return reshape(gather(log_p, 1, ops::unsqueeze(y, 1)), {x.size(0)});  // [B]
}

Tensor classifier_log_prob_grad(NoisyClassifier& classifier, const Tensor& x, const Tensor& t, const Tensor& y,
                                double scale) {
  GradModeGuard grad_on(true);
  // Only x's gradient is wanted: the parameters stop requiring grad for this backward (and always
  // require it again after), so that no parameter gradient is computed at every sampler step.
  struct Frozen {
    std::vector<Tensor> params;
    ~Frozen() {
      for (const Tensor& p : params) set_requires_grad(p, true);
    }
  } frozen;
  for (const Tensor& p : classifier.parameters())
    if (requires_grad(p)) frozen.params.push_back(set_requires_grad(p, false));
  Tensor x_in = set_requires_grad(detach(x));
  backward(sum(classifier_log_prob(classifier, x_in, t, y)));
  return scale * grad(x_in);
}

std::function<Tensor(const Tensor&, const Tensor&)> classifier_guidance(NoisyClassifier& classifier,
                                                                        const Tensor& labels, double scale) {
  return [&classifier, labels, scale](const Tensor& x_t, const Tensor& t) {
    return classifier_log_prob_grad(classifier, x_t, t, labels, scale);
  };
}

}  // namespace ddpm
