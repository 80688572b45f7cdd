// Reductions (sum, mean, max, min, argmax, argmin, var) over rows of `inner` elements, and softmax.
// The front end permutes the reduced dims to the end, so output o reduces elements [o*inner, (o+1)*inner).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/reduce_args.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

// Sums accumulate in double for float32 (and float64), in int64 for ints.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Rows longer than this are summed in fixed blocks (see block_sums).
constexpr int64_t kSumBlock = 16384;
// Outputs per block of accumulators in sum_columns (8 KiB of doubles: stays in L1).
constexpr int64_t kColumnBlock = 1024;

// Sum of term(x) over n elements at stride `step`, into independent accumulators: with one, every
// add waits for the previous one (4 cycles). A contiguous run (step 1) gets eight, in a loop the
// compiler turns into vector adds (one AVX-512 register of doubles); a strided one four.
template <typename A, typename T, typename F>
A sum_run(const T* p, int64_t n, int64_t step, const F& term) {
  if (step == 1) {
    A a[8] = {};
    int64_t r = 0;
    for (; r + 8 <= n; r += 8)
      for (int j = 0; j < 8; ++j) a[j] += term(p[r + j]);
    for (; r < n; ++r) a[0] += term(p[r]);
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  }
  A a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t r = 0;
  for (; r + 4 <= n; r += 4) {
    a0 += term(p[r * step]);
    a1 += term(p[(r + 1) * step]);
    a2 += term(p[(r + 2) * step]);
    a3 += term(p[(r + 3) * step]);
  }
  for (; r < n; ++r) a0 += term(p[r * step]);
  return (a0 + a1) + (a2 + a3);
}

// A row of n elements, handed to reducers as runs: f(pointer, length, stride) along the input's
// last dim. A contiguous row is one run of stride 1.
template <typename T>
struct ContiguousRow {
  const T* p;
  int64_t n;
  template <typename F> void runs(const F& f) const { f(p, n, int64_t(1)); }
};

// A row of a strided input, starting where `start` stands. runs() may be called more than once (var
// makes two passes); it leaves *cursor at the start of the next row.
template <typename T>
struct StridedRow {
  const T* data;
  int64_t n;
  Walker<1> start;
  Walker<1>* cursor;
  template <typename F> void runs(const F& f) const {
    Walker<1> w = start;
    const int last = w.s->ndim - 1;
    for (int64_t done = 0; done < n;) {
      const int64_t len = std::min(w.s->sizes[last] - w.index[last], n - done);
      f(data + w.offset[0], len, w.s->strides[0][last]);
      w.advance(len);
      done += len;
    }
    *cursor = w;
  }
};

// f(x) for every element of a row, in order.
template <typename Row, typename F>
void for_each_in(const Row& row, const F& f) {
  row.runs([&f](const auto* p, int64_t len, int64_t step) {
    for (int64_t r = 0; r < len; ++r) f(p[r * step]);
  });
}

// Folds a row with an associative fold (max, min): four lanes, acc_j = fold(acc_j, x), combined by
// fold at the end. One lane would wait on each compare-and-select before the next (a long chain).
template <typename A, typename Row, typename F>
A fold_of(const Row& row, A init, const F& fold) {
  A a0 = init, a1 = init, a2 = init, a3 = init;
  row.runs([&](const auto* p, int64_t len, int64_t step) {
    int64_t r = 0;
    for (; r + 4 <= len; r += 4) {
      a0 = fold(a0, p[r * step]);
      a1 = fold(a1, p[(r + 1) * step]);
      a2 = fold(a2, p[(r + 2) * step]);
      a3 = fold(a3, p[(r + 3) * step]);
    }
    for (; r < len; ++r) a0 = fold(a0, p[r * step]);
  });
  return fold(fold(a0, a1), fold(a2, a3));
}

// The sum of term(x) over a row.
template <typename A, typename Row, typename F>
A sum_of(const Row& row, const F& term) {
  A acc = 0;
  row.runs([&](const auto* p, int64_t len, int64_t step) { acc += sum_run<A>(p, len, step, term); });
  return acc;
}

