// Element types: float32/float64 compute, bfloat16/float16 storage, int32/int64 indices, bool masks.
#pragma once
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "tensor/macros.hpp"

namespace ddpm {

enum class DType : uint8_t { Float32, Float64, BFloat16, Float16, Int32, Int64, Bool };

// bfloat16: the top 16 bits of a float32, rounded to nearest even.
struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  DDPM_HD explicit bfloat16(float f) {
    uint32_t u;
#if defined(__CUDA_ARCH__)
    u = __float_as_uint(f);
#else
    std::memcpy(&u, &f, 4);
#endif
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN stays a quiet NaN
      bits = uint16_t((u >> 16) | 0x40u);
    } else {
      uint32_t rounding = 0x7fffu + ((u >> 16) & 1u);
      bits = uint16_t((u + rounding) >> 16);
    }
  }
  DDPM_HD operator float() const {
    uint32_t u = uint32_t(bits) << 16;
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
  }
};

// IEEE 754 binary16, converted in software so CPU and GPU agree bit for bit.
struct float16 {
  uint16_t bits = 0;
  float16() = default;
  DDPM_HD explicit float16(float f) { bits = from_float(f); }
  DDPM_HD operator float() const { return to_float(bits); }

  DDPM_HD static uint16_t from_float(float f) {
    uint32_t x;
#if defined(__CUDA_ARCH__)
    x = __float_as_uint(f);
#else
    std::memcpy(&x, &f, 4);
#endif
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t mag = x & 0x7fffffffu;
    if (mag > 0x7f800000u) return uint16_t(sign | 0x7e00u);      // NaN
    if (mag >= 0x477ff000u) return uint16_t(sign | 0x7c00u);     // overflow -> inf (incl. inf)
    if (mag < 0x38800000u) {                                     // subnormal or zero in half
      if (mag < 0x33000000u) return uint16_t(sign);              // below half of min subnormal
      uint32_t e = mag >> 23;
      uint32_t m = (mag & 0x7fffffu) | 0x800000u;
      uint32_t shift = 126u - e;  // 14 + (113 - e) + ... gives the subnormal mantissa
      uint32_t half_m = m >> shift;
      uint32_t rem = m & ((1u << shift) - 1u);
      uint32_t halfway = 1u << (shift - 1u);
      if (rem > halfway || (rem == halfway && (half_m & 1u))) ++half_m;
      return uint16_t(sign | half_m);
    }
    uint32_t e = (mag >> 23) - 112u;
    uint32_t m = mag & 0x7fffffu;
    uint32_t h = (e << 10) | (m >> 13);
    uint32_t rem = m & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;  // may carry into the exponent: fine
    return uint16_t(sign | h);
  }
  DDPM_HD static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t e = (h >> 10) & 0x1fu;
    uint32_t m = h & 0x3ffu;
    uint32_t x;
    if (e == 0) {
      if (m == 0) {
        x = sign;
      } else {  // subnormal: normalise
        e = 113;
        while ((m & 0x400u) == 0) { m <<= 1; --e; }
        m &= 0x3ffu;
        x = sign | (e << 23) | (m << 13);
      }
    } else if (e == 31) {
      x = sign | 0x7f800000u | (m << 13);
    } else {
      x = sign | ((e + 112u) << 23) | (m << 13);
    }
#if defined(__CUDA_ARCH__)
    return __uint_as_float(x);
#else
    float f;
    std::memcpy(&f, &x, 4);
    return f;
#endif
  }
};

template <typename T>
constexpr bool is_half_v = std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

// Float to int32/int64 as both devices do it: NaN -> 0, values beyond the range -> its ends, others
// truncated toward zero (what CUDA's cvt.rzi does in hardware; a plain C++ cast of NaN or of an
// out-of-range value is undefined behaviour, so the CPU must not rely on it).
template <typename I, typename F>
DDPM_HD I saturate_cast(F x) {
  static_assert(std::is_integral_v<I> && std::is_signed_v<I> && std::is_floating_point_v<F>,
                "saturate_cast: from a float type to a signed integer type");
  constexpr F lo = F(std::numeric_limits<I>::min());  // -2^31 or -2^63: exact in float and double
  if (!(x == x)) return I(0);
  if (x <= lo) return std::numeric_limits<I>::min();
  if (x >= -lo) return std::numeric_limits<I>::max();  // 2^31 or 2^63 is the first value past the range
  return static_cast<I>(x);
}

