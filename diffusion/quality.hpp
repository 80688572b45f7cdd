// A quality score inside the framework: generated images against real ones under our own noise-aware
// classifier at t = 0 (its pooled features and its predicted classes). The Frechet distance of those
// features is FID's formula on another network's features: it compares runs scored with the same
// classifier, not with published FIDs (no Inception network here).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/classifier.hpp"
#include "diffusion/frechet.hpp"

namespace ddpm {

struct ClassifiedImages {
  Tensor features;   // [N, D] float64 on the CPU: NoisyClassifier::features at t = 0
  Tensor predicted;  // [N] int64 on the CPU: the argmax class
};
// Runs the classifier at t = 0 over images ([N, C, H, W] in [-1, 1], any device) in batches of `batch`
// on `device`, with no gradient.
ClassifiedImages classify_images(NoisyClassifier& classifier, const Tensor& images, int64_t batch, Device device);

struct QualityScore {
  int64_t n = 0;                  // images scored
  double fd = 0;                  // Frechet distance of their features to the reference's
  std::vector<int64_t> histogram; // images predicted as each class
  double class_match = -1;        // the share predicted as the class asked for; -1 when none was asked
};
// Scores classified samples against the reference statistics (the test split's). requested: the labels
// the samples were drawn for ([N] int64 or float holding integers), or undefined.
QualityScore score_samples(const ClassifiedImages& samples, const FeatureStats& reference, int64_t num_classes,
                           const Tensor& requested = Tensor());
// "fd 12.34, class match 0.871" (the progress line's form).
std::string to_string(const QualityScore& score);

}  // namespace ddpm
