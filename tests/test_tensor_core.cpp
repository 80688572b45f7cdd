// Tensor basics: creation, dtypes and conversions, views that share storage, copies, item,
// to_vector and printing. Expected values are written out by hand or computed with plain loops.
#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "tensor/backend.hpp"
#include "tensor/host_sync.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

// True when the two tensors view the same storage block.
bool shares_storage(const Tensor& a, const Tensor& b) { return a.storage().get() == b.storage().get(); }

float bits_to_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round-trips a float32 value through `d` (bf16 or fp16) and back, via tensors.
double round_trip(double v, DType d) { return tensor({v}).to(d).to(DType::Float32).item(); }

}  // namespace

TEST_SUITE("cpu") {

// ---- Creation -----------------------------------------------------------------------------------

TEST_CASE("empty gives a contiguous tensor of the asked shape dtype and device") {
  Tensor t = empty({2, 3, 5}, DType::Float64);
  CHECK(t.defined());
  CHECK(t.shape() == Shape{2, 3, 5});
  CHECK(t.strides() == Shape{15, 5, 1});
  CHECK(t.offset() == 0);
  CHECK(t.dim() == 3);
  CHECK(t.numel() == 30);
  CHECK(t.dtype() == DType::Float64);
  CHECK(t.device() == Device::cpu());
  CHECK(t.element_size() == 8);
  CHECK(t.nbytes() == 240);
  CHECK(t.is_contiguous());
  CHECK(t.size(-1) == 5);
  CHECK(t.size(0) == 2);
  CHECK(t.stride(-2) == 5);
  CHECK(Tensor::empty({4}, DType::Int32).dtype() == DType::Int32);
  CHECK_FALSE(Tensor().defined());
}

TEST_CASE("zeros ones and full fill every element in every dtype") {
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64,
                  DType::Bool}) {
    CAPTURE(dtype_name(d));
    Tensor z = zeros({3, 7}, d), o = ones({3, 7}, d);
    CHECK(z.dtype() == d);
    CHECK(z.shape() == Shape{3, 7});
    check_values(z, std::vector<double>(21, 0.0));
    check_values(o, std::vector<double>(21, 1.0));
    if (d != DType::Bool) check_values(full({2, 1, 3}, 5.0, d), std::vector<double>(6, 5.0));
  }
  check_values(full({3}, -2.5), {-2.5, -2.5, -2.5});
  check_values(full({2}, 1e300, DType::Float64), {1e300, 1e300}, 0.0);
}

TEST_CASE("like constructors copy shape dtype and device but not values") {
  Tensor src = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::Float64);
  Tensor t = ops::transpose(src, 0, 1);  // [3, 2], not contiguous
  for (Tensor x : {zeros_like(t), ones_like(t), full_like(t, 4.25), empty_like(t)}) {
    CHECK(x.shape() == Shape{3, 2});
    CHECK(x.dtype() == DType::Float64);
    CHECK(x.device() == Device::cpu());
    CHECK_FALSE(shares_storage(x, src));
  }
  check_values(zeros_like(t), std::vector<double>(6, 0.0));
  check_values(ones_like(t), std::vector<double>(6, 1.0));
  check_values(full_like(t, 4.25), std::vector<double>(6, 4.25));
  check_values(src, {1, 2, 3, 4, 5, 6});  // untouched
}

TEST_CASE("arange follows numpy arange including negative and fractional steps") {
  Tensor a = arange(5);
  CHECK(a.shape() == Shape{5});
  CHECK(a.dtype() == DType::Float32);
  check_values(a, {0, 1, 2, 3, 4});
  check_values(arange(2, 11, 3), {2, 5, 8});       // 11 excluded, 3 elements
  check_values(arange(2, 12, 3), {2, 5, 8, 11});
  check_values(arange(1, 0, -0.25, DType::Float64), {1, 0.75, 0.5, 0.25});
  check_values(arange(-3, 3, 1.5), {-3, -1.5, 0, 1.5});
  Tensor ai = arange(0, 4, 1, DType::Int64);
  CHECK(ai.dtype() == DType::Int64);
  check_values(ai, {0, 1, 2, 3});
  CHECK(arange(3, 3).numel() == 0);
  CHECK(arange(7, DType::Float64).dtype() == DType::Float64);
  check_values(arange(7, DType::Float64), {0, 1, 2, 3, 4, 5, 6});
}

TEST_CASE("linspace includes both ends") {
  check_values(linspace(0, 1, 5), {0, 0.25, 0.5, 0.75, 1});
  check_values(linspace(2, -2, 3, DType::Float64), {2, 0, -2});
  Tensor l = linspace(0, 1, 33, DType::Float64);
  CHECK(l.shape() == Shape{33});
  std::vector<double> want(33);
  for (int i = 0; i < 33; ++i) want[i] = i / 32.0;
  check_values(l, want, 1e-15);
  check_values(linspace(3, 7, 1), {3});
}

