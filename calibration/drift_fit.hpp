// `memcarlo calibrate drift`: the drift (relaxation) exponent of every device by log-log
// regression of G(t), the distribution of the exponents (normal and lognormal ranked by AIC),
// their state dependence in the IBM functional form mu_nu(g), sigma_nu(g) = clip(a ln g + b, lo,
// hi) (Nandakumar et al., ISCAS 2019) fitted by maximum likelihood, and, from `bake` data, the
// activation energy of relaxation. Writes a `pcm-drift` config.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "calibration/calibration.hpp"

namespace memcarlo {

// Per-device results of the log-log regression ln G = ln G(t0) - nu ln(t/t0) over the reads at
// t >= t0 with G > 0 (actual read times t_read where recorded).
struct DriftExponents {
  std::vector<double> nu;           // drift exponent
  std::vector<double> nu_variance;  // its sampling variance s^2 / Sxx (NaN with 2 points)
  std::vector<double> G_ref_S;      // G_target if recorded, else the fitted G(t0)
  std::vector<std::int64_t> group;  // state group: level, distinct target, or quantile bin of G_ref
  std::vector<std::size_t> device;  // row in the data set
  std::int64_t n_groups = 0;
  std::int64_t skipped = 0;  // devices with fewer than two usable reads
  std::string grouping;      // "level", "G_target" or "quantile bins of G(t0)"
};

// Throws InputError naming `where` if no device has two usable reads, or if a device's actual
// read times do not increase.
DriftExponents fit_drift_exponents(const DriftData& data, const std::string& where);

// clip(a x + b, lo, hi) with x = ln g; a missing bound is +-infinity.
struct ClipLine {
  double a = 0, b = 0;
  double lo = -HUGE_VAL, hi = HUGE_VAL;
  double operator()(double ln_g) const;
};

// Sufficient statistics of the exponents of one state group.
struct DriftGroup {
  double ln_g = 0;   // mean ln(G_ref / g_max) of the group
  double n = 0;      // devices
  double mean = 0;   // mean nu
  double ss = 0;     // sum of squared deviations from the mean
};

struct DriftStateFit {
  ClipLine mu, sigma;
  bool mu_lo = false, mu_hi = false, sigma_lo = false, sigma_hi = false;  // clips in the model
  double log_likelihood = 0;
  double aic = 0;
  double bic = 0;  // k ln N - 2 ln L, N devices
  int parameters = 0;
};

// Maximum likelihood of nu_i ~ N(mu(g_k), sigma(g_k)) over the groups, with the chosen clips
// (NLopt subplex). A `structure` that is itself a fit (parameters > 0) is refined from its
// values (bootstrap refits); otherwise the fit starts from weighted least-squares lines.
// Without `structure`, all 16 combinations of clips are fitted and the lowest BIC is returned
// (consistent selection: with many devices AIC keeps spurious clips a few % of the time).
DriftStateFit fit_drift_state(const std::vector<DriftGroup>& groups, const DriftStateFit& structure);
DriftStateFit fit_drift_state(const std::vector<DriftGroup>& groups);

// Variance of ln(G_after / G_before) versus bake temperature: v(T) = v0 + A exp(-E_a / k T),
// fitted by least squares on ln v (NLopt), one point per temperature.
struct BakeArrheniusFit {
  double v0 = 0, A = 0, E_a_eV = 0;
  std::vector<double> temperature_K, variance, mean, duration_s;
  std::vector<std::size_t> count;
  double model(double T_K) const;
};
BakeArrheniusFit fit_bake_arrhenius(const std::vector<double>& temperature_K,
                                    const std::vector<double>& log_ratio,
                                    const std::vector<double>& duration_s, const std::string& where);

CalibrationResult calibrate_drift(const CalibrationInput& input, const CalibrationOptions& options);

// Simulates pcm-drift devices (4000, read noise off so nu is read exactly; programming noise on)
// with the pcm-ibm parameters, calibrates, and checks the identified state-dependence parameters.
std::vector<RecoveryCheck> recovery_trial_drift(std::uint64_t seed, std::int64_t bootstrap);

}  // namespace memcarlo
