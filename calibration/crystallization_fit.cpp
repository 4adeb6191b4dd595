#include "calibration/crystallization_fit.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>

#include <algorithm>
#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/numeric/ublas/lu.hpp>
#include <boost/numeric/ublas/matrix.hpp>
#include <cmath>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "calibration/bootstrap.hpp"
#include "calibration/minimize.hpp"
#include "core/svg_plot.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/rng.hpp"
#include "physics/pcm_crystallization.hpp"
#include "physics/simulate.hpp"

namespace memcarlo {
namespace {

constexpr const char* kModel = "pcm-crystallization";
// Seeds of the simulations are derived from --seed through streams of their own, so that the
// simulated devices never share random numbers with data that memcarlo simulated under the
// same seed (that would correlate the simulation with the data and shrink the error).
constexpr std::uint64_t kSmmSeedStream = stream_id("crystallization_smm");
constexpr std::uint64_t kGofSeedStream = stream_id("crystallization_gof");
constexpr std::uint64_t kRoundTripSeedStream = stream_id("crystallization_round_trip");
// The physics' stream of pulse p of cycle c (pcm_crystallization.hpp).
constexpr std::uint64_t kDeviceStream = stream_id("device");
constexpr std::uint64_t kPulseStream = stream_id("pulse");

// Fewer independent records than this give moments too noisy to weight (a 10 x 10 covariance
// from the bootstrap) and a pulse-count distribution with no shape.
constexpr std::size_t kMinRecords = 50;
// Simulated devices per data device: S = clamp(ceil(kSimulatedRecords / records), 2, 10).
// The simulation noise adds 1/S to the variance of the estimator.
constexpr double kSimulatedRecords = 3200;
constexpr std::int64_t kMinCopies = 2, kMaxCopies = 10;
// ln G of a read is taken at no less than this (a read is clamped at 0 S).
constexpr double kFloorS = 1e-12;
// Levels of the data that place the moments: the pulse indices at which these fractions of
// records have switched (pulse_train), the quantiles that become ECDF cut points (samples).
constexpr double kLevels[] = {0.1, 0.25, 0.5, 0.75, 0.9};
// Weighting: the full inverse of a covariance of the moments, unless some moment is this collinear
// with the others (variance inflation factor 1 / (1 - R^2)), or there are fewer than this many
// resamples per moment; then the diagonal.
constexpr double kMaxVarianceInflation = 1e6;
constexpr double kMinResamplesPerMoment = 5;
// Optimiser: evaluations of the pilot and of the refinement, and Gauss-Newton steps at most.
constexpr int kPilotEvaluations = 80, kRefineEvaluations = 40, kGaussNewtonSteps = 8;
// Gauss-Newton corrections of each bootstrap replicate beyond the linear step (one full
// simulation each).
constexpr int kBootstrapCorrections = 1;
// Parameter boxes around the starting values (natural units): the pulse's temperature rise
// R_th P within a factor kThermalBox, nucleation_scale within kNucleationBox, R_th_d2d within
// [kD2dMin, kD2dMax].
constexpr double kThermalBox = 1.25;
constexpr double kNucleationBox = 100.0;
constexpr double kD2dMin = 1e-3, kD2dMax = 0.2;
// Devices of the simulations at the estimate for the figures and goodness of fit: at least
// this many, and at least the fit's.
constexpr std::int64_t kMinCheckDevices = 2000;

// Boost 1.74's default uBLAS storage (unbounded_array) uses std::allocator::construct, which
// C++20 removed: store in std::vector instead.
using Matrix =
    boost::numeric::ublas::matrix<double, boost::numeric::ublas::row_major, std::vector<double>>;

// ----------------------------------------------------------------------------------------
// Setup: the model keys and the protocol of the data.

// The key space of `memcarlo device simulate pcm-crystallization` (model and protocol keys).
struct CrystallizationSetup {
  PcmCrystallizationConfig device;
  PcmPulseTrain protocol;
  template <class V>
  void visit(V&& v) {
    device.visit(v);
    protocol.visit(v);
  }
};

struct Provenance {
  bool found = false;
  std::string preset = "gst";
  std::int64_t devices = 0;
  CrystallizationSetup setup;
};

// A file written by `memcarlo device simulate pcm-crystallization` carries as provenance the
// command line ("... --devices N --seed S (preset P)") followed by the resolved config as TOML.
Provenance read_provenance(const CalibrationInput& input) {
  Provenance p;
  const std::string& text = input.contents.provenance;
  const std::string head = fmt::format("memcarlo device simulate {} ", kModel);
  if (text.rfind(head, 0) != 0) return p;
  const auto eol = text.find('\n');
  const std::string first = text.substr(0, eol);
  if (const auto at = first.find("(preset "); at != std::string::npos) {
    const auto end = first.find(')', at);
    p.preset = first.substr(at + 8, end == std::string::npos ? std::string::npos : end - at - 8);
  }
  if (const auto at = first.find("--devices "); at != std::string::npos)
    p.devices = std::atoll(first.c_str() + at + 10);
  p.setup.device = preset_pcm_crystallization(p.preset);
  const std::string origin = fmt::format("{}: provenance", input.file);
  try {
    const toml::table table = toml::parse(eol == std::string::npos ? "" : text.substr(eol + 1));
    apply_table(p.setup, table, origin);
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{} is not a readable config ({})", origin, e.description()));
  }
  p.found = true;
  return p;
}

// ----------------------------------------------------------------------------------------
// The data as independent units (devices), each holding records (cycles).

enum class DataKind { pulse_train, pulses_to_set };

// A pulses-to-SET value that did not reach the threshold.
constexpr std::int64_t kCensored = -1;

struct UnitData {
  DataKind kind = DataKind::pulse_train;
  std::size_t units = 0;
  std::int64_t cycles = 1;  // records per unit (simulated devices get as many cycles)
  // pulse_train: the measured G, [units, cycles, pulses]; pulses = the usable (complete) ones.
  const PulseTrainData* train = nullptr;
  std::size_t pulses = 0;
  // pulses_to_set: per unit, its counts (kCensored for censored records).
  std::vector<std::vector<std::int64_t>> counts;
  std::size_t records() const { return units * static_cast<std::size_t>(cycles); }
};

// ----------------------------------------------------------------------------------------
// Moments: smooth functions of per-unit sums, so that the moments of a bootstrap resample are
// computed from the sums of the resampled units without touching the records again.

struct Feature {
  std::string name;
  bool spread = false;  // also its standard deviation
  bool within = false;  // also its covariance between two cycles of one unit
  double center = 0;    // subtracted before summing (precision of the second moments)
};

class MomentDesign {
 public:
  std::vector<Feature> features;

  std::size_t n_stats() const {
    std::size_t n = 2;
    for (const auto& f : features) n += 1 + f.spread + f.within;
    return n;
  }
  std::vector<std::string> moment_names() const {
    std::vector<std::string> out;
    for (const auto& f : features) out.push_back("mean " + f.name);
    for (const auto& f : features)
      if (f.spread) out.push_back("sd " + f.name);
    for (const auto& f : features)
      if (f.within) out.push_back("within-device cov " + f.name);
    return out;
  }
  // One unit's sums from its records (features.size() values each, consecutive).
  void unit_stats(std::span<const double> records, std::span<double> out) const {
    const std::size_t F = features.size();
    const double c = static_cast<double>(records.size() / F);
    out[0] = c;
    out[1] = c * (c - 1);
    std::size_t s = 2;
    for (std::size_t f = 0; f < F; ++f) {
      double sum = 0, sum2 = 0;
      for (std::size_t r = f; r < records.size(); r += F) {
        const double x = records[r] - features[f].center;
        sum += x;
        sum2 += x * x;
      }
      out[s++] = sum;
      if (features[f].spread) out[s++] = sum2;
      if (features[f].within) out[s++] = sum * sum - sum2;
    }
  }

