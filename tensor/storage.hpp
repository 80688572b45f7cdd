// Storage: one block of device or host memory, shared by every view of it.
#pragma once
#include <cstddef>
#include <memory>

#include "tensor/device.hpp"

namespace ddpm {

class Allocator;

class Storage {
 public:
  Storage(size_t nbytes, Device device);  // allocates through the device's caching allocator
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;  // the one that gave data_: freeing never asks backend() again
};

}  // namespace ddpm
