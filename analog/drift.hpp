// Conductance drift during training and the protocols that compensate it: the [drift] table of
// a run, the simulated clock it sets, and the pieces shared by the PCM arrays that drift (the
// feedback array of analog/pcm_feedback.hpp, the weights of PCM tiles in analog/tile.hpp).
//
// The clock. B and the tiles' first weights are programmed at t = 0; training starts at
// t_wait and every training step advances the clock by time_per_batch (by default the cost
// model's time of one step of the run, analog/cost.hpp); an evaluation reads the arrays at the
// clock's present time.
//
// Drift. A cell drifts by the IBM statistical PCM model (physics/pcm_drift.hpp, preset pcm-ibm
// or a [pcm-drift] table): G(t) = G_w ((t - t_w)/t0)^-nu for t - t_w > t0, and G_w before (the
// model's reference read is at t0 after programming), where t_w is the cell's last write (a
// write, partial-SET pulse or programming, resets its clock) and G_w the conductance it left.
// Its exponent nu = mu_nu(g) + sigma_nu(g) z follows the state g = G_w / g_max of its last
// write; z ~ N(0, 1) is the cell's own (device-to-device: a fast-drifting cell stays fast),
// drawn from stream "drift" of (array seed, cell).
//
// Re-evaluation. Drift is logarithmic in time, so an array recomputes its drifted conductances
// on a logarithmic grid of their age: at the first read, at each refresh, and once the cells
// programmed together (at t = 0 or the last refresh) are older than t0, whenever their age has
// grown by `resolution` since the last evaluation; between evaluations a cell keeps the factor
// of the last one, stale by at most nu ln(1 + resolution) (0.5 % for nu = 0.1 at the default
// 0.05). A cell written on its own (a tile's pulse) reads undrifted until the next evaluation;
// tiles are therefore evaluated at least every resolution x t0 (1 s) of clock once past t0, so
// such a cell is late by at most 1 s of its drift (on a clock of milliseconds per step, a few
// evaluations per thousand steps).
//
// Protocols (compensation), each applied by the periphery to what the array's reads return:
//   none            the drifted array as read.
//   gdc             global drift compensation: one gain per array, the sum of its cells'
//                   conductances as programmed over the same sum read at t (IBM aihwkit's
//                   GlobalDriftCompensation reads an all-ones input at t0 and at t; Joshi et al.,
//                   Nat. Commun. 11, 2473 (2020)). A globally scaled array is restored exactly.
//   per_column      one such gain per column of the array (per class of the feedback array,
//                   per output of a tile): memcarlo's finer variant of gdc (after the
//                   column-wise compensation of Le Gallo et al., Adv. Electron. Mater. 4, 1700627
//                   (2018), assumption).
//   reference_cells a column of reference cells programmed with the same pulses as the array
//                   (feedback array) or to mid-range (tiles) at t = 0, drifting alike; the gain is
//                   their mean as programmed over their mean at t (Lu et al., IEDM 2020, drift
//                   compensation by reference cells). A drift factor common to every cell cancels
//                   exactly.
//   refresh         every refresh_interval the array is programmed again and its clocks reset:
//                   refresh_mode = pulses (the same pulse protocol from RESET: a new random B;
//                   tiles hold weights, so they always go back to targets) or targets (back to the
//                   conductances first programmed, with the model's programming noise).
//   differential    the pair's G+ - G-: both drift, the difference keeps its sign and zero mean
//                   while its magnitude shrinks; no gain (Lu 2020's differential feedback cells).
//                   Needs pcm-feedback.form = differential; PCM tiles are pairs already, so for
//                   them it is `none`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "physics/pcm_drift.hpp"

namespace memcarlo::analog {

struct DriftConfig {
  double t_wait = 0.0;
  double time_per_batch = 0.0;
  std::string compensation = "none";
  double refresh_interval = 86400.0;
  std::string refresh_mode = "pulses";
  double resolution = 0.05;
  std::int64_t reference_cells = 64;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"t_wait", "s", "time from programming B and the first weights to the first training step"}, t_wait);
    v(ParamInfo{"time_per_batch", "s", "simulated time of one training step; 0 = the cost model's time of a step of this run ([cost] table)"}, time_per_batch);
    v(ParamInfo{"compensation", "", "none, gdc (one gain per array), per_column, reference_cells, refresh or differential (analog/drift.hpp; docs/training.md)"}, compensation);
    v(ParamInfo{"refresh_interval", "s", "compensation = refresh: time between re-programmings of every drifting array, >= 1 s (assumption: one day)"}, refresh_interval);
    v(ParamInfo{"refresh_mode", "", "compensation = refresh: pulses (the same pulse protocol, a new random B) or targets (the first conductances again, with programming noise)"}, refresh_mode);
    v(ParamInfo{"resolution", "1", "drifted conductances are re-evaluated when the age of the cells programmed together has grown by this fraction (drift is logarithmic in time)"}, resolution);
    v(ParamInfo{"reference_cells", "1", "compensation = reference_cells: cells in each array's reference column (assumption: 64)"}, reference_cells);
  }
  // clang-format on
};

// Every value; errors name the key (`drift.KEY`) and the value.
void validate(const DriftConfig& config);

enum class Compensation { none, gdc, per_column, reference_cells, refresh, differential };
Compensation parse_compensation(const std::string& name);

// The drift of one cell, and when an array re-evaluates its cells.
class CellDrift {
 public:
  CellDrift(const PcmDriftModel& model, const DriftConfig& config);
  const PcmDriftModel& model() const { return model_; }
  const DriftConfig& config() const { return config_; }
  Compensation compensation() const { return compensation_; }

  // The exponent of a cell written to G_w with its own normal z.
  double nu(double G_w_S, double z) const;
  // G(t) / G_w of that cell at `age_s` since its write: 1 until t0, then (tau/t0)^-nu.
  double factor(double G_w_S, double z, double age_s) const;
  // The cells' own normals: z_i from stream "drift" of (seed, i).
  static std::vector<float> draw_z(std::uint64_t seed, std::size_t cells);

  // Refreshes due by time t (compensation = refresh: floor(t / refresh_interval); 0 otherwise),
  // and the time of the k-th.
  std::uint64_t refreshes_by(double t_s) const;
  double refresh_time_s(std::uint64_t k) const {
    return static_cast<double>(k) * config_.refresh_interval;
  }

 private:
  PcmDriftModel model_;
  DriftConfig config_;
  Compensation compensation_;
};

// When an array re-evaluates its drifted cells (see the top of this file): at its first read,
// when a refresh falls due, and once the age of the array's bulk write (its programming or last
// refresh) has passed t0, whenever that age has grown by `resolution` since the last evaluation;
// an array whose cells are also written one by one (a tile in training) is evaluated at least
// every resolution x t0 of clock as well, so that a cell written between evaluations is stale by
// at most that much of its age once it drifts.
class DriftSchedule {
 public:
  DriftSchedule(const CellDrift& drift, bool single_writes)
      : drift_(&drift), single_writes_(single_writes) {}
  // Whether the array must be evaluated at t (and if so, records t as evaluated).
  bool due(double t_s);
  std::uint64_t evaluations() const { return evaluations_; }
  double last_s() const { return last_s_; }

 private:
  const CellDrift* drift_;
  bool single_writes_;
  double last_s_ = 0;
  std::uint64_t evaluations_ = 0, refreshes_ = 0;
};

}  // namespace memcarlo::analog
