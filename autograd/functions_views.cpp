// Differentiable views and copies. A view moves elements without changing them, so its backward
// moves the gradient back: the inverse view (reshape, permute), a sum over the copies (expand), or
// zeros with the gradient written into the part the view picked (slice, narrow, select).
#include <algorithm>

#include "autograd/autograd.hpp"

namespace ddpm {

namespace {

// The gradient of a view that picks some of x's elements: zeros shaped like x, with g written into
// the same view of them (`pick` applied to the zeros picks the same elements it picked from x).
template <typename Pick>
Tensor embed(const Tensor& g, const Shape& x_shape, Pick pick) {
  Tensor gx = zeros(x_shape, TensorOptions(g.dtype(), g.device()));
  pick(gx).copy_(g);
  return gx;
}

}  // namespace

Tensor reshape(const Tensor& x, Shape shape) {
  return record("reshape", ops::reshape(x, std::move(shape)), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor view(const Tensor& x, Shape shape) {
  // g may not be viewable as x's shape (it can be any layout), so the backward reshapes.
  return record("view", ops::view(x, std::move(shape)), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  return record("flatten", ops::flatten(x, start_dim, end_dim), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor y = ops::permute(x, dims);  // checks dims
  // y's dim i is x's dim dims[i], so x's dim dims[i] is g's dim i.
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[size_t(normalize_dim(dims[i], x.dim(), "permute"))] = int64_t(i);
  return record("permute", y, {x}, [inverse](const Tensor& g) -> Grads { return {ops::permute(g, inverse)}; });
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  return record("transpose", ops::transpose(x, dim0, dim1), {x},
                [dim0, dim1](const Tensor& g) -> Grads { return {ops::transpose(g, dim0, dim1)}; });
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  return record("slice", ops::slice(x, dim, start, end, step), {x},
                [sx = x.shape(), dim, start, end, step](const Tensor& g) -> Grads {
                  return {embed(g, sx, [&](const Tensor& z) { return ops::slice(z, dim, start, end, step); })};
                });
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  return record("narrow", ops::narrow(x, dim, start, length), {x},
                [sx = x.shape(), dim, start, length](const Tensor& g) -> Grads {
                  return {embed(g, sx, [&](const Tensor& z) { return ops::narrow(z, dim, start, length); })};
                });
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  return record("select", ops::select(x, dim, index), {x},
                [sx = x.shape(), dim, index](const Tensor& g) -> Grads {
                  return {embed(g, sx, [&](const Tensor& z) { return ops::select(z, dim, index); })};
                });
}

Tensor expand(const Tensor& x, const Shape& shape) {
  // Each element of x appears many times in the output: its gradient is the sum over the copies.
  return record("expand", ops::expand(x, shape), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {sum_to(g, sx)}; });
}

Tensor squeeze(const Tensor& x) {
  return record("squeeze", ops::squeeze(x), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  return record("squeeze", ops::squeeze(x, dim), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  return record("unsqueeze", ops::unsqueeze(x, dim), {x},
                [sx = x.shape()](const Tensor& g) -> Grads { return {ops::reshape(g, sx)}; });
}

Tensor contiguous(const Tensor& x) {
  return record("contiguous", x.contiguous(), {x}, [](const Tensor& g) -> Grads { return {g}; });
}

Tensor clone(const Tensor& x) {
  return record("clone", x.clone(), {x}, [](const Tensor& g) -> Grads { return {g}; });
}

Tensor to(const Tensor& x, Device device) {
  // Copying to another device: the gradient comes back the same way.
  return record("to", x.to(device), {x}, [from = x.device()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

Tensor to(const Tensor& x, DType dtype) {
  DDPM_CHECK(!needs_grad({x}) || is_floating(dtype), "to: converting ", describe(x), " (which requires grad) to ",
             dtype_name(dtype), " would cut the gradient; detach it first");
  return record("to", x.to(dtype), {x}, [from = x.dtype()](const Tensor& g) -> Grads { return {g.to(from)}; });
}

}  // namespace ddpm
