// Bad use throws (never aborts) with a message that names the op and what it got or expects.
#include <stdexcept>

#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

template <typename F>
void expect_invalid(F&& fn, const std::vector<std::string>& needles) {
  check_throws_with_all<std::invalid_argument>(std::forward<F>(fn), needles);
}
template <typename F>
void expect_out_of_range(F&& fn, const std::vector<std::string>& needles) {
  check_throws_with_all<std::out_of_range>(std::forward<F>(fn), needles);
}
template <typename F>
void expect_any(F&& fn, const std::vector<std::string>& needles) {
  check_throws_with_all<std::exception>(std::forward<F>(fn), needles);
}

Tensor idx(const std::vector<int64_t>& v, const Shape& shape) { return Tensor::from_vector<int64_t>(v, shape); }

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("broadcasting mismatch names the op and both shapes") {
  Tensor a = zeros({2, 3}), b = zeros({4});
  expect_invalid([&] { ops::add(a, b); }, {"add", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::sub(zeros({3, 2}), zeros({2, 3})); }, {"sub", "[3, 2]", "[2, 3]"});
  expect_invalid([&] { ops::mul(a, b); }, {"mul", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::div(a, b); }, {"div", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::maximum(a, b); }, {"maximum", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::pow(a, b); }, {"pow", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::eq(a, b); }, {"eq", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::operator+(a, b); }, {"add", "[2, 3]", "[4]"});
  expect_invalid([&] { ops::where(zeros({2, 3}, DType::Bool), zeros({2, 3}), zeros({4, 1})); }, {"where", "[4, 1]"});
  expect_invalid([&] { ops::where(zeros({7}, DType::Bool), zeros({2, 3}), zeros({2, 3})); }, {"where", "[7]"});
}

TEST_CASE("copy_ and expand reject shapes that do not broadcast") {
  expect_invalid([] { zeros({2, 3}).copy_(zeros({2})); }, {"copy", "[2]", "[2, 3]"});
  expect_invalid([] { zeros({2, 3}).copy_(zeros({2, 3, 1})); }, {"copy", "[2, 3, 1]"});
  expect_invalid([] { ops::expand(zeros({3, 1}), {4, 2}); }, {"expand", "[3, 1]", "[4, 2]"});
  expect_invalid([] { ops::expand(zeros({2, 3}), {3}); }, {"expand", "[2, 3]", "[3]"});
}

