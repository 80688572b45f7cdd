// CPU/CUDA parity of what composes kernels rather than testing one: host <-> device transfers of
// every dtype, the creation ops, cat/stack/split/chunk/pad and views read through reshape and expand,
// on the same inputs on both devices (odd sizes, non-contiguous views built on the device itself).
// The per-kernel parity checks are in test_backend_ops.cpp. Without a GPU every case prints the skip
// marker.
#include <cmath>
#include <functional>

#include "cuda_parity.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

const Arrange kArranges[] = {Arrange::Contiguous, Arrange::Transposed, Arrange::Strided};

Device gpu() { return Device::cuda(0); }

void parity(const std::function<Tensor(Device)>& f, double atol, double rtol) { check_parity(f, gpu(), atol, rtol); }
// For ops returning several tensors.
void parity_list(const std::function<std::vector<Tensor>(Device)>& f) {
  std::vector<Tensor> c = f(Device::cpu()), g = f(gpu());
  REQUIRE(c.size() == g.size());
  for (size_t i = 0; i < c.size(); ++i) {
    CHECK(g[i].device() == gpu());
    check_close(g[i], c[i], 0.0, 0.0);
  }
}

TensorOptions on(DType d, Device dev) { return TensorOptions(d, dev); }

}  // namespace

TEST_SUITE("cuda") {

// ---- Host <-> device -----------------------------------------------------------------------------

TEST_CASE("host to device and back round-trips every dtype exactly") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<double> v = dyadic_values(3 * 7 * 33, 2);
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64,
                  DType::Bool}) {
    CAPTURE(dtype_name(d));
    Tensor h = tensor(v, {3, 7, 33}).to(d);
    Tensor g = h.to(gpu());
    CHECK(g.device() == gpu());
    CHECK(g.dtype() == d);
    CHECK(g.shape() == h.shape());
    Tensor back = g.to(Device::cpu());
    CHECK(back.device().is_cpu());
    check_close(back, h, 0.0, 0.0);
    // to_vector and item read device tensors directly
    CHECK(g.to_vector<double>() == h.to_vector<double>());
    CHECK(ops::select(ops::select(ops::select(g, 0, 2), 0, 6), 0, 32).item() == h.to_vector<double>().back());
  }
  // non-contiguous host tensors go up with their logical order
  Tensor t = make_tensor(v, {3, 7, 33}, DType::Float32, Arrange::Transposed);
  check_close(t.to(gpu()), tensor(v, {3, 7, 33}), 0.0, 0.0);
  Tensor s = make_tensor(v, {3, 7, 33}, DType::Float64, Arrange::Strided);
  check_close(s.to(gpu()), tensor(v, {3, 7, 33}, DType::Float64), 0.0, 0.0);
  // and device views come down in logical order
  Tensor gt = make_tensor(v, {3, 7, 33}, on(DType::Float32, gpu()), Arrange::Strided);
  check_close(gt.cpu(), tensor(v, {3, 7, 33}), 0.0, 0.0);
  CHECK(gt.to(gpu()).same(gt));
}

TEST_CASE("creation ops on the device match the host") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Float16, DType::Int32, DType::Int64}) {
    CAPTURE(dtype_name(d));
    parity([&](Device dev) { return zeros({3, 7}, on(d, dev)); }, 0, 0);
    parity([&](Device dev) { return ones({33}, on(d, dev)); }, 0, 0);
    parity([&](Device dev) { return full({2, 5}, -3.0, on(d, dev)); }, 0, 0);
    parity([&](Device dev) { return arange(-3, 30, 1, on(d, dev)); }, 0, 0);
    parity([&](Device dev) { return eye(5, 3, on(d, dev)); }, 0, 0);
  }
  parity([](Device dev) { return linspace(-1, 1, 33, on(DType::Float64, dev)); }, 1e-15, 0);
  parity([](Device dev) { return linspace(-1, 1, 33, on(DType::Float32, dev)); }, 1e-7, 0);
  parity([](Device dev) { return arange(1, 0, -0.125, on(DType::Float32, dev)); }, 0, 0);
}

// ---- Joining, splitting, padding and views ------------------------------------------------------

TEST_CASE_TEMPLATE("cuda cat stack split chunk and pad match the cpu", T, float, double) {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  const DType d = dtype_of<T>();
  std::vector<double> v1 = dyadic_values(2 * 3 * 5, 1), v2 = dyadic_values(2 * 1 * 5, 2), v3 = dyadic_values(2 * 4 * 5, 3);
  for (Arrange arr : kArranges) {
    CAPTURE(arrange_name(arr));
    parity([&](Device dev) {
      return ops::cat({make_tensor(v1, {2, 3, 5}, on(d, dev), arr), make_tensor(v2, {2, 1, 5}, on(d, dev)),
                       make_tensor(v3, {2, 4, 5}, on(d, dev), arr)}, 1);
    }, 0, 0);
    parity([&](Device dev) {
      return ops::cat({make_tensor(v1, {2, 3, 5}, on(d, dev), arr), make_tensor(v1, {2, 3, 5}, on(d, dev))}, -1);
    }, 0, 0);
    for (int64_t dim : {0, 1, 3, -1}) {
      parity([&](Device dev) {
        return ops::stack({make_tensor(v1, {2, 3, 5}, on(d, dev), arr), make_tensor(v1, {2, 3, 5}, on(d, dev)),
                           make_tensor(v1, {2, 3, 5}, on(d, dev), Arrange::Strided)}, dim);
      }, 0, 0);
    }
    parity_list([&](Device dev) { return ops::split(make_tensor(v3, {2, 4, 5}, on(d, dev), arr), 2, -1); });
    parity_list([&](Device dev) {
      return ops::split(make_tensor(v3, {2, 4, 5}, on(d, dev), arr), std::vector<int64_t>{1, 3}, 1);
    });
    parity_list([&](Device dev) { return ops::chunk(make_tensor(v3, {2, 4, 5}, on(d, dev), arr), 3, 2); });
    for (const std::vector<int64_t>& pads :
         {std::vector<int64_t>{1, 2}, {-1, 2, 0, 1}, {2, -2, 1, 1, 1, 0}, {0, 0, -1, -1}}) {
      CAPTURE(pads.size());
      CAPTURE(pads[0]);
      parity([&](Device dev) { return ops::pad(make_tensor(v3, {2, 4, 5}, on(d, dev), arr), pads, -0.5); }, 0, 0);
    }
  }
}

TEST_CASE("cuda views reshape and expand read the same elements as the cpu") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<double> v = dyadic_values(4 * 6 * 5, 2);
  auto mk = [&](Device dev) { return tensor(v, {4, 6, 5}, on(DType::Float32, dev)); };
  parity([&](Device dev) { return ops::reshape(ops::permute(mk(dev), {2, 0, 1}), {5, 24}); }, 0, 0);
  parity([&](Device dev) { return ops::slice(ops::narrow(mk(dev), 1, 1, 4), 2, -4, 5, 2).contiguous(); }, 0, 0);
  parity([&](Device dev) { return ops::select(ops::transpose(mk(dev), 0, 2), 1, 3).contiguous(); }, 0, 0);
  parity([&](Device dev) { return ops::expand(ops::unsqueeze(ops::select(mk(dev), 2, 0), 0), {3, 4, 6}).contiguous(); },
         0, 0);
  parity([&](Device dev) { return ops::flatten(ops::transpose(mk(dev), 0, 1), 1); }, 0, 0);
  parity([&](Device dev) { return ops::squeeze(ops::unsqueeze(mk(dev), 1)).contiguous(); }, 0, 0);
}

}  // TEST_SUITE("cuda")
