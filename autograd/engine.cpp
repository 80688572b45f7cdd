// The reverse-mode engine: recording nodes, grad mode, leaf gradients, and backward().
#include "autograd/engine.hpp"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "tensor/creation.hpp"
#include "tensor/macros.hpp"
#include "tensor/ops.hpp"

namespace ddpm {

// ---- Node -----------------------------------------------------------------------------------------

Node::Node(std::string name, BackwardFn backward, std::vector<Edge> edges, std::vector<Tensor> inputs)
    : name_(std::move(name)), backward_(std::move(backward)), edges_(std::move(edges)) {
  for (const Tensor& t : inputs) inputs_.push_back({t.shape(), t.dtype(), t.device()});
}

Node::~Node() {
  // Dropping the last reference to a node drops its edges, which may drop the last reference to
  // the nodes behind it, and so on: a recursion as deep as the graph. Instead, take over the nodes
  // that only this chain still holds and destroy them one at a time. Their backward functions go
  // first, since the tensors they captured also hold the nodes that made those tensors.
  std::vector<std::shared_ptr<Node>> orphans;
  auto adopt_inputs = [&orphans](Node& node) {
    node.backward_ = nullptr;
    for (Edge& edge : node.edges_)
      if (edge.node && edge.node.use_count() == 1) orphans.push_back(std::move(edge.node));
  };
  adopt_inputs(*this);
  while (!orphans.empty()) {
    std::shared_ptr<Node> node = std::move(orphans.back());
    orphans.pop_back();
    adopt_inputs(*node);
  }  // each node is destroyed here with no input nodes left to destroy
}

Grads Node::apply(const Tensor& grad_output) const {
  if (released())
    throw std::runtime_error(str(
        "backward: the graph through '", name_, "' was already freed by an earlier backward (its saved "
        "tensors are released to save memory); pass retain_graph = true to the first backward if you "
        "need to run backward through the same graph again"));
  Grads grads = backward_(grad_output);
  if (grads.size() != inputs_.size())
    throw std::logic_error(str("backward of '", name_, "' returned ", grads.size(), " gradients for ",
                               inputs_.size(), " inputs; return one per input (an undefined Tensor for none)"));
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    const InputInfo& in = inputs_[i];
    const Tensor& g = grads[i];
    if (g.shape() != in.shape || g.dtype() != in.dtype || g.device() != in.device)
      throw std::logic_error(str("backward of '", name_, "' returned a gradient ", describe(g), " for input ", i,
                                 ", which is ", dtype_name(in.dtype), shape_str(in.shape), " on ", in.device.str(),
                                 "; a gradient has its input's shape (sum_to undoes broadcasting), dtype and device"));
  }
  return grads;
}

// ---- Grad mode ------------------------------------------------------------------------------------

namespace {
thread_local bool g_grad_enabled = true;
}  // namespace

bool is_grad_enabled() { return g_grad_enabled; }
void set_grad_enabled(bool enabled) { g_grad_enabled = enabled; }

GradModeGuard::GradModeGuard(bool enabled) : previous_(g_grad_enabled) { g_grad_enabled = enabled; }
GradModeGuard::~GradModeGuard() { g_grad_enabled = previous_; }

// ---- Tensor-level state ---------------------------------------------------------------------------

namespace {

AutogradMeta* meta_of(const Tensor& t) { return t.defined() ? t.impl().autograd.get() : nullptr; }

AutogradMeta& ensure_meta(const Tensor& t) {
  std::shared_ptr<AutogradMeta>& m = t.impl().autograd;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}

// A new handle on the same data (storage, shape, strides, offset) with no autograd state.
Tensor new_handle(const Tensor& t) {
  return Tensor::view_of(t.storage(), t.shape(), t.strides(), t.offset(), t.dtype());
}

void check_grad_matches(const char* fn, const Tensor& t, const Tensor& g) {
  DDPM_CHECK(g.shape() == t.shape() && g.dtype() == t.dtype() && g.device() == t.device(), fn, ": gradient ",
             describe(g), " does not match the tensor ", describe(t), "; it needs the same shape, dtype and device");
}

// leaf.grad += g. The first gradient is copied (g may be shared with another input's gradient or be a
// broadcast view); later ones are added in place, so a tensor holding the gradient sees the sum.
void accumulate_into_leaf(const Tensor& leaf, const Tensor& g) {
  AutogradMeta& m = ensure_meta(leaf);
  if (!m.grad.defined()) {
    m.grad = g.clone();
  } else {
    m.grad.copy_(ops::add(m.grad, g));
  }
}

}  // namespace

bool requires_grad(const Tensor& t) {
  const AutogradMeta* m = meta_of(t);
  return m && (m->requires_grad || m->grad_fn);
}

Tensor set_requires_grad(const Tensor& t, bool requires_grad) {
  DDPM_CHECK(t.defined(), "set_requires_grad: the tensor is undefined");
  if (!is_leaf(t)) {
    DDPM_CHECK(requires_grad, "set_requires_grad: ", describe(t), " was made by '", grad_fn(t)->name(),
               "', and only leaves can stop requiring grad; use detach(t) for a copy cut from the graph");
    return t;
  }
  DDPM_CHECK(!requires_grad || is_floating(t.dtype()), "set_requires_grad: ", describe(t),
             " cannot require grad, only floating-point tensors have gradients");
  if (requires_grad || meta_of(t)) ensure_meta(t).requires_grad = requires_grad;
  return t;
}

