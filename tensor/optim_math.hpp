// The element math of the optimizer kernels (AdamW, EMA), written once for the CPU and CUDA kernels
// so both devices round the same way, and the argument checks both multi-tensor entry points share.
#pragma once
#include <cmath>
#include <vector>

#include "tensor/backend.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

// The per-step scalars of AdamW in the parameters' type T, derived once on the host. They are the
// ones torch.optim.AdamW uses (decay factor 1 - lr wd, step size lr / bc1, sqrt(bc2)), converted to T
// as PyTorch converts its Python scalars, so float32 rounds as PyTorch's float32 step does.
template <typename T>
struct AdamWScalars {
  T beta1, one_minus_beta1, beta2, one_minus_beta2;
  T decay;      // 1 - lr * weight_decay: the decoupled weight decay is a plain shrink of p
  T step_size;  // lr / (1 - beta1^t)
  T bc2_sqrt;   // sqrt(1 - beta2^t)
  T eps;
};

template <typename T>
inline AdamWScalars<T> adamw_scalars(const AdamWStep& s) {
  return {T(s.beta1), T(1.0 - s.beta1), T(s.beta2), T(1.0 - s.beta2), T(1.0 - s.lr * s.weight_decay),
          T(s.lr / s.bias_correction1), T(std::sqrt(s.bias_correction2)), T(s.eps)};
}

// One element of an AdamW step, in PyTorch's order: shrink p (using the old p), update the moments,
// then p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps).
template <typename T>
DDPM_HD void adamw_update(T& p, T g, T& m, T& v, const AdamWScalars<T>& s) {
  using std::sqrt;
  p *= s.decay;
  m = s.beta1 * m + s.one_minus_beta1 * g;
  v = s.beta2 * v + s.one_minus_beta2 * g * g;
  p -= s.step_size * m / (sqrt(v) / s.bc2_sqrt + s.eps);
}

// ema = decay ema + (1 - decay) param.
template <typename T>
DDPM_HD T ema_value(T ema, T param, T decay, T one_minus_decay) {
  return decay * ema + one_minus_decay * param;
}

// Checks the parallel tensor lists of a multi-tensor kernel (adamw_step, ema_update): equally long,
// every list i entry of the same numel as lists[0][i], all contiguous and of one float dtype.
inline void check_multi_tensor_lists(const char* op, const std::vector<const std::vector<TensorRef>*>& lists) {
  const std::vector<TensorRef>& first = *lists[0];
  for (const std::vector<TensorRef>* list : lists)
    DDPM_CHECK(list->size() == first.size(), op, ": the tensor lists differ in length (", list->size(), " vs ",
               first.size(), ")");
  if (first.empty()) return;
  const DType dtype = first[0].dtype;
  DDPM_CHECK(dtype == DType::Float32 || dtype == DType::Float64, op, ": tensors are ", dtype_name(dtype),
             ", expected float32 or float64");
  for (size_t i = 0; i < first.size(); ++i) {
    for (const std::vector<TensorRef>* list : lists) {
      const TensorRef& t = (*list)[i];
      DDPM_CHECK(t.dtype == dtype, op, ": tensor ", i, " is ", dtype_name(t.dtype), ", the others are ",
                 dtype_name(dtype));
      DDPM_CHECK(t.layout.contiguous, op, ": tensor ", i, " is not contiguous");
      DDPM_CHECK(t.layout.numel() == first[i].layout.numel(), op, ": tensor ", i, " has ", t.layout.numel(),
                 " elements in one list and ", first[i].layout.numel(), " in another");
    }
  }
}

}  // namespace ddpm
