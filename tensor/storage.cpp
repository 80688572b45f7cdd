// Storage allocates through the device's caching allocator and gives the block back when freed.
#include "tensor/storage.hpp"

#include "tensor/allocator.hpp"
#include "tensor/backend.hpp"

namespace ddpm {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = backend(device).allocator().allocate(nbytes);
}

Storage::~Storage() { backend(device_).allocator().deallocate(data_); }

}  // namespace ddpm
