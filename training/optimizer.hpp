// Digital optimizers (SGD with momentum, Adam) and the learning-rate schedules, with the
// semantics of torch.optim.SGD (dampening 0, nesterov off), torch.optim.Adam (amsgrad off, L2
// weight decay added to the gradient) and torch.optim.lr_scheduler (StepLR, CosineAnnealingLR),
// so that a run can be compared step by step with a PyTorch script.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "training/layer.hpp"
#include "training/state.hpp"

namespace memcarlo::training {

struct SgdConfig {
  double momentum = 0.0;      // mu, in [0, 1)
  double weight_decay = 0.0;  // lambda (L2), applied to parameters with decay = true
};

struct AdamConfig {
  double beta1 = 0.9;         // decay of the first-moment average, in [0, 1)
  double beta2 = 0.999;       // decay of the second-moment average, in [0, 1)
  double eps = 1e-8;          // added to the root of the second moment, > 0
  double weight_decay = 0.0;  // lambda (L2 added to the gradient, not AdamW's decoupled form)
};

enum class OptimizerKind { sgd, adam };
OptimizerKind parse_optimizer_kind(std::string_view name);  // "sgd", "adam"
std::string optimizer_kind_name(OptimizerKind kind);

// What a run's optimizer is: the kind and that kind's settings.
struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  SgdConfig sgd;
  AdamConfig adam;
};

// A digital optimizer over a fixed list of parameters. The parameters are owned by layers that
// outlive the optimizer; their addresses must stay valid (layers are held by unique_ptr, so
// they do).
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update with learning rate lr, using each parameter's grad.
  virtual void step(double lr) = 0;
  // Forgets the optimizer's state: the next step is a first step again.
  virtual void reset() = 0;
  // Its state between steps (moment buffers, step count) under "optimizer/...", for a
  // checkpoint; restore_state takes it back (InputError naming an entry that is missing or of
  // the wrong size for these parameters).
  virtual void save_state(StateArchive& archive) const = 0;
  virtual void restore_state(const StateArchive& archive) = 0;
};

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          std::vector<Parameter*> parameters);

// torch.optim.SGD, per element (PyTorch docs, "SGD" algorithm box):
//   d = g + lambda w;  v = d on the first step, v = mu v + d after;  w = w - lr v.
// Without momentum v = d. Arithmetic is float, as PyTorch's for float32 tensors.
class Sgd final : public Optimizer {
 public:
  Sgd(const SgdConfig& config, std::vector<Parameter*> parameters);

  void step(double lr) override;
  // Forgets the momentum buffers.
  void reset() override;
  void save_state(StateArchive& archive) const override;
  void restore_state(const StateArchive& archive) override;

  const SgdConfig& config() const { return config_; }
  // Momentum buffer of parameter i (empty before the first step or without momentum).
  const std::vector<float>& velocity(std::size_t i) const { return velocity_[i]; }

 private:
  SgdConfig config_;
  std::vector<Parameter*> params_;
  std::vector<std::vector<float>> velocity_;
  bool started_ = false;
};

// torch.optim.Adam (amsgrad off), per element, at step t = 1, 2, ... (PyTorch docs, "Adam"
// algorithm box, and its single-tensor implementation):
//   d = g + lambda w;  m = beta1 m + (1 - beta1) d;  v = beta2 v + (1 - beta2) d^2;
//   w = w - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps),
// m and v starting at 0. The bias corrections are computed in double, as PyTorch computes them
// in Python floats; the per-element arithmetic is float.
class Adam final : public Optimizer {
 public:
  Adam(const AdamConfig& config, std::vector<Parameter*> parameters);

  void step(double lr) override;
  void reset() override;
  void save_state(StateArchive& archive) const override;
  void restore_state(const StateArchive& archive) override;

  const AdamConfig& config() const { return config_; }
  std::int64_t steps() const { return t_; }
  // The moment averages of parameter i (empty before the first step).
  const std::vector<float>& first_moment(std::size_t i) const { return m_[i]; }
  const std::vector<float>& second_moment(std::size_t i) const { return v_[i]; }

 private:
  AdamConfig config_;
  std::vector<Parameter*> params_;
  std::vector<std::vector<float>> m_, v_;
  std::int64_t t_ = 0;
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
