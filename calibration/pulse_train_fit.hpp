// `memcarlo calibrate pulse_train`: fits the bulk-switching memristor (physics/memristor.hpp) to
// potentiation/depression pulse trains. Each cycle gets its own least-squares fit of the window
// form G_k = a + (s - a) exp(-k/A); cycles of one device and polarity are pooled for G_min,
// G_max, A_p and A_d; the spread across devices gives the lognormal device-to-device sigmas;
// the residuals' growth with pulse count gives the cycle-to-cycle and read noise.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "calibration/calibration.hpp"
#include "physics/memristor.hpp"

namespace memcarlo {

CalibrationResult calibrate_pulse_train(const CalibrationInput& input,
                                        const CalibrationOptions& options);

// Simulates 2 devices x 80 cycles x 32 pulses of the memristor (neurosim preset, sigma_c2c 0.005,
// sigma_read 0.01: known G_min, G_max, A_p, A_d) with `seed`, calibrates them and checks every
// identified one of these six against its interval. About 0.5 s at 200 resamples.
std::vector<RecoveryCheck> recovery_trial_pulse_train(std::uint64_t seed, std::int64_t bootstrap);

// --- the pieces, public for the tests --------------------------------------------------------

// The search range of A, in pulses: from kCycleMinA (the first pulse covers all but e^-10 of the
// distance: a saturated cycle) to kCycleMaxAPerPulse times the cycle length (the curve is then a
// straight line to 1/(8 kCycleMaxAPerPulse) of its range: no saturation is measurable).
inline constexpr double kCycleMinA = 0.1;
inline constexpr double kCycleMaxAPerPulse = 100.0;

// What a cycle's fit says about its shape.
enum class CycleShape {
  fitted,           // A inside the search range
  saturated,        // A at its lower bound: the level is reached in one pulse
  linear,           // A at its upper bound: no saturation within the cycle
  accelerating,     // A at its upper bound and significantly curved the other way (the
                    // model, whose steps shrink as the bound nears, cannot describe it)
  flat,             // G does not change: A undefined
  wrong_direction,  // G moves against the polarity (potentiation lowering G, or the reverse)
};
std::string_view to_string(CycleShape shape);

// One cycle's reads: pulse indices k (1 = after the first pulse) and conductances, finite only.
struct CycleReads {
  std::vector<double> k;
  std::vector<double> G;
};
// The finite values of G[0..n) as reads after pulses 1..n.
CycleReads cycle_reads(std::span<const double> G);

// Least-squares fit of G_k = a + (s - a) exp(-k/A) to one cycle. For fixed A the model is linear
// in (a, s), which are solved in closed form (variable projection, Golub & Pereyra, SIAM J.
// Numer. Anal. 10, 413 (1973)); the profile residual sum of squares is minimised over ln A by a
// 41-point grid and Brent's method (boost::math::tools::brent_find_minima) in the bracket of the
// best grid point. `floor`: a lower bound on the asymptote (a conductance cannot relax below
// 0 S); a fit that would cross it is refitted with a = floor.
struct CycleFit {
  double A_pulses = kNaN;   // NaN for a flat cycle
  double asymptote = kNaN;  // a: G_max of a potentiation cycle, G_min of a depression cycle
  double start = kNaN;      // s: G before the first pulse
  double rss = kNaN;        // residual sum of squares
  CycleShape shape = CycleShape::flat;
  bool at_floor = false;  // the asymptote is held at `floor`
  std::size_t n_reads = 0;
  double G(double k) const;  // the fitted curve after k pulses
};
CycleFit fit_cycle(const CycleReads& reads, Polarity polarity, double floor = -HUGE_VAL);

// The noise of one cycle in innovations form: a Kalman filter of the random walk of G (step sd
// `walk_sd` per pulse, damped by r per pulse, starting at 0 before the first pulse) plus read
// noise of variance read_var[i] at read i. whiten() maps a series to its standardised one-step
// prediction errors, so that least squares on whitened series is generalised least squares
// under that noise.
class CycleWhitener {
 public:
  CycleWhitener(const CycleReads& reads, double r_damping, double walk_sd,
                std::span<const double> read_var);
  void whiten(std::span<const double> x, std::span<double> out) const;
  std::size_t size() const { return decay_.size(); }

 private:
  std::vector<double> decay_, gain_, inv_sd_;
};

// Joint fit of several cycles of one device and polarity: shared A and asymptote a, one start s_c
// per cycle (weights: multiplicities, for bootstrap resamples). Same method as fit_cycle; with
// whiteners (one per cycle) generalised least squares, which stays unbiased under the random
// walk, where ordinary least squares drifts by O(sigma_c2c^2) (the walk's variance, growing along
// the cycle, pulls A and the asymptote).
// A_hint (bootstrap replicates): search ln A within +-1 of it first, and the whole range only if
// the minimum lies on the edge of that window.
struct PooledFit {
  double A_pulses = kNaN;
  double asymptote = kNaN;
  std::vector<double> starts;  // per cycle
  double rss = kNaN;
  CycleShape shape = CycleShape::fitted;  // fitted, saturated or linear (A at a bound)
  bool at_floor = false;
};
PooledFit fit_pooled(std::span<const CycleReads* const> cycles, std::span<const double> weights,
                     Polarity polarity, double floor = -HUGE_VAL,
                     std::span<const CycleWhitener* const> whiteners = {}, double A_hint = kNaN);

// The expected squared residual of a per-cycle fit at each read, as two components that the
// noise variances multiply: E[e_k^2] = sigma_c2c^2 B^2 walk[k] + sigma_read^2 read[k]. The
// noise is a random walk of w damped by r = 1 - gain per pulse (variance after k pulses
// sum_{j<k} r^{2j}) plus relative read noise; the fit, which has its own start, level and A,
// absorbs part of it, so the components are the diagonal of (I - H) Sigma (I - H) with H the
// hat matrix of the linearised fit (the columns of the parameters that are free at the fit).
struct ResidualVariance {
  std::vector<double> walk;  // per read, in units of (fraction of range)^2
  std::vector<double> read;  // per read, in units of G^2
};
ResidualVariance residual_variance(const CycleReads& reads, const CycleFit& fit, double r_damping);

}  // namespace memcarlo
