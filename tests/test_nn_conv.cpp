// conv2d and conv_transpose2d: against direct loops written from the definition (suite "cpu"), the
// im2col/col2im kernels and the adjoint identities, argument errors, float64 gradcheck (suite
// "gradcheck") and CPU/CUDA parity of forward and backward (suite "cuda").
// Values are random multiples of 1/8 in [-4, 4] where results are compared: every product and sum in
// these shapes is then exact in float32, whatever the summation order, so a mismatch is a bug.
#include <random>
#include <string>

#include "autograd/autograd.hpp"
#include "nn/functional.hpp"
#include "tensor/backend.hpp"
#include "test_util.hpp"

using namespace ddpm;
using namespace ddpm::test;

namespace {

using Ts = std::vector<Tensor>;

// One convolution. For conv2d the weight is [cout, cin, kh, kw]; for conv_transpose2d [cin, cout, kh, kw].
struct Conv {
  int64_t batch, cin, cout, h, w, kh, kw, stride, padding, output_padding;
  bool bias;
};

std::string label(const Conv& c) {
  return str("x [", c.batch, " ", c.cin, " ", c.h, " ", c.w, "] to ", c.cout, " channels kernel ", c.kh, "x", c.kw,
             " stride ", c.stride, " padding ", c.padding, " output_padding ", c.output_padding,
             c.bias ? " bias" : " no bias");
}

Shape x_shape(const Conv& c) { return {c.batch, c.cin, c.h, c.w}; }
Shape w_shape(const Conv& c, bool transpose) {
  return transpose ? Shape{c.cin, c.cout, c.kh, c.kw} : Shape{c.cout, c.cin, c.kh, c.kw};
}
int64_t conv_out(int64_t n, int64_t k, int64_t s, int64_t p) { return (n + 2 * p - k) / s + 1; }
int64_t transpose_out(int64_t n, int64_t k, int64_t s, int64_t p, int64_t op) { return (n - 1) * s - 2 * p + k + op; }
Shape y_shape(const Conv& c, bool transpose) {
  if (transpose)
    return {c.batch, c.cout, transpose_out(c.h, c.kh, c.stride, c.padding, c.output_padding),
            transpose_out(c.w, c.kw, c.stride, c.padding, c.output_padding)};
  return {c.batch, c.cout, conv_out(c.h, c.kh, c.stride, c.padding), conv_out(c.w, c.kw, c.stride, c.padding)};
}

// n random multiples of 1/8 in [-4, 4] (exact in float32).
std::vector<double> dyadic_random(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(-32, 32);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = u(rng) / 8.0;
  return v;
}
// n random values in +-[0.1, 1.1], for gradcheck.
std::vector<double> smooth_random(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& x : v) x = (u(rng) < 0.5 ? -1.0 : 1.0) * (0.1 + u(rng));
  return v;
}

// ---- The references: the definitions, as direct loops in double ---------------------------------

// y[b, o, oy, ox] = bias[o] + sum over c, i, j of x[b, c, oy*s - p + i, ox*s - p + j] * w[o, c, i, j].
std::vector<double> ref_conv2d(const Conv& c, const std::vector<double>& x, const std::vector<double>& w,
                               const std::vector<double>& bias) {
  const Shape ys = y_shape(c, false);
  const int64_t oh = ys[2], ow = ys[3];
  std::vector<double> y(size_t(numel_of(ys)));
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t o = 0; o < c.cout; ++o)
      for (int64_t oy = 0; oy < oh; ++oy)
        for (int64_t ox = 0; ox < ow; ++ox) {
          double acc = c.bias ? bias[o] : 0.0;
          for (int64_t ci = 0; ci < c.cin; ++ci)
            for (int64_t i = 0; i < c.kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t iy = oy * c.stride - c.padding + i, ix = ox * c.stride - c.padding + j;
                if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                acc += x[((b * c.cin + ci) * c.h + iy) * c.w + ix] * w[((o * c.cin + ci) * c.kh + i) * c.kw + j];
              }
          y[((b * c.cout + o) * oh + oy) * ow + ox] = acc;
        }
  return y;
}

