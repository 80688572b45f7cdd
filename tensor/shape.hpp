// Shapes and strides: contiguous strides, broadcasting, dim normalisation, printing.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 6;

int64_t numel_of(const Shape& shape);
// Row-major strides, in elements: the last dim has stride 1.
Shape contiguous_strides(const Shape& shape);
// NumPy broadcasting of two shapes; throws naming `op` when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int normalize_dim(int64_t dim, int64_t ndim, const char* op);
std::string shape_str(const Shape& shape);

}  // namespace ddpm
