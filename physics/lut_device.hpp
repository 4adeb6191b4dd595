// The empirical device `lut`: every pulse draws its conductance step straight from measured
// conditional-step tables (the Sandia CrossSim lookup-table method: a dg_table holds, at each
// conductance bin, the quantile function of the step dG of one identical pulse), so training
// can use measured behaviour without a parametric model. Also the builder that turns
// (G before, step) pairs of simulated or measured devices into such a table.
//
// Sampling. At conductance G, u ~ U(0, 1) from the pulse's stream, and the step is the table's
// quantile function at u, interpolated linearly in u between the table's cdf points and linearly
// in G between the two neighbouring bin centres (bilinear, as CrossSim's interpolator for
// non-uniform tables, RectBivariateSpline with kx = ky = 1). Interpolating in G rather than taking
// the nearest bin keeps the step distribution continuous in G: with coarse tables (ENODe: 48
// bins) the nearest bin would make the mean step a staircase in G with jumps at bin edges that
// no device has. Averaging two quantile functions at the same u is the displacement (Wasserstein)
// interpolation of the two distributions; at a bin centre it is exactly that bin's table. Beyond
// the first or last centre the end bin is used. The new conductance is clamped to the range of
// bin centres of the table used, [G_bins.front(), G_bins.back()].
//
// Random streams, keyed by (seed, device index): "pulse" with substream = pulse index, one
// uniform per pulse, so a device's trajectory does not depend on other devices or threads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/rng.hpp"
#include "data/measurements.hpp"
#include "physics/memristor.hpp"

namespace memcarlo {

namespace lut_stream {
inline constexpr std::uint64_t pulse = stream_id("pulse");  // substream = pulse index
}

// The step distribution of one dg_table, bin by bin. Quantile function of bin j:
// Q_j(u) = dG[i, j] + (u - cdf[i]) / (cdf[i+1] - cdf[i]) (dG[i+1, j] - dG[i, j]) for
// cdf[i] <= u < cdf[i+1], held at the end values outside [cdf.front(), cdf.back()] (so a table
// whose cdf starts above 0 has an atom of that mass at its first value: no extrapolation).
class StepTable {
 public:
  // Validates the table against the schema and requires cdf.front() < cdf.back(). A column
  // dG[:, j] that decreases somewhere (several bundled TaOx tables have such bins, by up to 4% of
  // their spread) is sorted into a quantile function (monotone rearrangement) and counted.
  // `origin` names the table in errors (FILE.h5:GROUP).
  StepTable(const DgTableData& table, std::string origin);

  const std::string& origin() const { return origin_; }
  Polarity polarity() const { return polarity_; }
  std::size_t bins() const { return G_bins_S_.size(); }
  std::size_t levels() const { return cdf_.size(); }
  const std::vector<double>& G_bins_S() const { return G_bins_S_; }
  const std::vector<double>& cdf() const { return cdf_; }
  double G_low_S() const { return G_bins_S_.front(); }
  double G_high_S() const { return G_bins_S_.back(); }
  // dG[:, bin]: the quantile values of one bin at the cdf points.
  std::span<const double> column(std::size_t bin) const {
    return {columns_.data() + bin * cdf_.size(), cdf_.size()};
  }

  // Bins whose column was rearranged, and the largest decrease found in them (S).
  std::size_t rearranged_bins() const { return rearranged_bins_; }
  double largest_rearranged_drop_S() const { return largest_rearranged_drop_S_; }

  // Q_bin(u), u in [0, 1].
  double quantile(std::size_t bin, double u) const;
  // F_bin(x) = P(dG <= x) and its left limit P(dG < x) for the distribution of Q_bin(U).
  double cdf_at(std::size_t bin, double x) const;
  double cdf_below(std::size_t bin, double x) const;
  // Exact mean and variance of Q_bin(U) (piecewise-linear quantile function), in S and S^2.
  double mean(std::size_t bin) const { return mean_[bin]; }
  double variance(std::size_t bin) const { return variance_[bin]; }

  // The step at conductance G for uniform u: bilinear in (u, G), see the file comment.
  double step_S(double G_S, double u) const;

