// sgemm through Eigen 3.4's general matrix product on mapped row-major storage. Eigen would
// use OpenMP inside the product when the translation unit is compiled with -fopenmp; we
// forbid it (parallelism is across replicas, one product per thread).
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>

#include "training/gemm.hpp"

namespace memcarlo::training {

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using MutableMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class OpA, class OpB>
void product(const OpA& a, const OpB& b, float alpha, float beta, MutableMap& c) {
  // beta == 0 must not read C (BLAS convention): assign instead of scaling.
  if (beta == 0.0f) {
    c.noalias() = alpha * (a * b);
  } else {
    if (beta != 1.0f) c *= beta;
    c.noalias() += alpha * (a * b);
  }
}

}  // namespace

void sgemm_eigen(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  MutableMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {  // empty sum: C = beta C
    if (beta == 0.0f) {
      c.setZero();
    } else {
      c *= beta;
    }
    return;
  }
  // A stored as M x K (no) or K x M (yes); likewise B as K x N or N x K.
  const ConstMap a = ta == Trans::no ? ConstMap(A, M, K, Eigen::OuterStride<>(lda))
                                     : ConstMap(A, K, M, Eigen::OuterStride<>(lda));
  const ConstMap b = tb == Trans::no ? ConstMap(B, K, N, Eigen::OuterStride<>(ldb))
                                     : ConstMap(B, N, K, Eigen::OuterStride<>(ldb));
  if (ta == Trans::no && tb == Trans::no) product(a, b, alpha, beta, c);
  if (ta == Trans::no && tb == Trans::yes) product(a, b.transpose(), alpha, beta, c);
  if (ta == Trans::yes && tb == Trans::no) product(a.transpose(), b, alpha, beta, c);
  if (ta == Trans::yes && tb == Trans::yes) product(a.transpose(), b.transpose(), alpha, beta, c);
}

}  // namespace memcarlo::training
