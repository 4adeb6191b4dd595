// Tests of memcarlo's own samplers: moments against closed forms, one-sample
// Kolmogorov-Smirnov tests against Boost.Math CDFs, chi-square goodness of fit for Poisson,
// exact agreement with the textbook formulas on a twin stream, frozen draw counts, and
// validation of parameters. Seeds are fixed, so every statistical check is deterministic;
// the tolerances say how often a correct sampler would fail with a random seed.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/exponential.hpp>
#include <boost/math/distributions/gamma.hpp>
#include <boost/math/distributions/lognormal.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/poisson.hpp>
#include <boost/math/distributions/uniform.hpp>
#include <Random123/philox.h>

#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/noise.hpp"
#include "core/rng.hpp"

using namespace memcarlo;

namespace {

constexpr std::size_t kSamples = 1000000;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Closed-form mean, variance and fourth central moment of a distribution.
struct Moments {
  double mean, var, mu4;
};

// Sample mean and unbiased variance within 4 standard errors of the closed form. The standard
// error of the variance is sqrt((mu4 - var^2) / n) to leading order. Two-sided P(|z| > 4) is
// 6e-5 per check.
void check_moments(const std::vector<double>& x, const Moments& m) {
  const double n = static_cast<double>(x.size());
  double mean = 0;
  for (double v : x) mean += v;
  mean /= n;
  double ss = 0;
  for (double v : x) ss += (v - mean) * (v - mean);
  const double var = ss / (n - 1);
  const double se_mean = std::sqrt(m.var / n);
  const double se_var = std::sqrt((m.mu4 - m.var * m.var) / n);
  CAPTURE(mean);
  CAPTURE(m.mean);
  CAPTURE(var);
  CAPTURE(m.var);
  CHECK(std::fabs(mean - m.mean) < 4 * se_mean);
  CHECK(std::fabs(var - m.var) < 4 * se_var);
}

// Kolmogorov's limiting distribution: P(sqrt(n) D > lambda) = 2 sum (-1)^(k-1) exp(-2 k^2 l^2).
double kolmogorov_survival(double lambda) {
  double s = 0;
  for (int k = 1; k <= 100; ++k)
    s += (k % 2 ? 2.0 : -2.0) * std::exp(-2.0 * k * k * lambda * lambda);
  return s;
}

// Critical value of the one-sample KS statistic D_n at significance alpha, with Stephens'
// finite-n correction (Stephens, JRSS B 32, 115 (1970)): reject if
// D (sqrt(n) + 0.12 + 0.11 / sqrt(n)) > lambda_alpha. Boost 1.74 has no
// kolmogorov_smirnov_distribution, so lambda_alpha is solved from the series by bisection.
double ks_critical(std::size_t n, double alpha = 1e-3) {
  double lo = 0.5, hi = 3.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (kolmogorov_survival(mid) > alpha ? lo : hi) = mid;
  }
  const double rn = std::sqrt(static_cast<double>(n));
  return lo / (rn + 0.12 + 0.11 / rn);
}

double ks_statistic(std::vector<double> x, const std::function<double(double)>& cdf) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double d = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double f = cdf(x[i]);
    d = std::max({d, (static_cast<double>(i) + 1) / n - f, f - static_cast<double>(i) / n});
  }
  return d;
}

template <class Dist>
std::vector<double> sample(const Dist& dist, RngStream rng, std::size_t n = kSamples) {
  std::vector<double> x(n);
  for (auto& v : x) v = static_cast<double>(dist(rng));
  return x;
}

template <class Dist>
std::uint64_t draws_for(const Dist& dist, std::size_t n, std::uint64_t entity = 0) {
  RngStream rng(77, entity, stream_id("draw_count"));
  for (std::size_t i = 0; i < n; ++i) (void)dist(rng);
  return rng.draws();
}

// Chi-square goodness of fit of Poisson samples against the Boost.Math pmf, bins merged from
// the left until each expects >= 20 counts, the upper tail folded into the last bin.
struct ChiSquare {
  double statistic, critical;
  std::size_t bins;
};

