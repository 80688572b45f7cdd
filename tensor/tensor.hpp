// Tensor: a strided view (shape, strides, offset, dtype) over shared Storage on a device.
// Copying a Tensor copies a handle: both see the same data. Ops live in tensor/ops.hpp (namespace
// ddpm::ops, no gradients); the differentiable versions are in autograd/.
#pragma once
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "tensor/backend.hpp"
#include "tensor/device.hpp"
#include "tensor/dtype.hpp"
#include "tensor/shape.hpp"
#include "tensor/storage.hpp"

namespace ddpm {

struct AutogradMeta;  // defined by autograd/; tensor/ only carries the pointer

struct TensorOptions {
  DType dtype = DType::Float32;
  Device device = Device::cpu();
  TensorOptions() = default;
  TensorOptions(DType d) : dtype(d) {}            // NOLINT: zeros({2}, DType::Float64) reads well
  TensorOptions(Device dev) : device(dev) {}      // NOLINT
  TensorOptions(DType d, Device dev) : dtype(d), device(dev) {}
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset = 0;  // in elements
  DType dtype = DType::Float32;
  std::shared_ptr<AutogradMeta> autograd;  // null unless autograd touched this tensor
};

class Tensor {
 public:
  Tensor() = default;  // undefined: holds nothing
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // A new contiguous tensor with uninitialised contents.
  static Tensor empty(const Shape& shape, TensorOptions opts = {});
  // A view sharing `storage`.
  static Tensor view_of(std::shared_ptr<Storage> storage, const Shape& shape, const Shape& strides,
                        int64_t offset, DType dtype);
  // Copies host data of the matching C++ type into a new tensor. T is float, double, int32_t,
  // int64_t, bfloat16 or float16 (std::vector<bool> has no contiguous data: build masks with ops).
  template <typename T>
  static Tensor from_vector(const std::vector<T>& data, const Shape& shape, Device device = Device::cpu());

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Shape& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return int64_t(impl().shape.size()); }
  int64_t size(int64_t d) const;    // negative d counts from the end
  int64_t stride(int64_t d) const;
  int64_t numel() const { return numel_of(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  size_t element_size() const { return dtype_size(dtype()); }
  size_t nbytes() const { return size_t(numel()) * element_size(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  TensorImpl& impl() const;
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same(const Tensor& other) const { return impl_ == other.impl_; }

  // Pointer to the first element (storage base + offset). Host pointers only for data<T>().
  void* raw_data() const;
  template <typename T> T* data() const;
  // What a kernel needs: base pointer, dtype, layout (at most 6 dims).
  TensorRef ref() const;

  // The single value of a one-element tensor, converted to double (waits for the device; every
  // host read is counted, see tensor/host_sync.hpp).
  double item() const;
  template <typename T> T item() const { return static_cast<T>(item()); }
  // All elements in row-major order, converted to T, copied to the host (T as for from_vector;
  // bool tensors convert to any of them).
  template <typename T> std::vector<T> to_vector() const;

  // Conversions and copies. They return *this unchanged when there is nothing to do. The results
  // are cut from the autograd graph: use ddpm::to / contiguous / clone (autograd.hpp) to record.
  Tensor to(Device device) const;
  Tensor to(DType dtype) const;
  Tensor cpu() const { return to(Device::cpu()); }
  Tensor contiguous() const;
  Tensor clone() const;  // always a new contiguous tensor
  // Copies src (broadcast to this shape, converted to this dtype, from any device) into this view.
  Tensor& copy_(const Tensor& src);
  Tensor& fill_(double value);

  std::string str() const;  // a readable print: shape, dtype, device and the values

 private:
  Tensor to_device_uncounted(Device target) const;  // to(Device) without counting (host_sync.hpp)
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Tensor shape/dtype/device of a tensor in messages: "float32[2, 3] on cpu".
std::string describe(const Tensor& t);

}  // namespace ddpm
