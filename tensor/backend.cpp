// The device registry: the CPU backend is always there, the CUDA one registers itself when linked.
#include "tensor/backend.hpp"

#include <stdexcept>

#include "tensor/device.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

namespace {
Backend* g_cuda_backend = nullptr;
int (*g_cuda_device_count)() = nullptr;
}  // namespace

void register_cuda_backend(Backend* b, int (*device_count)()) {
  g_cuda_backend = b;
  g_cuda_device_count = device_count;
}

int cuda_device_count() {
  static const int count = g_cuda_device_count ? g_cuda_device_count() : 0;
  return count;
}

bool cuda_is_available() { return cuda_device_count() > 0; }

Backend& backend(Device device) {
  if (device.is_cpu()) return cpu_backend();
  if (!g_cuda_backend)
    throw std::runtime_error("device cuda: this build of ddpmcpp has no CUDA backend (configure with -DDDPM_CUDA=ON where nvcc is installed)");
  if (!cuda_is_available())
    throw std::runtime_error("device cuda: no CUDA GPU is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), use device cpu");
  DDPM_CHECK(device.index == 0, "device ", device.str(), ": only cuda:0 is supported for now");
  return *g_cuda_backend;
}

void Backend::missing(const char* kernel) const {
  throw std::logic_error(str(kernel, ": this device's backend has no such kernel yet"));
}
void Backend::im2col(TensorRef, TensorRef, const ConvGeometry&) { missing("im2col"); }
void Backend::col2im(TensorRef, TensorRef, const ConvGeometry&) { missing("col2im"); }
void Backend::group_norm_forward(TensorRef, TensorRef, TensorRef, TensorRef, TensorRef, TensorRef, int64_t, double) {
  missing("group_norm_forward");
}
void Backend::group_norm_backward(TensorRef, TensorRef, TensorRef, TensorRef, TensorRef, TensorRef, TensorRef,
                                  TensorRef, int64_t) {
  missing("group_norm_backward");
}
void Backend::adamw_step(const std::vector<TensorRef>&, const std::vector<TensorRef>&, const std::vector<TensorRef>&,
                         const std::vector<TensorRef>&, const AdamWStep&) {
  missing("adamw_step");
}
void Backend::ema_update(const std::vector<TensorRef>&, const std::vector<TensorRef>&, double) { missing("ema_update"); }
void Backend::sum_of_squares(TensorRef, const std::vector<TensorRef>&) { missing("sum_of_squares"); }

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda") return cuda(0);
  if (s.rfind("cuda:", 0) == 0) {
    std::string idx = s.substr(5);
    bool digits = !idx.empty() && idx.find_first_not_of("0123456789") == std::string::npos;
    DDPM_CHECK(digits, "device: cannot parse '", s, "', expected cpu, cuda or cuda:N");
    return cuda(std::stoi(idx));
  }
  throw std::invalid_argument(::ddpm::str("device: cannot parse '", s, "', expected cpu, cuda or cuda:N"));
}

}  // namespace ddpm