ChiSquare poisson_chi_square(const std::vector<double>& x, double mean) {
  const boost::math::poisson_distribution<> pois(mean);
  std::vector<double> counts;
  for (double v : x) {
    const auto k = static_cast<std::size_t>(v);
    if (k >= counts.size()) counts.resize(k + 1, 0.0);
    counts[k] += 1;
  }
  const double n = static_cast<double>(x.size());
  auto observed_above = [&](std::size_t k) {
    double s = 0;
    for (std::size_t j = k + 1; j < counts.size(); ++j) s += counts[j];
    return s;
  };
  double chi2 = 0, e = 0, o = 0;
  std::size_t bins = 0;
  for (std::size_t k = 0;; ++k) {
    e += n * boost::math::pdf(pois, static_cast<double>(k));
    o += k < counts.size() ? counts[k] : 0.0;
    const double tail = n * boost::math::cdf(boost::math::complement(pois, static_cast<double>(k)));
    if (tail < 20) {
      e += tail;
      o += observed_above(k);
      chi2 += (o - e) * (o - e) / e;
      ++bins;
      break;
    }
    if (e >= 20) {
      chi2 += (o - e) * (o - e) / e;
      ++bins;
      e = o = 0;
    }
  }
  const double dof = static_cast<double>(bins - 1);
  const double critical =
      boost::math::quantile(boost::math::complement(boost::math::chi_squared(dof), 1e-4));
  return {chi2, critical, bins};
}

}  // namespace

TEST_CASE("the KS critical value matches the asymptotic 1.95 / sqrt(n) at alpha = 1e-3") {
  // lambda_alpha = sqrt(-ln(alpha / 2) / 2) to within e^-8 lambda^2 of the series.
  CHECK(ks_critical(1000000) * 1000.0 == doctest::Approx(std::sqrt(-std::log(5e-4) / 2)).epsilon(1e-3));
  CHECK(ks_critical(1000000) * 1000.0 == doctest::Approx(1.95).epsilon(2e-3));
}

TEST_CASE("uniform distribution: moments and KS") {
  const double lo = -2.0, hi = 3.0, w = hi - lo;
  const auto x = sample(UniformDistribution(lo, hi), RngStream(1, 0, stream_id("uniform")));
  check_moments(x, {0.5 * (lo + hi), w * w / 12, w * w * w * w / 80});
  const boost::math::uniform_distribution<> ref(lo, hi);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(ref, v); }) <
        ks_critical(x.size()));
  CHECK(*std::min_element(x.begin(), x.end()) >= lo);
  CHECK(*std::max_element(x.begin(), x.end()) < hi);
}

TEST_CASE("normal distribution: moments and KS, and the KS test has power") {
  const double mu = 1.5, sigma = 2.0;
  const auto x = sample(NormalDistribution(mu, sigma), RngStream(2, 0, stream_id("normal")));
  check_moments(x, {mu, sigma * sigma, 3 * std::pow(sigma, 4)});
  const double crit = ks_critical(x.size());
  const boost::math::normal_distribution<> ref(mu, sigma);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(ref, v); }) < crit);
  // A 5% error in the width, or a shift of 0.02 sigma, is detected.
  const boost::math::normal_distribution<> wide(mu, 1.05 * sigma), shifted(mu + 0.02 * sigma, sigma);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(wide, v); }) > crit);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(shifted, v); }) > crit);
  // Default is standard normal.
  const auto z = sample(NormalDistribution(), RngStream(2, 1, stream_id("normal")), 200000);
  check_moments(z, {0.0, 1.0, 3.0});
}

TEST_CASE("lognormal distribution: moments and KS") {
  const double mu = -1.0, sigma = 0.5, s2 = sigma * sigma;
  const auto x = sample(LogNormalDistribution(mu, sigma), RngStream(3, 0, stream_id("lognormal")));
  const double var = (std::exp(s2) - 1) * std::exp(2 * mu + s2);
  const double kurtosis = std::exp(4 * s2) + 2 * std::exp(3 * s2) + 3 * std::exp(2 * s2) - 3;
  check_moments(x, {std::exp(mu + s2 / 2), var, kurtosis * var * var});
  const boost::math::lognormal_distribution<> ref(mu, sigma);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(ref, v); }) <
        ks_critical(x.size()));
  CHECK(*std::min_element(x.begin(), x.end()) > 0.0);
}

TEST_CASE("exponential distribution: moments and KS") {
  const double rate = 2.5;
  const auto x = sample(ExponentialDistribution(rate), RngStream(4, 0, stream_id("exponential")));
  check_moments(x, {1 / rate, 1 / (rate * rate), 9 / std::pow(rate, 4)});
  const boost::math::exponential_distribution<> ref(rate);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(ref, v); }) <
        ks_critical(x.size()));
  CHECK(*std::min_element(x.begin(), x.end()) > 0.0);
}

