// Digital SGD with momentum and the learning-rate schedules, with the semantics of
// torch.optim.SGD (dampening 0, nesterov off) and torch.optim.lr_scheduler (StepLR,
// CosineAnnealingLR), so that a run can be compared step by step with a PyTorch script.
#pragma once

#include <string_view>
#include <vector>

#include "training/layer.hpp"

namespace memcarlo::training {

struct SgdConfig {
  double momentum = 0.0;      // mu, in [0, 1)
  double weight_decay = 0.0;  // lambda (L2), applied to parameters with decay = true
};

// torch.optim.SGD, per element (PyTorch docs, "SGD" algorithm box):
//   d = g + lambda w;  v = d on the first step, v = mu v + d after;  w = w - lr v.
// Without momentum v = d. Arithmetic is float, as PyTorch's for float32 tensors.
class Sgd {
 public:
  // The parameters are owned by layers that outlive the optimizer; their addresses must stay
  // valid (layers are held by unique_ptr, so they do).
  Sgd(const SgdConfig& config, std::vector<Parameter*> parameters);

  // One update with learning rate lr, using each parameter's grad.
  void step(double lr);
  // Forgets the momentum buffers: the next step is a first step again.
  void reset();

  const SgdConfig& config() const { return config_; }
  // Momentum buffer of parameter i (empty before the first step or without momentum).
  const std::vector<float>& velocity(std::size_t i) const { return velocity_[i]; }

 private:
  SgdConfig config_;
  std::vector<Parameter*> params_;
  std::vector<std::vector<float>> velocity_;
  bool started_ = false;
};

enum class ScheduleKind { constant, step, cosine };

// "constant", "step", "cosine"; throws InputError naming the accepted values.
ScheduleKind parse_schedule_kind(std::string_view name);

struct ScheduleConfig {
  ScheduleKind kind = ScheduleKind::constant;
  double lr = 0.01;         // base learning rate
  int step_epochs = 30;     // step: multiply by gamma every step_epochs epochs (StepLR step_size)
  double gamma = 0.1;       // step: the factor
  int cosine_epochs = 100;  // cosine: T_max, the epoch at which the rate reaches 0
};

// The learning rate of each epoch (counted from 0), in PyTorch's closed forms:
//   constant: lr;  StepLR: lr gamma^floor(epoch / step_epochs);
//   CosineAnnealingLR (eta_min = 0): lr (1 + cos(pi epoch / T_max)) / 2.
// Like PyTorch's closed form, the cosine rises again past T_max; train for T_max epochs.
class LrSchedule {
 public:
  explicit LrSchedule(const ScheduleConfig& config);
  double lr(int epoch) const;
  const ScheduleConfig& config() const { return config_; }

 private:
  ScheduleConfig config_;
};

}  // namespace memcarlo::training
