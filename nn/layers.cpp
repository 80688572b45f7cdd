// The layers: constructors register and initialize the parameters, forwards call nn/functional.hpp.
#include "nn/layers.hpp"

#include "nn/init.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Generator* gen) : in_features(in), out_features(out) {
  DDPM_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in ", in, ", out ", out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init::default_init_(weight, bias, gen);
}

Tensor Linear::forward(const Tensor& x) { return linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride_, int64_t padding_, bool with_bias, Generator* gen)
    : in_channels(in), out_channels(out), kernel_size(k), stride(stride_), padding(padding_) {
  DDPM_CHECK(in > 0 && out > 0 && k > 0 && stride_ > 0 && padding_ >= 0, "Conv2d: got in ", in, ", out ", out,
             ", kernel ", k, ", stride ", stride_, ", padding ", padding_, "; sizes and stride must be positive");
  weight = register_parameter("weight", empty({out, in, k, k}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init::default_init_(weight, bias, gen);
}

Tensor Conv2d::forward(const Tensor& x) { return conv2d(x, weight, bias, stride, padding); }
Tensor Conv2d::forward_silu(const Tensor& x) { return silu_conv2d(x, weight, bias, stride, padding); }

ConvTranspose2d::ConvTranspose2d(int64_t in, int64_t out, int64_t k, int64_t stride_, int64_t padding_,
                                 int64_t output_padding_, bool with_bias, Generator* gen)
    : in_channels(in), out_channels(out), kernel_size(k), stride(stride_), padding(padding_),
      output_padding(output_padding_) {
  DDPM_CHECK(in > 0 && out > 0 && k > 0 && stride_ > 0 && padding_ >= 0, "ConvTranspose2d: got in ", in, ", out ",
             out, ", kernel ", k, ", stride ", stride_, ", padding ", padding_,
             "; sizes and stride must be positive");
  DDPM_CHECK(output_padding_ >= 0 && output_padding_ < stride_, "ConvTranspose2d: output_padding ", output_padding_,
             " must be in [0, stride ", stride_, ")");
  weight = register_parameter("weight", empty({in, out, k, k}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  init::default_init_(weight, bias, gen);  // fan_in from dim 1 (out k k), as PyTorch
}

Tensor ConvTranspose2d::forward(const Tensor& x) {
  return conv_transpose2d(x, weight, bias, stride, padding, output_padding);
}

GroupNorm::GroupNorm(int64_t groups_, int64_t channels_, double eps_, bool affine)
    : groups(groups_), channels(channels_), eps(eps_) {
  DDPM_CHECK(groups_ > 0 && channels_ > 0 && channels_ % groups_ == 0, "GroupNorm: ", channels_,
             " channels cannot be split into ", groups_, " groups");
  if (affine) {
    weight = register_parameter("weight", ones({channels_}));
    bias = register_parameter("bias", zeros({channels_}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) { return group_norm(x, groups, weight, bias, eps); }

LayerNorm::LayerNorm(int64_t features_, double eps_, bool affine) : features(features_), eps(eps_) {
  DDPM_CHECK(features_ > 0, "LayerNorm: features must be positive, got ", features_);
  if (affine) {
    weight = register_parameter("weight", ones({features_}));
    bias = register_parameter("bias", zeros({features_}));
  }
}

Tensor LayerNorm::forward(const Tensor& x) { return layer_norm(x, weight, bias, eps); }

Dropout::Dropout(double p_, Generator* gen) : p(p_), gen_(gen) {
  DDPM_CHECK(p_ >= 0.0 && p_ < 1.0, "Dropout: p must be in [0, 1), got ", p_);
}

Tensor Dropout::forward(const Tensor& x) { return dropout(x, p, is_training(), gen_); }

Embedding::Embedding(int64_t num, int64_t dim_, Generator* gen) : num_embeddings(num), dim(dim_) {
  DDPM_CHECK(num > 0 && dim_ > 0, "Embedding: sizes must be positive, got ", num, " embeddings of dim ", dim_);
  weight = register_parameter("weight", randn({num, dim_}, {}, gen));
}
Tensor Embedding::forward(const Tensor& indices) {
  DDPM_CHECK(indices.dtype() == DType::Int64, "Embedding: indices are ", dtype_name(indices.dtype()),
             ", expected int64 class indices");
  Shape shape = indices.shape();
  shape.push_back(dim);
  // [N] rows of the table, then back to the indices' shape with dim appended
  return reshape(index_select(weight, 0, ops::reshape(indices, {indices.numel()})), shape);
}

SelfAttention2d::SelfAttention2d(int64_t c, int64_t groups, Generator* gen) : channels(c) {
  norm = register_module("norm", std::make_shared<GroupNorm>(groups, c));
  qkv = register_module("qkv", std::make_shared<Conv2d>(c, 3 * c, 1, 1, 0, true, gen));
  proj = register_module("proj", std::make_shared<Conv2d>(c, c, 1, 1, 0, true, gen));
}

Tensor SelfAttention2d::forward(const Tensor& x) {
  DDPM_CHECK(x.dim() == 4 && x.size(1) == channels, "SelfAttention2d: x is ", describe(x), ", expected [B, ",
             channels, ", H, W]");
  const int64_t b = x.size(0), c = channels, hw = x.size(2) * x.size(3);
  // qkv(norm(x)): [B, 3C, H, W] -> [B, 3C, HW] -> q, k, v: [B, C, HW], then [B, HW, C] for attention,
  // which works on [..., positions, features].
  std::vector<Tensor> parts = chunk(reshape(qkv->forward(norm->forward(x)), {b, 3 * c, hw}), 3, 1);
  Tensor h = attention(transpose(parts[0], 1, 2), transpose(parts[1], 1, 2), transpose(parts[2], 1, 2));
  h = reshape(transpose(h, 1, 2), x.shape());  // [B, HW, C] -> [B, C, H, W]
  return x + proj->forward(h);
}

ModuleList::ModuleList(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const std::shared_ptr<Module>& m : modules) push_back(m);
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  DDPM_CHECK_INDEX(i < items_.size(), type_name(), ": index ", i, " is out of range for ", items_.size(), " entries");
  return items_[i];
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const std::shared_ptr<Module>& m : *this) h = m->forward(h);
  return h;
}

}  // namespace ddpm
