// Nonparametric bootstrap for the confidence intervals of every calibration: resample the
// independent units of the data (devices, cycles, records) with replacement, refit, and take
// percentile intervals of the refitted values (Efron & Tibshirani, An Introduction to the
// Bootstrap (1993), ch. 13). Resamples run in parallel; resample b draws only from the stream
// (seed, entity b, "bootstrap"), so the replicates are bitwise identical for any thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "calibration/calibration.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/rng.hpp"

namespace memcarlo {

namespace bootstrap_stream {
inline constexpr std::uint64_t resample = stream_id("bootstrap");
}

// Fewer resamples than this give percentile intervals that are mostly noise.
inline constexpr std::int64_t kMinBootstrap = 20;

// n indices drawn uniformly with replacement from [0, n) (one 64-bit value each, by the
// multiply-shift map, whose bias is below n / 2^64).
std::vector<std::uint32_t> resample_indices(std::size_t n, RngStream& rng);

// The replicates of a bootstrap: values[b * n_values + j] is quantity j refitted on resample b,
// NaN for every quantity of a resample whose fit threw (counted in `failures`).
struct BootstrapReplicates {
  std::int64_t resamples = 0;
  std::size_t n_values = 0;
  std::vector<double> values;
  std::int64_t failures = 0;
  std::string first_failure;  // message of the lowest failing resample

  std::vector<double> column(std::size_t j) const;  // the finite replicates of quantity j
};

// Runs refit(rng, out) for b in [0, resamples) in parallel. refit draws its resample from rng
// (a fresh RngStream(seed, b, "bootstrap")) and writes n_values quantities to out. An exception
// from refit marks that resample failed; failures are reported, not hidden.
template <class Refit>
BootstrapReplicates run_bootstrap(std::int64_t resamples, std::uint64_t seed, std::size_t n_values,
                                  bool show_progress, Refit&& refit) {
  MC_VALIDATE(resamples >= kMinBootstrap, "--bootstrap {} is too few: use at least {} resamples",
              resamples, kMinBootstrap);
  BootstrapReplicates r;
  r.resamples = resamples;
  r.n_values = n_values;
  r.values.assign(static_cast<std::size_t>(resamples) * n_values, 0.0);
  std::vector<std::string> errors(static_cast<std::size_t>(resamples));
  ProgressReporter progress("bootstrap", static_cast<std::uint64_t>(resamples),
                            show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  parallel_for(resamples, [&](std::int64_t b) {
    std::span<double> out(r.values.data() + static_cast<std::size_t>(b) * n_values, n_values);
    try {
      RngStream rng(seed, static_cast<std::uint64_t>(b), bootstrap_stream::resample);
      refit(rng, out);
    } catch (const std::exception& e) {
      errors[static_cast<std::size_t>(b)] = e.what();
      for (double& v : out) v = std::nan("");
    }
    progress.advance();
  });
  progress.finish();
  for (const auto& e : errors) {
    if (e.empty()) continue;
    if (r.failures++ == 0) r.first_failure = e;
  }
  return r;
}

// Percentile interval of `values`: the ((B + 1)(1 - c)/2)-th and ((B + 1)(1 + c)/2)-th order
// statistics of the B finite replicates (Davison & Hinkley 1997), linearly interpolated, and
// their standard deviation. NaN if fewer than kMinBootstrap finite values.
struct PercentileInterval {
  double low = kNaN, high = kNaN, standard_deviation = kNaN;
};
PercentileInterval percentile_interval(std::vector<double> values, double confidence);

// Sets ci_low/ci_high/standard_error of parameters[j] from column j of the replicates (columns
// beyond parameters.size() are ignored), and the bootstrap counts of the result, with a note if
// resamples failed.
void attach_intervals(CalibrationResult& result, const BootstrapReplicates& replicates);

}  // namespace memcarlo
