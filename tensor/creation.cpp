// Making tensors: empty, zeros, ones, full, arange, linspace, eye, from data.
#include "tensor/creation.hpp"

#include <cmath>

#include "tensor/macros.hpp"

namespace ddpm {

Tensor empty(const Shape& shape, TensorOptions opts) { return Tensor::empty(shape, opts); }
Tensor full(const Shape& shape, double value, TensorOptions opts) { return empty(shape, opts).fill_(value); }
Tensor zeros(const Shape& shape, TensorOptions opts) { return full(shape, 0.0, opts); }
Tensor ones(const Shape& shape, TensorOptions opts) { return full(shape, 1.0, opts); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), TensorOptions(t.dtype(), t.device())); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, TensorOptions(t.dtype(), t.device())); }

// Small 1-D and 2-D constants are computed on the host in double, then converted and moved.
static Tensor from_host_doubles(const std::vector<double>& values, const Shape& shape, TensorOptions opts) {
  return Tensor::from_vector(values, shape, opts.device).to(opts.dtype);  // one upload, converted there
}

Tensor arange(double start, double end, double step, TensorOptions opts) {
  DDPM_CHECK(step != 0 && std::isfinite(step), "arange: step must be finite and nonzero, got ", step);
  double count = std::ceil((end - start) / step);
  int64_t n = count > 0 ? int64_t(count) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i) * step;
  return from_host_doubles(v, {n}, opts);
}

Tensor arange(double end, TensorOptions opts) { return arange(0.0, end, 1.0, opts); }

Tensor linspace(double start, double end, int64_t steps, TensorOptions opts) {
  DDPM_CHECK(steps >= 0, "linspace: steps must be >= 0, got ", steps);
  std::vector<double> v(static_cast<size_t>(steps));
  double delta = steps > 1 ? (end - start) / double(steps - 1) : 0.0;
  // Fill from both ends so the last value is exactly `end`, as torch.linspace does.
  for (int64_t i = 0; i < steps; ++i)
    v[size_t(i)] = i < steps / 2 ? start + delta * double(i) : end - delta * double(steps - 1 - i);
  if (steps == 1) v[0] = start;
  return from_host_doubles(v, {steps}, opts);
}

Tensor eye(int64_t n, int64_t m, TensorOptions opts) {
  if (m < 0) m = n;
  DDPM_CHECK(n >= 0, "eye: n must be >= 0, got ", n);
  std::vector<double> v(size_t(n * m), 0.0);
  for (int64_t i = 0; i < std::min(n, m); ++i) v[size_t(i * m + i)] = 1.0;
  return from_host_doubles(v, {n, m}, opts);
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, TensorOptions opts) {
  Shape s = shape.empty() ? Shape{int64_t(values.size())} : shape;
  DDPM_CHECK(numel_of(s) == int64_t(values.size()), "tensor: ", values.size(), " values do not fill shape ",
             shape_str(s), " (", numel_of(s), " elements)");
  return from_host_doubles(values, s, opts);
}

Tensor tensor(std::initializer_list<double> values, TensorOptions opts) {
  return tensor(std::vector<double>(values), {}, opts);
}

Tensor scalar_tensor(double value, TensorOptions opts) { return full({}, value, opts); }

}  // namespace ddpm
