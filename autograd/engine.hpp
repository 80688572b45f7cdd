// The reverse-mode engine: graph nodes, the gradient a tensor carries, grad mode and backward().
// Read this file first; the differentiable ops (autograd.hpp) are each a forward call plus record().
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.hpp"

namespace ddpm {

class Node;

// What autograd keeps on a tensor (TensorImpl::autograd; null until autograd touches the tensor).
// A leaf is a tensor no recorded op made: a parameter or an input. Only leaves receive .grad.
struct AutogradMeta {
  bool requires_grad = false;      // a leaf whose gradient backward() should compute
  Tensor grad;                     // the leaf's gradient, summed over backward() calls (+=)
  std::shared_ptr<Node> grad_fn;   // the node that made this tensor; null for a leaf
};

// Where the gradient for one input of a node goes: into the node that made that input, or, when the
// input is a leaf that requires grad, into the leaf's .grad. Both empty: the input needs no gradient.
struct Edge {
  std::shared_ptr<Node> node;
  Tensor leaf;
};

// The gradients of an op's inputs, one per input in order; an undefined Tensor means "none".
using Grads = std::vector<Tensor>;
// Maps the gradient of the op's output to the gradients of its inputs. It captures exactly what it
// needs (the inputs, the output, shapes); the engine destroys it after backward to free them.
using BackwardFn = std::function<Grads(const Tensor& grad_output)>;

// One recorded op: its backward function and an edge to each input.
class Node {
 public:
  Node(std::string name, BackwardFn backward, std::vector<Edge> edges, std::vector<Tensor> inputs);
  ~Node();  // frees a long chain of nodes in a loop, not by recursion (which could overflow the stack)
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  const std::string& name() const { return name_; }
  const std::vector<Edge>& edges() const { return edges_; }
  // Runs the backward function and checks that each gradient has its input's shape, dtype and device
  // (a message names the op and the input when not: the usual bug in a new op's backward).
  Grads apply(const Tensor& grad_output) const;
  // Destroys the backward function and what it captured; apply() throws from then on.
  void release() { backward_ = nullptr; }
  bool released() const { return !backward_; }

 private:
  struct InputInfo { Shape shape; DType dtype; Device device; };
  std::string name_;
  BackwardFn backward_;
  std::vector<Edge> edges_;
  std::vector<InputInfo> inputs_;
};

// ---- Grad mode: when off, ops record nothing (sampling, evaluation, optimizer updates) ------------
bool is_grad_enabled();  // per thread, on by default
void set_grad_enabled(bool enabled);

// Sets grad mode for its scope and restores the previous mode when the scope ends.
class GradModeGuard {
 public:
  explicit GradModeGuard(bool enabled);
  ~GradModeGuard();
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;

 private:
  bool previous_;
};

// `{ NoGradGuard no_grad; ... }` records nothing inside the braces.
class NoGradGuard : public GradModeGuard {
 public:
  NoGradGuard() : GradModeGuard(false) {}
};

// ---- Tensor-level autograd state ------------------------------------------------------------------
// True for a leaf marked with set_requires_grad and for every tensor a recorded op made from one.
bool requires_grad(const Tensor& t);
// Marks a leaf (its gradient will be computed) or unmarks it; returns t. Floating dtypes only.
Tensor set_requires_grad(const Tensor& t, bool requires_grad = true);
inline Tensor requires_grad_(const Tensor& t, bool requires_grad = true) { return set_requires_grad(t, requires_grad); }
// The gradient accumulated into a leaf, or an undefined tensor if none has reached it yet.
Tensor grad(const Tensor& t);
// Replaces a leaf's gradient (an undefined tensor drops it). It must match t's shape, dtype, device.
void set_grad(const Tensor& t, const Tensor& grad);
// Drops t's gradient (set_to_none, PyTorch's default), or fills it with zeros in place.
void zero_grad(const Tensor& t, bool set_to_none = true);
// The same data as t, cut from the graph: a leaf that does not require grad. Shares storage.
Tensor detach(const Tensor& t);
// True unless t was made by a recorded op.
bool is_leaf(const Tensor& t);
// The node that made t, or null for a leaf.
std::shared_ptr<Node> grad_fn(const Tensor& t);

// Computes the gradient of t with respect to every leaf that requires grad and adds it to the leaf's
// .grad. `grad` is dL/dt; it may be left out when t has one element (it is then 1). The graph is
// freed afterwards unless retain_graph: a second backward through a freed graph throws.
void backward(const Tensor& t, const Tensor& grad = Tensor(), bool retain_graph = false);

// ---- Writing a differentiable op -----------------------------------------------------------------
// True when an op on these inputs should record a node: grad mode is on and some input requires grad.
bool needs_grad(const std::vector<Tensor>& inputs);
// Records `output = name(inputs)` with its backward function and returns the output as a tensor of
// the graph. Returns `output` itself when needs_grad(inputs) is false. The returned handle is new, so
// a backward function may capture the forward's result without making a reference cycle.
Tensor record(std::string name, const Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward);

}  // namespace ddpm