TEST_CASE("gamma distribution: moments and KS for shapes 0.5, 1 and 3.7") {
  const double theta = 2.0;
  // The incomplete gamma function is slow, so the KS test uses the first 2e5 samples
  // (critical D = 0.0044 instead of 0.0020).
  const std::size_t n_ks = 200000;
  const double crit = ks_critical(n_ks);
  std::uint64_t entity = 0;
  for (double k : {0.5, 1.0, 3.7}) {
    CAPTURE(k);
    const auto x = sample(GammaDistribution(k, theta), RngStream(5, entity++, stream_id("gamma")));
    check_moments(x, {k * theta, k * theta * theta, 3 * k * (k + 2) * std::pow(theta, 4)});
    CHECK(*std::min_element(x.begin(), x.end()) > 0.0);
    const std::vector<double> head(x.begin(), x.begin() + n_ks);
    const boost::math::gamma_distribution<> ref(k, theta);
    CHECK(ks_statistic(head, [&](double v) { return boost::math::cdf(ref, v); }) < crit);
    // Power: a 3% error in the shape is detected.
    const boost::math::gamma_distribution<> off(1.03 * k, theta);
    CHECK(ks_statistic(head, [&](double v) { return boost::math::cdf(off, v); }) > crit);
  }
}

TEST_CASE("Poisson distribution: moments and chi-square goodness of fit") {
  std::uint64_t entity = 0;
  for (double mean : {0.3, 4.0, 9.9, 10.0, 57.0, 1e4}) {
    CAPTURE(mean);
    const auto x = sample(PoissonDistribution(mean), RngStream(6, entity++, stream_id("poisson")));
    check_moments(x, {mean, mean, mean * (1 + 3 * mean)});
    CHECK(std::all_of(x.begin(), x.end(), [](double v) { return v == std::floor(v) && v >= 0; }));
    const ChiSquare gof = poisson_chi_square(x, mean);
    CAPTURE(gof.statistic);
    CAPTURE(gof.critical);
    CAPTURE(gof.bins);
    CHECK(gof.bins >= 3);
    CHECK(gof.statistic < gof.critical);
    // Power: the same samples fail against a mean 1% (at least 0.05) off.
    const ChiSquare off = poisson_chi_square(x, mean + std::max(0.05, 0.01 * mean));
    CHECK(off.statistic > off.critical);
  }
  // Mean zero is a point mass at zero.
  RngStream rng(6, 99, stream_id("poisson"));
  const PoissonDistribution zero(0.0);
  for (int i = 0; i < 100; ++i) CHECK(zero(rng) == 0);
}

TEST_CASE("samplers apply the textbook formulas to the stream's uniforms") {
  // A twin stream with the same key yields the same uniforms; the samplers must be the
  // documented algorithms of those, independent of any standard library.
  const std::uint64_t seed = 8, entity = 3, stream = stream_id("formula");
  const double two_pi = 2 * std::numbers::pi;
  {
    RngStream rng(seed, entity, stream), twin(seed, entity, stream);
    const NormalDistribution normal(0.25, 3.0);
    for (int i = 0; i < 1000; ++i) {
      const double u1 = twin.uniform_open(), u2 = twin.uniform();
      const double want = 0.25 + 3.0 * std::sqrt(-2 * std::log(u1)) * std::cos(two_pi * u2);
      REQUIRE(normal(rng) == doctest::Approx(want).epsilon(1e-13));
    }
  }
  {
    RngStream rng(seed, entity, stream), twin(seed, entity, stream);
    const LogNormalDistribution lognormal(-0.5, 0.7);
    for (int i = 0; i < 1000; ++i) {
      const double u1 = twin.uniform_open(), u2 = twin.uniform();
      const double want =
          std::exp(-0.5 + 0.7 * std::sqrt(-2 * std::log(u1)) * std::cos(two_pi * u2));
      REQUIRE(lognormal(rng) == doctest::Approx(want).epsilon(1e-13));
    }
  }
  {
    RngStream rng(seed, entity, stream), twin(seed, entity, stream);
    const ExponentialDistribution exponential(4.0);
    const UniformDistribution uniform(10.0, 12.0);
    for (int i = 0; i < 1000; ++i) {
      REQUIRE(exponential(rng) == doctest::Approx(-std::log(twin.uniform_open()) / 4.0).epsilon(1e-15));
      REQUIRE(uniform(rng) == doctest::Approx(10.0 + 2.0 * twin.uniform()).epsilon(1e-15));
    }
  }
  // Poisson below mean 10 is inversion: the smallest k with u < F(k), F from Boost.Math.
  for (double mean : {0.3, 4.0, 9.9}) {
    CAPTURE(mean);
    RngStream rng(seed, entity, stream), twin(seed, entity, stream);
    const PoissonDistribution poisson(mean);
    const boost::math::poisson_distribution<> ref(mean);
    for (int i = 0; i < 10000; ++i) {
      const double u = twin.uniform();
      std::uint64_t k = 0;
      while (boost::math::cdf(ref, static_cast<double>(k)) <= u) ++k;
      REQUIRE(poisson(rng) == k);
    }
  }
}