// Each input pixel spreads its kernel-weighted value over the output:
// y[b, o, iy*s - p + i, ix*s - p + j] += x[b, c, iy, ix] * w[c, o, i, j], plus bias[o] everywhere.
std::vector<double> ref_conv_transpose2d(const Conv& c, const std::vector<double>& x, const std::vector<double>& w,
                                         const std::vector<double>& bias) {
  const Shape ys = y_shape(c, true);
  const int64_t oh = ys[2], ow = ys[3];
  std::vector<double> y(size_t(numel_of(ys)), 0.0);
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t o = 0; o < c.cout; ++o)
      for (int64_t k = 0; k < oh * ow; ++k) y[(b * c.cout + o) * oh * ow + k] = c.bias ? bias[o] : 0.0;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t ci = 0; ci < c.cin; ++ci)
      for (int64_t iy = 0; iy < c.h; ++iy)
        for (int64_t ix = 0; ix < c.w; ++ix)
          for (int64_t o = 0; o < c.cout; ++o)
            for (int64_t i = 0; i < c.kh; ++i)
              for (int64_t j = 0; j < c.kw; ++j) {
                const int64_t oy = iy * c.stride - c.padding + i, ox = ix * c.stride - c.padding + j;
                if (oy < 0 || oy >= oh || ox < 0 || ox >= ow) continue;
                y[((b * c.cout + o) * oh + oy) * ow + ox] +=
                    x[((b * c.cin + ci) * c.h + iy) * c.w + ix] * w[((ci * c.cout + o) * c.kh + i) * c.kw + j];
              }
  return y;
}

// ---- Running a case -------------------------------------------------------------------------------

// The values of a case's x, weight and bias (dyadic: exact in float32).
struct Values {
  std::vector<double> x, w, b;
  Values(const Conv& c, bool transpose)
      : x(dyadic_random(numel_of(x_shape(c)), 1)),
        w(dyadic_random(numel_of(w_shape(c, transpose)), 2)),
        b(dyadic_random(c.cout, 3)) {}
};

Tensor run(bool transpose, const Conv& c, const Tensor& x, const Tensor& w, const Tensor& b) {
  return transpose ? conv_transpose2d(x, w, b, c.stride, c.padding, c.output_padding)
                   : conv2d(x, w, b, c.stride, c.padding);
}

// Inputs of a case on one device and dtype, each requiring grad; x laid out as `arrange` says.
Ts make_inputs(bool transpose, const Conv& c, const Values& v, TensorOptions opts,
               Arrange arrange = Arrange::Contiguous) {
  Ts in{set_requires_grad(make_tensor(v.x, x_shape(c), opts, arrange)),
        set_requires_grad(tensor(v.w, w_shape(c, transpose), opts))};
  if (c.bias) in.push_back(set_requires_grad(tensor(v.b, {c.cout}, opts)));
  return in;
}
Tensor bias_of(const Ts& in) { return in.size() > 2 ? in[2] : Tensor(); }

// Odd shapes covering kernel 1, 3, 4 and non-square, stride 1 and 2, padding 0 and 1, bias on and
// off, Cin != Cout, and output sizes that the stride does not divide evenly.
const std::vector<Conv> kConv2dCases = {
    {2, 3, 5, 7, 6, 3, 3, 1, 1, 0, true},
    {2, 3, 4, 7, 9, 3, 3, 2, 1, 0, false},
    {1, 4, 2, 5, 5, 1, 1, 1, 0, 0, true},   // pointwise: no im2col
    {1, 3, 2, 7, 5, 1, 1, 2, 0, 0, true},   // 1x1 with stride 2 goes through im2col
    {3, 2, 3, 9, 7, 4, 4, 2, 1, 0, true},
    {2, 5, 3, 6, 5, 4, 4, 1, 0, 0, false},
    {2, 2, 3, 6, 7, 3, 2, 2, 1, 0, true},   // non-square kernel
    {1, 3, 2, 8, 6, 3, 3, 2, 0, 0, true},   // (8 - 3) / 2 drops a row
    {2, 2, 3, 2, 3, 3, 3, 1, 1, 0, true},   // image smaller than the kernel, saved by padding
    {2, 8, 4, 24, 23, 3, 3, 1, 1, 0, true},  // large enough for im2col to split planes over threads
};
const std::vector<Conv> kConvTransposeCases = {
    {2, 3, 5, 4, 3, 3, 3, 1, 1, 0, true},
    {2, 3, 4, 4, 5, 3, 3, 2, 1, 1, false},
    {1, 4, 2, 5, 5, 1, 1, 1, 0, 0, true},   // pointwise
    {2, 2, 3, 3, 4, 4, 4, 2, 1, 0, true},   // the U-Net's 2x upsampling
    {1, 3, 2, 3, 3, 1, 1, 2, 0, 1, true},   // 1x1 stride 2: every other output pixel is only bias
    {2, 5, 3, 3, 2, 4, 4, 1, 0, 0, false},
    {2, 2, 3, 3, 4, 3, 2, 2, 1, 1, true},   // non-square kernel
    {1, 2, 3, 1, 1, 3, 3, 2, 1, 0, true},   // a single input pixel
    {3, 8, 8, 16, 15, 4, 4, 2, 1, 0, true},  // large enough for col2im to split planes over threads
};

