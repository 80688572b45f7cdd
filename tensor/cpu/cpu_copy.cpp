// copy (any dtype to any dtype, any layouts) and fill.
#include <cstring>

#include "tensor/cpu/cpu_kernels.hpp"
#include "tensor/cpu/cpu_loops.hpp"

namespace ddpm::cpu {
namespace {

bool same_sizes(const Layout& a, const Layout& b) {
  if (a.ndim != b.ndim) return false;
  for (int d = 0; d < a.ndim; ++d) if (a.sizes[d] != b.sizes[d]) return false;
  return true;
}

template <typename TD, typename TS>
void copy_typed(TensorRef dst, TensorRef src) {
  Strided<1> sd = coalesce(make_strided<1>({&dst.layout}));
  Strided<1> ss = coalesce(make_strided<1>({&src.layout}));
  TD* pd = static_cast<TD*>(dst.data);
  const TS* ps = static_cast<const TS*>(src.data);
  const int64_t n = sd.numel();
  if (sd.contiguous() && ss.contiguous()) {
    pd += sd.base[0];
    ps += ss.base[0];
    if constexpr (std::is_same_v<TD, TS>) {
      std::memcpy(pd, ps, size_t(n) * sizeof(TD));
    } else {
      parallel_for(n, kParallelGrain, [pd, ps](int64_t begin, int64_t end) {
        for (int64_t k = begin; k < end; ++k) pd[k] = convert<TD>(ps[k]);
      });
    }
  } else if (same_sizes(dst.layout, src.layout)) {
    map1<TD, TS>(dst, src, [](TS x) { return convert<TD>(x); });
  } else {
    // Different shapes with the same numel (a reshape that had to copy): walk each on its own.
    parallel_for(n, kParallelGrain, [&](int64_t begin, int64_t end) {
      Walker<1> wd(sd, begin), ws(ss, begin);
      for (int64_t k = begin; k < end; ++k, wd.next(), ws.next()) pd[wd.offset[0]] = convert<TD>(ps[ws.offset[0]]);
    });
  }
}

}  // namespace

void copy(TensorRef dst, TensorRef src) {
  DDPM_CHECK(dst.layout.numel() == src.layout.numel(), "copy: destination has ", dst.layout.numel(),
             " elements but source has ", src.layout.numel());
  if (dst.layout.numel() == 0) return;
  // Two dispatches, once per op: 49 (destination, source) type pairs.
  DDPM_DISPATCH_ALL(dst.dtype, "copy", using dst_t = scalar_t;
                    DDPM_DISPATCH_ALL(src.dtype, "copy", copy_typed<dst_t, scalar_t>(dst, src)));
}

void fill(TensorRef dst, double value) {
  DDPM_DISPATCH_ALL(dst.dtype, "fill", {
    const scalar_t v = convert<scalar_t>(value);
    Strided<1> s = coalesce(make_strided<1>({&dst.layout}));
    scalar_t* p = static_cast<scalar_t*>(dst.data);
    if (s.contiguous()) {
      p += s.base[0];
      parallel_for(s.numel(), kParallelGrain, [p, v](int64_t begin, int64_t end) { std::fill(p + begin, p + end, v); });
    } else {
      const int64_t step = s.strides[0][s.ndim - 1];
      for_each_row(s, [p, v, step](const int64_t* off, int64_t len) {
        for (int64_t r = 0; r < len; ++r) p[off[0] + r * step] = v;
      });
    }
  });
}

}  // namespace ddpm::cpu
