#include "calibration/goodness_of_fit.hpp"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <vector>

#include "core/error.hpp"

namespace memcarlo {

namespace {

// A copy of the sample in ascending order, after checking every value is finite.
std::vector<double> sorted_sample(std::span<const double> sample, const char* test) {
  MC_VALIDATE(!sample.empty(), "{}: the sample is empty", test);
  for (std::size_t i = 0; i < sample.size(); ++i) {
    MC_VALIDATE(std::isfinite(sample[i]), "{}: sample value at index {} is not finite: {}", test, i,
                sample[i]);
  }
  std::vector<double> x(sample.begin(), sample.end());
  std::sort(x.begin(), x.end());
  return x;
}

// F(x) for every sorted x, checked to be a probability.
std::vector<double> probabilities(const std::vector<double>& x, const CdfFunction& f,
                                  const char* test, const char* what) {
  std::vector<double> u(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    u[i] = f(x[i]);
    MC_VALIDATE(u[i] >= 0.0 && u[i] <= 1.0, "{}: the {} returned {} at x = {}, not in [0, 1]", test,
                what, u[i], x[i]);
  }
  return u;
}

void validate_null_arguments(std::size_t n, double statistic, const char* what) {
  MC_VALIDATE(n >= 1, "{}: the sample size must be at least 1, got {}", what, n);
  MC_VALIDATE(!std::isnan(statistic), "{}: the statistic is NaN", what);
}

// A square matrix with a power-of-two exponent kept apart: value = a * 2^exponent. Durbin's
// matrix raised to the n-th power overflows a double long before n = 1000.
struct ScaledMatrix {
  std::size_t m = 0;
  std::vector<double> a;
  std::int64_t exponent = 0;

  double& at(std::size_t i, std::size_t j) { return a[i * m + j]; }
  double at(std::size_t i, std::size_t j) const { return a[i * m + j]; }

  // Rescales so that the largest entry lies in [1, 2): exact, since only exponents change.
  void normalise() {
    double largest = 0.0;
    for (double v : a) largest = std::max(largest, std::fabs(v));
    if (largest == 0.0) return;
    const int e = std::ilogb(largest);
    for (double& v : a) v = std::ldexp(v, -e);
    exponent += e;
  }
};

ScaledMatrix multiply(const ScaledMatrix& x, const ScaledMatrix& y) {
  const std::size_t m = x.m;
  ScaledMatrix z{m, std::vector<double>(m * m, 0.0), x.exponent + y.exponent};
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t k = 0; k < m; ++k) {
      const double xik = x.at(i, k);
      if (xik == 0.0) continue;
      const double* yk = &y.a[k * m];
      double* zi = &z.a[i * m];
      for (std::size_t j = 0; j < m; ++j) zi[j] += xik * yk[j];
    }
  }
  z.normalise();
  return z;
}

