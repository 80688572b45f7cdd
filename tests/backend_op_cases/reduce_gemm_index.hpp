// Cases of reduce, softmax, gemm, the indexing kernels and random.
// (a part of the backend-ops harness's case table: tests/backend_op_cases.hpp)
#pragma once
#include "common.hpp"

namespace ddpm::backend_ops {

// ---- reductions and softmax ---------------------------------------------------------------------

// A [rows, inner] input, reduced along its last dim, laid out as `lay` ("transposed": stored as
// [inner, rows], so a row's elements are `rows` apart).
inline void add_reduce_cases(CaseList& L) {
  if (!L.wants({"reduce"})) return;
  struct R { int64_t rows, inner; };
  const std::vector<R> shapes = L.perf ? std::vector<R>{{8192, 1024}, {1, 1 << 23}, {64 * 32, 1024}}
                                       : std::vector<R>{{5, 33}, {1, 1003}, {257, 3}, {4, 1}};
  const ReduceOp all[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min,
                          ReduceOp::ArgMax, ReduceOp::ArgMin, ReduceOp::Var};
  for (const R& r : shapes) {
    for (ReduceOp op : all) {
      if (L.perf && op != ReduceOp::Sum && op != ReduceOp::Var) continue;
      for (DType d : {DType::Float32, DType::Float64, DType::Int32, DType::Int64}) {
        const bool integer = d == DType::Int32 || d == DType::Int64;
        if ((integer && (op == ReduceOp::Mean || op == ReduceOp::Var)) || (L.perf && d != DType::Float32)) continue;
        for (int64_t corr : {0, 1}) {
          if (corr == 1 && (op != ReduceOp::Var || r.inner == 1)) continue;
          for (Lay lay : kLays) {
            if (L.perf && lay != Lay::Contiguous) continue;
            // argmax/argmin meet ties; an int32 input may also reduce into int64
            const bool ties = op == ReduceOp::ArgMax || op == ReduceOp::ArgMin;
            const bool wide = d == DType::Int32 && op == ReduceOp::Sum;
            const Shape shape{r.rows, r.inner};
            Values v = integer || ties ? integers(size_t(numel_of(shape)), ties ? 2 : 1000, 6) : dyadic(size_t(numel_of(shape)), 6);
            const DType out_dtype = ties || wide ? DType::Int64 : d;
            BackendOpCase k;
            k.kernel = "reduce";
            k.label = std::string(reduce_name(op)) + (op == ReduceOp::Var ? " correction " + std::to_string(corr) : "") + " " +
                      dtype_label(d) + " -> " + dtype_label(out_dtype) + " " + shape_str(shape) + " " + lay_name(lay);
            k.make = [=](Device dev) -> KernelCall {
              Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
              Tensor out = empty({r.rows}, TensorOptions(out_dtype, dev));
              return [=] {
                backend(dev).reduce(op, out.ref(), x.ref(), r.inner, corr);
                return std::vector<Tensor>{out};
              };
            };
            k.reference = [=] {
              Values out(size_t(r.rows));
              for (int64_t o = 0; o < r.rows; ++o) {
                const double* row = v.data() + o * r.inner;
                double sum = 0, best = row[0];
                int64_t at = 0;
                for (int64_t j = 0; j < r.inner; ++j) {
                  sum += row[j];
                  const bool better = op == ReduceOp::Max || op == ReduceOp::ArgMax ? row[j] > best : row[j] < best;
                  if (better) { best = row[j]; at = j; }
                }
                const double mean = sum / double(r.inner);
                double ss = 0;
                for (int64_t j = 0; j < r.inner; ++j) ss += (row[j] - mean) * (row[j] - mean);
                switch (op) {
                  case ReduceOp::Sum: out[size_t(o)] = sum; break;
                  case ReduceOp::Mean: out[size_t(o)] = mean; break;
                  case ReduceOp::Max: case ReduceOp::Min: out[size_t(o)] = best; break;
                  case ReduceOp::ArgMax: case ReduceOp::ArgMin: out[size_t(o)] = double(at); break;
                  case ReduceOp::Var: out[size_t(o)] = ss / double(r.inner - corr); break;
                }
              }
              return std::vector<Values>{out};
            };
            if (!integer && !ties) {
              k.atol = k.parity_atol = is_f64(d) ? 1e-12 : 1e-5;
              k.rtol = k.parity_rtol = is_f64(d) ? 1e-10 : 1e-4;
            }
            k.bytes = nbytes(shape, d) + nbytes({r.rows}, out_dtype);
            L.add(k);
          }
        }
      }
    }
  }
}

inline void add_softmax_cases(CaseList& L) {
  if (!L.wants({"softmax"})) return;
  struct R { int64_t rows, inner; };
  const std::vector<R> shapes = L.perf ? std::vector<R>{{64 * 4 * 256, 256}, {8192, 1024}}
                                       : std::vector<R>{{3, 7}, {6, 33}, {2, 1025}, {129, 5}, {4, 1}};
  for (const R& r : shapes) {
    for (bool log : {false, true}) {
      for (DType d : {DType::Float32, DType::Float64}) {
        if (L.perf && d != DType::Float32) continue;
        for (Lay lay : kLays) {
          if (L.perf && lay != Lay::Contiguous) continue;
          const Shape shape{r.rows, r.inner};
          Values v = dyadic(size_t(numel_of(shape)), 8);
          if (r.rows == 3) v = {1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4, 88.75, 89, 89.25, 3, -3,
                                5, 6, 7, 8, 9, 10, 11};  // huge values: the max must be subtracted
          BackendOpCase k;
          k.kernel = "softmax";
          k.label = std::string(log ? "log_softmax " : "softmax ") + dtype_label(d) + " " + shape_str(shape) + " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor out = make_input(Values(v.size(), 0.0), shape, TensorOptions(d, dev), lay == Lay::Transposed ? Lay::Strided : Lay::Contiguous);
            return [=] {
              backend(dev).softmax(out.ref(), x.ref(), r.inner, log);
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(v.size());
            for (int64_t o = 0; o < r.rows; ++o) {
              const double* row = v.data() + o * r.inner;
              double mx = -std::numeric_limits<double>::infinity(), sum = 0;
              for (int64_t j = 0; j < r.inner; ++j) mx = std::max(mx, row[j]);
              for (int64_t j = 0; j < r.inner; ++j) sum += std::exp(row[j] - mx);
              for (int64_t j = 0; j < r.inner; ++j)
                out[size_t(o * r.inner + j)] = log ? row[j] - mx - std::log(sum) : std::exp(row[j] - mx) / sum;
            }
            return std::vector<Values>{out};
          };
          k.atol = k.parity_atol = tol_a(d);
          k.rtol = k.parity_rtol = tol_r(d);
          k.bytes = 2 * nbytes(shape, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- gemm ---------------------------------------------------------------------------------------

inline void add_gemm_cases(CaseList& L) {
  if (!L.wants({"gemm"})) return;
  // broadcast_b: B's batch stride is 0; reduce_c: C's is 0 (the batch is summed into one C)
  struct G { int64_t batch, m, n, k; bool ta, tb; bool broadcast_b; double alpha, beta; bool reduce_c = false; };
  const std::vector<G> shapes =
      L.perf ? std::vector<G>{{1, 512, 512, 512, false, false, false, 1, 0},
                              {1, 1024, 1024, 1024, false, true, false, 1, 0},
                              {64, 1024, 128, 1152, true, true, true, 1, 0},    // a 3x3 conv of 128 channels at 32x32, transposed
                              {64, 128, 1152, 1024, false, false, false, 1, 0, true},  // its weight gradient, summed over the batch
                              {64, 256, 256, 32, false, true, false, 1, 0}}     // attention scores
             : std::vector<G>{{1, 1, 1, 1, false, false, false, 1, 0},   {1, 7, 5, 33, false, false, false, 1, 0},
                              {2, 7, 5, 33, true, false, false, 1, 0},   {3, 4, 6, 5, false, true, false, 1, 0},
                              {2, 33, 17, 129, true, true, false, 1, 0}, {4, 3, 2, 4, false, false, true, 1, 0},
                              {2, 5, 3, 7, false, false, false, 0.5, 1}, {1, 65, 67, 129, false, true, false, -2, 0.25},
                              {3, 4, 5, 6, false, true, false, 1, 0, true}, {4, 3, 2, 5, true, false, true, 0.5, 1, true}};
  for (const G& g : shapes) {
    for (DType d : {DType::Float32, DType::Float64}) {
      if (L.perf && d != DType::Float32) continue;
      // A stored as [batch, m, k] (or [batch, k, m] when ta), B as [batch, k, n] or [batch, n, k], both
      // with a padded leading dimension (ld = cols + 3) so that ld != the logical width.
      const int64_t a_rows = g.ta ? g.k : g.m, a_cols = g.ta ? g.m : g.k;
      const int64_t b_rows = g.tb ? g.n : g.k, b_cols = g.tb ? g.k : g.n;
      const int64_t lda = a_cols + 3, ldb = b_cols + 3, ldc = g.n + 1;
      const int64_t sa = a_rows * lda, sb = g.broadcast_b ? 0 : b_rows * ldb, sc = g.reduce_c ? 0 : g.m * ldc;
      const int64_t nb = g.broadcast_b ? 1 : g.batch, nc = g.reduce_c ? 1 : g.batch;
      Values va = dyadic(size_t(g.batch * sa), 1), vb = dyadic(size_t(nb * b_rows * ldb), 2), vc = dyadic(size_t(nc * g.m * ldc), 3);
      if (g.k > 64 && !L.perf) {  // non-dyadic values: the order of the sums matters at the last bits
        for (size_t i = 0; i < va.size(); ++i) va[i] = std::sin(0.37 * double(i));
        for (size_t i = 0; i < vb.size(); ++i) vb[i] = std::cos(0.11 * double(i));
      }
      BackendOpCase k;
      k.kernel = "gemm";
      k.label = dtype_label(d) + " batch " + std::to_string(g.batch) + " m " + std::to_string(g.m) + " n " + std::to_string(g.n) +
                " k " + std::to_string(g.k) + (g.ta ? " A^T" : "") + (g.tb ? " B^T" : "") + (g.broadcast_b ? " B broadcast" : "") + (g.reduce_c ? " C summed over the batch" : "") +
                (g.beta != 0 || g.alpha != 1 ? " alpha " + std::to_string(g.alpha) + " beta " + std::to_string(g.beta) : "");
      k.make = [=](Device dev) -> KernelCall {
        Tensor a = tensor(va, {int64_t(va.size())}, TensorOptions(d, dev));
        Tensor b = tensor(vb, {int64_t(vb.size())}, TensorOptions(d, dev));
        Tensor c = tensor(vc, {int64_t(vc.size())}, TensorOptions(d, dev));  // beta reads it
        return [=] {
          GemmArgs args;
          args.dtype = d;
          args.batch = g.batch; args.m = g.m; args.n = g.n; args.k = g.k;
          args.a = a.raw_data(); args.lda = lda; args.stride_a = sa; args.trans_a = g.ta;
          args.b = b.raw_data(); args.ldb = ldb; args.stride_b = sb; args.trans_b = g.tb;
          args.c = c.raw_data(); args.ldc = ldc; args.stride_c = sc;
          args.alpha = g.alpha; args.beta = g.beta;
          backend(dev).gemm(args);
          return std::vector<Tensor>{c};
        };
      };
      k.reference = [=] {
        Values out = vc;  // the padding columns of C stay as they were
        for (int64_t ci = 0; ci < nc; ++ci)
          for (int64_t i = 0; i < g.m; ++i)
            for (int64_t j = 0; j < g.n; ++j) {
              double acc = 0;  // over p, and over the batch when C is shared
              for (int64_t bi = g.reduce_c ? 0 : ci; bi < (g.reduce_c ? g.batch : ci + 1); ++bi)
                for (int64_t p = 0; p < g.k; ++p) {
                  const double x = va[size_t(bi * sa + (g.ta ? p * lda + i : i * lda + p))];
                  const double y = vb[size_t(bi * sb + (g.tb ? j * ldb + p : p * ldb + j))];
                  acc += as_dtype(x, d) * as_dtype(y, d);
                }
              double& o = out[size_t(ci * g.m * ldc + i * ldc + j)];
              o = g.alpha * acc + (g.beta != 0 ? g.beta * as_dtype(o, d) : 0.0);
            }
        return std::vector<Values>{out};
      };
      k.atol = k.parity_atol = is_f64(d) ? 1e-11 : 1e-4;
      k.rtol = k.parity_rtol = is_f64(d) ? 1e-11 : 1e-4;
      const double es = double(dtype_size(d));
      k.bytes = es * double(g.batch * g.m * g.k + nb * g.k * g.n + nc * g.m * g.n * (g.beta != 0 ? 2 : 1));
      k.flops = 2.0 * double(g.batch) * double(g.m) * double(g.n) * double(g.k);
      L.add(k);
    }
  }
}

// ---- indexing -----------------------------------------------------------------------------------

inline void add_index_cases(CaseList& L) {
  if (!L.wants({"index_select", "gather", "index_add", "scatter_add"})) return;
  const Shape shape = L.perf ? Shape{64, 128, 1024} : Shape{5, 3, 7};
  const std::vector<int64_t> dims = L.perf ? std::vector<int64_t>{0, 2} : std::vector<int64_t>{0, 1, 2};
  for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64, DType::Bool}) {
    if (L.perf && d != DType::Float32) continue;
    for (int64_t dim : dims) {
      for (Lay lay : kLays) {
        if (L.perf && lay != Lay::Contiguous) continue;
        const int64_t size = shape[size_t(dim)];
        Values v = d == DType::Bool ? map(integers(size_t(numel_of(shape)), 1, 3), [](double x) { return double(x > 0); })
                 : d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 3) : dyadic(size_t(numel_of(shape)), 3);
        const std::string where = dtype_label(d) + " " + shape_str(shape) + " " + lay_name(lay) + " dim " + std::to_string(dim);
        // index_select: 7 indices with repeats (a strided index for the strided input)
        {
          const int64_t n = L.perf ? size : 7;
          Values iv(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) iv[size_t(j)] = double((j * 4 + 4) % size);
          Shape os = shape;
          os[size_t(dim)] = n;
          BackendOpCase k;
          k.kernel = "index_select";
          k.label = where + " " + std::to_string(n) + " indices";
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor idx = make_input(iv, {n}, TensorOptions(DType::Int64, dev), lay == Lay::Strided ? Lay::Strided : Lay::Contiguous);
            Tensor out = empty(os, TensorOptions(d, dev));
            return [=] {
              backend(dev).index_select(out.ref(), x.ref(), idx.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(size_t(numel_of(os)));
            for (int64_t o = 0; o < int64_t(out.size()); ++o) {
              std::vector<int64_t> at = unravel(o, os);
              at[size_t(dim)] = int64_t(iv[size_t(at[size_t(dim)])]);
              out[size_t(o)] = v[size_t(ravel(at, shape))];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(os, d) + 8.0 * double(n);
          L.add(k);
        }
        // gather: an index of the input's shape except 4 along dim (transposed for the transposed input)
        Shape is = shape;
        is[size_t(dim)] = L.perf ? size : 4;
        Values gi(size_t(numel_of(is)));
        for (size_t i = 0; i < gi.size(); ++i) gi[i] = double((i * 5 + 1) % size_t(size));
        {
          BackendOpCase k;
          k.kernel = "gather";
          k.label = where + " index " + shape_str(is);
          k.make = [=](Device dev) -> KernelCall {
            Tensor x = make_input(v, shape, TensorOptions(d, dev), lay);
            Tensor idx = make_input(gi, is, TensorOptions(DType::Int64, dev), lay == Lay::Transposed ? Lay::Transposed : Lay::Contiguous);
            Tensor out = empty(is, TensorOptions(d, dev));
            return [=] {
              backend(dev).gather(out.ref(), x.ref(), idx.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out(gi.size());
            for (int64_t o = 0; o < int64_t(out.size()); ++o) {
              std::vector<int64_t> at = unravel(o, is);
              at[size_t(dim)] = int64_t(gi[size_t(o)]);
              out[size_t(o)] = v[size_t(ravel(at, shape))];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(is, d) + nbytes(is, DType::Int64);
          L.add(k);
        }
        if (d != DType::Float32 && d != DType::Float64) continue;  // the adjoints: float32 and float64
        // scatter_add: the gather's index, src of its shape, into an out that already holds values
        {
          Values sv = d == DType::Int64 ? integers(gi.size(), 1000, 9) : dyadic(gi.size(), 9);
          Values ov = d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 10) : dyadic(size_t(numel_of(shape)), 10);
          BackendOpCase k;
          k.kernel = "scatter_add";
          k.label = dtype_label(d) + " into " + shape_str(shape) + " dim " + std::to_string(dim) + " src " + shape_str(is) +
                    " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor out = make_input(ov, shape, TensorOptions(d, dev));
            Tensor idx = make_input(gi, is, TensorOptions(DType::Int64, dev), lay == Lay::Transposed ? Lay::Transposed : Lay::Contiguous);
            Tensor src = make_input(sv, is, TensorOptions(d, dev), lay);
            return [=] {
              backend(dev).scatter_add(out.ref(), idx.ref(), src.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out = ov;
            for (int64_t s = 0; s < int64_t(gi.size()); ++s) {
              std::vector<int64_t> at = unravel(s, is);
              at[size_t(dim)] = int64_t(gi[size_t(s)]);
              out[size_t(ravel(at, shape))] += sv[size_t(s)];
            }
            return std::vector<Values>{out};
          };
          // float32 atomics add in any order: the values are exact, so the order cannot matter
          k.bytes = 2 * nbytes(is, d) + nbytes(is, DType::Int64) + nbytes(shape, d);
          L.add(k);
        }
        // index_add: 7 rows (with repeats) of src into an out that already holds values
        {
          const int64_t n = L.perf ? size : 7;
          Values iv(static_cast<size_t>(n));
          for (int64_t j = 0; j < n; ++j) iv[size_t(j)] = double((j * 4 + 4) % size);
          Shape ss = shape;
          ss[size_t(dim)] = n;
          Values sv = d == DType::Int64 ? integers(size_t(numel_of(ss)), 1000, 11) : dyadic(size_t(numel_of(ss)), 11);
          Values ov = d == DType::Int64 ? integers(size_t(numel_of(shape)), 1000, 12) : dyadic(size_t(numel_of(shape)), 12);
          BackendOpCase k;
          k.kernel = "index_add";
          k.label = dtype_label(d) + " into " + shape_str(shape) + " dim " + std::to_string(dim) + " src " + shape_str(ss) +
                    " " + lay_name(lay);
          k.make = [=](Device dev) -> KernelCall {
            Tensor out = make_input(ov, shape, TensorOptions(d, dev));
            Tensor idx = make_input(iv, {n}, TensorOptions(DType::Int64, dev), lay == Lay::Strided ? Lay::Strided : Lay::Contiguous);
            Tensor src = make_input(sv, ss, TensorOptions(d, dev), lay);
            return [=] {
              backend(dev).index_add(out.ref(), idx.ref(), src.ref(), int(dim));
              return std::vector<Tensor>{out};
            };
          };
          k.reference = [=] {
            Values out = ov;
            for (int64_t s = 0; s < int64_t(sv.size()); ++s) {
              std::vector<int64_t> at = unravel(s, ss);
              at[size_t(dim)] = int64_t(iv[size_t(at[size_t(dim)])]);
              out[size_t(ravel(at, shape))] += sv[size_t(s)];
            }
            return std::vector<Values>{out};
          };
          k.bytes = 2 * nbytes(ss, d) + 8.0 * double(n) + nbytes(shape, d);
          L.add(k);
        }
      }
    }
  }
}

// ---- random -------------------------------------------------------------------------------------

inline void add_random_cases(CaseList& L) {
  if (!L.wants({"random"})) return;
  struct R { const char* name; Distribution dist; double a, b; };
  const R dists[] = {{"uniform [-2, 5)", Distribution::Uniform, -2, 5},
                     {"normal (1, 2)", Distribution::Normal, 1, 2},
                     {"bernoulli 0.3", Distribution::Bernoulli, 0.3, 0},
                     {"randint [-5, 9)", Distribution::RandInt, -5, 9}};
  const std::vector<Shape> shapes = L.perf ? std::vector<Shape>{{64, 128, 32, 32}} : std::vector<Shape>{{1}, {3, 7}, {33, 65}};
  for (const R& r : dists) {
    for (DType d : {DType::Float32, DType::Float64, DType::BFloat16, DType::Int64}) {
      if ((d == DType::Int64 && r.dist != Distribution::RandInt && r.dist != Distribution::Bernoulli) ||
          (L.perf && d != DType::Float32))
        continue;
      for (const Shape& shape : shapes) {
        const uint64_t seed = 31337, offset = 5;
        BackendOpCase k;
        k.kernel = "random";
        k.label = std::string(r.name) + " " + dtype_label(d) + " " + shape_str(shape) + " offset 5";
        k.make = [=](Device dev) -> KernelCall {
          Tensor out = empty(shape, TensorOptions(d, dev));
          return [=] {
            backend(dev).random(r.dist, out.ref(), seed, offset, r.a, r.b);
            return std::vector<Tensor>{out};
          };
        };
        // The contract is philox_sample itself; the reference rounds it to the dtype.
        k.reference = [=] {
          Values out(size_t(numel_of(shape)));
          for (size_t i = 0; i < out.size(); ++i)
            out[i] = as_dtype(philox_sample(r.dist, seed, offset, uint64_t(i), r.a, r.b), d);
          return std::vector<Values>{out};
        };
        if (d == DType::BFloat16) k.rtol = 1.0 / 256;  // rounded to 8 bits
        // Box-Muller's log/sin/cos may differ in the last bit between libm and CUDA's math library
        if (r.dist == Distribution::Normal) {
          k.parity_atol = is_f64(d) ? 1e-13 : d == DType::BFloat16 ? 1e-7 : 1e-6;
          k.parity_rtol = is_f64(d) ? 1e-13 : d == DType::BFloat16 ? 1.0 / 128 : 1e-6;
        }
        k.bytes = nbytes(shape, d);
        L.add(k);
      }
    }
  }
}

}  // namespace ddpm::backend_ops
