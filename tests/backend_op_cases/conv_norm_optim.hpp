// Cases of im2col, col2im, conv2d, conv2d_weight_grad, group norm and the optimizer kernels.
// (a part of the backend-ops harness's case table: tests/backend_op_cases.hpp)
#pragma once
#include "common.hpp"

namespace ddpm::backend_ops {

// ---- convolution --------------------------------------------------------------------------------

inline ConvGeometry conv_geometry(int64_t b, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t stride,
                                  int64_t pad) {
  ConvGeometry g;
  g.batch = b; g.channels = c; g.height = h; g.width = w;
  g.kh = kh; g.kw = kw; g.stride_h = g.stride_w = stride; g.pad_h = g.pad_w = pad;
  g.out_h = (h + 2 * pad - kh) / stride + 1;
  g.out_w = (w + 2 * pad - kw) / stride + 1;
  return g;
}

// The image pixel that column entry (b, row, col) reads, or -1 for padding.
inline int64_t im2col_source(const ConvGeometry& g, int64_t b, int64_t row, int64_t col) {
  const int64_t c = row / (g.kh * g.kw), i = row / g.kw % g.kh, j = row % g.kw;
  const int64_t y = col / g.out_w * g.stride_h - g.pad_h + i, x = col % g.out_w * g.stride_w - g.pad_w + j;
  if (y < 0 || y >= g.height || x < 0 || x >= g.width) return -1;
  return ((b * g.channels + c) * g.height + y) * g.width + x;
}

inline void add_conv_cases(CaseList& L) {
  if (!L.wants({"im2col", "col2im", "conv2d", "conv2d_weight_grad"})) return;
  const std::vector<ConvGeometry> gs =
      // perf: the cifar10 preset's widest conv, a stride-2 one, and the tiny preset's three sizes;
      // test: small odd shapes, and one (40 channels, cout 150) past the GEMM engine's blocks
      L.perf ? std::vector<ConvGeometry>{conv_geometry(64, 128, 32, 32, 3, 3, 1, 1), conv_geometry(64, 64, 32, 32, 3, 3, 2, 1),
                                         conv_geometry(64, 16, 32, 32, 3, 3, 1, 1), conv_geometry(64, 32, 16, 16, 3, 3, 1, 1),
                                         conv_geometry(64, 32, 8, 8, 3, 3, 1, 1), conv_geometry(1, 32, 16, 16, 3, 3, 1, 1)}
             : std::vector<ConvGeometry>{conv_geometry(2, 3, 5, 7, 3, 3, 1, 1), conv_geometry(1, 2, 6, 6, 3, 3, 2, 1),
                                         conv_geometry(2, 1, 4, 5, 1, 1, 1, 0), conv_geometry(1, 3, 7, 4, 2, 3, 2, 0),
                                         conv_geometry(3, 2, 3, 3, 3, 3, 1, 2), conv_geometry(1, 40, 6, 6, 3, 3, 1, 1),
                                         conv_geometry(2, 40, 7, 5, 3, 3, 2, 1)};
  for (const ConvGeometry& g : gs) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      const Shape image_shape{g.batch, g.channels, g.height, g.width};
      const Shape cols_shape{g.batch, g.channels * g.kh * g.kw, g.out_h * g.out_w};
      const std::string geo = "image " + shape_str(image_shape) + " kernel " + std::to_string(g.kh) + "x" + std::to_string(g.kw) +
                              " stride " + std::to_string(g.stride_h) + " pad " + std::to_string(g.pad_h);
      {
        Values v = dyadic(size_t(numel_of(image_shape)), 1);
        BackendOpCase k;
        k.kernel = "im2col";
        k.label = dtype_label(d) + " " + geo;
        k.make = [=](Device dev) -> KernelCall {
          Tensor image = tensor(v, image_shape, TensorOptions(d, dev));
          Tensor cols = full(cols_shape, 77.0, TensorOptions(d, dev));  // every entry must be written
          return [=] {
            backend(dev).im2col(cols.ref(), image.ref(), g);
            return std::vector<Tensor>{cols};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(cols_shape)));
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t row = 0; row < cols_shape[1]; ++row)
              for (int64_t col = 0; col < cols_shape[2]; ++col) {
                const int64_t src = im2col_source(g, b, row, col);
                out[size_t((b * cols_shape[1] + row) * cols_shape[2] + col)] = src < 0 ? 0.0 : v[size_t(src)];
              }
          return std::vector<Values>{out};
        };
        k.bytes = nbytes(image_shape, d) + nbytes(cols_shape, d);
        L.add(k);
      }
      {
        Values v = dyadic(size_t(numel_of(cols_shape)), 2);
        BackendOpCase k;
        k.kernel = "col2im";
        k.label = dtype_label(d) + " " + geo;
        k.make = [=](Device dev) -> KernelCall {
          Tensor cols = tensor(v, cols_shape, TensorOptions(d, dev));
          Tensor image = full(image_shape, 77.0, TensorOptions(d, dev));  // overwritten, not accumulated into
          return [=] {
            backend(dev).col2im(image.ref(), cols.ref(), g);
            return std::vector<Tensor>{image};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(image_shape)), 0.0);
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t row = 0; row < cols_shape[1]; ++row)
              for (int64_t col = 0; col < cols_shape[2]; ++col) {
                const int64_t dst = im2col_source(g, b, row, col);
                if (dst >= 0) out[size_t(dst)] += v[size_t((b * cols_shape[1] + row) * cols_shape[2] + col)];
              }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = tol_a(d);
        k.rtol = k.parity_rtol = tol_r(d);
        k.bytes = nbytes(image_shape, d) + nbytes(cols_shape, d);
        k.flops = double(numel_of(cols_shape));
        L.add(k);
      }
      // conv2d and its weight gradient with cout output channels: y[b] = W @ cols(x[b]),
      // dW = sum_b dy[b] @ cols(x[b])^T, from the column entries im2col_source names
      const int64_t cout = L.perf ? g.channels : (g.channels >= 40 ? 150 : 5), rows = cols_shape[1], l = cols_shape[2];
      const Shape w_shape{cout, g.channels, g.kh, g.kw}, y_shape{g.batch, cout, g.out_h, g.out_w};
      const double conv_flops = 2.0 * double(g.batch) * double(cout) * double(rows) * double(l);
      // silu_x: the kernels read silu(x) instead of x
      auto input_value = [](const Values& v, int64_t src, bool silu_x) {
        const double x = v[size_t(src)];
        return silu_x ? x / (1.0 + std::exp(-x)) : x;
      };
      for (bool silu_x : {false, true}) {
      if (L.perf && silu_x) continue;
      const std::string act = silu_x ? " of silu(x)" : "";
      for (bool with_bias : {true, false}) {
        if (L.perf && !with_bias) continue;
        Values v = dyadic(size_t(numel_of(image_shape)), 4), w = dyadic(size_t(numel_of(w_shape)), 5);
        Values bias = dyadic(size_t(cout), 8);
        BackendOpCase k;
        k.kernel = "conv2d";
        k.label = dtype_label(d) + " " + geo + " cout " + std::to_string(cout) + (with_bias ? " bias" : "") + act;
        k.make = [=](Device dev) -> KernelCall {
          const TensorOptions o(d, dev);
          Tensor x = tensor(v, image_shape, o), wt = tensor(w, w_shape, o), bt = tensor(bias, {cout}, o);
          Tensor y = full(y_shape, 77.0, o);  // overwritten
          return [=] {
            backend(dev).conv2d(y.ref(), x.ref(), wt.ref(), with_bias ? bt.ref() : TensorRef{}, g, silu_x);
            return std::vector<Tensor>{y};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(y_shape)));
          for (int64_t b = 0; b < g.batch; ++b)
            for (int64_t o = 0; o < cout; ++o)
              for (int64_t col = 0; col < l; ++col) {
                double acc = with_bias ? bias[size_t(o)] : 0.0;
                for (int64_t row = 0; row < rows; ++row) {
                  const int64_t src = im2col_source(g, b, row, col);
                  if (src >= 0) acc += w[size_t(o * rows + row)] * input_value(v, src, silu_x);
                }
                out[size_t((b * cout + o) * l + col)] = acc;
              }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-5;
        k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
        k.bytes = nbytes(image_shape, d) + nbytes(w_shape, d) + nbytes(y_shape, d);
        k.flops = conv_flops;
        L.add(k);
      }
      {
        Values v = dyadic(size_t(numel_of(image_shape)), 6), dy = dyadic(size_t(numel_of(y_shape)), 7);
        BackendOpCase k;
        k.kernel = "conv2d_weight_grad";
        k.label = dtype_label(d) + " " + geo + " cout " + std::to_string(cout) + act;
        k.make = [=](Device dev) -> KernelCall {
          Tensor x = tensor(v, image_shape, TensorOptions(d, dev)), dyt = tensor(dy, y_shape, TensorOptions(d, dev));
          Tensor dw = full(w_shape, 77.0, TensorOptions(d, dev));  // overwritten, not accumulated into
          return [=] {
            backend(dev).conv2d_weight_grad(dw.ref(), dyt.ref(), x.ref(), g, silu_x);
            return std::vector<Tensor>{dw};
          };
        };
        k.reference = [=] {
          Values out(size_t(numel_of(w_shape)), 0.0);
          for (int64_t o = 0; o < cout; ++o)
            for (int64_t row = 0; row < rows; ++row) {
              double acc = 0;
              for (int64_t b = 0; b < g.batch; ++b)
                for (int64_t col = 0; col < l; ++col) {
                  const int64_t src = im2col_source(g, b, row, col);
                  if (src >= 0) acc += dy[size_t((b * cout + o) * l + col)] * input_value(v, src, silu_x);
                }
              out[size_t(o * rows + row)] = acc;
            }
          return std::vector<Values>{out};
        };
        k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-5;
        k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
        k.bytes = nbytes(image_shape, d) + nbytes(w_shape, d) + nbytes(y_shape, d);
        k.flops = conv_flops;
        L.add(k);
      }
      }  // silu_x
    }
  }
}

