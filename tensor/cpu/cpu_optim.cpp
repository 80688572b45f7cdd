// The optimizer kernels on the CPU: one AdamW step and one EMA update over many tensors, and the
// sum of squares of many tensors (for gradient clipping). Each tensor is one pass over its elements,
// split across threads; the element math is tensor/optim_math.hpp, shared with the CUDA kernels.
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"
#include "tensor/optim_math.hpp"

namespace ddpm::cpu {
namespace {

// Pointer to the first element of a contiguous tensor.
template <typename T>
T* first(const TensorRef& t) {
  return static_cast<T*>(t.data) + t.layout.offset;
}

// Sums of squares go over fixed chunks of this many elements, whose partial sums are then added in
// order: the result does not depend on the number of threads.
constexpr int64_t kSquaresChunk = 16384;

template <typename T>
double sum_of_squares_of(const TensorRef& t) {
  const T* x = first<const T>(t);
  const int64_t n = t.layout.numel();
  const int64_t chunks = (n + kSquaresChunk - 1) / kSquaresChunk;
  std::vector<double> partial(size_t(chunks), 0.0);
  parallel_for(chunks, std::max<int64_t>(1, kParallelGrain / kSquaresChunk), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t end = std::min(n, (c + 1) * kSquaresChunk);
      double s = 0.0;
      for (int64_t i = c * kSquaresChunk; i < end; ++i) s += double(x[i]) * double(x[i]);
      partial[size_t(c)] = s;
    }
  });
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

}  // namespace

void adamw_step(const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,
                const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step) {
  check_multi_tensor_lists("adamw_step", {&params, &grads, &m, &v});
  if (params.empty()) return;
  DDPM_DISPATCH_FLOAT(params[0].dtype, "adamw_step", {
    const AdamWScalars<scalar_t> s = adamw_scalars<scalar_t>(step);
    for (size_t j = 0; j < params.size(); ++j) {
      scalar_t* p = first<scalar_t>(params[j]);
      const scalar_t* g = first<const scalar_t>(grads[j]);
      scalar_t* mj = first<scalar_t>(m[j]);
      scalar_t* vj = first<scalar_t>(v[j]);
      parallel_for(params[j].layout.numel(), kParallelGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) adamw_update(p[i], g[i], mj[i], vj[i], s);
      });
    }
  });
}

void ema_update(const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay) {
  check_multi_tensor_lists("ema_update", {&ema, &params});
  if (ema.empty()) return;
  DDPM_DISPATCH_FLOAT(ema[0].dtype, "ema_update", {
    const scalar_t d = scalar_t(decay), one_minus_d = scalar_t(1.0 - decay);
    for (size_t j = 0; j < ema.size(); ++j) {
      scalar_t* e = first<scalar_t>(ema[j]);
      const scalar_t* p = first<const scalar_t>(params[j]);
      parallel_for(ema[j].layout.numel(), kParallelGrain, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) e[i] = ema_value(e[i], p[i], d, one_minus_d);
      });
    }
  });
}

void sum_of_squares(TensorRef out, const std::vector<TensorRef>& tensors) {
  DDPM_CHECK(out.dtype == DType::Float64 && out.layout.numel() == 1, "sum_of_squares: out must be one float64 element");
  double total = 0.0;
  for (size_t j = 0; j < tensors.size(); ++j) {
    const TensorRef& t = tensors[j];
    DDPM_CHECK(t.layout.contiguous, "sum_of_squares: tensor ", j, " is not contiguous");
    DDPM_DISPATCH_FLOAT(t.dtype, "sum_of_squares", total += sum_of_squares_of<scalar_t>(t));
  }
  *first<double>(out) = total;
}

}  // namespace ddpm::cpu
