// Argument checks of the reduce kernels, shared by the CPU (tensor/cpu/cpu_reduce.cpp) and CUDA
// (cuda/reduce.cu) backends so that both accept the same outputs and refuse the rest alike.
#pragma once
#include "tensor/backend.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

// out has numel = in.numel / inner. ArgMax/ArgMin write int64; the others write in's dtype, and an
// integer input may also be summed (or its max/min taken) into int64.
inline void check_reduce_args(const char* device, ReduceOp op, TensorRef out, TensorRef in, int64_t inner) {
  const char* name = reduce_name(op);
  const bool arg = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
  if (op == ReduceOp::Mean || op == ReduceOp::Var)
    DDPM_CHECK(is_compute(in.dtype), device, name, ": dtype ", dtype_name(in.dtype),
               " is not supported, expected float32 or float64");
  DDPM_CHECK(inner > 0 || op == ReduceOp::Sum, device, name, ": cannot reduce over zero elements");
  DDPM_CHECK(inner >= 0 && in.layout.numel() == out.layout.numel() * inner, device, name, ": input has ",
             in.layout.numel(), " elements, expected ", out.layout.numel(), " rows of ", inner);
  if (arg)
    DDPM_CHECK(out.dtype == DType::Int64, device, name, ": output is ", dtype_name(out.dtype), ", expected int64");
  else
    DDPM_CHECK(out.dtype == in.dtype || (is_integral(in.dtype) && out.dtype == DType::Int64), device, name,
               ": output is ", dtype_name(out.dtype), ", expected ", dtype_name(in.dtype),
               is_integral(in.dtype) ? " or int64" : "");
}

}  // namespace ddpm