// out[o] = reduce_row(row o) for every row, rows split across threads.
template <typename T, typename O, typename F>
void reduce_rows(TensorRef out, TensorRef in, int64_t inner, const F& reduce_row) {
  O* po = static_cast<O*>(out.data) + out.layout.offset;
  const T* pi = static_cast<const T*>(in.data);
  const int64_t outer = out.layout.numel();
  if (inner == 0) {  // only sum gets here: every output is the empty sum
    for (int64_t o = 0; o < outer; ++o) po[o] = reduce_row(ContiguousRow<T>{pi, 0});
    return;
  }
  Strided<1> s = coalesce(make_strided<1>({&in.layout}));
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / inner);
  if (s.contiguous()) {
    pi += s.base[0];
    parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) po[o] = reduce_row(ContiguousRow<T>{pi + o * inner, inner});
    });
  } else {
    parallel_for(outer, grain, [&](int64_t begin, int64_t end) {
      Walker<1> w(s, begin * inner);  // rows are consecutive in row-major order: one walker per thread
      for (int64_t o = begin; o < end; ++o) po[o] = reduce_row(StridedRow<T>{pi, inner, w, &w});
    });
  }
}

// The sums of term(row, x) over each row, for rows longer than kSumBlock. Each row is cut into
// fixed blocks summed in parallel, then the block sums are added in order: the result does not
// depend on the thread count, and the blocking keeps the rounding error small too.
template <typename T, typename F>
std::vector<Acc<T>> block_sums(TensorRef in, int64_t outer, int64_t inner, const F& term) {
  Strided<1> s = coalesce(make_strided<1>({&in.layout}));
  const T* p = static_cast<const T*>(in.data);
  const int64_t blocks = (inner + kSumBlock - 1) / kSumBlock;
  std::vector<Acc<T>> partial(size_t(outer * blocks));
  parallel_for(outer * blocks, 2, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t row = t / blocks, first = row * inner + (t % blocks) * kSumBlock;
      const int64_t len = std::min(kSumBlock, (row + 1) * inner - first);
      auto row_term = [&term, row](T x) { return term(row, x); };
      if (s.contiguous()) {
        partial[size_t(t)] = sum_of<Acc<T>>(ContiguousRow<T>{p + s.base[0] + first, len}, row_term);
      } else {
        Walker<1> w(s, first);
        partial[size_t(t)] = sum_of<Acc<T>>(StridedRow<T>{p, len, w, &w}, row_term);
      }
    }
  });
  std::vector<Acc<T>> sums(size_t(outer), Acc<T>(0));
  for (int64_t row = 0; row < outer; ++row)
    for (int64_t b = 0; b < blocks; ++b) sums[size_t(row)] += partial[size_t(row * blocks + b)];
  return sums;
}

// Sum, mean and var of long rows, through block_sums (var: two passes, mean then squared deviations).
template <typename T, typename O>
void reduce_long_rows(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) {
  O* po = static_cast<O*>(out.data) + out.layout.offset;
  const int64_t outer = out.layout.numel();
  std::vector<Acc<T>> sums = block_sums<T>(in, outer, inner, [](int64_t, T x) { return Acc<T>(x); });
  if (op == ReduceOp::Sum) {
    for (int64_t o = 0; o < outer; ++o) po[o] = convert<O>(sums[size_t(o)]);
    return;
  }
  std::vector<double> mean(static_cast<size_t>(outer));
  for (int64_t o = 0; o < outer; ++o) mean[size_t(o)] = double(sums[size_t(o)]) / double(inner);
  if (op == ReduceOp::Mean) {
    for (int64_t o = 0; o < outer; ++o) po[o] = convert<O>(mean[size_t(o)]);
    return;
  }
  if constexpr (std::is_floating_point_v<T>) {  // var (floats only)
    std::vector<double> squares = block_sums<T>(in, outer, inner, [&mean](int64_t row, T x) {
      double d = double(x) - mean[size_t(row)];
      return d * d;
    });
    const double denom = double(std::max<int64_t>(inner - correction, 0));
    for (int64_t o = 0; o < outer; ++o) po[o] = convert<O>(squares[size_t(o)] / denom);
  }
}