TEST_CASE("eye builds square and rectangular identities") {
  check_values(eye(3), {1, 0, 0, 0, 1, 0, 0, 0, 1});
  Tensor r = eye(2, 3, DType::Float64);
  CHECK(r.shape() == Shape{2, 3});
  CHECK(r.dtype() == DType::Float64);
  check_values(r, {1, 0, 0, 0, 1, 0});
  check_values(eye(3, 2), {1, 0, 0, 1, 0, 0});
  CHECK(eye(1).shape() == Shape{1, 1});
}

TEST_CASE("tensor and scalar_tensor and from_vector build tensors from host data") {
  Tensor a = tensor({1.5, -2, 3.25});
  CHECK(a.shape() == Shape{3});
  CHECK(a.dtype() == DType::Float32);
  check_values(a, {1.5, -2, 3.25});
  Tensor b = tensor(std::vector<double>{1, 2, 3, 4, 5, 6}, {3, 2}, DType::Float64);
  CHECK(b.shape() == Shape{3, 2});
  check_values(b, {1, 2, 3, 4, 5, 6});
  Tensor s = scalar_tensor(2.5, DType::Float64);
  CHECK(s.dim() == 0);
  CHECK(s.numel() == 1);
  CHECK(s.shape().empty());
  CHECK(s.item() == 2.5);

  Tensor f = Tensor::from_vector<float>({1.f, 2.f, 3.f, 4.f, 5.f, 6.f}, {2, 3});
  CHECK(f.dtype() == DType::Float32);
  CHECK(f.shape() == Shape{2, 3});
  check_values(f, {1, 2, 3, 4, 5, 6});
  Tensor i = Tensor::from_vector<int64_t>({int64_t(1) << 40, -7}, {2});
  CHECK(i.dtype() == DType::Int64);
  CHECK(i.to_vector<int64_t>() == std::vector<int64_t>{int64_t(1) << 40, -7});
  Tensor i32 = Tensor::from_vector<int32_t>({-5, 9, 2147483647}, {3});
  CHECK(i32.dtype() == DType::Int32);
  CHECK(i32.to_vector<int32_t>() == std::vector<int32_t>{-5, 9, 2147483647});
  Tensor d = Tensor::from_vector<double>({0.1, 0.2}, {2, 1});
  CHECK(d.dtype() == DType::Float64);
  CHECK(d.to_vector<double>() == std::vector<double>{0.1, 0.2});
}

TEST_CASE("shape helpers compute strides broadcasts and dims") {
  CHECK(numel_of({2, 3, 4}) == 24);
  CHECK(numel_of({}) == 1);
  CHECK(numel_of({3, 0}) == 0);
  CHECK(contiguous_strides({2, 3, 4}) == Shape{12, 4, 1});
  CHECK(contiguous_strides({5}) == Shape{1});
  CHECK(broadcast_shapes({3, 1}, {4}, "t") == Shape{3, 4});
  CHECK(broadcast_shapes({2, 1, 3}, {5, 1}, "t") == Shape{2, 5, 3});
  CHECK(broadcast_shapes({}, {2, 2}, "t") == Shape{2, 2});
  CHECK(normalize_dim(-1, 3, "t") == 2);
  CHECK(normalize_dim(0, 3, "t") == 0);
  CHECK(normalize_dim(-3, 3, "t") == 0);
  CHECK(shape_str({2, 3}) == "[2, 3]");
  CHECK(shape_str({}) == "[]");
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda") == Device::cuda(0));
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK(Device::cuda(2).str() == "cuda:2");
  CHECK(Device::cpu().str() == "cpu");
}

// ---- dtypes and conversions ---------------------------------------------------------------------

TEST_CASE("dtype sizes names and classes") {
  CHECK(dtype_size(DType::BFloat16) == 2);
  CHECK(dtype_size(DType::Bool) == 1);
  CHECK(std::string(dtype_name(DType::Float16)) == "float16");
  CHECK(is_floating(DType::BFloat16));
  CHECK_FALSE(is_compute(DType::BFloat16));
  CHECK(is_compute(DType::Float64));
  CHECK(is_integral(DType::Int32));
  CHECK_FALSE(is_integral(DType::Bool));
}

