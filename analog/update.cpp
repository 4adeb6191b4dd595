#include "analog/update.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace memcarlo::analog {

namespace {
constexpr std::uint64_t kRoundingStream = stream_id("sgd_rounding");  // substream = pass id
}

UpdateRule parse_update_rule(const std::string& name) {
  if (name == "digital") return UpdateRule::digital;
  if (name == "sgd") return UpdateRule::sgd;
  if (name == "mixed") return UpdateRule::mixed;
  throw InputError(fmt::format("unknown update rule '{}': use digital, sgd or mixed", name));
}

std::string update_rule_name(UpdateRule rule) {
  switch (rule) {
    case UpdateRule::digital: return "digital";
    case UpdateRule::sgd: return "sgd";
    case UpdateRule::mixed: return "mixed";
  }
  return "?";
}

TileUpdater::TileUpdater(Tile& tile, training::Parameter& weight,
                         const training::OptimizerConfig& optimizer,
                         const UpdateConfig& config, std::uint64_t seed)
    : tile_(tile),
      weight_(weight),
      shadow_{weight.name, weight.value, weight.grad, weight.decay},
      optimizer_(training::make_optimizer(optimizer, {&shadow_})),
      config_(config),
      seed_(seed) {
  MC_VALIDATE(weight.value.ptr() == tile.weights().data() && weight.value.size() == tile.cells(),
              "tile updater: the weight parameter is not the tile's");
  MC_VALIDATE(config_.max_pulses >= 0, "max_pulses = {} must be >= 0", config_.max_pulses);
  if (config_.rule == UpdateRule::mixed) {
    MC_VALIDATE(std::isfinite(config_.epsilon_weight) && config_.epsilon_weight > 0,
                "mixed-precision threshold epsilon = {} (weight units) must be positive",
                config_.epsilon_weight);
    chi_.assign(tile.cells(), 0.0f);
  }
}

void TileUpdater::step(double lr, std::uint64_t pass_id) {
  const std::span<float> w = tile_.weights();
  const std::size_t n = w.size();
  std::copy(w.begin(), w.end(), shadow_.value.data.begin());
  std::copy(weight_.grad.data.begin(), weight_.grad.data.end(), shadow_.grad.data.begin());
  optimizer_->step(lr);
  const float* target = shadow_.value.ptr();
  const std::int64_t cap = config_.max_pulses > 0 ? config_.max_pulses : INT64_MAX;
  switch (config_.rule) {
    case UpdateRule::digital:
      std::copy(target, target + n, w.begin());
      return;
    case UpdateRule::sgd: {
      RngStream rng(seed_, 0, kRoundingStream, pass_id);
      const double step = tile_.mean_step_weight();
      for (std::size_t k = 0; k < n; ++k) {
        const double delta = static_cast<double>(target[k]) - static_cast<double>(w[k]);
        const double u = rng.uniform();  // drawn for every weight: weight k's draw is fixed
        if (!std::isfinite(delta)) continue;
        const auto pulses = static_cast<std::int64_t>(
            std::min(std::floor(std::fabs(delta) / step + u), static_cast<double>(cap)));
        if (pulses > 0) pending_.push_back({k, delta > 0 ? pulses : -pulses});
      }
      break;
    }
    case UpdateRule::mixed: {
      const float eps = static_cast<float>(config_.epsilon_weight);
      for (std::size_t k = 0; k < n; ++k) {
        chi_[k] += target[k] - w[k];
        if (!(std::fabs(chi_[k]) >= eps)) continue;
        const double ratio = std::trunc(static_cast<double>(chi_[k]) / eps);
        const auto p = static_cast<std::int64_t>(std::clamp(ratio, -static_cast<double>(cap),
                                                           static_cast<double>(cap)));
        pending_.push_back({k, p});
        chi_[k] -= static_cast<float>(p) * eps;
      }
      break;
    }
  }
  apply_pending();
}

void TileUpdater::apply_pending() {
  // A pulsed device's state is a cache miss (a LeNet-5 tile's memristors span 10 MB, and a step
  // pulses a few per cent of them): its load starts kAhead pulses early. The pulses of one step
  // touch distinct weights, so deferring them to here changes no result.
  constexpr std::size_t kAhead = 8;
  for (std::size_t i = 0; i < std::min(kAhead, pending_.size()); ++i)
    tile_.prefetch(pending_[i].weight);
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    if (i + kAhead < pending_.size()) tile_.prefetch(pending_[i + kAhead].weight);
    tile_.pulse(pending_[i].weight, pending_[i].pulses);
  }
  pending_.clear();
}

}  // namespace memcarlo::analog
