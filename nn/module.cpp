// Module's registry of parameters, buffers and children, and what walks it: names, modes, devices,
// state dicts.
#include "nn/module.hpp"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "tensor/macros.hpp"

namespace ddpm {

namespace {

// Points t's existing TensorImpl at new data: every handle that shares the impl (the layer's
// member, the registry, an optimizer's list) sees the move, which a new Tensor would not give.
void replace_data(const Tensor& t, const Tensor& data) {
  TensorImpl& impl = t.impl();
  impl.storage = data.storage();
  impl.strides = data.strides();
  impl.offset = data.offset();
  impl.dtype = data.dtype();
}

std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}

}  // namespace

Tensor Module::forward(const Tensor&) {
  throw std::logic_error(str(type_name(), ": this module has no single-input forward(x); call the forward it defines"));
}

void Module::check_new_name(const std::string& name, const char* what) const {
  DDPM_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(), ": cannot register ", what,
             " '", name, "': names must be non-empty and contain no '.'");
  auto taken = [&](const auto& list) {
    for (const auto& entry : list)
      if (entry.first == name) return true;
    return false;
  };
  DDPM_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name(), ": cannot register ", what,
             " '", name, "': the name is already taken");
}

Tensor Module::register_parameter(const std::string& name, const Tensor& tensor) {
  check_new_name(name, "parameter");
  DDPM_CHECK(tensor.defined(), type_name(), ": parameter '", name, "' is undefined");
  set_requires_grad(tensor);
  params_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, const Tensor& tensor) {
  check_new_name(name, "buffer");
  DDPM_CHECK(tensor.defined(), type_name(), ": buffer '", name, "' is undefined");
  buffers_.emplace_back(name, tensor);
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "module");
  DDPM_CHECK(module != nullptr, type_name(), ": module '", name, "' is null");
  DDPM_CHECK(module.get() != this, type_name(), ": a module cannot be its own child ('", name, "')");
  children_.emplace_back(name, std::move(module));
}

template <typename F>
void Module::visit(const std::string& prefix, bool with_params, bool with_buffers, const F& f) const {
  if (with_params)
    for (const auto& [name, t] : params_) f(join(prefix, name), t);
  if (with_buffers)
    for (const auto& [name, t] : buffers_) f(join(prefix, name), t);
  for (const auto& [name, child] : children_) child->visit(join(prefix, name), with_params, with_buffers, f);
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Tensor>> out;
  std::unordered_set<const TensorImpl*> seen;
  visit("", true, false, [&](const std::string& name, const Tensor& t) {
    if (seen.insert(&t.impl()).second) out.emplace_back(name, t);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, Tensor>> Module::named_buffers() const {
  std::vector<std::pair<std::string, Tensor>> out;
  visit("", false, true, [&](const std::string& name, const Tensor& t) { out.emplace_back(name, t); });
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& [name, child] : children_) child->train(training);
}

template <typename F>
void Module::convert_in_place(const F& convert) {
  visit("", true, true, [&](const std::string&, const Tensor& t) {
    const Tensor g = grad(t);
    replace_data(t, convert(t));
    if (g.defined()) set_grad(t, convert(g));  // after the move, so that it matches t again
  });
}

void Module::to(Device device) {
  convert_in_place([&](const Tensor& t) { return t.to(device); });
}

void Module::to(DType dtype) {
  DDPM_CHECK(is_floating(dtype), type_name(), ".to: parameters must stay floating point, not ", dtype_name(dtype));
  convert_in_place([&](const Tensor& t) { return is_floating(t.dtype()) ? t.to(dtype) : t; });
}

StateDict Module::state_dict() const {
  StateDict out;
  visit("", true, true, [&](const std::string& name, const Tensor& t) { out.emplace_back(name, detach(t)); });
  return out;
}

void load_named_tensors(const std::string& owner, const StateDict& targets, const StateDict& state) {
  std::unordered_map<std::string, Tensor> given;
  std::vector<std::string> problems;
  for (const auto& [name, t] : state)
    if (!given.emplace(name, t).second) problems.push_back(str("tensor '", name, "' is given twice"));

  std::unordered_set<std::string> expected;
  for (const auto& [name, t] : targets) {
    expected.insert(name);
    auto it = given.find(name);
    if (it == given.end()) {
      problems.push_back(str("missing tensor '", name, "' ", shape_str(t.shape())));
    } else if (it->second.shape() != t.shape()) {
      problems.push_back(str("tensor '", name, "' has shape ", shape_str(it->second.shape()), " in the state dict, ",
                             shape_str(t.shape()), " here"));
    }
  }
  // In the state's order, so that the message is the same every time; erase() reports a name that
  // is both unknown and repeated once.
  for (const auto& [name, t] : state)
    if (!expected.count(name) && given.erase(name))
      problems.push_back(str("unexpected tensor '", name, "' (nothing here has that name)"));

  if (!problems.empty()) {
    std::string msg = str(owner, ".load_state_dict: nothing was loaded, ", problems.size(), " problem",
                          problems.size() > 1 ? "s" : "", ": ");
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw std::invalid_argument(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [name, t] : targets) {
    Tensor dst = t;  // a handle on the target's storage
    dst.copy_(given.at(name));
  }
}

void Module::load_state_dict(const StateDict& state) { load_named_tensors(type_name(), state_dict(), state); }

void Module::load_state_dict(const std::map<std::string, Tensor>& state) {
  load_state_dict(StateDict(state.begin(), state.end()));
}

void Module::zero_grad(bool set_to_none) {
  for (const Tensor& p : parameters()) ddpm::zero_grad(p, set_to_none);
}

}  // namespace ddpm
