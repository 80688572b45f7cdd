// Stride-1 convolutions on a zero-padded copy of each image: each row (c, i, j) of the column matrix
// is then that copy shifted by c*Hp*Wp + i*Wp + j, so the GEMMs read it in place and no column
// matrix is written or packed (cpu_conv.cpp packs it tile by tile for the other geometries).
// The output is computed over the padded width Wp and its Wp - out_w extra columns are dropped.
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_conv_direct.hpp"
#include "tensor/cpu/cpu_fast_math.hpp"
#include "tensor/cpu/cpu_gemm_blocked.hpp"

namespace ddpm::cpu {
namespace {

using blocked::kNR;
using blocked::kVec;
using blocked::VecF;

// The padded image [C, Hp, Wp] and the extended output positions q = oh * Wp + ow, ow in [0, Wp).
struct Padded {
  int64_t hp, wp, plane, q, q_vec, floats;
  explicit Padded(const ConvGeometry& g)
      : hp(g.height + 2 * g.pad_h), wp(g.width + 2 * g.pad_w), plane(hp * wp), q(g.out_h * wp),
        q_vec((q + kVec - 1) / kVec * kVec),
        // the last row's reads run kh-1 rows and kw-1 columns past q, plus up to one panel or vector
        floats(g.channels * plane + (g.kh - 1) * wp + g.kw - 1 + std::max<int64_t>(kNR, kVec)) {}
};

// Offsets of the column matrix's rows in the padded image: row (c, i, j) starts at c*plane + i*wp + j.
// (The calling thread's buffer, valid until its next call: no allocation once it has grown.)
const std::vector<int64_t>& row_offsets(const ConvGeometry& g, const Padded& pd) {
  static thread_local std::vector<int64_t> off;
  off.clear();
  for (int64_t c = 0; c < g.channels; ++c)
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) off.push_back(c * pd.plane + i * pd.wp + j);
  return off;
}

// dst [C, Hp, Wp] (+ slack, all zero but the image) from image x [C, H, W], or from silu(x). Each float
// is written once: the image rows with their left and right padding, the top and bottom rows, the slack.
void pad_image(const float* x, const ConvGeometry& g, const Padded& pd, std::vector<float>& dst, bool silu) {
  if (dst.size() < size_t(pd.floats)) dst.resize(size_t(pd.floats));
  float* d = dst.data();
  const int64_t right = pd.wp - g.pad_w - g.width;
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = d + c * pd.plane;
    std::fill(plane, plane + g.pad_h * pd.wp, 0.0f);
    for (int64_t y = 0; y < g.height; ++y) {
      float* row = plane + (y + g.pad_h) * pd.wp;
      const float* src = x + (c * g.height + y) * g.width;
      for (int64_t i = 0; i < g.pad_w; ++i) row[i] = 0.0f;
      if (silu) for (int64_t i = 0; i < g.width; ++i) row[g.pad_w + i] = silu_fast(src[i]);
      else for (int64_t i = 0; i < g.width; ++i) row[g.pad_w + i] = src[i];
      for (int64_t i = 0; i < right; ++i) row[g.pad_w + g.width + i] = 0.0f;
    }
    std::fill(plane + (g.pad_h + g.height) * pd.wp, plane + pd.plane, 0.0f);
  }
  std::fill(d + g.channels * pd.plane, d + pd.floats, 0.0f);
}

}  // namespace

bool conv_is_stride1(const ConvGeometry& g) { return g.stride_h == 1 && g.stride_w == 1; }

void conv2d_stride1(float* y, const float* x, const float* w, const float* bias, int64_t cout,
                    const ConvGeometry& g, bool silu_x) {
  const Padded pd(g);
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const std::vector<int64_t>& off = row_offsets(g, pd);
  // y[b] on the padded width: [Cout, q] = W [Cout, rows] @ (padded x[b] shifted by off[p]) [rows, q]
  blocked::for_each_product(g.batch, cout, pd.q, rows, [&](int64_t b, int64_t j0, int64_t j1) {
    static thread_local std::vector<float> xpad, wide;
    pad_image(x + b * g.channels * g.height * g.width, g, pd, xpad, silu_x);
    const int64_t n = j1 - j0;
    if (wide.size() < size_t(cout * n)) wide.resize(size_t(cout * n));
    blocked::StridedA a{w, rows, 1, 1.0f};
    blocked::gemm_offset_rows(cout, n, rows, a, xpad.data() + j0, off.data(), wide.data(), n, false);
    // keep the real columns (extended position q = oh * wp + ow is output oh * out_w + ow if
    // ow < out_w), adding the bias on the way
    float* yb = y + b * cout * l;
    for (int64_t q = j0; q < j1;) {
      const int64_t oh = q / pd.wp, ow = q % pd.wp, run = std::min(j1 - q, pd.wp - ow);
      const int64_t real = std::max<int64_t>(0, std::min(run, g.out_w - ow));
      for (int64_t co = 0; co < cout && real > 0; ++co) {
        const float* src = wide.data() + co * n + (q - j0);
        float* dst = yb + co * l + oh * g.out_w + ow;
        const float add = bias ? bias[co] : 0.0f;
        for (int64_t t = 0; t < real; ++t) dst[t] = src[t] + add;
      }
      q += run;
    }
  });
}

