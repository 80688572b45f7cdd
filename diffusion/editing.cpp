// Editing real images: where an edit starts on a (respaced) chain, and Fig. 8's interpolation in x_t.
#include "diffusion/editing.hpp"

#include <stdexcept>

#include "autograd/autograd.hpp"

namespace ddpm {

int64_t chain_step_at_or_below(const GaussianDiffusion& chain, int64_t start_t) {
  const std::vector<int64_t>& map = chain.timestep_map();
  const int64_t T = chain.config().T;
  if (start_t < 0 || start_t >= T)
    throw std::invalid_argument("--start-t is " + std::to_string(start_t) + ", expected 0 <= t <= T-1 = " +
                                std::to_string(T - 1) + " (the code's timestep index: the paper's t - 1)");
  int64_t step = 0;
  for (int64_t i = 0; i < int64_t(map.size()); ++i)
    if (map[size_t(i)] <= start_t) step = i;
  return step;
}

Tensor interpolate_noised(const GaussianDiffusion& diffusion, const Tensor& xa, const Tensor& xb, int64_t K,
                          int64_t step, const Tensor& noise) {
  DDPM_CHECK(K >= 2, "interpolate_noised: K is ", K, ", expected >= 2 (both ends included)");
  const Tensor a = xa.dim() == 3 ? ops::unsqueeze(xa, 0) : xa, b = xb.dim() == 3 ? ops::unsqueeze(xb, 0) : xb;
  DDPM_CHECK(a.dim() == 4 && a.size(0) == 1 && a.shape() == b.shape() && noise.shape() == a.shape(),
             "interpolate_noised: xa ", describe(xa), ", xb ", describe(xb), " and noise ", describe(noise),
             " must be single images of one shape [1, C, H, W]");
  const Tensor t = full({1}, double(step), TensorOptions(DType::Int64, a.device()));
  const Tensor at = diffusion.q_sample(a, t, noise), bt = diffusion.q_sample(b, t, noise);  // [1, C, H, W] each
  std::vector<Tensor> rows;
  for (int64_t k = 0; k < K; ++k) {
    const double lambda = double(k) / double(K - 1);
    rows.push_back(k == 0 ? at : k == K - 1 ? bt : (1.0 - lambda) * at + lambda * bt);
  }
  return ops::cat(rows, 0);  // [K, C, H, W]
}

}  // namespace ddpm
