// The case table of the backend-ops harness: for every kernel of tensor/kernel_table.hpp, inputs built
// on a device (several shapes, strided, transposed and broadcast views where the kernel takes
// layouts), one call of the kernel through backend(device).name(...), a naive reference (plain loops,
// double accumulation) and the bytes and flops of the call. tests/test_backend_ops.cpp checks each
// case on the CPU against its reference and on CUDA against the CPU; bench/bench_backend_ops.cpp
// times the perf-sized cases. No doctest here, so that the bench can include it.
#pragma once
// The cases live by kernel family in tests/backend_op_cases/; this file gathers them.
#include "backend_op_cases/common.hpp"
#include "backend_op_cases/conv_norm_optim.hpp"
#include "backend_op_cases/elementwise.hpp"
#include "backend_op_cases/reduce_gemm_index.hpp"

namespace ddpm::backend_ops {

// Every case of every kernel (or of the kernels in `only`): test-sized, or perf-sized (perf = true:
// no references, which would take long at those sizes).
inline std::vector<BackendOpCase> backend_op_cases(bool perf, std::vector<std::string> only = {}) {
  CaseList L;
  L.perf = perf;
  L.only = std::move(only);
  add_copy_cases(L);
  add_fill_cases(L);
  add_unary_cases(L);
  add_binary_cases(L);
  add_binary_scalar_cases(L);
  add_where_cases(L);
  add_reduce_cases(L);
  add_softmax_cases(L);
  add_gemm_cases(L);
  add_index_cases(L);
  add_random_cases(L);
  add_conv_cases(L);
  add_group_norm_cases(L);
  add_optimizer_cases(L);
  return L.cases;
}

}  // namespace ddpm::backend_ops