  std::vector<double> moments(std::span<const double> totals) const {
    const double n = totals[0], pairs = totals[1];
    std::vector<double> mean, sd, cov;
    std::size_t s = 2;
    for (const auto& f : features) {
      const double m = totals[s++] / n;
      mean.push_back(m + f.center);
      if (f.spread) sd.push_back(std::sqrt(std::max(0.0, totals[s++] / n - m * m)));
      if (f.within) {  // only with two or more cycles per unit, so pairs > 0
        cov.push_back(totals[s] / pairs - m * m);
        ++s;
      }
    }
    mean.insert(mean.end(), sd.begin(), sd.end());
    mean.insert(mean.end(), cov.begin(), cov.end());
    return mean;
  }
};

// Sum of the stats of the units `index` (or of all units), in index order.
std::vector<double> totals_of(const std::vector<double>& stats, std::size_t n_stats,
                              const std::vector<std::uint32_t>* index = nullptr) {
  std::vector<double> t(n_stats, 0.0);
  const std::size_t units = stats.size() / n_stats;
  const std::size_t n = index ? index->size() : units;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t u = index ? (*index)[k] : k;
    for (std::size_t j = 0; j < n_stats; ++j) t[j] += stats[u * n_stats + j];
  }
  return t;
}

// ----------------------------------------------------------------------------------------
// Linear algebra (Boost.uBLAS LU).

// The inverse of a square matrix; false if it is singular.
bool invert(const Matrix& a, Matrix& inverse) {
  namespace ublas = boost::numeric::ublas;
  Matrix lu(a);
  ublas::permutation_matrix<std::size_t, std::vector<std::size_t>> pm(a.size1());
  if (ublas::lu_factorize(lu, pm) != 0) return false;
  inverse = ublas::identity_matrix<double>(a.size1());
  ublas::lu_substitute(lu, pm, inverse);
  for (double v : inverse.data())
    if (!std::isfinite(v)) return false;
  return true;
}

// Sample covariance of the finite rows of replicates [B, M].
Matrix covariance(const BootstrapReplicates& r, std::size_t M, std::size_t& used) {
  std::vector<std::size_t> rows;
  for (std::int64_t b = 0; b < r.resamples; ++b) {
    bool ok = true;
    for (std::size_t j = 0; j < M; ++j)
      ok = ok && std::isfinite(r.values[static_cast<std::size_t>(b) * M + j]);
    if (ok) rows.push_back(static_cast<std::size_t>(b));
  }
  used = rows.size();
  Matrix c(M, M, 0.0);
  if (rows.size() < 2) return c;
  std::vector<double> mean(M, 0.0);
  for (auto b : rows)
    for (std::size_t j = 0; j < M; ++j) mean[j] += r.values[b * M + j];
  for (auto& m : mean) m /= static_cast<double>(rows.size());
  for (auto b : rows)
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t j = 0; j < M; ++j)
        c(i, j) += (r.values[b * M + i] - mean[i]) * (r.values[b * M + j] - mean[j]);
  c /= static_cast<double>(rows.size() - 1);
  return c;
}

// The weight matrix of the objective: the inverse of a covariance of the moments, or of its
// diagonal when the full one cannot be trusted (too few resamples per moment, or some moment
// nearly a linear combination of the others).
struct Weighting {
  Matrix W;
  bool full = false;
  std::string note;  // why diagonal, if it is
};

Weighting weighting(const Matrix& omega, std::size_t resamples, bool diagonal_only) {
  const std::size_t M = omega.size1();
  Weighting w{Matrix(M, M, 0.0), false, {}};
  Matrix corr(M, M), corr_inv;
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < M; ++j)
      corr(i, j) = omega(i, j) / std::sqrt(omega(i, i) * omega(j, j));
  if (!diagonal_only) {
    if (static_cast<double>(resamples) < kMinResamplesPerMoment * static_cast<double>(M)) {
      w.note = fmt::format(
          "{} bootstrap resamples are too few to invert the covariance of {} "
          "moments (use --bootstrap {} or more)",
          resamples, M, static_cast<std::size_t>(kMinResamplesPerMoment) * M);
    } else if (!invert(corr, corr_inv)) {
      w.note = "the covariance of the moments is singular";
    } else {
      double max_vif = 0;
      for (std::size_t i = 0; i < M; ++i) max_vif = std::max(max_vif, corr_inv(i, i));
      if (max_vif > kMaxVarianceInflation)
        w.note = fmt::format("the moments are nearly collinear (variance inflation {:.3g} > {:g})",
                             max_vif, kMaxVarianceInflation);
      else
        w.full = true;
    }
  }
  for (std::size_t i = 0; i < M; ++i)
    for (std::size_t j = 0; j < M; ++j)
      if (w.full || i == j)
        w.W(i, j) = (w.full ? corr_inv(i, j) : 1.0) / std::sqrt(omega(i, i) * omega(j, j));
  return w;
}

// ----------------------------------------------------------------------------------------
// The fit.

struct FreeParameter {
  std::string key, unit, description;
  double PcmCrystallizationConfig::*member;
  double start = 0, lower = 0, upper = 0;  // natural units
  double step = 0.1;                       // first optimiser step and difference step, in ln
};

// The features of a pulse count N: ln min(N, L + 1) (a censored count is above L = max_pulses),
// then 1[N <= cut] for each cut, then 1[censored] if that moment is used.
struct CountDesign {
  double limit = 0;  // L
  std::vector<double> cuts;
  bool censored_moment = false;

  void features(std::int64_t n, std::span<double> out) const {
    const double v = n == kCensored ? limit + 1 : static_cast<double>(n);
    out[0] = std::log(v);
    for (std::size_t j = 0; j < cuts.size(); ++j) out[1 + j] = v <= cuts[j] ? 1.0 : 0.0;
    if (censored_moment) out[1 + cuts.size()] = n == kCensored ? 1.0 : 0.0;
  }
};

// The simulation side of the method of moments: per-unit sums of `units` simulated devices at
// parameters theta (natural logarithms of the free parameters), with common random numbers:
// the same seed and device numbers at every theta, so the moments are a deterministic function
// of theta. Devices run in parallel, each writing its own slot, and the sums are reduced in
// device order: the result does not depend on the number of threads.
class MomentSimulator {
 public:
  MomentSimulator(DataKind kind, const MomentDesign& design, const CountDesign& counts,
                  const CrystallizationSetup& setup, const std::vector<FreeParameter>& free,
                  const std::vector<std::size_t>& pulse_index, std::int64_t cycles,
                  std::int64_t units, std::uint64_t seed)
      : kind_(kind),
        design_(design),
        counts_(counts),
        setup_(setup),
        free_(free),
        pulse_index_(pulse_index),
        cycles_(cycles),
        units_(units),
        seed_(seed) {}

  std::int64_t units() const { return units_; }

  CrystallizationSetup setup_at(std::span<const double> theta) const {
    CrystallizationSetup s = setup_;
    for (std::size_t p = 0; p < free_.size(); ++p) s.device.*(free_[p].member) = std::exp(theta[p]);
    s.protocol.cycles = cycles_;
    return s;
  }

  std::vector<double> simulate(std::span<const double> theta) const {
    const CrystallizationSetup s = setup_at(theta);
    const PcmCrystallizationModel model(s.device);
    const std::size_t F = design_.features.size(), S = design_.n_stats();
    const auto C = static_cast<std::size_t>(cycles_);
    PcmPulseTrain train = s.protocol;
    if (kind_ == DataKind::pulse_train)  // only the pulses the moments look at
      train.pulses_per_cycle = static_cast<std::int64_t>(pulse_index_.back()) + 1;
    train.validate_against(model);
    std::vector<double> stats(static_cast<std::size_t>(units_) * S);
    parallel_for(units_, [&](std::int64_t i) {
      const auto u = static_cast<std::uint64_t>(i);
      std::vector<double> records(C * F);
      if (kind_ == DataKind::pulse_train) {
        const auto P = static_cast<std::size_t>(train.pulses_per_cycle);
        const std::vector<double> G = simulate_pulse_train(model, train, seed_, u);
        for (std::size_t c = 0; c < C; ++c)
          for (std::size_t j = 0; j < F; ++j)
            records[c * F + j] = std::log(std::max(G[c * P + pulse_index_[j]], kFloorS));
      } else {
        for (std::size_t c = 0; c < C; ++c)
          counts_.features(pulses_to_set(model, train, seed_, u, static_cast<std::int64_t>(c)),
                           std::span<double>(records.data() + c * F, F));
      }
      design_.unit_stats(records, std::span<double>(stats.data() + u * S, S));
    });
    return stats;
  }

 private:
  DataKind kind_;
  const MomentDesign& design_;
  const CountDesign& counts_;
  const CrystallizationSetup& setup_;
  const std::vector<FreeParameter>& free_;
  const std::vector<std::size_t>& pulse_index_;
  std::int64_t cycles_, units_;
  std::uint64_t seed_;
};

// ----------------------------------------------------------------------------------------
// Reading the data.

std::string fmt_g(double v) { return fmt::format("{:.4g}", v); }

// The pulse_train set: partial-SET trains (polarity +1) in S, complete up to `pulses`.
UnitData read_pulse_train(const CalibrationInput& input, const PulseTrainData& p) {
  const std::string src = input.source();
  MC_VALIDATE(p.G.shape.size() == 3, "{}: G must be [n_dev, n_cycle, n_pulse]", src);
  MC_VALIDATE(p.G_units == "S",
              "{}: G is in units '{}'; calibrate pcm-crystallization needs conductance in S", src,
              p.G_units);
  for (std::size_t c = 0; c < p.polarity.size(); ++c)
    MC_VALIDATE(p.polarity[c] == 1,
                "{}: cycle {} has polarity {}; a PCM partial-SET train has only +1 "
                "(potentiation/depression trains are memristor data: calibrate pulse_train)",
                src, c, p.polarity[c]);
  UnitData d;
  d.kind = DataKind::pulse_train;
  d.train = &p;
  d.units = p.G.shape[0];
  d.cycles = static_cast<std::int64_t>(p.G.shape[1]);
  const std::size_t P = p.G.shape[2];
  // Complete prefix of every record (the schema pads with NaN at the end).
  std::size_t complete = P;
  std::size_t all_nan = 0;
  for (std::size_t u = 0; u < d.units; ++u)
    for (std::size_t c = 0; c < p.G.shape[1]; ++c) {
      const double* g = p.G.data.data() + (u * p.G.shape[1] + c) * P;
      std::size_t k = 0;
      while (k < P && std::isfinite(g[k])) ++k;
      if (k == 0) ++all_nan;
      for (std::size_t j = k; j < P; ++j)
        MC_VALIDATE(!std::isfinite(g[j]),
                    "{}: device {} cycle {} has a NaN at pulse {} followed by a read at pulse "
                    "{}; NaN may only pad the end of a train",
                    src, u, c, k, j);
      complete = std::min(complete, k);
    }
  MC_VALIDATE(all_nan == 0, "{}: {} of {} records are all NaN", src, all_nan, d.records());
  MC_VALIDATE(complete >= 3,
              "{}: only the first {} pulses are read in every record; need at least 3", src,
              complete);
  MC_VALIDATE(d.records() >= kMinRecords,
              "{}: {} records (devices x cycles) are too few for a simulated-moments fit; need "
              "at least {}",
              src, d.records(), kMinRecords);
  d.pulses = complete;
  return d;
}

