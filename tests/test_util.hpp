// Helpers shared by the test suites: closeness checks and the CUDA skip.
#pragma once
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <type_traits>
#include <vector>

#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace ddpm::test {

// Every element of a and b (same shape, any device and dtype) within atol + rtol * |b|.
inline void check_close(const Tensor& a, const Tensor& b, double atol = 1e-6, double rtol = 1e-5) {
  REQUIRE_MESSAGE(a.shape() == b.shape(), "shape ", shape_str(a.shape()), " vs ", shape_str(b.shape()));
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    bool ok = (std::isnan(x[i]) && std::isnan(y[i])) || x[i] == y[i] ||
              std::fabs(x[i] - y[i]) <= atol + rtol * std::fabs(y[i]);
    if (!ok) {
      FAIL_CHECK("element ", i, ": ", x[i], " vs ", y[i], " (atol ", atol, ", rtol ", rtol, ")");
      return;
    }
  }
}

inline void check_values(const Tensor& a, const std::vector<double>& expected, double atol = 1e-6) {
  REQUIRE(size_t(a.numel()) == expected.size());
  std::vector<double> x = a.to_vector<double>();
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] == expected[i] || std::fabs(x[i] - expected[i]) <= atol ||
          (std::isnan(x[i]) && std::isnan(expected[i])))) {
      FAIL_CHECK("element ", i, ": ", x[i], " vs expected ", expected[i]);
      return;
    }
  }
}

// Runs `fn` and checks that it throws E with a message containing `needle`.
template <typename E = std::exception, typename F>
void check_throws_with(F&& fn, const std::string& needle) {
  try {
    fn();
  } catch (const E& e) {
    std::string msg = e.what();
    CHECK_MESSAGE(msg.find(needle) != std::string::npos, "message '", msg, "' lacks '", needle, "'");
    return;
  }
  FAIL_CHECK("expected an exception containing '", needle, "'");
}

// Runs `fn` and checks that it throws E with a message containing every one of `needles`.
template <typename E = std::exception, typename F>
void check_throws_with_all(F&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    bool right_type = true;
    if constexpr (!std::is_same_v<E, std::exception>) right_type = dynamic_cast<const E*>(&e) != nullptr;
    if (!right_type) {
      FAIL_CHECK("expected a different exception type, got one saying '", msg, "'");
      return;
    }
    for (const std::string& needle : needles)
      CHECK_MESSAGE(msg.find(needle) != std::string::npos, "message '", msg, "' lacks '", needle, "'");
    return;
  }
  FAIL_CHECK("expected an exception containing '", needles.empty() ? std::string() : needles[0], "'");
}

// n values that float32 (and bfloat16 for small n) hold exactly: multiples of 1/8 in [-4, 4], in a
// scrambled order; sums and products of a few of them are exact in float32 as well.
inline std::vector<double> dyadic_values(size_t n, unsigned salt = 0) {
  std::vector<double> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = double(int64_t((i * 37 + salt * 11 + 5) % 65) - 32) / 8.0;
  return v;
}

// Tolerances for comparing a float32 / float64 result with a double reference.
inline double tol_for(DType d) { return d == DType::Float64 ? 1e-12 : 1e-5; }

// The dtype of a C++ float type, for TEST_CASE_TEMPLATE over float and double.
template <typename T> inline DType dtype_for() { return dtype_of<T>(); }

// Row-major linear index <-> multi-index.
inline std::vector<int64_t> unravel_index(int64_t k, const Shape& shape) {
  std::vector<int64_t> idx(shape.size());
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    idx[d] = shape[d] ? k % shape[d] : 0;
    k = shape[d] ? k / shape[d] : 0;
  }
  return idx;
}
inline int64_t ravel_index(const std::vector<int64_t>& idx, const Shape& shape) {
  int64_t k = 0;
  for (size_t d = 0; d < shape.size(); ++d) k = k * shape[d] + idx[d];
  return k;
}

// How a test input is laid out in memory; the logical values are the same for each.
enum class Arrange { Contiguous, Transposed, Strided };
inline const char* arrange_name(Arrange l) {
  return l == Arrange::Contiguous ? "contiguous" : l == Arrange::Transposed ? "transposed" : "strided";
}

