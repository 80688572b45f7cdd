// The one list of backend kernels: what every device (tensor/cpu, cuda/) must implement.
//
// Each entry is X(name, (parameters), (arguments)): the kernel's name, its parameter list and the
// same parameters as a call's arguments. From this table come
//   - the pure virtual methods of Backend (tensor/backend.hpp): a backend lacking one does not compile,
//   - the declarations of the kernels in ddpm::cpu (tensor/cpu/cpu_kernels.hpp) and ddpm::gpu
//     (cuda/kernels.hpp),
//   - the forwarding overrides of CpuBackend and CudaBackend (one macro line each),
//   - kBackendKernelNames below, which tests/test_backend_ops.cpp checks its case table against.
// The argument types (TensorRef, GemmArgs, ConvGeometry, AdamWStep) are in tensor/backend.hpp.
// Every kernel returns void and writes only the tensors its comment says it writes; all tensors of
// one call live on that backend's device. The front end (tensor/ops_*.cpp, nn/functional_*.cpp) has
// already checked shapes and dtypes and allocated the outputs.
//
// Adding a kernel:
//   1. one entry here, with a comment saying what it computes (shapes, layouts, what is overwritten);
//   2. its CPU implementation ddpm::cpu::name in a tensor/cpu/cpu_*.cpp file;
//   3. its CUDA implementation ddpm::gpu::name in a cuda/*.cu file (or cuda/*.cpp over cuBLAS);
//   4. one case (or more) in tests/backend_op_cases/ (the file of its family): inputs, a naive reference, bytes and flops.
// Nothing else: the Backend method, the declarations, the forwards and the harness's test and bench
// entries follow from the table.
#pragma once
#include <cstddef>
#include <string_view>