// True when the input, coalesced, is [outer, inner] with the outputs adjacent in memory (stride 1)
// and the reduced elements far apart: a sum over the leading dim, such as a bias gradient.
bool is_column_sum(const Strided<1>& s, int64_t outer, int64_t inner) {
  return s.ndim == 2 && s.sizes[0] == outer && s.sizes[1] == inner && s.strides[0][0] == 1;
}

// Sum or mean over the leading dim. Walking each output's elements would touch a new cache line
// per element; instead, each block of kColumnBlock outputs adds the input's rows piece by piece
// (contiguous, vectorizable). Each output still adds its elements in order, for any thread count.
template <typename T, typename O>
void sum_columns(ReduceOp op, TensorRef out, TensorRef in, const Strided<1>& s) {
  O* po = static_cast<O*>(out.data) + out.layout.offset;
  const T* pi = static_cast<const T*>(in.data) + s.base[0];
  const int64_t cols = s.sizes[0], rows = s.sizes[1], row_stride = s.strides[0][1];
  const int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  parallel_for(blocks, std::max<int64_t>(1, kParallelGrain / (rows * kColumnBlock)), [&](int64_t begin, int64_t end) {
    Acc<T> acc[kColumnBlock];
    for (int64_t b = begin; b < end; ++b) {
      const int64_t c0 = b * kColumnBlock, n = std::min(kColumnBlock, cols - c0);
      std::fill(acc, acc + n, Acc<T>(0));
      for (int64_t r = 0; r < rows; ++r) {
        const T* x = pi + r * row_stride + c0;
        for (int64_t c = 0; c < n; ++c) acc[c] += Acc<T>(x[c]);
      }
      for (int64_t c = 0; c < n; ++c)
        po[c0 + c] = op == ReduceOp::Mean ? convert<O>(double(acc[c]) / double(rows)) : convert<O>(acc[c]);
    }
  });
}

// The row reducer of argmax / argmin. The first occurrence wins (strict comparison), and the first
// NaN counts as the extreme, as it does for max.
template <typename T, typename O, typename Better>
auto arg_reducer(Better better) {
  return [better](const auto& row) {
    T best{};
    int64_t best_r = 0, r = 0;
    for_each_in(row, [&](T x) {
      if (r == 0 || (!is_nan(best) && (better(x, best) || is_nan(x)))) {
        best = x;
        best_r = r;
      }
      ++r;
    });
    return convert<O>(best_r);
  };
}

template <typename T, typename O>
void reduce_typed(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) {
  const bool summing = op == ReduceOp::Sum || op == ReduceOp::Mean || op == ReduceOp::Var;
  if (op != ReduceOp::Var && summing && inner > 0) {
    const Strided<1> s = coalesce(make_strided<1>({&in.layout}));
    if (is_column_sum(s, out.layout.numel(), inner)) return sum_columns<T, O>(op, out, in, s);
  }
  if (summing && inner > kSumBlock) return reduce_long_rows<T, O>(op, out, in, inner, correction);

  const bool floating = std::is_floating_point_v<T>;
  // The identity of max / min: -inf and +inf for floats (so rows of -inf give -inf), else the limits.
  const T lowest = floating ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
  const T highest = floating ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();

  switch (op) {
    case ReduceOp::Sum:
      return reduce_rows<T, O>(out, in, inner, [](const auto& row) {
        return convert<O>(sum_of<Acc<T>>(row, [](T x) { return Acc<T>(x); }));
      });
    case ReduceOp::Mean:
      return reduce_rows<T, O>(out, in, inner, [inner](const auto& row) {
        return convert<O>(double(sum_of<Acc<T>>(row, [](T x) { return Acc<T>(x); })) / double(inner));
      });
    case ReduceOp::Max:  // a NaN wins: once m is NaN, nothing compares greater
      return reduce_rows<T, O>(out, in, inner, [lowest](const auto& row) {
        return convert<O>(fold_of(row, lowest, [](T m, T x) { return x > m || is_nan(x) ? x : m; }));
      });
    case ReduceOp::Min:
      return reduce_rows<T, O>(out, in, inner, [highest](const auto& row) {
        return convert<O>(fold_of(row, highest, [](T m, T x) { return x < m || is_nan(x) ? x : m; }));
      });
    case ReduceOp::ArgMax:
      return reduce_rows<T, O>(out, in, inner, arg_reducer<T, O>([](T x, T best) { return x > best; }));
    case ReduceOp::ArgMin:
      return reduce_rows<T, O>(out, in, inner, arg_reducer<T, O>([](T x, T best) { return x < best; }));
    case ReduceOp::Var:  // two passes: the mean, then the squared deviations from it
      return reduce_rows<T, O>(out, in, inner, [inner, correction](const auto& row) {
        const double mean = sum_of<double>(row, [](T x) { return double(x); }) / double(inner);
        const double squares = sum_of<double>(row, [mean](T x) {
          double d = double(x) - mean;
          return d * d;
        });
        return convert<O>(squares / double(std::max<int64_t>(inner - correction, 0)));
      });
  }
}

