// Goodness-of-fit tests for calibration: one-sample Kolmogorov–Smirnov and Anderson–Darling
// against a continuous CDF, the Anderson–Darling normality test with estimated parameters, and
// the two-sample Kolmogorov–Smirnov distance ("simulate with fitted parameters, compare").
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <span>

namespace memcarlo {

// A test statistic and its p-value: the probability, under the null hypothesis, of a statistic
// at least as large as the one observed.
struct GofResult {
  double statistic = std::numeric_limits<double>::quiet_NaN();  // D or A^2 (dimensionless)
  double p_value = std::numeric_limits<double>::quiet_NaN();
  std::size_t n = 0;  // sample size (effective size n1 n2 / (n1 + n2) for two samples)
};

// A distribution function of a continuous distribution, x -> P(X <= x).
using CdfFunction = std::function<double(double)>;

// --- null distributions ----------------------------------------------------------------------

// P(D_n >= d) for the two-sided one-sample Kolmogorov–Smirnov statistic D_n of n observations
// from a continuous distribution. Method by region, after Simard & L'Ecuyer, J. Stat. Softw.
// 39(11) (2011), but exact wherever that is affordable:
//  * n d <= 1/2: 1; d >= 1/2: 2 P(D_n^+ >= d), exact (at most one side can exceed d);
//  * n d^2 >= 4: 2 P(D_n^+ >= d), whose relative error, the probability that both one-sided
//    statistics exceed d, is of order e^{-6 n d^2} < 1e-10;
//  * otherwise, when floor(n d) + 1 <= 64 (always for n <= 1024): Durbin's matrix (Marsaglia,
//    Tsang & Wang, J. Stat. Softw. 8(18) (2003)), exact to rounding (~1e-13 absolute);
//  * otherwise (n > 1024): 2 P(D_n^+ >= d) for n d^2 >= 2.2 (relative error ~1e-6 at 2.2),
//    and below that the Pelz–Good series (J. R. Stat. Soc. B 38, 152 (1976)), ~1e-5 relative:
//    the methods scipy.stats.kstwo uses there.
// Cost: at most ~20 ms (Durbin with k = 64); the 2 P(D_n^+ >= d) branches are O(n), 50 ms at
// n = 1e5.
double kolmogorov_smirnov_sf(std::size_t n, double d);

// P(D_n^+ >= d) for the one-sided statistic, exact (Birnbaum & Tingey, Ann. Math. Stat. 22,
// 592 (1951)) as a sum of binomial probabilities from Boost.Math; cost O(n).
double smirnov_sf(std::size_t n, double d);

// P(A^2 >= a2) for the Anderson–Darling statistic of n observations from a fully specified
// continuous distribution: Marsaglia & Marsaglia, J. Stat. Softw. 9(2) (2004), asymptotic
// distribution plus their finite-n correction. Absolute error ~1e-5 by the authors' account;
// a Monte Carlo check (2e6 samples) finds it within its 3e-4 noise for n >= 3, 1e-3 at n = 2,
// and up to 0.04 at n = 1, where the correction was not fitted. Above A^2 = 7, where their
// polynomial stops being monotone, the tail is C erfc(sqrt(A^2)) (that of the largest term of
// the series, chi2_1 / 2), with C matched at 7: exact in order of magnitude, not in digits.
double anderson_darling_sf(std::size_t n, double a2);

// P(A^2 >= a2) for Stephens' case 3 (normal, mean and standard deviation estimated, see
// anderson_darling_normal): D'Agostino & Stephens, Goodness-of-Fit Techniques (1986),
// Table 4.9, applied to A*^2 = A^2 (1 + 0.75/n + 2.25/n^2); two or three significant digits
// within the table (A*^2 below ~10), an order of magnitude beyond, and a floor of ~1e-190 from
// A*^2 = 153.5 on.
double anderson_darling_normal_sf(std::size_t n, double a2);

// --- tests -----------------------------------------------------------------------------------
// All tests validate the sample (not empty, every value finite) and the CDF values (in [0, 1])
// and throw InputError naming the offending index and value. The sample is copied and sorted.
//
// The p-values assume the distribution is fully specified. When its parameters were estimated
// from the same sample the statistic is smaller than under that assumption, so the p-values are
// too large (conservative; Lilliefors 1967) — use them to rank or flag fits, not as exact
// significance levels. anderson_darling_normal() is the exception: it accounts for the
// estimation.

// One-sample Kolmogorov–Smirnov: D = max_i max(i/n - F(x_(i)), F(x_(i)) - (i-1)/n), as
// scipy.stats.kstest, with p = kolmogorov_smirnov_sf(n, D).
GofResult kolmogorov_smirnov(std::span<const double> sample, const CdfFunction& cdf);

// One-sample Anderson–Darling:
// A^2 = -n - (1/n) sum_i (2i - 1) [ln F(x_(i)) + ln(1 - F(x_(n+1-i)))], p from
// anderson_darling_sf. Pass the survival function x -> P(X > x) when there is one: 1 - F loses
// precision in the upper tail. A^2 is infinite (p = 0) when some F(x) is 0 or 1.
GofResult anderson_darling(std::span<const double> sample, const CdfFunction& cdf,
                           const CdfFunction& sf = {});

// Anderson–Darling normality test with mean and standard deviation estimated from the sample
// (Stephens' case 3): A^2 against N(mean, s) with the n - 1 standard deviation, as
// scipy.stats.anderson(x, 'norm'), and p = anderson_darling_normal_sf(n, A^2). Needs n >= 3
// and distinct values.
GofResult anderson_darling_normal(std::span<const double> sample);

// Two-sample Kolmogorov–Smirnov: D = max |F1(x) - F2(x)| over the empirical CDFs (ties across
// the samples handled), with the asymptotic p-value of scipy.stats.ks_2samp(method='asymp'):
// kolmogorov_smirnov_sf(round(n1 n2 / (n1 + n2)), D). With ties or small samples the p-value is
// approximate.
GofResult kolmogorov_smirnov_two_sample(std::span<const double> a, std::span<const double> b);

}  // namespace memcarlo
