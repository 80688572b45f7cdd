// The caching allocator shared by the CPU and CUDA backends, and the CPU instance of it.
#include "tensor/allocator.hpp"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <new>

namespace ddpm {

namespace {
std::string gib(size_t bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  return text;
}
}  // namespace

OutOfMemory::OutOfMemory(size_t requested_bytes, size_t live_bytes)
    : message_("out of memory: a tensor of " + gib(requested_bytes) + " could not be allocated (live tensors hold " +
               gib(live_bytes) + "); use a smaller batch or image size") {}

size_t CachingAllocator::round_size(size_t nbytes) {
  if (nbytes == 0) nbytes = 1;
  if (nbytes > SIZE_MAX / 2) throw OutOfMemory(nbytes, 0);  // rounding up must not wrap to a small block
  size_t unit = nbytes <= (size_t(1) << 20) ? 512 : (size_t(2) << 20);
  return (nbytes + unit - 1) / unit * unit;
}

CachingAllocator::~CachingAllocator() {
  // The process is ending; give cached blocks back. Live blocks belong to their tensors.
  try {
    release_cached_blocks();
  } catch (...) {  // a destructor must not throw; the driver reclaims the rest at exit
  }
}

void* CachingAllocator::allocate(size_t nbytes) {
  size_t size = round_size(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  void* p = nullptr;
  auto it = free_blocks_.lower_bound(size);
  if (it != free_blocks_.end() && it->first <= 2 * size) {
    p = it->second;
    size = it->first;
    stats_.cached_bytes -= size;
    free_blocks_.erase(it);
  } else {
    p = raw_alloc_(size);
    if (!p && !free_blocks_.empty()) {  // out of memory: return the cache to the system, retry
      release_cached_blocks();
      p = raw_alloc_(size);
    }
    if (!p) throw OutOfMemory(size, stats_.allocated_bytes);
    stats_.system_allocations += 1;
  }
  live_blocks_[p] = size;
  stats_.allocated_bytes += size;
  if (stats_.allocated_bytes > stats_.peak_allocated_bytes) stats_.peak_allocated_bytes = stats_.allocated_bytes;
  return p;
}

void CachingAllocator::deallocate(void* ptr) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_blocks_.find(ptr);
  if (it == live_blocks_.end()) return;  // not ours; never happens through Storage
  size_t size = it->second;
  live_blocks_.erase(it);
  stats_.allocated_bytes -= size;
  stats_.cached_bytes += size;
  free_blocks_.emplace(size, ptr);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cached_blocks();
}

void CachingAllocator::release_cached_blocks() {
  // Each block leaves the cache before it is freed: if a free throws (a sticky CUDA error), the
  // blocks already freed are gone from the map and a later call cannot free them twice.
  while (!free_blocks_.empty()) {
    auto it = free_blocks_.begin();
    const auto [size, block] = *it;
    free_blocks_.erase(it);
    stats_.cached_bytes -= size;
    raw_free_(block);
  }
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

namespace {
void* host_alloc(size_t n) { return std::aligned_alloc(64, (n + 63) / 64 * 64); }
void host_free(void* p) { std::free(p); }
}  // namespace

Allocator& cpu_allocator() {
  static CachingAllocator* alloc = new CachingAllocator(host_alloc, host_free);  // never destroyed:
  return *alloc;  // tensors in static objects may outlive any destruction order we could pick
}

}  // namespace ddpm
