// The layers a DDPM U-Net is built from, each a Module over an op of nn/functional.hpp, with
// PyTorch's parameter names, layouts and default initialization. Parameters are made float32 on the
// CPU; move the model with to(). Layers with random init take a Generator (null: the default one).
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/functional.hpp"
#include "nn/module.hpp"

namespace ddpm {

// y = x W^T + b. weight: [out, in], bias: [out].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr);
  const char* type_name() const override { return "Linear"; }
  Tensor forward(const Tensor& x) override;  // x: [..., in] -> [..., out]

  const int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when built without one
};

// weight: [out, in, k, k], bias: [out]; square kernel, same stride and padding on both axes.
class Conv2d : public Module {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1, int64_t padding = 0,
         bool bias = true, Generator* gen = nullptr);
  const char* type_name() const override { return "Conv2d"; }
  Tensor forward(const Tensor& x) override;  // x: [B, in, H, W] -> [B, out, H', W']
  Tensor forward_silu(const Tensor& x);      // forward(silu(x)), with silu(x) never stored (silu_conv2d)

  const int64_t in_channels, out_channels, kernel_size, stride, padding;
  Tensor weight, bias;
};

// The adjoint of Conv2d. weight: [in, out, k, k] (PyTorch's layout), bias: [out].
class ConvTranspose2d : public Module {
 public:
  ConvTranspose2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride = 1,
                  int64_t padding = 0, int64_t output_padding = 0, bool bias = true, Generator* gen = nullptr);
  const char* type_name() const override { return "ConvTranspose2d"; }
  Tensor forward(const Tensor& x) override;  // x: [B, in, H, W] -> [B, out, H', W']

  const int64_t in_channels, out_channels, kernel_size, stride, padding, output_padding;
  Tensor weight, bias;
};

// Normalizes each group of channels / groups channels; weight (ones) and bias (zeros): [channels].
class GroupNorm : public Module {
 public:
  GroupNorm(int64_t groups, int64_t channels, double eps = 1e-5, bool affine = true);
  const char* type_name() const override { return "GroupNorm"; }
  Tensor forward(const Tensor& x) override;  // x: [B, channels, ...]

  const int64_t groups, channels;
  const double eps;
  Tensor weight, bias;  // undefined when not affine
};

// Normalizes over the last dim; weight (ones) and bias (zeros): [features].
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t features, double eps = 1e-5, bool affine = true);
  const char* type_name() const override { return "LayerNorm"; }
  Tensor forward(const Tensor& x) override;  // x: [..., features]

  const int64_t features;
  const double eps;
  Tensor weight, bias;
};

// Zeroes each element with probability p in train mode (and scales the rest by 1 / (1 - p));
// the identity in eval mode. The mask comes from `gen` (kept by pointer; null: the default one).
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* gen = nullptr);
  const char* type_name() const override { return "Dropout"; }
  Tensor forward(const Tensor& x) override;

  const double p;

 private:
  Generator* gen_;
};

// A table of num_embeddings vectors: indices [...] (int64, 0 .. num_embeddings-1) -> [..., dim], the rows
// picked by index_select (whose gradient adds into the rows picked). weight: [num_embeddings, dim], drawn
// from N(0, 1) as PyTorch's nn.Embedding.
class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, Generator* gen = nullptr);
  const char* type_name() const override { return "Embedding"; }
  Tensor forward(const Tensor& indices) override;

  const int64_t num_embeddings, dim;
  Tensor weight;
};

// Single-head self-attention over the H*W positions of a feature map, with a residual (the DDPM
// AttnBlock, docs/unet.md): q, k, v = split of qkv(norm(x)) into channel blocks [0, c), [c, 2c),
// [2c, 3c); h = softmax(q^T k / sqrt(c)) over keys, applied to v; out = x + proj(h).
// Children: norm (GroupNorm), qkv (1x1 conv c -> 3c), proj (1x1 conv c -> c).
class SelfAttention2d : public Module {
 public:
  SelfAttention2d(int64_t channels, int64_t groups, Generator* gen = nullptr);
  const char* type_name() const override { return "SelfAttention2d"; }
  Tensor forward(const Tensor& x) override;  // x: [B, channels, H, W] -> same

  const int64_t channels;
  std::shared_ptr<GroupNorm> norm;
  std::shared_ptr<Conv2d> qkv, proj;
};

// Children named "0", "1", ... in order. No forward of its own: the owner decides how to call them.
class ModuleList : public Module {
 public:
  ModuleList() = default;
  explicit ModuleList(const std::vector<std::shared_ptr<Module>>& modules);
  const char* type_name() const override { return "ModuleList"; }

  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(items_.size()), module);
    items_.push_back(module);
    return module;
  }
  size_t size() const { return items_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  // Entry i as the module type it was built as; throws if it is another type.
  template <typename M>
  std::shared_ptr<M> at(size_t i) const {
    std::shared_ptr<M> m = std::dynamic_pointer_cast<M>((*this)[i]);
    if (!m) throw std::invalid_argument(type_name() + std::string(": entry ") + std::to_string(i) + " is a " +
                                        (*this)[i]->type_name() + ", not the type asked for");
    return m;
  }
  std::vector<std::shared_ptr<Module>>::const_iterator begin() const { return items_.begin(); }
  std::vector<std::shared_ptr<Module>>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

// A ModuleList whose forward feeds each child's output to the next.
class Sequential : public ModuleList {
 public:
  using ModuleList::ModuleList;
  const char* type_name() const override { return "Sequential"; }
  Tensor forward(const Tensor& x) override;
};

}  // namespace ddpm
