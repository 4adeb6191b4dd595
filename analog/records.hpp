// What a replica trained on device arrays adds to its record in the results file: per tile the
// pulses its devices took (total and a histogram per device), its mapping and threshold, its
// refreshes and ADC saturation; and the inference chip's accuracy over time (docs/analog.md,
// "Results file").
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "training/trainer.hpp"

namespace memcarlo::analog {

// Pulses per device in log2 bins: [0, 1), [1, 2), [2, 4), [4, 8), ...
struct PulseHistogram {
  std::vector<std::int64_t> edges, counts;
};

PulseHistogram pulse_histogram(std::span<const std::uint32_t> pulses);

// What one tile did during training.
struct TileRecord {
  std::string name;
  std::int64_t rows = 0, cols = 0, devices = 0;
  double w_max = 0, alpha = 0, mean_step_weight = 0, epsilon_weight = 0;
  std::int64_t pulses = 0, programs = 0, refreshes = 0, max_pulses = 0, never_pulsed = 0;
  PulseHistogram histogram;
  double saturated_forward = 0, saturated_backward = 0;
  std::int64_t managed_forward = 0, managed_backward = 0;  // sample products scaled down
  // With drift: the protocol, evaluations of the drifted weights, drift refreshes, and the
  // mean gain over outputs at the last read.
  std::string drift_compensation;
  std::int64_t drift_evaluations = 0, drift_refreshes = 0;
  double drift_gain = 1;
};

// The inference chip's test accuracy over time.
struct InferenceRecord {
  std::vector<double> time_s, accuracy, accuracy_compensated;
  std::vector<std::vector<double>> compensation;  // [layer][time]
  std::vector<std::string> layers;
  double t0_s = 0;
};

class AnalogExtras final : public training::ReplicaExtras {
 public:
  std::string device, update;
  std::vector<TileRecord> tiles;
  std::optional<InferenceRecord> inference;

  void write(h5::Group& replica) const override;
  std::string summary() const override;
};

}  // namespace memcarlo::analog
