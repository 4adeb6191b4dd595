// SGD, Adam and the learning-rate schedules.
#include "training/optimizer.hpp"

#include <cmath>
#include <numbers>

#include <fmt/format.h>

#include "core/error.hpp"

namespace memcarlo::training {

Sgd::Sgd(const SgdConfig& config, std::vector<Parameter*> parameters)
    : config_(config), params_(std::move(parameters)), velocity_(params_.size()) {
  MC_VALIDATE(config.momentum >= 0 && config.momentum < 1, "SGD momentum must be in [0, 1), got {}",
              config.momentum);
  MC_VALIDATE(config.weight_decay >= 0 && std::isfinite(config.weight_decay),
              "SGD weight decay must be >= 0, got {}", config.weight_decay);
  for (const Parameter* p : params_) MC_VALIDATE(p != nullptr, "SGD given a null parameter");
}

void Sgd::reset() {
  for (auto& v : velocity_) v.clear();
  started_ = false;
}

void Sgd::step(double lr) {
  MC_VALIDATE(std::isfinite(lr) && lr >= 0, "SGD learning rate must be >= 0, got {}", lr);
  // PyTorch casts the Python-float hyperparameters to the tensor's float type.
  const float rate = static_cast<float>(lr);
  const float mu = static_cast<float>(config_.momentum);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    MC_VALIDATE(p.grad.size() == p.value.size(), "SGD: parameter {} has {} values but {} grads",
                p.name, p.value.size(), p.grad.size());
    const float wd = p.decay ? static_cast<float>(config_.weight_decay) : 0.0f;
    float* w = p.value.ptr();
    const float* g = p.grad.ptr();
    const std::size_t n = p.value.size();
    if (mu == 0.0f) {
      for (std::size_t j = 0; j < n; ++j) w[j] -= rate * (g[j] + wd * w[j]);
      continue;
    }
    // One pass over w, g and v (the update is memory-bound on the MLP's 1.3M weights).
    std::vector<float>& v = velocity_[i];
    if (!started_ || v.size() != n) {
      v.resize(n);
      for (std::size_t j = 0; j < n; ++j) {
        const float vj = g[j] + wd * w[j];
        v[j] = vj;
        w[j] -= rate * vj;
      }
    } else {
      for (std::size_t j = 0; j < n; ++j) {
        const float vj = mu * v[j] + (g[j] + wd * w[j]);
        v[j] = vj;
        w[j] -= rate * vj;
      }
    }
  }
  started_ = true;
}

Adam::Adam(const AdamConfig& config, std::vector<Parameter*> parameters)
    : config_(config), params_(std::move(parameters)), m_(params_.size()), v_(params_.size()) {
  MC_VALIDATE(config.beta1 >= 0 && config.beta1 < 1, "Adam beta1 must be in [0, 1), got {}",
              config.beta1);
  MC_VALIDATE(config.beta2 >= 0 && config.beta2 < 1, "Adam beta2 must be in [0, 1), got {}",
              config.beta2);
  MC_VALIDATE(config.eps > 0 && std::isfinite(config.eps), "Adam eps must be > 0, got {}",
              config.eps);
  MC_VALIDATE(config.weight_decay >= 0 && std::isfinite(config.weight_decay),
              "Adam weight decay must be >= 0, got {}", config.weight_decay);
  for (const Parameter* p : params_) MC_VALIDATE(p != nullptr, "Adam given a null parameter");
}

void Adam::reset() {
  for (auto& m : m_) m.clear();
  for (auto& v : v_) v.clear();
  t_ = 0;
}

void Adam::step(double lr) {
  MC_VALIDATE(std::isfinite(lr) && lr >= 0, "Adam learning rate must be >= 0, got {}", lr);
  ++t_;
  const double t = static_cast<double>(t_);
  const float step_size = static_cast<float>(lr / (1.0 - std::pow(config_.beta1, t)));
  const float bc2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(config_.beta2, t)));
  const float b1 = static_cast<float>(config_.beta1), c1 = static_cast<float>(1.0 - config_.beta1);
  const float b2 = static_cast<float>(config_.beta2), c2 = static_cast<float>(1.0 - config_.beta2);
  const float eps = static_cast<float>(config_.eps);
  for (std::size_t i = 0; i < params_.size(); ++i) {
    Parameter& p = *params_[i];
    MC_VALIDATE(p.grad.size() == p.value.size(), "Adam: parameter {} has {} values but {} grads",
                p.name, p.value.size(), p.grad.size());
    const float wd = p.decay ? static_cast<float>(config_.weight_decay) : 0.0f;
    const std::size_t n = p.value.size();
    if (m_[i].size() != n) {
      m_[i].assign(n, 0.0f);
      v_[i].assign(n, 0.0f);
    }
    float* w = p.value.ptr();
    const float* g = p.grad.ptr();
    float* m = m_[i].data();
    float* v = v_[i].data();
    for (std::size_t j = 0; j < n; ++j) {
      const float d = g[j] + wd * w[j];
      m[j] = m[j] * b1 + c1 * d;
      v[j] = v[j] * b2 + c2 * (d * d);
      const float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
      w[j] -= step_size * (m[j] / denom);
    }
  }
}