 private:
  std::string origin_;
  Polarity polarity_ = Polarity::potentiation;
  std::vector<double> G_bins_S_, cdf_;
  std::vector<double> columns_;  // [bin][level]: the dG matrix transposed, one column per bin
  std::vector<double> mean_, variance_;
  std::size_t rearranged_bins_ = 0;
  double largest_rearranged_drop_S_ = 0;
};

// Reads FILE.h5:GROUP (a dg_table set of a memcarlo-measurements file), or FILE.h5 alone when
// the file holds exactly one dg_table of the wanted polarity. `key` names the config key in
// errors. Errors: missing file (FileError), unknown group, wrong kind or polarity (InputError).
StepTable read_step_table(const std::string& spec, Polarity polarity, std::string_view key);

// `memcarlo device simulate lut` keys: the two tables and the start conductance.
struct LutDeviceConfig {
  std::string potentiation_table;  // FILE.h5:GROUP, a dg_table with polarity +1
  std::string depression_table;    // FILE.h5:GROUP, a dg_table with polarity -1
  double G0_S = 0.0;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"potentiation_table", "", "FILE.h5:GROUP of the dg_table sampled by potentiation pulses (required; e.g. data/measured/sandia_taox_lut.h5:device_3_potentiation)"}, potentiation_table);
    v(ParamInfo{"depression_table", "", "FILE.h5:GROUP of the dg_table sampled by depression pulses (required; e.g. data/measured/sandia_taox_lut.h5:device_3_depression)"}, depression_table);
    v(ParamInfo{"G0", "S", "starting conductance, clamped into the tables' range of bin centres like every pulse (so 0 starts at the lowest bin)"}, G0_S);
  }
  // clang-format on
};

// Potentiation/depression cycling, as for the memristor: `cycles` cycles of `pulses_per_cycle`
// identical pulses, alternating, starting with potentiation.
struct LutPulseTrain {
  std::int64_t pulses_per_cycle = 32;  // as the memristor's 32 levels [DNN+NeuroSim V2.1]
  std::int64_t cycles = 2;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"pulses_per_cycle", "1", "identical pulses per potentiation or depression cycle"}, pulses_per_cycle);
    v(ParamInfo{"cycles", "1", "number of cycles, alternating potentiation/depression, starting with potentiation"}, cycles);
  }
  // clang-format on
  void validate() const;
  Polarity polarity(std::int64_t cycle) const {
    return cycle % 2 == 0 ? Polarity::potentiation : Polarity::depression;
  }
};

// One empirical device kind: a potentiation and a depression table. The device state is its
// conductance alone.
class LutModel {
 public:
  // InputError unless the tables have polarity +1 and -1 respectively.
  LutModel(StepTable potentiation, StepTable depression);
  // Reads the two tables named by the config (one read when both are in the same file).
  static LutModel from_config(const LutDeviceConfig& config);

  const StepTable& table(Polarity polarity) const {
    return polarity == Polarity::potentiation ? potentiation_ : depression_;
  }
  // The span of both tables' bin centres; the start conductance is clamped into it.
  double G_low_S() const;
  double G_high_S() const;

  // One pulse from conductance G: one uniform from rng, the sampled step, and the clamp to the
  // range of the table used.
  double apply_pulse(double G_S, Polarity polarity, RngStream& rng) const;

 private:
  StepTable potentiation_, depression_;
};

// Conductance of device `device_index` after every pulse of `train` from G0, [cycle][pulse],
// in S. Pulse k (counted over the whole train) draws from stream "pulse" substream k.
// G_out_S must hold cycles * pulses_per_cycle values.
void run_lut_pulse_train(const LutModel& model, const LutPulseTrain& train, double G0_S,
                         std::uint64_t seed, std::uint64_t device_index, std::span<double> G_out_S);

// --- building tables ------------------------------------------------------------------------

// Steps (G before the pulse, G after - G before) of one polarity, from consecutive reads within
// each cycle of a pulse train (the first pulse of a cycle has no read before it in the cycle
// and is skipped; NaN padding ends a cycle). G must be in siemens.
struct StepSamples {
  std::vector<double> G_before_S, dG_S;
};
StepSamples collect_steps(const PulseTrainData& train, Polarity polarity);

// How build_dg_table bins and summarises steps.
struct DgTableBinning {
  std::vector<double> edges_S;  // increasing bin edges; step k lies in [edges[j], edges[j+1])
                                // (the last bin also holds its upper edge)
  std::vector<double> cdf;      // probability levels of the table, non-decreasing in [0, 1]
  std::int64_t min_steps = 20;  // bins holding fewer steps are left out of the table
};

// The conditional step table of `steps`: per bin, G_bins = the mean G before of its steps
// (the bin centre when the states sit at the centre), and dG[i, j] = the sample quantile at
// cdf[i] of the bin's steps, by Hyndman & Fan's definition 9 (Am. Stat. 50, 361 (1996);
// numpy's 'normal_unbiased'), approximately unbiased for normally distributed steps, clamped to
// the sample's minimum and maximum. Steps outside the edges are ignored. InputError if fewer
// than two bins keep min_steps steps, or on non-finite values.
DgTableData build_dg_table(const StepSamples& steps, Polarity polarity,
                           const DgTableBinning& binning);

// Sample quantile of definition 9 of Hyndman & Fan at probability p of a sorted sample.
double sample_quantile_type9(std::span<const double> sorted, double p);

}  // namespace memcarlo