TEST_CASE("frozen number of random draws per sample") {
  const std::size_t n = 10000;
  CHECK(draws_for(UniformDistribution(0, 1), n) == n);
  CHECK(draws_for(NormalDistribution(0, 1), n) == 2 * n);  // Box-Muller, no cached spare
  CHECK(draws_for(LogNormalDistribution(0, 1), n) == 2 * n);
  CHECK(draws_for(ExponentialDistribution(1), n) == n);
  CHECK(draws_for(PoissonDistribution(0.0), n) == 0);
  CHECK(draws_for(PoissonDistribution(9.9), n) == n);  // inversion: one uniform
  // Rejection samplers: PTRS takes two uniforms per attempt; Marsaglia-Tsang at least one
  // normal and one uniform per attempt, plus one uniform for shapes below one.
  const std::uint64_t ptrs = draws_for(PoissonDistribution(57.0), n);
  CHECK(ptrs % 2 == 0);
  CHECK(ptrs >= 2 * n);
  CHECK(ptrs < 3 * n);  // PTRS accepts ~ 90% of attempts at this mean
  CHECK(draws_for(GammaDistribution(3.7, 1), n) >= 3 * n);
  CHECK(draws_for(GammaDistribution(0.5, 1), n) >= 4 * n);

  // A sampler's output depends only on the stream, not on the object's history.
  const NormalDistribution normal(0, 1);
  RngStream a(1, 2, 3, 4), c(1, 2, 3, 4);
  for (int i = 0; i < 10; ++i) (void)normal(a);
  for (int i = 0; i < 20; ++i) (void)c.next_u64();
  CHECK(normal(a) == normal(c));
}

TEST_CASE("invalid parameters throw InputError") {
  CHECK_THROWS_AS((void)UniformDistribution(1.0, 0.0), InputError);
  CHECK_THROWS_AS((void)UniformDistribution(0.0, kInf), InputError);
  CHECK_THROWS_AS((void)UniformDistribution(kNaN, 1.0), InputError);
  CHECK_NOTHROW((void)UniformDistribution(1.0, 1.0));

  CHECK_THROWS_AS((void)NormalDistribution(0.0, -1.0), InputError);
  CHECK_THROWS_AS((void)NormalDistribution(kNaN, 1.0), InputError);
  CHECK_THROWS_AS((void)NormalDistribution(0.0, kInf), InputError);
  CHECK_NOTHROW((void)NormalDistribution(0.0, 0.0));

  CHECK_THROWS_AS((void)LogNormalDistribution(0.0, -0.1), InputError);
  CHECK_THROWS_AS((void)LogNormalDistribution(kInf, 1.0), InputError);

  CHECK_THROWS_AS((void)ExponentialDistribution(0.0), InputError);
  CHECK_THROWS_AS((void)ExponentialDistribution(-1.0), InputError);
  CHECK_THROWS_AS((void)ExponentialDistribution(kNaN), InputError);
  CHECK_THROWS_AS((void)ExponentialDistribution(kInf), InputError);

  CHECK_THROWS_AS((void)GammaDistribution(0.0, 1.0), InputError);
  CHECK_THROWS_AS((void)GammaDistribution(-1.0, 1.0), InputError);
  CHECK_THROWS_AS((void)GammaDistribution(1.0, 0.0), InputError);
  CHECK_THROWS_AS((void)GammaDistribution(kNaN, 1.0), InputError);
  CHECK_THROWS_AS((void)GammaDistribution(1.0, kInf), InputError);

  CHECK_THROWS_AS((void)PoissonDistribution(-1.0), InputError);
  CHECK_THROWS_AS((void)PoissonDistribution(kNaN), InputError);
  CHECK_THROWS_AS((void)PoissonDistribution(kInf), InputError);

  // The message names the offending value.
  try {
    ExponentialDistribution bad(-3.25);
    FAIL("no exception");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("-3.25") != std::string::npos);
  }
}

