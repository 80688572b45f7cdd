// Loop machinery shared by the CPU kernels (private to tensor/cpu): threading, dtype conversion, and
// walking strided layouts with an incrementing multi-index instead of a division per dim and element.
#pragma once
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <type_traits>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "tensor/backend.hpp"

namespace ddpm::cpu {

constexpr int kMaxDims = 6;
// Below this many elements a loop stays on one thread: waking threads costs microseconds.
constexpr int64_t kParallelGrain = 32768;

inline int max_threads() {
#ifdef _OPENMP
  return omp_in_parallel() ? 1 : omp_get_max_threads();
#else
  return 1;
#endif
}

// A machine shared with other work: when another process holds a core, an OpenMP thread can wait
// milliseconds to be scheduled, and every parallel region waits for its slowest thread, so a step of
// hundreds of short regions slows several-fold. parallel_for times how late its helper threads start;
// after a late start (kLateStart) it runs every loop on the calling thread alone for kAlone, then
// tries its threads again. On an idle machine threads start within microseconds and this never fires.
struct ThreadTeam {
  static constexpr int64_t kLateStart = 500'000;  // ns
  static constexpr int64_t kAlone = 250'000'000;  // ns
  static int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  static std::atomic<int64_t>& alone_until() {
    static std::atomic<int64_t> t{0};
    return t;
  }
};

// Runs f(begin, end) on disjoint pieces of [0, n) that cover it: one piece per thread, each at least
// `grain` long, or f(0, n) on this thread when n is small, we are already inside a parallel region or
// the threads started late a moment ago (ThreadTeam).
// f must not throw (an exception cannot leave an OpenMP region), so kernels check inputs beforehand.
template <typename F>
void parallel_for(int64_t n, int64_t grain, const F& f) {
  if (n <= 0) return;
  int64_t threads = std::min<int64_t>(max_threads(), (n + grain - 1) / std::max<int64_t>(grain, 1));
  if (threads > 1 && ThreadTeam::now() < ThreadTeam::alone_until().load(std::memory_order_relaxed)) threads = 1;
  if (threads <= 1) {
    f(int64_t(0), n);
    return;
  }
#ifdef _OPENMP
  const int64_t start = ThreadTeam::now();
  std::atomic<bool> late{false};
#pragma omp parallel num_threads(int(threads))
  {
    int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    if (t > 0 && ThreadTeam::now() - start > ThreadTeam::kLateStart) late.store(true, std::memory_order_relaxed);
    int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (begin < end) f(begin, end);
  }
  if (late.load(std::memory_order_relaxed))
    ThreadTeam::alone_until().store(ThreadTeam::now() + ThreadTeam::kAlone, std::memory_order_relaxed);
#endif
}

template <typename T>
inline bool is_nan(T x) {
  if constexpr (std::is_floating_point_v<T>) return std::isnan(x); else return false;
}

// N operands walked together over one shape: the shape, each operand's strides and base offset.
template <int N>
struct Strided {
  int ndim = 0;
  int64_t sizes[kMaxDims] = {1, 1, 1, 1, 1, 1};
  int64_t strides[N][kMaxDims] = {};
  int64_t base[N] = {};

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= sizes[d];
    return n;
  }
  // Every operand is a plain array from its base (element k at base + k): the vectorizable case.
  bool contiguous() const {
    if (ndim == 0) return true;
    if (ndim > 1) return false;
    for (int i = 0; i < N; ++i) if (strides[i][0] != 1) return false;
    return true;
  }
};

// The operands share the first layout's sizes (the front end broadcasts them beforehand).
template <int N>
Strided<N> make_strided(const std::array<const Layout*, N>& ls) {
  Strided<N> s;
  s.ndim = ls[0]->ndim;
  for (int d = 0; d < s.ndim; ++d) s.sizes[d] = ls[0]->sizes[d];
  for (int i = 0; i < N; ++i) {
    s.base[i] = ls[i]->offset;
    for (int d = 0; d < s.ndim; ++d) s.strides[i][d] = ls[i]->strides[d];
  }
  return s;
}