// P(D_n < d) by Durbin's matrix method in the form of Marsaglia, Tsang & Wang, J. Stat. Softw.
// 8(18) (2003): with n d = k - h (k integer, 0 < h <= 1), the probability is
// n!/n^n (H^n)_{kk} for a (2k-1)-square matrix H built from h. Cost O(k^3 log n).
double durbin_cdf(std::size_t n, double d) {
  const double t = static_cast<double>(n) * d;
  const auto k = static_cast<std::size_t>(std::floor(t)) + 1;
  const double h = static_cast<double>(k) - t;
  const std::size_t m = 2 * k - 1;
  ScaledMatrix H{m, std::vector<double>(m * m, 0.0), 0};
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j < m; ++j) {
      if (i + 1 >= j) H.at(i, j) = 1.0;
    }
  }
  for (std::size_t i = 0; i < m; ++i) {
    H.at(i, 0) -= std::pow(h, static_cast<double>(i + 1));
    H.at(m - 1, i) -= std::pow(h, static_cast<double>(m - i));
  }
  if (2.0 * h - 1.0 > 0.0) H.at(m - 1, 0) += std::pow(2.0 * h - 1.0, static_cast<double>(m));
  for (std::size_t i = 0; i < m; ++i) {
    for (std::size_t j = 0; j <= std::min(i + 1, m - 1); ++j) {
      double factorial = 1.0;  // (i - j + 1)!
      for (std::size_t g = 2; g <= i + 1 - j; ++g) factorial *= static_cast<double>(g);
      H.at(i, j) /= factorial;
    }
  }
  H.normalise();

  // H^n by binary powering.
  ScaledMatrix power{m, std::vector<double>(m * m, 0.0), 0};
  for (std::size_t i = 0; i < m; ++i) power.at(i, i) = 1.0;
  ScaledMatrix base = H;
  for (std::size_t e = n;;) {
    if (e & 1) power = multiply(power, base);
    e >>= 1;
    if (e == 0) break;
    base = multiply(base, base);
  }

  // Times n!/n^n = prod_i (i/n), keeping the exponent apart.
  double s = power.at(k - 1, k - 1);
  std::int64_t exponent = power.exponent;
  const double dn = static_cast<double>(n);
  for (std::size_t i = 1; i <= n; ++i) {
    s = s * static_cast<double>(i) / dn;
    if (s != 0.0 && std::fabs(s) < 0x1.0p-256) {
      s = std::ldexp(s, 256);
      exponent -= 256;
    }
  }
  if (s <= 0.0) return 0.0;
  // ldexp takes an int; anything beyond +-2000 is 0 or overflow anyway.
  return std::ldexp(s, static_cast<int>(std::clamp<std::int64_t>(exponent, -4000, 4000)));
}

// P(D_n <= d) by the Pelz–Good expansion in 1/sqrt(n) of the Kolmogorov distribution,
// K0 + K1/sqrt(n) + K2/n + K3/n^(3/2) with z = d sqrt(n) (Pelz & Good, J. R. Stat. Soc. B 38,
// 152 (1976); the form of Simard & L'Ecuyer 2011, eq. (9)–(12)).
double pelz_good_cdf(std::size_t n, double d) {
  using std::numbers::pi;
  const double dn = static_cast<double>(n);
  const double z = d * std::sqrt(dn);
  const double z2 = z * z, z4 = z2 * z2, z6 = z4 * z2, z8 = z4 * z4;
  const double pi2 = pi * pi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double root_2pi = std::sqrt(2.0 * pi);
  // Terms with exponent below -128 are invisible; this many k reach it.
  const int kmax = static_cast<int>(std::ceil(16.0 * z / pi)) + 1;
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int k = 1; k <= kmax; ++k) {
    const double m = 2.0 * k - 1.0;
    const double m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
    const double e = std::exp(-pi2 * m2 / (8.0 * z2));
    s0 += e;
    s1 += (-z2 + pi2 * m2 / 4.0) * e;
    s2 += (6.0 * z6 + 2.0 * z4 + (2.0 * z4 - 5.0 * z2) * pi2 / 4.0 * m2 +
           pi4 * (1.0 - 2.0 * z2) / 16.0 * m4) *
          e;
    s3 += (-30.0 * z6 - 90.0 * z8 + pi2 * (135.0 * z4 - 96.0 * z6) / 4.0 * m2 +
           pi4 * (-60.0 * z2 + 212.0 * z4) / 16.0 * m4 + pi6 * (5.0 - 30.0 * z2) / 64.0 * m6) *
          e;
  }
  double t2 = 0, t3 = 0;
  for (int k = 1; k <= kmax; ++k) {
    const double k2 = static_cast<double>(k) * k;
    const double e = std::exp(-pi2 * k2 / (2.0 * z2));
    t2 += k2 * e;
    t3 += (3.0 * z2 - pi2 * k2) * k2 * e;
  }
  const double K0 = root_2pi / z * s0;
  const double K1 = root_2pi / (6.0 * z4) * s1;
  const double K2 = root_2pi / (72.0 * z6 * z) * s2 - pi2 * root_2pi / (36.0 * z2 * z) * t2;
  const double K3 = root_2pi / (6480.0 * z8 * z2) * s3 + pi2 * root_2pi / (216.0 * z6) * t3;
  return K0 + K1 / std::sqrt(dn) + K2 / dn + K3 / (dn * std::sqrt(dn));
}