namespace {

// A tile of kTileCo x kTileP weight-gradient entries, as vectors of partial sums over positions.
constexpr int kTileCo = 4;
constexpr int kTileP = kVec == 16 ? 4 : 2;  // 16 or 8 accumulators: within the register file

// out[co, p] (ldc) = (or += when add) sum over the images of the chunk and positions q < q_vec of
// dy[co, q] * xpad[off[p] + q], dy's rows q_vec apart, for co in [co0, co0 + kTileCo) ∩ [0, cout), p likewise in [0, rows).
void dot_tile(const std::vector<const float*>& dys, const std::vector<const float*>& xs, const int64_t* off,
              int64_t q_vec, int64_t co0, int64_t cout, int64_t p0, int64_t rows, float* out,
              int64_t ldc, bool add) {
  VecF acc[kTileCo][kTileP];
  for (auto& r : acc)
    for (auto& v : r) v = VecF{};
  for (size_t b = 0; b < dys.size(); ++b) {
    const float* d[kTileCo];
    const float* xr[kTileP];
    for (int i = 0; i < kTileCo; ++i) d[i] = dys[b] + std::min(co0 + i, cout - 1) * q_vec;  // clamped: unused
    for (int j = 0; j < kTileP; ++j) xr[j] = xs[b] + off[std::min(p0 + j, rows - 1)];
    for (int64_t q = 0; q < q_vec; q += kVec) {
      VecF dv[kTileCo], xv[kTileP];
      for (int i = 0; i < kTileCo; ++i) dv[i] = blocked::load(d[i] + q);
      for (int j = 0; j < kTileP; ++j) xv[j] = blocked::load(xr[j] + q);
      for (int i = 0; i < kTileCo; ++i)
        for (int j = 0; j < kTileP; ++j) acc[i][j] = blocked::fma(dv[i], xv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < kTileCo && co0 + i < cout; ++i) {
    for (int j = 0; j < kTileP && p0 + j < rows; ++j) {
      float lanes[kVec];
      blocked::store(lanes, acc[i][j]);
      float s = 0.0f;
      for (int k = 0; k < kVec; ++k) s += lanes[k];
      float& o = out[(co0 + i) * ldc + p0 + j];
      o = add ? o + s : s;
    }
  }
}

}  // namespace

void conv2d_weight_grad_stride1(float* dw, const float* dy, const float* x, int64_t cout, const ConvGeometry& g,
                                bool silu_x) {
  const Padded pd(g);
  const int64_t rows = g.channels * g.kh * g.kw, l = g.out_h * g.out_w;
  const std::vector<int64_t>& off = row_offsets(g, pd);
  // A chunk of images shares each tile's accumulators, so the horizontal sums are paid once per chunk.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(8, 4096 / pd.q_vec));
  // dW [Cout, rows] = sum_b dy[b] (on the padded width, zero in the extra columns) [Cout, q]
  //                   @ (padded x[b] shifted by off[p])^T [q, rows]
  blocked::sum_over_batch(
      g.batch, chunk, cout, rows, pd.q, dw, rows, false, [&](int64_t b0, int64_t b1, float* out, int64_t ldc, bool add) {
        static thread_local std::vector<std::vector<float>> xpads, dywides;
        static thread_local std::vector<const float*> xs, dys;
        const int64_t nb = b1 - b0;
        if (int64_t(xpads.size()) < nb) xpads.resize(size_t(nb)), dywides.resize(size_t(nb));
        xs.clear();
        dys.clear();
        for (int64_t t = 0; t < nb; ++t) {
          const int64_t b = b0 + t;
          pad_image(x + b * g.channels * g.height * g.width, g, pd, xpads[size_t(t)], silu_x);
          std::vector<float>& wide = dywides[size_t(t)];  // [Cout, q_vec]: dy on the padded width
          if (wide.size() < size_t(cout * pd.q_vec)) wide.resize(size_t(cout * pd.q_vec));
          for (int64_t co = 0; co < cout; ++co) {
            float* dst = wide.data() + co * pd.q_vec;
            const float* src = dy + (b * cout + co) * l;
            for (int64_t oh = 0; oh < g.out_h; ++oh) {
              float* row = dst + oh * pd.wp;
              for (int64_t ow = 0; ow < g.out_w; ++ow) row[ow] = src[oh * g.out_w + ow];
              for (int64_t ow = g.out_w; ow < pd.wp; ++ow) row[ow] = 0.0f;  // the extra columns count 0
            }
            std::fill(dst + pd.q, dst + pd.q_vec, 0.0f);
          }
          xs.push_back(xpads[size_t(t)].data());
          dys.push_back(wide.data());
        }
        for (int64_t co0 = 0; co0 < cout; co0 += kTileCo)
          for (int64_t p0 = 0; p0 < rows; p0 += kTileP)
            dot_tile(dys, xs, off.data(), pd.q_vec, co0, cout, p0, rows, out, ldc, add);
      });
}

}  // namespace ddpm::cpu