// --- Gaussian noise fields (core/noise.hpp) ---------------------------------------------------

namespace {

std::vector<double> noise_field(std::size_t n, std::uint64_t substream, std::uint64_t first = 0) {
  std::vector<float> f(n);
  fill_standard_normal(f, 5, 6, stream_id("noise"), substream, first);
  return {f.begin(), f.end()};
}

}  // namespace

TEST_CASE("noise field: Random123's Philox4x32-10 words through Box-Muller in double with libm") {
  // The independent reference: Random123's own Philox4x32 on the documented counter and key,
  // and the Box-Muller transform with libm's log, sqrt, cos and sin in double.
  const std::size_t n = 400000;
  const auto x = noise_field(n, 3);
  RngStream key_stream(5, 6, stream_id("noise"), 3);
  const std::uint64_t key = key_stream.next_u64();
  r123::Philox4x32 philox;
  const r123::Philox4x32::key_type k = {{static_cast<std::uint32_t>(key),
                                         static_cast<std::uint32_t>(key >> 32)}};
  double worst = 0;
  for (std::size_t b = 0; b < n / 4; ++b) {
    const r123::Philox4x32::ctr_type c = {{static_cast<std::uint32_t>(b), 0, 0, 0}};
    const auto w = philox(c, k);
    for (int pair = 0; pair < 2; ++pair) {
      const double u = ((w[2 * pair] >> 9) + 0.5) * 0x1.0p-23;
      const double v = (w[2 * pair + 1] >> 8) * 0x1.0p-24;
      const double r = std::sqrt(-2.0 * std::log(u));
      const double t = 2.0 * std::numbers::pi * v;
      // Element 64 c + 16 j + l of the field is variate j of block 16 c + l.
      const std::size_t base = 64 * (b / 16) + b % 16;
      worst = std::max(worst, std::abs(x[base + 16 * (2 * pair)] - r * std::cos(t)));
      worst = std::max(worst, std::abs(x[base + 16 * (2 * pair + 1)] - r * std::sin(t)));
    }
  }
  // Float arithmetic on values up to 5.9: a few ulps of the largest.
  CHECK(worst < 2e-6);
  // The tails end where the smallest uniform puts them.
  const double largest = *std::max_element(x.begin(), x.end(), [](double a, double b) {
    return std::abs(a) < std::abs(b);
  });
  CHECK(std::abs(largest) <= std::sqrt(2.0 * 24.0 * std::numbers::ln2) + 1e-5);
}

TEST_CASE("noise field: moments and KS against N(0, 1), and the KS test has power") {
  const auto x = noise_field(1000000, 0);
  check_moments(x, {0.0, 1.0, 3.0});
  const double crit = ks_critical(x.size());
  const boost::math::normal_distribution<> ref(0, 1), wide(0, 1.02), shifted(0.01, 1);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(ref, v); }) < crit);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(wide, v); }) > crit);
  CHECK(ks_statistic(x, [&](double v) { return boost::math::cdf(shifted, v); }) > crit);
  // Neighbours are uncorrelated (the two variates of one Box-Muller pair included): the lag-1
  // correlation of 1e6 independent variates has sd 1e-3.
  double lag = 0;
  for (std::size_t i = 1; i < x.size(); ++i) lag += x[i] * x[i - 1];
  CHECK(std::abs(lag / static_cast<double>(x.size())) < 5e-3);
}

TEST_CASE("noise field: element i depends only on its key and index") {
  const auto whole = noise_field(1000, 7);
  // A shorter field is a prefix; a field started at `first` is the matching slice.
  const auto head = noise_field(37, 7);
  CHECK(std::equal(head.begin(), head.end(), whole.begin()));
  const auto tail = noise_field(1000 - 256, 7, 256);
  CHECK(std::equal(tail.begin(), tail.end(), whole.begin() + 256));
  CHECK_THROWS_AS(noise_field(10, 7, 32), InputError);
  // Another substream, entity or seed is another field.
  const auto other = noise_field(1000, 8);
  std::size_t same = 0;
  for (std::size_t i = 0; i < whole.size(); ++i) same += whole[i] == other[i];
  CHECK(same == 0);
}