TEST_CASE("float32 float64 int and bool conversions keep or truncate values as C++ casts do") {
  Tensor f = tensor({-2.75, -1, 0, 0.5, 1, 2.7, 100}, {7});
  Tensor d = f.to(DType::Float64);
  CHECK(d.dtype() == DType::Float64);
  check_values(d, {-2.75, -1, 0, 0.5, 1, double(2.7f), 100}, 0.0);
  check_values(f.to(DType::Int32), {-2, -1, 0, 0, 1, 2, 100}, 0.0);  // toward zero
  check_values(f.to(DType::Int64), {-2, -1, 0, 0, 1, 2, 100}, 0.0);
  Tensor b = f.to(DType::Bool);
  CHECK(b.dtype() == DType::Bool);
  check_values(b, {1, 1, 0, 1, 1, 1, 1}, 0.0);
  check_values(b.to(DType::Float32), {1, 1, 0, 1, 1, 1, 1}, 0.0);
  // int64 beyond float32's 24-bit mantissa survives a trip through float64
  Tensor big = Tensor::from_vector<int64_t>({(int64_t(1) << 53) - 1, -(int64_t(1) << 40) - 3}, {2});
  CHECK(big.to(DType::Float64).to(DType::Int64).to_vector<int64_t>() == big.to_vector<int64_t>());
  Tensor i32 = Tensor::from_vector<int32_t>({-3, 0, 7}, {3});
  CHECK(i32.to(DType::Int64).to_vector<int64_t>() == std::vector<int64_t>{-3, 0, 7});
  check_values(i32.to(DType::Float64), {-3, 0, 7}, 0.0);
  // float64 -> float32 rounds to nearest
  Tensor third = tensor({1.0 / 3.0}, {1}, DType::Float64).to(DType::Float32);
  CHECK(third.item() == double(1.0f / 3.0f));
}

TEST_CASE("float to int conversions saturate and send NaN to 0 as the GPU does") {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::nan("");
  // float64 -> int32 / int64
  Tensor d = Tensor::from_vector<double>({nan, inf, -inf, 3e9, -3e9, 1e19, -1e19, -2.9, 2147483647.5}, {9});
  CHECK(d.to(DType::Int32).to_vector<int64_t>() ==
        std::vector<int64_t>{0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, -2, INT32_MAX});
  CHECK(d.to(DType::Int64).to_vector<int64_t>() ==
        std::vector<int64_t>{0, INT64_MAX, INT64_MIN, 3000000000, -3000000000, INT64_MAX, INT64_MIN, -2, 2147483647});
  // float32, bfloat16 and float16 sources too (2^31 as a float is just past int32's range)
  Tensor f = Tensor::from_vector<float>({std::nanf(""), 2147483648.0f, -2147483648.0f, 65504.0f}, {4});
  CHECK(f.to(DType::Int32).to_vector<int64_t>() == std::vector<int64_t>{0, INT32_MAX, INT32_MIN, 65504});
  CHECK(f.to(DType::Float16).to(DType::Int32).to_vector<int64_t>() == std::vector<int64_t>{0, INT32_MAX, INT32_MIN, 65504});
  CHECK(f.to(DType::BFloat16).to(DType::Int64).to_vector<int64_t>() ==
        std::vector<int64_t>{0, 2147483648, -2147483648, 65536});
  // the helper itself, at the exact ends
  CHECK(saturate_cast<int64_t>(9223372036854775807.0) == INT64_MAX);  // the double is 2^63
  CHECK(saturate_cast<int64_t>(-9223372036854775808.0) == INT64_MIN);
  CHECK(saturate_cast<int32_t>(-2147483648.0) == INT32_MIN);
  CHECK(saturate_cast<int32_t>(2147483647.0) == INT32_MAX);
}

TEST_CASE("host reads uploads and synchronizes are counted on the cpu too") {
  Tensor x = tensor({1, 2, 3});  // an upload
  HostSyncCounts before = host_sync_counts();
  CHECK_THROWS_AS((void)x.item<double>(), std::invalid_argument);
  HostSyncCounts d = host_sync_counts() - before;
  CHECK(d.reads == 0);  // item() of a 3-element tensor throws before it reads
  before = host_sync_counts();
  (void)ops::sum(x).item();
  (void)x.to_vector<float>();
  (void)x.to(Device::cpu());  // same device: nothing moves
  Tensor y = Tensor::from_vector<float>({1, 2}, {2});
  Tensor z = ops::mul(x, 2.0);
  backend(Device::cpu()).synchronize();
  d = host_sync_counts() - before;
  CHECK(d.reads == 2);
  CHECK(d.uploads == 1);
  CHECK(d.synchronizes == 1);
  before = host_sync_counts();
  Tensor w = ops::add(ops::mul(z, z), 1.0);  // device work alone
  (void)w;
  d = host_sync_counts() - before;
  CHECK(d.reads + d.uploads + d.synchronizes == 0);
}

TEST_CASE("to returns the same tensor when nothing changes") {
  Tensor x = tensor({1, 2, 3});
  CHECK(x.to(DType::Float32).same(x));
  CHECK(x.to(Device::cpu()).same(x));
  CHECK(x.cpu().same(x));
  Tensor y = x.to(DType::Float64);
  CHECK_FALSE(y.same(x));
  CHECK_FALSE(shares_storage(x, y));
}

