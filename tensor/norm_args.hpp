// Argument checks of the group-norm kernels, shared by the CPU (tensor/cpu/cpu_norm.cpp) and CUDA
// (cuda/norm.cu) backends so both refuse the same inputs with the same messages. Host code only.
#pragma once
#include "tensor/backend.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

struct NormShape {
  int64_t batch, channels, hw, groups, cg, n;  // n = cg * hw elements per group
};

// x must be a contiguous [B, C, HW] tensor whose C channels split into `groups`.
inline NormShape norm_shape(const char* op, TensorRef x, int64_t groups) {
  const Layout& l = x.layout;
  DDPM_CHECK(l.ndim == 3 && l.contiguous, op, ": x must be a contiguous [B, C, HW] tensor");
  DDPM_CHECK(groups > 0 && l.sizes[1] % groups == 0, op, ": ", l.sizes[1], " channels do not split into ",
             groups, " groups");
  const int64_t cg = l.sizes[1] / groups;
  return {l.sizes[0], l.sizes[1], l.sizes[2], groups, cg, cg * l.sizes[2]};
}

inline void check_norm_operand(const char* op, TensorRef x, TensorRef t, const char* name, int64_t numel) {
  DDPM_CHECK(t.dtype == x.dtype, op, ": ", name, " is ", dtype_name(t.dtype), ", x is ", dtype_name(x.dtype));
  DDPM_CHECK(t.layout.contiguous && t.layout.numel() == numel, op, ": ", name, " must be contiguous with ",
             numel, " elements");
}

inline NormShape check_group_norm_forward(const char* op, TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x,
                                          TensorRef weight, TensorRef bias, int64_t groups) {
  const NormShape s = norm_shape(op, x, groups);
  check_norm_operand(op, x, y, "y", x.layout.numel());
  check_norm_operand(op, x, mean, "mean", s.batch * groups);
  check_norm_operand(op, x, rstd, "rstd", s.batch * groups);
  if (weight.data) check_norm_operand(op, x, weight, "weight", s.channels);
  if (bias.data) check_norm_operand(op, x, bias, "bias", s.channels);
  return s;
}

inline NormShape check_group_norm_backward(const char* op, TensorRef dx, TensorRef dweight, TensorRef dbias,
                                           TensorRef dy, TensorRef x, TensorRef mean, TensorRef rstd,
                                           TensorRef weight, int64_t groups) {
  const NormShape s = norm_shape(op, x, groups);
  check_norm_operand(op, x, dx, "dx", x.layout.numel());
  check_norm_operand(op, x, dy, "dy", x.layout.numel());
  check_norm_operand(op, x, mean, "mean", s.batch * groups);
  check_norm_operand(op, x, rstd, "rstd", s.batch * groups);
  if (weight.data) check_norm_operand(op, x, weight, "weight", s.channels);
  if (dweight.data) check_norm_operand(op, x, dweight, "dweight", s.channels);
  if (dbias.data) check_norm_operand(op, x, dbias, "dbias", s.channels);
  return s;
}

}  // namespace ddpm