// The samples set: pulses_to_set values (positive integers), with censoring.
UnitData read_pulses_to_set(const CalibrationInput& input, const SamplesData& s,
                            const Provenance& prov, std::string& structure_note) {
  const std::string src = input.source();
  MC_VALIDATE(s.quantity == "pulses_to_set",
              "{}: samples of quantity '{}'; calibrate pcm-crystallization needs pulses_to_set",
              src, s.quantity);
  const std::size_t n_total =
      s.value.size() + static_cast<std::size_t>(std::max<std::int64_t>(0, s.n_censored));
  MC_VALIDATE(!s.value.empty(),
              "{}: all {} records are censored (none reached G_threshold within {} "
              "pulses): there is no pulse count to fit",
              src, n_total, s.censor_limit.value_or(kNaN));
  for (std::size_t i = 0; i < s.value.size(); ++i) {
    const double v = s.value[i];
    MC_VALIDATE(v >= 1 && v == std::floor(v) && v < 4294967296.0,
                "{}: value[{}] = {} is not a pulse count (a positive integer)", src, i, v);
    if (s.censor_limit)
      MC_VALIDATE(v <= *s.censor_limit, "{}: value[{}] = {} exceeds censor_limit = {}", src, i, v,
                  *s.censor_limit);
  }
  MC_VALIDATE(s.value.size() >= kMinRecords / 2,
              "{}: only {} uncensored pulse counts; need at least {}", src, s.value.size(),
              kMinRecords / 2);
  MC_VALIDATE(n_total >= kMinRecords,
              "{}: {} records are too few for a simulated-moments fit; need at least {}", src,
              n_total, kMinRecords);
  UnitData d;
  d.kind = DataKind::pulses_to_set;
  // Devices with several cycles are correlated: resample devices when the design can be
  // rebuilt (memcarlo's own files: condition = device index, devices x cycles records).
  const std::int64_t C = prov.found ? prov.setup.protocol.cycles : 1;
  const std::int64_t D = prov.found ? prov.devices : 0;
  bool grouped = false;
  if (C > 1 && D > 0 && s.condition && static_cast<std::int64_t>(n_total) == C * D) {
    std::vector<std::vector<std::int64_t>> by_device(static_cast<std::size_t>(D));
    bool ok = true;
    for (std::size_t i = 0; i < s.value.size() && ok; ++i) {
      const double c = (*s.condition)[i];
      ok = c >= 0 && c < static_cast<double>(D) && c == std::floor(c);
      if (ok)
        by_device[static_cast<std::size_t>(c)].push_back(static_cast<std::int64_t>(s.value[i]));
    }
    for (auto& v : by_device) ok = ok && static_cast<std::int64_t>(v.size()) <= C;
    if (ok) {
      for (auto& v : by_device) v.resize(static_cast<std::size_t>(C), kCensored);
      d.counts = std::move(by_device);
      d.cycles = C;
      grouped = true;
      structure_note = fmt::format(
          "{} devices x {} cycles (from the provenance and the device "
          "condition); devices are the resampled units",
          D, C);
    }
  }
  if (!grouped) {
    for (double v : s.value) d.counts.push_back({static_cast<std::int64_t>(v)});
    for (std::int64_t i = 0; i < s.n_censored; ++i) d.counts.push_back({kCensored});
    d.cycles = 1;
    structure_note =
        C > 1 ? fmt::format(
                    "the provenance says {} cycles per device, but the device of each "
                    "record cannot be rebuilt: records are treated as independent, which "
                    "understates the intervals if cycles of a device are correlated",
                    C)
              : "one record per device; records are the resampled units";
  }
  d.units = d.counts.size();
  return d;
}

// Pulses to reach `threshold` in each record of a trajectory array [units, cycles, P] (first
// read at or above it), kCensored if none.
std::vector<std::int64_t> first_crossings(const std::vector<double>& G, std::size_t records,
                                          std::size_t P, std::size_t stride, double threshold) {
  std::vector<std::int64_t> out(records, kCensored);
  for (std::size_t r = 0; r < records; ++r)
    for (std::size_t k = 0; k < P; ++k)
      if (G[r * stride + k] >= threshold) {
        out[r] = static_cast<std::int64_t>(k) + 1;
        break;
      }
  return out;
}

std::vector<double> uncensored(const std::vector<std::int64_t>& n) {
  std::vector<double> out;
  for (auto v : n)
    if (v != kCensored) out.push_back(static_cast<double>(v));
  return out;
}

// ----------------------------------------------------------------------------------------
// Simulations at the estimate (figures, goodness of fit).

// Full trajectories of `devices` devices, [devices, cycles, pulses].
std::vector<double> simulate_trajectories(const PcmCrystallizationModel& model,
                                          const PcmPulseTrain& train, std::uint64_t seed,
                                          std::int64_t devices) {
  const auto n = static_cast<std::size_t>(train.cycles * train.pulses_per_cycle);
  std::vector<double> G(static_cast<std::size_t>(devices) * n);
  parallel_for(devices, [&](std::int64_t i) {
    simulate_pulse_train(model, train, seed, static_cast<std::uint64_t>(i),
                         std::span<double>(G.data() + static_cast<std::size_t>(i) * n, n));
  });
  return G;
}

// Noise-free conductance after pulse `pulse` (0-based) of cycle 0 of `devices` devices, from
// the streams the physics uses for pulses (the reads are not needed).
std::vector<double> simulate_states(const PcmCrystallizationModel& model,
                                    const PcmPulseTrain& train, std::uint64_t seed,
                                    std::int64_t devices, std::size_t pulse) {
  std::vector<double> G(static_cast<std::size_t>(devices));
  parallel_for(devices, [&](std::int64_t i) {
    const auto u = static_cast<std::uint64_t>(i);
    RngStream device_rng(seed, u, kDeviceStream);
    PcmCellState cell = model.make_cell(device_rng);
    model.reset(cell);
    for (std::size_t p = 0; p <= pulse; ++p) {
      RngStream rng(seed, u, kPulseStream, pcm_pulse_substream(0, static_cast<std::int64_t>(p)));
      model.apply_pulse(cell, train.power_W, train.width_s, rng);
    }
    G[static_cast<std::size_t>(i)] = model.conductance_S(cell.X);
  });
  return G;
}

std::string join_names(const std::vector<std::string>& v) {
  return fmt::format("{}", fmt::join(v, ", "));
}

// The TOML literal of a parameter value and its table node.
void insert_value(toml::table& t, const std::string& key, double v) { t.insert_or_assign(key, v); }
void insert_value(toml::table& t, const std::string& key, std::int64_t v) {
  t.insert_or_assign(key, v);
}

// The model CDF of one read at a pulse, given simulated noise-free conductances G_i: a read is
// G (1 + read_noise Z), so P(read <= y) = mean_i Phi((y / G_i - 1) / read_noise). Exact given
// the simulated states (no smoothing bandwidth); its only error is the Monte Carlo error of
// the states.
struct ReadCdf {
  std::vector<double> G;
  double read_noise = 0;
  double eval(double y, bool upper) const {
    const boost::math::normal z;
    double s = 0;
    for (double g : G) {
      const double t = g > 0 ? (y / g - 1) / read_noise : (y >= 0 ? 1e300 : -1e300);
      s += upper ? boost::math::cdf(boost::math::complement(z, std::clamp(t, -40.0, 40.0)))
                 : boost::math::cdf(z, std::clamp(t, -40.0, 40.0));
    }
    return s / static_cast<double>(G.size());
  }
};

std::vector<double> column_of(const std::vector<double>& a, std::size_t rows, std::size_t stride,
                              std::size_t k) {
  std::vector<double> out(rows);
  for (std::size_t r = 0; r < rows; ++r) out[r] = a[r * stride + k];
  return out;
}

// Mean and standard deviation of ln G at every pulse over the records of [records, stride].
void log_profile(const std::vector<double>& G, std::size_t records, std::size_t stride,
                 std::size_t pulses, std::vector<double>& mean, std::vector<double>& sd) {
  mean.assign(pulses, 0.0);
  sd.assign(pulses, 0.0);
  for (std::size_t k = 0; k < pulses; ++k) {
    double s = 0, s2 = 0;
    for (std::size_t r = 0; r < records; ++r) {
      const double x = std::log(std::max(G[r * stride + k], kFloorS));
      s += x;
      s2 += x * x;
    }
    const double n = static_cast<double>(records);
    mean[k] = s / n;
    sd[k] = std::sqrt(std::max(0.0, s2 / n - mean[k] * mean[k]));
  }
}

