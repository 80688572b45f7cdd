// The built-in quality score: classifier features and predictions, the Frechet distance, the class shares.
#include "diffusion/quality.hpp"

#include <cstdio>

#include "autograd/autograd.hpp"

namespace ddpm {

ClassifiedImages classify_images(NoisyClassifier& classifier, const Tensor& images, int64_t batch, Device device) {
  DDPM_CHECK(images.dim() == 4 && images.size(0) >= 1, "classify_images: images are ", describe(images),
             ", expected [N, C, H, W]");
  DDPM_CHECK(batch >= 1, "classify_images: batch is ", batch, ", expected >= 1");
  NoGradGuard no_grad;
  std::vector<Tensor> features, predicted;
  for (int64_t first = 0; first < images.size(0); first += batch) {
    const int64_t b = std::min(batch, images.size(0) - first);
    const Tensor x = ops::narrow(images, 0, first, b).to(DType::Float32).to(device);  // [b, C, H, W]
    const Tensor t = zeros({b}, TensorOptions(DType::Int64, device));
    const Tensor f = classifier.features(x, t);  // [b, D]
    features.push_back(f.to(DType::Float64).cpu());
    predicted.push_back(ops::argmax(classifier.head(f), 1).cpu());  // the logits from the same features
  }
  return {ops::cat(features, 0), ops::cat(predicted, 0)};
}

QualityScore score_samples(const ClassifiedImages& samples, const FeatureStats& reference, int64_t num_classes,
                           const Tensor& requested) {
  QualityScore s;
  s.n = samples.features.size(0);
  s.fd = frechet_distance(feature_statistics(samples.features), reference);
  s.histogram.assign(size_t(num_classes), 0);
  const std::vector<int64_t> pred = samples.predicted.to_vector<int64_t>();
  for (int64_t p : pred)
    if (p >= 0 && p < num_classes) ++s.histogram[size_t(p)];
  if (requested.defined()) {
    const std::vector<double> want = requested.to_vector<double>();
    DDPM_CHECK(int64_t(want.size()) == s.n, "score_samples: ", want.size(), " requested labels for ", s.n, " samples");
    int64_t match = 0;
    for (size_t i = 0; i < pred.size(); ++i) match += int64_t(want[i]) == pred[i];
    s.class_match = double(match) / double(s.n);
  }
  return s;
}

std::string to_string(const QualityScore& score) {
  char buf[96];
  if (score.class_match >= 0) std::snprintf(buf, sizeof buf, "fd %.2f, class match %.3f", score.fd, score.class_match);
  else std::snprintf(buf, sizeof buf, "fd %.2f", score.fd);
  return buf;
}

}  // namespace ddpm
