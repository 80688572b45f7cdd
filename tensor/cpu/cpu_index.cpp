// Indexing with int64 indices: index_select and gather, and their adjoints index_add and scatter_add.
// Each walks an iteration shape with a view of the indexed tensor whose stride along `dim` is zeroed;
// the index value then supplies that coordinate: offset = view offset + index * stride[dim].
#include <algorithm>
#include <vector>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

void check_index_dtype(const char* op, TensorRef idx) {
  DDPM_CHECK(idx.dtype == DType::Int64, op, ": index is ", dtype_name(idx.dtype), ", expected int64");
}

void check_in_range(const char* op, int64_t value, int64_t size, int dim) {
  DDPM_CHECK_INDEX(value >= 0 && value < size, op, ": index ", value, " is out of range for dim ", dim,
                   " of size ", size, " (valid range [0, ", size, "))");
}

// The indices of a 1-D index tensor (any layout), each checked to lie in [0, size).
std::vector<int64_t> read_indices(const char* op, TensorRef idx, int64_t size, int dim) {
  check_index_dtype(op, idx);
  std::vector<int64_t> out(static_cast<size_t>(idx.layout.numel()));
  const int64_t* p = static_cast<const int64_t*>(idx.data);
  for (size_t j = 0; j < out.size(); ++j) {
    out[j] = p[idx.layout.at(int64_t(j))];
    check_in_range(op, out[j], size, dim);
  }
  return out;
}

// Checks every value of an index tensor (any shape and layout) before a parallel loop reads it:
// a loop running on several threads cannot throw.
void check_all_indices(const char* op, TensorRef idx, int64_t size, int dim) {
  check_index_dtype(op, idx);
  if (idx.layout.numel() == 0) return;
  Strided<1> s = coalesce(make_strided<1>({&idx.layout}));
  const int64_t* p = static_cast<const int64_t*>(idx.data);
  Walker<1> w(s, 0);
  for (int64_t k = 0, n = s.numel(); k < n; ++k, w.next()) check_in_range(op, p[w.offset[0]], size, dim);
}

// `of`'s strides and offset over the iteration shape `shape`, with the stride along dim zeroed.
Layout indexed_view(const Layout& of, const Layout& shape, int dim) {
  Layout v = of;
  v.ndim = shape.ndim;
  for (int d = 0; d < kMaxDims; ++d) v.sizes[d] = shape.sizes[d];
  v.strides[dim] = 0;
  v.contiguous = false;
  return v;
}

// Product of sizes[from, to).
int64_t span(const Layout& l, int from, int to) {
  int64_t n = 1;
  for (int d = from; d < to; ++d) n *= l.sizes[d];
  return n;
}

template <typename T>
void index_select_typed(TensorRef out, TensorRef in, const std::vector<int64_t>& index, int dim) {
  T* po = static_cast<T*>(out.data);
  const T* pi = static_cast<const T*>(in.data);
  const int64_t numel = out.layout.numel();
  if (out.layout.contiguous && in.layout.contiguous) {
    // Rows of `inner` contiguous elements (an embedding lookup when dim is 0): copy row by row.
    const int64_t n = int64_t(index.size()), inner = span(out.layout, dim + 1, out.layout.ndim);
    const int64_t in_dim = in.layout.sizes[dim];
    po += out.layout.offset;
    pi += in.layout.offset;
    parallel_for(numel / inner, std::max<int64_t>(1, kParallelGrain / inner), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {  // row = (o, j): outer position o, index j
        const int64_t o = row / n, j = row % n;
        const T* from = pi + (o * in_dim + index[size_t(j)]) * inner;
        std::copy(from, from + inner, po + row * inner);
      }
    });
    return;
  }
  const Layout view = indexed_view(in.layout, out.layout, dim);
  const Strided<2> s = make_strided<2>({&out.layout, &view});  // not coalesced: we need index[dim]
  const int64_t step = in.layout.strides[dim];
  parallel_for(numel, kParallelGrain, [&](int64_t begin, int64_t end) {
    Walker<2> w(s, begin);
    for (int64_t k = begin; k < end; ++k, w.next())
      po[w.offset[0]] = pi[w.offset[1] + index[size_t(w.index[dim])] * step];
  });
}