TEST_CASE("bfloat16 round-trips exact values and rounds to nearest even") {
  // exactly representable: 8 significant bits
  for (double v : {0.0, 1.0, -1.0, 0.5, 1.0078125, -3.5, 256.0, 0.0078125, 3.3895313892515355e38})
    CHECK(round_trip(v, DType::BFloat16) == v);
  const double u = std::ldexp(1.0, -7);  // spacing of bf16 in [1, 2)
  CHECK(round_trip(1 + u / 2, DType::BFloat16) == 1.0);                            // tie, to even (down)
  CHECK(round_trip(1 + 3 * u / 2, DType::BFloat16) == 1 + 2 * u);                  // tie, to even (up)
  CHECK(round_trip(1 + u / 2 + std::ldexp(1.0, -16), DType::BFloat16) == 1 + u);   // above the tie
  CHECK(round_trip(1 + u / 2 - std::ldexp(1.0, -16), DType::BFloat16) == 1.0);     // below the tie
  CHECK(round_trip(-(1 + 3 * u / 2), DType::BFloat16) == -(1 + 2 * u));
  CHECK(round_trip(0.1, DType::BFloat16) == double(bits_to_float(0x3dcd0000u)));  // 0.1f = 0x3dcccccd
  // specials
  CHECK(std::isinf(round_trip(INFINITY, DType::BFloat16)));
  CHECK(round_trip(-INFINITY, DType::BFloat16) < 0);
  CHECK(std::isnan(round_trip(NAN, DType::BFloat16)));
  // float32's largest finite value rounds up past bf16's largest: infinity
  CHECK(std::isinf(round_trip(double(std::numeric_limits<float>::max()), DType::BFloat16)));
  // the tensor stores the bf16 bits
  Tensor t = tensor({1.0, -2.0}).to(DType::BFloat16);
  CHECK(t.dtype() == DType::BFloat16);
  CHECK(t.element_size() == 2);
  CHECK(t.data<bfloat16>()[0].bits == 0x3f80);
  CHECK(t.data<bfloat16>()[1].bits == 0xc000);
  // float64 -> bf16 directly
  check_values(tensor({1 + 3 * u / 2, 2.0}, {2}, DType::Float64).to(DType::BFloat16).to(DType::Float64),
               {1 + 2 * u, 2.0}, 0.0);
}

TEST_CASE("float16 round-trips exact values rounds to nearest even and handles range ends") {
  for (double v : {0.0, 1.0, -1.0, 0.5, 1.0009765625, 65504.0, -65504.0, 6.103515625e-05, 5.960464477539063e-08})
    CHECK(round_trip(v, DType::Float16) == v);
  const double u = std::ldexp(1.0, -10);  // spacing of fp16 in [1, 2)
  CHECK(round_trip(1 + u / 2, DType::Float16) == 1.0);
  CHECK(round_trip(1 + 3 * u / 2, DType::Float16) == 1 + 2 * u);
  CHECK(round_trip(1 + u / 2 + std::ldexp(1.0, -20), DType::Float16) == 1 + u);
  CHECK(round_trip(-(1 + 3 * u / 2), DType::Float16) == -(1 + 2 * u));
  // overflow: 65519 rounds down to the largest half, 65520 (the tie) rounds to infinity
  CHECK(round_trip(65519.0, DType::Float16) == 65504.0);
  CHECK(std::isinf(round_trip(65520.0, DType::Float16)));
  CHECK(std::isinf(round_trip(1e6, DType::Float16)));
  CHECK(round_trip(-1e6, DType::Float16) < 0);
  // subnormals: the smallest is 2^-24; half of it is a tie that rounds to even (zero)
  const double s = std::ldexp(1.0, -24);
  CHECK(round_trip(s, DType::Float16) == s);
  CHECK(round_trip(s / 2, DType::Float16) == 0.0);
  CHECK(round_trip(0.75 * s, DType::Float16) == s);
  CHECK(round_trip(1.5 * s, DType::Float16) == 2 * s);   // tie between 1 and 2 ulps: even
  CHECK(round_trip(2.5 * s, DType::Float16) == 2 * s);   // tie between 2 and 3 ulps: even
  CHECK(round_trip(s / 4, DType::Float16) == 0.0);
  CHECK(round_trip(1000.5 * s, DType::Float16) == 1000 * s);  // subnormal tie to even
  // specials and stored bits
  CHECK(std::isinf(round_trip(INFINITY, DType::Float16)));
  CHECK(std::isnan(round_trip(NAN, DType::Float16)));
  Tensor t = tensor({1.0, -2.0, 65504.0}).to(DType::Float16);
  CHECK(t.dtype() == DType::Float16);
  CHECK(t.data<float16>()[0].bits == 0x3c00);
  CHECK(t.data<float16>()[1].bits == 0xc000);
  CHECK(t.data<float16>()[2].bits == 0x7bff);
  check_values(tensor({0.1}, {1}, DType::Float64).to(DType::Float16).to(DType::Float64),
               {0.0999755859375}, 0.0);  // fp16 nearest to 0.1
}

TEST_CASE("bf16 and fp16 convert to int and bool and between each other") {
  Tensor h = tensor({-2.5, 0, 3.75, 1024}).to(DType::Float16);
  check_values(h.to(DType::Int32), {-2, 0, 3, 1024}, 0.0);
  check_values(h.to(DType::Bool), {1, 0, 1, 1}, 0.0);
  check_values(h.to(DType::BFloat16).to(DType::Float64), {-2.5, 0, 3.75, 1024}, 0.0);
  Tensor i = Tensor::from_vector<int64_t>({-3, 257, 0}, {3});
  check_values(i.to(DType::BFloat16), {-3, 256, 0}, 0.0);  // 257 is a tie between 256 and 258: even
  check_values(i.to(DType::Float16), {-3, 257, 0}, 0.0);
}

