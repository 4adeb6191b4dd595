// The loss of the training engine: softmax cross-entropy over logits, as
// torch.nn.CrossEntropyLoss(reduction="mean") with integer class labels, and the accuracy
// helpers that evaluation reports.
#pragma once

#include <cstddef>
#include <span>

#include "training/tensor.hpp"

namespace memcarlo::training {

// Mean over the batch of -log softmax(logits)[label] for logits (N, C) and labels in [0, C).
// If grad is not null it is resized to (N, C) and receives dL/dlogits = (softmax - onehot) / N.
// The log-sum-exp subtracts each row's maximum first, so large logits do not overflow.
double softmax_cross_entropy(const Tensor& logits, std::span<const int> labels, Tensor* grad);

// Index of the largest logit of row n; ties go to the lowest index, as torch.argmax documents.
int argmax_row(const Tensor& logits, std::size_t n);

// Rows whose argmax equals the label, and that count over N.
std::size_t count_correct(const Tensor& logits, std::span<const int> labels);
double accuracy(const Tensor& logits, std::span<const int> labels);

}  // namespace memcarlo::training
