#include "calibration/bootstrap.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace memcarlo {

std::vector<std::uint32_t> resample_indices(std::size_t n, RngStream& rng) {
  MC_VALIDATE(n > 0 && n <= 0xffffffffu, "cannot resample {} units", n);
  std::vector<std::uint32_t> idx(n);
  for (auto& i : idx)
    i = static_cast<std::uint32_t>((static_cast<unsigned __int128>(rng.next_u64()) * n) >> 64);
  return idx;
}

std::vector<double> BootstrapReplicates::column(std::size_t j) const {
  std::vector<double> c;
  c.reserve(static_cast<std::size_t>(resamples));
  for (std::int64_t b = 0; b < resamples; ++b) {
    const double v = values[static_cast<std::size_t>(b) * n_values + j];
    if (std::isfinite(v)) c.push_back(v);
  }
  return c;
}

PercentileInterval percentile_interval(std::vector<double> values, double confidence) {
  MC_VALIDATE(confidence > 0 && confidence < 1, "confidence level {} must be in (0, 1)", confidence);
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  PercentileInterval r;
  if (static_cast<std::int64_t>(values.size()) < kMinBootstrap) return r;
  std::sort(values.begin(), values.end());
  // The (B + 1) q-th order statistic (Davison & Hinkley, Bootstrap Methods and their
  // Application (1997), eq. 5.8), interpolated between neighbours: with B = 200 and q = 0.025
  // the 5.025th smallest of 200, slightly wider than the type-7 sample quantile, whose ends sit
  // inside (1 - c)/2 and under-cover at the modest B used here.
  const auto quantile = [&](double q) {
    const double h = std::clamp(q * static_cast<double>(values.size() + 1) - 1.0, 0.0,
                                static_cast<double>(values.size() - 1));
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
  };
  r.low = quantile((1 - confidence) / 2);
  r.high = quantile((1 + confidence) / 2);
  double mean = 0;
  for (double v : values) mean += v;
  mean /= static_cast<double>(values.size());
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  r.standard_deviation = std::sqrt(ss / static_cast<double>(values.size() - 1));
  return r;
}

void attach_intervals(CalibrationResult& result, const BootstrapReplicates& replicates) {
  result.bootstrap_resamples = replicates.resamples;
  result.bootstrap_failures = replicates.failures;
  const std::size_t n = std::min(result.parameters.size(), replicates.n_values);
  for (std::size_t j = 0; j < n; ++j) {
    auto& p = result.parameters[j];
    if (!p.identified) continue;
    const auto ci = percentile_interval(replicates.column(j), result.confidence);
    p.ci_low = ci.low;
    p.ci_high = ci.high;
    p.standard_error = ci.standard_deviation;
  }
  if (replicates.failures > 0)
    result.notes.push_back(fmt::format(
        "{} of {} bootstrap resamples could not be fitted and are left out of the intervals "
        "(first: {})", replicates.failures, replicates.resamples, replicates.first_failure));
}

}  // namespace memcarlo