// Marsaglia & Marsaglia (2004): P(A^2 < z) in the limit n -> infinity, |error| < 2e-6.
double anderson_darling_asymptotic_cdf(double z) {
  if (z < 2.0) {
    return std::exp(-1.2337141 / z) / std::sqrt(z) *
           (2.00012 +
            (.247105 - (.0649821 - (.0347962 - (.011672 - .00168691 * z) * z) * z) * z) * z);
  }
  return std::exp(-std::exp(
      1.0776 - (2.30695 - (.43424 - (.082433 - (.008056 - .0003146 * z) * z) * z) * z) * z));
}

// Marsaglia & Marsaglia (2004): the finite-n correction added to the asymptotic CDF value x.
double anderson_darling_errfix(double n, double x) {
  if (x > 0.8) {
    return (-130.2137 +
            (745.2337 - (1705.091 - (1950.646 - (1116.360 - 255.7844 * x) * x) * x) * x) * x) /
           n;
  }
  const double c = 0.01265 + 0.1757 / n;
  if (x < c) {
    double t = x / c;
    t = std::sqrt(t) * (1.0 - t) * (49.0 * t - 102.0);
    return t * (0.0037 / (n * n) + 0.00078 / n + 0.00006) / n;
  }
  double t = (x - c) / (0.8 - c);
  t = -0.00022633 + (6.54034 - (14.6538 - (14.458 - (8.259 - 1.91864 * t) * t) * t) * t) * t;
  return t * (0.04213 + 0.01365 / n) / n;
}

// A^2 from sorted log F(x_(i)) and log(1 - F(x_(i))).
double anderson_darling_statistic(const std::vector<double>& log_cdf,
                                  const std::vector<double>& log_sf) {
  const std::size_t n = log_cdf.size();
  const double dn = static_cast<double>(n);
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    sum += (2.0 * static_cast<double>(i + 1) - 1.0) / dn * (log_cdf[i] + log_sf[n - 1 - i]);
  }
  const double a2 = -dn - sum;
  return std::isnan(a2) ? std::numeric_limits<double>::infinity() : a2;
}

}  // namespace

double smirnov_sf(std::size_t n, double d) {
  validate_null_arguments(n, d, "smirnov_sf");
  if (d <= 0.0) return 1.0;
  if (d >= 1.0) return 0.0;
  // P(D_n^+ >= d) = d sum_{j=0}^{floor(n(1-d))} C(n,j) (1 - d - j/n)^(n-j) (d + j/n)^(j-1)
  //              = d sum_j Binomial(n, p_j).pdf(j) / p_j  with p_j = d + j/n.
  // Every term is positive, so the sum has no cancellation.
  const double dn = static_cast<double>(n);
  const auto jmax = static_cast<std::size_t>(std::floor(dn * (1.0 - d)));
  double sum = 0.0;
  for (std::size_t j = 0; j <= std::min(jmax, n); ++j) {
    const double p = std::min(d + static_cast<double>(j) / dn, 1.0);
    const boost::math::binomial_distribution<double> binomial(dn, p);
    sum += boost::math::pdf(binomial, static_cast<double>(j)) / p;
  }
  return std::clamp(d * sum, 0.0, 1.0);
}

