// Tests of calibration/distribution_fit: maximum-likelihood fits against scipy 1.10 on the
// seeded samples of tests/reference/distribution_fit_reference.py, the goodness of fit each fit
// reports, model choice by AIC, standard errors against closed forms and the expected Fisher
// information, parameter recovery on data from memcarlo's own samplers (fixed seeds, stated
// tolerances), and validation of input.
#include <doctest/doctest.h>

#include <algorithm>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/weibull.hpp>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <numbers>
#include <sstream>
#include <string>
#include <vector>

#include "calibration/distribution_fit.hpp"
#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "tests/calibration/fit_reference.hpp"

using namespace memcarlo;
using namespace memcarlo::test;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();


double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

const std::vector<std::string> kSamples = {"normal", "lognormal", "weibull", "ties"};
constexpr DistributionFamily kAll[] = {DistributionFamily::normal, DistributionFamily::lognormal,
                                       DistributionFamily::weibull};

std::vector<double> weibull_sample(double shape, double scale, std::size_t n, std::uint64_t seed) {
  // Inversion: scale * E^(1/shape) with E ~ Exp(1).
  RngStream rng(seed, 0, stream_id("weibull_sample"));
  std::vector<double> x(n);
  for (double& v : x) v = scale * std::pow(ExponentialDistribution(1.0)(rng), 1.0 / shape);
  return x;
}

}  // namespace

TEST_CASE("normal and lognormal fits equal scipy.stats norm.fit and lognorm.fit(floc=0)") {
  // scipy fits both in closed form, so the agreement is to rounding: parameters to 1e-12,
  // log-likelihood and AIC to 1e-10 relative (the issue asks for 1e-6).
  const Reference& ref = reference();
  for (const auto& sample : kSamples) {
    CAPTURE(sample);
    const auto& x = ref.samples.at(sample);
    const DistributionFit normal = fit_normal(x);
    CHECK(normal.family == DistributionFamily::normal);
    CHECK(normal.n == x.size());
    CHECK(rel(normal.parameter("mean"), ref.at(sample, "norm.loc")) < 1e-12);
    CHECK(rel(normal.parameter("sigma"), ref.at(sample, "norm.scale")) < 1e-12);
    CHECK(rel(normal.log_likelihood, ref.at(sample, "norm.loglik")) < 1e-10);
    CHECK(rel(normal.aic, ref.at(sample, "norm.aic")) < 1e-10);

    const DistributionFit lognormal = fit_lognormal(x);
    CHECK(rel(lognormal.parameter("sigma"), ref.at(sample, "lognorm.s")) < 1e-12);
    CHECK(rel(std::exp(lognormal.parameter("mu")), ref.at(sample, "lognorm.scale")) < 1e-12);
    CHECK(rel(lognormal.log_likelihood, ref.at(sample, "lognorm.loglik")) < 1e-10);
    CHECK(rel(lognormal.aic, ref.at(sample, "lognorm.aic")) < 1e-10);
  }
}

TEST_CASE("Weibull fit equals scipy.stats.weibull_min.fit(floc=0)") {
  // Against scipy's fit with a tight Nelder-Mead (xtol = ftol = 1e-14): parameters to 1e-7
  // relative (Nelder-Mead itself stops ~1e-9 from the maximum; the issue asks for 1e-6),
  // log-likelihood to 1e-12. Against the root of the profile equation found by
  // scipy.optimize.brentq: parameters to 1e-10. Against scipy's default fit (tolerance 1e-4):
  // our log-likelihood is at least as high and the parameters agree to 3e-5.
  const Reference& ref = reference();
  for (const auto& sample : kSamples) {
    CAPTURE(sample);
    const DistributionFit fit = fit_weibull(ref.samples.at(sample));
    const double shape = fit.parameter("shape"), scale = fit.parameter("scale");
    CHECK(rel(shape, ref.at(sample, "weibull_min.c")) < 1e-7);
    CHECK(rel(scale, ref.at(sample, "weibull_min.scale")) < 1e-7);
    CHECK(rel(fit.log_likelihood, ref.at(sample, "weibull_min.loglik")) < 1e-12);
    CHECK(rel(fit.aic, ref.at(sample, "weibull_min.aic")) < 1e-12);
    CHECK(rel(shape, ref.at(sample, "weibull_min_profile.c")) < 1e-10);
    CHECK(rel(scale, ref.at(sample, "weibull_min_profile.scale")) < 1e-10);
    const double default_loglik = ref.at(sample, "weibull_min_default.loglik");
    CHECK(fit.log_likelihood >= default_loglik - 1e-13 * std::fabs(default_loglik));
    CHECK(rel(shape, ref.at(sample, "weibull_min_default.c")) < 3e-5);
    CHECK(rel(scale, ref.at(sample, "weibull_min_default.scale")) < 3e-5);
  }
}

