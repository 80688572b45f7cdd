// The caching allocators: blocks freed by tensors are reused by later tensors of the same sizes, so
// a repeated step reaches the system allocator only during its first run.
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "tensor/allocator.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

// Raw functions that count their calls, for a CachingAllocator under test.
int g_raw_allocs = 0, g_raw_frees = 0;
void* counting_alloc(size_t n) {
  ++g_raw_allocs;
  return std::malloc(n);
}
void counting_free(void* p) {
  ++g_raw_frees;
  std::free(p);
}
void* failing_alloc(size_t) {
  ++g_raw_allocs;
  return nullptr;
}

// One "training step" worth of tensor traffic: creation, elementwise, reductions, matmul, views
// copied, random numbers. The results are checked so the work is not optimised away.
void step(Generator& g) {
  Tensor x = randn({8, 33}, {}, &g);
  Tensor w = rand({33, 7}, {}, &g);
  Tensor y = ops::matmul(x, w);               // [8, 7]
  Tensor z = ops::silu(ops::add(y, 1.0));
  Tensor s = ops::softmax(z, -1);
  Tensor t = ops::transpose(s, 0, 1).contiguous();
  Tensor m = ops::mean(ops::mul(t, t), {1});
  Tensor c = ops::cat({m, ops::sum(x, {0})});  // [7 + 33]
  Tensor big = zeros({300, 1000}, DType::Float64);  // 2.4 MB: the large-block path
  big.fill_(0.5);
  REQUIRE(c.shape() == Shape{40});
  REQUIRE(ops::sum(big).item() == doctest::Approx(150000.0));
}

// A free that fails on its second call, as cudaFree does once a CUDA error has become sticky; it
// records every block it was handed so that a block freed twice shows up.
std::vector<void*> g_freed;
void throwing_free(void* p) {
  for (void* q : g_freed) REQUIRE_MESSAGE(q != p, "block freed twice");
  g_freed.push_back(p);
  if (g_freed.size() == 2) throw std::runtime_error("sticky error");
  std::free(p);
}

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("round_size rounds small requests to 512 bytes and large ones to 2 MiB") {
  CHECK(CachingAllocator::round_size(0) == 512);
  CHECK(CachingAllocator::round_size(1) == 512);
  CHECK(CachingAllocator::round_size(512) == 512);
  CHECK(CachingAllocator::round_size(513) == 1024);
  CHECK(CachingAllocator::round_size(size_t(1) << 20) == size_t(1) << 20);
  CHECK(CachingAllocator::round_size((size_t(1) << 20) + 1) == size_t(2) << 20);
  CHECK(CachingAllocator::round_size((size_t(2) << 20) + 1) == size_t(4) << 20);
}

TEST_CASE("a caching allocator reuses freed blocks of fitting size and counts its system calls") {
  g_raw_allocs = g_raw_frees = 0;
  {
    CachingAllocator a(counting_alloc, counting_free);
    void* p = a.allocate(1000);  // 1024-byte block
    CHECK(p != nullptr);
    CHECK(a.stats().system_allocations == 1);
    CHECK(a.stats().allocated_bytes == 1024);
    a.deallocate(p);
    CHECK(a.stats().allocated_bytes == 0);
    CHECK(a.stats().cached_bytes == 1024);
    void* q = a.allocate(900);  // same rounded size: the cached block
    CHECK(q == p);
    CHECK(a.stats().system_allocations == 1);
    CHECK(a.stats().cached_bytes == 0);
    void* r = a.allocate(600);  // q is live, so a new block
    CHECK(r != q);
    CHECK(a.stats().system_allocations == 2);
    a.deallocate(q);
    a.deallocate(r);
    // a 4096-byte block is not used for a 1024-byte request (more than twice the size)...
    void* big = a.allocate(4096);
    a.deallocate(big);
    uint64_t before = a.stats().system_allocations;
    void* s1 = a.allocate(1024);  // takes a cached 1024 block
    void* s2 = a.allocate(1024);  // takes the other cached 1024 block
    void* s3 = a.allocate(1024);  // none left at <= 2048: the 4096 block is too big
    CHECK(s3 != big);
    CHECK(a.stats().system_allocations == before + 1);
    // ...but is used for a 2048-byte request (at most twice)
    void* s4 = a.allocate(2048);
    CHECK(s4 == big);
    CHECK(a.stats().system_allocations == before + 1);
    CHECK(a.stats().peak_allocated_bytes >= 3 * 1024 + 4096);
    for (void* b : {s1, s2, s3, s4}) a.deallocate(b);
    CHECK(a.stats().allocated_bytes == 0);
    int frees_before = g_raw_frees;
    a.empty_cache();
    CHECK(a.stats().cached_bytes == 0);
    CHECK(g_raw_frees == frees_before + int(a.stats().system_allocations));  // every block went back
    a.deallocate(nullptr);  // a no-op
  }
  CHECK(g_raw_allocs == g_raw_frees);
}

