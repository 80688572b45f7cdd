// Shapes and strides: contiguous strides, broadcasting, dim normalisation, printing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

using Shape = std::vector<int64_t>;
constexpr int kMaxDims = 6;
// The most elements a tensor may have, counting a zero-sized dim as 1 (so that the contiguous strides
// of a shape such as [0, 2^40, 2^40] fit too): 2^48 elements keep every byte offset and stride far
// inside int64 for any dtype.
constexpr int64_t kMaxElements = int64_t(1) << 48;

// What is wrong with a shape, or "" when it is sound: at most max_dims dims, none negative, and the
// product of the dims (zero-sized ones counted as 1) at most kMaxElements, computed without overflow.
std::string shape_problem(const Shape& shape, size_t max_dims = kMaxDims);
// The one check of every shape made from outside data (files, options): throws std::invalid_argument
// "<who>: shape [...] <problem>" when shape_problem finds one. Tensor::empty runs it too, without the
// limit on dims (a tensor of more dims can exist as long as no op is asked to run on it).
void check_shape(const Shape& shape, const std::string& who, size_t max_dims = kMaxDims);

int64_t numel_of(const Shape& shape);
// Row-major strides, in elements: the last dim has stride 1.
Shape contiguous_strides(const Shape& shape);
// NumPy broadcasting of two shapes; throws naming `op` when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);
// Maps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
int normalize_dim(int64_t dim, int64_t ndim, const char* op);
std::string shape_str(const Shape& shape);

}  // namespace ddpm