// Our op against the reference, in float32 and float64, with x contiguous, transposed or strided.
void check_against_reference(bool transpose, const std::vector<Conv>& cases) {
  const Arrange arranges[] = {Arrange::Contiguous, Arrange::Transposed, Arrange::Strided};
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (size_t n = 0; n < cases.size(); ++n) {
      const Conv& c = cases[n];
      const Arrange a = arranges[n % 3];
      CAPTURE(label(c));
      CAPTURE(dtype_name(dtype));
      CAPTURE(arrange_name(a));
      Values v(c, transpose);
      Ts in = make_inputs(transpose, c, v, dtype, a);
      Tensor y = run(transpose, c, in[0], in[1], bias_of(in));
      std::vector<double> ref = transpose ? ref_conv_transpose2d(c, v.x, v.w, v.b) : ref_conv2d(c, v.x, v.w, v.b);
      REQUIRE(y.dtype() == dtype);
      check_close(y, tensor(ref, y_shape(c, transpose), DType::Float64), tol_for(dtype), tol_for(dtype));
    }
  }
}

double dot(const Tensor& a, const Tensor& b) { return ops::sum(ops::mul(a, b)).item(); }

// The geometry ConvGeometry describes, filled in from the sizes (out_h, out_w by the conv formula).
ConvGeometry make_geometry(int64_t batch, int64_t channels, int64_t h, int64_t w, int64_t kh, int64_t kw,
                           int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  ConvGeometry g;
  g.batch = batch; g.channels = channels; g.height = h; g.width = w;
  g.kh = kh; g.kw = kw; g.stride_h = sh; g.stride_w = sw; g.pad_h = ph; g.pad_w = pw;
  g.out_h = conv_out(h, kh, sh, ph);
  g.out_w = conv_out(w, kw, sw, pw);
  return g;
}
Shape image_shape(const ConvGeometry& g) { return {g.batch, g.channels, g.height, g.width}; }
Shape cols_shape(const ConvGeometry& g) { return {g.batch, g.channels * g.kh * g.kw, g.out_h * g.out_w}; }

// Geometries for the kernels themselves, including different strides and paddings per axis
// (which ConvGeometry allows although conv2d uses one of each).
const std::vector<ConvGeometry> kGeometries = {
    make_geometry(2, 3, 7, 6, 3, 3, 1, 1, 1, 1),
    make_geometry(1, 2, 9, 7, 4, 3, 2, 3, 1, 2),
    make_geometry(2, 1, 5, 8, 2, 5, 3, 1, 0, 2),
    make_geometry(1, 4, 3, 3, 3, 3, 2, 2, 2, 2),  // padding larger than the image's border needs
};

// im2col from its definition: cols[b, (c, i, j), (oh, ow)] = image[b, c, oh*sh - ph + i, ow*sw - pw + j].
std::vector<double> ref_im2col(const ConvGeometry& g, const std::vector<double>& image) {
  std::vector<double> cols(size_t(numel_of(cols_shape(g))), 0.0);
  size_t k = 0;
  for (int64_t p = 0; p < g.batch * g.channels; ++p)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j)
        for (int64_t oh = 0; oh < g.out_h; ++oh)
          for (int64_t ow = 0; ow < g.out_w; ++ow, ++k) {
            const int64_t y = oh * g.stride_h - g.pad_h + i, x = ow * g.stride_w - g.pad_w + j;
            if (y >= 0 && y < g.height && x >= 0 && x < g.width) cols[k] = image[(p * g.height + y) * g.width + x];
          }
  return cols;
}

