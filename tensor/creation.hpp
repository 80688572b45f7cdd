// Making tensors: empty, zeros, ones, full, arange, linspace, eye, from data.
#pragma once
#include <initializer_list>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

Tensor empty(const Shape& shape, TensorOptions opts = {});
Tensor zeros(const Shape& shape, TensorOptions opts = {});
Tensor ones(const Shape& shape, TensorOptions opts = {});
Tensor full(const Shape& shape, double value, TensorOptions opts = {});
Tensor empty_like(const Tensor& t);
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);
// [start, end) in steps of step (which may be negative), as in numpy.arange.
Tensor arange(double start, double end, double step = 1.0, TensorOptions opts = {});
Tensor arange(double end, TensorOptions opts = {});
// steps evenly spaced values from start to end, both included.
Tensor linspace(double start, double end, int64_t steps, TensorOptions opts = {});
// An n x m identity (m = n by default).
Tensor eye(int64_t n, int64_t m = -1, TensorOptions opts = {});
// From values in row-major order; an empty shape means a 1-D tensor of values.size() elements.
Tensor tensor(const std::vector<double>& values, const Shape& shape = {}, TensorOptions opts = {});
Tensor tensor(std::initializer_list<double> values, TensorOptions opts = {});
Tensor scalar_tensor(double value, TensorOptions opts = {});  // 0-dim

}  // namespace ddpm