std::string censoring_text(const std::vector<std::int64_t>& n, double limit) {
  std::size_t c = 0;
  for (auto v : n) c += v == kCensored;
  return fmt::format("{} of {} censored at {:g}", c, n.size(), limit);
}

}  // namespace

CalibrationResult calibrate_crystallization(const CalibrationInput& input,
                                            const CalibrationOptions& options) {
  const std::string src = input.source();
  MC_VALIDATE(input.set != nullptr, "{}: no data set selected", src);
  CalibrationResult r;
  r.kind = kModel;
  r.source = src;
  r.model = kModel;
  r.confidence = options.confidence;

  // --- the data, the protocol and the keys that are not fitted -------------------------------
  const Provenance prov = read_provenance(input);
  CrystallizationSetup setup;
  setup.device = preset_pcm_crystallization(prov.preset);
  if (prov.found) setup = prov.setup;
  if (prov.found)
    r.notes.push_back(
        fmt::format("the protocol and every model key that is not fitted are taken from the file's "
                    "provenance (memcarlo device simulate, preset {})",
                    prov.preset));
  UnitData data;
  std::string structure;
  if (const auto* p = std::get_if<PulseTrainData>(&input.set->body)) {
    data = read_pulse_train(input, *p);
    if (p->pulse_power_W) setup.protocol.power_W = *p->pulse_power_W;
    if (p->pulse_width_s) setup.protocol.width_s = *p->pulse_width_s;
    if (!prov.found)
      r.notes.push_back(fmt::format(
          "no memcarlo provenance: pulse power {} W and width {} s {}; every other key "
          "(G_threshold {} S, dome, percolation, read noise, variation) is at the gst default, "
          "which the fit assumes",
          fmt_g(setup.protocol.power_W), fmt_g(setup.protocol.width_s),
          p->pulse_power_W && p->pulse_width_s ? "from the data's attributes"
                                               : "(from the attributes where given, else defaults)",
          fmt_g(setup.protocol.G_threshold_S)));
    setup.protocol.pulses_per_cycle = static_cast<std::int64_t>(data.pulses);
    structure = fmt::format("{} devices x {} cycles of {} pulses; devices are the resampled units",
                            data.units, data.cycles, data.pulses);
  } else if (const auto* s = std::get_if<SamplesData>(&input.set->body)) {
    if (s->censor_limit) {
      MC_VALIDATE(*s->censor_limit >= 1 && *s->censor_limit == std::floor(*s->censor_limit) &&
                      *s->censor_limit < 4294967296.0,
                  "{}: censor_limit = {} is not a pulse count", src, *s->censor_limit);
      setup.protocol.max_pulses = static_cast<std::int64_t>(*s->censor_limit);
    }
    data = read_pulses_to_set(input, *s, prov, structure);
    if (!prov.found)
      r.notes.push_back(fmt::format(
          "no memcarlo provenance: the protocol is assumed to be the default one (power {} W, "
          "width {} s, G_threshold {} S, max_pulses {}{}) and every model key that is not "
          "fitted is at the gst default; the fitted values are only as good as that assumption",
          fmt_g(setup.protocol.power_W), fmt_g(setup.protocol.width_s),
          fmt_g(setup.protocol.G_threshold_S), setup.protocol.max_pulses,
          s->censor_limit ? " from censor_limit" : ""));
  } else {
    throw InputError(
        fmt::format("{} is kind '{}'; calibrate pcm-crystallization needs "
                    "pulse_train or samples (pulses_to_set)",
                    src, kind_name(input.set->body)));
  }
  setup.protocol.cycles = data.cycles;
  setup.protocol.validate_against(PcmCrystallizationModel(setup.device));
  const double P_W = setup.protocol.power_W;
  MC_VALIDATE(P_W > 0, "{}: pulse power {} W: partial SET needs a heating pulse", src, P_W);
  const auto C = static_cast<std::size_t>(data.cycles);

  // --- free parameters, starting from the preset defaults -------------------------------------
  const PcmCrystallizationConfig preset = preset_pcm_crystallization(prov.preset);
  const auto& dev = setup.device;
  std::vector<FreeParameter> free;
  {
    // R_th: the temperature rise within a factor kThermalBox of the preset's, below T_m.
    const double R0 = preset.R_th_K_per_W;
    const double R_max = std::min(kThermalBox * R0, (dev.T_m_K - 1.0 - dev.T_amb_K) / P_W);
    MC_VALIDATE(R_max > R0 / kThermalBox,
                "{}: at power {} W even R_th = {} K/W melts the dome (T_m = {} K)", src, fmt_g(P_W),
                fmt_g(R0 / kThermalBox), dev.T_m_K);
    free.push_back({"R_th", "K/W", "thermal resistance (sets the pulse temperature T_amb + R_th P)",
                    &PcmCrystallizationConfig::R_th_K_per_W, std::min(R0, R_max * 0.999),
                    R0 / kThermalBox, R_max, 0.02});
    const double s0 = preset.nucleation_scale;
    free.push_back({"nucleation_scale", "1", "factor on the classical nucleation rate I",
                    &PcmCrystallizationConfig::nucleation_scale, s0, s0 / kNucleationBox,
                    s0 * kNucleationBox, 0.3});
  }
  const bool fit_d2d = data.cycles >= 2;
  if (fit_d2d)
    free.push_back({"R_th_d2d", "1", "device-to-device log-normal sigma of R_th",
                    &PcmCrystallizationConfig::R_th_d2d,
                    std::clamp(preset.R_th_d2d, 2 * kD2dMin, kD2dMax / 2), kD2dMin, kD2dMax, 0.3});
  const std::size_t P = free.size();

  // --- moments ----------------------------------------------------------------------------
  MomentDesign design;
  CountDesign counts;
  counts.limit = static_cast<double>(setup.protocol.max_pulses);
  std::vector<std::size_t> pulse_index;
  std::vector<double> records;  // data features [records, F], unit-major
  if (data.kind == DataKind::pulse_train) {
    // Pulse indices where the share of records that have switched (ln G past the midpoint of
    // the median first and the median last read) first reaches each of kLevels: the moments
    // follow the rise wherever it happens, and ln G is continuous in the parameters.
    const PulseTrainData& p = *data.train;
    const std::size_t stride = p.G.shape[2], R = data.records(), K = data.pulses;
    auto lnG = [&](std::size_t rec, std::size_t k) {
      return std::log(std::max(p.G.data[rec * stride + k], kFloorS));
    };
    auto median_at = [&](std::size_t k) {
      std::vector<double> v(R);
      for (std::size_t rec = 0; rec < R; ++rec) v[rec] = lnG(rec, k);
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(R / 2), v.end());
      return v[R / 2];
    };
    const double lo = median_at(0), hi = median_at(K - 1);
    MC_VALIDATE(hi - lo > std::log(2.0),
                "{}: the median conductance goes only from {} S to {} S over the {} recorded "
                "pulses: the trains show no crystallization to fit",
                src, fmt_g(std::exp(lo)), fmt_g(std::exp(hi)), K);
    const double level = 0.5 * (lo + hi);
    std::vector<double> share(K);
    for (std::size_t k = 0; k < K; ++k) {
      std::size_t n = 0;
      for (std::size_t rec = 0; rec < R; ++rec) n += lnG(rec, k) >= level ? 1 : 0;
      share[k] = static_cast<double>(n) / static_cast<double>(R);
    }
    for (double q : kLevels) {
      std::size_t k = 0;
      while (k < K && share[k] < q) ++k;
      if (k < K && (pulse_index.empty() || pulse_index.back() != k)) pulse_index.push_back(k);
    }
    MC_VALIDATE(pulse_index.size() >= 2,
                "{}: the switching is not resolved in time ({} distinct pulse index between 10% "
                "and 90% of the records switched; need at least 2): the pulses are too strong "
                "for the recorded trains",
                src, pulse_index.size());
    const std::size_t mid = pulse_index.size() / 2;
    for (std::size_t j = 0; j < pulse_index.size(); ++j)
      design.features.push_back(
          {fmt::format("ln G after pulse {}", pulse_index[j] + 1), true, fit_d2d && j == mid, 0.0});
    const std::size_t F = design.features.size();
    records.resize(R * F);
    for (std::size_t rec = 0; rec < R; ++rec)
      for (std::size_t j = 0; j < F; ++j) records[rec * F + j] = lnG(rec, pulse_index[j]);
  } else {
    // ECDF cut points between integers at the data's quantiles (censored counts above L).
    std::vector<double> all;
    std::size_t n_cens = 0;
    for (const auto& u : data.counts)
      for (auto v : u) {
        all.push_back(v == kCensored ? counts.limit + 1 : static_cast<double>(v));
        n_cens += v == kCensored ? 1 : 0;
      }
    std::sort(all.begin(), all.end());
    const double n = static_cast<double>(all.size());
    for (double q : kLevels) {
      const double value = all[static_cast<std::size_t>(std::ceil(q * n)) - 1];
      const double cut = value + 0.5;
      const auto below =
          static_cast<double>(std::upper_bound(all.begin(), all.end(), cut) - all.begin());
      if (value > counts.limit || below >= n) continue;
      if (counts.cuts.empty() || counts.cuts.back() != cut) counts.cuts.push_back(cut);
    }
    counts.censored_moment = n_cens >= 5;
    design.features.push_back({"ln N", false, fit_d2d, 0.0});
    for (double c : counts.cuts)
      design.features.push_back({fmt::format("P(N <= {:g})", c - 0.5), false, false, 0.0});
    if (counts.censored_moment)
      design.features.push_back(
          {fmt::format("P(N > {})", setup.protocol.max_pulses), false, false, 0.0});
    const std::size_t F = design.features.size();
    records.resize(data.records() * F);
    std::size_t rec = 0;
    for (const auto& u : data.counts)
      for (auto v : u) counts.features(v, std::span<double>(records.data() + F * rec++, F));
  }
  const std::size_t F = design.features.size();
  for (std::size_t j = 0; j < F; ++j) {  // centres: the data means
    if (!design.features[j].spread && !design.features[j].within) continue;
    double m = 0;
    for (std::size_t rec = 0; rec < data.records(); ++rec) m += records[rec * F + j];
    design.features[j].center = m / static_cast<double>(data.records());
  }
  const std::size_t S = design.n_stats();
  std::vector<double> data_stats(data.units * S);
  for (std::size_t u = 0; u < data.units; ++u)
    design.unit_stats(std::span<const double>(records.data() + u * C * F, C * F),
                      std::span<double>(data_stats.data() + u * S, S));
  const std::vector<double> m_data = design.moments(totals_of(data_stats, S));
  const std::vector<std::string> names = design.moment_names();
  const std::size_t M = names.size();
  MC_VALIDATE(M >= P, "{}: {} moments cannot determine {} parameters", src, M, P);

  // --- weighting: the bootstrap covariance of the data moments -------------------------------
  const BootstrapReplicates moment_reps =
      run_bootstrap(options.bootstrap, options.seed, M, options.show_progress,
                    [&](RngStream& rng, std::span<double> out) {
                      const auto idx = resample_indices(data.units, rng);
                      const auto m = design.moments(totals_of(data_stats, S, &idx));
                      std::copy(m.begin(), m.end(), out.begin());
                    });
  std::size_t used = 0;
  const Matrix omega = covariance(moment_reps, M, used);
  for (std::size_t j = 0; j < M; ++j)
    MC_VALIDATE(omega(j, j) > 0 && std::isfinite(omega(j, j)),
                "{}: the moment '{}' does not vary over bootstrap resamples of the data, so it "
                "cannot be weighted (too few distinct records?)",
                src, names[j]);
  // The pilot fit weights by the data's variances; the refinement by the inverse of the
  // covariance the model itself gives the moments at the pilot estimate (see below).
  Weighting weight = weighting(omega, used, true);
  const Matrix& W = weight.W;
  auto quad = [&](const std::vector<double>& d) {
    double q = 0;
    for (std::size_t i = 0; i < M; ++i)
      for (std::size_t j = 0; j < M; ++j) q += d[i] * W(i, j) * d[j];
    return q;
  };

  // --- simulated method of moments ----------------------------------------------------------
  const std::int64_t copies = std::clamp<std::int64_t>(
      static_cast<std::int64_t>(std::ceil(kSimulatedRecords / static_cast<double>(data.records()))),
      kMinCopies, kMaxCopies);
  const double sim_factor = 1.0 + 1.0 / static_cast<double>(copies);
  const std::uint64_t sim_seed = RngStream(options.seed, 0, kSmmSeedStream).next_u64();
  const MomentSimulator simulator(data.kind, design, counts, setup, free, pulse_index, data.cycles,
                                  copies * static_cast<std::int64_t>(data.units), sim_seed);
  // A pilot simulator with one simulated device per measured one (and its own seed) finds the
  // neighbourhood of the minimum at a fifth of the cost; the full one refines from there.
  const MomentSimulator pilot(data.kind, design, counts, setup, free, pulse_index, data.cycles,
                              static_cast<std::int64_t>(data.units),
                              RngStream(options.seed, 1, kSmmSeedStream).next_u64());
  auto objective_of = [&](const MomentSimulator& sim) {
    return [&, simulate = &sim](std::span<const double> x) {
      const auto m = design.moments(totals_of(simulate->simulate(x), S));
      std::vector<double> d(M);
      for (std::size_t j = 0; j < M; ++j) d[j] = m[j] - m_data[j];
      return quad(d);
    };
  };
  int full_evaluations = 0;
  auto moments_at = [&](std::span<const double> x) {
    ++full_evaluations;
    return design.moments(totals_of(simulator.simulate(x), S));
  };
  auto objective = [&](std::span<const double> x) {
    const auto m = moments_at(x);
    std::vector<double> d(M);
    for (std::size_t j = 0; j < M; ++j) d[j] = m[j] - m_data[j];
    return quad(d);
  };
  std::vector<double> start(P), lower(P), upper(P), step(P);
  for (std::size_t p = 0; p < P; ++p) {
    start[p] = std::log(free[p].start);
    lower[p] = std::log(free[p].lower);
    upper[p] = std::log(free[p].upper);
    step[p] = free[p].step;
  }
  const std::string what = fmt::format("calibrate pcm-crystallization {}", src);
  MinimizeOptions mo;
  mo.method = MinimizeMethod::subplex;  // robust on the staircase that whole nuclei make
  mo.max_evaluations = kPilotEvaluations;
  mo.x_tol_rel = 1e-6;
  mo.f_tol_rel = 1e-4;
  mo.initial_step = step;
  const MinimizeResult pilot_fit = minimize(objective_of(pilot), start, lower, upper, mo, what);
  // Weighting for the refinement: the inverse covariance of the moments as the model gives them
  // at the pilot estimate (bootstrap of the simulated devices, scaled to the data's size). Unlike
  // the data's own bootstrap covariance it does not move with the data's sampling noise, which
  // otherwise biases optimally weighted moments and their standard errors downwards (Altonji &
  // Segal, J. Bus. Econ. Stat. 14, 353 (1996)); the intervals below still use the data's.
  std::size_t used_model = 0;
  Matrix omega_model;
  {
    const std::vector<double> at_pilot = simulator.simulate(pilot_fit.x);
    const BootstrapReplicates model_reps = run_bootstrap(
        options.bootstrap, RngStream(options.seed, 2, kSmmSeedStream).next_u64(), M,
        options.show_progress, [&](RngStream& rng, std::span<double> out) {
          const auto idx = resample_indices(static_cast<std::size_t>(simulator.units()), rng);
          const auto m = design.moments(totals_of(at_pilot, S, &idx));
          std::copy(m.begin(), m.end(), out.begin());
        });
    omega_model = covariance(model_reps, M, used_model);
    omega_model *= static_cast<double>(copies);
  }
  bool model_ok = true;
  for (std::size_t j = 0; j < M; ++j)
    model_ok = model_ok && omega_model(j, j) > 0 && std::isfinite(omega_model(j, j));
  if (model_ok) weight = weighting(omega_model, used_model, false);
  if (!weight.full)
    r.notes.push_back(fmt::format("diagonal weighting{}, and no J-test",
                                  weight.note.empty() ? "" : " (" + weight.note + ")"));
  const bool full_weight = weight.full;

  // --- refinement: Jacobian under common random numbers, Gauss-Newton steps --------------------
  namespace ublas = boost::numeric::ublas;
  auto jacobian = [&](const std::vector<double>& at) {
    Matrix J(M, P);
    for (std::size_t p = 0; p < P; ++p) {
      auto column = [&](double h) {
        std::vector<double> xp = at, xm = at;
        xp[p] += h;
        xm[p] -= h;
        const auto a = moments_at(xp), b = moments_at(xm);
        std::vector<double> g(M);
        for (std::size_t j = 0; j < M; ++j) g[j] = (a[j] - b[j]) / (2 * h);
        return g;
      };
      // A central difference over about two standard errors: wide enough to average over the
      // small steps that whole nuclei put into the simulated moments, narrow enough to be
      // linear.
      double h = step[p] / 4;
      auto g = column(h);
      const double info = quad(g);
      if (info > 0) {
        const double h2 = std::clamp(2.0 * std::sqrt(sim_factor / info), 1e-4, 0.5);
        if (h2 > 2 * h || h2 < h / 2) {
          h = h2;
          g = column(h);
        }
      }
      for (std::size_t j = 0; j < M; ++j) J(j, p) = g[j];
    }
    return J;
  };
  // d theta = A d m with A = (G'WG)^-1 G'W, and the sandwich variance V.
  struct Linearisation {
    Matrix A, V;
    double se(std::size_t p) const { return std::sqrt(V(p, p)); }
  };
  auto linearise = [&](const std::vector<double>& at) {
    const Matrix G = jacobian(at);
    const Matrix WG = ublas::prod(W, G);
    const Matrix GWG = ublas::prod(ublas::trans(G), WG);
    Matrix GWG_inv;
    MC_VALIDATE(invert(GWG, GWG_inv),
                "{}: the moments do not identify the parameters (G'WG is singular at {})", src,
                fmt::join(at, ", "));
    Linearisation l;
    l.A = ublas::prod(GWG_inv, ublas::trans(WG));
    const Matrix AO = ublas::prod(l.A, omega);
    l.V = sim_factor * Matrix(ublas::prod(AO, ublas::trans(l.A)));
    return l;
  };
  auto residual = [&](const std::vector<double>& m) {
    std::vector<double> d(M);
    for (std::size_t j = 0; j < M; ++j) d[j] = m[j] - m_data[j];
    return d;
  };
  // From the pilot estimate, Gauss-Newton steps on the full simulation (each kept if it lowers
  // the objective, else halved once), until a step is below a twentieth of a standard error.
  // The objective is a fine staircase (whole nuclei appear as theta moves), which the
  // differences over two standard errors smooth out.
  std::vector<double> theta = pilot_fit.x;
  std::vector<double> m_sim = moments_at(theta);
  double Q = quad(residual(m_sim));
  Linearisation lin = linearise(theta);
  std::vector<double> lin_at = theta;  // where lin was taken
  double last_step = kNaN;             // largest step proposed last, in standard errors
  auto propose = [&](const std::vector<double>& m) {
    std::vector<double> d(P, 0.0);
    last_step = 0;
    for (std::size_t p = 0; p < P; ++p) {
      for (std::size_t j = 0; j < M; ++j) d[p] += lin.A(p, j) * (m_data[j] - m[j]);
      last_step = std::max(last_step, std::abs(d[p]) / lin.se(p));
    }
    return d;
  };
  auto moved_from = [&](const std::vector<double>& from) {
    double se = 0;
    for (std::size_t p = 0; p < P; ++p) se = std::max(se, std::abs(theta[p] - from[p]) / lin.se(p));
    return se;
  };
  for (int iteration = 0; iteration < kGaussNewtonSteps; ++iteration) {
    const std::vector<double> d = propose(m_sim);
    if (last_step < 0.05) break;
    bool moved = false;
    for (double fraction : {1.0, 0.5}) {
      std::vector<double> x = theta;
      for (std::size_t p = 0; p < P; ++p)
        x[p] = std::clamp(x[p] + fraction * d[p], lower[p], upper[p]);
      const auto m = moments_at(x);
      const double q = quad(residual(m));
      if (q < Q) {
        theta = x;
        Q = q;
        m_sim = m;
        moved = true;
        break;
      }
    }
    // A step that does not lower the objective, or one that leaves the linearisation behind,
    // calls for the Jacobian where the estimate now is; a failed step from a fresh Jacobian
    // ends the iteration.
    if (!moved && moved_from(lin_at) <= 0.5) break;
    if (!moved || moved_from(lin_at) > 1) {
      lin = linearise(theta);
      lin_at = theta;
    }
  }
  propose(m_sim);
  bool optimiser_refined = false;
  if (last_step > 0.5) {
    // Still far from where the linearisation points: let the optimiser refine from here.
    mo.max_evaluations = kRefineEvaluations;
    for (std::size_t p = 0; p < P; ++p) mo.initial_step[p] = lin.se(p);
    const MinimizeResult fit = minimize(objective, theta, lower, upper, mo, what);
    if (fit.value < Q) {
      theta = fit.x;
      Q = fit.value;
      m_sim = moments_at(theta);
    }
    optimiser_refined = true;
  }
  if (moved_from(lin_at) > 1) {  // the sandwich needs the Jacobian where the estimate is
    lin = linearise(theta);
    lin_at = theta;
  }
  propose(m_sim);
  if (last_step > 0.5)
    r.notes.push_back(
        fmt::format("the minimisation ended {:.2g} standard errors from where the "
                    "linearised objective has its minimum: the estimate may be short "
                    "of the minimum",
                    last_step));
  const Matrix& A = lin.A;
  const Matrix& V = lin.V;
  for (std::size_t p = 0; p < P; ++p) {
    const double span = upper[p] - lower[p];
    if (theta[p] - lower[p] < 1e-3 * span || upper[p] - theta[p] < 1e-3 * span)
      r.notes.push_back(fmt::format(
          "{} = {} is at the edge of its search box [{}, {}]: the model does not reach the data "
          "inside it; the estimate and its interval are not reliable",
          free[p].key, fmt_g(std::exp(theta[p])), fmt_g(free[p].lower), fmt_g(free[p].upper)));
  }
  const std::vector<double> sim_stats = simulator.simulate(theta);

  // --- estimates and intervals ------------------------------------------------------------
  const double T_amb = dev.T_amb_K;
  for (std::size_t p = 0; p < P; ++p) {
    EstimatedParameter e;
    e.key = free[p].key;
    e.unit = free[p].unit;
    e.description = free[p].description;
    e.estimate = std::exp(theta[p]);
    e.in_params = true;
    const double se = std::sqrt(V(p, p));
    e.note = fmt::format("sandwich standard error of ln {}: {:.3g}", free[p].key, se);
    if (se > 0.5) {
      e.note += "; weakly identified";
      r.notes.push_back(
          fmt::format("{} is only weakly identified by these data (standard error "
                      "of its logarithm {:.2g})",
                      free[p].key, se));
    }
    r.parameters.push_back(e);
  }
  {
    EstimatedParameter e;
    e.key = "T_pulse";
    e.unit = "K";
    e.description = "cell temperature during a pulse, T_amb + R_th P (derived from R_th)";
    e.estimate = T_amb + std::exp(theta[0]) * P_W;
    e.note = fmt::format("at P = {} W, T_amb = {} K", fmt_g(P_W), fmt_g(T_amb));
    r.parameters.push_back(e);
  }
  const BootstrapReplicates reps = run_bootstrap(
      options.bootstrap, options.seed, P + 1, options.show_progress,
      [&](RngStream& rng, std::span<double> out) {
        // The data resample is the one Omega came from (same streams, drawn first); the
        // resample of the simulated devices adds the simulation noise (the 1/S of the variance).
        const auto idx = resample_indices(data.units, rng);
        const auto m_b = design.moments(totals_of(data_stats, S, &idx));
        const auto sidx = resample_indices(static_cast<std::size_t>(simulator.units()), rng);
        const auto s_b = design.moments(totals_of(sim_stats, S, &sidx));
        // The replicate solves m_sim(x) - m_sim(theta) = target. The linear step alone gives
        // intervals symmetric in ln theta; the moments are curved in theta (the estimate of R_th
        // from pulse trains is skewed), so Gauss-Newton corrections on the full simulation
        // (common random numbers, same A) carry that curvature into the percentile interval.
        std::vector<double> target(M);
        for (std::size_t j = 0; j < M; ++j) target[j] = (m_b[j] - m_data[j]) - (s_b[j] - m_sim[j]);
        std::vector<double> x = theta, reached(M, 0.0);
        for (int correction = 0; correction <= kBootstrapCorrections; ++correction) {
          if (correction > 0) {
            const auto m_x = design.moments(totals_of(simulator.simulate(x), S));
            for (std::size_t j = 0; j < M; ++j) reached[j] = m_x[j] - m_sim[j];
          }
          for (std::size_t p = 0; p < P; ++p) {
            for (std::size_t j = 0; j < M; ++j) x[p] += A(p, j) * (target[j] - reached[j]);
            x[p] = std::clamp(x[p], lower[p], upper[p]);
          }
        }
        for (std::size_t p = 0; p < P; ++p) out[p] = std::exp(x[p]);
        out[P] = T_amb + std::exp(x[0]) * P_W;
      });
  attach_intervals(r, reps);

  // Keys the data do not identify: kept at their assumed values, written to PARAMS.toml so the
  // assumption is visible.
  const CrystallizationSetup fitted = simulator.setup_at(theta);
  const double T_hat = fitted.device.T_amb_K + fitted.device.R_th_K_per_W * P_W;
  auto unidentified = [&](const std::string& key, const std::string& unit,
                          const std::string& description, double value, std::string note) {
    EstimatedParameter e;
    e.key = key;
    e.unit = unit;
    e.description = description;
    e.estimate = value;
    e.identified = false;
    e.in_params = true;
    e.note = std::move(note);
    r.parameters.push_back(e);
  };
  unidentified("E_a", "eV", "viscosity activation energy below T_glass", dev.E_a_eV,
               T_hat >= dev.T_glass_K
                   ? fmt::format("acts only below T_glass = {:g} K and the pulses heat the cell to "
                                 "{:.0f} K; held at {:g}",
                                 dev.T_glass_K, T_hat, dev.E_a_eV)
                   : fmt::format("at one pulse power it acts only through the rates at the one "
                                 "pulse temperature, like R_th and nucleation_scale together: "
                                 "confounded with them; held at {:g}, R_th absorbs its error",
                                 dev.E_a_eV));
  if (!fit_d2d)
    unidentified("R_th_d2d", "1", "device-to-device log-normal sigma of R_th", dev.R_th_d2d,
                 fmt::format("with one cycle per device its spread cannot be told from the "
                             "nucleation noise; held at {:g} (data with several cycles per device "
                             "identify it)",
                             dev.R_th_d2d));
  unidentified("radius_d2d", "1", "device-to-device log-normal sigma of the dome radius",
               dev.radius_d2d,
               fmt::format("a device-to-device spread like R_th_d2d, and much weaker at these "
                           "rates; held at {:g}",
                           dev.radius_d2d));
  unidentified("power_c2c", "1", "pulse-to-pulse log-normal sigma of the pulse power",
               dev.power_c2c,
               fmt::format("its effect averages over the many pulses of one crystallization and "
                           "mixes with the nucleation noise; held at {:g}, and an error in it is "
                           "absorbed into R_th and nucleation_scale",
                           dev.power_c2c));

  // --- J-test of the overidentifying restrictions ------------------------------------------
  if (full_weight && M > P) {
    const double J = Q / sim_factor;
    const double p_J = boost::math::cdf(
        boost::math::complement(boost::math::chi_squared(static_cast<double>(M - P)), J));
    r.notes.push_back(fmt::format(
        "J-test of the {} overidentifying restrictions: J = {:.3g}, p = {:.3g}{}", M - P, J, p_J,
        p_J < 0.01 ? " - the model cannot match all the moments at once (fails)" : ""));
  }

  // --- simulations at the estimate: goodness of fit and figures -------------------------------
  const PcmCrystallizationModel model_hat(fitted.device);
  const std::uint64_t gof_seed = RngStream(options.seed, 0, kGofSeedStream).next_u64();
  const std::int64_t check_devices = std::max<std::int64_t>(kMinCheckDevices, simulator.units());
  const double thr = setup.protocol.G_threshold_S;
  std::vector<std::int64_t> n_data, n_sim;  // pulses to SET, per record
  double n_limit = 0;                       // their censoring limit
  std::string n_what;
  const std::string estimation_note =
      "parameters estimated from the same data: the p-value is conservative";
  if (data.kind == DataKind::pulse_train) {
    const PulseTrainData& p = *data.train;
    const std::size_t stride = p.G.shape[2], K = data.pulses, R = data.records();
    PcmPulseTrain train = fitted.protocol;
    train.pulses_per_cycle = static_cast<std::int64_t>(K);
    const std::vector<double> G_sim =
        simulate_trajectories(model_hat, train, gof_seed, check_devices);
    const std::size_t R_sim = static_cast<std::size_t>(check_devices) * C;
    n_data = first_crossings(p.G.data, R, K, stride, thr);
    n_sim = first_crossings(G_sim, R_sim, K, K, thr);
    n_limit = static_cast<double>(K);
    n_what = fmt::format("pulses to reach G_threshold = {} S within the {} recorded pulses",
                         fmt_g(thr), K);
    // The read after the middle moment pulse against the model's distribution of one read.
    const std::size_t k_mid = pulse_index[pulse_index.size() / 2];
    const std::vector<double> reads = column_of(p.G.data, R, stride, k_mid);
    GoodnessOfFit g;
    g.what = fmt::format("read conductance after pulse {} vs the model at the estimate", k_mid + 1);
    if (fitted.device.read_noise > 0) {
      const ReadCdf F_read{simulate_states(model_hat, train, gof_seed, check_devices, k_mid),
                           fitted.device.read_noise};
      // The tests evaluate the CDF at the reads only: tabulate it there, in parallel.
      std::vector<double> at = reads, F(reads.size()), F_upper(reads.size());
      std::sort(at.begin(), at.end());
      parallel_for(static_cast<std::int64_t>(at.size()), [&](std::int64_t i) {
        const auto u = static_cast<std::size_t>(i);
        F[u] = F_read.eval(at[u], false);
        F_upper[u] = F_read.eval(at[u], true);
      });
      auto tabulated = [&](const std::vector<double>& table, bool upper) {
        return [&, values = &table, upper](double y) {
          const auto it = std::lower_bound(at.begin(), at.end(), y);
          return it != at.end() && *it == y ? (*values)[static_cast<std::size_t>(it - at.begin())]
                                            : F_read.eval(y, upper);
        };
      };
      const CdfFunction cdf = tabulated(F, false);
      const CdfFunction sf = tabulated(F_upper, true);
      g.ks = kolmogorov_smirnov(reads, cdf);
      g.ad = anderson_darling(reads, cdf, sf);
      g.note = fmt::format(
          "model CDF: mean over {} simulated noise-free states of the normal read "
          "distribution; {}{}",
          check_devices, estimation_note,
          C > 1 ? "; cycles of one device are not independent, which makes the "
                  "p-values too small"
                : "");
    } else {
      g.ks = kolmogorov_smirnov_two_sample(reads, column_of(G_sim, R_sim, K, k_mid));
      g.note =
          "read_noise = 0: the model's read distribution has atoms, so a one-sample test "
          "does not apply; KS is two-sample against a simulation, AD not available";
    }
    r.gof.push_back(g);
    // Figure: geometric mean of G with +-1 sd of ln G, measured and simulated.
    std::vector<double> mean_d, sd_d, mean_s, sd_s, x(K);
    log_profile(p.G.data, R, stride, K, mean_d, sd_d);
    log_profile(G_sim, R_sim, K, K, mean_s, sd_s);
    std::iota(x.begin(), x.end(), 1.0);
    // exp(mean) and the band exp(mean +- sd) as one series, broken by a NaN between its edges.
    auto centre = [](const std::vector<double>& m) {
      std::vector<double> out(m.size());
      for (std::size_t k = 0; k < m.size(); ++k) out[k] = std::exp(m[k]);
      return out;
    };
    auto band = [&](const std::vector<double>& m, const std::vector<double>& sd,
                    std::vector<double>& bx) {
      std::vector<double> out;
      bx.clear();
      for (double sign : {1.0, -1.0}) {
        if (!out.empty()) {
          out.push_back(kNaN);
          bx.push_back(kNaN);
        }
        for (std::size_t k = 0; k < m.size(); ++k) {
          out.push_back(std::exp(m[k] + sign * sd[k]));
          bx.push_back(x[k]);
        }
      }
      return out;
    };
    std::vector<double> bx_d, bx_s;
    const auto band_d = band(mean_d, sd_d, bx_d), band_s = band(mean_s, sd_s, bx_s);
    Plot plot("Partial-SET trains: measured and simulated at the estimate", "pulse",
              "exp(mean ln G) (S)");
    plot.y_scale(PlotScale::log);
    plot.points("measured", x, centre(mean_d)).colour(0);
    plot.line("measured, +-1 sd of ln G", bx_d, band_d, true).colour(0);
    plot.line("model at the estimate", x, centre(mean_s)).colour(1);
    plot.line("model, +-1 sd of ln G", bx_s, band_s, true).colour(1);
    r.figures.push_back({"crystallization_lnG",
                         "Geometric mean of the read conductance after each pulse with +-1 sd of "
                         "ln G, measured and simulated with the fitted parameters",
                         plot.svg()});
  } else {
    for (const auto& u : data.counts) n_data.insert(n_data.end(), u.begin(), u.end());
    n_sim.resize(static_cast<std::size_t>(check_devices) * C);
    PcmPulseTrain train = fitted.protocol;
    parallel_for(check_devices, [&](std::int64_t i) {
      for (std::size_t c = 0; c < C; ++c)
        n_sim[static_cast<std::size_t>(i) * C + c] =
            pulses_to_set(model_hat, train, gof_seed, static_cast<std::uint64_t>(i),
                          static_cast<std::int64_t>(c));
    });
    n_limit = counts.limit;
    n_what = fmt::format("pulses to reach G_threshold = {} S", fmt_g(thr));
  }
  {
    GoodnessOfFit g;
    g.what = fmt::format("{} vs {} simulated at the estimate", n_what, n_sim.size());
    g.ks = kolmogorov_smirnov_two_sample(uncensored(n_data), uncensored(n_sim));
    g.note = fmt::format(
        "two-sample KS of the uncensored counts (measured {}; simulated {}); "
        "counts are integers, so ties make the p-value approximate; {}{}; AD: "
        "the model's distribution is known only as a simulated sample of a "
        "discrete variable and there is no two-sample AD here",
        censoring_text(n_data, n_limit), censoring_text(n_sim, n_limit), estimation_note,
        C > 1 ? "; cycles of one device are not independent, which makes the p-value too small"
              : "");
    r.gof.insert(r.gof.begin(), g);
    Plot plot("Pulses to SET: measured and simulated at the estimate", "pulses to SET",
              "cumulative probability (uncensored)");
    plot.x_scale(PlotScale::log);
    plot.ecdf("measured", uncensored(n_data));
    plot.ecdf("model at the estimate", uncensored(n_sim));
    r.figures.insert(r.figures.begin(),
                     Figure{"crystallization_pulses_to_set",
                            fmt::format("Empirical CDFs of the {}, measured and simulated with "
                                        "the fitted parameters (censored records left out)",
                                        n_what),
                            plot.svg()});
  }
  for (const auto& g : r.gof)
    if (g.ks.p_value < 0.01 || g.ad.p_value < 0.01)
      r.notes.push_back(fmt::format("the fit fails a goodness-of-fit test (p < 0.01): {}", g.what));

  // --- PARAMS.toml ---------------------------------------------------------------------------
  add_params_from_estimates(r);
  toml::table model_table;
  for (const auto& p : r.parameters)
    if (p.in_params) insert_value(model_table, p.key, p.estimate);
  {
    // Every other model key whose value differs from the `gst` defaults that PARAMS.toml starts
    // from (a cgst preset, or keys set when the data were simulated).
    CrystallizationSetup base{preset_pcm_crystallization("gst"), {}};
    std::vector<std::pair<std::string, double>> defaults;
    base.device.visit([&](const ParamInfo& info, double v) { defaults.emplace_back(info.key, v); });
    std::size_t i = 0;
    CrystallizationSetup held = fitted;
    held.device.visit([&](const ParamInfo& info, double v) {
      const auto& [key, d] = defaults[i++];
      if (v == d || model_table.contains(key)) return;
      r.params.push_back(params_entry(key, v,
                                      fmt::format("{} (held fixed: {})", info.unit,
                                                  prov.found ? "from the provenance" : "assumed")));
      insert_value(model_table, key, v);
    });
    const auto& t = fitted.protocol;
    const std::string how =
        prov.found ? "protocol of the data (provenance)" : "protocol assumed for the data";
    r.params.push_back(params_entry("power", t.power_W, "W, " + how));
    r.params.push_back(params_entry("width", t.width_s, "s, " + how));
    r.params.push_back(params_entry("G_threshold", t.G_threshold_S, "S, " + how));
    r.params.push_back(params_entry("max_pulses", t.max_pulses, how));
    r.params.push_back(params_entry("pulses_per_cycle", t.pulses_per_cycle, how));
    r.params.push_back(params_entry("cycles", t.cycles, how));
    insert_value(model_table, "power", t.power_W);
    insert_value(model_table, "width", t.width_s);
    insert_value(model_table, "G_threshold", t.G_threshold_S);
    insert_value(model_table, "max_pulses", t.max_pulses);
    insert_value(model_table, "pulses_per_cycle", t.pulses_per_cycle);
    insert_value(model_table, "cycles", t.cycles);
  }

  // --- round trip through `device simulate` with the PARAMS.toml keys ------------------------
  if (options.round_trip) {
    toml::table config;
    config.insert_or_assign(kModel, model_table);
    SimulationRequest req;
    req.model = kModel;
    req.devices = static_cast<std::int64_t>(data.units) * 4;
    req.seed = RngStream(options.seed, 0, kRoundTripSeedStream).next_u64();
    req.config = &config;
    req.config_origin = "fitted parameters";
    req.show_progress = false;
    const MeasurementFile sim = simulate_measurements(req);
    for (const auto& set : sim.sets) {
      if (data.kind == DataKind::pulses_to_set) {
        const auto* s = std::get_if<SamplesData>(&set.body);
        if (!s) continue;
        RoundTrip t;
        t.what = "pulses_to_set (uncensored)";
        const auto measured = uncensored(n_data);
        t.ks = kolmogorov_smirnov_two_sample(measured, s->value);
        t.n_measured = measured.size();
        t.n_simulated = s->value.size();
        t.note = fmt::format(
            "device simulate with PARAMS.toml, {} devices; censored: measured {}, "
            "simulated {}",
            req.devices, n_data.size() - measured.size(), s->n_censored);
        r.round_trips.push_back(t);
      } else {
        const auto* p = std::get_if<PulseTrainData>(&set.body);
        if (!p) continue;
        const std::size_t K = data.pulses, R_sim = p->G.shape[0] * p->G.shape[1];
        const auto n_rt = first_crossings(p->G.data, R_sim, K, p->G.shape[2], thr);
        RoundTrip t;
        t.what = fmt::format("pulses to reach G_threshold within {} pulses (uncensored)", K);
        const auto measured = uncensored(n_data), simulated = uncensored(n_rt);
        t.ks = kolmogorov_smirnov_two_sample(measured, simulated);
        t.n_measured = measured.size();
        t.n_simulated = simulated.size();
        t.note = fmt::format("device simulate with PARAMS.toml, {} devices; {}", req.devices,
                             censoring_text(n_rt, static_cast<double>(K)));
        r.round_trips.push_back(t);
        const std::size_t k_mid = pulse_index[pulse_index.size() / 2];
        RoundTrip t2;
        t2.what = fmt::format("read conductance after pulse {}", k_mid + 1);
        const auto a = column_of(data.train->G.data, data.records(), data.train->G.shape[2], k_mid);
        const auto b = column_of(p->G.data, R_sim, p->G.shape[2], k_mid);
        t2.ks = kolmogorov_smirnov_two_sample(a, b);
        t2.n_measured = a.size();
        t2.n_simulated = b.size();
        t2.note = fmt::format("device simulate with PARAMS.toml, {} devices", req.devices);
        r.round_trips.push_back(t2);
      }
    }
    for (const auto& t : r.round_trips)
      if (t.ks.p_value < 0.01)
        r.notes.push_back(fmt::format("the round trip fails (KS p < 0.01): {}", t.what));
  }

  // --- method ----------------------------------------------------------------------------
  std::vector<std::string> fitted_keys;
  for (const auto& f : free) fitted_keys.push_back(f.key);
  r.method = fmt::format(
      "Simulated method of moments with common random numbers (McFadden 1989). Data: {} ({}). "
      "Moments ({}): {}. For parameters theta (the logarithms of {}) the crystallization model "
      "simulates {} devices ({} per measured device) under one fixed seed, in parallel with one "
      "random stream per device, so the simulated moments m_sim are a deterministic function of "
      "theta, and the fit minimises (m_sim - m_data)' W (m_sim - m_data) from the preset "
      "defaults: first NLopt's subplex on a pilot simulation of one device per measured one, "
      "weighted by the inverse bootstrap variances of the data moments; then, with W the {} "
      "inverse of the covariance the model gives the moments at the pilot estimate (a bootstrap "
      "of the simulated devices, independent of the data's sampling noise, which would bias "
      "optimally weighted moments), Gauss-Newton steps on the full simulation{} ({} simulations "
      "in the fit). The Jacobian G of the moments is taken by central differences over about two "
      "standard errors under the same random numbers, which smooths the fine staircase that "
      "whole nuclei put into the simulated moments. Uncertainty: the sandwich "
      "(1 + 1/S)(G'WG)^-1 G'W Omega W G (G'WG)^-1 with S = {} and Omega the bootstrap covariance "
      "of the data moments ({} resamples of devices); the intervals are percentile intervals of "
      "the bootstrap estimates theta_b that solve m_sim(theta_b) - m_sim(theta_hat) = "
      "(m_b - m_data) - (s_b - m_sim), with m_b the moments of bootstrap resample b of the "
      "devices and s_b those of a resample of the simulated devices (the 1/S term): the linear "
      "step theta_hat + (G'WG)^-1 G'W (...) followed by one Gauss-Newton correction on the full "
      "simulation, which carries the curvature of the moments in theta (a skewed R_th) into the "
      "intervals at one simulation per resample instead of a refit. Identification: at one pulse power the pulse temperature (R_th) "
      "sets the growth velocity and so the time scale of the switching, and nucleation_scale "
      "sets how many grains start and so its shape and spread; {}. E_a, radius_d2d and "
      "power_c2c are not identified by such data and are held at their assumed values (see "
      "their notes). Goodness of fit: the pulses-to-SET against a simulation at the estimate "
      "(two-sample KS){}, and the J-test of the overidentifying moments.",
      data.kind == DataKind::pulse_train ? "read conductance after each partial-SET pulse"
                                         : "pulses to SET, right-censored at max_pulses",
      structure, M, join_names(names), join_names(fitted_keys), simulator.units(), copies,
      full_weight ? "full" : "diagonal", optimiser_refined ? " and a subplex refinement" : "",
      pilot_fit.evaluations + full_evaluations, copies, used,
      fit_d2d ? "R_th_d2d is identified by the covariance of the cycles of one device"
              : "with one cycle per device the device-to-device spread R_th_d2d cannot be told "
                "from nucleation noise and is held fixed",
      data.kind == DataKind::pulse_train
          ? " and one read against the model's read distribution (KS and AD)"
          : "");
  return r;
}