// Runs the backend's im2col / col2im on `device` for contiguous inputs.
Tensor im2col_on(const Tensor& image, const ConvGeometry& g) {
  Tensor cols = empty(cols_shape(g), TensorOptions(image.dtype(), image.device()));
  backend(image.device()).im2col(cols.ref(), image.ref(), g);
  return cols;
}
Tensor col2im_on(const Tensor& cols, const ConvGeometry& g) {
  Tensor image = empty(image_shape(g), TensorOptions(cols.dtype(), cols.device()));
  backend(cols.device()).col2im(image.ref(), cols.ref(), g);
  return image;
}

// ---- gradcheck and parity -------------------------------------------------------------------------

// gradcheck w.r.t. x, the weight (when weight_grad) and the bias, in float64 with smooth values.
void check_gradients(bool transpose, const Conv& c, Arrange arrange = Arrange::Contiguous, bool weight_grad = true) {
  TensorOptions opts(DType::Float64);
  Ts in{set_requires_grad(make_tensor(smooth_random(numel_of(x_shape(c)), 4), x_shape(c), opts, arrange)),
        set_requires_grad(tensor(smooth_random(numel_of(w_shape(c, transpose)), 5), w_shape(c, transpose), opts),
                          weight_grad)};
  if (c.bias) in.push_back(set_requires_grad(tensor(smooth_random(c.cout, 6), {c.cout}, opts)));
  GradcheckFn f = [transpose, c](const Ts& t) { return run(transpose, c, t[0], t[1], bias_of(t)); };
  GradcheckResult r = gradcheck(f, in);
  CHECK_MESSAGE(r.ok, label(c), ": ", r.report);
}

// The case on the CPU and on the GPU with the same values and output gradient: the outputs and the
// gradients of x, weight and bias agree (exactly, up to rounding, for these dyadic values).
void check_parity(bool transpose, const Conv& c) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const double atol = dtype == DType::Float64 ? 1e-10 : 1e-5, rtol = dtype == DType::Float64 ? 1e-10 : 1e-4;
    CAPTURE(label(c));
    CAPTURE(dtype_name(dtype));
    Values v(c, transpose);
    Ts xc = make_inputs(transpose, c, v, TensorOptions(dtype, Device::cpu()));
    Ts xg = make_inputs(transpose, c, v, TensorOptions(dtype, Device::cuda()));
    Tensor yc = run(transpose, c, xc[0], xc[1], bias_of(xc));
    Tensor yg = run(transpose, c, xg[0], xg[1], bias_of(xg));
    REQUIRE(yg.device().is_cuda());
    check_close(yg, yc, atol, rtol);
    Tensor gy = tensor(dyadic_random(yc.numel(), 7), yc.shape(), TensorOptions(dtype));
    backward(yc, gy);
    backward(yg, gy.to(Device::cuda()));
    for (size_t i = 0; i < xc.size(); ++i) {
      CAPTURE(i);
      REQUIRE(grad(xg[i]).defined());
      CHECK(grad(xg[i]).device().is_cuda());
      check_close(grad(xg[i]), grad(xc[i]), atol, rtol);
    }
  }
}

// A batch of feature maps the size of a small U-Net's: enough elements for many blocks and a
// grid-stride loop, and sums long enough that a wrong index cannot hide.
const Conv kLargeConv = {4, 16, 24, 32, 30, 3, 3, 1, 1, 0, true};
const Conv kLargeConvTranspose = {4, 16, 8, 15, 16, 4, 4, 2, 1, 0, true};

}  // namespace

