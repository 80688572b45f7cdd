// Small macros shared by every layer: host/device qualifiers and argument checks that throw.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define DDPM_HD __host__ __device__ __forceinline__
#else
#define DDPM_HD inline
#endif

namespace ddpm {

// Builds a message from any streamable pieces: str("conv2d: got ", n, " dims").
template <typename... Args>
std::string str(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace ddpm

// Throws std::invalid_argument with a message when the condition is false. Use for bad user input:
// the message names the op, what it got and what it expects.
#define DDPM_CHECK(cond, ...)                                  \
  do {                                                         \
    if (!(cond)) throw std::invalid_argument(::ddpm::str(__VA_ARGS__)); \
  } while (0)

// Same, for indices out of range (std::out_of_range).
#define DDPM_CHECK_INDEX(cond, ...)                            \
  do {                                                         \
    if (!(cond)) throw std::out_of_range(::ddpm::str(__VA_ARGS__)); \
  } while (0)
