// Tensor: handles, metadata, conversions between devices and dtypes, copies and printing.
#include "tensor/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ostream>
#include <sstream>

#include "tensor/host_sync.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

Tensor Tensor::empty(const Shape& shape, TensorOptions opts) {
  check_shape(shape, "empty", SIZE_MAX);  // numel, nbytes and the strides below then cannot overflow
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(numel_of(shape)) * dtype_size(opts.dtype), opts.device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = opts.dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                       int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& data, const Shape& shape, Device device) {
  DDPM_CHECK(int64_t(data.size()) == numel_of(shape), "from_vector: ", data.size(),
             " values do not fill shape ", shape_str(shape), " (", numel_of(shape), " elements)");
  Tensor host = empty(shape, TensorOptions(dtype_of<T>(), Device::cpu()));
  if (!data.empty()) std::memcpy(host.raw_data(), data.data(), data.size() * sizeof(T));
  count_upload();  // host data into a tensor: on a GPU, a copy from the host
  return host.to_device_uncounted(device);
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw std::logic_error("tensor: use of an undefined tensor (default-constructed Tensor)");
  return *impl_;
}

int64_t Tensor::size(int64_t d) const { return shape()[normalize_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[normalize_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(storage()->data()) + offset() * int64_t(element_size());
}

template <typename T>
T* Tensor::data() const {
  DDPM_CHECK(dtype() == dtype_of<T>(), "data: tensor is ", dtype_name(dtype()), ", asked for ",
             dtype_name(dtype_of<T>()));
  DDPM_CHECK(device().is_cpu(), "data: tensor is on ", device().str(), ", host pointers need a cpu tensor (call .cpu())");
  return static_cast<T*>(raw_data());
}

TensorRef Tensor::ref() const {
  DDPM_CHECK(dim() <= kMaxDims, "tensor has ", dim(), " dims, ops support at most ", kMaxDims);
  TensorRef r;
  r.data = storage()->data();
  r.dtype = dtype();
  r.layout.ndim = int32_t(dim());
  for (int64_t d = 0; d < dim(); ++d) {
    r.layout.sizes[d] = shape()[d];
    r.layout.strides[d] = strides()[d];
  }
  r.layout.offset = offset();
  r.layout.contiguous = is_contiguous();
  return r;
}

double Tensor::item() const {
  DDPM_CHECK(numel() == 1, "item: tensor has ", numel(), " elements ", shape_str(shape()), ", expected exactly 1");
  count_host_read();  // on a GPU: a copy to the host, so a wait for the stream
  Tensor host = to_device_uncounted(Device::cpu()).to(DType::Float64);
  return *static_cast<const double*>(host.raw_data());
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  count_host_read();
  Tensor host = to_device_uncounted(Device::cpu()).to(dtype_of<T>()).contiguous();
  std::vector<T> out(static_cast<size_t>(numel()));
  if (!out.empty()) std::memcpy(out.data(), host.raw_data(), out.size() * sizeof(T));
  return out;
}

Tensor Tensor::to(Device target) const {
  if (device() == target) return *this;
  if (target.is_cpu()) count_host_read();
  else if (device().is_cpu()) count_upload();
  return to_device_uncounted(target);
}

Tensor Tensor::to_device_uncounted(Device target) const {
  if (device() == target) return *this;
  Tensor src = contiguous();
  Tensor dst = empty(shape(), TensorOptions(dtype(), target));
  if (nbytes() == 0) return dst;
  if (target.is_cpu()) {
    backend(src.device()).copy_to_host(dst.raw_data(), src.raw_data(), nbytes());
  } else if (src.device().is_cpu()) {
    backend(target).copy_from_host(dst.raw_data(), src.raw_data(), nbytes());
  } else {
    return src.to_device_uncounted(Device::cpu()).to_device_uncounted(target);  // GPU to another GPU: through the host (one GPU for now)
  }
  return dst;
}

Tensor Tensor::to(DType target) const {
  if (dtype() == target) return *this;
  Tensor dst = empty(shape(), TensorOptions(target, device()));
  backend(device()).copy(dst.ref(), ref());
  return dst;
}

Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }

Tensor Tensor::clone() const {
  Tensor dst = empty(shape(), TensorOptions(dtype(), device()));
  backend(device()).copy(dst.ref(), ref());
  return dst;
}

Tensor& Tensor::copy_(const Tensor& source) {
  Tensor src = source.to(device());
  if (src.storage() == storage()) src = src.clone();  // overlapping views: read before writing
  // Broadcast src to our shape, as a stride-0 view.
  Shape out = broadcast_shapes(shape(), src.shape(), "copy_");
  DDPM_CHECK(out == shape(), "copy_: source shape ", shape_str(src.shape()),
             " cannot be broadcast to the destination shape ", shape_str(shape()));
  Shape strides(shape().size(), 0);
  size_t lead = shape().size() - src.shape().size();
  for (size_t d = 0; d < src.shape().size(); ++d)
    strides[lead + d] = src.shape()[d] == 1 ? 0 : src.strides()[d];
  Tensor expanded = view_of(src.storage(), shape(), strides, src.offset(), src.dtype());
  backend(device()).copy(ref(), expanded.ref());
  return *this;
}

Tensor& Tensor::fill_(double value) {
  backend(device()).fill(ref(), value);
  return *this;
}

// ---- Printing -----------------------------------------------------------------------------------

namespace {

void format_value(std::ostringstream& os, double v, DType dtype) {
  if (dtype == DType::Bool) {
    os << (v != 0 ? "true" : "false");
  } else if (is_integral(dtype)) {
    os << int64_t(v);
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4g", v);
    os << buf;
  }
}

// Prints dims recursively; long dims show their first and last three entries.
void format_dim(std::ostringstream& os, const std::vector<double>& v, const Shape& shape,
                const Shape& strides, size_t d, int64_t base, DType dtype, int indent) {
  if (d == shape.size()) { format_value(os, v[size_t(base)], dtype); return; }
  const int64_t n = shape[d], edge = 3;
  bool summarize = n > 2 * edge + 1 && numel_of(shape) > 200;
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && i == edge) {
      os << (d + 1 == shape.size() ? "..., " : "...,\n" + std::string(size_t(indent + 1), ' '));
      i = n - edge;
    }
    format_dim(os, v, shape, strides, d + 1, base + i * strides[d], dtype, indent + 1);
    if (i + 1 < n) os << (d + 1 == shape.size() ? ", " : ",\n" + std::string(size_t(indent + 1), ' '));
  }
  os << "]";
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> values = to_vector<double>();
  std::ostringstream os;
  os << "tensor(";
  format_dim(os, values, shape(), contiguous_strides(shape()), 0, 0, dtype(), 7);
  os << ", dtype=" << dtype_name(dtype()) << ", shape=" << shape_str(shape()) << ", device=" << device().str() << ")";
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

std::string describe(const Tensor& t) {
  if (!t.defined()) return "undefined tensor";
  return str(dtype_name(t.dtype()), shape_str(t.shape()), " on ", t.device().str());
}

#define DDPM_INSTANTIATE(T)                                                                      \
  template Tensor Tensor::from_vector<T>(const std::vector<T>&, const Shape&, Device);          \
  template T* Tensor::data<T>() const;                                                           \
  template std::vector<T> Tensor::to_vector<T>() const;
DDPM_INSTANTIATE(float)
DDPM_INSTANTIATE(double)
DDPM_INSTANTIATE(int32_t)
DDPM_INSTANTIATE(int64_t)
DDPM_INSTANTIATE(bfloat16)
DDPM_INSTANTIATE(float16)
#undef DDPM_INSTANTIATE
template bool* Tensor::data<bool>() const;

}  // namespace ddpm
