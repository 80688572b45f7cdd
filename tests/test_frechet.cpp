// The Frechet distance of feature statistics against closed forms: the mean and unbiased covariance by
// hand, 0 for identical sets, diagonal covariances, the same under a random rotation (non-diagonal inputs
// with an exact answer), non-commuting 2x2 covariances, symmetry on random covariances, and bad input.
#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

#include "diffusion/frechet.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

using Vec = std::vector<double>;

FeatureStats diagonal_stats(const Vec& mu, const Vec& var) {
  const size_t d = mu.size();
  FeatureStats s{2, int64_t(d), mu, Vec(d * d, 0.0)};
  for (size_t i = 0; i < d; ++i) s.cov[i * d + i] = var[i];
  return s;
}

// sum (mu1 - mu2)^2 + sum (sqrt(s1) - sqrt(s2))^2: the distance of two diagonal Gaussians.
double diagonal_fd(const Vec& mu1, const Vec& v1, const Vec& mu2, const Vec& v2) {
  double d = 0;
  for (size_t i = 0; i < mu1.size(); ++i)
    d += std::pow(mu1[i] - mu2[i], 2) + std::pow(std::sqrt(v1[i]) - std::sqrt(v2[i]), 2);
  return d;
}

Vec uniform(Generator& gen, size_t n, double lo, double hi) {
  return rand({int64_t(n)}, TensorOptions(DType::Float64), &gen, lo, hi).to_vector<double>();
}

// A random d x d orthogonal matrix (row-major): Gram-Schmidt on the rows of a Gaussian matrix.
Vec random_orthogonal(Generator& gen, size_t d) {
  Vec q = randn({int64_t(d), int64_t(d)}, TensorOptions(DType::Float64), &gen).to_vector<double>();
  for (size_t i = 0; i < d; ++i) {
    for (size_t j = 0; j < i; ++j) {
      double dot = 0;
      for (size_t k = 0; k < d; ++k) dot += q[i * d + k] * q[j * d + k];
      for (size_t k = 0; k < d; ++k) q[i * d + k] -= dot * q[j * d + k];
    }
    double norm = 0;
    for (size_t k = 0; k < d; ++k) norm += q[i * d + k] * q[i * d + k];
    for (size_t k = 0; k < d; ++k) q[i * d + k] /= std::sqrt(norm);
  }
  return q;
}

// mu -> Q mu, S -> Q S Q^T.
FeatureStats rotate(const FeatureStats& s, const Vec& q) {
  const size_t d = size_t(s.dim);
  FeatureStats r{s.n, s.dim, Vec(d, 0.0), Vec(d * d, 0.0)};
  for (size_t i = 0; i < d; ++i)
    for (size_t k = 0; k < d; ++k) r.mean[i] += q[i * d + k] * s.mean[k];
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < d; ++k)
        for (size_t l = 0; l < d; ++l) r.cov[i * d + j] += q[i * d + k] * s.cov[k * d + l] * q[j * d + l];
  return r;
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("frechet feature_statistics matches a hand computation") {
  // x = 1 3 5 7 (mean 4), y = 2 4 0 6 (mean 3); centered x = -3 -1 1 3 and y = -1 1 -3 3.
  Tensor f = Tensor::from_vector<float>({1, 2, 3, 4, 5, 0, 7, 6}, {4, 2});
  FeatureStats s = feature_statistics(f);
  CHECK(s.n == 4);
  CHECK(s.dim == 2);
  CHECK(s.mean == Vec{4.0, 3.0});
  const Vec want{20.0 / 3, 8.0 / 3, 8.0 / 3, 20.0 / 3};  // divides by N - 1 = 3
  for (size_t i = 0; i < 4; ++i) CHECK(s.cov[i] == doctest::Approx(want[i]).epsilon(1e-14));
}

TEST_CASE("frechet distance of identical sets is 0") {
  Generator gen(1);
  FeatureStats s = feature_statistics(randn({50, 8}, TensorOptions(DType::Float64), &gen, 0.5, 2.0));
  double trace = 0;
  for (int64_t i = 0; i < s.dim; ++i) trace += s.cov[size_t(i * s.dim + i)];
  CHECK(std::fabs(frechet_distance(s, s)) <= 1e-9 * trace);
  // Fewer samples than dimensions: a singular covariance, still 0 (no regularizing offset needed).
  FeatureStats few = feature_statistics(randn({5, 8}, TensorOptions(DType::Float64), &gen));
  CHECK(std::fabs(frechet_distance(few, few)) <= 1e-9 * 8);
}