// clang-format off
#define DDPM_BACKEND_KERNELS(X)                                                                     \
  /* ---- Copies and fills (cpu_copy.cpp, cuda/elementwise.cu) ---- */                            \
  /* dst[k] = convert(src[k]) for every element k (row-major over the sizes); same numel, any    \
     dtypes and layouts. Overwrites dst. */                                                         \
  X(copy, (TensorRef dst, TensorRef src), (dst, src))                                               \
  /* dst[k] = value converted to dst's dtype, any layout. */                                        \
  X(fill, (TensorRef dst, double value), (dst, value))                                              \
                                                                                                    \
  /* ---- Elementwise (cpu_elementwise.cpp, cuda/elementwise.cu) ---- */                          \
  /* out[k] = f(in[k]) (element_ops.hpp's apply_unary; a, b are Clamp's bounds, PowScalar's      \
     exponent); out and in have the same dtype and sizes (float32/float64, or ints for the int ops),\
     any layouts. */                                                                                \
  X(unary, (UnaryOp op, TensorRef out, TensorRef in, double a, double b), (op, out, in, a, b))      \
  /* out[k] = f(x[k], y[k]); x and y are already broadcast to out's sizes (stride 0) and share a   \
     dtype. out is bool for comparisons, else x's dtype. */                                         \
  X(binary, (BinaryOp op, TensorRef out, TensorRef x, TensorRef y), (op, out, x, y))               \
  /* out[k] = f(x[k], s), or f(s, x[k]) when scalar_first; s is converted to x's dtype first. */    \
  X(binary_scalar, (BinaryOp op, TensorRef out, TensorRef x, double s, bool scalar_first),          \
    (op, out, x, s, scalar_first))                                                                  \
  /* out[k] = cond[k] ? x[k] : y[k]; cond is bool, all three broadcast to out's sizes. */          \
  X(where, (TensorRef out, TensorRef cond, TensorRef x, TensorRef y), (out, cond, x, y))          \
                                                                                                    \
  /* ---- Reductions (cpu_reduce.cpp, cuda/reduce.cu) ---- */                                     \
  /* in's layout has the reduced dims last, `inner` elements per output: out[o] = R(in[o*inner + r] \
     for r < inner). out is contiguous with numel = in.numel / inner and in's dtype (an integer in  \
     may also reduce into an int64 out); int64 for ArgMax/ArgMin (the first index of the extreme). \
     Var divides by inner - correction. */                                                          \
  X(reduce, (ReduceOp op, TensorRef out, TensorRef in, int64_t inner, int64_t correction),          \
    (op, out, in, inner, correction))                                                               \
  /* Softmax (or log-softmax when log) over the last dim of the layouts, which has `inner`         \
     elements; out and in have the same sizes and dtype, any layouts. */                            \
  X(softmax, (TensorRef out, TensorRef in, int64_t inner, bool log), (out, in, inner, log))        \
                                                                                                    \
  /* ---- Matrix product (cpu_gemm.cpp, cuda/gemm.cpp: cuBLAS) ---- */                            \
  /* Batched C[b] = alpha op(A[b]) op(B[b]) + beta C[b], as GemmArgs describes (backend.hpp). */    \
  X(gemm, (const GemmArgs& args), (args))                                                           \
                                                                                                    \
  /* ---- Indexing (cpu_index.cpp, cuda/index.cu) ---- */                                         \
  /* out = in with dim `dim` indexed by idx (int64, 1-D): out[.., j, ..] = in[.., idx[j], ..].      \
     Throws std::out_of_range if an index is outside [0, in.sizes[dim]) (the GPU at the next wait). */ \
  X(index_select, (TensorRef out, TensorRef in, TensorRef idx, int dim), (out, in, idx, dim))     \
  /* out[.., j, ..] = in[.., idx[.., j, ..], ..] along dim; out and idx (int64) have the same       \
     sizes. Out-of-range indices throw as for index_select. */                                      \
  X(gather, (TensorRef out, TensorRef in, TensorRef idx, int dim), (out, in, idx, dim))           \
  /* The adjoint of index_select: out[.., idx[j], ..] += src[.., j, ..]. out must be contiguous;    \
     it is accumulated into, not overwritten. float32 or float64 (also for scatter_add). */          \
  X(index_add, (TensorRef out, TensorRef idx, TensorRef src, int dim), (out, idx, src, dim))       \
  /* The adjoint of gather: out[.., idx[.., j, ..], ..] += src[.., j, ..]; idx and src have the same \
     sizes. out must be contiguous; accumulated into. */                                            \
  X(scatter_add, (TensorRef out, TensorRef idx, TensorRef src, int dim), (out, idx, src, dim))     \
                                                                                                    \
  /* ---- Random numbers (cpu_random.cpp, cuda/random.cu) ---- */                                 \
  /* Fills a contiguous out with philox_sample(dist, seed, offset, k, a, b) for each element k     \
     (tensor/philox.hpp): the same numbers on every device. */                                      \
  X(random, (Distribution dist, TensorRef out, uint64_t seed, uint64_t offset, double a, double b), \
    (dist, out, seed, offset, a, b))                                                                \
                                                                                                    \
  /* ---- Convolution (cpu_conv.cpp, cuda/conv.cu and cuda/conv_gemm.cpp) ---- */                \
  /* cols [B, C*kh*kw, out_h*out_w] from image [B, C, H, W], both contiguous, zero padding:         \
     cols[b, (c*kh + i)*kw + j, y*out_w + x] = image[b, c, y*stride_h - pad_h + i,                  \
     x*stride_w - pad_w + j]. Overwrites cols. */                                                   \
  X(im2col, (TensorRef cols, TensorRef image, const ConvGeometry& g), (cols, image, g))            \
  /* The adjoint: image [B, C, H, W] = the sum of every column entry that came from each pixel     \
     (overwrites image; pixels no column reads become 0). */                                        \
  X(col2im, (TensorRef image, TensorRef cols, const ConvGeometry& g), (image, cols, g))            \
  /* y [B, Cout, out_h, out_w] = the convolution of x [B, C, H, W] with weight [Cout, C, kh, kw]    \
     plus bias [Cout] (data == nullptr: none): y[b] = weight [Cout, C*kh*kw] @ im2col(x)[b] + bias; \
     with silu_x, of silu(x) instead of x (never written out). All contiguous, float32 or float64;  \
     overwrites y. (The CPU never writes the column matrix either.) */                             \
  X(conv2d, (TensorRef y, TensorRef x, TensorRef weight, TensorRef bias, const ConvGeometry& g,     \
             bool silu_x),                                                                          \
    (y, x, weight, bias, g, silu_x))                                                                \
  /* Its weight gradient: dweight [Cout, C, kh, kw] = sum over b of dy[b] [Cout, out_h*out_w] @     \
     im2col(x)[b]^T, or of im2col(silu(x)) with silu_x. All contiguous, float32 or float64;        \
     overwrites dweight. */                                                                         \
  X(conv2d_weight_grad, (TensorRef dweight, TensorRef dy, TensorRef x, const ConvGeometry& g, bool silu_x), \
    (dweight, dy, x, g, silu_x))                                                                    \
                                                                                                    \
  /* ---- Normalization (cpu_norm.cpp, cuda/norm.cu) ---- */                                      \
  /* Group norm over x [B, C, HW] contiguous in G groups of C/G channels: y = (x - mean) * rstd *  \
     weight[c] + bias[c], with mean and rstd = 1/sqrt(var + eps) (biased var) [B, G] saved for      \
     backward. weight/bias have data == nullptr when not affine. Overwrites y, mean, rstd.          \
     (Layer norm over rows of N is the case B = rows, C = N, HW = 1, G = 1.) */                     \
  X(group_norm_forward, (TensorRef y, TensorRef mean, TensorRef rstd, TensorRef x, TensorRef weight, \
                         TensorRef bias, int64_t groups, double eps),                               \
    (y, mean, rstd, x, weight, bias, groups, eps))                                                  \
  /* Its backward from dy [B, C, HW] and the saved mean, rstd: dx [B, C, HW]; dweight, dbias [C]    \
     (data == nullptr when not wanted; weight too when not affine), all overwritten. */             \
  X(group_norm_backward, (TensorRef dx, TensorRef dweight, TensorRef dbias, TensorRef dy, TensorRef x, \
                          TensorRef mean, TensorRef rstd, TensorRef weight, int64_t groups),        \
    (dx, dweight, dbias, dy, x, mean, rstd, weight, groups))                                        \
                                                                                                    \
  /* ---- Optimizer steps (cpu_optim.cpp, cuda/optim.cu: one multi-tensor launch, not one per     \
     tensor) ---- */                                                                                \
  /* One AdamW step over many parameters (all contiguous, float32 or float64, one dtype; list i's  \
     param, grad, m, v have equal numel), as AdamWStep describes: updates params, m and v. */       \
  X(adamw_step, (const std::vector<TensorRef>& params, const std::vector<TensorRef>& grads,         \
                 const std::vector<TensorRef>& m, const std::vector<TensorRef>& v, const AdamWStep& step), \
    (params, grads, m, v, step))                                                                    \
  /* ema[i] = decay * ema[i] + (1 - decay) * params[i] for every pair, in one pass (contiguous). */ \
  X(ema_update, (const std::vector<TensorRef>& ema, const std::vector<TensorRef>& params, double decay), \
    (ema, params, decay))                                                                           \
  /* out[0] (float64, one element) = the sum over all tensors of sum(x^2), tensors contiguous       \
     float32 or float64 (mixed): for gradient clipping. Overwrites out. */                          \
  X(sum_of_squares, (TensorRef out, const std::vector<TensorRef>& tensors), (out, tensors))
// clang-format on

// The helpers the files above expand the table with.
// A declaration `void name(parameters);` (in ddpm::cpu, ddpm::gpu).
#define DDPM_DECLARE_KERNEL(name, params, args) void name params;
// A pure virtual method of Backend.
#define DDPM_PURE_VIRTUAL_KERNEL(name, params, args) virtual void name params = 0;
// The name as a string, for kBackendKernelNames.
#define DDPM_KERNEL_NAME(name, params, args) #name,

namespace ddpm {

// The names of the table's kernels, in its order.
inline constexpr std::string_view kBackendKernelNames[] = {DDPM_BACKEND_KERNELS(DDPM_KERNEL_NAME)};
inline constexpr size_t kBackendKernelCount = sizeof(kBackendKernelNames) / sizeof(kBackendKernelNames[0]);

}  // namespace ddpm
