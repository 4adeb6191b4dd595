// A tile: one weight matrix (rows x cols, row-major; a convolution as its unrolled matrix
// (out_channels, in_channels k k), the usual mapping) held in device conductances, and the
// rules that update it.
//
// Encoding. differential (default): W = alpha (G+ - G-), two devices per weight, device 2k is
// G+ and 2k+1 is G- of weight k. reference: W = alpha (G - G_ref), one device per weight against
// a fixed reference G_ref = (G_low + G_high)/2. alpha is fixed at mapping so that w_max, the
// largest weight the tile holds, spans a device's range: alpha = w_max / (G_high - G_low)
// (differential), 2 w_max / (G_high - G_low) (reference).
//
// Pulses. A signed pulse count p for weight k (p > 0 raises W):
//   bidirectional devices, differential: the pulses alternate between the two devices of the
//     pair (a potentiation of G+ or a depression of G- for p > 0, the reverse for p < 0), the
//     first to G+ when the pair has taken an even number of pulses so far. This is Sandia
//     CrossSim's balanced core (both devices start mid-range, each update split between them
//     with the sign flipped on G-) with pulses as the unit, so the two devices stay near the
//     middle of their range and their nonlinearities average;
//   bidirectional, reference: all pulses on the one device;
//   unidirectional devices (PCM partial SET), or bidirectional ones with
//   layout.potentiation_only, differential: potentiation of G+ for p > 0, of G- for
//     p < 0; when either device passes refresh_fraction of its range, the pair is refreshed:
//     both RESET and the weight programmed again onto one of them (Nandakumar et al., Front.
//     Neurosci. 14, 406 (2020)), never into the refresh zone again (a larger weight is clipped
//     there). The refresh is counted, not the programming pulses.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "analog/device_array.hpp"
#include "analog/drift.hpp"

namespace memcarlo::analog {

enum class Encoding { differential, reference };

struct TileLayout {
  std::size_t rows = 0, cols = 0;
  Encoding encoding = Encoding::differential;
  double w_max = 1.0;             // the weight of a full-range device difference
  // Bidirectional devices updated by potentiation pulses only, with refresh, as unidirectional
  // ones are (always so for unidirectional devices).
  bool potentiation_only = false;
  double refresh_fraction = 0.9;  // potentiation-only pairs: refresh past this share of the range
  bool read_noise = true;         // keep the devices' read noise (false: reads are noise-free)
};

class Tile {
 public:
  // Takes the devices (2 rows cols of them for differential, rows cols for reference) and maps
  // `weights` onto them by programming; `weights` then holds what the devices hold, and the
  // tile keeps it so from then on (it is the layer's weight parameter).
  Tile(const TileLayout& layout, std::unique_ptr<DeviceArray> devices, std::span<float> weights);

  const TileLayout& layout() const { return layout_; }
  const DeviceArray& devices() const { return *devices_; }
  std::size_t cells() const { return weights_.size(); }
  double alpha() const { return alpha_; }  // weight per siemens
  // The weight change of one pulse of the mean step (the unit of epsilon): over both
  // polarities, or over potentiation below the refresh threshold for potentiation-only pairs.
  double mean_step_weight() const {
    return alpha_ * (potentiation_only_ ? devices_->mean_potentiation_step_S(layout_.refresh_fraction)
                                        : devices_->mean_step_S());
  }

  // The weights the devices hold (the layer's weight parameter).
  std::span<float> weights() { return weights_; }
  std::span<const float> weights() const { return weights_; }
  // Standard deviation of one read of each weight (alpha times the pair's read noise), and
  // whether any device has read noise (never with layout.read_noise off).
  std::span<const float> read_sigma() const { return read_sigma_; }
  bool read_noise() const { return read_noise_; }

  // Applies a signed pulse count to weight k and refreshes weights()[k].
  void pulse(std::size_t k, std::int64_t p);
  // A hint that weight k is about to be pulsed (its devices' state starts loading into the
  // cache); changes no result.
  void prefetch(std::size_t k) const;
  // Programs weight k to w (clamped to +-w_max) by write-verify, both devices of a pair.
  void program(std::size_t k, double w);

  std::uint64_t refreshes() const { return refreshes_; }
  bool potentiation_only() const { return potentiation_only_; }

  // Drift (analog/drift.hpp; devices that drift). From now on weights() holds what the
  // drifting devices read through the protocol: alpha g_r (G+(t) - G-(t)), with g_r the gain of
  // output r (gdc: one per tile, per_column: one per output, reference_cells: from `reference`,
  // a column of devices programmed here to mid-range; otherwise 1). refresh: every
  // refresh_interval each weight is programmed again to the value its devices hold undrifted.
  void set_drift(const CellDrift& drift, std::unique_ptr<DeviceArray> reference);
  bool drifts() const { return drift_ != nullptr; }
  // Moves the devices' clock to t_s (writes happen then) and re-reads every weight when the
  // drift schedule says so.
  void at_time(double t_s);
  std::uint64_t drift_evaluations() const { return schedule_ ? schedule_->evaluations() : 0; }
  std::uint64_t drift_refreshes() const { return drift_refreshes_; }
  // Mean gain over outputs at the last read.
  double mean_gain() const;

 private:
  // The weight the devices hold: as read now (drifted, through the gain) or as written.
  double weight_of(std::size_t k, bool drifted = true) const;
  void drift_gains();
  void update_cell(std::size_t k);
  void refresh_if_needed(std::size_t k);

  TileLayout layout_;
  std::unique_ptr<DeviceArray> devices_;
  std::span<float> weights_;
  std::vector<float> read_sigma_;
  bool read_noise_ = false;
  bool potentiation_only_ = false;  // layout.potentiation_only or unidirectional devices
  double alpha_ = 1.0, G_ref_ = 0.0, G_refresh_ = 0.0;
  std::uint64_t refreshes_ = 0;
  // drift
  const CellDrift* drift_ = nullptr;
  std::unique_ptr<DeviceArray> reference_;
  std::optional<DriftSchedule> schedule_;
  std::vector<double> gain_;  // per output
  std::uint64_t drift_refreshes_ = 0;
};

}  // namespace memcarlo::analog
