// sgemm through OpenBLAS's cblas_sgemm. Debian ships the pthread build of OpenBLAS
// (libopenblas0-pthread), whose default is one BLAS thread per core; called from our OpenMP
// replicas that would put 2 x 2 threads on 2 cores and print "Detect OpenMP Loop" warnings.
// So the first call pins OpenBLAS to one thread for the whole process (two BLAS threads per
// replica measured 5-68x slower, bench/README.md). Replicas calling cblas_sgemm concurrently is then safe: with one thread the
// product runs in the caller, and 0.3.21 guards its buffer pool with locks.
#include <cblas.h>

#include <mutex>

#include "training/gemm.hpp"

namespace memcarlo::training {

void sgemm_openblas(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                    const float* B, int ldb, float beta, float* C, int ldc) {
  static std::once_flag single_thread;
  std::call_once(single_thread, [] { openblas_set_num_threads(1); });
  cblas_sgemm(CblasRowMajor, ta == Trans::yes ? CblasTrans : CblasNoTrans,
              tb == Trans::yes ? CblasTrans : CblasNoTrans, M, N, K, alpha, A, lda, B, ldb, beta, C,
              ldc);
}

}  // namespace memcarlo::training