double kolmogorov_smirnov_sf(std::size_t n, double d) {
  validate_null_arguments(n, d, "kolmogorov_smirnov_sf");
  if (d <= 0.0) return 1.0;
  if (d >= 1.0) return 0.0;
  const double dn = static_cast<double>(n);
  const double t = dn * d;
  if (t <= 0.5) return 1.0;                                    // D_n >= 1/(2n) always
  if (d >= 0.5) return std::min(1.0, 2.0 * smirnov_sf(n, d));  // one side at most: exact
  const double nd2 = t * d;
  if (nd2 >= 4.0) return std::min(1.0, 2.0 * smirnov_sf(n, d));
  // Durbin's matrix is (2k-1)^2 with k = floor(n d) + 1; k <= 64 keeps one evaluation below
  // ~2e6 log2(n) multiply-adds. Every n <= 1024 gets here (n d^2 < 4 means n d < 2 sqrt(n)).
  if (std::floor(t) + 1.0 <= 64.0) return std::clamp(1.0 - durbin_cdf(n, d), 0.0, 1.0);
  if (nd2 >= 2.2) return std::min(1.0, 2.0 * smirnov_sf(n, d));
  return std::clamp(1.0 - pelz_good_cdf(n, d), 0.0, 1.0);
}

double anderson_darling_sf(std::size_t n, double a2) {
  validate_null_arguments(n, a2, "anderson_darling_sf");
  if (a2 <= 0.0) return 1.0;
  if (std::isinf(a2)) return 0.0;
  // Marsaglia's polynomial for the asymptotic CDF stops being monotone beyond z ~ 8 (and its
  // finite-n correction leaves a floor of ~6e-4 / n). Beyond kTail the upper tail of
  // A^2 = sum_j chi2_1 / (j (j + 1)) is that of its largest term, chi2_1 / 2:
  // P(A^2 > z) ~ C erfc(sqrt z); C (~1.81) is matched at kTail, where the two agree to 1e-3.
  constexpr double kTail = 7.0;
  const auto sf = [n](double z) {
    const double x = anderson_darling_asymptotic_cdf(z);
    return std::clamp(1.0 - (x + anderson_darling_errfix(static_cast<double>(n), x)), 0.0, 1.0);
  };
  if (a2 <= kTail) return sf(a2);
  return sf(kTail) * std::erfc(std::sqrt(a2)) / std::erfc(std::sqrt(kTail));
}

double anderson_darling_normal_sf(std::size_t n, double a2) {
  validate_null_arguments(n, a2, "anderson_darling_normal_sf");
  if (std::isinf(a2)) return a2 > 0 ? 0.0 : 1.0;
  // D'Agostino & Stephens (1986), Table 4.9: p-value of the modified statistic A*^2.
  const double dn = static_cast<double>(n);
  const double a = a2 * (1.0 + 0.75 / dn + 2.25 / (dn * dn));
  double p;
  if (a >= 0.6) {
    // The quadratic exponent turns up beyond its minimum at a = 153.5 (p ~ 1e-190 there): the
    // table's fit does not reach so far, and p stays at that floor instead of rising again.
    const double b = std::min(a, 5.709 / (2 * 0.0186));
    p = std::exp(1.2937 - 5.709 * b + 0.0186 * b * b);
  } else if (a >= 0.34) {
    p = std::exp(0.9177 - 4.279 * a - 1.38 * a * a);
  } else if (a >= 0.2) {
    p = 1.0 - std::exp(-8.318 + 42.796 * a - 59.938 * a * a);
  } else {
    p = 1.0 - std::exp(-13.436 + 101.14 * a - 223.73 * a * a);
  }
  return std::clamp(p, 0.0, 1.0);
}

GofResult kolmogorov_smirnov(std::span<const double> sample, const CdfFunction& cdf) {
  const char* test = "Kolmogorov-Smirnov test";
  MC_VALIDATE(static_cast<bool>(cdf), "{}: no CDF given", test);
  const std::vector<double> x = sorted_sample(sample, test);
  const std::vector<double> u = probabilities(x, cdf, test, "CDF");
  const std::size_t n = x.size();
  const double dn = static_cast<double>(n);
  double d = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double above = (static_cast<double>(i) + 1.0) / dn - u[i];  // D+ candidate
    const double below = u[i] - static_cast<double>(i) / dn;          // D- candidate
    d = std::max({d, above, below});
  }
  return {d, kolmogorov_smirnov_sf(n, d), n};
}

