#include "calibration/distribution_fit.hpp"

#include <algorithm>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/weibull.hpp>
#include <boost/math/tools/toms748_solve.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numbers>

#include "core/error.hpp"

namespace memcarlo {

namespace {

constexpr double kHalfLog2Pi = 0.91893853320467274178;  // ln(2 pi) / 2

enum class Support { real_line, positive };

// Checks the sample for a fit: not empty, every value finite (and positive for `positive`),
// and not all equal.
void validate_sample(std::span<const double> sample, DistributionFamily family, Support support) {
  const std::string_view what = to_string(family);
  MC_VALIDATE(!sample.empty(), "{} fit: the sample is empty", what);
  for (std::size_t i = 0; i < sample.size(); ++i) {
    MC_VALIDATE(std::isfinite(sample[i]), "{} fit: sample value at index {} is not finite: {}",
                what, i, sample[i]);
    MC_VALIDATE(support == Support::real_line || sample[i] > 0.0,
                "{} fit: sample value at index {} is not positive: {}", what, i, sample[i]);
  }
  const auto [lo, hi] = std::minmax_element(sample.begin(), sample.end());
  MC_VALIDATE(*lo != *hi, "{} fit: needs at least two distinct values, but all {} values equal {}",
              what, sample.size(), *lo);
}

double mean_of(std::span<const double> v) {
  double sum = 0.0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

// The 1/n standard deviation about `mean` (two passes: no cancellation).
double mle_stddev(std::span<const double> v, double mean) {
  double ss = 0.0;
  for (double x : v) ss += (x - mean) * (x - mean);
  return std::sqrt(ss / static_cast<double>(v.size()));
}

// Log-likelihood, AIC and the two goodness-of-fit tests of a fit whose family and parameters
// are set.
DistributionFit& complete(DistributionFit& fit, std::span<const double> sample) {
  fit.n = sample.size();
  double log_likelihood = 0.0;
  for (double x : sample) log_likelihood += fit.log_pdf(x);
  fit.log_likelihood = log_likelihood;
  fit.aic = 2.0 * static_cast<double>(fit.parameters.size()) - 2.0 * log_likelihood;
  fit.ks = kolmogorov_smirnov(sample, [&fit](double x) { return fit.cdf(x); });
  fit.ad = anderson_darling(
      sample, [&fit](double x) { return fit.cdf(x); }, [&fit](double x) { return fit.sf(x); });
  return fit;
}

}  // namespace

std::string_view to_string(DistributionFamily family) {
  switch (family) {
    case DistributionFamily::normal:
      return "normal";
    case DistributionFamily::lognormal:
      return "lognormal";
    case DistributionFamily::weibull:
      return "Weibull";
  }
  return "unknown";
}

double DistributionFit::parameter(std::string_view name) const {
  std::string names;
  for (const FitParameter& p : parameters) {
    if (p.name == name) return p.value;
    names += (names.empty() ? "" : ", ") + p.name;
  }
  throw InputError(fmt::format("{} fit has no parameter '{}'; its parameters are {}",
                               to_string(family), name, names));
}

double DistributionFit::cdf(double x) const {
  if (std::isnan(x)) return x;
  const double a = parameters.at(0).value, b = parameters.at(1).value;
  switch (family) {
    case DistributionFamily::normal:
      return boost::math::cdf(boost::math::normal_distribution<double>(a, b), x);
    case DistributionFamily::lognormal:
      if (x <= 0.0) return 0.0;
      return boost::math::cdf(boost::math::lognormal_distribution<double>(a, b), x);
    case DistributionFamily::weibull:
      if (x <= 0.0) return 0.0;
      return boost::math::cdf(boost::math::weibull_distribution<double>(a, b), x);
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double DistributionFit::sf(double x) const {
  if (std::isnan(x)) return x;
  using boost::math::complement;
  const double a = parameters.at(0).value, b = parameters.at(1).value;
  switch (family) {
    case DistributionFamily::normal:
      return boost::math::cdf(complement(boost::math::normal_distribution<double>(a, b), x));
    case DistributionFamily::lognormal:
      if (x <= 0.0) return 1.0;
      return boost::math::cdf(complement(boost::math::lognormal_distribution<double>(a, b), x));
    case DistributionFamily::weibull:
      if (x <= 0.0) return 1.0;
      return boost::math::cdf(complement(boost::math::weibull_distribution<double>(a, b), x));
  }
  return std::numeric_limits<double>::quiet_NaN();
}

// Closed forms rather than log(pdf): Boost 1.74 has no logpdf, and pdf underflows in the tails.
double DistributionFit::log_pdf(double x) const {
  if (std::isnan(x)) return x;
  const double a = parameters.at(0).value, b = parameters.at(1).value;
  constexpr double kInf = std::numeric_limits<double>::infinity();
  switch (family) {
    case DistributionFamily::normal: {
      const double z = (x - a) / b;
      return -0.5 * z * z - std::log(b) - kHalfLog2Pi;
    }
    case DistributionFamily::lognormal: {
      if (x <= 0.0) return -kInf;
      const double z = (std::log(x) - a) / b;
      return -0.5 * z * z - std::log(b) - kHalfLog2Pi - std::log(x);
    }
    case DistributionFamily::weibull: {
      if (x < 0.0) return -kInf;
      if (x == 0.0) return a < 1.0 ? kInf : (a == 1.0 ? -std::log(b) : -kInf);
      const double l = std::log(x / b);
      return std::log(a / b) + (a - 1.0) * l - std::exp(a * l);
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

DistributionFit fit_normal(std::span<const double> sample) {
  validate_sample(sample, DistributionFamily::normal, Support::real_line);
  const double n = static_cast<double>(sample.size());
  const double mean = mean_of(sample);
  const double sigma = mle_stddev(sample, mean);
  // Observed information at the maximum: diag(n / sigma^2, 2n / sigma^2).
  DistributionFit fit;
  fit.family = DistributionFamily::normal;
  fit.parameters = {{"mean", mean, sigma / std::sqrt(n)},
                    {"sigma", sigma, sigma / std::sqrt(2.0 * n)}};
  return complete(fit, sample);
}

DistributionFit fit_lognormal(std::span<const double> sample) {
  validate_sample(sample, DistributionFamily::lognormal, Support::positive);
  const double n = static_cast<double>(sample.size());
  std::vector<double> log_x(sample.size());
  std::transform(sample.begin(), sample.end(), log_x.begin(), [](double x) { return std::log(x); });
  const double mu = mean_of(log_x);
  const double sigma = mle_stddev(log_x, mu);
  // Distinct x can have equal logarithms only below the resolution of a double.
  MC_VALIDATE(sigma > 0.0, "lognormal fit: the logarithms of the {} values are all equal",
              sample.size());
  DistributionFit fit;
  fit.family = DistributionFamily::lognormal;
  fit.parameters = {{"mu", mu, sigma / std::sqrt(n)}, {"sigma", sigma, sigma / std::sqrt(2.0 * n)}};
  return complete(fit, sample);
}

DistributionFit fit_weibull(std::span<const double> sample) {
  validate_sample(sample, DistributionFamily::weibull, Support::positive);
  const std::size_t count = sample.size();
  const double n = static_cast<double>(count);
  std::vector<double> log_x(count);
  std::transform(sample.begin(), sample.end(), log_x.begin(), [](double x) { return std::log(x); });
  const double mean_log = mean_of(log_x);
  const double max_log = *std::max_element(log_x.begin(), log_x.end());
  const double z_max = max_log - mean_log;  // > 0: the values are not all equal
  MC_VALIDATE(z_max > 0.0, "Weibull fit: the logarithms of the {} values are all equal", count);

  // Setting d lnL / d scale = 0 gives scale^c = mean(x^c); with that, d lnL / d c = 0 becomes
  //   g(c) = sum w_i z_i / sum w_i - 1/c = 0,  z_i = ln x_i - mean(ln x),  w_i ∝ x_i^c.
  // The weighted mean of z rises with c (its derivative is the weighted variance), and so does
  // -1/c: g is increasing and has at most one root. The bracket, with z_max = max z_i:
  //  * the weighted mean is below z_max, so g(c) < z_max - 1/c and g(1/z_max) < 0;
  //  * z_max - weighted mean = sum w_i (z_max - z_i) / sum w_i <= sum_i t_i exp(-c t_i) with
  //    t_i = z_max - z_i, since sum w_i >= 1 when w_i = exp(-c t_i); each nonzero term is at
  //    most 1/(e c) and at most n - 1 are nonzero, so g(c) >= z_max - (1 + (n-1)/e)/c and
  //    g((1 + (n-1)/e) / z_max) >= 0.
  // Weights are taken relative to the largest value, so nothing overflows for any c.
  const auto profile = [&](double c) {
    double sum_w = 0.0, sum_wz = 0.0;
    for (double l : log_x) {
      const double z = l - mean_log;
      const double w = std::exp(c * (z - z_max));
      sum_w += w;
      sum_wz += w * z;
    }
    return sum_wz / sum_w - 1.0 / c;
  };
  const double lo = 1.0 / z_max;
  const double hi = (1.0 + (n - 1.0) / std::numbers::e) / z_max;
  const double g_lo = profile(lo), g_hi = profile(hi);
  double shape;
  if (g_lo >= 0.0) {  // the root is at the bracket's end to rounding
    shape = lo;
  } else if (g_hi <= 0.0) {
    shape = hi;
  } else {
    std::uintmax_t iterations = 200;
    const auto [a, b] = boost::math::tools::toms748_solve(
        profile, lo, hi, g_lo, g_hi,
        boost::math::tools::eps_tolerance<double>(std::numeric_limits<double>::digits - 2),
        iterations);
    if (iterations >= 200) {
      throw Error(
          fmt::format("Weibull fit: the shape did not converge in 200 iterations "
                      "(bracket [{}, {}])",
                      a, b));
    }
    shape = 0.5 * (a + b);
  }
  double sum_w = 0.0;
  for (double l : log_x) sum_w += std::exp(shape * (l - max_log));
  const double scale = std::exp(max_log + std::log(sum_w / n) / shape);

  // Observed information -d^2 lnL at the maximum, with l_i = ln(x_i/scale), t_i = exp(c l_i):
  //   d2/dc2 = -n/c^2 - sum t l^2,  d2/dc dscale = (sum t - n)/scale + (c/scale) sum t l,
  //   d2/dscale2 = -(c/scale^2)(sum t - n) - (c/scale)^2 sum t.
  double st = 0.0, stl = 0.0, stll = 0.0;
  for (double lx : log_x) {
    const double l = lx - std::log(scale);
    const double t = std::exp(shape * l);
    st += t;
    stl += t * l;
    stll += t * l * l;
  }
  const double j_cc = n / (shape * shape) + stll;
  const double j_cs = -((st - n) / scale + shape / scale * stl);
  const double j_ss = shape / (scale * scale) * (st - n) + (shape / scale) * (shape / scale) * st;
  const double det = j_cc * j_ss - j_cs * j_cs;

  DistributionFit fit;
  fit.family = DistributionFamily::weibull;
  fit.parameters = {{"shape", shape, std::sqrt(j_ss / det)},
                    {"scale", scale, std::sqrt(j_cc / det)}};
  return complete(fit, sample);
}

DistributionFit fit_distribution(DistributionFamily family, std::span<const double> sample) {
  switch (family) {
    case DistributionFamily::normal:
      return fit_normal(sample);
    case DistributionFamily::lognormal:
      return fit_lognormal(sample);
    case DistributionFamily::weibull:
      return fit_weibull(sample);
  }
  throw InputError(fmt::format("unknown distribution family {}", static_cast<int>(family)));
}

std::vector<DistributionFit> rank_by_aic(std::span<const double> sample,
                                         std::span<const DistributionFamily> candidates) {
  MC_VALIDATE(!candidates.empty(), "rank_by_aic: no candidate families given");
  std::vector<DistributionFit> fits;
  fits.reserve(candidates.size());
  for (DistributionFamily family : candidates) fits.push_back(fit_distribution(family, sample));
  std::stable_sort(
      fits.begin(), fits.end(),
      [](const DistributionFit& a, const DistributionFit& b) { return a.aic < b.aic; });
  return fits;
}

DistributionFit best_fit_by_aic(std::span<const double> sample,
                                std::span<const DistributionFamily> candidates) {
  return rank_by_aic(sample, candidates).front();
}

}  // namespace memcarlo