// Value conversion between stored types, one rule for both devices: bf16/fp16 go through float,
// anything -> bool is x != 0, bool -> number is 0/1, float -> int saturates (saturate_cast).
template <typename D, typename S>
DDPM_HD D convert(S s) {
  if constexpr (std::is_same_v<D, S>) {
    return s;
  } else if constexpr (is_half_v<S>) {
    return convert<D>(static_cast<float>(s));
  } else if constexpr (std::is_same_v<D, bool>) {
    return s != S(0);
  } else if constexpr (is_half_v<D>) {
    return D(static_cast<float>(s));
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    return saturate_cast<D>(s);
  } else {
    return static_cast<D>(s);
  }
}

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

inline bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16 || t == DType::Float16;
}
inline bool is_integral(DType t) { return t == DType::Int32 || t == DType::Int64; }
// Compute dtypes are the ones with math kernels; bf16/fp16 are storage only (convert first).
inline bool is_compute(DType t) { return t == DType::Float32 || t == DType::Float64; }

// The C++ type stored for each dtype.
template <DType D> struct dtype_traits;
template <> struct dtype_traits<DType::Float32> { using type = float; };
template <> struct dtype_traits<DType::Float64> { using type = double; };
template <> struct dtype_traits<DType::BFloat16> { using type = bfloat16; };
template <> struct dtype_traits<DType::Float16> { using type = float16; };
template <> struct dtype_traits<DType::Int32> { using type = int32_t; };
template <> struct dtype_traits<DType::Int64> { using type = int64_t; };
template <> struct dtype_traits<DType::Bool> { using type = bool; };

template <typename T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::Float32; }
template <> constexpr DType dtype_of<double>() { return DType::Float64; }
template <> constexpr DType dtype_of<bfloat16>() { return DType::BFloat16; }
template <> constexpr DType dtype_of<float16>() { return DType::Float16; }
template <> constexpr DType dtype_of<int32_t>() { return DType::Int32; }
template <> constexpr DType dtype_of<int64_t>() { return DType::Int64; }
template <> constexpr DType dtype_of<bool>() { return DType::Bool; }

}  // namespace ddpm

// Dispatch once per op on the dtype: binds `scalar_t` to the C++ type and runs the body.
// The op name goes into the error for dtypes the op does not support.
#define DDPM_DISPATCH_CASE(D, ...)                       \
  case D: {                                              \
    using scalar_t = typename ::ddpm::dtype_traits<D>::type; \
    __VA_ARGS__;                                         \
    break;                                               \
  }

#define DDPM_DISPATCH_FLOAT(dtype, opname, ...)                                           \
  switch (dtype) {                                                                        \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float32, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float64, __VA_ARGS__)                               \
    default:                                                                              \
      throw std::invalid_argument(::ddpm::str(opname, ": dtype ", ::ddpm::dtype_name(dtype), \
                                              " is not supported, expected float32 or float64")); \
  }

#define DDPM_DISPATCH_NUMERIC(dtype, opname, ...)                                        \
  switch (dtype) {                                                                        \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float32, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float64, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::Int32, __VA_ARGS__)                                 \
    DDPM_DISPATCH_CASE(::ddpm::DType::Int64, __VA_ARGS__)                                 \
    default:                                                                              \
      throw std::invalid_argument(::ddpm::str(opname, ": dtype ", ::ddpm::dtype_name(dtype), \
                                              " is not supported, expected float32, float64, int32 or int64")); \
  }

#define DDPM_DISPATCH_ALL(dtype, opname, ...)                                            \
  switch (dtype) {                                                                        \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float32, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float64, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::BFloat16, __VA_ARGS__)                              \
    DDPM_DISPATCH_CASE(::ddpm::DType::Float16, __VA_ARGS__)                               \
    DDPM_DISPATCH_CASE(::ddpm::DType::Int32, __VA_ARGS__)                                 \
    DDPM_DISPATCH_CASE(::ddpm::DType::Int64, __VA_ARGS__)                                 \
    DDPM_DISPATCH_CASE(::ddpm::DType::Bool, __VA_ARGS__)                                  \
    default:                                                                              \
      throw std::invalid_argument(::ddpm::str(opname, ": unknown dtype"));               \
  }