TEST_CASE("matmul with a wrong inner dim or batch names both shapes") {
  expect_invalid([] { ops::matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]"});
  expect_invalid([] { ops::matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"});
  expect_invalid([] { ops::matmul(zeros({2, 3}), zeros({2})); }, {"matmul", "[2, 3]", "[2]"});
  expect_invalid([] { ops::matmul(zeros({5}), zeros({2, 4, 3})); }, {"matmul", "[5]", "[2, 4, 3]"});
  expect_invalid([] { ops::matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); }, {"matmul", "[2, 3, 4]", "[3, 4, 5]"});
  expect_invalid([] { ops::matmul(scalar_tensor(1.0), zeros({3})); }, {"matmul"});
}

TEST_CASE("dtype mismatch and unsupported dtypes name the op and the dtypes") {
  Tensor f = zeros({3}), d = zeros({3}, DType::Float64);
  expect_invalid([&] { ops::add(f, d); }, {"add", "float32", "float64"});
  expect_invalid([&] { ops::mul(d, f); }, {"mul", "float32", "float64"});
  expect_invalid([&] { ops::lt(f, d); }, {"lt", "float32", "float64"});
  expect_invalid([&] { ops::matmul(zeros({2, 2}), zeros({2, 2}, DType::Float64)); }, {"matmul", "float32", "float64"});
  expect_invalid([&] { ops::where(zeros({3}, DType::Bool), f, d); }, {"where", "float32", "float64"});
  expect_invalid([&] { ops::cat({f, d}); }, {"cat", "float32", "float64"});
  expect_invalid([&] { ops::stack({f, d}); }, {"stack", "float32", "float64"});
  // bool masks only
  expect_invalid([&] { ops::where(f, f, f); }, {"where", "bool", "float32"});
  // float math on integer and storage-only dtypes
  expect_invalid([] { ops::exp(zeros({3}, DType::Int32)); }, {"exp", "int32"});
  expect_invalid([] { ops::sqrt(zeros({3}, DType::Int64)); }, {"sqrt", "int64"});
  expect_invalid([] { ops::exp(zeros({3}, DType::BFloat16)); }, {"exp", "bfloat16"});
  expect_invalid([] { ops::add(zeros({3}, DType::Float16), zeros({3}, DType::Float16)); }, {"add", "float16"});
  expect_invalid([] { ops::softmax(zeros({3}, DType::Int64), 0); }, {"softmax", "int64"});
  expect_invalid([] { ops::matmul(zeros({2, 2}, DType::Int32), zeros({2, 2}, DType::Int32)); }, {"matmul", "int32"});
  expect_invalid([] { ops::neg(zeros({3}, DType::Bool)); }, {"neg", "bool"});
  // indices must be int64
  expect_invalid([&] { ops::index_select(zeros({3, 3}), 0, zeros({2})); }, {"index_select", "int64", "float32"});
  expect_invalid([&] { ops::gather(zeros({3, 3}), 0, zeros({3, 3})); }, {"gather", "int64", "float32"});
  expect_invalid([&] { ops::index_add({3, 3}, 0, zeros({2}, DType::Float64), zeros({2, 3})); },
                 {"index_add", "int64", "float64"});
  expect_invalid([&] { ops::scatter_add({3, 3}, 0, zeros({3, 3}), zeros({3, 3})); }, {"scatter_add", "int64"});
}

TEST_CASE("an out-of-range dim names the op and the dim") {
  Tensor x = zeros({2, 3});
  expect_any([&] { ops::sum(x, {5}); }, {"sum", "5"});
  expect_any([&] { ops::sum(x, {-3}); }, {"sum", "-3"});
  expect_any([&] { ops::mean(x, {2}); }, {"mean", "2"});
  expect_any([&] { ops::max(x, {7}); }, {"max", "7"});
  expect_any([&] { ops::min(x, {7}); }, {"min", "7"});
  expect_any([&] { ops::var(x, {7}); }, {"var", "7"});
  expect_any([&] { ops::argmax(x, 5); }, {"argmax", "5"});
  expect_any([&] { ops::argmin(x, -5); }, {"argmin", "-5"});
  expect_any([&] { ops::softmax(x, 5); }, {"softmax", "5"});
  expect_any([&] { ops::log_softmax(x, -5); }, {"log_softmax", "-5"});
  expect_any([&] { ops::transpose(x, 0, 5); }, {"transpose", "5"});
  expect_any([&] { ops::permute(x, {0, 5}); }, {"permute", "5"});
  expect_any([&] { ops::select(x, 5, 0); }, {"select", "5"});
  expect_any([&] { ops::slice(x, 5, 0, 1); }, {"slice", "5"});
  expect_any([&] { ops::narrow(x, -5, 0, 1); }, {"narrow", "-5"});
  expect_any([&] { ops::squeeze(x, 5); }, {"squeeze", "5"});
  expect_any([&] { ops::unsqueeze(x, 5); }, {"unsqueeze", "5"});
  expect_any([&] { ops::unsqueeze(x, -5); }, {"unsqueeze", "-5"});
  expect_any([&] { ops::flatten(x, 0, 5); }, {"flatten", "5"});
  expect_any([&] { ops::cat({x, x}, 5); }, {"cat", "5"});
  expect_any([&] { ops::stack({x, x}, 5); }, {"stack", "5"});
  expect_any([&] { ops::split(x, 1, 5); }, {"split", "5"});
  expect_any([&] { ops::chunk(x, 2, 5); }, {"chunk", "5"});
  expect_any([&] { ops::index_select(x, 5, idx({0}, {1})); }, {"index_select", "5"});
  expect_any([&] { ops::gather(x, 5, idx({0, 0, 0, 0, 0, 0}, {2, 3})); }, {"gather", "5"});
  expect_any([&] { (void)x.size(5); }, {"5"});
}

TEST_CASE("an index out of bounds names the op and the index") {
  Tensor x = zeros({3, 4});
  expect_out_of_range([&] { ops::index_select(x, 0, idx({0, 5}, {2})); }, {"index_select", "5"});
  expect_out_of_range([&] { ops::index_select(x, 1, idx({-1}, {1})); }, {"index_select", "-1"});
  expect_out_of_range([&] { ops::gather(x, 1, idx({0, 1, 2, 4}, {1, 4})); }, {"gather", "4"});
  expect_out_of_range([&] { ops::index_add({3, 4}, 0, idx({3}, {1}), zeros({1, 4})); }, {"index_add", "3"});
  expect_out_of_range([&] { ops::scatter_add({3, 4}, 1, idx({9, 0}, {1, 2}), zeros({1, 2})); }, {"scatter_add", "9"});
  expect_any([&] { ops::select(x, 0, 3); }, {"select", "3"});
  expect_any([&] { ops::select(x, 1, 4); }, {"select", "4"});
  expect_any([&] { ops::narrow(x, 1, 2, 3); }, {"narrow"});
}

TEST_CASE("view on incompatible strides names the op and the shapes") {
  Tensor x = zeros({2, 3});
  Tensor t = ops::transpose(x, 0, 1);
  expect_invalid([&] { ops::view(t, {6}); }, {"view", "[3, 2]", "[6]"});
  expect_invalid([&] { ops::view(ops::slice(zeros({4, 4}), 1, 0, 3), {12}); }, {"view", "[4, 3]", "[12]"});
  // a step-2 slice still has one stride per merged run, so it can be viewed
  CHECK(ops::view(ops::slice(zeros({4, 4}), 1, 0, 4, 2), {8}).shape() == Shape{8});
  expect_invalid([&] { ops::view(ops::expand(zeros({3, 1}), {3, 4}), {12}); }, {"view"});
  // the same reshapes are fine (they copy)
  CHECK(ops::reshape(t, {6}).shape() == Shape{6});
}

TEST_CASE("bad reshape names the op and the shapes") {
  Tensor x = zeros({2, 3});
  expect_invalid([&] { ops::reshape(x, {4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"});
  expect_invalid([&] { ops::reshape(x, {-1, 4}); }, {"reshape", "[2, 3]"});
  expect_invalid([&] { ops::reshape(x, {-1, -1}); }, {"reshape", "-1"});
  expect_invalid([&] { ops::reshape(x, {7}); }, {"reshape", "[7]"});
  expect_invalid([&] { ops::view(x, {5}); }, {"view", "[5]"});
  expect_invalid([&] { ops::reshape(x, {-2, -3}); }, {"reshape"});
}

TEST_CASE("bad arguments to view ops join split and pad are rejected") {
  Tensor x = zeros({2, 3});
  expect_any([&] { ops::permute(x, {0}); }, {"permute"});
  expect_any([&] { ops::permute(x, {1, 1}); }, {"permute"});
  expect_any([&] { ops::slice(x, 1, 0, 3, 0); }, {"slice", "step"});
  expect_any([&] { ops::slice(x, 1, 0, 3, -1); }, {"slice", "step"});
  expect_invalid([&] { ops::cat({x, zeros({2, 4})}, 0); }, {"cat", "[2, 3]", "[2, 4]"});
  expect_invalid([&] { ops::cat({x, zeros({3})}, 0); }, {"cat"});
  expect_invalid([&] { ops::cat({}, 0); }, {"cat"});
  expect_invalid([&] { ops::stack({x, zeros({3, 2})}); }, {"stack", "[2, 3]", "[3, 2]"});
  expect_invalid([&] { ops::stack({}); }, {"stack"});
  expect_any([&] { ops::split(x, 0, 1); }, {"split"});
  expect_any([&] { ops::split(x, std::vector<int64_t>{1, 1}, 1); }, {"split", "3"});
  expect_any([&] { ops::chunk(x, 0, 1); }, {"chunk"});
  expect_any([&] { ops::pad(x, {1}); }, {"pad"});
  expect_any([&] { ops::pad(x, {1, 1, 1, 1, 1, 1}); }, {"pad"});
  expect_any([&] { ops::pad(x, {-2, -2}); }, {"pad"});
  expect_any([&] { ops::gather(x, 1, idx({0, 0}, {2})); }, {"gather"});
  expect_any([&] { ops::index_select(x, 0, idx({0, 0}, {1, 2})); }, {"index_select"});
  expect_any([&] { ops::index_add({3, 3}, 0, idx({0, 1}, {2}), zeros({3, 3})); }, {"index_add"});
  expect_any([&] { ops::scatter_add({3, 3}, 0, idx({0, 1}, {2}), zeros({2, 2})); }, {"scatter_add"});
}

TEST_CASE("item construction and conversion misuse is rejected") {
  expect_any([] { (void)zeros({2}).item(); }, {"item"});
  expect_any([] { (void)zeros({0}).item(); }, {"item"});
  expect_any([] { tensor({1, 2, 3}, {2, 2}); }, {"tensor", "3", "[2, 2]"});
  expect_any([] { Tensor::from_vector<float>({1.f, 2.f}, {3}); }, {"from_vector", "2", "[3]"});
  expect_any([] { Device::parse("gpu"); }, {"gpu"});
  expect_any([] { Device::parse("cuda:x"); }, {"cuda:x"});
  expect_any([] { arange(0, 1, 0); }, {"arange"});
  expect_any([] { zeros({2, -3}); }, {"-3"});
  expect_any([] { randint(5, 5, {3}); }, {"randint"});
  expect_any([] { linspace(0, 1, -1); }, {"linspace"});
  expect_any([] { eye(-1); }, {"eye"});
}

TEST_CASE("an undefined tensor throws instead of crashing") {
  Tensor u;
  CHECK_FALSE(u.defined());
  expect_any([&] { ops::add(u, zeros({1})); }, {});
  expect_any([&] { ops::exp(u); }, {});
  expect_any([&] { (void)u.shape(); }, {});
  expect_any([&] { (void)u.item(); }, {});
}

TEST_CASE("a shape whose strides or size would overflow int64 is refused before allocating") {
  expect_invalid([] { Tensor::empty({2, -3}); }, {"empty", "[2, -3]", "negative size in dim 1"});
  // A zero-sized dim holds no bytes, but the strides of the others would still overflow.
  expect_invalid([] { Tensor::empty({0, int64_t(1) << 40, int64_t(1) << 40}); }, {"empty", "more than 2^48 elements"});
  expect_invalid([] { zeros({int64_t(1) << 30, int64_t(1) << 30}); }, {"more than 2^48 elements"});
  expect_invalid([] { check_shape({3037000500, 3037000500, 3}, "reader"); }, {"reader: shape", "more than 2^48"});
  expect_invalid([] { check_shape({1, 1, 1, 1, 1, 1, 1}, "reader"); }, {"reader: shape", "7 dims, at most 6"});
  CHECK(shape_problem({0, int64_t(1) << 47, 2}) == "");  // exactly 2^48 counting the 0 as 1
  CHECK(shape_problem({}) == "");
  CHECK(Tensor::empty({0, int64_t(1) << 24, int64_t(1) << 24}).numel() == 0);
}

TEST_CASE("ops on tensors with more than 6 dims throw or compute correctly but never corrupt memory") {
  try {
    Tensor x = ones({1, 2, 1, 2, 1, 2, 3});
    Tensor y = ops::add(ops::exp(x), 1.0);
    CHECK(y.shape() == Shape{1, 2, 1, 2, 1, 2, 3});
    check_values(y, std::vector<double>(24, std::exp(1.0) + 1.0), 1e-5);
  } catch (const std::exception& e) {
    CHECK_MESSAGE(std::string(e.what()).find('6') != std::string::npos, "message '", e.what(), "' lacks the limit 6");
  }
}

TEST_CASE("a cuda tensor without a usable gpu throws naming cuda") {
  if (cuda_is_available()) {
    CHECK(zeros({2}, Device::cuda()).device() == Device::cuda());  // the same calls work with a GPU
    return;
  }
  expect_any([] { zeros({2}, Device::cuda()); }, {"cuda"});
  expect_any([] { tensor({1, 2}).to(Device::cuda()); }, {"cuda"});
  expect_any([] { rand({3}, Device::cuda()); }, {"cuda"});
}

}  // TEST_SUITE("cpu")

TEST_SUITE("cuda") {

TEST_CASE("device mismatch names the op and both devices") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Tensor c = zeros({3}), g = zeros({3}, Device::cuda());
  expect_invalid([&] { ops::add(c, g); }, {"add", "cpu", "cuda"});
  expect_invalid([&] { ops::mul(g, c); }, {"mul", "cpu", "cuda"});
  expect_invalid([&] { ops::matmul(zeros({2, 2}), zeros({2, 2}, Device::cuda())); }, {"matmul", "cpu", "cuda"});
  expect_invalid([&] { ops::where(zeros({3}, DType::Bool), c, g); }, {"where", "cpu", "cuda"});
  expect_invalid([&] { ops::cat({c, g}); }, {"cat", "cpu", "cuda"});
  expect_invalid([&] { ops::index_select(g, 0, idx({0}, {1})); }, {"index_select", "cpu", "cuda"});
  // copy_ across devices is allowed
  g.copy_(tensor({1, 2, 3}));
  check_values(g, {1, 2, 3});
}

TEST_CASE("a cuda index out of bounds throws like the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  Tensor x = zeros({3, 4}, Device::cuda());
  // The GPU reports the bad index at the next synchronization (here the copy to the host), not at the op.
  expect_out_of_range([&] { ops::index_select(x, 0, idx({0, 5}, {2}).to(Device::cuda())).cpu(); },
                      {"index_select", "5"});
  // the error was reported once and cleared: the device is still usable afterwards
  backend(Device::cuda()).synchronize();
  check_values(ops::add(x, 1.0), std::vector<double>(12, 1.0));
}

}  // TEST_SUITE("cuda")
