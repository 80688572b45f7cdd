// Differentiable joining, splitting, padding and indexing. Each backward sends every element of the
// gradient back to the input element it came from: the adjoint of the forward's data movement.
#include "autograd/autograd.hpp"

namespace ddpm {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = ops::cat(tensors, dim);  // checks the inputs
  int d = normalize_dim(dim, tensors[0].dim(), "cat");
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[size_t(d)]);
  // Input i gets its slice of g back.
  return record("cat", y, tensors, [sizes, d](const Tensor& g) -> Grads {
    Grads grads;
    int64_t at = 0;
    for (int64_t s : sizes) {
      grads.push_back(ops::narrow(g, d, at, s));
      at += s;
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = ops::stack(tensors, dim);
  int d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  // Input i is g's entry i along the new dim.
  return record("stack", y, tensors, [n = tensors.size(), d](const Tensor& g) -> Grads {
    Grads grads;
    for (size_t i = 0; i < n; ++i) grads.push_back(ops::select(g, d, int64_t(i)));
    return grads;
  });
}

// Splits are views: each piece is a narrow of x, recorded as its own node. ops:: checks the arguments
// and decides the piece sizes.
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  std::vector<Tensor> pieces = ops::split(x, sizes, dim);
  int d = normalize_dim(dim, x.dim(), "split");
  int64_t at = 0;
  for (Tensor& piece : pieces) {
    int64_t len = piece.shape()[size_t(d)];
    piece = narrow(x, d, at, len);
    at += len;
  }
  return pieces;
}

namespace {
std::vector<int64_t> sizes_along(const std::vector<Tensor>& pieces, int d) {
  std::vector<int64_t> sizes;
  for (const Tensor& piece : pieces) sizes.push_back(piece.shape()[size_t(d)]);
  return sizes;
}
}  // namespace

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  std::vector<Tensor> pieces = ops::split(x, split_size, dim);
  return split(x, sizes_along(pieces, normalize_dim(dim, x.dim(), "split")), dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  std::vector<Tensor> pieces = ops::chunk(x, chunks, dim);
  return split(x, sizes_along(pieces, normalize_dim(dim, x.dim(), "chunk")), dim);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  // Padding by p and cropping by p undo each other (negative pads crop), so the gradient of pad(x, p)
  // is pad(g, -p): the padded border is cut off, and where the forward cropped, zeros come back.
  std::vector<int64_t> undo(pads.size());
  for (size_t i = 0; i < pads.size(); ++i) undo[i] = -pads[i];
  return record("pad", ops::pad(x, pads, value), {x}, [undo](const Tensor& g) -> Grads {
    return {ops::pad(g, undo, 0.0)};
  });
}

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  // out[.., j, ..] = x[.., index[j], ..], so dx[.., index[j], ..] += g[.., j, ..] (repeats add up).
  return record("index_select", ops::index_select(x, dim, index), {x, index},
                [sx = x.shape(), dim, index](const Tensor& g) -> Grads {
                  return {ops::index_add(sx, dim, index, g), Tensor()};
                });
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  return record("gather", ops::gather(x, dim, index), {x, index},
                [sx = x.shape(), dim, index](const Tensor& g) -> Grads {
                  return {ops::scatter_add(sx, dim, index, g), Tensor()};
                });
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  // The adjoint of index_select, so its own backward is index_select.
  return record("index_add", ops::index_add(shape, dim, index, src), {index, src},
                [dim, index](const Tensor& g) -> Grads { return {Tensor(), ops::index_select(g, dim, index)}; });
}

Tensor scatter_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  return record("scatter_add", ops::scatter_add(shape, dim, index, src), {index, src},
                [dim, index](const Tensor& g) -> Grads { return {Tensor(), ops::gather(g, dim, index)}; });
}

}  // namespace ddpm