// A tensor with logical shape `shape` and row-major values `values`, laid out as asked:
//  Transposed: the storage holds the reversed-dims tensor and the result is its permute (for >= 2
//  dims, not contiguous); Strided: the last dim is a step-2 slice starting at 1 of a wider tensor
//  whose other elements are -999.5 (so a kernel that ignores strides gives visibly wrong values).
inline Tensor make_tensor(const std::vector<double>& values, const Shape& shape, TensorOptions opts,
                          Arrange arrange = Arrange::Contiguous) {
  REQUIRE(int64_t(values.size()) == numel_of(shape));
  if (arrange == Arrange::Contiguous || shape.empty())
    return shape.empty() ? scalar_tensor(values[0], opts) : tensor(values, shape, opts);
  if (arrange == Arrange::Transposed) {
    size_t n = shape.size();
    Shape rev(shape.rbegin(), shape.rend());
    std::vector<double> base(values.size());
    for (int64_t k = 0; k < int64_t(values.size()); ++k) {
      std::vector<int64_t> idx = unravel_index(k, shape);
      std::vector<int64_t> ridx(idx.rbegin(), idx.rend());
      base[ravel_index(ridx, rev)] = values[k];
    }
    std::vector<int64_t> perm(n);
    for (size_t d = 0; d < n; ++d) perm[d] = int64_t(n - 1 - d);
    return ops::permute(tensor(base, rev, opts), perm);
  }
  Shape wide = shape;
  int64_t last = shape.back();
  wide.back() = 2 * last + 1;
  std::vector<double> base(numel_of(wide), -999.5);
  for (int64_t k = 0; k < int64_t(values.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, shape);
    idx.back() = 2 * idx.back() + 1;
    base[ravel_index(idx, wide)] = values[k];
  }
  return ops::slice(tensor(base, wide, opts), -1, 1, 2 * last + 1, 2);
}

// NumPy broadcasting of a reference vector with shape `from` to shape `to`.
inline std::vector<double> broadcast_ref(const std::vector<double>& v, const Shape& from, const Shape& to) {
  std::vector<double> out(size_t(numel_of(to)));
  size_t lead = to.size() - from.size();
  for (int64_t k = 0; k < int64_t(out.size()); ++k) {
    std::vector<int64_t> idx = unravel_index(k, to);
    std::vector<int64_t> src(from.size());
    for (size_t d = 0; d < from.size(); ++d) src[d] = from[d] == 1 ? 0 : idx[d + lead];
    out[k] = v[ravel_index(src, from)];
  }
  return out;
}

// A fresh folder under the system temp directory, removed with everything in it at the end.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "tmp") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("ddpm_test_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path / name).string(); }
  // Names of the files in the folder (to check that no temporary file stays behind).
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& entry : std::filesystem::directory_iterator(path)) out.push_back(entry.path().filename().string());
    return out;
  }
};

}  // namespace ddpm::test

namespace ddpm::test {
// n 8x8 one-channel images, a bright square at one of four places on a dark background, in [-1, 1]:
// the toy data set of the trainer tests. [n, 1, 8, 8]
inline Tensor toy_images(int64_t n) {
  std::vector<float> data(size_t(n) * 64, -1.0f);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t y0 = (i % 2) * 4, x0 = ((i / 2) % 2) * 4;
    for (int64_t y = y0; y < y0 + 4; ++y)
      for (int64_t x = x0; x < x0 + 4; ++x) data[size_t(i * 64 + y * 8 + x)] = 1.0f;
  }
  return Tensor::from_vector(data, {n, 1, 8, 8});
}
}  // namespace ddpm::test

namespace ddpm::test {
// DDPM_EXPECT_GPU=1 (scripts/gpu-check.sh sets it): a CUDA test that would be skipped fails instead.
// DDPM_EXPECT_GPU=0: a CUDA test is skipped even where CUDA is installed but failed to start.
inline const char* expect_gpu_setting() {
  const char* v = std::getenv("DDPM_EXPECT_GPU");
  return v ? v : "";
}
}  // namespace ddpm::test

// First line of every CUDA test case. Without a GPU it prints the skip marker (ctest reports the test
// as skipped through SKIP_REGULAR_EXPRESSION), names the reason and returns. Where CUDA is installed
// but failed to start, or where DDPM_EXPECT_GPU=1 says a GPU must be there, the test fails instead:
// a broken GPU machine must not pass as one without a GPU. (A test binary run by hand, outside ctest,
// counts a skipped case as passed: ctest, or scripts/gpu-check.sh, is what tells them apart.)
#define DDPM_REQUIRE_CUDA_OR_SKIP()                                                                 \
  do {                                                                                             \
    if (!::ddpm::cuda_is_available()) {                                                            \
      const std::string ddpm_expect_ = ::ddpm::test::expect_gpu_setting();                          \
      if (ddpm_expect_ == "1" || (::ddpm::cuda_failed_to_start() && ddpm_expect_ != "0"))          \
        FAIL("no usable GPU: " << ::ddpm::cuda_unavailable_reason()                                \
                                << std::string(ddpm_expect_ == "1" ? " (DDPM_EXPECT_GPU=1 requires one)" \
                                                                   : " (DDPM_EXPECT_GPU=0 skips instead)")); \
      std::printf("SKIPPED: no CUDA device (%s)\n", ::ddpm::cuda_unavailable_reason().c_str());     \
      return;                                                                                      \
    }                                                                                              \
  } while (0)