TEST_CASE("every fit reports KS and AD against the fitted distribution, as scipy computes them") {
  // The fits' own KS D and AD A^2 against scipy's on scipy's parameters: 1e-10 (closed-form
  // fits) and 1e-6 (Weibull, whose parameters differ from scipy's by ~1e-9); the KS p-value
  // against scipy's exact Durbin algorithm to 1e-6 relative.
  const Reference& ref = reference();
  for (const auto& sample : kSamples) {
    for (const auto& [family, name] : std::vector<std::pair<DistributionFamily, std::string>>{
             {DistributionFamily::normal, "norm"},
             {DistributionFamily::lognormal, "lognorm"},
             {DistributionFamily::weibull, "weibull_min"}}) {
      CAPTURE(sample);
      CAPTURE(name);
      const DistributionFit fit = fit_distribution(family, ref.samples.at(sample));
      const double tol = family == DistributionFamily::weibull ? 1e-6 : 1e-10;
      CHECK(std::fabs(fit.ks.statistic - ref.at(sample, name + ".ks_d")) < tol);
      CHECK(rel(fit.ks.p_value, ref.at(sample, name + ".ks_p_durbin")) < 1e-6);
      CHECK(rel(fit.ad.statistic, ref.at(sample, name + ".ad")) < tol);
      CHECK(fit.ks.n == fit.n);
      CHECK(fit.ad.p_value >= 0.0);
      CHECK(fit.ad.p_value <= 1.0);
    }
  }
}

TEST_CASE("AIC chooses the family scipy's AIC chooses, and the generating family") {
  const Reference& ref = reference();
  // The fixture: the family with the lowest scipy AIC (0 normal, 1 lognormal, 2 Weibull).
  for (const auto& sample : kSamples) {
    CAPTURE(sample);
    const auto ranked = rank_by_aic(ref.samples.at(sample), kAll);
    REQUIRE(ranked.size() == 3);
    CHECK(static_cast<int>(ranked.front().family) == static_cast<int>(ref.at(sample, "best_aic")));
    CHECK(ranked[0].aic <= ranked[1].aic);
    CHECK(ranked[1].aic <= ranked[2].aic);
    for (const auto& fit : ranked)
      CHECK(fit.aic == doctest::Approx(4.0 - 2.0 * fit.log_likelihood));
  }
  // memcarlo's samplers, 10 seeds, n = 1000: normal N(1, 0.2) against lognormal, lognormal
  // (0, 0.5) and Weibull (1.5, 2) among all three. In 100 scipy replicates of each none was
  // misclassified (normal data against all three families picks Weibull 1% of the time, which
  // is why that pair is not asked for).
  const DistributionFamily normal_or_lognormal[] = {DistributionFamily::lognormal,
                                                    DistributionFamily::normal};
  for (std::uint64_t seed = 1; seed <= 10; ++seed) {
    CAPTURE(seed);
    std::vector<double> x(1000);
    RngStream rng(seed, 0, stream_id("aic_choice"));
    for (double& v : x) v = NormalDistribution(1.0, 0.2)(rng);
    CHECK(best_fit_by_aic(x, normal_or_lognormal).family == DistributionFamily::normal);
    for (double& v : x) v = LogNormalDistribution(0.0, 0.5)(rng);
    CHECK(best_fit_by_aic(x, kAll).family == DistributionFamily::lognormal);
    x = weibull_sample(1.5, 2.0, 1000, seed);
    CHECK(best_fit_by_aic(x, kAll).family == DistributionFamily::weibull);
  }
}

TEST_CASE("standard errors: closed forms and the expected Fisher information") {
  const Reference& ref = reference();
  const auto& x = ref.samples.at("lognormal");
  const double n = static_cast<double>(x.size());
  // Normal and lognormal: sigma/sqrt(n) for the location, sigma/sqrt(2n) for sigma.
  const DistributionFit normal = fit_normal(x);
  CHECK(normal.parameters[0].standard_error ==
        doctest::Approx(normal.parameter("sigma") / std::sqrt(n)).epsilon(1e-14));
  CHECK(normal.parameters[1].standard_error ==
        doctest::Approx(normal.parameter("sigma") / std::sqrt(2.0 * n)).epsilon(1e-14));
  const DistributionFit lognormal = fit_lognormal(x);
  CHECK(lognormal.parameters[0].name == "mu");
  CHECK(lognormal.parameters[1].standard_error ==
        doctest::Approx(lognormal.parameter("sigma") / std::sqrt(2.0 * n)).epsilon(1e-14));

  // Weibull, n = 20000: the observed information is within a few percent of the expected one,
  // Var(shape) = 6 shape^2 / (pi^2 n), Var(scale) = scale^2 (1 + 6 (1 - gamma)^2 / pi^2) /
  // (shape^2 n) (e.g. Cohen, Technometrics 7, 579 (1965)); the estimates recover the truth
  // within 4 standard errors.
  const double shape = 1.8, scale = 2.5, m = 20000;
  const DistributionFit weibull = fit_weibull(weibull_sample(shape, scale, 20000, 7));
  using std::numbers::pi, std::numbers::egamma;
  const double se_shape = std::sqrt(6.0 / (pi * pi * m)) * shape;
  const double se_scale =
      scale / shape * std::sqrt((1.0 + 6.0 * (1.0 - egamma) * (1.0 - egamma) / (pi * pi)) / m);
  CHECK(weibull.parameters[0].standard_error == doctest::Approx(se_shape).epsilon(0.03));
  CHECK(weibull.parameters[1].standard_error == doctest::Approx(se_scale).epsilon(0.03));
  CHECK(std::fabs(weibull.parameter("shape") - shape) < 4.0 * se_shape);
  CHECK(std::fabs(weibull.parameter("scale") - scale) < 4.0 * se_scale);

  // Coverage: over 400 Weibull samples of 200, the shape lies within 1.96 standard errors of
  // the truth in 95% of them, within 4 binomial sigma (0.044).
  int covered = 0;
  for (std::uint64_t r = 0; r < 400; ++r) {
    const DistributionFit f = fit_weibull(weibull_sample(shape, scale, 200, 1000 + r));
    if (std::fabs(f.parameter("shape") - shape) < 1.96 * f.parameters[0].standard_error) ++covered;
  }
  CHECK(std::fabs(covered / 400.0 - 0.95) < 0.044);
}

