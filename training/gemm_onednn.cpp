// sgemm through oneDNN's dnnl_sgemm (row-major, like ours). oneDNN generates its kernels at
// run time for the instruction set it finds (AVX-512 on the project's EPYC), independently of
// OPENBLAS_CORETYPE, which pins OpenBLAS to its AVX2 Haswell kernels on these machines;
// bench_gemm measures it about 2x faster than OpenBLAS on the training shapes.
#include <oneapi/dnnl/dnnl.h>

#include "core/error.hpp"
#include "training/gemm.hpp"
#include "training/onednn_threads.hpp"

namespace memcarlo::training {

void sgemm_onednn(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                  const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  dnnl_status_t status;
  {
    const OneThread one;
    status = dnnl_sgemm(ta == Trans::yes ? 'T' : 'N', tb == Trans::yes ? 'T' : 'N', M, N, K, alpha,
                        A, lda, B, ldb, beta, C, ldc);
  }
  if (status != dnnl_success)
    throw Error(fmt::format("dnnl_sgemm failed with status {} for a {}x{}x{} product",
                            static_cast<int>(status), M, N, K));
}

}  // namespace memcarlo::training
