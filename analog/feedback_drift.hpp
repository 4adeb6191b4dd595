// The PCM feedback array as it drifts (analog/drift.hpp): its cells, programmed at t = 0 by
// the pulses of [pcm-feedback], drift with the IBM model and are read through the [drift]
// table's compensation protocol at every training step's simulated time.
//
// Entries at time t, with G_i(t) the drifted conductance of cell i and g the protocol's gain:
//   differential      B = g (G+ - G-) / s
//   mean_subtracted   B = (g G - m) / s
// where s is the entry scale of the library (analog/pcm_feedback.hpp) and m the array's mean
// conductance as programmed (the periphery's stored reference; re-measured after a refresh by
// pulses). gdc: g = sum G(programmed) / sum G(t) over every cell; per_column: the same per
// column (class) of the array; reference_cells: over the reference column's cells, drawn from
// the same distribution (same pulses) on stream "reference_cells" and drifting by their own
// exponents. At t - t_programmed <= t0 every factor is 1 and the entries are those the source
// drew, bit for bit.
//
// Refresh (compensation = refresh): at every multiple k of refresh_interval the array is
// programmed again and its clock reset. pulses: every cell redrawn from the distribution with
// the uniforms of stream "refresh", substream k; targets: each cell back to its first
// conductance plus the programming noise of the drift model at that conductance (stream
// "refresh", substream k), clamped at 0. Only the last refresh before t matters.
//
// The drift model of B is the IBM model's preset pcm-ibm (the [pcm-drift] table of a run sets
// the weight devices' model, not B's; C-doped GST's own drift coefficients are not published
// in a form the model takes).
//
// The readout's read-noise sigmas and ADC range stay those of the array as first programmed.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "analog/drift.hpp"
#include "analog/pcm_feedback.hpp"

namespace memcarlo::analog {

class PcmFeedbackCells final : public training::FeedbackDrift {
 public:
  // cells_S: as PcmFeedback::program_cells gives them; seed keys the cells' normals, reference
  // cells and refreshes.
  PcmFeedbackCells(std::shared_ptr<const PcmFeedback> library, const CellDrift& drift,
                   std::size_t rows, std::size_t cols, std::vector<double> cells_S, std::uint64_t seed);
  bool update(double t_s, training::Tensor& entries) override;
  Stats stats() const override;

  // The protocol's gain of column j at the last evaluation (1 for protocols without one).
  double gain(std::size_t column) const { return gain_[column]; }

 private:
  void refresh(std::uint64_t k);

  std::shared_ptr<const PcmFeedback> library_;
  const CellDrift* drift_;
  DriftSchedule schedule_;
  std::size_t cols_, per_entry_;
  std::uint64_t seed_;
  std::vector<double> target_S_, G_S_, reference_S_;
  std::vector<float> z_, reference_z_;
  std::vector<double> gain_;
  double mean_S_ = 0, t_programmed_s_ = 0, programmed_abs_ = 0, last_abs_ = 0;
  std::uint64_t refreshes_ = 0;
};

// The feedback source of a run whose PCM feedback array drifts: the library's arrays, each
// with its cells' drift attached (merged and shared layouts; per_layer draws no array).
class DriftingPcmFeedback final : public training::FeedbackSource {
 public:
  DriftingPcmFeedback(std::shared_ptr<const PcmFeedback> library, const DriftConfig& drift);
  std::string name() const override { return library_->name(); }
  training::Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const override {
    return library_->generate(rows, cols, rng);
  }
  // The library's array from the same draws of rng, then one more draw keying its drift.
  training::FeedbackArray program(std::size_t rows, std::size_t cols, RngStream& rng) const override;
  std::size_t devices_per_entry() const override { return library_->devices_per_entry(); }
  bool needs_one_array() const override { return true; }
  std::string config_toml() const override { return library_->config_toml(); }
  const CellDrift& drift() const { return drift_; }

 private:
  std::shared_ptr<const PcmFeedback> library_;
  CellDrift drift_;
};

}  // namespace memcarlo::analog
