// Differentiable reductions and softmax. A reduction's output has fewer elements than its input, so
// the backward first views g with the reduced dims kept as size 1 (`unreduce`), then broadcasts it
// back over the elements each output was made from.
#include <algorithm>

#include "autograd/autograd.hpp"

namespace ddpm {

namespace {

// The shape of x reduced over `dims` with keepdim (empty dims: all dims).
Shape keepdim_shape(const Shape& x_shape, const std::vector<int64_t>& dims) {
  Shape shape = x_shape;
  if (dims.empty()) std::fill(shape.begin(), shape.end(), 1);
  for (int64_t d : dims) shape[size_t(normalize_dim(d, int64_t(x_shape.size()), "reduce"))] = 1;
  return shape;
}

// g (the gradient of a reduction's output) viewed with the reduced dims as size 1, so that it
// broadcasts against x.
Tensor unreduce(const Tensor& g, const Shape& x_shape, const std::vector<int64_t>& dims) {
  return ops::reshape(g, keepdim_shape(x_shape, dims));
}

// How many elements of x went into each output element.
int64_t reduced_count(const Shape& x_shape, const std::vector<int64_t>& dims) {
  return numel_of(x_shape) / numel_of(keepdim_shape(x_shape, dims));
}

// max and min: the gradient goes to the elements equal to the result, split evenly among ties.
Tensor extreme_backward(const Tensor& g, const Tensor& x, const Tensor& y, const std::vector<int64_t>& dims) {
  Tensor hit = ops::eq(x, unreduce(y, x.shape(), dims)).to(x.dtype());  // 1 where x is the extreme
  Tensor count = ops::sum(hit, dims, /*keepdim=*/true);
  return hit * unreduce(g, x.shape(), dims) / count;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  // Every element adds to its output with weight 1.
  return record("sum", ops::sum(x, dims, keepdim), {x}, [sx = x.shape(), dims](const Tensor& g) -> Grads {
    return {ops::expand(unreduce(g, sx, dims), sx)};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return record("mean", ops::mean(x, dims, keepdim), {x}, [sx = x.shape(), dims](const Tensor& g) -> Grads {
    return {ops::expand(unreduce(g, sx, dims) / double(reduced_count(sx, dims)), sx)};
  });
}

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = ops::max(x, dims, keepdim);
  return record("max", y, {x}, [x, y, dims](const Tensor& g) -> Grads { return {extreme_backward(g, x, y, dims)}; });
}

Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor y = ops::min(x, dims, keepdim);
  return record("min", y, {x}, [x, y, dims](const Tensor& g) -> Grads { return {extreme_backward(g, x, y, dims)}; });
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim) {
  // var = sum((x - mean)^2) / (n - correction); d var / dx_i = 2 (x_i - mean) / (n - correction)
  // (the terms through the mean sum to zero).
  return record("var", ops::var(x, dims, correction, keepdim), {x}, [x, dims, correction](const Tensor& g) -> Grads {
    double denom = double(reduced_count(x.shape(), dims) - correction);
    Tensor centered = x - ops::mean(x, dims, /*keepdim=*/true);
    return {unreduce(g, x.shape(), dims) * centered * (2.0 / denom)};
  });
}

Tensor softmax(const Tensor& x, int64_t dim) {
  // y = softmax(x): dy_i/dx_j = y_i (delta_ij - y_j), so dx = y * (g - sum(g * y)) along dim.
  Tensor y = ops::softmax(x, dim);
  return record("softmax", y, {x}, [y, dim](const Tensor& g) -> Grads {
    return {y * (g - ops::sum(g * y, {dim}, /*keepdim=*/true))};
  });
}

Tensor log_softmax(const Tensor& x, int64_t dim) {
  // y = x - logsumexp(x): dy_i/dx_j = delta_ij - softmax_j, so dx = g - exp(y) * sum(g) along dim.
  Tensor y = ops::log_softmax(x, dim);
  return record("log_softmax", y, {x}, [y, dim](const Tensor& g) -> Grads {
    return {g - ops::exp(y) * ops::sum(g, {dim}, /*keepdim=*/true)};
  });
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  // grad's shape is `shape` broadcast: leading dims were added, and size-1 dims were stretched.
  const int64_t lead = grad.dim() - int64_t(shape.size());
  DDPM_CHECK(lead >= 0, "sum_to: cannot sum ", shape_str(grad.shape()), " to the larger shape ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < grad.dim(); ++d)
    if (d < lead || (shape[size_t(d - lead)] == 1 && grad.shape()[size_t(d)] != 1)) dims.push_back(d);
  Tensor summed = dims.empty() ? grad : sum(grad, dims, /*keepdim=*/true);
  return reshape(summed, shape);  // drops the added leading dims (and checks the sizes)
}

}  // namespace ddpm
