// Group norm forward and backward on the host (layer norm is the case G = 1, HW = 1).
// x is [B, C, HW] contiguous, Cg = C / G channels per group; group bg = b * G + g is the n = Cg * HW
// contiguous elements from bg * n, and mean, rstd are [B, G]. The groups run in parallel; statistics
// and gradient sums accumulate in double, so float32 inputs lose nothing to long sums.
#include <cmath>
#include <vector>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"
#include "tensor/norm_args.hpp"
#include "tensor/norm_math.hpp"

namespace ddpm::cpu {
namespace {

// A tensor's first element, or nullptr for an absent (non-affine) weight or bias.
template <typename T>
T* first(TensorRef t) {
  return t.data ? static_cast<T*>(t.data) + t.layout.offset : nullptr;
}

// sum(f(i)) for i in [0, n) with eight independent accumulators: the adds do not wait on each other,
// and the compiler turns the eight lanes into vector instructions.
template <typename F>
double sum_over(int64_t n, const F& f) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += f(i + j);
  for (; i < n; ++i) acc[0] += f(i);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// Groups per thread at least, so a thread gets about kParallelGrain elements.
[[maybe_unused]] int64_t group_grain(const NormShape& s) { return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(1, s.n)); }

template <typename T>
void forward_typed(TensorRef y_ref, TensorRef mean_ref, TensorRef rstd_ref, TensorRef x_ref, TensorRef w_ref,
                   TensorRef b_ref, const NormShape& s, double eps) {
  // BEGIN SOLUTION group_norm_forward_cpu
  const T* x = first<const T>(x_ref);
  const T* w = first<const T>(w_ref);
  const T* b = first<const T>(b_ref);
  T* y = first<T>(y_ref);
  T* mean = first<T>(mean_ref);
  T* rstd = first<T>(rstd_ref);
  parallel_for(s.batch * s.groups, group_grain(s), [&](int64_t begin, int64_t end) {
    for (int64_t bg = begin; bg < end; ++bg) {
      const T* xg = x + bg * s.n;
      T* yg = y + bg * s.n;
      // Two passes (mean, then squared deviations): exact enough without Welford's updates, and the
      // group is still in cache for the second.
      const double mu = sum_over(s.n, [xg](int64_t i) { return double(xg[i]); }) / double(s.n);
      const double var = sum_over(s.n, [xg, mu](int64_t i) {
        const double d = double(xg[i]) - mu;
        return d * d;
      }) / double(s.n);  // biased, as PyTorch's normalisation
      // Normalise with the saved (T-rounded) values, so that backward sees exactly what forward used.
      const T m = T(mu), r = T(1.0 / std::sqrt(var + eps));
      mean[bg] = m;
      rstd[bg] = r;
      const int64_t c0 = (bg % s.groups) * s.cg;  // the group's first channel
      for (int64_t j = 0; j < s.cg; ++j) {
        const T scale = w ? r * w[c0 + j] : r, shift = b ? b[c0 + j] : T(0);
        const T* xc = xg + j * s.hw;
        T* yc = yg + j * s.hw;
        for (int64_t i = 0; i < s.hw; ++i) yc[i] = group_norm_apply(xc[i], m, scale, shift);
      }
    }
  });
  // END SOLUTION
}

template <typename T>
void backward_typed(TensorRef dx_ref, TensorRef dw_ref, TensorRef db_ref, TensorRef dy_ref, TensorRef x_ref,
                    TensorRef mean_ref, TensorRef rstd_ref, TensorRef w_ref, const NormShape& s) {
  // BEGIN SOLUTION group_norm_backward_cpu
  const T* dy = first<const T>(dy_ref);
  const T* x = first<const T>(x_ref);
  const T* mean = first<const T>(mean_ref);
  const T* rstd = first<const T>(rstd_ref);
  const T* w = first<const T>(w_ref);
  T* dx = first<T>(dx_ref);
  T* dweight = first<T>(dw_ref);
  T* dbias = first<T>(db_ref);
  // Per (b, c): sum(dy * xhat) and sum(dy) over the positions, kept for dweight and dbias, which are
  // their sums over b (added below in a fixed order: the result does not depend on the thread count).
  const bool keep = dweight || dbias;
  std::vector<double> dy_xhat(keep ? size_t(s.batch * s.channels) : 0), dy_sum(dy_xhat.size());
  parallel_for(s.batch * s.groups, group_grain(s), [&](int64_t begin, int64_t end) {
    for (int64_t bg = begin; bg < end; ++bg) {
      const T* xg = x + bg * s.n;
      const T* dyg = dy + bg * s.n;
      const double mu = double(mean[bg]), r = double(rstd[bg]);
      const int64_t c0 = (bg % s.groups) * s.cg, row0 = bg * s.cg;  // row0: (b, c0) in [B, C]
      double sum_wdy = 0.0, sum_wdy_xhat = 0.0;
      for (int64_t j = 0; j < s.cg; ++j) {
        const T* xc = xg + j * s.hw;
        const T* dyc = dyg + j * s.hw;
        const double sdy = sum_over(s.hw, [dyc](int64_t i) { return double(dyc[i]); });
        const double sdy_xhat = r * sum_over(s.hw, [dyc, xc, mu](int64_t i) { return double(dyc[i]) * (double(xc[i]) - mu); });
        const double wc = w ? double(w[c0 + j]) : 1.0;
        sum_wdy += wc * sdy;
        sum_wdy_xhat += wc * sdy_xhat;
        if (keep) {
          dy_xhat[size_t(row0 + j)] = sdy_xhat;
          dy_sum[size_t(row0 + j)] = sdy;
        }
      }
      const GroupNormDxCoeffs k = group_norm_dx_coeffs(sum_wdy, sum_wdy_xhat, r, double(s.n));
      const T m = mean[bg], coef_x = T(k.coef_x), coef_0 = T(k.coef_0);
      for (int64_t j = 0; j < s.cg; ++j) {
        const T rstd_w = w ? rstd[bg] * w[c0 + j] : rstd[bg];
        const T* xc = xg + j * s.hw;
        const T* dyc = dyg + j * s.hw;
        T* dxc = dx + bg * s.n + j * s.hw;
        for (int64_t i = 0; i < s.hw; ++i) dxc[i] = group_norm_dx(dyc[i], xc[i], m, rstd_w, coef_x, coef_0);
      }
    }
  });
  if (!keep) return;
  std::vector<double> acc_w(size_t(s.channels), 0.0), acc_b(size_t(s.channels), 0.0);
  for (int64_t b = 0; b < s.batch; ++b) {
    for (int64_t c = 0; c < s.channels; ++c) {
      acc_w[size_t(c)] += dy_xhat[size_t(b * s.channels + c)];
      acc_b[size_t(c)] += dy_sum[size_t(b * s.channels + c)];
    }
  }
  for (int64_t c = 0; c < s.channels; ++c) {
    if (dweight) dweight[c] = T(acc_w[size_t(c)]);
    if (dbias) dbias[c] = T(acc_b[size_t(c)]);
  }
  // END SOLUTION
}

}  // namespace

void group_norm_forward(TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, TensorRef bias,
                        int64_t groups, double eps) {
  const char* op = "group_norm";
  const NormShape s = check_group_norm_forward(op, y, mean, rstd, x, weight, bias, groups);
  DDPM_DISPATCH_FLOAT(x.dtype, op, forward_typed<scalar_t>(y, mean, rstd, x, weight, bias, s, eps));
}

void group_norm_backward(TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x,
                         TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups) {
  const char* op = "group_norm backward";
  const NormShape s = check_group_norm_backward(op, dx, dweight, dbias, dy, x, mean, rstd, weight, groups);
  DDPM_DISPATCH_FLOAT(x.dtype, op, backward_typed<scalar_t>(dx, dweight, dbias, dy, x, mean, rstd, weight, s));
}

}  // namespace ddpm::cpu
