// Indexing with int64 indices: index_select, gather, and their adjoints index_add, scatter_add.
#include "tensor/ops.hpp"
#include "tensor/ops_common.hpp"

namespace ddpm::ops {

using namespace detail;

namespace {
void check_index(const char* op, const Tensor& x, const Tensor& index) {
  check_defined(op, x, "input");
  check_defined(op, index, "index");
  DDPM_CHECK(index.dtype() == DType::Int64, op, ": index is ", dtype_name(index.dtype()), ", expected int64");
  check_same_device(op, x, index);
}
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("index_select", x, index);
  DDPM_CHECK(index.dim() <= 1, "index_select: index has shape ", shape_str(index.shape()), ", expected 1 dim");
  DDPM_CHECK(x.dim() > 0, "index_select: input is 0-dim, expected at least 1 dim");
  int d = normalize_dim(dim, x.dim(), "index_select");
  Tensor idx = reshape(index, {index.numel()});
  Shape shape = x.shape();
  shape[size_t(d)] = idx.numel();
  Tensor out = empty(shape, TensorOptions(x.dtype(), x.device()));
  if (out.numel() > 0) backend(x.device()).index_select(out.ref(), x.ref(), idx.ref(), d);
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_index("gather", x, index);
  DDPM_CHECK(index.dim() == x.dim(), "gather: index has ", index.dim(), " dims ", shape_str(index.shape()),
             ", expected ", x.dim(), " like the input ", shape_str(x.shape()));
  int d = normalize_dim(dim, std::max<int64_t>(1, x.dim()), "gather");
  for (int64_t i = 0; i < x.dim(); ++i)
    DDPM_CHECK(i == d || index.shape()[size_t(i)] <= x.shape()[size_t(i)], "gather: index shape ",
               shape_str(index.shape()), " is larger than the input ", shape_str(x.shape()), " at dim ", i);
  Tensor out = empty(index.shape(), TensorOptions(x.dtype(), x.device()));
  if (out.numel() > 0) backend(x.device()).gather(out.ref(), x.ref(), index.ref(), d);
  return out;
}

Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index("index_add", src, index);
  check_compute_dtype("index_add", src);
  DDPM_CHECK(index.dim() <= 1, "index_add: index has shape ", shape_str(index.shape()), ", expected 1 dim");
  int d = normalize_dim(dim, int64_t(shape.size()), "index_add");
  Shape expected = shape;
  expected[size_t(d)] = index.numel();
  DDPM_CHECK(src.shape() == expected, "index_add: src has shape ", shape_str(src.shape()), ", expected ",
             shape_str(expected));
  Tensor out = zeros(shape, TensorOptions(src.dtype(), src.device()));
  if (src.numel() > 0)
    backend(src.device()).index_add(out.ref(), reshape(index, {index.numel()}).ref(), src.ref(), d);
  return out;
}

Tensor scatter_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src) {
  check_index("scatter_add", src, index);
  check_compute_dtype("scatter_add", src);
  DDPM_CHECK(index.shape() == src.shape(), "scatter_add: index shape ", shape_str(index.shape()),
             " differs from src shape ", shape_str(src.shape()));
  DDPM_CHECK(int64_t(shape.size()) == src.dim(), "scatter_add: output ", shape_str(shape), " and src ",
             shape_str(src.shape()), " have different numbers of dims");
  int d = normalize_dim(dim, std::max<int64_t>(1, src.dim()), "scatter_add");
  for (int64_t i = 0; i < src.dim(); ++i)
    DDPM_CHECK(i == d || src.shape()[size_t(i)] <= shape[size_t(i)], "scatter_add: src shape ",
               shape_str(src.shape()), " is larger than the output ", shape_str(shape), " at dim ", i);
  Tensor out = zeros(shape, TensorOptions(src.dtype(), src.device()));
  if (src.numel() > 0) backend(src.device()).scatter_add(out.ref(), index.ref(), src.ref(), d);
  return out;
}

}  // namespace ddpm::ops