TEST_CASE("conversions of non-contiguous views convert the viewed elements") {
  Tensor base = tensor({0.5, 1.5, 2.5, 3.5, 4.5, 5.5}, {2, 3}, DType::Float64);
  Tensor t = ops::transpose(base, 0, 1);
  Tensor f = t.to(DType::Float32);
  CHECK(f.shape() == Shape{3, 2});
  check_values(f, {0.5, 3.5, 1.5, 4.5, 2.5, 5.5}, 0.0);
  check_values(t.to(DType::BFloat16), {0.5, 3.5, 1.5, 4.5, 2.5, 5.5}, 0.0);
  check_values(t.to(DType::Int64), {0, 3, 1, 4, 2, 5}, 0.0);
}

// ---- Views share storage ------------------------------------------------------------------------

TEST_CASE("reshape of a contiguous tensor is a view and of a transposed one a copy") {
  Tensor x = arange(0, 12, 1, DType::Float64);
  Tensor r = ops::reshape(x, {3, -1});
  CHECK(r.shape() == Shape{3, 4});
  CHECK(shares_storage(r, x));
  check_values(r, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  r.fill_(1.0);
  check_values(x, std::vector<double>(12, 1.0));

  Tensor y = arange(0, 6, 1, DType::Float64);
  Tensor t = ops::transpose(ops::reshape(y, {2, 3}), 0, 1);  // [3, 2]: 0 3 1 4 2 5
  Tensor c = ops::reshape(t, {6});
  check_values(c, {0, 3, 1, 4, 2, 5});
  CHECK_FALSE(shares_storage(c, y));
  c.fill_(-1.0);
  check_values(y, {0, 1, 2, 3, 4, 5});
  // a reshape that only splits a dim of a non-contiguous tensor can still be a view
  Tensor s = ops::reshape(t, {3, 2, 1});
  check_values(s, {0, 3, 1, 4, 2, 5});
  CHECK(ops::reshape(scalar_tensor(4.0), {1, 1}).shape() == Shape{1, 1});
  CHECK(ops::reshape(tensor({4.0}), {}).dim() == 0);
}

TEST_CASE("view shares storage and splits or merges compatible dims") {
  Tensor x = arange(0, 24, 1, DType::Float32);
  Tensor v = ops::view(x, {2, 3, 4});
  CHECK(shares_storage(v, x));
  CHECK(v.strides() == Shape{12, 4, 1});
  Tensor w = ops::view(v, {6, -1});
  CHECK(w.shape() == Shape{6, 4});
  // a slice along dim 0 keeps the trailing dims mergeable
  Tensor s = ops::slice(v, 0, 1, 2);  // [1, 3, 4]
  Tensor m = ops::view(s, {12});
  CHECK(shares_storage(m, x));
  check_values(m, {12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23});
  // a permuted tensor can be viewed when the merged dims stay adjacent in memory
  Tensor p = ops::permute(v, {1, 2, 0});  // [3, 4, 2], strides [4, 1, 12]
  Tensor q = ops::view(p, {12, 2});
  CHECK(shares_storage(q, x));
  std::vector<double> want;
  for (int i = 0; i < 12; ++i)
    for (int b = 0; b < 2; ++b) want.push_back(b * 12 + i);
  check_values(q, want);
}

TEST_CASE("permute and transpose reorder dims without copying") {
  std::vector<double> vals(2 * 3 * 5);
  for (size_t i = 0; i < vals.size(); ++i) vals[i] = double(i);
  Tensor x = tensor(vals, {2, 3, 5}, DType::Float64);
  Tensor p = ops::permute(x, {2, 0, 1});
  CHECK(p.shape() == Shape{5, 2, 3});
  CHECK(p.strides() == Shape{1, 15, 5});
  CHECK(shares_storage(p, x));
  CHECK_FALSE(p.is_contiguous());
  std::vector<double> want;
  for (int k = 0; k < 5; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) want.push_back(i * 15 + j * 5 + k);
  check_values(p, want);
  CHECK(ops::permute(x, {-1, 0, 1}).shape() == Shape{5, 2, 3});

  Tensor t = ops::transpose(x, -1, 0);
  CHECK(t.shape() == Shape{5, 3, 2});
  CHECK(shares_storage(t, x));
  want.clear();
  for (int k = 0; k < 5; ++k)
    for (int j = 0; j < 3; ++j)
      for (int i = 0; i < 2; ++i) want.push_back(i * 15 + j * 5 + k);
  check_values(t, want);
  CHECK(ops::transpose(x, 1, 1).shape() == Shape{2, 3, 5});
  // a write through the view lands in the base
  ops::select(ops::select(t, 0, 4), 0, 2).fill_(-7.0);  // t[4, 2, :] = x[:, 2, 4]
  CHECK(x.to_vector<double>()[0 * 15 + 2 * 5 + 4] == -7.0);
  CHECK(x.to_vector<double>()[1 * 15 + 2 * 5 + 4] == -7.0);
}

TEST_CASE("slice takes python-style ranges with steps and clamping") {
  Tensor x = arange(0, 10, 1, DType::Float64);
  check_values(ops::slice(x, 0, 2, 5), {2, 3, 4});
  check_values(ops::slice(x, 0, 1, 10, 3), {1, 4, 7});
  check_values(ops::slice(x, 0, -3, 10), {7, 8, 9});
  check_values(ops::slice(x, 0, 0, -7), {0, 1, 2});
  check_values(ops::slice(x, 0, -100, 2), {0, 1});
  check_values(ops::slice(x, 0, 8, 100), {8, 9});
  CHECK(ops::slice(x, 0, 5, 5).numel() == 0);
  CHECK(ops::slice(x, 0, 7, 3).numel() == 0);
  Tensor s = ops::slice(x, 0, 1, 10, 3);
  CHECK(shares_storage(s, x));
  CHECK(s.offset() == 1);
  CHECK(s.strides() == Shape{3});

  Tensor m = ops::reshape(arange(0, 12, 1, DType::Float64), {3, 4});
  Tensor c = ops::slice(m, 1, 1, 4, 2);  // columns 1 and 3
  CHECK(c.shape() == Shape{3, 2});
  check_values(c, {1, 3, 5, 7, 9, 11});
  Tensor r = ops::slice(m, -2, 1, 3);  // rows 1..2
  check_values(r, {4, 5, 6, 7, 8, 9, 10, 11});
  c.fill_(0.0);
  check_values(m, {0, 0, 2, 0, 4, 0, 6, 0, 8, 0, 10, 0});
}

TEST_CASE("narrow and select pick ranges and single indices as views") {
  Tensor m = ops::reshape(arange(0, 21, 1, DType::Float32), {3, 7});
  Tensor n = ops::narrow(m, 1, 2, 3);
  CHECK(n.shape() == Shape{3, 3});
  CHECK(shares_storage(n, m));
  check_values(n, {2, 3, 4, 9, 10, 11, 16, 17, 18});
  check_values(ops::narrow(m, 0, 2, 1), {14, 15, 16, 17, 18, 19, 20});
  Tensor s = ops::select(m, 1, 6);
  CHECK(s.shape() == Shape{3});
  check_values(s, {6, 13, 20});
  CHECK(shares_storage(s, m));
  Tensor row = ops::select(m, 0, 1);
  check_values(row, {7, 8, 9, 10, 11, 12, 13});
  Tensor e = ops::select(ops::select(m, 0, 2), 0, 3);
  CHECK(e.dim() == 0);
  CHECK(e.item() == 17);
  ops::select(m, -1, 0).fill_(100);  // dim -1 = columns
  check_values(ops::select(m, 1, 0), {100, 100, 100});
}

TEST_CASE("expand broadcasts with stride zero and no copy") {
  Tensor x = tensor({1, 2, 3}, {3, 1}, DType::Float64);
  Tensor e = ops::expand(x, {2, 3, 4});
  CHECK(e.shape() == Shape{2, 3, 4});
  CHECK(shares_storage(e, x));
  CHECK(e.stride(0) == 0);
  CHECK(e.stride(2) == 0);
  std::vector<double> want;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) want.push_back(i + 1);
  check_values(e, want);
  Tensor k = ops::expand(x, {-1, 5});
  CHECK(k.shape() == Shape{3, 5});
  Tensor c = e.contiguous();
  CHECK(c.is_contiguous());
  check_values(c, want);
  CHECK_FALSE(shares_storage(c, x));
  Tensor s = ops::expand(scalar_tensor(2.0), {2, 2});
  check_values(s, {2, 2, 2, 2});
}