TEST_CASE("the fitted distribution: CDF, survival function and log density") {
  for (const DistributionFamily family : kAll) {
    CAPTURE(to_string(family));
    DistributionFit fit;
    fit.family = family;
    fit.parameters = {{"a", 1.3, kNaN}, {"b", 0.7, kNaN}};
    for (double x : {0.05, 0.5, 1.0, 2.0, 4.0}) {
      CAPTURE(x);
      double pdf = 0;
      if (family == DistributionFamily::normal) {
        pdf = boost::math::pdf(boost::math::normal_distribution<>(1.3, 0.7), x);
      } else if (family == DistributionFamily::lognormal) {
        pdf = boost::math::pdf(boost::math::lognormal_distribution<>(1.3, 0.7), x);
      } else {
        pdf = boost::math::pdf(boost::math::weibull_distribution<>(1.3, 0.7), x);
      }
      CHECK(fit.log_pdf(x) == doctest::Approx(std::log(pdf)).epsilon(1e-13));
      CHECK(fit.cdf(x) + fit.sf(x) == doctest::Approx(1.0).epsilon(1e-15));
    }
    if (family != DistributionFamily::normal) {
      CHECK(fit.cdf(-1.0) == 0.0);
      CHECK(fit.sf(0.0) == 1.0);
      CHECK(fit.log_pdf(-1.0) == -kInf);
    }
  }
}

TEST_CASE("fits reject invalid samples with InputError naming index and value") {
  const std::vector<double> empty;
  const std::vector<double> with_nan = {1.0, 2.0, kNaN, 3.0};
  const std::vector<double> with_inf = {1.0, -kInf};
  const std::vector<double> with_zero = {1.0, 0.0, 2.0};
  const std::vector<double> with_negative = {1.0, 2.0, 3.0, -0.5};
  const std::vector<double> constant = {2.5, 2.5, 2.5};
  const std::vector<double> single = {2.5};
  for (const DistributionFamily family : kAll) {
    CAPTURE(to_string(family));
    CHECK_THROWS_WITH_AS(fit_distribution(family, empty), doctest::Contains("empty"), InputError);
    CHECK_THROWS_WITH_AS(fit_distribution(family, with_nan),
                         doctest::Contains("index 2 is not finite: nan"), InputError);
    CHECK_THROWS_WITH_AS(fit_distribution(family, with_inf),
                         doctest::Contains("index 1 is not finite: -inf"), InputError);
    CHECK_THROWS_WITH_AS(fit_distribution(family, constant),
                         doctest::Contains("two distinct values"), InputError);
    CHECK_THROWS_AS(fit_distribution(family, single), InputError);
  }
  CHECK_NOTHROW(fit_normal(with_negative));
  CHECK_THROWS_WITH_AS(fit_lognormal(with_zero), doctest::Contains("index 1 is not positive: 0"),
                       InputError);
  CHECK_THROWS_WITH_AS(fit_weibull(with_negative),
                       doctest::Contains("index 3 is not positive: -0.5"), InputError);
  // No candidate, and a candidate that does not apply, are errors rather than silent skips.
  CHECK_THROWS_AS(rank_by_aic(with_negative, std::span<const DistributionFamily>{}), InputError);
  CHECK_THROWS_AS(best_fit_by_aic(with_negative, kAll), InputError);
  // Unknown parameter names list the valid ones.
  const DistributionFit weibull = fit_weibull(std::vector<double>{1.0, 2.0, 3.5});
  CHECK_THROWS_WITH_AS(weibull.parameter("c"), doctest::Contains("its parameters are shape, scale"),
                       InputError);
}