TEST_SUITE("cpu") {

TEST_CASE("conv2d matches the direct loop reference") { check_against_reference(false, kConv2dCases); }

TEST_CASE("conv_transpose2d matches the direct loop reference") {
  check_against_reference(true, kConvTransposeCases);
}

TEST_CASE("conv2d and conv_transpose2d are adjoint") {
  // <conv2d(x, w), y> = <x, conv_transpose2d(y, w)>, with output_padding picking x's size back.
  for (const Conv& c : kConv2dCases) {
    CAPTURE(label(c));
    TensorOptions opts(DType::Float64);
    Tensor x = tensor(smooth_random(numel_of(x_shape(c)), 1), x_shape(c), opts);
    Tensor w = tensor(smooth_random(numel_of(w_shape(c, false)), 2), w_shape(c, false), opts);
    Shape ys = y_shape(c, false);
    Tensor y = tensor(smooth_random(numel_of(ys), 3), ys, opts);
    const int64_t op_h = (c.h + 2 * c.padding - c.kh) % c.stride, op_w = (c.w + 2 * c.padding - c.kw) % c.stride;
    REQUIRE(op_h == op_w);  // conv_transpose2d takes one output_padding for both axes
    Tensor xt = conv_transpose2d(y, w, {}, c.stride, c.padding, op_h);
    REQUIRE(xt.shape() == x.shape());
    const double lhs = dot(conv2d(x, w, {}, c.stride, c.padding), y), rhs = dot(x, xt);
    CHECK(std::fabs(lhs - rhs) <= 1e-12 * (1.0 + std::fabs(lhs)));
  }
}

TEST_CASE("conv kernels im2col matches its definition and col2im is its adjoint") {
  for (const ConvGeometry& g : kGeometries) {
    CAPTURE(shape_str(image_shape(g)));
    CAPTURE(g.kh);
    CAPTURE(g.kw);
    for (DType dtype : {DType::Float32, DType::Float64}) {
      CAPTURE(dtype_name(dtype));
      std::vector<double> image = dyadic_random(numel_of(image_shape(g)), 1);
      Tensor x = tensor(image, image_shape(g), dtype);
      Tensor cols = im2col_on(x, g);
      check_close(cols, tensor(ref_im2col(g, image), cols_shape(g), DType::Float64), 0.0, 0.0);
      // <im2col(x), c> = <x, col2im(c)>, exactly for dyadic values.
      Tensor c = tensor(dyadic_random(numel_of(cols_shape(g)), 2), cols_shape(g), dtype);
      CHECK(dot(cols, c) == dot(x, col2im_on(c, g)));
    }
  }
}

TEST_CASE("conv2d and silu_conv2d in float32 give the float64 path's values and gradients") {
  // float32 runs the backend's conv kernels (no column matrix; the input gradient of a stride-1 conv
  // as a conv; silu fused into the kernels' reads); float64 the readable im2col + matmul code that
  // gradcheck verifies. They must agree to float32 rounding, values and all three gradients.
  // Values in +-[0.1, 1.1] (not the dyadic ones, whose float32 sums are exact). A float32 sum of K
  // terms is within about sqrt(K) u |partial sums| of the exact one in practice (u = 6e-8; at worst
  // K u sum|terms|): with K <= 360 terms of magnitude <= 1.2 here, ~1e-5. A wrong, missing or doubled
  // term moves an output by |w| |x| (or |w| silu(|x|)) >= 5e-3.
  const double atol = 1e-4, rtol = 1e-5;  // seen: 3e-7 relative
  const std::vector<Conv> cases{{3, 4, 6, 9, 7, 3, 3, 1, 1, 0, true}, {2, 5, 3, 8, 8, 3, 3, 2, 1, 0, true},
                                {2, 3, 4, 5, 6, 1, 1, 1, 0, 0, true}, {1, 2, 3, 9, 9, 4, 4, 2, 1, 0, false},
                                {2, 40, 9, 6, 6, 3, 3, 1, 1, 0, true}, {1, 3, 2, 6, 5, 3, 3, 1, 2, 0, true}};
  for (const Conv& c : cases) {
    for (bool fused_silu : {false, true}) {
      CAPTURE(label(c));
      CAPTURE(fused_silu);
      Values v(c, false);
      v.x = smooth_random(numel_of(x_shape(c)), 21), v.w = smooth_random(numel_of(w_shape(c, false)), 22);
      v.b = smooth_random(c.cout, 23);
      Ts in64 = make_inputs(false, c, v, DType::Float64), in32 = make_inputs(false, c, v, DType::Float32);
      auto forward = [&](const Ts& in) {
        return fused_silu ? silu_conv2d(in[0], in[1], bias_of(in), c.stride, c.padding)
                          : conv2d(in[0], in[1], bias_of(in), c.stride, c.padding);
      };
      Tensor y64 = forward(in64), y32 = forward(in32);
      // a fixed weighting of the outputs, so that every gradient entry gets a different upstream value
      Tensor r = tensor(smooth_random(y64.numel(), 11), y64.shape(), TensorOptions(DType::Float64));
      backward(sum(mul(y64, r)));
      backward(sum(mul(y32, r.to(DType::Float32))));
      check_close(y32.to(DType::Float64), y64, atol, rtol);
      for (size_t i = 0; i < in64.size(); ++i) {
        CAPTURE(i);  // the gradient of x, weight, bias
        check_close(grad(in32[i]).to(DType::Float64), grad(in64[i]), atol, rtol);
      }
    }
  }
}

TEST_CASE("conv2d gradient of a pointwise conv with a batch of one") {
  // The 1x1 path reshapes instead of copying; its backward must still give dx of x's shape.
  Conv c{1, 3, 2, 4, 5, 1, 1, 1, 0, 0, false};
  Values v(c, false);
  Ts in = make_inputs(false, c, v, DType::Float64);
  Tensor y = conv2d(in[0], in[1]);
  backward(sum(y));
  // dx[c, p] = sum_o w[o, c], the same for every pixel.
  std::vector<double> expected;
  for (int64_t ci = 0; ci < c.cin; ++ci)
    for (int64_t p = 0; p < c.h * c.w; ++p) expected.push_back(v.w[ci] + v.w[c.cin + ci]);
  check_values(grad(in[0]), expected, 1e-12);
}

TEST_CASE("conv2d rejects bad arguments with clear messages") {
  Tensor x = zeros({2, 3, 5, 5}), w = zeros({4, 3, 3, 3}), b = zeros({4});
  using E = std::invalid_argument;
  check_throws_with<E>([&] { conv2d(x, zeros({4, 3, 3})); }, "conv2d: weight has 3 dims, expected [out, in, kh, kw]");
  check_throws_with<E>([&] { conv2d(zeros({3, 5, 5}), w); },
                       "conv2d: input has 3 dims, expected [batch, channels, height, width]");
  check_throws_with<E>([&] { conv2d(x, zeros({4, 2, 3, 3})); },
                       "conv2d: input has 3 channels but weight [4, 2, 3, 3] ([out, in, kh, kw]) expects 2");
  check_throws_with<E>([&] { conv2d(x, w, zeros({3})); }, "conv2d: bias has shape [3], expected [out] = [4]");
  check_throws_with<E>([&] { conv2d(x, w, b, 0); }, "conv2d: stride must be positive, got 0");
  check_throws_with<E>([&] { conv2d(x, w, b, 1, -1); }, "conv2d: padding must be non-negative, got -1");
  check_throws_with<E>([&] { conv2d(zeros({2, 3, 2, 5}), w); },
                       "conv2d: input of 2x5 pixels with padding 0 is smaller than the 3x3 kernel");
  check_throws_with<E>([&] { conv2d(x, zeros({4, 3, 3, 3}, DType::Float64)); },
                       "conv2d: weight is float64 but input is float32");
  check_throws_with<E>([&] { conv2d(zeros({2, 3, 5, 5}, DType::Int64), zeros({4, 3, 3, 3}, DType::Int64)); },
                       "conv2d: dtype int64 is not supported");
  check_throws_with<E>([&] { conv2d(x, zeros({4, 3, 0, 3})); }, "conv2d: weight [4, 3, 0, 3] has a zero size");
  check_throws_with<E>([&] { conv2d(Tensor(), w); }, "conv2d: input is an undefined tensor");
}

TEST_CASE("conv_transpose2d rejects bad arguments with clear messages") {
  Tensor x = zeros({2, 3, 4, 4}), w = zeros({3, 5, 4, 4});
  using E = std::invalid_argument;
  check_throws_with<E>([&] { conv_transpose2d(x, zeros({3, 5, 4})); },
                       "conv_transpose2d: weight has 3 dims, expected [in, out, kh, kw]");
  check_throws_with<E>([&] { conv_transpose2d(x, zeros({5, 3, 4, 4})); },
                       "conv_transpose2d: input has 3 channels but weight [5, 3, 4, 4] ([in, out, kh, kw]) expects 5");
  check_throws_with<E>([&] { conv_transpose2d(x, w, zeros({3})); },
                       "conv_transpose2d: bias has shape [3], expected [out] = [5]");
  check_throws_with<E>([&] { conv_transpose2d(x, w, {}, 2, 1, 2); },
                       "conv_transpose2d: output_padding must be in [0, stride), got 2 with stride 2");
  check_throws_with<E>([&] { conv_transpose2d(x, w, {}, 1, 0, 1); },
                       "conv_transpose2d: output_padding must be in [0, stride), got 1 with stride 1");
  check_throws_with<E>([&] { conv_transpose2d(x, w, {}, -1); }, "conv_transpose2d: stride must be positive, got -1");
  check_throws_with<E>([&] { conv_transpose2d(x, w, {}, 1, -2); },
                       "conv_transpose2d: padding must be non-negative, got -2");
  check_throws_with<E>([&] { conv_transpose2d(zeros({1, 3, 1, 1}), zeros({3, 5, 1, 1}), {}, 1, 1); },
                       "conv_transpose2d: the output would be -1x-1 pixels");
}

}  // TEST_SUITE("cpu")