// Drops size-1 dims and merges neighbours that every operand steps through as one (stride[d] ==
// stride[d+1] * size[d+1]). Row-major order is unchanged; a contiguous tensor becomes 1-D, and a
// transposed or broadcast one keeps only the dims it needs, so the walker below does less work.
template <int N>
Strided<N> coalesce(const Strided<N>& s) {
  if (s.numel() == 0) return s;
  Strided<N> c;
  c.ndim = 0;
  for (int i = 0; i < N; ++i) c.base[i] = s.base[i];
  for (int d = 0; d < s.ndim; ++d) {
    if (s.sizes[d] == 1) continue;
    bool merge = c.ndim > 0;
    for (int i = 0; i < N && merge; ++i)
      merge = c.strides[i][c.ndim - 1] == s.strides[i][d] * s.sizes[d];
    if (merge) {
      c.sizes[c.ndim - 1] *= s.sizes[d];
      for (int i = 0; i < N; ++i) c.strides[i][c.ndim - 1] = s.strides[i][d];
    } else {
      c.sizes[c.ndim] = s.sizes[d];
      for (int i = 0; i < N; ++i) c.strides[i][c.ndim] = s.strides[i][d];
      ++c.ndim;
    }
  }
  return c;
}

// Steps through a Strided<N> in row-major order from element `start`, keeping the multi-index and
// each operand's storage offset current: one add and one compare per step in the common case.
template <int N>
struct Walker {
  const Strided<N>* s;
  int64_t index[kMaxDims] = {};
  int64_t offset[N];

  Walker(const Strided<N>& geometry, int64_t start) : s(&geometry) {
    for (int i = 0; i < N; ++i) offset[i] = s->base[i];
    for (int d = s->ndim - 1; d >= 0; --d) {
      int64_t q = start / s->sizes[d];
      index[d] = start - q * s->sizes[d];
      start = q;
      for (int i = 0; i < N; ++i) offset[i] += index[d] * s->strides[i][d];
    }
  }
  // Moves n elements ahead along the last dim (at most to the end of the current row), then carries
  // into the dims before it like an odometer.
  void advance(int64_t n) {
    for (int d = s->ndim - 1; d >= 0; --d, n = 1) {
      for (int i = 0; i < N; ++i) offset[i] += n * s->strides[i][d];
      index[d] += n;
      if (index[d] < s->sizes[d]) return;
      for (int i = 0; i < N; ++i) offset[i] -= s->strides[i][d] * s->sizes[d];
      index[d] = 0;
    }
  }
  void next() { advance(1); }
};

constexpr int64_t kTile = 32;

// Calls row(offsets, len) on runs of `len` elements along the last dim (operand i's elements are at
// offsets[i] + r * strides[i][last]) that together cover every element once, in parallel. Runs go
// in row-major order, or, when an operand is transposed in the last two dims (a permuted view being
// made contiguous), tile by tile over those two dims: a 32x32 tile keeps both the strided reads and
// the contiguous writes in cache, where whole rows would miss on every strided access.
template <int N, typename Row>
void for_each_row(const Strided<N>& s, const Row& row) {
  if (s.numel() == 0) return;
  const int last = s.ndim - 1;
  bool transposed = false;
  for (int i = 0; i < N && s.ndim >= 2; ++i)
    transposed |= s.strides[i][last - 1] == 1 && s.strides[i][last] != 1 && s.strides[i][last] != 0;
  if (!transposed) {
    parallel_for(s.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
      Walker<N> w(s, begin);
      for (int64_t k = begin; k < end;) {
        const int64_t len = std::min(s.sizes[last] - w.index[last], end - k);
        row(w.offset, len);
        w.advance(len);
        k += len;
      }
    });
    return;
  }
  const int64_t rows = s.sizes[last - 1], cols = s.sizes[last];
  const int64_t tile_rows = (rows + kTile - 1) / kTile, tile_cols = (cols + kTile - 1) / kTile;
  const int64_t tiles = tile_rows * tile_cols;  // per matrix
  Strided<N> batch = s;  // the dims before the last two: which matrix
  batch.ndim = s.ndim - 2;
  parallel_for(s.numel() / (rows * cols) * tiles, kParallelGrain / (kTile * kTile), [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const Walker<N> w(batch, t / tiles);
      const int64_t r0 = (t % tiles) / tile_cols * kTile, c0 = (t % tile_cols) * kTile;
      const int64_t r1 = std::min(rows, r0 + kTile), len = std::min(cols - c0, kTile);
      int64_t offset[N];
      for (int64_t r = r0; r < r1; ++r) {
        for (int i = 0; i < N; ++i) offset[i] = w.offset[i] + r * s.strides[i][last - 1] + c0 * s.strides[i][last];
        row(offset, len);
      }
    }
  });
}