// ---- group norm ---------------------------------------------------------------------------------

// The reference statistics of x [B, C, HW] in G groups: mean and rstd [B, G].
inline void group_stats(const Values& x, int64_t B, int64_t C, int64_t HW, int64_t G, double eps, Values& mean, Values& rstd) {
  const int64_t cg = C / G, n = cg * HW;
  mean.assign(size_t(B * G), 0.0);
  rstd.assign(size_t(B * G), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t g = 0; g < G; ++g) {
      const double* p = x.data() + (b * C + g * cg) * HW;
      double s = 0, ss = 0;
      for (int64_t i = 0; i < n; ++i) s += p[i];
      const double m = s / double(n);
      for (int64_t i = 0; i < n; ++i) ss += (p[i] - m) * (p[i] - m);
      mean[size_t(b * G + g)] = m;
      rstd[size_t(b * G + g)] = 1 / std::sqrt(ss / double(n) + eps);
    }
}

inline void add_group_norm_cases(CaseList& L) {
  if (!L.wants({"group_norm_forward", "group_norm_backward"})) return;
  struct N { int64_t B, C, HW, G; };
  const std::vector<N> shapes = L.perf ? std::vector<N>{{64, 128, 1024, 32}, {64 * 256, 128, 1, 1}}
                                       : std::vector<N>{{2, 6, 5, 3}, {1, 4, 33, 1}, {3, 8, 1, 8}, {5, 7, 1, 1}, {2, 32, 17, 8}};
  const double eps = 1e-5;
  for (const N& s : shapes) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      for (bool affine : {true, false}) {
        if (L.perf && !affine) continue;
        const Shape xs{s.B, s.C, s.HW}, cs{s.C}, stats{s.B, s.G};
        Values x = map(dyadic(size_t(numel_of(xs)), 1), [](double v) { return v * 0.75 + 0.5; });
        Values w = map(dyadic(size_t(s.C), 2), [](double v) { return v / 4 + 1; }), b = dyadic(size_t(s.C), 3);
        Values dy = dyadic(size_t(numel_of(xs)), 4);
        const std::string label = dtype_label(d) + " x " + shape_str(xs) + " groups " + std::to_string(s.G) + (affine ? "" : " no affine");
        auto xd = [=] { return map(x, [d](double v) { return as_dtype(v, d); }); };
        {
          BackendOpCase k;
          k.kernel = "group_norm_forward";
          k.label = label;
          k.make = [=](Device dev) -> KernelCall {
            const TensorOptions o(d, dev);
            Tensor xt = tensor(x, xs, o), wt = tensor(w, cs, o), bt = tensor(b, cs, o);
            Tensor y = empty(xs, o), mean = empty(stats, o), rstd = empty(stats, o);
            return [=] {
              backend(dev).group_norm_forward(y.ref(), mean.ref(), rstd.ref(), xt.ref(), affine ? wt.ref() : TensorRef{},
                                              affine ? bt.ref() : TensorRef{}, s.G, eps);
              return std::vector<Tensor>{y, mean, rstd};
            };
          };
          k.reference = [=] {
            Values mean, rstd, y(x.size());
            const Values xv = xd();
            group_stats(xv, s.B, s.C, s.HW, s.G, eps, mean, rstd);
            for (int64_t i = 0; i < int64_t(y.size()); ++i) {
              const int64_t bb = i / (s.C * s.HW), c = i / s.HW % s.C, g = c / (s.C / s.G);
              const double xhat = (xv[size_t(i)] - mean[size_t(bb * s.G + g)]) * rstd[size_t(bb * s.G + g)];
              y[size_t(i)] = affine ? xhat * w[size_t(c)] + b[size_t(c)] : xhat;
            }
            return std::vector<Values>{y, mean, rstd};
          };
          k.atol = k.parity_atol = is_f64(d) ? 1e-10 : 1e-5;
          k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
          k.bytes = 2 * nbytes(xs, d) + 2 * nbytes(cs, d) + 2 * nbytes(stats, d);
          L.add(k);
        }
        {
          BackendOpCase k;
          k.kernel = "group_norm_backward";
          k.label = label;
          // mean and rstd come from the reference statistics (in the dtype), as a forward would save them
          Values mean, rstd;
          group_stats(map(x, [d](double v) { return as_dtype(v, d); }), s.B, s.C, s.HW, s.G, eps, mean, rstd);
          k.make = [=](Device dev) -> KernelCall {
            const TensorOptions o(d, dev);
            Tensor xt = tensor(x, xs, o), wt = tensor(w, cs, o), dyt = tensor(dy, xs, o);
            Tensor mt = tensor(mean, stats, o), rt = tensor(rstd, stats, o);
            Tensor dx = empty(xs, o), dw = full(cs, 77.0, o), db = full(cs, 77.0, o);
            return [=] {
              backend(dev).group_norm_backward(dx.ref(), affine ? dw.ref() : TensorRef{}, affine ? db.ref() : TensorRef{},
                                               dyt.ref(), xt.ref(), mt.ref(), rt.ref(), affine ? wt.ref() : TensorRef{}, s.G);
              return affine ? std::vector<Tensor>{dx, dw, db} : std::vector<Tensor>{dx};
            };
          };
          k.reference = [=] {
            // with mean and rstd as given (rounded to the dtype): xhat = (x - mean) rstd, g = dy w,
            // dx = rstd (g - mean_group(g) - xhat mean_group(g xhat)); dw = sum dy xhat; db = sum dy
            const Values xv = xd();
            auto md = [d](double v) { return as_dtype(v, d); };
            const int64_t cg = s.C / s.G, n = cg * s.HW;
            Values dx(x.size()), dw(size_t(s.C), 0.0), db(size_t(s.C), 0.0);
            for (int64_t bb = 0; bb < s.B; ++bb)
              for (int64_t g = 0; g < s.G; ++g) {
                const double m = md(mean[size_t(bb * s.G + g)]), r = md(rstd[size_t(bb * s.G + g)]);
                double sg = 0, sgx = 0;
                for (int64_t i = 0; i < n; ++i) {
                  const int64_t at = (bb * s.C + g * cg) * s.HW + i, c = g * cg + i / s.HW;
                  const double xhat = (xv[size_t(at)] - m) * r, gi = dy[size_t(at)] * (affine ? w[size_t(c)] : 1.0);
                  sg += gi;
                  sgx += gi * xhat;
                  dw[size_t(c)] += dy[size_t(at)] * xhat;
                  db[size_t(c)] += dy[size_t(at)];
                }
                for (int64_t i = 0; i < n; ++i) {
                  const int64_t at = (bb * s.C + g * cg) * s.HW + i, c = g * cg + i / s.HW;
                  const double xhat = (xv[size_t(at)] - m) * r, gi = dy[size_t(at)] * (affine ? w[size_t(c)] : 1.0);
                  dx[size_t(at)] = r * (gi - sg / double(n) - xhat * sgx / double(n));
                }
              }
            return affine ? std::vector<Values>{dx, dw, db} : std::vector<Values>{dx};
          };
          k.atol = k.parity_atol = is_f64(d) ? 1e-10 : 1e-4;
          k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
          k.bytes = 3 * nbytes(xs, d) + 3 * nbytes(cs, d) + 2 * nbytes(stats, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- optimizer steps ----------------------------------------------------------------------------

// The sizes of a list of parameters: odd ones, a 1, an empty one; for perf a U-Net's worth.
inline std::vector<int64_t> param_sizes(bool perf) {
  if (perf) {
    std::vector<int64_t> s;
    for (int j = 0; j < 200; ++j) s.push_back(j % 2 ? 128 : 128 * 128 * 9 / (1 + j % 4));
    return s;
  }
  return {7, 1, 0, 33, 129, 4099, 2};
}

// Tensors of those sizes on dev, each a view 3 elements into its own buffer (the kernels must honour
// offsets), holding `values` in order.
inline std::vector<Tensor> param_list(const std::vector<int64_t>& sizes, const Values& values, DType d, Device dev) {
  std::vector<Tensor> out;
  size_t at = 0;
  for (int64_t n : sizes) {
    Tensor buf = tensor(Values(size_t(n + 3), -999.5), {n + 3}, TensorOptions(d, dev));
    Tensor view = ops::narrow(buf, 0, 3, n);
    view.copy_(tensor(Values(values.begin() + long(at), values.begin() + long(at + size_t(n))), {n}, TensorOptions(d, dev)));
    at += size_t(n);
    out.push_back(view);
  }
  return out;
}
inline std::vector<TensorRef> refs_of(const std::vector<Tensor>& ts) {
  std::vector<TensorRef> out;
  for (const Tensor& t : ts) out.push_back(t.ref());
  return out;
}
// The list's tensors in one 1-D tensor (the call's output for comparing).
inline Tensor joined(const std::vector<Tensor>& ts) {
  std::vector<Tensor> nonempty;
  for (const Tensor& t : ts)
    if (t.numel() > 0) nonempty.push_back(t);
  return ops::cat(nonempty, 0);
}
inline size_t total(const std::vector<int64_t>& sizes) {
  size_t n = 0;
  for (int64_t s : sizes) n += size_t(s);
  return n;
}

inline void add_optimizer_cases(CaseList& L) {
  if (!L.wants({"adamw_step", "ema_update", "sum_of_squares"})) return;
  const std::vector<int64_t> sizes = param_sizes(L.perf);
  const size_t n = total(sizes);
  const std::string list = std::to_string(sizes.size()) + " tensors of " + std::to_string(n) + " elements";
  for (DType d : {DType::Float32, DType::Float64}) {
    if (L.perf && d != DType::Float32) continue;
    const Values p0 = dyadic(n, 1), g = dyadic(n, 2), m0 = map(dyadic(n, 3), [](double x) { return x / 8; });
    const Values v0 = map(dyadic(n, 4), [](double x) { return x * x / 4; });
    for (int t : {1, 7}) {
      AdamWStep s;
      s.lr = 1e-2;
      s.weight_decay = t == 1 ? 0.1 : 0.0;
      s.bias_correction1 = 1 - std::pow(s.beta1, t);
      s.bias_correction2 = 1 - std::pow(s.beta2, t);
      BackendOpCase k;
      k.kernel = "adamw_step";
      k.label = dtype_label(d) + " " + list + " step " + std::to_string(t) + " weight decay " + std::to_string(s.weight_decay);
      k.make = [=](Device dev) -> KernelCall {
        std::vector<Tensor> p = param_list(sizes, p0, d, dev), gr = param_list(sizes, g, d, dev);
        std::vector<Tensor> m = param_list(sizes, m0, d, dev), v = param_list(sizes, v0, d, dev);
        return [=] {
          backend(dev).adamw_step(refs_of(p), refs_of(gr), refs_of(m), refs_of(v), s);
          return std::vector<Tensor>{joined(p), joined(m), joined(v)};
        };
      };
      k.reference = [=] {
        Values p(n), m(n), v(n);
        for (size_t i = 0; i < n; ++i) {
          const double gi = as_dtype(g[i], d);
          m[i] = s.beta1 * m0[i] + (1 - s.beta1) * gi;
          v[i] = s.beta2 * v0[i] + (1 - s.beta2) * gi * gi;
          p[i] = p0[i] - s.lr * (s.weight_decay * p0[i] + (m[i] / s.bias_correction1) / (std::sqrt(v[i] / s.bias_correction2) + s.eps));
        }
        return std::vector<Values>{p, m, v};
      };
      k.atol = is_f64(d) ? 1e-12 : 1e-6;
      k.rtol = is_f64(d) ? 1e-10 : 1e-5;
      k.bytes = 7 * double(n) * double(dtype_size(d));  // reads p, g, m, v; writes p, m, v
      L.add(k);
    }
    for (double decay : {0.5, 0.999}) {
      BackendOpCase k;
      k.kernel = "ema_update";
      k.label = dtype_label(d) + " " + list + " decay " + std::to_string(decay);
      k.make = [=](Device dev) -> KernelCall {
        std::vector<Tensor> e = param_list(sizes, p0, d, dev), p = param_list(sizes, g, d, dev);
        return [=] {
          backend(dev).ema_update(refs_of(e), refs_of(p), decay);
          return std::vector<Tensor>{joined(e)};
        };
      };
      k.reference = [=] {
        Values e(n);
        for (size_t i = 0; i < n; ++i) e[i] = decay * p0[i] + (1 - decay) * g[i];
        return std::vector<Values>{e};
      };
      k.atol = tol_a(d);
      k.rtol = tol_r(d);
      k.bytes = 3 * double(n) * double(dtype_size(d));
      L.add(k);
    }
  }
  // sum_of_squares over float32 and float64 tensors in one list, as clip_grad_norm passes them
  for (bool mixed : {false, true}) {
    if (L.perf && mixed) continue;
    const Values x = dyadic(n, 5);
    BackendOpCase k;
    k.kernel = "sum_of_squares";
    k.label = std::string(mixed ? "float32 and float64 " : "float32 ") + list;
    k.make = [=](Device dev) -> KernelCall {
      std::vector<Tensor> a = param_list(sizes, x, DType::Float32, dev), b = param_list(sizes, x, DType::Float64, dev);
      std::vector<Tensor> ts;
      for (size_t j = 0; j < sizes.size(); ++j) ts.push_back(mixed && j % 2 ? b[j] : a[j]);
      Tensor out = full({}, 77.0, TensorOptions(DType::Float64, dev));
      return [=] {
        backend(dev).sum_of_squares(out.ref(), refs_of(ts));
        return std::vector<Tensor>{out};
      };
    };
    k.reference = [=] {
      double s = 0;
      for (double v : x) s += v * v;
      return std::vector<Values>{Values{s}};
    };
    k.atol = k.parity_atol = 1e-9;
    k.rtol = k.parity_rtol = 1e-12;
    k.bytes = double(n) * 4;
    L.add(k);
  }
}

}  // namespace ddpm::backend_ops