GofResult anderson_darling(std::span<const double> sample, const CdfFunction& cdf,
                           const CdfFunction& sf) {
  const char* test = "Anderson-Darling test";
  MC_VALIDATE(static_cast<bool>(cdf), "{}: no CDF given", test);
  const std::vector<double> x = sorted_sample(sample, test);
  const std::vector<double> u = probabilities(x, cdf, test, "CDF");
  std::vector<double> upper;
  if (sf) {
    upper = probabilities(x, sf, test, "survival function");
  } else {
    upper.resize(u.size());
    for (std::size_t i = 0; i < u.size(); ++i) upper[i] = 1.0 - u[i];
  }
  std::vector<double> log_cdf(u.size()), log_sf(u.size());
  for (std::size_t i = 0; i < u.size(); ++i) {
    log_cdf[i] = std::log(u[i]);
    log_sf[i] = std::log(upper[i]);
  }
  const double a2 = anderson_darling_statistic(log_cdf, log_sf);
  return {a2, anderson_darling_sf(x.size(), a2), x.size()};
}

GofResult anderson_darling_normal(std::span<const double> sample) {
  const char* test = "Anderson-Darling normality test";
  const std::vector<double> x = sorted_sample(sample, test);
  const std::size_t n = x.size();
  MC_VALIDATE(n >= 3, "{}: needs at least 3 values, got {}", test, n);
  const double dn = static_cast<double>(n);
  double mean = 0.0;
  for (double v : x) mean += v;
  mean /= dn;
  double ss = 0.0;
  for (double v : x) ss += (v - mean) * (v - mean);
  const double s = std::sqrt(ss / (dn - 1.0));
  MC_VALIDATE(s > 0.0, "{}: all {} values are equal ({})", test, n, x.front());

  const boost::math::normal_distribution<double> standard;
  std::vector<double> log_cdf(n), log_sf(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double w = (x[i] - mean) / s;
    log_cdf[i] = std::log(boost::math::cdf(standard, w));
    log_sf[i] = std::log(boost::math::cdf(boost::math::complement(standard, w)));
  }
  const double a2 = anderson_darling_statistic(log_cdf, log_sf);
  return {a2, anderson_darling_normal_sf(n, a2), n};
}

GofResult kolmogorov_smirnov_two_sample(std::span<const double> a, std::span<const double> b) {
  const char* test = "two-sample Kolmogorov-Smirnov test";
  const std::vector<double> x = sorted_sample(a, test);
  const std::vector<double> y = sorted_sample(b, test);
  const std::size_t n1 = x.size(), n2 = y.size();
  const double dn1 = static_cast<double>(n1), dn2 = static_cast<double>(n2);
  // Walk both samples in order; after all values equal to v are consumed from both, i/n1 and
  // j/n2 are the two empirical CDFs at v.
  double d = 0.0;
  std::size_t i = 0, j = 0;
  while (i < n1 && j < n2) {
    const double v = std::min(x[i], y[j]);
    while (i < n1 && x[i] == v) ++i;
    while (j < n2 && y[j] == v) ++j;
    d = std::max(d, std::fabs(static_cast<double>(i) / dn1 - static_cast<double>(j) / dn2));
  }
  // Rounded half to even, as numpy.round in scipy.
  const double effective = std::nearbyint(dn1 * dn2 / (dn1 + dn2));
  const auto n_eff = static_cast<std::size_t>(std::max(effective, 1.0));
  return {d, kolmogorov_smirnov_sf(n_eff, d), n_eff};
}

}  // namespace memcarlo
