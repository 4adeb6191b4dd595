// Maximum-likelihood fits of the plain distributions used to describe device populations
// (normal, lognormal, two-parameter Weibull), each reported with its log-likelihood, AIC and
// Kolmogorov–Smirnov and Anderson–Darling goodness of fit, and a choice among families by AIC.
#pragma once

#include <cstddef>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "calibration/goodness_of_fit.hpp"

namespace memcarlo {

// The families, each fitted as the corresponding scipy.stats fit does:
//   normal     scipy.stats.norm.fit: mean and the 1/n ("MLE") standard deviation;
//   lognormal  scipy.stats.lognorm.fit(floc=0): "mu" = log(scale), "sigma" = s, i.e. the mean and
//              1/n standard deviation of log x (the parameters of LogNormalDistribution);
//   weibull    scipy.stats.weibull_min.fit(floc=0): "shape" = c, "scale";
//              F(x) = 1 - exp(-(x/scale)^shape).
// The location of lognormal and Weibull is fixed at zero, so every family has k = 2 parameters.
enum class DistributionFamily { normal, lognormal, weibull };

std::string_view to_string(DistributionFamily family);

struct FitParameter {
  std::string name;
  double value = std::numeric_limits<double>::quiet_NaN();
  // sqrt of the diagonal of the inverse observed Fisher information at the maximum (the
  // asymptotic standard error), in the unit of the parameter.
  double standard_error = std::numeric_limits<double>::quiet_NaN();
};

// One fitted distribution. Valid as returned by the fit functions; the goodness-of-fit results
// compare the sample with the fitted distribution itself, so their p-values are conservative
// (see goodness_of_fit.hpp).
struct DistributionFit {
  DistributionFamily family = DistributionFamily::normal;
  std::vector<FitParameter> parameters;                              // in the order listed above
  double log_likelihood = std::numeric_limits<double>::quiet_NaN();  // ln L at the maximum
  double aic = std::numeric_limits<double>::quiet_NaN();             // 2k - 2 ln L
  std::size_t n = 0;                                                 // sample size
  GofResult ks;  // one-sample Kolmogorov–Smirnov against the fitted CDF
  GofResult ad;  // Anderson–Darling against the fitted CDF

  // The value of the parameter called `name`; InputError naming the valid names otherwise.
  double parameter(std::string_view name) const;
  // The fitted distribution: P(X <= x), P(X > x) and ln pdf(x) (Boost.Math).
  double cdf(double x) const;
  double sf(double x) const;
  double log_pdf(double x) const;
};

// Maximum-likelihood fits. Every value must be finite, and for lognormal and Weibull positive
// (InputError names the first offending index and value); the sample needs at least two
// distinct values, without which the maximum does not exist.
DistributionFit fit_normal(std::span<const double> sample);
DistributionFit fit_lognormal(std::span<const double> sample);
// The shape solves the profile-likelihood equation with Boost's TOMS 748 root finder inside a
// bracket that provably contains the (unique) root; the scale follows in closed form.
DistributionFit fit_weibull(std::span<const double> sample);
DistributionFit fit_distribution(DistributionFamily family, std::span<const double> sample);

// Fits every candidate family and returns the fits ordered by AIC, best (lowest) first; equal
// AICs keep the order of `candidates`. Every candidate must be applicable to the sample (no
// silently skipped family): a lognormal or Weibull candidate with a value <= 0 throws.
std::vector<DistributionFit> rank_by_aic(std::span<const double> sample,
                                         std::span<const DistributionFamily> candidates);
// The first of rank_by_aic.
DistributionFit best_fit_by_aic(std::span<const double> sample,
                                std::span<const DistributionFamily> candidates);

}  // namespace memcarlo
