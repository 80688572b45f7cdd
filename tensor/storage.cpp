// Storage allocates through the device's caching allocator and gives the block back when freed.
#include "tensor/storage.hpp"

#include "tensor/allocator.hpp"
#include "tensor/backend.hpp"

namespace ddpm {

Storage::Storage(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(&backend(device).allocator()) {
  data_ = allocator_->allocate(nbytes);
}

// Straight to the allocator: a thread that drops a GPU tensor it never used must not bind the GPU
// (cudaSetDevice may fail at exit), and a destructor must not throw.
Storage::~Storage() { allocator_->deallocate(data_); }

}  // namespace ddpm
