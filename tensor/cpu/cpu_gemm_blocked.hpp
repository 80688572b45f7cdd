// The float32 GEMM engine of the CPU (private to tensor/cpu): BLIS-style blocking around one
// register-tiled micro-kernel, with the operands' packing left to the caller, so that a convolution
// can pack its im2col columns tile by tile into cache instead of writing the whole column matrix.
//
// C[m, n] (row-major, leading dim ldc) = A[m, k] @ B[k, n], or += when `accumulate`.
// The loops (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication", 2008):
//   for jc in n step kNC:                     B block  [kKC, kNC], packed in NR-wide panels
//     for pc in k step kKC:
//       pack_b(pc, kc, jc, nc, Bp)
//       for ic in m step kMC:                 A block  [kMC, kKC], packed in MR-tall panels
//         pack_a(ic, mc, pc, kc, Ap)
//         for each MR x NR tile: micro_kernel(kc, Ap panel, Bp panel) -> C tile
// A packer writes panels of MR rows: Ap[panel][p][i] = A(ic + panel*MR + i, pc + p), zero past m;
// a B packer writes panels of NR columns: Bp[panel][p][j] = B(pc + p, jc + panel*NR + j), zero past n.
// The readable reference is a triple loop (tests/ checks this engine against one).
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>
#if defined(__AVX512F__) || defined(__FMA__)
#include <immintrin.h>
#endif

#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu::blocked {

#if defined(__AVX512F__)
constexpr int kVec = 16;  // floats per register: zmm
constexpr int kMR = 8;    // 8 x 32 tile: 16 accumulators of the 32 zmm; 8 divides the U-Net's widths
#else
constexpr int kVec = 8;   // ymm (AVX2), or two xmm where the compiler has only SSE
constexpr int kMR = 6;    // 6 x 16 tile: 12 accumulators of the 16 ymm registers
#endif
constexpr int kNR = 2 * kVec;
constexpr int64_t kKC = 256;        // depth of a packed block: a B panel (kKC x kNR) stays in L1
constexpr int64_t kMC = 144;        // rows of a packed A block (kMC x kKC, in L2): 18 x 8, 24 x 6
constexpr int64_t kNC = 1536;       // columns of a packed B block (kKC x kNC, in L2)

typedef float VecF __attribute__((vector_size(kVec * sizeof(float))));

inline VecF load(const float* p) {
  VecF v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, VecF v) { std::memcpy(p, &v, sizeof v); }

// acc + a * b in one rounding (a fused multiply-add). Spelled out: the project builds with
// -ffp-contract=off (element math rounds as written on both devices), which would otherwise split
// it into a multiply and an add, two instructions and half the GEMM's speed.
inline VecF fma(VecF a, VecF b, VecF acc) {
#if defined(__AVX512F__)
  return VecF(_mm512_fmadd_ps(__m512(a), __m512(b), __m512(acc)));
#elif defined(__FMA__)
  return VecF(_mm256_fmadd_ps(__m256(a), __m256(b), __m256(acc)));
#else
  return acc + a * b;
#endif
}
inline VecF broadcast(float x) { return VecF{} + x; }

// Where the micro-kernel finds row p of its B panel (NR floats): a packed panel [kc][NR], or rows
// of a matrix read in place, row p at base + offsets[p] (the shifted rows of a padded image).
struct PackedPanel {
  const float* b;
  const float* row(int64_t p) const { return b + p * kNR; }
};
struct OffsetRows {
  const float* base;
  const int64_t* offsets;
  const float* row(int64_t p) const { return base + offsets[p]; }
};

// c[MR x NR] (row stride ldc) = or += a_panel^T b_panel over kc: a is [kc][MR], b's rows as above.
// Only the top-left mr x nr of the tile is written (edge tiles go through a buffer).
template <typename Panel>
inline void micro_kernel(int64_t kc, const float* __restrict a, const Panel& b, float* c, int64_t ldc,
                         bool accumulate, int mr, int nr) {
  VecF acc[kMR][2];
#pragma GCC unroll 16
  for (int i = 0; i < kMR; ++i) acc[i][0] = acc[i][1] = VecF{};
  for (int64_t p = 0; p < kc; ++p) {
    const float* bp = b.row(p);
    const VecF b0 = load(bp), b1 = load(bp + kVec);
    const float* ap = a + p * kMR;
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i) {
      const VecF a_i = broadcast(ap[i]);
      acc[i][0] = fma(a_i, b0, acc[i][0]);
      acc[i][1] = fma(a_i, b1, acc[i][1]);
    }
  }
  if (mr == kMR && nr == kNR) {
#pragma GCC unroll 16
    for (int i = 0; i < kMR; ++i) {
      float* row = c + i * ldc;
      if (accumulate) {
        store(row, load(row) + acc[i][0]);
        store(row + kVec, load(row + kVec) + acc[i][1]);
      } else {
        store(row, acc[i][0]);
        store(row + kVec, acc[i][1]);
      }
    }
    return;
  }
  float tile[kMR][kNR];
  for (int i = 0; i < kMR; ++i) {
    store(tile[i], acc[i][0]);
    store(tile[i] + kVec, acc[i][1]);
  }
  for (int i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    if (accumulate) for (int j = 0; j < nr; ++j) row[j] += tile[i][j];
    else for (int j = 0; j < nr; ++j) row[j] = tile[i][j];
  }
}

