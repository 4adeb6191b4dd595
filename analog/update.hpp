// How a weight update reaches a tile (the key `analog.update`), as policies of one optimizer
// step. Every rule first asks the run's optimizer (SGD with momentum or Adam, weight decay,
// learning rate; the same arithmetic as the digital engine, on the tile's present weights) for
// the update Delta W it wants, then:
//   digital: sets the weights to W + Delta W exactly (float; no device is touched): the
//            digital engine's update, a reference that keeps only the periphery's effects;
//   sgd:     in-memory SGD: every weight gets n = floor(|Delta W| / s + u) pulses, u ~ U(0, 1),
//            s = the mean step (stochastic rounding, so E[n] s = |Delta W|), every step, and the
//            devices respond with their own nonlinearity, asymmetry and noise. Counts are
//            computed per weight (the digital controller of a chip that pulses each row and
//            column knows them) rather than by aihwkit's stochastic pulse coincidence;
//   mixed:   mixed precision (Nandakumar et al., Front. Neurosci. 14, 406 (2020); Wu et al.,
//            Adv. Mater. 35, e2305465 (2023)): chi += Delta W in float32, p = trunc(chi /
//            epsilon) pulses, chi -= p epsilon; a device is pulsed only when its accumulated
//            update passes the threshold.
// max_pulses > 0 caps |p| (sgd, mixed) per weight and step; for mixed the excess stays in chi.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analog/tile.hpp"
#include "training/optimizer.hpp"

namespace memcarlo::analog {

enum class UpdateRule { digital, sgd, mixed };
UpdateRule parse_update_rule(const std::string& name);  // "digital", "sgd", "mixed"
std::string update_rule_name(UpdateRule rule);

struct UpdateConfig {
  UpdateRule rule = UpdateRule::mixed;
  double epsilon_weight = 0;     // mixed: the threshold, as a weight change (> 0)
  std::int64_t max_pulses = 0;   // cap on |p| per weight and step, 0 = none
};

class TileUpdater {
 public:
  // `weight` is the layer's weight parameter, whose value is tile.weights().
  TileUpdater(Tile& tile, training::Parameter& weight, const training::OptimizerConfig& optimizer,
              const UpdateConfig& config, std::uint64_t seed);

  // One step at learning rate lr, from weight.grad (pass: the training pass, whose id keys the
  // stochastic rounding of sgd).
  void step(double lr, std::uint64_t pass_id);

  const UpdateConfig& config() const { return config_; }
  std::span<const float> accumulator() const { return chi_; }

 private:
  Tile& tile_;
  training::Parameter& weight_;
  training::Parameter shadow_;  // the weights the optimizer's step is taken on
  std::unique_ptr<training::Optimizer> optimizer_;
  UpdateConfig config_;
  std::uint64_t seed_;
  // Applies pending_ (the pulses of this step, in weight order) and clears it.
  void apply_pending();

  struct Pulses {
    std::size_t weight;
    std::int64_t pulses;
  };
  std::vector<float> chi_;  // mixed: the accumulated update of every weight
  std::vector<Pulses> pending_;
};

}  // namespace memcarlo::analog
