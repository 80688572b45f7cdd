// Allocators hand out raw device or host memory. Each device has a caching allocator, so a training
// step that makes the same shapes every time reuses the same blocks instead of calling the system.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>

namespace ddpm {

// What an allocator throws when the system refuses a block: a std::bad_alloc that says how much was
// asked for and how much live tensors already hold, so "std::bad_alloc" is never the whole story.
class OutOfMemory : public std::bad_alloc {
 public:
  OutOfMemory(size_t requested_bytes, size_t live_bytes);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

struct AllocatorStats {
  size_t allocated_bytes = 0;      // held by live tensors
  size_t cached_bytes = 0;         // freed by tensors, kept for reuse
  size_t peak_allocated_bytes = 0;
  uint64_t system_allocations = 0; // calls that reached malloc / cudaMalloc
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* ptr) = 0;
  virtual void empty_cache() = 0;
  virtual AllocatorStats stats() const = 0;
};

// A size-keyed cache over two raw functions (malloc/free or cudaMalloc/cudaFree). Requests are
// rounded up (512 B, or 2 MiB above 1 MiB) and a cached block is reused if it is at most twice the
// request. Thread-safe.
class CachingAllocator : public Allocator {
 public:
  using RawAlloc = void* (*)(size_t);
  using RawFree = void (*)(void*);
  CachingAllocator(RawAlloc raw_alloc, RawFree raw_free) : raw_alloc_(raw_alloc), raw_free_(raw_free) {}
  ~CachingAllocator() override;
  void* allocate(size_t nbytes) override;
  void deallocate(void* ptr) override;
  void empty_cache() override;
  AllocatorStats stats() const override;
  static size_t round_size(size_t nbytes);

 private:
  void release_cached_blocks();  // frees every cached block; the caller holds mutex_

  RawAlloc raw_alloc_;
  RawFree raw_free_;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;  // block size -> block
  std::unordered_map<void*, size_t> live_blocks_;  // block -> its size (may exceed the request)
  AllocatorStats stats_;
};

// The host allocator (64-byte aligned blocks, cached).
Allocator& cpu_allocator();

}  // namespace ddpm
