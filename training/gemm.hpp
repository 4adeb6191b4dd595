// Single-precision matrix product for the training engine, C = alpha op(A) op(B) + beta C, in
// row-major storage. One entry point with three backends (oneDNN, OpenBLAS, Eigen) chosen at
// configure time (MEMCARLO_GEMM); all run single-threaded, since parallelism is across replicas.
#pragma once

namespace memcarlo::training {

enum class Trans { no, yes };

enum class GemmBackend { onednn, openblas, eigen };

// op(A) is M x K, op(B) is K x N, C is M x N; lda, ldb, ldc are row strides (elements) of the
// matrices as stored. beta == 0 overwrites C without reading it (NaN in C does not leak).
void sgemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc);

// The backend `sgemm` uses (the MEMCARLO_GEMM choice).
GemmBackend default_gemm_backend();
// Whether `backend` is compiled into this build (Eigen always is; oneDNN and OpenBLAS when
// found).
bool gemm_backend_available(GemmBackend backend);
const char* gemm_backend_name(GemmBackend backend);

// The same product with an explicit backend, for benchmarks and tests. Throws InputError when
// the backend is not compiled in.
void sgemm(GemmBackend backend, Trans ta, Trans tb, int M, int N, int K, float alpha,
           const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc);

}  // namespace memcarlo::training