// The packing buffers of one thread, grown once and reused: no allocation in a steady state.
struct PackBuffers {
  std::vector<float> a, b;
  static PackBuffers& of_this_thread() {
    static thread_local PackBuffers buffers;
    return buffers;
  }
};

// Packs A(i, p) = a[i * rs + p * cs] scaled by alpha, rows [i0, i0 + mc) and depth [p0, p0 + kc).
struct StridedA {
  const float* a;
  int64_t rs, cs;
  float alpha;
  void operator()(int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) const {
    for (int64_t ip = 0; ip < mc; ip += kMR, dst += kc * kMR) {
      const int rows = int(std::min<int64_t>(kMR, mc - ip));
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + (i0 + ip) * rs + (p0 + p) * cs;
        float* d = dst + p * kMR;
        int i = 0;
        if (alpha == 1.0f) for (; i < rows; ++i) d[i] = src[i * rs];
        else for (; i < rows; ++i) d[i] = alpha * src[i * rs];
        for (; i < kMR; ++i) d[i] = 0.0f;
      }
    }
  }
};

// Packs B(p, j) = b[p * rs + j * cs], depth [p0, p0 + kc) and columns [j0, j0 + nc).
struct StridedB {
  const float* b;
  int64_t rs, cs;
  void operator()(int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) const {
    for (int64_t jp = 0; jp < nc; jp += kNR, dst += kc * kNR) {
      const int cols = int(std::min<int64_t>(kNR, nc - jp));
      const float* base = b + p0 * rs + (j0 + jp) * cs;
      if (cs == 1 && cols == kNR) {  // rows of B are contiguous: copy NR floats at a time
        for (int64_t p = 0; p < kc; ++p) std::memcpy(dst + p * kNR, base + p * rs, kNR * sizeof(float));
      } else if (rs == 1) {  // columns of B are contiguous (a transposed operand): walk down each
        for (int j = 0; j < kNR; ++j) {
          if (j < cols) {
            const float* col = base + j * cs;
            for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = col[p];
          } else {
            for (int64_t p = 0; p < kc; ++p) dst[p * kNR + j] = 0.0f;
          }
        }
      } else {
        for (int64_t p = 0; p < kc; ++p) {
          float* d = dst + p * kNR;
          int j = 0;
          for (; j < cols; ++j) d[j] = base[p * rs + j * cs];
          for (; j < kNR; ++j) d[j] = 0.0f;
        }
      }
    }
  }
};

// Where the B block of the loops above comes from: packed by a packer into this thread's buffer,
// or read in place as OffsetRows (no packing). prepare() fills the block [pc, pc + kc) x [jc, jc + nc);
// panel() gives the micro-kernel the NR-wide panel that starts jr columns into it.
template <typename PackB>
struct PackedB {
  const PackB& pack;
  float* buffer;
  void prepare(int64_t pc, int64_t kc, int64_t jc, int64_t nc) const { pack(pc, kc, jc, nc, buffer); }
  PackedPanel panel(int64_t, int64_t kc, int64_t, int64_t jr) const { return PackedPanel{buffer + (jr / kNR) * kc * kNR}; }
};
struct InPlaceB {
  const float* base;       // B(p, j) = base[offsets[p] + j]
  const int64_t* offsets;
  void prepare(int64_t, int64_t, int64_t, int64_t) const {}
  OffsetRows panel(int64_t pc, int64_t, int64_t jc, int64_t jr) const { return OffsetRows{base + jc + jr, offsets + pc}; }
};

// The loops, on this thread: C[m, n] = (or += when accumulate) A @ B, with A packed by pack_a.
template <typename PackA, typename BSource>
void gemm_loops(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const BSource& b, float* c, int64_t ldc,
                bool accumulate) {
  PackBuffers& buf = PackBuffers::of_this_thread();
  const int64_t kc_max = std::min(k, kKC);
  const int64_t mc_max = (std::min(m, kMC) + kMR - 1) / kMR * kMR;
  if (buf.a.size() < size_t(kc_max * mc_max)) buf.a.resize(size_t(kc_max * mc_max));
  for (int64_t jc = 0; jc < n; jc += kNC) {
    const int64_t nc = std::min(kNC, n - jc);
    for (int64_t pc = 0; pc < k; pc += kKC) {
      const int64_t kc = std::min(kKC, k - pc);
      const bool acc = accumulate || pc > 0;
      b.prepare(pc, kc, jc, nc);
      for (int64_t ic = 0; ic < m; ic += kMC) {
        const int64_t mc = std::min(kMC, m - ic);
        pack_a(ic, mc, pc, kc, buf.a.data());
        for (int64_t jr = 0; jr < nc; jr += kNR) {
          const int nr = int(std::min<int64_t>(kNR, nc - jr));
          const auto panel = b.panel(pc, kc, jc, jr);
          for (int64_t ir = 0; ir < mc; ir += kMR) {
            const int mr = int(std::min<int64_t>(kMR, mc - ir));
            micro_kernel(kc, buf.a.data() + (ir / kMR) * kc * kMR, panel, c + (ic + ir) * ldc + jc + jr, ldc, acc,
                         mr, nr);
          }
        }
      }
    }
  }
}

