// sgemm through oneDNN's dnnl_sgemm (row-major, like ours). oneDNN generates its kernels at
// run time for the instruction set it finds (AVX-512 on the project's EPYC), independently of
// OPENBLAS_CORETYPE, which pins OpenBLAS to its AVX2 Haswell kernels on these machines;
// bench_gemm measures it about 2x faster than OpenBLAS on every training shape.
//
// Debian builds oneDNN on the OpenMP runtime: called outside an active parallel region, a
// product is split over omp_get_max_threads() threads. Parallelism belongs to the replicas,
// so the call runs with the calling task's thread count set to one and restored afterwards
// (the setting is per OpenMP task, so concurrent replicas do not see each other's).
#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include "core/error.hpp"
#include "training/gemm.hpp"

namespace memcarlo::training {

void sgemm_onednn(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads != 1) omp_set_num_threads(1);
  const dnnl_status_t status =
      dnnl_sgemm(ta == Trans::yes ? 'T' : 'N', tb == Trans::yes ? 'T' : 'N', M, N, K, alpha, A,
                 lda, B, ldb, beta, C, ldc);
  if (threads != 1) omp_set_num_threads(threads);
  if (status != dnnl_success)
    throw Error(fmt::format("dnnl_sgemm failed with status {} for a {}x{}x{} product",
                            static_cast<int>(status), M, N, K));
}

}  // namespace memcarlo::training
