// Feature means and covariances, and the Frechet distance between two of them (FID's formula).
#include "diffusion/frechet.hpp"

#include <algorithm>
#include <cmath>

// g++ 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 kernels (as cpu_gemm.cpp).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Dense>

#include "tensor/macros.hpp"

namespace ddpm {

namespace {

using Matrix = Eigen::MatrixXd;
using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Eigen::Map<const Eigen::VectorXd> mean_of(const FeatureStats& s) { return {s.mean.data(), Eigen::Index(s.dim)}; }
Eigen::Map<const RowMatrix> cov_of(const FeatureStats& s) { return {s.cov.data(), Eigen::Index(s.dim), Eigen::Index(s.dim)}; }

void check_stats(const FeatureStats& s, const char* which) {
  DDPM_CHECK(s.dim >= 1 && s.mean.size() == size_t(s.dim) && s.cov.size() == size_t(s.dim * s.dim),
             "frechet_distance: statistics ", which, " have dim ", s.dim, " but ", s.mean.size(), " mean and ",
             s.cov.size(), " covariance entries (want dim and dim * dim; build them with feature_statistics)");
}

// The symmetric PSD square root V diag(sqrt(max(l, 0))) V^T of a symmetric matrix.
Matrix psd_sqrt(const Matrix& s) {
  Eigen::SelfAdjointEigenSolver<Matrix> eig(s);
  Eigen::VectorXd root = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt();
  return eig.eigenvectors() * root.asDiagonal() * eig.eigenvectors().transpose();
}

}  // namespace

FeatureStats feature_statistics(const Tensor& features) {
  DDPM_CHECK(features.defined() && features.dim() == 2 && is_floating(features.dtype()),
             "frechet feature_statistics: features must be a float tensor [N, D], got ", describe(features));
  const int64_t n = features.size(0), d = features.size(1);
  DDPM_CHECK(n >= 2 && d >= 1, "frechet feature_statistics: need N >= 2 feature vectors of D >= 1 features for an "
             "unbiased covariance, got [", n, ", ", d, "]");
  std::vector<double> host = features.to_vector<double>();
  RowMatrix x = Eigen::Map<const RowMatrix>(host.data(), n, d);
  Eigen::RowVectorXd mu = x.colwise().mean();
  x.rowwise() -= mu;
  RowMatrix cov = (x.transpose() * x) / double(n - 1);
  FeatureStats s{n, d, std::vector<double>(mu.data(), mu.data() + d), {}};
  s.cov.assign(cov.data(), cov.data() + d * d);
  return s;
}

double frechet_distance(const FeatureStats& a, const FeatureStats& b) {
  DDPM_CHECK(a.dim == b.dim, "frechet_distance: the feature sets have dimensions ", a.dim, " and ", b.dim,
             " (compare features of the same extractor)");
  check_stats(a, "a");
  check_stats(b, "b");
  const Matrix s1 = cov_of(a), s2 = cov_of(b);
  const Matrix r1 = psd_sqrt(s1);
  Matrix m = r1 * s2 * r1;
  m = 0.5 * (m + m.transpose());  // symmetric up to rounding; make it exactly so
  Eigen::SelfAdjointEigenSolver<Matrix> eig(m, Eigen::EigenvaluesOnly);
  const double tr_sqrt = eig.eigenvalues().cwiseMax(0.0).cwiseSqrt().sum();
  const double d2 = (mean_of(a) - mean_of(b)).squaredNorm() + s1.trace() + s2.trace() - 2.0 * tr_sqrt;
  return std::max(d2, 0.0);
}

}  // namespace ddpm
