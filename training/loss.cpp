// Softmax cross-entropy and accuracy. Row sums are accumulated in double: the loss is a
// reported number and the rows are short, so the cost is negligible.
#include "training/loss.hpp"

#include <cmath>

#include "core/error.hpp"

namespace memcarlo::training {

namespace {

void check_logits(const Tensor& logits, std::span<const int> labels) {
  MC_VALIDATE(logits.shape.size() == 2 && logits.shape[1] > 0,
              "cross-entropy expects logits of shape (N, C), got {}", shape_string(logits.shape));
  MC_VALIDATE(labels.size() == logits.shape[0], "cross-entropy: {} labels for logits of shape {}",
              labels.size(), shape_string(logits.shape));
  const int C = static_cast<int>(logits.shape[1]);
  for (std::size_t n = 0; n < labels.size(); ++n) {
    MC_VALIDATE(labels[n] >= 0 && labels[n] < C,
                "cross-entropy: label {} of sample {} is outside [0, {})", labels[n], n, C);
  }
}

}  // namespace

double softmax_cross_entropy(const Tensor& logits, std::span<const int> labels, Tensor* grad) {
  check_logits(logits, labels);
  const std::size_t N = logits.shape[0], C = logits.shape[1];
  if (grad) grad->resize(logits.shape);
  if (N == 0) return 0.0;
  double total = 0.0;
  const double inv_n = 1.0 / static_cast<double>(N);
  for (std::size_t n = 0; n < N; ++n) {
    const float* z = logits.ptr() + n * C;
    float zmax = z[0];
    for (std::size_t c = 1; c < C; ++c) zmax = z[c] > zmax ? z[c] : zmax;
    double sum = 0.0;
    for (std::size_t c = 0; c < C; ++c) sum += std::exp(static_cast<double>(z[c]) - zmax);
    const double log_sum = std::log(sum);
    // -log softmax[label] = log sum exp(z - max) - (z[label] - max)
    total += log_sum - (static_cast<double>(z[labels[n]]) - zmax);
    if (grad) {
      float* g = grad->ptr() + n * C;
      for (std::size_t c = 0; c < C; ++c) {
        const double p = std::exp(static_cast<double>(z[c]) - zmax - log_sum);
        g[c] = static_cast<float>((p - (static_cast<int>(c) == labels[n] ? 1.0 : 0.0)) * inv_n);
      }
    }
  }
  return total * inv_n;
}

int argmax_row(const Tensor& logits, std::size_t n) {
  MC_VALIDATE(logits.shape.size() == 2 && n < logits.shape[0] && logits.shape[1] > 0,
              "argmax: row {} of logits {}", n, shape_string(logits.shape));
  const std::size_t C = logits.shape[1];
  const float* z = logits.ptr() + n * C;
  std::size_t best = 0;
  for (std::size_t c = 1; c < C; ++c) {
    if (z[c] > z[best]) best = c;  // strictly larger: the first maximum stays
  }
  return static_cast<int>(best);
}

std::size_t count_correct(const Tensor& logits, std::span<const int> labels) {
  check_logits(logits, labels);
  std::size_t correct = 0;
  for (std::size_t n = 0; n < labels.size(); ++n) correct += argmax_row(logits, n) == labels[n];
  return correct;
}

double accuracy(const Tensor& logits, std::span<const int> labels) {
  if (labels.empty()) return 0.0;
  return static_cast<double>(count_correct(logits, labels)) / static_cast<double>(labels.size());
}

}  // namespace memcarlo::training
