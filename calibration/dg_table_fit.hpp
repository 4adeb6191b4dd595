// `memcarlo calibrate dg_table` (see calibration.hpp): fits the memristor model's step
// distribution versus conductance to conditional step tables (the Sandia lookup tables: at each
// G bin, the quantile function of the step of one identical pulse), with the two polarities
// fitted jointly when both tables are in the file. The empirical alternative that samples the
// tables themselves is the `lut` model (physics/lut_device.hpp).
//
// Model. From memristor.hpp, one pulse at conductance G in [G_min, G_max] gives
//   dG = clamp(G + m(G) + s Z, G_min, G_max) - G,  Z ~ N(0, 1),  s = sigma_c2c (G_max - G_min),
//   m(G) = (G_max - G) (1 - e^{-1/A_p})  (potentiation),  -(G - G_min) (1 - e^{-1/A_d})
//   (depression),
// a normal censored at a = G_min - G and b = G_max - G (CensoredNormalStep).
//
// Fit. Minimises, over (G_min, G_max, A_p, A_d, sigma_c2c), the squared Wasserstein-2 distance
// between each bin's table distribution and the model's, averaged over bins and summed over the
// polarities: sum_k w_k (Q_table(p_k) - Q_model(p_k))^2 over the table's own interior cdf
// levels p_k (at most 1000, evenly thinned; trapezoid weights w_k), with Q_model(p) =
// clamp(m + s Phi^-1(p), a, b). Comparing quantile functions rather than CDFs keeps the
// objective smooth where the clamp puts atoms at the window edges (a CDF distance jumps when an
// atom crosses a table value), and it needs no special function inside the optimiser loop.
#pragma once

#include <cstdint>
#include <vector>

#include "calibration/calibration.hpp"
#include "physics/lut_device.hpp"
#include "physics/memristor.hpp"

namespace memcarlo {

// A normal N(mean, sd^2) censored (clamped) to [lower, upper]: the model's step at one G.
struct CensoredNormalStep {
  double mean_S = 0, sd_S = 1, lower_S = 0, upper_S = 0;

  double cdf(double x) const;        // P(dG <= x)
  double cdf_below(double x) const;  // P(dG < x)
  double quantile(double p) const;   // clamp(mean + sd Phi^-1(p), lower, upper)
  double expectation() const;        // closed form (truncated-normal moments plus the atoms)
  double standard_deviation() const;
};

// The fitted step model: the memristor abstraction and the step spread s = sigma_c2c B.
struct StepModel {
  MemristorAbstraction abstraction;
  double step_sd_S = 0;

  double sigma_c2c() const { return step_sd_S / abstraction.B_S(); }
  CensoredNormalStep step(double G_S, Polarity polarity) const;
};

// Distances between one bin of a table and a model step distribution, exact for the table's
// piecewise-linear quantile function:
// * Kolmogorov-Smirnov sup_x |F_table(x) - F_model(x)| (every jump, one-sided limits and the
//   interior stationary points of each linear segment are examined);
// * Anderson-Darling int (F_table - F_model)^2 / (F_model (1 - F_model)) dF_model over the
//   continuous part of the model (the clamp's atoms left out), i.e. A^2 / n of a sample of n
//   steps in the limit of large n; composite Gauss-Legendre between the table's knots, closed
//   forms beyond the table's support.
double step_ks_distance(const StepTable& table, std::size_t bin, const CensoredNormalStep& model);
double step_ad_distance(const StepTable& table, std::size_t bin, const CensoredNormalStep& model);

CalibrationResult calibrate_dg_table(const CalibrationInput& input,
                                     const CalibrationOptions& options);

// Tables of a memristor with known parameters, as a user would make a lookup table from
// simulated devices: `n_bins` states evenly inside [w_low, w_high] (bin j at its centre),
// `steps_per_bin` pulses from each (stream "pulse" of (seed, bin [+ n_bins for depression]),
// substream = step), binned and summarised by build_dg_table at levels 0, 0.01, ..., 1. Sets
// "potentiation" and "depression" of one file.
struct DgTableDesign {
  std::int64_t n_bins = 40;
  std::int64_t steps_per_bin = 1000;
  double w_low = 0.0, w_high = 1.0;  // state range of the bins
};
MeasurementFile memristor_dg_tables(const MemristorModel& model, const DgTableDesign& design,
                                    std::uint64_t seed);

// Parameter recovery (calibration.hpp): tables of a memristor with G_min = 2 uS, G_max = 30 uS,
// A_p = 15, A_d = 25 pulses and sigma_c2c = 0.005, 160 bins x 2000 steps per polarity over
// w in [0.05, 0.95] (away from the window edges, where the noise-free clamp would put exact
// atoms that measured tables do not have), calibrated without round trip; checks G_min, G_max,
// A_p, A_d and sigma_c2c.
std::vector<RecoveryCheck> recovery_trial_dg_table(std::uint64_t seed, std::int64_t bootstrap);

}  // namespace memcarlo
