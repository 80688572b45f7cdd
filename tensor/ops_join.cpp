// Joining and splitting: cat and stack copy into slices of one output, split and chunk are views,
// pad fills a larger tensor and copies the input into its middle.
#include "tensor/ops.hpp"
#include "tensor/ops_common.hpp"

namespace ddpm::ops {

using namespace detail;

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  DDPM_CHECK(!tensors.empty(), "cat: expected at least one tensor, got none");
  const Tensor& first = tensors[0];
  check_defined("cat", first, "tensor 0");
  DDPM_CHECK(first.dim() > 0, "cat: cannot concatenate 0-dim tensors, unsqueeze them or use stack");
  int d = normalize_dim(dim, first.dim(), "cat");
  Shape shape = first.shape();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    check_defined("cat", t, "a tensor");
    check_same_device("cat", first, t);
    check_same_dtype("cat", first, t);
    DDPM_CHECK(t.dim() == first.dim(), "cat: tensor ", i, " has shape ", shape_str(t.shape()), ", expected ",
               first.dim(), " dims like tensor 0 ", shape_str(first.shape()));
    for (int64_t j = 0; j < t.dim(); ++j)
      DDPM_CHECK(j == d || t.shape()[size_t(j)] == shape[size_t(j)], "cat: tensor ", i, " has shape ",
                 shape_str(t.shape()), ", which differs from tensor 0 ", shape_str(first.shape()),
                 " outside dim ", dim);
    total += t.shape()[size_t(d)];
  }
  shape[size_t(d)] = total;
  Tensor out = empty(shape, TensorOptions(first.dtype(), first.device()));
  int64_t at = 0;
  for (const Tensor& t : tensors) {
    int64_t len = t.shape()[size_t(d)];
    if (len > 0 && t.numel() > 0) backend(out.device()).copy(narrow(out, d, at, len).ref(), t.ref());
    at += len;
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  DDPM_CHECK(!tensors.empty(), "stack: expected at least one tensor, got none");
  check_defined("stack", tensors[0], "tensor 0");
  int d = normalize_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_defined("stack", tensors[i], "a tensor");
    check_same_device("stack", tensors[0], tensors[i]);
    check_same_dtype("stack", tensors[0], tensors[i]);
    DDPM_CHECK(tensors[i].shape() == tensors[0].shape(), "stack: tensor ", i, " has shape ",
               shape_str(tensors[i].shape()), ", expected ", shape_str(tensors[0].shape()), " like tensor 0");
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  DDPM_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  int d = normalize_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    DDPM_CHECK(s >= 0, "split: sizes must be >= 0, got ", shape_str(sizes));
    total += s;
  }
  DDPM_CHECK(total == x.shape()[size_t(d)], "split: sizes ", shape_str(sizes), " add up to ", total, ", but dim ",
             dim, " has size ", x.shape()[size_t(d)]);
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(x, d, at, s));
    at += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim) {
  DDPM_CHECK(split_size > 0, "split: split_size must be > 0, got ", split_size);
  DDPM_CHECK(x.dim() > 0, "split: cannot split a 0-dim tensor");
  int64_t n = x.shape()[size_t(normalize_dim(dim, x.dim(), "split"))];
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += split_size) sizes.push_back(std::min(split_size, n - at));
  if (sizes.empty()) sizes.push_back(0);
  return split(x, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  DDPM_CHECK(chunks > 0, "chunk: chunks must be > 0, got ", chunks);
  DDPM_CHECK(x.dim() > 0, "chunk: cannot chunk a 0-dim tensor");
  int64_t n = x.shape()[size_t(normalize_dim(dim, x.dim(), "chunk"))];
  return split(x, std::max<int64_t>(1, (n + chunks - 1) / chunks), dim);
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_defined("pad", x, "input");
  DDPM_CHECK(pads.size() % 2 == 0 && int64_t(pads.size()) <= 2 * x.dim(), "pad: got ", pads.size(),
             " pad amounts for a tensor with ", x.dim(), " dims, expected an even number up to ", 2 * x.dim());
  Shape shape = x.shape();
  Tensor src = x;  // the part of x that survives cropping
  std::vector<int64_t> dst_start(size_t(x.dim()), 0);
  for (size_t i = 0; i < pads.size() / 2; ++i) {
    size_t d = size_t(x.dim()) - 1 - i;
    int64_t left = pads[2 * i], right = pads[2 * i + 1];
    int64_t n = shape[d] + left + right;
    DDPM_CHECK(n >= 0, "pad: padding ", left, ", ", right, " makes dim ", d, " of size ", shape[d], " negative");
    int64_t crop_left = left < 0 ? -left : 0, crop_right = right < 0 ? -right : 0;
    int64_t keep = std::max<int64_t>(0, shape[d] - crop_left - crop_right);
    src = narrow(src, int64_t(d), std::min(crop_left, shape[d]), keep);
    dst_start[d] = left > 0 ? left : 0;
    shape[d] = n;
  }
  Tensor out = full(shape, value, TensorOptions(x.dtype(), x.device()));
  if (src.numel() == 0) return out;
  Tensor dst = out;
  for (int64_t d = 0; d < x.dim(); ++d) dst = narrow(dst, d, dst_start[size_t(d)], src.shape()[size_t(d)]);
  backend(out.device()).copy(dst.ref(), src.ref());
  return out;
}

}  // namespace ddpm::ops