TEST_CASE("squeeze unsqueeze and flatten change dims as views") {
  Tensor x = zeros({1, 3, 1, 5});
  CHECK(ops::squeeze(x).shape() == Shape{3, 5});
  CHECK(ops::squeeze(x, 2).shape() == Shape{1, 3, 5});
  CHECK(ops::squeeze(x, -2).shape() == Shape{1, 3, 5});
  CHECK(ops::squeeze(x, 1).shape() == Shape{1, 3, 1, 5});  // size 3: unchanged
  CHECK(shares_storage(ops::squeeze(x), x));
  Tensor y = arange(0, 6, 1, DType::Float64);
  CHECK(ops::unsqueeze(y, 0).shape() == Shape{1, 6});
  CHECK(ops::unsqueeze(y, 1).shape() == Shape{6, 1});
  CHECK(ops::unsqueeze(y, -1).shape() == Shape{6, 1});
  CHECK(ops::unsqueeze(ops::reshape(y, {2, 3}), 1).shape() == Shape{2, 1, 3});
  CHECK(ops::unsqueeze(ops::reshape(y, {2, 3}), -2).shape() == Shape{2, 1, 3});
  check_values(ops::unsqueeze(y, 1), {0, 1, 2, 3, 4, 5});
  CHECK(shares_storage(ops::unsqueeze(y, 0), y));
  CHECK(ops::squeeze(zeros({1, 1})).dim() == 0);

  Tensor z = ops::reshape(arange(0, 60, 1, DType::Float32), {3, 4, 5});
  CHECK(ops::flatten(z).shape() == Shape{60});
  CHECK(ops::flatten(z, 1).shape() == Shape{3, 20});
  CHECK(ops::flatten(z, 0, 1).shape() == Shape{12, 5});
  CHECK(ops::flatten(z, -2, -1).shape() == Shape{3, 20});
  CHECK(shares_storage(ops::flatten(z, 1), z));
  // flattening a transposed tensor copies and keeps logical order
  Tensor t = ops::transpose(ops::reshape(arange(0, 6, 1, DType::Float32), {2, 3}), 0, 1);
  check_values(ops::flatten(t), {0, 3, 1, 4, 2, 5});
}

