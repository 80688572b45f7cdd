// Shapes and strides: contiguous strides, broadcasting, dim normalisation, printing.
#include "tensor/shape.hpp"

#include <sstream>

#include "tensor/macros.hpp"

namespace ddpm {

std::string shape_problem(const Shape& shape, size_t max_dims) {
  if (shape.size() > max_dims)
    return "has " + std::to_string(shape.size()) + " dims, at most " + std::to_string(max_dims) + " are supported";
  int64_t span = 1;  // the product so far, zero-sized dims counted as 1; stays <= kMaxElements
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) return "has a negative size in dim " + std::to_string(d);
    const int64_t size = shape[d] > 0 ? shape[d] : 1;
    if (size > kMaxElements / span)
      return "has more than 2^48 elements (counting zero-sized dims as 1), beyond what a tensor can hold";
    span *= size;
  }
  return "";
}

void check_shape(const Shape& shape, const std::string& who, size_t max_dims) {
  const std::string problem = shape_problem(shape, max_dims);
  DDPM_CHECK(problem.empty(), who, ": shape ", shape_str(shape), " ", problem);
}

int64_t numel_of(const Shape& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

Shape contiguous_strides(const Shape& shape) {
  Shape strides(shape.size());
  int64_t s = 1;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
    strides[d] = s;
    s *= shape[d] > 0 ? shape[d] : 1;
  }
  return strides;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    DDPM_CHECK(da == db || da == 1 || db == 1, op, ": shapes ", shape_str(a), " and ", shape_str(b),
               " do not broadcast (dim ", i, ": ", da, " vs ", db, ")");
    out[i] = da == 1 ? db : da;
  }
  return out;
}

int normalize_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  DDPM_CHECK_INDEX(dim >= lo && dim <= hi, op, ": dim ", dim, " is out of range for a tensor with ",
                   ndim, " dims, expected a dim in [", lo, ", ", hi, "]");
  return int(dim < 0 ? dim + (ndim == 0 ? 1 : ndim) : dim);
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << "]";
  return os.str();
}

}  // namespace ddpm
