// Backend dispatch of sgemm. The backends live in gemm_onednn.cpp, gemm_openblas.cpp and
// gemm_eigen.cpp so that each sees only its own headers (Eigen's macros must precede its
// includes).
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
#ifdef MEMCARLO_HAVE_ONEDNN
void sgemm_onednn(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc);
#endif

GemmBackend default_gemm_backend() {
#if defined(MEMCARLO_GEMM_ONEDNN)
  return GemmBackend::onednn;
#elif defined(MEMCARLO_GEMM_OPENBLAS)
  return GemmBackend::openblas;
#else
  return GemmBackend::eigen;
#endif
}

bool gemm_backend_available(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::onednn:
#ifdef MEMCARLO_HAVE_ONEDNN
      return true;
#else
      return false;
#endif
    case GemmBackend::openblas:
#ifdef MEMCARLO_HAVE_OPENBLAS
      return true;
#else
      return false;
#endif
    case GemmBackend::eigen: return true;
  }
  return false;
}

const char* gemm_backend_name(GemmBackend backend) {
  switch (backend) {
    case GemmBackend::onednn: return "onednn";
    case GemmBackend::openblas: return "openblas";
    case GemmBackend::eigen: return "eigen";
  }
  return "?";
}

void sgemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
#if defined(MEMCARLO_GEMM_ONEDNN)
  sgemm_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#elif defined(MEMCARLO_GEMM_OPENBLAS)
  sgemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#else
  sgemm_eigen(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
#endif
}

void sgemm(GemmBackend backend, Trans ta, Trans tb, int M, int N, int K, float alpha,
           const float* A, int lda, const float* B, int ldb, float beta, float* C, int ldc) {
  MC_VALIDATE(gemm_backend_available(backend), "GEMM backend {} is not compiled into this build",
              gemm_backend_name(backend));
  switch (backend) {
#ifdef MEMCARLO_HAVE_ONEDNN
    case GemmBackend::onednn:
      sgemm_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
#endif
#ifdef MEMCARLO_HAVE_OPENBLAS
    case GemmBackend::openblas:
      sgemm_openblas(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
      return;
#endif
    default: sgemm_eigen(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  }
}

}  // namespace memcarlo::training