TEST_SUITE("gradcheck") {

TEST_CASE("gradcheck conv2d stride 1 padding 1 with bias") {
  check_gradients(false, {2, 3, 4, 5, 4, 3, 3, 1, 1, 0, true});
}
TEST_CASE("gradcheck conv2d stride 2 kernel 4 without bias") {
  check_gradients(false, {1, 2, 3, 7, 6, 4, 4, 2, 1, 0, false}, Arrange::Strided);
}
TEST_CASE("gradcheck conv2d pointwise") {
  check_gradients(false, {2, 3, 2, 3, 5, 1, 1, 1, 0, 0, true}, Arrange::Transposed);
}
TEST_CASE("gradcheck conv2d non-square kernel stride 2") {
  check_gradients(false, {2, 2, 3, 6, 5, 3, 2, 2, 1, 0, true});
}
TEST_CASE("gradcheck silu_conv2d stride 1 and stride 2") {
  // float64 composes silu and conv2d; the float32 kernels that fuse them are held to this path by
  // the cpu test "conv2d and silu_conv2d in float32 give the float64 path's values and gradients".
  for (const Conv& c : {Conv{2, 3, 4, 5, 4, 3, 3, 1, 1, 0, true}, Conv{1, 2, 3, 6, 5, 3, 3, 2, 1, 0, false}}) {
    TensorOptions opts(DType::Float64);
    Ts in{set_requires_grad(tensor(smooth_random(numel_of(x_shape(c)), 4), x_shape(c), opts)),
          set_requires_grad(tensor(smooth_random(numel_of(w_shape(c, false)), 5), w_shape(c, false), opts))};
    if (c.bias) in.push_back(set_requires_grad(tensor(smooth_random(c.cout, 6), {c.cout}, opts)));
    GradcheckFn f = [c](const Ts& t) { return silu_conv2d(t[0], t[1], bias_of(t), c.stride, c.padding); };
    GradcheckResult r = gradcheck(f, in);
    CHECK_MESSAGE(r.ok, label(c), ": ", r.report);
  }
}

TEST_CASE("gradcheck conv2d input only") {
  check_gradients(false, {2, 2, 3, 5, 5, 3, 3, 2, 0, 0, false}, Arrange::Contiguous, /*weight_grad=*/false);
}
TEST_CASE("gradcheck conv_transpose2d stride 2 output_padding 1 with bias") {
  check_gradients(true, {2, 3, 2, 4, 3, 3, 3, 2, 1, 1, true});
}
TEST_CASE("gradcheck conv_transpose2d kernel 4 stride 2 without bias") {
  check_gradients(true, {1, 2, 3, 3, 4, 4, 4, 2, 1, 0, false}, Arrange::Strided);
}
TEST_CASE("gradcheck conv_transpose2d pointwise") { check_gradients(true, {2, 3, 2, 3, 3, 1, 1, 1, 0, 0, true}); }
TEST_CASE("gradcheck conv_transpose2d non-square kernel stride 1") {
  check_gradients(true, {2, 2, 3, 3, 2, 3, 2, 1, 0, 0, true}, Arrange::Transposed);
}
TEST_CASE("gradcheck conv_transpose2d input only") {
  check_gradients(true, {1, 2, 3, 3, 3, 3, 3, 2, 1, 1, true}, Arrange::Contiguous, /*weight_grad=*/false);
}

}  // TEST_SUITE("gradcheck")

