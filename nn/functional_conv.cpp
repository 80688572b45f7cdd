// conv2d and conv_transpose2d as im2col + one batched GEMM, with their backward. The two are each
// other's adjoint: conv_transpose2d's forward is conv2d's input gradient and its backward is conv2d's
// forward, so both are written with the same geometry (the conv2d from the larger image to the smaller).
// conv2d's forward and, in float32, its gradients run the backend's conv2d kernels, which do the same
// GEMMs without writing the column matrix out; the im2col + matmul code below is their readable
// reference, and the float64 path (what gradcheck and the course's checks run).
#include <vector>

#include "nn/functional.hpp"
#include "tensor/backend.hpp"
#include "tensor/macros.hpp"

namespace ddpm {

namespace {

// The conv2d over image [B, C, H, W] with a kh x kw kernel (conv_transpose2d's output, for that op).
ConvGeometry geometry(const Shape& image, int64_t kh, int64_t kw, int64_t stride, int64_t padding) {
  ConvGeometry g;
  g.batch = image[0];
  g.channels = image[1];
  g.height = image[2];
  g.width = image[3];
  g.kh = kh;
  g.kw = kw;
  g.stride_h = g.stride_w = stride;
  g.pad_h = g.pad_w = padding;
  g.out_h = (g.height + 2 * padding - kh) / stride + 1;
  g.out_w = (g.width + 2 * padding - kw) / stride + 1;
  return g;
}

// A 1x1 kernel with stride 1 and no padding: the columns are the image itself, so skip the copy.
bool is_pointwise(const ConvGeometry& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// image [B, C, H, W] -> cols [B, C*kh*kw, out_h*out_w].
Tensor im2col(const Tensor& image, const ConvGeometry& g) {
  if (is_pointwise(g)) return ops::reshape(image, {g.batch, g.channels, g.height * g.width});
  Tensor src = image.contiguous();
  Tensor cols = empty({g.batch, g.channels * g.kh * g.kw, g.out_h * g.out_w}, TensorOptions(src.dtype(), src.device()));
  backend(src.device()).im2col(cols.ref(), src.ref(), g);
  return cols;
}

// cols [B, C*kh*kw, out_h*out_w] -> image [B, C, H, W], each pixel the sum of the entries taken from it.
[[maybe_unused]] Tensor col2im(const Tensor& cols, const ConvGeometry& g) {  // unused in the course's student version
  if (is_pointwise(g)) return ops::reshape(cols, {g.batch, g.channels, g.height, g.width});
  Tensor src = cols.contiguous();
  Tensor image = empty({g.batch, g.channels, g.height, g.width}, TensorOptions(src.dtype(), src.device()));
  backend(src.device()).col2im(image.ref(), src.ref(), g);
  return image;
}

// y [B, C, H, W] + bias [C] broadcast over batch and pixels.
Tensor add_bias(const Tensor& y, const Tensor& bias) {
  return bias.defined() ? ops::add(y, ops::reshape(bias, {1, bias.size(0), 1, 1})) : y;
}

// Checks both ops share. `layout` names the weight's dims for messages; the weight's dim in_dim must
// match the input's channels and out_dim gives the output's channels (and bias size).
void check_args(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                int64_t padding, const char* layout, int in_dim, int out_dim) {
  DDPM_CHECK(x.defined(), op, ": input is an undefined tensor");
  DDPM_CHECK(weight.defined(), op, ": weight is an undefined tensor");
  DDPM_CHECK(x.dim() == 4, op, ": input has ", x.dim(), " dims, expected [batch, channels, height, width]");
  DDPM_CHECK(weight.dim() == 4, op, ": weight has ", weight.dim(), " dims, expected ", layout);
  DDPM_CHECK(is_compute(x.dtype()), op, ": dtype ", dtype_name(x.dtype()),
             " is not supported, expected float32 or float64 (convert with .to(DType::Float32))");
  auto check_like_input = [&](const Tensor& t, const char* name) {
    DDPM_CHECK(t.dtype() == x.dtype(), op, ": ", name, " is ", dtype_name(t.dtype()), " but input is ",
               dtype_name(x.dtype()), ", convert one with .to(dtype)");
    DDPM_CHECK(t.device() == x.device(), op, ": ", name, " is on ", t.device().str(), " but input is on ",
               x.device().str(), ", move one with .to(device)");
  };
  check_like_input(weight, "weight");
  for (int64_t d = 0; d < 4; ++d)
    DDPM_CHECK(weight.size(d) > 0, op, ": weight ", shape_str(weight.shape()), " has a zero size, expected ", layout,
               " all positive");
  DDPM_CHECK(weight.size(in_dim) == x.size(1), op, ": input has ", x.size(1), " channels but weight ",
             shape_str(weight.shape()), " (", layout, ") expects ", weight.size(in_dim));
  if (bias.defined()) {
    check_like_input(bias, "bias");
    DDPM_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(out_dim), op, ": bias has shape ",
               shape_str(bias.shape()), ", expected [out] = [", weight.size(out_dim), "]");
  }
  DDPM_CHECK(stride > 0, op, ": stride must be positive, got ", stride);
  DDPM_CHECK(padding >= 0, op, ": padding must be non-negative, got ", padding);
  DDPM_CHECK(x.size(2) > 0 && x.size(3) > 0, op, ": input ", shape_str(x.shape()),
             " has no pixels, expected height and width >= 1");
}

std::vector<Tensor> inputs_of(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return bias.defined() ? std::vector<Tensor>{x, weight, bias} : std::vector<Tensor>{x, weight};
}

// y [B, Cout, out_h, out_w] = the conv2d of x [B, C, H, W] with weight [Cout, C, kh, kw] plus bias
// [Cout] (if defined): the backend's kernel, y[b] = W [Cout, C*kh*kw] @ im2col(x[b]) + bias.
// With silu_x, of silu(x), which is never written out.
Tensor conv2d_kernel(const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeometry& g,
                     bool silu_x = false) {
  Tensor xc = x.contiguous(), wc = weight.contiguous(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = empty({g.batch, weight.size(0), g.out_h, g.out_w}, TensorOptions(x.dtype(), x.device()));
  backend(x.device()).conv2d(y.ref(), xc.ref(), wc.ref(), bc.defined() ? bc.ref() : TensorRef{}, g, silu_x);
  return y;
}

// The input gradient of a stride-1 conv2d is itself a stride-1 conv2d: of gy with the kernel's in and
// out swapped and turned by 180 degrees, padded by k - 1 - padding (the "full" correlation).
bool input_grad_is_a_conv(const Tensor& x, const ConvGeometry& g) {
  return x.dtype() == DType::Float32 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h <= g.kh - 1 &&
         g.pad_w <= g.kw - 1;
}
Tensor conv2d_input_grad(const Tensor& gy, const Tensor& weight, const ConvGeometry& g) {
  // Reversed along dims 2 and 3 by concatenating its slices backwards: no index tensor to upload.
  auto reversed = [](const Tensor& t, int64_t dim) {
    if (t.size(dim) == 1) return t;
    std::vector<Tensor> slices;
    for (int64_t i = t.size(dim) - 1; i >= 0; --i) slices.push_back(ops::narrow(t, dim, i, 1));
    return ops::cat(slices, dim);
  };
  Tensor turned = reversed(reversed(ops::transpose(weight, 0, 1), 2), 3);  // [C, Cout, kh, kw]
  ConvGeometry gt;  // over gy [B, Cout, out_h, out_w], back to [B, C, H, W]
  gt.batch = g.batch, gt.channels = weight.size(0), gt.height = g.out_h, gt.width = g.out_w;
  gt.kh = g.kh, gt.kw = g.kw, gt.pad_h = g.kh - 1 - g.pad_h, gt.pad_w = g.kw - 1 - g.pad_w;
  gt.out_h = g.height, gt.out_w = g.width;
  return conv2d_kernel(gy, turned, Tensor(), gt);
}

// dW [Cout, C, kh, kw] = sum_b gy[b] @ im2col(x[b])^T (of silu(x) with silu_x), the backend's kernel.
Tensor conv2d_weight_grad(const Tensor& gy, const Tensor& x, const Tensor& weight, const ConvGeometry& g,
                          bool silu_x = false) {
  Tensor xc = x.contiguous(), gyc = gy.contiguous();
  Tensor dw = empty(weight.shape(), TensorOptions(x.dtype(), x.device()));
  backend(x.device()).conv2d_weight_grad(dw.ref(), gyc.ref(), xc.ref(), g, silu_x);
  return dw;
}

// conv2d(x) or, with silu_x, conv2d(silu(x)) with silu(x) never stored (float32 only: other dtypes
// compose silu and conv2d). The backward turns the gradient that reaches silu(x) into x's through
// silu's derivative, and dW reads silu(x) through the kernel again.
Tensor conv2d_node(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride,
                   int64_t padding, bool silu_x) {
  const int64_t kh = weight.size(2), kw = weight.size(3);
  DDPM_CHECK(x.size(2) + 2 * padding >= kh && x.size(3) + 2 * padding >= kw, op, ": input of ", x.size(2), "x",
             x.size(3), " pixels with padding ", padding, " is smaller than the ", kh, "x", kw, " kernel");
  const ConvGeometry g = geometry(x.shape(), kh, kw, stride, padding);

  // y[b] = W [Cout, Cin*kh*kw] @ cols[b] [Cin*kh*kw, L] + bias, W broadcast: as
  // add_bias(ops::matmul(ops::reshape(weight, {Cout, -1}), im2col(x, g)), bias) would, in one kernel.
  Tensor y = conv2d_kernel(x, weight, bias, g, silu_x);  // [B, Cout, out_h, out_w], bias added

  return record(op, y, inputs_of(x, weight, bias), [x, weight, bias, g, silu_x](const Tensor& gy) -> Grads {
    const int64_t cout = weight.size(0);
    Tensor w2 = ops::reshape(weight, {cout, -1});
    Tensor gy3 = ops::reshape(gy, {g.batch, cout, g.out_h * g.out_w});  // [B, Cout, L]
    Grads grads(bias.defined() ? 3 : 2);
    // dx = col2im(W^T gy[b]): the transposed weight is a view, the GEMM reads it as is.
    if (requires_grad(x)) {
      Tensor gin;  // the gradient of the conv's input: x, or silu(x)
      if (input_grad_is_a_conv(x, g)) {
        gin = conv2d_input_grad(gy, weight, g);  // the same sums, without the column matrix
      } else {
        // BEGIN SOLUTION conv2d_grad_input
        gin = col2im(ops::matmul(ops::transpose(w2, 0, 1), gy3), g);
        // END SOLUTION
      }
      grads[0] = silu_x ? ops::silu_backward(gin, x) : gin;
    }
    if (requires_grad(weight) && x.dtype() == DType::Float32) {
      grads[1] = conv2d_weight_grad(gy, x, weight, g, silu_x);  // what the code below computes, in one kernel
    } else if (requires_grad(weight)) {  // float64: never silu_x
      // BEGIN SOLUTION conv2d_grad_weight
      // dW = sum_b gy[b] @ cols[b]^T. cols is recomputed, not saved by the forward: it is kh*kw
      // times the input's size, for every layer of the network until backward reaches it.
      Tensor cols = im2col(x, g);  // [B, Cin*kh*kw, L]
      Tensor per_image = ops::matmul(gy3, ops::transpose(cols, 1, 2));  // [B, Cout, Cin*kh*kw]
      grads[1] = ops::reshape(ops::sum(per_image, {0}), weight.shape());
      // END SOLUTION
    }
    if (bias.defined() && requires_grad(bias)) grads[2] = ops::sum(gy, {0, 2, 3});
    return grads;
  });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  check_args("conv2d", x, weight, bias, stride, padding, "[out, in, kh, kw]", 1, 0);
  return conv2d_node("conv2d", x, weight, bias, stride, padding, /*silu_x=*/false);
}

Tensor silu_conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding) {
  check_args("silu_conv2d", x, weight, bias, stride, padding, "[out, in, kh, kw]", 1, 0);
  if (x.dtype() != DType::Float32) return conv2d(silu(x), weight, bias, stride, padding);  // the readable path
  return conv2d_node("silu_conv2d", x, weight, bias, stride, padding, /*silu_x=*/true);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding,
                        int64_t output_padding) {
  check_args("conv_transpose2d", x, weight, bias, stride, padding, "[in, out, kh, kw]", 0, 1);
  DDPM_CHECK(output_padding >= 0 && output_padding < stride,
             "conv_transpose2d: output_padding must be in [0, stride), got ", output_padding, " with stride ", stride);
  [[maybe_unused]] const int64_t batch = x.size(0), cin = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t cout = weight.size(1), kh = weight.size(2), kw = weight.size(3);
  const int64_t out_h = (h - 1) * stride - 2 * padding + kh + output_padding;
  const int64_t out_w = (w - 1) * stride - 2 * padding + kw + output_padding;
  DDPM_CHECK(out_h > 0 && out_w > 0, "conv_transpose2d: the output would be ", out_h, "x", out_w, " pixels for input ",
             shape_str(x.shape()), " with a ", kh, "x", kw, " kernel, stride ", stride, " and padding ", padding,
             "; (H - 1) stride - 2 padding + kh + output_padding must be positive");
  // The conv2d from the output [B, Cout, out_h, out_w] back to x: its out_h is
  // ((h - 1) stride + output_padding) / stride + 1 = h, since output_padding < stride.
  const ConvGeometry g = geometry({batch, cout, out_h, out_w}, kh, kw, stride, padding);

  // cols[b] = W^T [Cout*kh*kw, Cin] @ x[b] [Cin, H*W], one GEMM call; col2im sums the overlaps.
  Tensor y;  // [B, Cout, out_h, out_w]
  // BEGIN SOLUTION conv_transpose2d_forward
  Tensor w2 = ops::reshape(weight, {cin, cout * kh * kw});
  Tensor x3 = ops::reshape(x, {batch, cin, h * w});
  y = add_bias(col2im(ops::matmul(ops::transpose(w2, 0, 1), x3), g), bias);
  // END SOLUTION

  return record("conv_transpose2d", y, inputs_of(x, weight, bias), [x, weight, bias, g](const Tensor& gy) -> Grads {
    Grads grads(bias.defined() ? 3 : 2);
    if (requires_grad(x) || requires_grad(weight)) {
      Tensor gcols = im2col(gy, g);  // [B, Cout*kh*kw, H*W]: conv2d's forward of gy
      Tensor w2 = ops::reshape(weight, {weight.size(0), -1});  // [Cin, Cout*kh*kw]
      if (requires_grad(x)) grads[0] = ops::reshape(ops::matmul(w2, gcols), x.shape());  // [B, Cin, H*W]
      if (requires_grad(weight)) {
        // dW = sum_b x[b] @ gcols[b]^T: [Cin, H*W] @ [H*W, Cout*kh*kw].
        Tensor x3 = ops::reshape(x, {g.batch, x.size(1), x.size(2) * x.size(3)});
        Tensor per_image = ops::matmul(x3, ops::transpose(gcols, 1, 2));  // [B, Cin, Cout*kh*kw]
        grads[1] = ops::reshape(ops::sum(per_image, {0}), weight.shape());
      }
    }
    if (bias.defined() && requires_grad(bias)) grads[2] = ops::sum(gy, {0, 2, 3});
    return grads;
  });
}

}  // namespace ddpm
