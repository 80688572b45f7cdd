// A strided view's geometry in a fixed-size struct that kernels take by value (CPU and CUDA):
// it maps a linear (row-major) element index to a storage offset.
#pragma once
#include <cstdint>

#include "tensor/macros.hpp"

namespace ddpm {

struct Layout {
  int32_t ndim = 0;
  int64_t sizes[6] = {1, 1, 1, 1, 1, 1};
  int64_t strides[6] = {0, 0, 0, 0, 0, 0};
  int64_t offset = 0;       // in elements, from the storage's start
  bool contiguous = false;  // row-major with no gaps: offset(i) == offset + i

  DDPM_HD int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= sizes[d];
    return n;
  }
  // Storage offset of the element with row-major linear index i.
  DDPM_HD int64_t at(int64_t i) const {
    if (contiguous) return offset + i;
    int64_t off = offset;
    for (int d = ndim - 1; d >= 0; --d) {
      int64_t s = sizes[d];
      int64_t q = i / s;
      off += (i - q * s) * strides[d];
      i = q;
    }
    return off;
  }
};

}  // namespace ddpm