TEST_CASE("view_of builds a custom strided view over existing storage") {
  Tensor x = arange(0, 10, 1, DType::Float64);
  Tensor v = Tensor::view_of(x.storage(), {2, 3}, {4, 1}, 1, DType::Float64);
  CHECK(v.shape() == Shape{2, 3});
  CHECK(v.offset() == 1);
  CHECK_FALSE(v.is_contiguous());
  check_values(v, {1, 2, 3, 5, 6, 7});
  CHECK(shares_storage(v, x));
  CHECK(v.data<double>() == x.data<double>() + 1);
  CHECK(v.raw_data() == static_cast<void*>(x.data<double>() + 1));
}

TEST_CASE("is_contiguous reflects strides") {
  Tensor x = zeros({3, 4});
  CHECK(x.is_contiguous());
  CHECK_FALSE(ops::transpose(x, 0, 1).is_contiguous());
  CHECK_FALSE(ops::slice(x, 1, 0, 4, 2).is_contiguous());
  CHECK(ops::slice(x, 0, 1, 3).is_contiguous());
  CHECK(ops::select(x, 0, 2).is_contiguous());
  CHECK_FALSE(ops::select(x, 1, 2).is_contiguous());
  CHECK(zeros({1, 4}).is_contiguous());
}

// ---- contiguous, clone, copy_, fill_ ------------------------------------------------------------

TEST_CASE("contiguous returns the same tensor when already contiguous and a packed copy otherwise") {
  Tensor x = tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(x.contiguous().same(x));
  Tensor t = ops::transpose(x, 0, 1);
  Tensor c = t.contiguous();
  CHECK(c.is_contiguous());
  CHECK(c.strides() == Shape{2, 1});
  CHECK(c.offset() == 0);
  check_values(c, {1, 4, 2, 5, 3, 6});
  CHECK_FALSE(shares_storage(c, x));
  for (Arrange a : {Arrange::Transposed, Arrange::Strided}) {
    std::vector<double> v = dyadic_values(3 * 7 * 33, 1);
    Tensor n = make_tensor(v, {3, 7, 33}, DType::Float64, a);
    CHECK_FALSE(n.is_contiguous());
    check_values(n.contiguous(), v, 0.0);
  }
}

TEST_CASE("clone always makes a new contiguous tensor") {
  Tensor x = tensor({1, 2, 3});
  Tensor c = x.clone();
  CHECK_FALSE(c.same(x));
  CHECK_FALSE(shares_storage(c, x));
  c.fill_(0.0);
  check_values(x, {1, 2, 3});
  Tensor t = ops::slice(tensor({0, 1, 2, 3, 4, 5, 6}, {7}, DType::Float64), 0, 1, 7, 2);
  Tensor ct = t.clone();
  CHECK(ct.is_contiguous());
  CHECK(ct.dtype() == DType::Float64);
  check_values(ct, {1, 3, 5});
}

TEST_CASE("copy_ broadcasts converts dtypes and writes into views") {
  Tensor dst = zeros({2, 3});
  dst.copy_(tensor({1.5, 2.5, 3.5}, {3}, DType::Float64));
  check_values(dst, {1.5, 2.5, 3.5, 1.5, 2.5, 3.5});
  dst.copy_(tensor({-1, 1}, {2, 1}));
  check_values(dst, {-1, -1, -1, 1, 1, 1});
  dst.copy_(scalar_tensor(9.0, DType::Int64));
  check_values(dst, std::vector<double>(6, 9.0));

  // into a transposed view of a bigger tensor
  Tensor base = zeros({3, 2}, DType::Float64);
  Tensor t = ops::transpose(base, 0, 1);  // [2, 3]
  t.copy_(tensor({1, 2, 3, 4, 5, 6}, {2, 3}));
  check_values(base, {1, 4, 2, 5, 3, 6});
  // from a non-contiguous source into a sliced destination
  Tensor big = zeros({4, 5}, DType::Int32);
  Tensor dview = ops::slice(ops::slice(big, 0, 1, 4, 2), 1, 0, 5, 2);  // rows 1, 3; cols 0, 2, 4
  Tensor src = ops::transpose(tensor({10, 20, 30, 40, 50, 60}, {3, 2}), 0, 1);  // [[10,30,50],[20,40,60]]
  dview.copy_(src);
  check_values(big, {0, 0, 0, 0, 0, 10, 0, 30, 0, 50, 0, 0, 0, 0, 0, 20, 0, 40, 0, 60});
  // into bf16
  Tensor h = zeros({2}, DType::BFloat16);
  h.copy_(tensor({1 + std::ldexp(1.0, -8), 3.0}));
  check_values(h, {1.0, 3.0}, 0.0);
  // copy_ returns *this
  Tensor r = zeros({2});
  CHECK(&r.copy_(tensor({1, 2})) == &r);
}