OptimizerKind parse_optimizer_kind(std::string_view name) {
  if (name == "sgd") return OptimizerKind::sgd;
  if (name == "adam") return OptimizerKind::adam;
  throw InputError(fmt::format("unknown optimizer '{}': expected sgd or adam", name));
}

std::string optimizer_kind_name(OptimizerKind kind) {
  return kind == OptimizerKind::adam ? "adam" : "sgd";
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config,
                                          std::vector<Parameter*> parameters) {
  if (config.kind == OptimizerKind::adam)
    return std::make_unique<Adam>(config.adam, std::move(parameters));
  return std::make_unique<Sgd>(config.sgd, std::move(parameters));
}

namespace {

std::string moment_name(const char* what, std::size_t i) { return fmt::format("optimizer/{}{:03}", what, i); }

// Restores the buffers of every parameter from `archive`: empty in the archive means not yet
// allocated (no step taken, or no momentum).
void restore_buffers(const StateArchive& archive, const char* what,
                     const std::vector<Parameter*>& params, std::vector<std::vector<float>>& buffers) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const std::vector<float>& saved = archive.array(moment_name(what, i));
    MC_VALIDATE(saved.empty() || saved.size() == params[i]->value.size(),
                "{}: {} values saved for parameter {} of {} values", moment_name(what, i),
                saved.size(), params[i]->name, params[i]->value.size());
    buffers[i] = saved;
  }
}

void save_buffers(StateArchive& archive, const char* what,
                  const std::vector<std::vector<float>>& buffers) {
  for (std::size_t i = 0; i < buffers.size(); ++i) archive.arrays[moment_name(what, i)] = buffers[i];
}

}  // namespace

void Sgd::save_state(StateArchive& archive) const {
  save_buffers(archive, "velocity", velocity_);
  archive.counters["optimizer/started"] = started_ ? 1 : 0;
}

void Sgd::restore_state(const StateArchive& archive) {
  restore_buffers(archive, "velocity", params_, velocity_);
  started_ = archive.counter("optimizer/started") != 0;
}

void Adam::save_state(StateArchive& archive) const {
  save_buffers(archive, "m", m_);
  save_buffers(archive, "v", v_);
  archive.counters["optimizer/t"] = t_;
}

void Adam::restore_state(const StateArchive& archive) {
  restore_buffers(archive, "m", params_, m_);
  restore_buffers(archive, "v", params_, v_);
  t_ = archive.counter("optimizer/t");
  MC_VALIDATE(t_ >= 0, "optimizer/t = {} must be >= 0", t_);
}

ScheduleKind parse_schedule_kind(std::string_view name) {
  if (name == "constant") return ScheduleKind::constant;
  if (name == "step") return ScheduleKind::step;
  if (name == "cosine") return ScheduleKind::cosine;
  throw InputError(
      fmt::format("unknown learning-rate schedule '{}': expected constant, step or cosine", name));
}

LrSchedule::LrSchedule(const ScheduleConfig& config) : config_(config) {
  MC_VALIDATE(std::isfinite(config.lr) && config.lr >= 0,
              "learning rate must be finite and >= 0, got {}", config.lr);
  if (config.kind == ScheduleKind::step) {
    MC_VALIDATE(config.step_epochs > 0, "step schedule needs step_epochs > 0, got {}",
                config.step_epochs);
    MC_VALIDATE(std::isfinite(config.gamma) && config.gamma > 0,
                "step schedule needs gamma > 0, got {}", config.gamma);
  }
  if (config.kind == ScheduleKind::cosine) {
    MC_VALIDATE(config.cosine_epochs > 0, "cosine schedule needs cosine_epochs > 0, got {}",
                config.cosine_epochs);
  }
}

double LrSchedule::lr(int epoch) const {
  MC_VALIDATE(epoch >= 0, "learning-rate schedule asked for epoch {}", epoch);
  switch (config_.kind) {
    case ScheduleKind::constant:
      return config_.lr;
    case ScheduleKind::step:
      return config_.lr * std::pow(config_.gamma, epoch / config_.step_epochs);
    case ScheduleKind::cosine:
      return config_.lr * (1.0 + std::cos(std::numbers::pi * epoch / config_.cosine_epochs)) / 2.0;
  }
  return config_.lr;
}

}  // namespace memcarlo::training