Tensor grad(const Tensor& t) {
  const AutogradMeta* m = meta_of(t);
  return m ? m->grad : Tensor();
}

void set_grad(const Tensor& t, const Tensor& g) {
  DDPM_CHECK(t.defined(), "set_grad: the tensor is undefined");
  if (g.defined()) check_grad_matches("set_grad", t, g);
  if (g.defined() || meta_of(t)) ensure_meta(t).grad = g;
}

void zero_grad(const Tensor& t, bool set_to_none) {
  AutogradMeta* m = meta_of(t);
  if (!m || !m->grad.defined()) return;
  if (set_to_none) m->grad = Tensor(); else m->grad.fill_(0.0);
}

Tensor detach(const Tensor& t) {
  DDPM_CHECK(t.defined(), "detach: the tensor is undefined");
  return new_handle(t);
}

bool is_leaf(const Tensor& t) {
  const AutogradMeta* m = meta_of(t);
  return !m || !m->grad_fn;
}

std::shared_ptr<Node> grad_fn(const Tensor& t) {
  const AutogradMeta* m = meta_of(t);
  return m ? m->grad_fn : nullptr;
}

// ---- Recording ------------------------------------------------------------------------------------

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!is_grad_enabled()) return false;
  return std::any_of(inputs.begin(), inputs.end(), [](const Tensor& t) { return requires_grad(t); });
}

Tensor record(std::string name, const Tensor& output, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!needs_grad(inputs)) return output;
  std::vector<Edge> edges;
  for (const Tensor& in : inputs) {
    if (!requires_grad(in)) edges.push_back({});        // a constant: no gradient flows there
    else if (is_leaf(in)) edges.push_back({nullptr, in});  // a leaf: its gradient goes to in.grad
    else edges.push_back({grad_fn(in), Tensor()});       // made by an op: its gradient goes to that node
  }
  auto node = std::make_shared<Node>(std::move(name), std::move(backward), std::move(edges), inputs);
  // A new handle carries the graph: the handle the backward function may have captured does not
  // point back at the node, so the graph has no reference cycle and is freed with its last tensor.
  Tensor result = new_handle(output);
  ensure_meta(result).grad_fn = std::move(node);
  return result;
}

// ---- backward -------------------------------------------------------------------------------------

namespace {

// Every node reachable from root, each after all the nodes that use its output (reverse post-order
// of a depth-first search, as micrograd's build_topo; an explicit stack so deep graphs cannot
// overflow the call stack).
std::vector<Node*> topological_order(Node* root) {
  std::vector<Node*> post_order;
  std::unordered_set<Node*> visited{root};
  std::vector<std::pair<Node*, size_t>> stack{{root, 0}};  // a node and the next edge to follow
  while (!stack.empty()) {
    Node* node = stack.back().first;
    size_t i = stack.back().second++;
    if (i < node->edges().size()) {
      Node* input = node->edges()[i].node.get();
      if (input && visited.insert(input).second) stack.push_back({input, 0});
    } else {
      post_order.push_back(node);  // every input of node is already in post_order
      stack.pop_back();
    }
  }
  std::reverse(post_order.begin(), post_order.end());
  return post_order;
}

}  // namespace

void backward(const Tensor& t, const Tensor& grad, bool retain_graph) {
  DDPM_CHECK(t.defined(), "backward: the tensor is undefined");
  DDPM_CHECK(requires_grad(t), "backward: ", describe(t), " does not require grad and has no grad_fn: no "
             "recorded op made it from a tensor that requires grad (mark the parameters with set_requires_grad, "
             "and compute outside NoGradGuard)");
  Tensor g = grad;
  if (!g.defined()) {
    DDPM_CHECK(t.numel() == 1, "backward: ", describe(t), " has ", t.numel(), " elements; the gradient can "
               "be left out only for a one-element output (a loss), else pass dL/dt as `grad`");
    g = ones_like(t);
  } else {
    check_grad_matches("backward", t, g);
  }

  NoGradGuard no_grad;  // backward functions compute gradients; they must not record new nodes
  std::shared_ptr<Node> root = grad_fn(t);  // holds the graph alive while we walk it
  if (!root) {  // backward on a leaf: dt/dt = 1
    accumulate_into_leaf(t, g);
    return;
  }
  // The gradient flowing into each node's output, summed over the node's users as they finish.
  std::unordered_map<Node*, Tensor> pending{{root.get(), g}};
  for (Node* node : topological_order(root.get())) {
    auto it = pending.find(node);
    if (it == pending.end()) continue;  // every path from the root to here carried no gradient
    Tensor grad_output = std::move(it->second);
    pending.erase(it);
    Grads grads = node->apply(grad_output);
    for (size_t i = 0; i < grads.size(); ++i) {
      const Edge& edge = node->edges()[i];
      if (!grads[i].defined()) continue;
      if (edge.node) {
        Tensor& sum = pending[edge.node.get()];
        sum = sum.defined() ? ops::add(sum, grads[i]) : grads[i];
      } else if (edge.leaf.defined()) {
        accumulate_into_leaf(edge.leaf, grads[i]);
      }
    }
    if (!retain_graph) node->release();
  }
}

}  // namespace ddpm