// C[m, n] = (or += when accumulate) A @ B over the ranges, on this thread. pack_a / pack_b as above.
template <typename PackA, typename PackB>
void gemm(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const PackB& pack_b, float* c, int64_t ldc,
          bool accumulate) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate)
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc, c + i * ldc + n, 0.0f);
    return;
  }
  PackBuffers& buf = PackBuffers::of_this_thread();
  const int64_t nc_max = (std::min(n, kNC) + kNR - 1) / kNR * kNR;
  if (buf.b.size() < size_t(std::min(k, kKC) * nc_max)) buf.b.resize(size_t(std::min(k, kKC) * nc_max));
  gemm_loops(m, n, k, pack_a, PackedB<PackB>{pack_b, buf.b.data()}, c, ldc, accumulate);
}

// C[m, n] = (or += when accumulate) A @ B where B is read in place: B(p, j) = base[offsets[p] + j]
// (no packing; base must be readable NR floats past the last column). A packed by pack_a; k > 0.
template <typename PackA>
void gemm_offset_rows(int64_t m, int64_t n, int64_t k, const PackA& pack_a, const float* base,
                      const int64_t* offsets, float* c, int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  gemm_loops(m, n, k, pack_a, InPlaceB{base, offsets}, c, ldc, accumulate);
}

// ---- Threading -------------------------------------------------------------------------------
// A thread's piece of a GEMM should hold at least this many multiply-adds: below it, waking a
// thread costs more than the piece.
constexpr int64_t kGemmGrain = int64_t(1) << 17;

// Runs product(b, j0, j1), product b's output columns [j0, j1), over every b in [0, batch): whole
// products per thread when there are enough, else each product's columns split in NR-wide panels.
template <typename F>
void for_each_product(int64_t batch, int64_t m, int64_t n, int64_t k, const F& product) {
  const int64_t work = std::max<int64_t>(1, m * n * k);
  if (batch >= max_threads() || (batch > 1 && work < kGemmGrain)) {
    parallel_for(batch, std::max<int64_t>(1, kGemmGrain / work), [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) product(b, int64_t(0), n);
    });
    return;
  }
  const int64_t panels = (n + kNR - 1) / kNR, panel_work = std::max<int64_t>(1, m * k * kNR);
  for (int64_t b = 0; b < batch; ++b) {
    parallel_for(panels, std::max<int64_t>(1, kGemmGrain / panel_work), [&](int64_t begin, int64_t end) {
      product(b, begin * kNR, std::min(n, end * kNR));
    });
  }
}

// out[m, n] (ldc) = (or += when accumulate) the sum over b in [0, batch) of product b, where
// product(b0, b1, c, ldc, add) writes the sum of products b0..b1-1 (at most `chunk` of them) into c,
// or adds it when add. Each thread sums its share of the batch into its own buffer; the buffers are
// added to out in thread order, so the result does not depend on timing.
template <typename F>
void sum_over_batch(int64_t batch, int64_t chunk, int64_t m, int64_t n, int64_t k, float* out, int64_t ldc,
                    bool accumulate, const F& product) {
  auto share = [&](int64_t b0, int64_t b1, float* c, int64_t ld, bool add) {
    for (int64_t b = b0; b < b1; b += chunk) product(b, std::min(b1, b + chunk), c, ld, add || b > b0);
  };
  const int64_t work = std::max<int64_t>(1, m * n * k);
  const int64_t pieces = std::min<int64_t>({max_threads(), batch, std::max<int64_t>(1, batch * work / kGemmGrain)});
  if (pieces <= 1) {
    share(0, batch, out, ldc, accumulate);
    return;
  }
  static thread_local std::vector<float> partial;  // [pieces, m, n], grown once
  const int64_t mn = m * n;
  if (partial.size() < size_t(pieces * mn)) partial.resize(size_t(pieces * mn));
  float* parts = partial.data();
  parallel_for(pieces, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) share(batch * t / pieces, batch * (t + 1) / pieces, parts + t * mn, n, false);
  });
  for (int64_t t = 0; t < pieces; ++t) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = out + i * ldc;
      const float* src = parts + t * mn + i * n;
      if (accumulate || t > 0) for (int64_t j = 0; j < n; ++j) row[j] += src[j];
      else std::copy(src, src + n, row);
    }
  }
}

}  // namespace ddpm::cpu::blocked
