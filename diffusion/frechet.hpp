// The Frechet distance between two sets of feature vectors, as FID computes it (Heusel et al. 2017) but
// on any features: the distance between the Gaussians with the sets' means and covariances.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

// The mean and covariance of a set of n feature vectors of length dim.
struct FeatureStats {
  int64_t n = 0;
  int64_t dim = 0;
  std::vector<double> mean;  // dim
  std::vector<double> cov;   // dim * dim, row-major, symmetric
};

// Mean and covariance of features [N, D] (any float dtype, any device; read to the host in float64).
// The covariance is unbiased (divides by N - 1), as numpy.cov(rowvar=False) and pytorch-fid.
// N >= 2, else std::invalid_argument.
FeatureStats feature_statistics(const Tensor& features);

// The squared Frechet distance of N(mu1, S1) and N(mu2, S2):
//   d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}),
// computed stably as Tr((S1 S2)^{1/2}) = sum_i sqrt(max(lambda_i, 0)) over the eigenvalues lambda_i of the
// symmetric PSD matrix S1^{1/2} S2 S1^{1/2} (S1's eigenvalues clamped at 0 before the square root), so a
// singular covariance (fewer samples than dimensions) needs no regularizing offset. Rounding can take the
// exact 0 of identical sets a few ulps below 0: the result is clamped at 0. The dimensions must match and
// mean and cov must have dim and dim * dim entries, else std::invalid_argument.
double frechet_distance(const FeatureStats& a, const FeatureStats& b);

}  // namespace ddpm