template <typename T>
void gather_typed(TensorRef out, TensorRef in, TensorRef idx, int dim) {
  T* po = static_cast<T*>(out.data);
  const T* pi = static_cast<const T*>(in.data);
  const int64_t* px = static_cast<const int64_t*>(idx.data);
  const Layout view = indexed_view(in.layout, out.layout, dim);
  const Strided<3> s = coalesce(make_strided<3>({&out.layout, &idx.layout, &view}));
  const int64_t step = in.layout.strides[dim];
  parallel_for(s.numel(), kParallelGrain, [&](int64_t begin, int64_t end) {
    Walker<3> w(s, begin);
    for (int64_t k = begin; k < end; ++k, w.next()) po[w.offset[0]] = pi[w.offset[2] + px[w.offset[1]] * step];
  });
}

// Adjoints scatter with +=, so two elements may hit the same output. Elements whose coordinates
// before `dim` differ never do, so threads split the iteration shape into slabs along those dims.
template <typename T>
void index_add_typed(TensorRef out, const std::vector<int64_t>& index, TensorRef src, int dim) {
  T* po = static_cast<T*>(out.data);
  const T* ps = static_cast<const T*>(src.data);
  const Layout view = indexed_view(out.layout, src.layout, dim);
  const Strided<2> s = make_strided<2>({&src.layout, &view});  // not coalesced: we need index[dim]
  const int64_t step = out.layout.strides[dim];
  const int64_t outer = span(src.layout, 0, dim), slab = span(src.layout, dim, src.layout.ndim);
  parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(slab, 1)), [&](int64_t begin, int64_t end) {
    Walker<2> w(s, begin * slab);
    for (int64_t k = begin * slab; k < end * slab; ++k, w.next())
      po[w.offset[1] + index[size_t(w.index[dim])] * step] += ps[w.offset[0]];
  });
}

template <typename T>
void scatter_add_typed(TensorRef out, TensorRef idx, TensorRef src, int dim) {
  T* po = static_cast<T*>(out.data);
  const T* ps = static_cast<const T*>(src.data);
  const int64_t* px = static_cast<const int64_t*>(idx.data);
  const Layout src_view = indexed_view(src.layout, idx.layout, dim);
  Layout src_full = src_view;  // src over idx's shape, keeping its stride along dim
  src_full.strides[dim] = src.layout.strides[dim];
  const Layout out_view = indexed_view(out.layout, idx.layout, dim);
  const Strided<3> s = make_strided<3>({&idx.layout, &src_full, &out_view});
  const int64_t step = out.layout.strides[dim];
  const int64_t outer = span(idx.layout, 0, dim), slab = span(idx.layout, dim, idx.layout.ndim);
  parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(slab, 1)), [&](int64_t begin, int64_t end) {
    Walker<3> w(s, begin * slab);
    for (int64_t k = begin * slab; k < end * slab; ++k, w.next())
      po[w.offset[2] + px[w.offset[0]] * step] += ps[w.offset[1]];
  });
}

}  // namespace

void index_select(TensorRef out, TensorRef in, TensorRef idx, int dim) {
  std::vector<int64_t> index = read_indices("index_select", idx, in.layout.sizes[dim], dim);
  if (out.layout.numel() == 0) return;
  DDPM_DISPATCH_ALL(in.dtype, "index_select", index_select_typed<scalar_t>(out, in, index, dim));
}

void gather(TensorRef out, TensorRef in, TensorRef idx, int dim) {
  check_all_indices("gather", idx, in.layout.sizes[dim], dim);
  if (out.layout.numel() == 0) return;
  DDPM_DISPATCH_ALL(in.dtype, "gather", gather_typed<scalar_t>(out, in, idx, dim));
}

void index_add(TensorRef out, TensorRef idx, TensorRef src, int dim) {
  std::vector<int64_t> index = read_indices("index_add", idx, out.layout.sizes[dim], dim);
  if (src.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(src.dtype, "index_add", index_add_typed<scalar_t>(out, index, src, dim));
}

void scatter_add(TensorRef out, TensorRef idx, TensorRef src, int dim) {
  check_all_indices("scatter_add", idx, out.layout.sizes[dim], dim);
  if (idx.layout.numel() == 0) return;
  DDPM_DISPATCH_FLOAT(src.dtype, "scatter_add", scatter_add_typed<scalar_t>(out, idx, src, dim));
}

}  // namespace ddpm::cpu