std::vector<RecoveryCheck> recovery_trial_crystallization(std::uint64_t seed,
                                                          std::int64_t bootstrap) {
  constexpr double kTruthRth = 2.05e6, kTruthScale = 0.5;
  SimulationRequest req;
  req.model = kModel;
  req.devices = 400;
  req.seed = seed;
  req.assignments = {fmt::format("R_th={}", kTruthRth),
                     fmt::format("nucleation_scale={}", kTruthScale), "pulses_per_cycle=60"};
  req.show_progress = false;
  CalibrationInput input;
  input.file = fmt::format("recovery-trial-{}.h5", seed);
  input.contents = simulate_measurements(req);
  CalibrationOptions options;
  options.bootstrap = bootstrap;
  options.seed = seed;
  options.show_progress = false;
  options.round_trip = false;
  std::vector<RecoveryCheck> checks;
  for (const char* group : {"pulse_train", "pulses_to_set"}) {
    input.group = group;
    input.set = nullptr;
    for (const auto& s : input.contents.sets)
      if (s.name == group) input.set = &s;
    const CalibrationResult result = calibrate_crystallization(input, options);
    const std::string suffix = input.group == "pulse_train" ? "" : " (pulses_to_set)";
    for (auto [key, truth] :
         {std::pair{"R_th", kTruthRth}, std::pair{"nucleation_scale", kTruthScale}}) {
      RecoveryCheck c = recovery_check(result, key, truth);
      c.key += suffix;
      checks.push_back(c);
    }
  }
  return checks;
}

}  // namespace memcarlo
