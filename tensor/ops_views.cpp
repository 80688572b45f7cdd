// Views: new shape/strides/offset over the same storage, no data copied (reshape copies only when
// the strides make a view impossible).
#include <algorithm>
#include <optional>

#include "tensor/macros.hpp"
#include "tensor/ops.hpp"

namespace ddpm::ops {

namespace {

Tensor make_view(const Tensor& x, const Shape& shape, const Shape& strides, int64_t offset) {
  return Tensor::view_of(x.storage(), shape, strides, offset, x.dtype());
}

// Replaces a single -1 by the size that keeps numel, and checks the total.
Shape infer_shape(const char* op, const Tensor& x, Shape shape) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      DDPM_CHECK(infer_at < 0, op, ": only one dim may be -1, got ", shape_str(shape));
      infer_at = int64_t(i);
    } else {
      DDPM_CHECK(shape[i] >= 0, op, ": invalid size ", shape[i], " in ", shape_str(shape));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    DDPM_CHECK(known != 0 && x.numel() % known == 0, op, ": cannot infer the -1 in ", shape_str(shape),
               " for ", x.numel(), " elements of shape ", shape_str(x.shape()));
    shape[size_t(infer_at)] = x.numel() / known;
  }
  DDPM_CHECK(numel_of(shape) == x.numel(), op, ": shape ", shape_str(shape), " (", numel_of(shape),
             " elements) does not match input of shape ", shape_str(x.shape()), " (", x.numel(), " elements)");
  return shape;
}

// Strides that let `shape` view x's elements in the same row-major order, if any exist. Walks the
// old dims from the right in chunks whose elements are evenly strided, and lays the new dims over
// each chunk (PyTorch's computeStride follows the same idea).
std::optional<Shape> view_strides(const Tensor& x, const Shape& shape) {
  if (x.numel() == 0 || x.dim() == 0) return contiguous_strides(shape);
  const Shape& old = x.shape();
  const Shape& old_strides = x.strides();
  Shape strides(shape.size(), 1);
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[size_t(d)];
    bool chunk_ends = d == 0 || (old[size_t(d - 1)] != 1 && old_strides[size_t(d - 1)] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
      strides[size_t(view_d)] = view_numel * chunk_base_stride;
      view_numel *= shape[size_t(view_d)];
      --view_d;
    }
    if (view_numel != tensor_numel) return std::nullopt;
    if (d > 0) {
      chunk_base_stride = old_strides[size_t(d - 1)];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return std::nullopt;
  return strides;
}

}  // namespace

Tensor view(const Tensor& x, Shape shape) {
  shape = infer_shape("view", x, std::move(shape));
  auto strides = view_strides(x, shape);
  DDPM_CHECK(strides.has_value(), "view: cannot view a tensor of shape ", shape_str(x.shape()), " and strides ",
             shape_str(x.strides()), " as ", shape_str(shape), "; call contiguous() first or use reshape");
  return make_view(x, shape, *strides, x.offset());
}