TEST_CASE("fill_ writes every element of a view and nothing else") {
  Tensor x = zeros({3, 4}, DType::Float64);
  ops::slice(x, 1, 1, 4, 2).fill_(2.5);
  check_values(x, {0, 2.5, 0, 2.5, 0, 2.5, 0, 2.5, 0, 2.5, 0, 2.5});
  Tensor i = zeros({3}, DType::Int64);
  i.fill_(-4);
  check_values(i, {-4, -4, -4});
  Tensor b = zeros({2}, DType::Bool);
  b.fill_(1);
  check_values(b, {1, 1});
  Tensor h = zeros({2}, DType::Float16);
  h.fill_(0.1);
  check_values(h, {0.0999755859375, 0.0999755859375}, 0.0);
  Tensor r = zeros({2});
  CHECK(&r.fill_(1.0) == &r);
}

// ---- item, to_vector, printing ------------------------------------------------------------------

TEST_CASE("item reads the single element of any one-element tensor") {
  CHECK(scalar_tensor(-3.25).item() == -3.25);
  CHECK(tensor({7.5}, {1, 1, 1}).item() == 7.5);
  CHECK(scalar_tensor(5, DType::Int64).item<int64_t>() == 5);
  CHECK(full({1}, 1, DType::Bool).item() == 1.0);
  CHECK(tensor({0.1}, {1}, DType::Float64).item() == 0.1);
  Tensor x = tensor({1, 2, 3, 4}, {2, 2});
  CHECK(ops::select(ops::select(x, 0, 1), 0, 0).item() == 3);
  CHECK(ops::select(ops::select(ops::transpose(x, 0, 1), 0, 1), 0, 0).item() == 2);
  CHECK(tensor({1.5}).to(DType::BFloat16).item<float>() == 1.5f);
}

TEST_CASE("to_vector returns row-major converted elements of any layout") {
  Tensor x = ops::transpose(tensor({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);
  CHECK(x.to_vector<float>() == std::vector<float>{1, 4, 2, 5, 3, 6});
  CHECK(x.to_vector<double>() == std::vector<double>{1, 4, 2, 5, 3, 6});
  CHECK(x.to_vector<int64_t>() == std::vector<int64_t>{1, 4, 2, 5, 3, 6});
  CHECK(x.to_vector<int32_t>() == std::vector<int32_t>{1, 4, 2, 5, 3, 6});
  Tensor e = ops::expand(tensor({7.0}, {1}), {3});
  CHECK(e.to_vector<double>() == std::vector<double>{7, 7, 7});
  CHECK(zeros({0, 3}).to_vector<float>().empty());
  Tensor b = tensor({0, 2, -1}).to(DType::Bool);
  CHECK(b.to_vector<int32_t>() == std::vector<int32_t>{0, 1, 1});
}

TEST_CASE("describe and printing show dtype shape device and values") {
  Tensor x = tensor({1.5, -2.25, 3, 4, 5, 6}, {2, 3});
  CHECK(describe(x) == "float32[2, 3] on cpu");
  CHECK(describe(zeros({4}, DType::Int64)) == "int64[4] on cpu");
  CHECK(describe(scalar_tensor(1.0, DType::Float64)) == "float64[] on cpu");
  std::string s = x.str();
  CHECK(s.find("float32") != std::string::npos);
  CHECK(s.find("cpu") != std::string::npos);
  CHECK(s.find("1.5") != std::string::npos);
  CHECK(s.find("-2.25") != std::string::npos);
  CHECK(s.find('6') != std::string::npos);
  std::ostringstream os;
  os << x;
  CHECK(os.str() == s);
  std::string ts = ops::transpose(x, 0, 1).str();
  CHECK(ts.find("-2.25") != std::string::npos);
  CHECK(tensor({1, 0}).to(DType::Bool).str().find("bool") != std::string::npos);
  CHECK(tensor({0.5}).to(DType::BFloat16).str().find("0.5") != std::string::npos);
  CHECK_FALSE(zeros({0}).str().empty());
}

}  // TEST_SUITE("cpu")
