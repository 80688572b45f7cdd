// The differentiable tensor API: one include for everything autograd. Every op here has the same
// name and arguments as its version in tensor/ops.hpp (namespace ddpm::ops, no gradients), runs that
// version forward and, when grad mode is on and an input requires grad, records a node with its
// backward. Non-differentiable ops (comparisons, argmax, ...) are the ops:: versions themselves.
//
//   Tensor w = set_requires_grad(randn({3, 2}, DType::Float64));
//   Tensor loss = mean(pow(matmul(x, w) - y, 2.0));
//   backward(loss);            // grad(w) is now dloss/dw
#pragma once
#include <vector>

#include "autograd/engine.hpp"
#include "autograd/gradcheck.hpp"
#include "tensor/creation.hpp"
#include "tensor/ops.hpp"
#include "tensor/random.hpp"

namespace ddpm {

// ---- Views (functions_views.cpp): the gradient is the inverse view, or zeros with g in the picked part
Tensor reshape(const Tensor& x, Shape shape);
Tensor view(const Tensor& x, Shape shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor slice(const Tensor& x, int64_t dim, int64_t start, int64_t end, int64_t step = 1);
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& x, int64_t dim, int64_t index);
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
// Differentiable forms of Tensor's copying members (t.contiguous(), t.clone(), t.to(...)), which
// return tensors cut from the graph.
Tensor contiguous(const Tensor& x);
Tensor clone(const Tensor& x);
Tensor to(const Tensor& x, Device device);
Tensor to(const Tensor& x, DType dtype);

// ---- Elementwise (functions_elementwise.cpp) ----------------------------------------------------
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor sign(const Tensor& x);  // its gradient is zero
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor silu(const Tensor& x);
// log(1 + e^x); its forward and backward halves are course assignment 1 (course/a1_softplus).
Tensor softplus(const Tensor& x);
Tensor softplus_forward(const Tensor& x);                    // no gradient: the ops:: forward
Tensor softplus_backward(const Tensor& g, const Tensor& x);  // g * d softplus / dx
Tensor relu(const Tensor& x);
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor pow(const Tensor& x, double exponent);

// Binary ops broadcast; each input's gradient is summed back to its shape. Where two inputs tie,
// maximum and minimum give each half of the gradient.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double s);
Tensor sub(const Tensor& a, double s);
Tensor sub(double s, const Tensor& a);
Tensor mul(const Tensor& a, double s);
Tensor div(const Tensor& a, double s);
Tensor div(double s, const Tensor& a);
Tensor pow(double s, const Tensor& a);
Tensor maximum(const Tensor& a, double s);
Tensor minimum(const Tensor& a, double s);
// cond ? a : b; differentiable in a and b (cond is a bool mask).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// Comparisons make bool masks: no gradient.
using ops::eq;
using ops::ne;
using ops::lt;
using ops::le;
using ops::gt;
using ops::ge;

Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

// ---- Reductions and softmax (functions_reduce.cpp) ------------------------------------------------
Tensor sum(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
// max and min send the gradient to the elements equal to the result, split evenly among ties.
Tensor max(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1, bool keepdim = false);
using ops::argmax;  // indices: no gradient
using ops::argmin;
Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
// The gradient of a broadcast input: sums `grad` over the dims that broadcasting added or stretched,
// back to `shape`. Every binary op's backward calls it on each input's gradient.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// ---- Matrix product (functions_matmul.cpp) ----------------------------------------------------
Tensor matmul(const Tensor& a, const Tensor& b);

// ---- Joining, splitting, padding, indexing (functions_join.cpp) -----------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, int64_t split_size, int64_t dim = 0);
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim = 0);
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim = 0);
Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value = 0.0);
// Differentiable in x (or src); the int64 index gets no gradient.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);
Tensor scatter_add(const Shape& shape, int64_t dim, const Tensor& index, const Tensor& src);

// ---- Losses (functions_loss.cpp) ----------------------------------------------------------------
// mean((pred - target)^2) over all elements; pred and target have the same shape.
Tensor mse_loss(const Tensor& pred, const Tensor& target);

}  // namespace ddpm
