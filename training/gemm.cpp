// Backend dispatch of sgemm. The backends live in gemm_openblas.cpp and gemm_eigen.cpp so that
// each sees only its own headers (Eigen's macros must precede its includes).
#include "training/gemm.hpp"

#include "core/error.hpp"

namespace memcarlo::training {

// Defined in the backend sources.
void sgemm_eigen(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc);
#ifdef MEMCARLO_HAVE_OPENBLAS
void sgemm_openblas(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                    const float* B, int ldb, float beta, float* C, int ldc);
#endif

GemmBackend default_gemm_backend() {
#ifdef MEMCARLO_GEMM_OPENBLAS
  return GemmBackend::openblas;
#else
  return GemmBackend::eigen;
#endif
}

bool gemm_backend_available(GemmBackend backend) {
#ifdef MEMCARLO_HAVE_OPENBLAS
  (void)backend;
  return true;
#else
  return backend == GemmBackend::eigen;
#endif
}

const char* gemm_backend_name(GemmBackend backend) {
  return backend == GemmBackend::openblas ? "openblas" : "eigen";
}

void sgemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
#ifdef MEMCARLO_GEMM_OPENBLAS
  sgemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  sgemm_eigen(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void sgemm(GemmBackend backend, Trans ta, Trans tb, int M, int N, int K, float alpha,
           const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  MC_VALIDATE(gemm_backend_available(backend), "GEMM backend {} is not compiled into this build",
              gemm_backend_name(backend));
#ifdef MEMCARLO_HAVE_OPENBLAS
  if (backend == GemmBackend::openblas) {
    sgemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#endif
  sgemm_eigen(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace memcarlo::training