TEST_CASE("a caching allocator returns its cache and retries when the system is out of memory") {
  g_raw_allocs = g_raw_frees = 0;
  CachingAllocator a(failing_alloc, counting_free);
  CHECK_THROWS_AS(a.allocate(100), std::bad_alloc);
  CHECK(a.stats().system_allocations == 0);
  CHECK(a.stats().allocated_bytes == 0);
  // The message says what was asked for, not just "std::bad_alloc".
  try {
    a.allocate(size_t(3) << 30);
    FAIL("no throw");
  } catch (const std::bad_alloc& e) {
    CHECK(std::string(e.what()).find("out of memory: a tensor of 3.00 GiB") != std::string::npos);
  }
  // A request so large that rounding it up would wrap around to a small block is refused.
  CachingAllocator b(counting_alloc, counting_free);
  CHECK_THROWS_AS(b.allocate(SIZE_MAX - 10), std::bad_alloc);
  CHECK(b.stats().system_allocations == 0);
}

TEST_CASE("a free that throws in empty_cache never frees a block twice on the next call") {
  g_freed.clear();
  CachingAllocator a(counting_alloc, throwing_free);
  void* blocks[4];
  for (void*& b : blocks) b = a.allocate(1000);
  for (void* b : blocks) a.deallocate(b);
  CHECK(a.stats().cached_bytes == 4 * 1024);
  CHECK_THROWS_AS(a.empty_cache(), std::runtime_error);  // the second free throws
  CHECK(g_freed.size() == 2);
  CHECK(a.stats().cached_bytes == 2 * 1024);  // the two handed to free are out of the cache
  a.empty_cache();                            // frees the other two, and only those
  CHECK(g_freed.size() == 4);
  CHECK(a.stats().cached_bytes == 0);
  std::free(g_freed[1]);  // the one whose free "failed"
}

TEST_CASE("cpu tensors of repeated shapes reuse cached blocks instead of calling malloc") {
  Allocator& alloc = cpu_allocator();
  Generator g(1);
  step(g);  // warm-up: fills the cache with the blocks a step needs
  AllocatorStats warm = alloc.stats();
  CHECK(warm.cached_bytes > 0);
  for (int i = 0; i < 5; ++i) step(g);
  AllocatorStats after = alloc.stats();
  CHECK(after.system_allocations == warm.system_allocations);
  CHECK(after.allocated_bytes == warm.allocated_bytes);  // nothing leaked
}

TEST_CASE("freeing a tensor returns its bytes to the cpu cache and a same-size tensor takes them") {
  Allocator& alloc = cpu_allocator();
  alloc.empty_cache();  // so the block below can only come from this test's own tensor
  AllocatorStats s0 = alloc.stats();
  void* first = nullptr;
  {
    Tensor t = empty({1000, 3}, DType::Float64);  // 24000 bytes
    first = t.raw_data();
    AllocatorStats s1 = alloc.stats();
    CHECK(s1.allocated_bytes >= s0.allocated_bytes + 24000);
    // a view holds the same block: no new allocation
    Tensor v = ops::transpose(t, 0, 1);
    CHECK(alloc.stats().allocated_bytes == s1.allocated_bytes);
    CHECK(v.storage().get() == t.storage().get());
  }
  AllocatorStats s2 = alloc.stats();
  CHECK(s2.allocated_bytes == s0.allocated_bytes);
  Tensor u = empty({3000}, DType::Float64);
  CHECK(u.raw_data() == first);
  CHECK(alloc.stats().system_allocations == s2.system_allocations);
  CHECK(reinterpret_cast<uintptr_t>(u.raw_data()) % 64 == 0);  // 64-byte aligned host blocks
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("cuda tensors of repeated shapes reuse cached device blocks") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Allocator& alloc = backend(Device::cuda()).allocator();
  auto run = [] {
    Generator g(1);
    Tensor x = randn({64, 33}, Device::cuda(), &g);
    Tensor w = rand({33, 17}, Device::cuda(), &g);
    Tensor y = ops::softmax(ops::matmul(x, w), -1);
    Tensor big = zeros({1024, 1024}, Device::cuda());  // 4 MiB: the large-block path
    REQUIRE(ops::sum(y).item() == doctest::Approx(64.0).epsilon(1e-4));
    REQUIRE(ops::sum(big).item() == 0.0);
  };
  run();
  AllocatorStats warm = alloc.stats();
  for (int i = 0; i < 5; ++i) run();
  AllocatorStats after = alloc.stats();
  CHECK(after.system_allocations == warm.system_allocations);
  CHECK(after.allocated_bytes == warm.allocated_bytes);
}

}  // TEST_SUITE("cuda")