TEST_SUITE("cuda") {

TEST_CASE("cuda parity conv2d forward and backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (const Conv& c : kConv2dCases) check_parity(false, c);
  check_parity(false, kLargeConv);
}

TEST_CASE("cuda parity silu_conv2d forward and backward in float32") {
  // The fused path on both devices (the CPU applies silu in its padded copy, CUDA in a scratch
  // before im2col), values in +-[0.1, 1.1]: agreement to float32 rounding of the sums.
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (const Conv& c : {Conv{2, 4, 6, 9, 7, 3, 3, 1, 1, 0, true}, Conv{2, 5, 3, 8, 8, 3, 3, 2, 1, 0, true}}) {
    CAPTURE(label(c));
    auto inputs = [&](Device dev) {
      const TensorOptions o(DType::Float32, dev);
      return Ts{set_requires_grad(tensor(smooth_random(numel_of(x_shape(c)), 31), x_shape(c), o)),
                set_requires_grad(tensor(smooth_random(numel_of(w_shape(c, false)), 32), w_shape(c, false), o)),
                set_requires_grad(tensor(smooth_random(c.cout, 33), {c.cout}, o))};
    };
    Ts xc = inputs(Device::cpu()), xg = inputs(Device::cuda());
    Tensor yc = silu_conv2d(xc[0], xc[1], xc[2], c.stride, c.padding);
    Tensor yg = silu_conv2d(xg[0], xg[1], xg[2], c.stride, c.padding);
    check_close(yg, yc, 1e-4, 1e-5);
    Tensor gy = tensor(smooth_random(yc.numel(), 34), yc.shape(), TensorOptions(DType::Float32));
    backward(yc, gy);
    backward(yg, gy.to(Device::cuda()));
    for (size_t i = 0; i < xc.size(); ++i) {
      CAPTURE(i);
      check_close(grad(xg[i]), grad(xc[i]), 1e-4, 1e-5);
    }
  }
}

TEST_CASE("cuda parity conv_transpose2d forward and backward") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  for (const Conv& c : kConvTransposeCases) check_parity(true, c);
  check_parity(true, kLargeConvTranspose);
}