// Softmax of one row; x and y may be the same array. Computed in double, so that for float32 the
// subtraction x - max and the sum lose nothing: the result is within about 1e-7 of the exact value.
template <typename T>
void softmax_row(const T* x, T* y, int64_t n, bool log) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t r = 0; r < n; ++r) mx = std::max(mx, double(x[r]));
  double sum = 0;
  if (log) {
    for (int64_t r = 0; r < n; ++r) sum += std::exp(double(x[r]) - mx);
    const double log_sum = std::log(sum);
    for (int64_t r = 0; r < n; ++r) y[r] = T(double(x[r]) - mx - log_sum);
  } else {
    for (int64_t r = 0; r < n; ++r) {
      double e = std::exp(double(x[r]) - mx);
      y[r] = T(e);
      sum += e;
    }
    const double inv = 1.0 / sum;
    for (int64_t r = 0; r < n; ++r) y[r] = T(double(y[r]) * inv);
  }
}

template <typename T>
void softmax_typed(TensorRef out, TensorRef in, int64_t inner, bool log) {
  Strided<1> so = coalesce(make_strided<1>({&out.layout}));
  Strided<1> si = coalesce(make_strided<1>({&in.layout}));
  T* po = static_cast<T*>(out.data);
  const T* pi = static_cast<const T*>(in.data);
  const int64_t rows = in.layout.numel() / inner;
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / 8 / inner);  // exp costs ~8 adds
  if (so.contiguous() && si.contiguous()) {
    po += so.base[0];
    pi += si.base[0];
    parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) softmax_row(pi + r * inner, po + r * inner, inner, log);
    });
  } else {
    // Strided rows (softmax over a dim that is not last in memory): copy each row into a buffer,
    // work there, copy it back.
    parallel_for(rows, grain, [&](int64_t begin, int64_t end) {
      std::vector<T> buf(static_cast<size_t>(inner));
      Walker<1> wi(si, begin * inner), wo(so, begin * inner);
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t k = 0; k < inner; ++k, wi.next()) buf[size_t(k)] = pi[wi.offset[0]];
        softmax_row(buf.data(), buf.data(), inner, log);
        for (int64_t k = 0; k < inner; ++k, wo.next()) po[wo.offset[0]] = buf[size_t(k)];
      }
    });
  }
}

}  // namespace

void reduce(ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction) {
  const char* name = reduce_name(op);
  check_reduce_args("", op, out, in, inner);
  if (out.layout.numel() == 0) return;
  DDPM_DISPATCH_NUMERIC(in.dtype, name, {
    if (out.dtype == in.dtype) reduce_typed<scalar_t, scalar_t>(op, out, in, inner, correction);
    else reduce_typed<scalar_t, int64_t>(op, out, in, inner, correction);
  });
}

void softmax(TensorRef out, TensorRef in, int64_t inner, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  if (inner <= 0 || in.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(in.dtype, name, softmax_typed<scalar_t>(out, in, inner, log));
}

}  // namespace ddpm::cpu