TEST_CASE("frechet distance of diagonal covariances matches the closed form") {
  Generator gen(2);
  const size_t d = 6;
  Vec mu1 = uniform(gen, d, -1, 1), mu2 = uniform(gen, d, -1, 1);
  Vec v1 = uniform(gen, d, 0.1, 3), v2 = uniform(gen, d, 0.1, 3);
  v2[0] = 0.0;  // a zero variance: its square root is 0, not NaN
  const double want = diagonal_fd(mu1, v1, mu2, v2);
  CHECK(frechet_distance(diagonal_stats(mu1, v1), diagonal_stats(mu2, v2)) == doctest::Approx(want).epsilon(1e-12));
}

TEST_CASE("frechet distance is rotation invariant and exact on rotated covariances") {
  Generator gen(3);
  const size_t d = 7;
  Vec mu1 = uniform(gen, d, -1, 1), mu2 = uniform(gen, d, -1, 1);
  Vec v1 = uniform(gen, d, 0.1, 3), v2 = uniform(gen, d, 0.1, 3);
  FeatureStats a = diagonal_stats(mu1, v1), b = diagonal_stats(mu2, v2);
  const Vec q = random_orthogonal(gen, d);
  FeatureStats qa = rotate(a, q), qb = rotate(b, q);
  CHECK(std::fabs(qa.cov[1]) > 1e-3);  // really non-diagonal
  const double want = diagonal_fd(mu1, v1, mu2, v2);
  CHECK(frechet_distance(qa, qb) == doctest::Approx(want).epsilon(1e-10));
  CHECK(frechet_distance(qa, qb) == doctest::Approx(frechet_distance(a, b)).epsilon(1e-10));
}

TEST_CASE("frechet distance of non-commuting 2x2 covariances matches the closed form") {
  // For 2x2 A = S1 S2 (positive eigenvalues l1 l2): Tr(A^{1/2}) = sqrt(l1) + sqrt(l2) = sqrt(Tr A + 2 sqrt(det A)).
  FeatureStats a{2, 2, {0.5, -1.0}, {2.0, 0.7, 0.7, 1.0}}, b{2, 2, {1.5, 0.25}, {0.5, -0.3, -0.3, 3.0}};
  const double tr_a = 2.0 * 0.5 + 0.7 * -0.3 + 0.7 * -0.3 + 1.0 * 3.0;
  const double det_a = (2.0 * 1.0 - 0.7 * 0.7) * (0.5 * 3.0 - 0.3 * 0.3);
  const double want = 1.0 + 1.25 * 1.25 + 3.0 + 3.5 - 2.0 * std::sqrt(tr_a + 2.0 * std::sqrt(det_a));
  CHECK(frechet_distance(a, b) == doctest::Approx(want).epsilon(1e-13));
}

TEST_CASE("frechet distance is symmetric and non-negative") {
  Generator gen(4);
  // Full-rank covariances agree to 1e-9. Singular ones (N = 6 < D = 10) to 1e-6 only: the zero eigenvalues of
  // S1^{1/2} S2 S1^{1/2} come out as rounding noise ~1e-16, whose square roots ~1e-8 enter the trace.
  for (auto [n, tol] : {std::pair<int64_t, double>{40, 1e-9}, {6, 1e-6}}) {
    FeatureStats a = feature_statistics(randn({n, 10}, TensorOptions(DType::Float32), &gen));
    FeatureStats b = feature_statistics(randn({n, 10}, TensorOptions(DType::Float64), &gen, 0.3, 1.5));
    const double ab = frechet_distance(a, b), ba = frechet_distance(b, a);
    CHECK(ab > 0);
    CHECK(ab == doctest::Approx(ba).epsilon(tol));
  }
}

TEST_CASE("frechet rejects too few samples and mismatched dimensions") {
  const TensorOptions f64(DType::Float64);
  check_throws_with<std::invalid_argument>([&] { feature_statistics(zeros({1, 3}, f64)); }, "N >= 2");
  check_throws_with<std::invalid_argument>([&] { feature_statistics(zeros({6}, f64)); }, "[N, D]");
  check_throws_with<std::invalid_argument>([&] { feature_statistics(zeros({3, 2}, TensorOptions(DType::Int64))); },
                                           "float tensor");
  FeatureStats a = feature_statistics(zeros({3, 2}, f64)), b = feature_statistics(zeros({3, 4}, f64));
  check_throws_with<std::invalid_argument>([&] { frechet_distance(a, b); }, "dimensions 2 and 4");
  FeatureStats bad = a;
  bad.cov.pop_back();
  check_throws_with<std::invalid_argument>([&] { frechet_distance(a, bad); }, "dim * dim");
}

}  // TEST_SUITE("cpu")