Tensor reshape(const Tensor& x, Shape shape) {
  shape = infer_shape("reshape", x, std::move(shape));
  if (auto strides = view_strides(x, shape)) return make_view(x, shape, *strides, x.offset());
  return view(x.contiguous(), shape);
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  int s = normalize_dim(start_dim, x.dim(), "flatten"), e = normalize_dim(end_dim, x.dim(), "flatten");
  DDPM_CHECK(s <= e, "flatten: start_dim ", start_dim, " comes after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int d = s; d <= e; ++d) n *= x.shape()[size_t(d)];
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& dims) {
  DDPM_CHECK(int64_t(dims.size()) == x.dim(), "permute: got ", dims.size(), " dims for a tensor with ", x.dim(),
             " dims, expected a permutation of all of them");
  Shape shape(dims.size()), strides(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_dim(dims[i], x.dim(), "permute");
    DDPM_CHECK(!seen[size_t(d)], "permute: dim ", dims[i], " appears twice in ", shape_str(dims));
    seen[size_t(d)] = true;
    shape[i] = x.shape()[size_t(d)];
    strides[i] = x.strides()[size_t(d)];
  }
  return make_view(x, shape, strides, x.offset());
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  int a = normalize_dim(dim0, x.dim(), "transpose"), b = normalize_dim(dim1, x.dim(), "transpose");
  Shape shape = x.shape(), strides = x.strides();
  if (x.dim() == 0) return x;
  std::swap(shape[size_t(a)], shape[size_t(b)]);
  std::swap(strides[size_t(a)], strides[size_t(b)]);
  return make_view(x, shape, strides, x.offset());
}

Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
  DDPM_CHECK(x.dim() > 0, "slice: cannot slice a 0-dim tensor");
  int d = normalize_dim(dim, x.dim(), "slice");
  DDPM_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  int64_t n = x.shape()[size_t(d)];
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape shape = x.shape(), strides = x.strides();
  shape[size_t(d)] = (end - start + step - 1) / step;
  strides[size_t(d)] *= step;
  return make_view(x, shape, strides, x.offset() + start * x.strides()[size_t(d)]);
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  DDPM_CHECK(x.dim() > 0, "narrow: cannot narrow a 0-dim tensor");
  int d = normalize_dim(dim, x.dim(), "narrow");
  int64_t n = x.shape()[size_t(d)];
  if (start < 0) start += n;
  DDPM_CHECK_INDEX(start >= 0 && length >= 0 && start + length <= n, "narrow: start ", start, " and length ",
                   length, " do not fit dim ", dim, " of size ", n);
  return slice(x, d, start, start + length);
}

Tensor select(const Tensor& x, int64_t dim, int64_t index) {
  DDPM_CHECK(x.dim() > 0, "select: cannot select from a 0-dim tensor");
  int d = normalize_dim(dim, x.dim(), "select");
  int64_t n = x.shape()[size_t(d)];
  DDPM_CHECK_INDEX(index >= -n && index < n, "select: index ", index, " is out of range for dim ", dim,
                   " of size ", n);
  if (index < 0) index += n;
  Shape shape = x.shape(), strides = x.strides();
  int64_t offset = x.offset() + index * strides[size_t(d)];
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return make_view(x, shape, strides, offset);
}

Tensor expand(const Tensor& x, const Shape& shape) {
  DDPM_CHECK(shape.size() >= size_t(x.dim()), "expand: target ", shape_str(shape), " has fewer dims than the input ",
             shape_str(x.shape()));
  size_t lead = shape.size() - size_t(x.dim());
  Shape out(shape.size()), strides(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) {
      DDPM_CHECK(shape[i] >= 0, "expand: new leading dim ", i, " cannot be ", shape[i]);
      out[i] = shape[i];
      continue;
    }
    int64_t have = x.shape()[i - lead];
    int64_t want = shape[i] == -1 ? have : shape[i];
    DDPM_CHECK(have == want || have == 1, "expand: cannot expand ", shape_str(x.shape()), " to ", shape_str(shape),
               " (dim ", i, ": ", have, " to ", want, "; only size-1 dims expand)");
    out[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  return make_view(x, out, strides, x.offset());
}

Tensor squeeze(const Tensor& x) {
  Shape shape, strides;
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (x.shape()[size_t(d)] == 1) continue;
    shape.push_back(x.shape()[size_t(d)]);
    strides.push_back(x.strides()[size_t(d)]);
  }
  return make_view(x, shape, strides, x.offset());
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  if (x.dim() == 0) return x;
  int d = normalize_dim(dim, x.dim(), "squeeze");
  if (x.shape()[size_t(d)] != 1) return x;
  Shape shape = x.shape(), strides = x.strides();
  shape.erase(shape.begin() + d);
  strides.erase(strides.begin() + d);
  return make_view(x, shape, strides, x.offset());
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  int d = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape(), strides = x.strides();
  int64_t stride = size_t(d) < strides.size() ? strides[size_t(d)] * shape[size_t(d)] : 1;
  shape.insert(shape.begin() + d, 1);
  strides.insert(strides.begin() + d, stride);
  return make_view(x, shape, strides, x.offset());
}

}  // namespace ddpm::ops
