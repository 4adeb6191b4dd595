// memcarlo's own samplers, so that a seed gives the same numbers with every standard
// library (std::normal_distribution is implementation-defined). Each is a small value type
// whose operator() takes the RngStream to draw from; parameters are validated on
// construction.
#pragma once

#include <cmath>
#include <cstdint>

#include <boost/math/special_functions/gamma.hpp>

#include "core/error.hpp"
#include "core/rng.hpp"

namespace memcarlo {

class UniformDistribution {
 public:
  UniformDistribution(double lo, double hi) : lo_(lo), width_(hi - lo) {
    MC_VALIDATE(std::isfinite(lo) && std::isfinite(hi) && hi >= lo,
                "uniform distribution needs finite lo <= hi, got [{}, {}]", lo, hi);
  }
  double operator()(RngStream& rng) const { return lo_ + width_ * rng.uniform(); }

 private:
  double lo_, width_;
};

// Box–Muller; two uniforms per variate (no cached spare, so every draw is independent of
// the call history of the distribution object).
class NormalDistribution {
 public:
  NormalDistribution(double mean = 0.0, double stddev = 1.0) : mean_(mean), stddev_(stddev) {
    MC_VALIDATE(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
                "normal distribution needs finite mean and stddev >= 0, got ({}, {})", mean,
                stddev);
  }
  double operator()(RngStream& rng) const { return mean_ + stddev_ * standard(rng); }
  static double standard(RngStream& rng) {
    const double u1 = rng.uniform_open();
    const double u2 = rng.uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.141592653589793238 * u2);
  }

 private:
  double mean_, stddev_;
};

// exp(N(mu, sigma)): mu and sigma are the mean and stddev of the logarithm.
class LogNormalDistribution {
 public:
  LogNormalDistribution(double mu, double sigma) : normal_(mu, sigma) {}
  double operator()(RngStream& rng) const { return std::exp(normal_(rng)); }

 private:
  NormalDistribution normal_;
};

class ExponentialDistribution {
 public:
  explicit ExponentialDistribution(double rate) : rate_(rate) {
    MC_VALIDATE(std::isfinite(rate) && rate > 0, "exponential rate must be positive, got {}",
                rate);
  }
  double operator()(RngStream& rng) const { return -std::log(rng.uniform_open()) / rate_; }

 private:
  double rate_;
};

// Gamma(shape k, scale theta), Marsaglia & Tsang, ACM TOMS 26, 363 (2000); shapes below
// one are boosted with Gamma(k) = Gamma(k + 1) * U^(1/k).
class GammaDistribution {
 public:
  GammaDistribution(double shape, double scale) : shape_(shape), scale_(scale) {
    MC_VALIDATE(std::isfinite(shape) && shape > 0 && std::isfinite(scale) && scale > 0,
                "gamma distribution needs shape > 0 and scale > 0, got ({}, {})", shape, scale);
  }
  double operator()(RngStream& rng) const {
    if (shape_ < 1.0) {
      const double boosted = marsaglia_tsang(shape_ + 1.0, rng);
      return scale_ * boosted * std::pow(rng.uniform_open(), 1.0 / shape_);
    }
    return scale_ * marsaglia_tsang(shape_, rng);
  }

 private:
  static double marsaglia_tsang(double k, RngStream& rng) {
    const double d = k - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    for (;;) {
      double x, v;
      do {
        x = NormalDistribution::standard(rng);
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = rng.uniform_open();
      if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return d * v;
      if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
    }
  }
  double shape_, scale_;
};

// Poisson(mean). Inversion by sequential search for small means; Hörmann's transformed
// rejection with squeeze (PTRS, Insurance: Math. & Econ. 12, 39 (1993)) for means >= 10.
class PoissonDistribution {
 public:
  explicit PoissonDistribution(double mean) : mean_(mean) {
    MC_VALIDATE(std::isfinite(mean) && mean >= 0, "Poisson mean must be finite and >= 0, got {}",
                mean);
    if (mean_ >= 10.0) {
      const double s = std::sqrt(mean_);
      b_ = 0.931 + 2.53 * s;
      a_ = -0.059 + 0.02483 * b_;
      inv_alpha_ = 1.1239 + 1.1328 / (b_ - 3.4);
      v_r_ = 0.9277 - 3.6224 / (b_ - 2.0);
      log_mean_ = std::log(mean_);
    }
  }
  std::uint64_t operator()(RngStream& rng) const {
    if (mean_ == 0.0) return 0;
    return mean_ < 10.0 ? inversion(rng) : ptrs(rng);
  }

 private:
  std::uint64_t inversion(RngStream& rng) const {
    double p = std::exp(-mean_);
    double cdf = p;
    const double u = rng.uniform();
    std::uint64_t k = 0;
    while (u >= cdf && p > 0.0) {
      ++k;
      p *= mean_ / static_cast<double>(k);
      cdf += p;
    }
    return k;
  }
  std::uint64_t ptrs(RngStream& rng) const {
    for (;;) {
      const double u = rng.uniform() - 0.5;
      const double v = rng.uniform_open();
      const double us = 0.5 - std::fabs(u);
      const double k = std::floor((2.0 * a_ / us + b_) * u + mean_ + 0.43);
      if (us >= 0.07 && v <= v_r_) return static_cast<std::uint64_t>(k);
      if (k < 0.0 || (us < 0.013 && v > us)) continue;
      if (std::log(v) + std::log(inv_alpha_) - std::log(a_ / (us * us) + b_) <=
          -mean_ + k * log_mean_ - boost::math::lgamma(k + 1.0))
        return static_cast<std::uint64_t>(k);
    }
  }
  double mean_;
  double a_ = 0, b_ = 0, inv_alpha_ = 0, v_r_ = 0, log_mean_ = 0;
};

}  // namespace memcarlo