TEST_CASE("cuda parity conv kernels im2col and col2im") {
  DDPM_REQUIRE_CUDA_OR_SKIP();
  std::vector<ConvGeometry> geometries = kGeometries;
  geometries.push_back(make_geometry(3, 16, 33, 31, 3, 3, 1, 1, 1, 1));  // many blocks
  for (const ConvGeometry& g : geometries) {
    CAPTURE(shape_str(image_shape(g)));
    for (DType dtype : {DType::Float32, DType::Float64}) {
      CAPTURE(dtype_name(dtype));
      Tensor x = tensor(dyadic_random(numel_of(image_shape(g)), 1), image_shape(g), dtype);
      Tensor c = tensor(dyadic_random(numel_of(cols_shape(g)), 2), cols_shape(g), dtype);
      Tensor cols_gpu = im2col_on(x.to(Device::cuda()), g), image_gpu = col2im_on(c.to(Device::cuda()), g);
      REQUIRE(cols_gpu.device().is_cuda());
      check_close(cols_gpu, im2col_on(x, g), 0.0, 0.0);   // a copy: bit for bit
      check_close(image_gpu, col2im_on(c, g), 0.0, 0.0);  // sums of dyadic values: exact in any order
    }
  }
}

}  // TEST_SUITE("cuda")
