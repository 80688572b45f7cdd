// Reductions over any dims (sum, mean, max, min, var, argmax, argmin) and softmax along a dim.
// The front end permutes the reduced dims to the end, so every kernel sees rows of `inner` elements.
#include <algorithm>

#include "tensor/ops.hpp"
#include "tensor/ops_common.hpp"

namespace ddpm::ops {

using namespace detail;

namespace {

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> dims, bool keepdim, int64_t correction = 0) {
  const char* name = reduce_name(op);
  check_defined(name, x, "input");
  if (op == ReduceOp::Mean || op == ReduceOp::Var) check_compute_dtype(name, x); else check_numeric_dtype(name, x);
  const int64_t nd = x.dim();
  if (nd == 0) {  // a scalar reduces to itself (dims may name dim 0 or -1)
    for (int64_t d : dims) normalize_dim(d, 0, name);
    Tensor t = reshape(x, {1});
    Tensor out = empty({}, TensorOptions(op == ReduceOp::ArgMax || op == ReduceOp::ArgMin ? DType::Int64 : x.dtype(), x.device()));
    backend(x.device()).reduce(op, out.ref(), t.ref(), 1, correction);
    return out;
  }
  std::vector<bool> reduced(size_t(nd), dims.empty());
  for (int64_t d : dims) {
    int n = normalize_dim(d, nd, name);
    DDPM_CHECK(!reduced[size_t(n)], name, ": dim ", d, " appears twice in ", shape_str(dims));
    reduced[size_t(n)] = true;
  }
  std::vector<int64_t> perm;
  Shape out_shape;
  int64_t inner = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (!reduced[size_t(d)]) {
      perm.push_back(d);
      out_shape.push_back(x.shape()[size_t(d)]);
    } else if (keepdim) {
      out_shape.push_back(1);
    }
  }
  for (int64_t d = 0; d < nd; ++d) {
    if (reduced[size_t(d)]) {
      perm.push_back(d);
      inner *= x.shape()[size_t(d)];
    }
  }
  DDPM_CHECK(inner > 0 || op == ReduceOp::Sum, name, ": cannot reduce over zero elements (input shape ",
             shape_str(x.shape()), ")");
  DType out_dtype = (op == ReduceOp::ArgMax || op == ReduceOp::ArgMin) ? DType::Int64 : x.dtype();
  Tensor out = empty(out_shape, TensorOptions(out_dtype, x.device()));
  backend(x.device()).reduce(op, out.ref(), permute(x, perm).ref(), inner, correction);
  return out;
}

Tensor softmax_impl(const Tensor& x, int64_t dim, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_defined(name, x, "input");
  check_compute_dtype(name, x);
  if (x.dim() == 0) {
    normalize_dim(dim, 0, name);
    return reshape(softmax_impl(reshape(x, {1}), 0, log), {});
  }
  int d = normalize_dim(dim, x.dim(), name);
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.dim(); ++i) if (i != d) perm.push_back(i);
  perm.push_back(d);
  Tensor out = empty_like(x);
  if (x.numel() == 0) return out;
  backend(x.device()).softmax(permute(out, perm).ref(), permute(x, perm).ref(), x.shape()[size_t(d)], log);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(ReduceOp::Sum, x, dims, keepdim); }
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(ReduceOp::Mean, x, dims, keepdim); }
Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(ReduceOp::Max, x, dims, keepdim); }
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) { return reduce(ReduceOp::Min, x, dims, keepdim); }
Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  DDPM_CHECK(correction >= 0, "var: correction must be >= 0, got ", correction);
  return reduce(ReduceOp::Var, x, dims, keepdim, correction);
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return reduce(ReduceOp::ArgMax, x, {dim}, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return reduce(ReduceOp::ArgMin, x, {dim}, keepdim); }

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true); }

}  // namespace ddpm::ops
