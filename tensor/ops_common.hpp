// Argument checks shared by the op front-end files (private to tensor/).
#pragma once
#include "tensor/macros.hpp"
#include "tensor/tensor.hpp"

namespace ddpm::ops::detail {

inline void check_defined(const char* op, const Tensor& t, const char* name) {
  DDPM_CHECK(t.defined(), op, ": ", name, " is an undefined tensor");
}

inline void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  DDPM_CHECK(a.device() == b.device(), op, ": tensors are on different devices (", a.device().str(), " and ",
             b.device().str(), "), move one with .to(device)");
}

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  DDPM_CHECK(a.dtype() == b.dtype(), op, ": dtypes differ (", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()),
             "), convert one with .to(dtype)");
}

inline void check_compute_dtype(const char* op, const Tensor& t) {
  DDPM_CHECK(is_compute(t.dtype()), op, ": dtype ", dtype_name(t.dtype()),
             " is not supported, expected float32 or float64 (convert with .to(DType::Float32))");
}

inline void check_numeric_dtype(const char* op, const Tensor& t) {
  DDPM_CHECK(is_compute(t.dtype()) || is_integral(t.dtype()), op, ": dtype ", dtype_name(t.dtype()),
             " is not supported, expected float32, float64, int32 or int64");
}

// A stride-0 view of t broadcast to `shape` (t's dims align to the right).
Tensor broadcast_to(const Tensor& t, const Shape& shape);

}  // namespace ddpm::ops::detail
