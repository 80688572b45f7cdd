// Module: the base of every layer and model. It owns named parameters, buffers and child modules,
// so that a model's tensors have stable dotted names (down.0.res.conv1.weight), the keys of its
// checkpoints; it also carries the train/eval mode and moves its tensors between devices.
//
//   struct Block : Module {
//     std::shared_ptr<Conv2d> conv = register_module("conv", std::make_shared<Conv2d>(8, 8, 3, 1, 1));
//     Tensor forward(const Tensor& x) override { return silu(conv->forward(x)); }
//   };
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/autograd.hpp"

namespace ddpm {

// Named tensors in a fixed order: a model's (or an optimizer's) state, and what save_safetensors takes.
using StateDict = std::vector<std::pair<std::string, Tensor>>;

// Copies each tensor of `state` into the target of the same name (converting dtype and device),
// strictly: an unknown name, a missing name or a different shape throws std::invalid_argument that
// names every such tensor (and `owner`), and then nothing is copied. Module, AdamW and EMA load
// their state with it.
void load_named_tensors(const std::string& owner, const StateDict& targets, const StateDict& state);

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Layers hold their parameters and children by handle, and children are shared: a copy would
  // alias the original's tensors, so modules are neither copied nor moved (use shared_ptr).
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The type's name for messages ("Linear").
  virtual const char* type_name() const { return "Module"; }
  // The forward of a module with one input, which Sequential chains. Modules with other inputs
  // (a ResBlock takes x and the time embedding) define their own forward and leave this one, which
  // throws.
  virtual Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }

  // Registration, usually in a layer's constructor. Names are non-empty, without dots, and unique
  // within the module. A parameter is marked requires_grad; a buffer is state that is not trained
  // (saved and moved like a parameter). Each returns what it registered, so a layer can write
  //   weight = register_parameter("weight", zeros({out, in}));
  Tensor register_parameter(const std::string& name, const Tensor& tensor);
  Tensor register_buffer(const std::string& name, const Tensor& tensor);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

  // Every parameter of this module and its descendants, in registration order (own parameters
  // first, then each child's, depth first), named by the path of child names joined with dots.
  // A tensor registered under two names (tied weights) is listed once, under its first name, so an
  // optimizer updates it once.
  std::vector<std::pair<std::string, Tensor>> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<std::pair<std::string, Tensor>> named_buffers() const;
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  int64_t num_parameters() const;  // elements, over all parameters

  // Train mode (the default) or eval mode, for this module and all its descendants. Dropout reads it.
  void train(bool training = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Moves (or converts) every parameter and buffer in place: the tensors keep their identity, so the
  // layers, and anyone else holding them, see the new device. Gradients move with them. Build the
  // optimizer and the EMA after moving the model: their state lives where the parameters were.
  void to(Device device);
  void to(DType dtype);

  // Parameters then buffers, each module's own before its children's, all names (tied weights under
  // each of their names). The tensors share storage with the module's (detached from the graph).
  StateDict state_dict() const;
  // Copies `state` into the parameters and buffers (converting dtype and device as needed). Every
  // name must match exactly: an unknown name, a missing name or a different shape throws
  // std::invalid_argument naming each such tensor, and then nothing is copied.
  void load_state_dict(const StateDict& state);
  void load_state_dict(const std::map<std::string, Tensor>& state);  // as load_safetensors returns

  // Drops (or, set_to_none = false, zeroes) the gradient of every parameter.
  void zero_grad(bool set_to_none = true);

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const std::string& name, const char* what) const;
  // Visits (dotted name, tensor) for every parameter (and buffer if with_buffers), in state_dict order.
  template <typename F>
  void visit(const std::string& prefix, bool with_params, bool with_buffers, const F& f) const;
  template <typename F>
  void convert_in_place(const F& convert);

  bool training_ = true;
  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

}  // namespace ddpm