// out[k] = f(a[k]) for same-shaped operands; TO and TA are the stored C++ types.
template <typename TO, typename TA, typename F>
void map1(TensorRef out, TensorRef a, const F& f) {
  Strided<2> s = coalesce(make_strided<2>({&out.layout, &a.layout}));
  TO* po = static_cast<TO*>(out.data);
  const TA* pa = static_cast<const TA*>(a.data);
  if (s.contiguous()) {
    po += s.base[0];
    pa += s.base[1];
    parallel_for(s.numel(), kParallelGrain, [po, pa, &f](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) po[k] = f(pa[k]);
    });
  } else {
    const int64_t so = s.strides[0][s.ndim - 1], sa = s.strides[1][s.ndim - 1];
    for_each_row(s, [=, &f](const int64_t* off, int64_t len) {
      TO* o = po + off[0];
      const TA* x = pa + off[1];
      if (so == 1 && sa == 1) {  // rows of a strided view that are contiguous: a loop that vectorizes
        for (int64_t r = 0; r < len; ++r) o[r] = f(x[r]);
      } else {
        for (int64_t r = 0; r < len; ++r) o[r * so] = f(x[r * sa]);
      }
    });
  }
}

// out[k] = f(a[k], b[k]).
template <typename TO, typename TA, typename TB, typename F>
void map2(TensorRef out, TensorRef a, TensorRef b, const F& f) {
  Strided<3> s = coalesce(make_strided<3>({&out.layout, &a.layout, &b.layout}));
  TO* po = static_cast<TO*>(out.data);
  const TA* pa = static_cast<const TA*>(a.data);
  const TB* pb = static_cast<const TB*>(b.data);
  if (s.contiguous()) {
    po += s.base[0];
    pa += s.base[1];
    pb += s.base[2];
    parallel_for(s.numel(), kParallelGrain, [po, pa, pb, &f](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) po[k] = f(pa[k], pb[k]);
    });
  } else {
    const int64_t so = s.strides[0][s.ndim - 1], sa = s.strides[1][s.ndim - 1], sb = s.strides[2][s.ndim - 1];
    for_each_row(s, [=, &f](const int64_t* off, int64_t len) {
      TO* o = po + off[0];
      const TA* x = pa + off[1];
      const TB* y = pb + off[2];
      // Rows of a broadcast (x + bias[c], a per-channel scale): unit strides and one operand held
      // fixed get loops of their own, which vectorize; any other strides take the general loop.
      if (so == 1 && sa == 1 && sb == 1) {
        for (int64_t r = 0; r < len; ++r) o[r] = f(x[r], y[r]);
      } else if (so == 1 && sa == 1 && sb == 0) {
        const TB v = y[0];
        for (int64_t r = 0; r < len; ++r) o[r] = f(x[r], v);
      } else if (so == 1 && sa == 0 && sb == 1) {
        const TA u = x[0];
        for (int64_t r = 0; r < len; ++r) o[r] = f(u, y[r]);
      } else {
        for (int64_t r = 0; r < len; ++r) o[r * so] = f(x[r * sa], y[r * sb]);
      }
    });
  }
}

// out[k] = f(a[k], b[k], c[k]).
template <typename TO, typename TA, typename TB, typename TC, typename F>
void map3(TensorRef out, TensorRef a, TensorRef b, TensorRef c, const F& f) {
  Strided<4> s = coalesce(make_strided<4>({&out.layout, &a.layout, &b.layout, &c.layout}));
  TO* po = static_cast<TO*>(out.data);
  const TA* pa = static_cast<const TA*>(a.data);
  const TB* pb = static_cast<const TB*>(b.data);
  const TC* pc = static_cast<const TC*>(c.data);
  if (s.contiguous()) {
    po += s.base[0];
    pa += s.base[1];
    pb += s.base[2];
    pc += s.base[3];
    parallel_for(s.numel(), kParallelGrain, [po, pa, pb, pc, &f](int64_t begin, int64_t end) {
      for (int64_t k = begin; k < end; ++k) po[k] = f(pa[k], pb[k], pc[k]);
    });
  } else {
    const int64_t so = s.strides[0][s.ndim - 1], sa = s.strides[1][s.ndim - 1], sb = s.strides[2][s.ndim - 1],
                  sc = s.strides[3][s.ndim - 1];
    for_each_row(s, [=, &f](const int64_t* off, int64_t len) {
      TO* o = po + off[0];
      const TA* x = pa + off[1];
      const TB* y = pb + off[2];
      const TC* z = pc + off[3];
      for (int64_t r = 0; r < len; ++r) o[r * so] = f(x[r * sa], y[r * sb], z[r * sc]);
    });
  }
}

}  // namespace ddpm::cpu
