#include "calibration/pulse_train_fit.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/tools/minima.hpp>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>

#include "calibration/bootstrap.hpp"
#include "calibration/distribution_fit.hpp"
#include "calibration/goodness_of_fit.hpp"
#include "calibration/minimize.hpp"
#include "core/svg_plot.hpp"
#include "core/distributions.hpp"
#include "core/error.hpp"
#include "physics/simulate.hpp"

namespace memcarlo {

std::string_view to_string(CycleShape shape) {
  switch (shape) {
    case CycleShape::fitted:
      return "fitted";
    case CycleShape::saturated:
      return "saturated";
    case CycleShape::linear:
      return "linear";
    case CycleShape::accelerating:
      return "accelerating";
    case CycleShape::flat:
      return "flat";
    case CycleShape::wrong_direction:
      return "wrong direction";
  }
  return "?";
}

CycleReads cycle_reads(std::span<const double> G) {
  CycleReads r;
  for (std::size_t i = 0; i < G.size(); ++i)
    if (std::isfinite(G[i])) {
      r.k.push_back(static_cast<double>(i + 1));
      r.G.push_back(G[i]);
    }
  return r;
}

double CycleFit::G(double k) const {
  if (!std::isfinite(A_pulses)) return asymptote;
  return asymptote + (start - asymptote) * std::exp(-k / A_pulses);
}

namespace {

constexpr int kGrid = 41;
constexpr int kBrentBits = 26;     // half the mantissa: the most Brent's method can resolve
constexpr double kAtBound = 1e-3;  // |ln A - ln bound| below this: the fit sits on the bound

double sign_of(Polarity p) { return p == Polarity::potentiation ? 1.0 : -1.0; }
const char* name_of(Polarity p) {
  return p == Polarity::potentiation ? "potentiation" : "depression";
}

// Minimum of a one-dimensional profile over [lo, hi]: the best of a uniform grid, refined by
// Brent's method in the bracket formed by its neighbours. The grid guards against the local
// minima a profile over several decades of A can have.
struct ProfileMinimum {
  double t = 0, value = HUGE_VAL;
};
template <class F>
ProfileMinimum minimize_profile(F&& f, double lo, double hi, int grid = kGrid) {
  std::vector<double> v(static_cast<std::size_t>(grid));
  int best = 0;
  const auto at = [&](int i) { return lo + (hi - lo) * i / (grid - 1); };
  for (int i = 0; i < grid; ++i) {
    v[static_cast<std::size_t>(i)] = f(at(i));
    if (v[static_cast<std::size_t>(i)] < v[static_cast<std::size_t>(best)]) best = i;
  }
  std::uintmax_t iterations = 200;
  const auto [t, value] = boost::math::tools::brent_find_minima(
      f, at(std::max(best - 1, 0)), at(std::min(best + 1, grid - 1)), kBrentBits, iterations);
  if (!(value <= v[static_cast<std::size_t>(best)]))
    return {at(best), v[static_cast<std::size_t>(best)]};
  return {t, value};
}

// G = a + beta e_k (beta = s - a) for fixed A, by least squares; a >= floor.
struct Levels {
  double a = 0, beta = 0, rss = 0;
  bool at_floor = false;
};
Levels fit_levels(const CycleReads& c, double A, double floor, std::vector<double>& e) {
  const std::size_t m = c.k.size();
  e.resize(m);
  double e_mean = 0, y_mean = 0;
  for (std::size_t i = 0; i < m; ++i) {
    e[i] = std::exp(-c.k[i] / A);
    e_mean += e[i];
    y_mean += c.G[i];
  }
  e_mean /= static_cast<double>(m);
  y_mean /= static_cast<double>(m);
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double de = e[i] - e_mean;
    sxx += de * de;
    sxy += de * (c.G[i] - y_mean);
  }
  Levels L;
  L.beta = sxx > 0 ? sxy / sxx : 0.0;
  L.a = y_mean - L.beta * e_mean;
  if (L.a < floor) {
    double see = 0, sey = 0;
    for (std::size_t i = 0; i < m; ++i) {
      see += e[i] * e[i];
      sey += e[i] * (c.G[i] - floor);
    }
    L.a = floor;
    L.beta = see > 0 ? sey / see : 0.0;
    L.at_floor = true;
  }
  for (std::size_t i = 0; i < m; ++i) {
    const double r = c.G[i] - (L.a + L.beta * e[i]);
    L.rss += r * r;
  }
  return L;
}

// Is the cycle significantly curved against the model? A potentiation curve of the model is
// concave (its steps shrink), a depression curve convex. Quadratic least squares in orthogonal
// polynomials of k; "significantly": the quadratic coefficient exceeds three standard errors.
bool accelerates(const CycleReads& c, Polarity polarity) {
  const std::size_t m = c.k.size();
  if (m <= 3) return false;
  const double n = static_cast<double>(m);
  const double k_mean = std::accumulate(c.k.begin(), c.k.end(), 0.0) / n;
  const double y_mean = std::accumulate(c.G.begin(), c.G.end(), 0.0) / n;
  double s11 = 0, s111 = 0;
  for (double k : c.k) {
    const double p1 = k - k_mean;
    s11 += p1 * p1;
    s111 += p1 * p1 * p1;
  }
  std::vector<double> p2(m);
  double s22 = 0, s1y = 0, s2y = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double p1 = c.k[i] - k_mean;
    p2[i] = p1 * p1 - (s111 / s11) * p1 - s11 / n;
    s22 += p2[i] * p2[i];
    s1y += p1 * c.G[i];
    s2y += p2[i] * c.G[i];
  }
  if (!(s22 > 0)) return false;
  const double c1 = s1y / s11, c2 = s2y / s22;
  double rss = 0;
  for (std::size_t i = 0; i < m; ++i) {
    const double r = c.G[i] - y_mean - c1 * (c.k[i] - k_mean) - c2 * p2[i];
    rss += r * r;
  }
  const double se = std::sqrt(rss / (n - 3) / s22);
  return sign_of(polarity) * c2 > 3 * se;
}

}  // namespace

CycleFit fit_cycle(const CycleReads& c, Polarity polarity, double floor) {
  MC_VALIDATE(c.k.size() == c.G.size(), "cycle fit: {} pulse indices but {} conductances",
              c.k.size(), c.G.size());
  MC_VALIDATE(c.k.size() >= 4, "a cycle fit needs at least 4 reads, got {}", c.k.size());
  CycleFit f;
  f.n_reads = c.k.size();
  const auto [lo, hi] = std::minmax_element(c.G.begin(), c.G.end());
  const double mean =
      std::accumulate(c.G.begin(), c.G.end(), 0.0) / static_cast<double>(c.G.size());
  if (*hi - *lo <= 1e-12 * std::max(std::fabs(*hi), std::fabs(*lo))) {
    f.asymptote = f.start = mean;
    f.rss = 0;
    for (double g : c.G) f.rss += (g - mean) * (g - mean);
    f.shape = CycleShape::flat;
    return f;
  }
  const double t_lo = std::log(kCycleMinA), t_hi = std::log(kCycleMaxAPerPulse * c.k.back());
  std::vector<double> e;
  const auto best = minimize_profile(
      [&](double t) { return fit_levels(c, std::exp(t), floor, e).rss; }, t_lo, t_hi);
  f.A_pulses = std::exp(best.t);
  const Levels L = fit_levels(c, f.A_pulses, floor, e);
  f.asymptote = L.a;
  f.start = L.a + L.beta;
  f.rss = L.rss;
  f.at_floor = L.at_floor;
  if (best.t - t_lo < kAtBound) {
    f.shape = CycleShape::saturated;
  } else if (sign_of(polarity) * L.beta > 0) {
    f.shape = CycleShape::wrong_direction;  // potentiation needs a > s, depression a < s
  } else if (t_hi - best.t < kAtBound) {
    f.shape = accelerates(c, polarity) ? CycleShape::accelerating : CycleShape::linear;
  } else {
    f.shape = CycleShape::fitted;
  }
  return f;
}

CycleWhitener::CycleWhitener(const CycleReads& c, double r, double q,
                             std::span<const double> read_var) {
  MC_VALIDATE(read_var.size() == c.k.size(), "whitener: {} read variances for {} reads",
              read_var.size(), c.k.size());
  MC_VALIDATE(r >= 0 && r <= 1 && q >= 0, "whitener: damping {} must be in [0, 1], step sd {} >= 0",
              r, q);
  const std::size_t m = c.k.size();
  decay_.resize(m);
  gain_.resize(m);
  inv_sd_.resize(m);
  double P = 0, prev = 0;
  const double ln_r = std::log(r);
  for (std::size_t i = 0; i < m; ++i) {
    const double delta = c.k[i] - prev;
    prev = c.k[i];
    decay_[i] = std::pow(r, delta);
    const double S =
        r == 1.0 ? delta : (r == 0.0 ? 1.0 : std::expm1(2 * delta * ln_r) / std::expm1(2 * ln_r));
    P = decay_[i] * decay_[i] * P + q * q * S;
    const double F = P + read_var[i];
    MC_VALIDATE(F > 0, "whitener: zero noise variance at read {}", i);
    gain_[i] = P / F;
    inv_sd_[i] = 1 / std::sqrt(F);
    P *= 1 - gain_[i];
  }
}

void CycleWhitener::whiten(std::span<const double> x, std::span<double> out) const {
  double prediction = 0;
  for (std::size_t i = 0; i < decay_.size(); ++i) {
    prediction *= decay_[i];
    const double v = x[i] - prediction;
    prediction += gain_[i] * v;
    out[i] = v * inv_sd_[i];
  }
}

PooledFit fit_pooled(std::span<const CycleReads* const> cycles, std::span<const double> weights,
                     Polarity, double floor, std::span<const CycleWhitener* const> whiteners,
                     double A_hint) {
  MC_VALIDATE(!cycles.empty() && cycles.size() == weights.size(),
              "pooled fit: {} cycles and {} weights", cycles.size(), weights.size());
  MC_VALIDATE(whiteners.empty() || whiteners.size() == cycles.size(),
              "pooled fit: {} cycles and {} whiteners", cycles.size(), whiteners.size());
  double n_max = 0;
  for (std::size_t c = 0; c < cycles.size(); ++c) {
    MC_VALIDATE(cycles[c]->k.size() >= 2 && cycles[c]->k.size() == cycles[c]->G.size(),
                "pooled fit: a cycle has {} reads", cycles[c]->k.size());
    MC_VALIDATE(whiteners.empty() || whiteners[c]->size() == cycles[c]->k.size(),
                "pooled fit: whitener of {} reads for a cycle of {}", whiteners[c]->size(),
                cycles[c]->k.size());
    n_max = std::max(n_max, cycles[c]->k.back());
  }
  const auto n_tab = static_cast<std::size_t>(std::lround(n_max)) + 1;
  std::vector<double> e_tab(n_tab), u_tab(n_tab);
  // Per cycle: the (whitened) data, and scratch for the (whitened) regressors.
  std::vector<std::vector<double>> y(cycles.size()), e(cycles.size()), u(cycles.size());
  for (std::size_t c = 0; c < cycles.size(); ++c) {
    const std::size_t m = cycles[c]->k.size();
    y[c] = cycles[c]->G;
    if (!whiteners.empty()) whiteners[c]->whiten(cycles[c]->G, y[c]);
    e[c].resize(m);
    u[c].resize(m);
  }
  struct Sums {
    double E2 = 0, EY = 0, EU = 0, YU = 0, UU = 0;
  };
  std::vector<Sums> sums(cycles.size());
  struct Solution {
    double a = 0, rss = HUGE_VAL;
    bool at_floor = false;
  };
  const auto solve = [&](double A, std::vector<double>* starts) {
    for (std::size_t k = 1; k < n_tab; ++k) {
      e_tab[k] = std::exp(-static_cast<double>(k) / A);
      u_tab[k] = -std::expm1(-static_cast<double>(k) / A);
    }
    double num = 0, den = 0;
    for (std::size_t c = 0; c < cycles.size(); ++c) {
      const auto& cy = *cycles[c];
      for (std::size_t i = 0; i < cy.k.size(); ++i) {
        const auto k = static_cast<std::size_t>(std::lround(cy.k[i]));
        e[c][i] = e_tab[k];
        u[c][i] = u_tab[k];
      }
      if (!whiteners.empty()) {
        whiteners[c]->whiten(e[c], e[c]);
        whiteners[c]->whiten(u[c], u[c]);
      }
      Sums s;
      for (std::size_t i = 0; i < cy.k.size(); ++i) {
        s.E2 += e[c][i] * e[c][i];
        s.EY += e[c][i] * y[c][i];
        s.EU += e[c][i] * u[c][i];
        s.YU += y[c][i] * u[c][i];
        s.UU += u[c][i] * u[c][i];
      }
      sums[c] = s;
      if (s.E2 > 0) {
        num += weights[c] * (s.YU - s.EY * s.EU / s.E2);
        den += weights[c] * (s.UU - s.EU * s.EU / s.E2);
      } else {
        num += weights[c] * s.YU;
        den += weights[c] * s.UU;
      }
    }
    Solution sol;
    if (!(den > 0)) return sol;
    sol.a = num / den;
    if (sol.a < floor) {
      sol.a = floor;
      sol.at_floor = true;
    }
    sol.rss = 0;
    if (starts) starts->resize(cycles.size());
    for (std::size_t c = 0; c < cycles.size(); ++c) {
      const auto& s = sums[c];
      const double start = s.E2 > 0 ? (s.EY - sol.a * s.EU) / s.E2 : sol.a;
      if (starts) (*starts)[c] = start;
      double rss = 0;
      for (std::size_t i = 0; i < y[c].size(); ++i) {
        const double r = y[c][i] - sol.a * u[c][i] - start * e[c][i];
        rss += r * r;
      }
      sol.rss += weights[c] * rss;
    }
    return sol;
  };
  const double t_lo = std::log(kCycleMinA), t_hi = std::log(kCycleMaxAPerPulse * n_max);
  const auto profile = [&](double t) { return solve(std::exp(t), nullptr).rss; };
  ProfileMinimum best;
  bool searched = false;
  if (std::isfinite(A_hint) && A_hint > 0) {
    // A narrow search around the hint (bootstrap replicates), unless the minimum is at its edge.
    const double lo = std::max(t_lo, std::log(A_hint) - 1),
                 hi = std::min(t_hi, std::log(A_hint) + 1);
    if (lo < hi) {
      best = minimize_profile(profile, lo, hi, 9);
      searched = (best.t - lo > kAtBound || lo == t_lo) && (hi - best.t > kAtBound || hi == t_hi);
    }
  }
  if (!searched) best = minimize_profile(profile, t_lo, t_hi);
  PooledFit f;
  f.A_pulses = std::exp(best.t);
  const Solution sol = solve(f.A_pulses, &f.starts);
  f.asymptote = sol.a;
  f.rss = sol.rss;
  f.at_floor = sol.at_floor;
  f.shape = best.t - t_lo < kAtBound   ? CycleShape::saturated
            : t_hi - best.t < kAtBound ? CycleShape::linear
                                       : CycleShape::fitted;
  return f;
}

ResidualVariance residual_variance(const CycleReads& c, const CycleFit& fit, double r) {
  MC_VALIDATE(std::isfinite(fit.A_pulses), "residual variance of a cycle without a fitted A");
  MC_VALIDATE(r >= 0 && r <= 1, "walk damping r = {} must be in [0, 1]", r);
  const std::size_t m = c.k.size();
  const double A = fit.A_pulses;
  // Columns of the Jacobian of the fitted curve in its free parameters: a (unless held at the
  // floor), s, and ln A (unless on a bound of its search).
  std::vector<std::vector<double>> columns;
  std::vector<double> e(m), u(m), dA(m), mu(m);
  for (std::size_t i = 0; i < m; ++i) {
    e[i] = std::exp(-c.k[i] / A);
    u[i] = -std::expm1(-c.k[i] / A);
    dA[i] = (fit.start - fit.asymptote) * e[i] * c.k[i] / A;
    mu[i] = fit.G(c.k[i]);
  }
  if (!fit.at_floor) columns.push_back(u);
  columns.push_back(e);
  if (fit.shape == CycleShape::fitted) columns.push_back(dA);
  // Orthonormal basis Q of their span (modified Gram-Schmidt, twice for stability).
  std::vector<std::vector<double>> Q;
  for (auto v : columns) {
    double norm0 = 0;
    for (double x : v) norm0 += x * x;
    norm0 = std::sqrt(norm0);
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& q : Q) {
        double dot = 0;
        for (std::size_t i = 0; i < m; ++i) dot += q[i] * v[i];
        for (std::size_t i = 0; i < m; ++i) v[i] -= dot * q[i];
      }
    double norm = 0;
    for (double x : v) norm += x * x;
    norm = std::sqrt(norm);
    if (!(norm > 1e-10 * norm0)) continue;
    for (double& x : v) x /= norm;
    Q.push_back(std::move(v));
  }
  const std::size_t p = Q.size();
  // Walk covariance: Cov(xi_i, xi_j) = r^|k_i - k_j| S(min(k_i, k_j)), S(n) = sum_{j<n} r^{2j}.
  const auto n_tab = static_cast<std::size_t>(std::lround(c.k.back())) + 1;
  std::vector<double> r_pow(n_tab), S(n_tab);
  const double ln_r = std::log(r);
  for (std::size_t d = 0; d < n_tab; ++d) {
    const double x = static_cast<double>(d);
    r_pow[d] = std::pow(r, x);
    S[d] = r == 1.0
               ? x
               : (r == 0.0 ? (d > 0 ? 1.0 : 0.0) : std::expm1(2 * x * ln_r) / std::expm1(2 * ln_r));
  }
  std::vector<std::size_t> k(m);
  for (std::size_t i = 0; i < m; ++i) k[i] = static_cast<std::size_t>(std::lround(c.k[i]));
  std::vector<double> P(p * m, 0.0);  // (Sigma Q)^T, row a = column a of Sigma Q
  for (std::size_t i = 0; i < m; ++i)
    for (std::size_t j = 0; j < m; ++j) {
      const double s = r_pow[k[i] > k[j] ? k[i] - k[j] : k[j] - k[i]] * S[std::min(k[i], k[j])];
      for (std::size_t a = 0; a < p; ++a) P[a * m + i] += s * Q[a][j];
    }
  std::vector<double> M(p * p, 0.0), MR(p * p, 0.0);  // Q^T Sigma Q for walk and read
  for (std::size_t a = 0; a < p; ++a)
    for (std::size_t b = 0; b < p; ++b)
      for (std::size_t i = 0; i < m; ++i) {
        M[a * p + b] += Q[a][i] * P[b * m + i];
        MR[a * p + b] += Q[a][i] * mu[i] * mu[i] * Q[b][i];
      }
  ResidualVariance out;
  out.walk.resize(m);
  out.read.resize(m);
  for (std::size_t i = 0; i < m; ++i) {
    double w = S[k[i]], rd = mu[i] * mu[i];
    for (std::size_t a = 0; a < p; ++a) {
      w -= 2 * Q[a][i] * P[a * m + i];
      rd -= 2 * Q[a][i] * mu[i] * mu[i] * Q[a][i];
      for (std::size_t b = 0; b < p; ++b) {
        w += Q[a][i] * M[a * p + b] * Q[b][i];
        rd += Q[a][i] * MR[a * p + b] * Q[b][i];
      }
    }
    out.walk[i] = std::max(w, 0.0);
    out.read[i] = std::max(rd, 0.0);
  }
  return out;
}

namespace {

// --- the analysis of one data set -----------------------------------------------------------

struct Cycle {
  std::size_t device = 0, index = 0;  // in the data
  Polarity polarity = Polarity::potentiation;
  CycleReads reads;
  // The cycle's own fit, without the floor on the asymptote: the per-cycle values are
  // measurements of the cycle's shape (and the residual variance of a least-squares fit is known,
  // residual_variance, only when no bound is active); the floor applies to the pooled fits.
  CycleFit fit;
  bool usable = false;  // enters the pooled fits and the noise model
  ResidualVariance components;
  std::vector<double> r2;                 // squared residuals of the cycle's own fit, per read
  std::optional<CycleWhitener> whitener;  // the fitted noise, for the pooled fits
};

struct Dataset {
  std::string source;
  std::size_t n_dev = 0, n_cycle = 0, n_pulse = 0;
  double offset = 0;  // added to normalised data (G_units "1")
  bool normalised = false;
  std::vector<Cycle> cycles;
  std::vector<std::size_t> devices;  // devices with usable cycles of both polarities
  // Per used device (same order as `devices`): its usable cycles of each polarity.
  std::vector<std::vector<std::size_t>> usable_p, usable_d;
  std::size_t too_short = 0;  // cycles with 1-3 reads, left out
};

// The floor of the asymptotes, in the working units: a conductance cannot relax below 0 S.
constexpr double kFloor = 0.0;

// Every quantity the calibration reports, in this order (the bootstrap's columns).
enum Value : std::size_t {
  v_g_min_per_area,
  v_g_max_per_area,
  v_k0_p,
  v_k0_d,
  v_sigma_c2c,
  v_sigma_read,
  v_sigma_area,
  v_sigma_range,
  v_sigma_k0_p,
  v_sigma_k0_d,
  v_G_min,
  v_G_max,
  v_A_p,
  v_A_d,
  v_sd_A_p,
  v_sd_A_d,
  v_sd_G_max,
  v_sd_G_min,
  kNumValues
};

// A selection of the data: devices (with repetition) and, per device, cycles (with repetition).
struct DeviceDraw {
  std::size_t device = 0;         // index into Dataset::devices
  std::vector<std::size_t> p, d;  // cycle ids
};
using Selection = std::vector<DeviceDraw>;

Selection identity_selection(const Dataset& ds) {
  Selection s;
  for (std::size_t i = 0; i < ds.devices.size(); ++i)
    s.push_back({i, ds.usable_p[i], ds.usable_d[i]});
  return s;
}

// Aggregated squared residuals and their expected components, per polarity and pulse index.
struct NoiseSums {
  std::array<std::vector<double>, 2> count, r2, walk, read;
  explicit NoiseSums(std::size_t n_pulse) {
    for (auto* v : {&count, &r2, &walk, &read})
      for (auto& x : *v) x.assign(n_pulse + 1, 0.0);
  }
};

struct NoiseFit {
  double sigma_c2c = kNaN, sigma_read = kNaN;
  bool noise_free = false;
  bool converged = true;
};

// Method of moments on the mean squared residual per pulse index: minimises the Gaussian
// quasi-likelihood sum_k n_k [ln v_k + m_k / v_k] with v_k = sigma_c2c^2 W_k + sigma_read^2 R_k
// linear in the two variances, whose estimating equation is unbiased (E m_k = v_k at the truth)
// whatever the correlation between reads. NLopt (subplex) over the variances scaled by their
// one-component values, so that both are of order one.
NoiseFit fit_noise(const NoiseSums& s, double signal_range) {
  double tr2 = 0, tw = 0, trd = 0, tn = 0;
  for (std::size_t p = 0; p < 2; ++p)
    for (std::size_t k = 0; k < s.count[p].size(); ++k) {
      tr2 += s.r2[p][k];
      tw += s.walk[p][k];
      trd += s.read[p][k];
      tn += s.count[p][k];
    }
  NoiseFit f;
  if (!(tn > 0) || std::sqrt(tr2 / tn) <= 1e-7 * signal_range) {
    f.sigma_c2c = f.sigma_read = 0;
    f.noise_free = true;
    return f;
  }
  const double alpha0 = tw > 0 ? tr2 / tw : 0, beta0 = trd > 0 ? tr2 / trd : 0;
  const auto objective = [&](std::span<const double> x) {
    double value = 0;
    for (std::size_t p = 0; p < 2; ++p)
      for (std::size_t k = 0; k < s.count[p].size(); ++k) {
        const double n = s.count[p][k];
        if (!(n > 0)) continue;
        const double v = (alpha0 * x[0] * s.walk[p][k] + beta0 * x[1] * s.read[p][k]) / n;
        if (!(v > 0)) return HUGE_VAL;
        value += n * (std::log(v) + s.r2[p][k] / n / v);
      }
    return value;
  };
  MinimizeOptions mo;
  mo.method = MinimizeMethod::subplex;
  mo.x_tol_rel = 1e-9;
  mo.initial_step = {0.2, 0.2};
  const auto r =
      minimize(objective, {0.5, 0.5}, {0.0, 0.0}, {20.0, 20.0}, mo, "pulse-train noise fit");
  f.sigma_c2c = std::sqrt(alpha0 * r.x[0]);
  f.sigma_read = std::sqrt(beta0 * r.x[1]);
  f.converged = r.converged;
  return f;
}

// One-way random-effects analysis of variance by group (unbalanced, method of moments: Searle,
// Casella & McCulloch, Variance Components (1992), §3.5). `within` is the within-group mean
// square, `between` the between-group variance component (may be negative: clip it).
struct VarianceComponents {
  double within = kNaN, between = kNaN;
  std::size_t groups = 0, n = 0;
};
VarianceComponents one_way_anova(const std::vector<std::vector<double>>& groups,
                                 std::size_t min_per_group) {
  VarianceComponents vc;
  double N = 0, sum = 0, ssw = 0, sum_n2 = 0;
  std::vector<std::pair<double, double>> means;  // (n_i, mean_i)
  for (const auto& g : groups) {
    if (g.size() < min_per_group || g.empty()) continue;
    const double n = static_cast<double>(g.size());
    const double mean = std::accumulate(g.begin(), g.end(), 0.0) / n;
    for (double x : g) ssw += (x - mean) * (x - mean);
    means.push_back({n, mean});
    N += n;
    sum += n * mean;
    sum_n2 += n * n;
  }
  vc.groups = means.size();
  vc.n = static_cast<std::size_t>(N);
  const double a = static_cast<double>(vc.groups);
  if (N > a) vc.within = ssw / (N - a);
  if (vc.groups >= 2 && std::isfinite(vc.within)) {
    const double grand = sum / N;
    double ssb = 0;
    for (const auto& [n, mean] : means) ssb += n * (mean - grand) * (mean - grand);
    const double msb = ssb / (a - 1);
    const double n0 = (N - sum_n2 / N) / (a - 1);
    vc.between = (msb - vc.within) / n0;
  }
  return vc;
}

// Geometric mean when every value is positive (the lognormal device-to-device model's median),
// arithmetic mean otherwise.
double central(const std::vector<double>& x) {
  bool positive = true;
  for (double v : x) positive = positive && v > 0;
  double s = 0;
  for (double v : x) s += positive ? std::log(v) : v;
  s /= static_cast<double>(x.size());
  return positive ? std::exp(s) : s;
}

// Unique ids of a multiset and their multiplicities.
void unique_weights(std::vector<std::size_t> ids, std::vector<std::size_t>& unique,
                    std::vector<double>& weights) {
  std::sort(ids.begin(), ids.end());
  unique.clear();
  weights.clear();
  for (std::size_t id : ids) {
    if (!unique.empty() && unique.back() == id) {
      weights.back() += 1;
    } else {
      unique.push_back(id);
      weights.push_back(1);
    }
  }
}

PooledFit pool(const Dataset& ds, const std::vector<std::size_t>& ids, Polarity polarity,
               double A_hint = kNaN) {
  std::vector<std::size_t> unique;
  std::vector<double> weights;
  unique_weights(ids, unique, weights);
  std::vector<const CycleReads*> cycles;
  std::vector<const CycleWhitener*> whiteners;
  for (std::size_t id : unique) {
    cycles.push_back(&ds.cycles[id].reads);
    if (ds.cycles[id].whitener) whiteners.push_back(&*ds.cycles[id].whitener);
  }
  if (whiteners.size() != cycles.size()) whiteners.clear();
  return fit_pooled(cycles, weights, polarity, kFloor, whiteners, A_hint);
}

// The noise fit of a selection, with B per draw.
NoiseFit fit_noise_of(const Dataset& ds, const Selection& sel, const std::vector<double>& B) {
  NoiseSums sums(ds.n_pulse);
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (std::size_t j = 0; j < sel.size(); ++j) {
    const double B2 = B[j] * B[j];
    for (int pol = 0; pol < 2; ++pol)
      for (std::size_t id : pol == 0 ? sel[j].p : sel[j].d) {
        const auto& c = ds.cycles[id];
        for (std::size_t i = 0; i < c.reads.k.size(); ++i) {
          const auto k = static_cast<std::size_t>(std::lround(c.reads.k[i]));
          sums.count[pol][k] += 1;
          sums.r2[pol][k] += c.r2[i];
          sums.walk[pol][k] += B2 * c.components.walk[i];
          sums.read[pol][k] += c.components.read[i];
          lo = std::min(lo, c.reads.G[i]);
          hi = std::max(hi, c.reads.G[i]);
        }
      }
  }
  return fit_noise(sums, hi - lo);
}

// The base configuration whose pulses, kinetics and area turn (G_min, G_max, A_p, A_d) into
// the memristor's keys (MemristorModel::from_abstraction).
const MemristorConfig& base_config() {
  static const MemristorConfig base{};
  return base;
}

struct Estimates {
  std::array<double, kNumValues> v{};
  std::vector<PooledFit> pooled_p, pooled_d;  // per draw
  std::vector<double> B;                      // per draw
  NoiseFit noise;
  std::size_t d2d_groups = 0;  // devices in the device-to-device analysis
};

// hint: the estimates of the full data (bootstrap replicates start their searches there).
Estimates estimate(const Dataset& ds, const Selection& sel, const Estimates* hint = nullptr) {
  Estimates E;
  E.v.fill(kNaN);
  std::vector<double> A_p, A_d, a_p, a_d;
  for (const auto& draw : sel) {
    E.pooled_p.push_back(pool(ds, draw.p, Polarity::potentiation,
                              hint ? hint->pooled_p[draw.device].A_pulses : kNaN));
    E.pooled_d.push_back(
        pool(ds, draw.d, Polarity::depression, hint ? hint->pooled_d[draw.device].A_pulses : kNaN));
    A_p.push_back(E.pooled_p.back().A_pulses);
    A_d.push_back(E.pooled_d.back().A_pulses);
    a_p.push_back(E.pooled_p.back().asymptote);
    a_d.push_back(E.pooled_d.back().asymptote);
    const double B = a_p.back() - a_d.back();
    if (!(B > 0))
      throw Error(
          fmt::format("{}: device {}: the potentiation asymptote {:.6g} is not above the "
                      "depression asymptote {:.6g}",
                      ds.source, ds.devices[draw.device], a_p.back(), a_d.back()));
    E.B.push_back(B);
  }
  E.v[v_A_p] = central(A_p);
  E.v[v_A_d] = central(A_d);
  E.v[v_G_max] = central(a_p);
  E.v[v_G_min] = central(a_d);

  E.noise = fit_noise_of(ds, sel, E.B);
  E.v[v_sigma_c2c] = E.noise.sigma_c2c;
  E.v[v_sigma_read] = E.noise.sigma_read;

  // Spread over cycles (within devices) and over devices, from the per-cycle fits with A inside
  // its search range.
  std::vector<std::vector<double>> lnA_p(sel.size()), lnA_d(sel.size()), ap(sel.size()),
      ad(sel.size());
  for (std::size_t j = 0; j < sel.size(); ++j) {
    for (std::size_t id : sel[j].p) {
      const auto& f = ds.cycles[id].fit;
      if (f.shape != CycleShape::fitted) continue;
      lnA_p[j].push_back(std::log(f.A_pulses));
      ap[j].push_back(f.asymptote);
    }
    for (std::size_t id : sel[j].d) {
      const auto& f = ds.cycles[id].fit;
      if (f.shape != CycleShape::fitted) continue;
      lnA_d[j].push_back(std::log(f.A_pulses));
      ad[j].push_back(f.asymptote);
    }
  }
  const auto relative_within = [](const std::vector<std::vector<double>>& g) {
    const auto vc = one_way_anova(g, 1);
    double sum = 0, n = 0;
    for (const auto& x : g) {
      sum += std::accumulate(x.begin(), x.end(), 0.0);
      n += static_cast<double>(x.size());
    }
    const double mean = sum / n;
    return mean > 0 ? std::sqrt(vc.within) / mean : kNaN;
  };
  E.v[v_sd_A_p] = std::sqrt(one_way_anova(lnA_p, 1).within);
  E.v[v_sd_A_d] = std::sqrt(one_way_anova(lnA_d, 1).within);
  E.v[v_sd_G_max] = relative_within(ap);
  E.v[v_sd_G_min] = relative_within(ad);
  // Device to device: needs 3 devices with at least 2 fitted cycles each.
  const auto d2d = [](const VarianceComponents& vc) {
    return vc.groups >= 3 && std::isfinite(vc.between) ? std::sqrt(std::max(vc.between, 0.0))
                                                       : kNaN;
  };
  const auto vc_p = one_way_anova(lnA_p, 2), vc_d = one_way_anova(lnA_d, 2);
  E.v[v_sigma_k0_p] = d2d(vc_p);
  E.v[v_sigma_k0_d] = d2d(vc_d);
  // Area: the per-cycle depression asymptotes are too noisy (and may be <= 0) for logarithms;
  // the between-device sd of G_min relative to its mean is the lognormal sigma to first order.
  const auto vc_area = one_way_anova(ad, 2);
  {
    double sum = 0, n = 0;
    for (const auto& x : ad) {
      sum += std::accumulate(x.begin(), x.end(), 0.0);
      n += static_cast<double>(x.size());
    }
    const double mean = sum / n;
    E.v[v_sigma_area] = mean > 0 ? d2d(vc_area) / mean : kNaN;
  }
  E.d2d_groups = std::min(vc_p.groups, vc_d.groups);
  // Range: ln(mean a_p - mean a_d) per device, between-device variance less the mean sampling
  // variance of that log (delta method), less sigma_area^2.
  {
    std::vector<double> lnB, sampling;
    for (std::size_t j = 0; j < sel.size(); ++j) {
      if (ap[j].size() < 2 || ad[j].size() < 2) continue;
      const auto mean_var = [](const std::vector<double>& x) {
        const double n = static_cast<double>(x.size());
        const double m = std::accumulate(x.begin(), x.end(), 0.0) / n;
        double ss = 0;
        for (double v : x) ss += (v - m) * (v - m);
        return std::pair{m, ss / (n - 1) / n};
      };
      const auto [mp, vp] = mean_var(ap[j]);
      const auto [md, vd] = mean_var(ad[j]);
      const double B = mp - md;
      if (!(B > 0)) continue;
      lnB.push_back(std::log(B));
      sampling.push_back((vp + vd) / (B * B));
    }
    if (lnB.size() >= 3 && std::isfinite(E.v[v_sigma_area])) {
      const double n = static_cast<double>(lnB.size());
      const double m = std::accumulate(lnB.begin(), lnB.end(), 0.0) / n;
      double ss = 0;
      for (double x : lnB) ss += (x - m) * (x - m);
      const double var_B =
          ss / (n - 1) - std::accumulate(sampling.begin(), sampling.end(), 0.0) / n;
      E.v[v_sigma_range] = std::sqrt(std::max(var_B - E.v[v_sigma_area] * E.v[v_sigma_area], 0.0));
    }
  }

  // The memristor's keys.
  const auto& base = base_config();
  MemristorAbstraction abs;
  abs.G_min_S = E.v[v_G_min];
  abs.G_max_S = E.v[v_G_max];
  abs.A_p_pulses = E.v[v_A_p];
  abs.A_d_pulses = E.v[v_A_d];
  const auto model = MemristorModel::from_abstraction(abs, base);
  E.v[v_g_min_per_area] = model.config().g_min_per_area_S_per_m2;
  E.v[v_g_max_per_area] = model.config().g_max_per_area_S_per_m2;
  E.v[v_k0_p] = model.config().k0_p_per_s;
  E.v[v_k0_d] = model.config().k0_d_per_s;
  return E;
}

// Standardised recursive residuals of one cycle under the fitted noise model: a Kalman filter of
// the damped walk (in G units, step sd q = sigma_c2c B, damping r per pulse) plus read noise
// (sd sigma_read mu_k), augmented by the linear levels (a, s) of the cycle's curve at its fitted
// A (de Jong, Ann. Stat. 19, 1073 (1991): the diffuse augmented filter). Under the model the
// values are independent N(0, 1) (the first ones, which fix the levels, are dropped).
std::vector<double> recursive_residuals(const CycleReads& c, const CycleFit& f, double r, double q,
                                        double sigma_read) {
  std::vector<double> z;
  const std::size_t m = c.k.size();
  const std::size_t p = f.at_floor ? 1 : 2;
  double x_y = 0, P = 0;
  std::array<double, 2> x_X{0, 0};
  std::array<double, 4> Sxx{0, 0, 0, 0};
  std::array<double, 2> Sxy{0, 0};
  double prev = 0;
  std::size_t used = 0;
  const double ln_r = std::log(r);
  for (std::size_t i = 0; i < m; ++i) {
    const double delta = c.k[i] - prev;
    prev = c.k[i];
    const double r_d = std::pow(r, delta);
    const double S = r == 1.0 ? delta : std::expm1(2 * delta * ln_r) / std::expm1(2 * ln_r);
    x_y *= r_d;
    x_X[0] *= r_d;
    x_X[1] *= r_d;
    P = r_d * r_d * P + q * q * S;
    const double mu = f.G(c.k[i]);
    const double F = P + sigma_read * sigma_read * mu * mu;
    if (!(F > 0)) return {};
    const double e = std::exp(-c.k[i] / f.A_pulses);
    std::array<double, 2> X{};
    double y = c.G[i];
    if (f.at_floor) {
      X = {e, 0};
      y -= f.asymptote;
    } else {
      X = {-std::expm1(-c.k[i] / f.A_pulses), e};
    }
    const double v_y = y - x_y;
    const std::array<double, 2> v_X{X[0] - x_X[0], X[1] - x_X[1]};
    if (used >= p) {
      // beta from the reads before this one, and the variance of the prediction error.
      double nu = v_y, var = F;
      if (p == 1) {
        if (Sxx[0] > 0) {
          nu -= v_X[0] * Sxy[0] / Sxx[0];
          var += v_X[0] * v_X[0] / Sxx[0];
        }
      } else {
        const double det = Sxx[0] * Sxx[3] - Sxx[1] * Sxx[2];
        if (det > 1e-12 * Sxx[0] * Sxx[3]) {
          const double i00 = Sxx[3] / det, i01 = -Sxx[1] / det, i11 = Sxx[0] / det;
          const double b0 = i00 * Sxy[0] + i01 * Sxy[1], b1 = i01 * Sxy[0] + i11 * Sxy[1];
          nu -= v_X[0] * b0 + v_X[1] * b1;
          var += v_X[0] * (i00 * v_X[0] + i01 * v_X[1]) + v_X[1] * (i01 * v_X[0] + i11 * v_X[1]);
        }
      }
      z.push_back(nu / std::sqrt(var));
    }
    Sxx[0] += v_X[0] * v_X[0] / F;
    Sxx[1] += v_X[0] * v_X[1] / F;
    Sxx[2] += v_X[1] * v_X[0] / F;
    Sxx[3] += v_X[1] * v_X[1] / F;
    Sxy[0] += v_X[0] * v_y / F;
    Sxy[1] += v_X[1] * v_y / F;
    ++used;
    const double K = P / F;
    x_y += K * v_y;
    x_X[0] += K * v_X[0];
    x_X[1] += K * v_X[1];
    P *= 1 - K;
  }
  return z;
}

// Reads, validates and fits every cycle of the data set; pooled fits per device and polarity
// set the walk damping of the residual components.
Dataset prepare(const PulseTrainData& data, const std::string& source) {
  Dataset ds;
  ds.source = source;
  MC_VALIDATE(data.G.shape.size() == 3,
              "{}: G must be [n_dev, n_cycle, n_pulse], has {} dimensions", source,
              data.G.shape.size());
  ds.n_dev = data.G.shape[0];
  ds.n_cycle = data.G.shape[1];
  ds.n_pulse = data.G.shape[2];
  MC_VALIDATE(ds.n_dev >= 1 && ds.n_cycle >= 1 && ds.n_pulse >= 1,
              "{}: empty pulse train ({} devices x {} cycles x {} pulses)", source, ds.n_dev,
              ds.n_cycle, ds.n_pulse);
  MC_VALIDATE(ds.n_pulse >= 4,
              "{}: {} pulses per cycle; the per-cycle fit of G_k = a + (s - a) exp(-k/A) needs at "
              "least 4",
              source, ds.n_pulse);
  MC_VALIDATE(data.polarity.size() == ds.n_cycle, "{}: {} polarities for {} cycles", source,
              data.polarity.size(), ds.n_cycle);
  for (std::size_t c = 0; c < ds.n_cycle; ++c)
    MC_VALIDATE(data.polarity[c] == 1 || data.polarity[c] == -1,
                "{}: polarity[{}] = {} must be +1 or -1", source, c, data.polarity[c]);
  MC_VALIDATE(data.G_units == "S" || data.G_units == "1", "{}: G units '{}' must be 'S' or '1'",
              source, data.G_units);
  ds.normalised = data.G_units == "1";
  double lo = HUGE_VAL, hi = -HUGE_VAL;
  for (std::size_t d = 0; d < ds.n_dev; ++d) {
    std::size_t finite = 0;
    for (std::size_t c = 0; c < ds.n_cycle; ++c)
      for (std::size_t k = 0; k < ds.n_pulse; ++k) {
        const double g = data.G(d, c, k);
        if (std::isinf(g))
          throw InputError(fmt::format("{}: G[{}, {}, {}] is infinite", source, d, c, k));
        if (std::isnan(g)) continue;
        ++finite;
        lo = std::min(lo, g);
        hi = std::max(hi, g);
        MC_VALIDATE(ds.normalised || g >= 0,
                    "{}: G[{}, {}, {}] = {} S is negative (a conductance in S must be >= 0; "
                    "normalised data use G units '1')",
                    source, d, c, k, g);
      }
    MC_VALIDATE(finite > 0, "{}: device {} has no finite conductance (all NaN)", source, d);
  }
  // Normalised data have no origin: shift them into [R, 2R] (R = their range) so that the
  // asymptote floor at 0 and the relative read noise have a place to stand.
  if (ds.normalised) ds.offset = (hi - lo) - lo;

  std::vector<double> row(ds.n_pulse);
  for (std::size_t d = 0; d < ds.n_dev; ++d)
    for (std::size_t c = 0; c < ds.n_cycle; ++c) {
      for (std::size_t k = 0; k < ds.n_pulse; ++k) row[k] = data.G(d, c, k) + ds.offset;
      Cycle cy;
      cy.device = d;
      cy.index = c;
      cy.polarity = data.polarity[c] > 0 ? Polarity::potentiation : Polarity::depression;
      cy.reads = cycle_reads(row);
      if (cy.reads.k.empty()) continue;
      if (cy.reads.k.size() < 4) {
        ++ds.too_short;
        continue;
      }
      cy.fit = fit_cycle(cy.reads, cy.polarity);
      cy.usable = cy.fit.shape != CycleShape::flat && cy.fit.shape != CycleShape::wrong_direction;
      ds.cycles.push_back(std::move(cy));
    }
  for (std::size_t d = 0; d < ds.n_dev; ++d) {
    std::vector<std::size_t> p, q;
    for (std::size_t i = 0; i < ds.cycles.size(); ++i) {
      const auto& c = ds.cycles[i];
      if (c.device != d || !c.usable) continue;
      (c.polarity == Polarity::potentiation ? p : q).push_back(i);
    }
    if (p.empty() || q.empty()) continue;
    ds.devices.push_back(d);
    ds.usable_p.push_back(std::move(p));
    ds.usable_d.push_back(std::move(q));
  }
  if (ds.devices.empty()) {
    std::map<std::string, std::size_t> shapes;
    for (const auto& c : ds.cycles)
      ++shapes[fmt::format("{} {}", name_of(c.polarity), to_string(c.fit.shape))];
    std::string what;
    for (const auto& [k, n] : shapes)
      what += fmt::format("{}{} {}", what.empty() ? "" : ", ", n, k);
    if (ds.too_short)
      what += fmt::format("{}{} with fewer than 4 reads", what.empty() ? "" : ", ", ds.too_short);
    throw InputError(fmt::format(
        "{}: no device has both a potentiation and a depression cycle that can be fitted "
        "(cycles: {})",
        source, what.empty() ? "none" : what));
  }
  // Squared residuals of the cycles' own fits.
  for (auto& c : ds.cycles) {
    if (!c.usable) continue;
    c.r2.resize(c.reads.k.size());
    for (std::size_t i = 0; i < c.reads.k.size(); ++i) {
      const double e = c.reads.G[i] - c.fit.G(c.reads.k[i]);
      c.r2[i] = e * e;
    }
  }
  // Pooled fits (ordinary least squares first, then generalised under the fitted noise) set the
  // walk damping r of the residual components and the range B; the components give the noise;
  // the noise gives the weights of the next round.
  const Selection all = identity_selection(ds);
  for (int round = 0; round < 3; ++round) {
    std::vector<double> B(all.size());
    std::vector<std::array<double, 2>> r(all.size());
    for (std::size_t j = 0; j < all.size(); ++j) {
      const auto pp = pool(ds, all[j].p, Polarity::potentiation);
      const auto pd = pool(ds, all[j].d, Polarity::depression);
      B[j] = pp.asymptote - pd.asymptote;
      MC_VALIDATE(B[j] > 0,
                  "{}: device {}: the potentiation asymptote {:.6g} is not above the "
                  "depression asymptote {:.6g}: not a potentiation/depression pulse train",
                  source, ds.devices[j], pp.asymptote, pd.asymptote);
      r[j] = {std::exp(-1.0 / pp.A_pulses), std::exp(-1.0 / pd.A_pulses)};
      for (int pol = 0; pol < 2; ++pol)
        for (std::size_t id : pol == 0 ? all[j].p : all[j].d) {
          auto& c = ds.cycles[id];
          c.components = residual_variance(c.reads, c.fit, r[j][pol]);
        }
    }
    const NoiseFit noise = fit_noise_of(ds, all, B);
    if (noise.noise_free || round == 2) break;
    for (std::size_t j = 0; j < all.size(); ++j)
      for (int pol = 0; pol < 2; ++pol)
        for (std::size_t id : pol == 0 ? all[j].p : all[j].d) {
          auto& c = ds.cycles[id];
          std::vector<double> read_var(c.reads.k.size());
          for (std::size_t i = 0; i < read_var.size(); ++i) {
            const double mu = c.fit.G(c.reads.k[i]);
            read_var[i] = noise.sigma_read * noise.sigma_read * mu * mu;
          }
          c.whitener.emplace(c.reads, r[j][pol], noise.sigma_c2c * B[j], read_var);
        }
  }
  return ds;
}

// A replicate of the data from the fitted model (parametric bootstrap): every usable cycle of
// every used device is redrawn around its pooled curve with the fitted walk and read noise, and
// refitted. The residual components of the original fits are kept.
Dataset simulate_replicate(const Dataset& ds, const Estimates& fit, RngStream& rng) {
  Dataset rep = ds;
  const double q_rel = fit.noise.sigma_c2c, s_read = fit.noise.sigma_read;
  for (std::size_t j = 0; j < ds.devices.size(); ++j)
    for (int pol = 0; pol < 2; ++pol) {
      const auto& ids = pol == 0 ? ds.usable_p[j] : ds.usable_d[j];
      const auto& pf = pol == 0 ? fit.pooled_p[j] : fit.pooled_d[j];
      const double r = std::exp(-1.0 / pf.A_pulses);
      const double q = q_rel * fit.B[j];
      // pool() sorted the ids; match the starts by the sorted order.
      std::vector<std::size_t> sorted = ids;
      std::sort(sorted.begin(), sorted.end());
      for (std::size_t n = 0; n < sorted.size(); ++n) {
        auto& c = rep.cycles[sorted[n]];
        const double s = pf.starts[n];
        double xi = 0, prev = 0;
        for (std::size_t i = 0; i < c.reads.k.size(); ++i) {
          for (double step = prev; step < c.reads.k[i]; step += 1)
            xi = r * xi + q * NormalDistribution::standard(rng);
          prev = c.reads.k[i];
          const double mu =
              pf.asymptote + (s - pf.asymptote) * std::exp(-c.reads.k[i] / pf.A_pulses);
          c.reads.G[i] = mu + xi + s_read * mu * NormalDistribution::standard(rng);
        }
        c.fit = fit_cycle(c.reads, c.polarity);
        for (std::size_t i = 0; i < c.reads.k.size(); ++i) {
          const double e = c.reads.G[i] - c.fit.G(c.reads.k[i]);
          c.r2[i] = e * e;
        }
      }
    }
  return rep;
}

// --- results --------------------------------------------------------------------------------

EstimatedParameter param(std::string key, std::string unit, std::string description, double value,
                         bool in_params) {
  EstimatedParameter p;
  p.key = std::move(key);
  p.unit = std::move(unit);
  p.description = std::move(description);
  p.estimate = value;
  p.in_params = in_params;
  return p;
}

std::string toml_text(const CalibrationResult& r) {
  std::string t = fmt::format("[{}]\n", r.model);
  for (const auto& e : r.params) t += fmt::format("{} = {}\n", e.key, e.value);
  return t;
}

// Per-cycle statistics compared in the round trip.
struct CycleStatistics {
  std::vector<double> A_p, A_d, G_mid_p, G_mid_d;
};
CycleStatistics cycle_statistics(const std::vector<Cycle>& cycles, std::size_t k_mid_p,
                                 std::size_t k_mid_d) {
  CycleStatistics s;
  for (const auto& c : cycles) {
    const bool p = c.polarity == Polarity::potentiation;
    if (c.fit.shape == CycleShape::fitted) (p ? s.A_p : s.A_d).push_back(c.fit.A_pulses);
    const double k_mid = static_cast<double>(p ? k_mid_p : k_mid_d);
    for (std::size_t i = 0; i < c.reads.k.size(); ++i)
      if (c.reads.k[i] == k_mid) (p ? s.G_mid_p : s.G_mid_d).push_back(c.reads.G[i]);
  }
  return s;
}

std::string fmt_p(double p) { return std::isfinite(p) ? fmt::format("{:.3g}", p) : "n/a"; }

}  // namespace

CalibrationResult calibrate_pulse_train(const CalibrationInput& input,
                                        const CalibrationOptions& options) {
  MC_VALIDATE(input.set != nullptr, "calibrate pulse_train: no data set selected");
  const auto* data = std::get_if<PulseTrainData>(&input.set->body);
  if (!data)
    throw InputError(
        fmt::format("{} is kind '{}', but calibrate pulse_train needs kind pulse_train",
                    input.source(), kind_name(input.set->body)));
  const std::string source = input.source();
  const Dataset ds = prepare(*data, source);
  const Selection all = identity_selection(ds);
  const Estimates full = estimate(ds, all);
  const std::string unit = ds.normalised ? "1" : "S";
  const std::string per_area = ds.normalised ? "1/m^2" : "S/m^2";

  CalibrationResult r;
  r.kind = "pulse_train";
  r.source = source;
  r.model = "memristor";
  r.confidence = options.confidence;

  // Counts of cycle shapes, per polarity.
  std::array<std::map<CycleShape, std::size_t>, 2> shapes;
  std::array<std::size_t, 2> n_cycles{0, 0};
  for (const auto& c : ds.cycles) {
    const int pol = c.polarity == Polarity::potentiation ? 0 : 1;
    ++shapes[pol][c.fit.shape];
    ++n_cycles[pol];
  }
  // The independent units: devices when there are 3 or more; otherwise the cycles of each device
  // and polarity (given its start, a cycle's noise is independent of the other cycles'), and
  // when some device has fewer than 5 cycles of a polarity, too few to resample, the model.
  const bool resample_devices = ds.devices.size() >= 3;
  bool parametric = false;
  for (std::size_t j = 0; j < ds.devices.size() && !resample_devices; ++j)
    parametric = parametric || ds.usable_p[j].size() < 5 || ds.usable_d[j].size() < 5;

  r.method = fmt::format(
      "Each cycle with at least 4 reads is fitted by least squares with G_k = a + (s - a) "
      "exp(-k/A) (k = pulses since the cycle began; a = G_max for potentiation, G_min for "
      "depression; s = G before the cycle): for fixed A the model is linear in (a, s), solved in "
      "closed form (variable projection), and ln A is searched over [ln {}, ln({} n)] by a grid "
      "and "
      "Brent's method (Boost.Math). The per-pulse noise is fitted to the mean squared residual of "
      "these fits per pulse index: a random walk of w damped by 1 - gain per pulse (sigma_c2c, in "
      "units of B = G_max - G_min) plus relative read noise (sigma_read), with the part of the "
      "walk "
      "each cycle's own fit absorbs taken out exactly (diagonal of (I - H) Sigma (I - H), H the "
      "hat "
      "matrix of the linearised fit), by a Gaussian quasi-likelihood (NLopt). The cycles of one "
      "device and polarity are fitted jointly (shared A and a, one start per cycle) by generalised "
      "least squares under that noise (Kalman-filter whitening; ordinary least squares is biased "
      "by the walk), the depression asymptote held at >= 0, alternating with the noise fit for "
      "three rounds; G_min, G_max, A_p, A_d are geometric means over devices, and k0_p, k0_d, "
      "g_min_per_area, g_max_per_area follow by MemristorModel::from_abstraction with the default "
      "pulses, kinetics and area. Device-to-device sigmas come from one-way random-effects ANOVA "
      "by device of the per-cycle ln A and G_min (3 or more devices). Intervals: {}.",
      kCycleMinA, kCycleMaxAPerPulse,
      parametric ? "parametric bootstrap (too few cycles to resample: each replicate redraws every "
                   "cycle from the fitted model and refits)"
      : resample_devices ? "bootstrap resampling devices (with all their cycles)"
                         : "bootstrap resampling cycles within each device and polarity (devices "
                           "fixed: fewer than 3)");

  // Parameters, in the order of the Value columns.
  const double area = base_config().area_m2;
  const auto& v = full.v;
  r.parameters = {
      param("g_min_per_area", per_area,
            fmt::format("G_min per area at the base area {:g} m^2", area), v[v_g_min_per_area],
            true),
      param("g_max_per_area", per_area,
            fmt::format("G_max (window asymptote) per area at the base area {:g} m^2", area),
            v[v_g_max_per_area], true),
      param("k0_p", "1/s",
            "potentiation attempt rate giving A_p with the default pulses and kinetics", v[v_k0_p],
            true),
      param("k0_d", "1/s",
            "depression attempt rate giving A_d with the default pulses and kinetics", v[v_k0_d],
            true),
      param("sigma_c2c", "1", "std of the random change of w per pulse, fraction of G_max - G_min",
            v[v_sigma_c2c], true),
      param("sigma_read", "1", "relative read noise per read", v[v_sigma_read], true),
      param("sigma_area", "1", "device-to-device lognormal sigma of G_min (area)", v[v_sigma_area],
            true),
      param("sigma_range", "1", "device-to-device lognormal sigma of G_max - G_min beyond area",
            v[v_sigma_range], true),
      param("sigma_k0_p", "1", "device-to-device lognormal sigma of A_p (k0_p)", v[v_sigma_k0_p],
            true),
      param("sigma_k0_d", "1", "device-to-device lognormal sigma of A_d (k0_d)", v[v_sigma_k0_d],
            true),
      param("G_min", unit, "depression asymptote (geometric mean over devices)", v[v_G_min], false),
      param("G_max", unit, "potentiation asymptote (geometric mean over devices)", v[v_G_max],
            false),
      param("A_p", "pulses", "potentiation nonlinearity A_p (pulses)", v[v_A_p], false),
      param("A_d", "pulses", "depression nonlinearity A_d (pulses)", v[v_A_d], false),
      param("sd_cycle_ln_A_p", "1", "cycle-to-cycle (within-device) sd of the per-cycle ln A_p",
            v[v_sd_A_p], false),
      param("sd_cycle_ln_A_d", "1", "cycle-to-cycle (within-device) sd of the per-cycle ln A_d",
            v[v_sd_A_d], false),
      param("sd_cycle_G_max", "1",
            "cycle-to-cycle (within-device) relative sd of the per-cycle potentiation asymptote",
            v[v_sd_G_max], false),
      param("sd_cycle_G_min", "1",
            "cycle-to-cycle (within-device) relative sd of the per-cycle depression asymptote",
            v[v_sd_G_min], false),
  };
  auto& P = r.parameters;
  // Identification.
  bool p_upper = false, p_lower = false, d_upper = false, d_lower = false, d_floor = false;
  for (std::size_t j = 0; j < all.size(); ++j) {
    p_upper = p_upper || full.pooled_p[j].shape == CycleShape::linear;
    p_lower = p_lower || full.pooled_p[j].shape == CycleShape::saturated;
    d_upper = d_upper || full.pooled_d[j].shape == CycleShape::linear;
    d_lower = d_lower || full.pooled_d[j].shape == CycleShape::saturated;
    d_floor = d_floor || full.pooled_d[j].at_floor;
  }
  const auto unidentified = [&](std::size_t i, const std::string& note) {
    P[i].identified = false;
    P[i].note = note;
  };
  if (p_upper) {
    const std::string n = fmt::format(
        "potentiation does not saturate within a cycle: A_p sits on its search bound {} n and "
        "G_max "
        "is the extrapolation of a straight line to it (values reproduce the line, not a window)",
        kCycleMaxAPerPulse);
    for (auto i : {v_A_p, v_k0_p, v_G_max, v_g_max_per_area}) unidentified(i, n);
  }
  if (p_lower)
    for (auto i : {v_A_p, v_k0_p})
      unidentified(
          i, fmt::format("potentiation saturates within one pulse: A_p < {} pulses", kCycleMinA));
  if (d_upper) {
    const std::string n = fmt::format(
        "depression does not saturate within a cycle: A_d sits on its search bound {} n",
        kCycleMaxAPerPulse);
    for (auto i : {v_A_d, v_k0_d, v_G_min, v_g_min_per_area}) unidentified(i, n);
  }
  if (d_lower)
    for (auto i : {v_A_d, v_k0_d})
      unidentified(
          i, fmt::format("depression saturates within one pulse: A_d < {} pulses", kCycleMinA));
  if (p_upper || d_upper)
    P[v_sigma_c2c].note = fmt::format(
        "relative to a range B = G_max - G_min that rests on a search bound; the data determine "
        "the walk step sigma_c2c B = {:.4g} {}",
        v[v_sigma_c2c] * (v[v_G_max] - v[v_G_min]), unit);
  const bool few_devices = full.d2d_groups < 3;
  for (auto i : {v_sigma_area, v_sigma_range, v_sigma_k0_p, v_sigma_k0_d})
    if (few_devices || !std::isfinite(P[i].estimate)) {
      P[i].identified = false;
      P[i].estimate = 0;
      P[i].note = ds.devices.size() < 3
                      ? fmt::format(
                            "{} device(s): no device-to-device spread can be measured; 0 is "
                            "written so the simulated devices are copies of the nominal one",
                            ds.devices.size())
                      : "fewer than 3 devices with 2 or more cycles with A inside its search "
                        "range (or depression asymptotes <= 0 on average): 0 is written";
    }
  for (auto i : {v_sd_A_p, v_sd_A_d, v_sd_G_max, v_sd_G_min})
    if (!std::isfinite(P[i].estimate))
      unidentified(i,
                   "no device has two cycles with A inside its search range (or the "
                   "per-cycle asymptotes are <= 0 on average)");

  // Bootstrap.
  const auto replicates =
      run_bootstrap(options.bootstrap, options.seed, kNumValues, options.show_progress,
                    [&](RngStream& rng, std::span<double> out) {
                      Estimates e;
                      if (parametric) {
                        const Dataset rep = simulate_replicate(ds, full, rng);
                        e = estimate(rep, identity_selection(rep), &full);
                      } else {
                        Selection sel;
                        if (resample_devices) {
                          // Devices are the independent units; their cycles stay together, so the
                          // spread between devices is not inflated by resampled within-device noise
                          // (Davison & Hinkley, Bootstrap Methods (1997), §3.8).
                          for (std::uint32_t j : resample_indices(all.size(), rng))
                            sel.push_back(all[j]);
                        } else {
                          sel = all;
                          for (auto& draw : sel)
                            for (auto* ids : {&draw.p, &draw.d}) {
                              std::vector<std::size_t> drawn;
                              for (std::uint32_t i : resample_indices(ids->size(), rng))
                                drawn.push_back((*ids)[i]);
                              *ids = std::move(drawn);
                            }
                        }
                        e = estimate(ds, sel, &full);
                      }
                      std::copy(e.v.begin(), e.v.end(), out.begin());
                    });
  attach_intervals(r, replicates);

  // Notes on the cycles.
  if (ds.normalised)
    r.notes.push_back(fmt::format(
        "G units '1' (normalised data): the values were shifted by {:+.6g} into [R, 2R] (R their "
        "range) and are written as if in S; unit and origin are arbitrary (shape only), and "
        "sigma_read, relative to the shifted values, depends on that choice",
        ds.offset));
  for (int pol = 0; pol < 2; ++pol) {
    std::string what;
    for (const auto& [shape, n] : shapes[pol])
      what += fmt::format("{}{} {}", what.empty() ? "" : ", ", n, to_string(shape));
    r.notes.push_back(fmt::format("{}: {} cycles with 4 or more reads ({})",
                                  pol == 0 ? "potentiation" : "depression", n_cycles[pol], what));
    const auto acc =
        shapes[pol].count(CycleShape::accelerating) ? shapes[pol].at(CycleShape::accelerating) : 0;
    if (acc > 0)
      r.notes.push_back(fmt::format(
          "{} of {} {} cycles accelerate (their steps grow as the cycle goes on): the window "
          "model, "
          "whose steps shrink towards the bound, cannot describe them; their best fit is the "
          "straight line at A = {} n",
          acc, n_cycles[pol], pol == 0 ? "potentiation" : "depression", kCycleMaxAPerPulse));
    const auto bad = (shapes[pol].count(CycleShape::flat) ? shapes[pol].at(CycleShape::flat) : 0) +
                     (shapes[pol].count(CycleShape::wrong_direction)
                          ? shapes[pol].at(CycleShape::wrong_direction)
                          : 0);
    if (bad > 0)
      r.notes.push_back(fmt::format("{} {} cycles are flat or move the wrong way and are left out",
                                    bad, pol == 0 ? "potentiation" : "depression"));
  }
  if (!full.noise.converged)
    r.notes.push_back(
        "the noise fit stopped at its evaluation limit: sigma_c2c and sigma_read may "
        "not be at the optimum");
  if (ds.too_short > 0)
    r.notes.push_back(fmt::format("{} cycles with fewer than 4 reads are left out", ds.too_short));
  if (ds.devices.size() < ds.n_dev)
    r.notes.push_back(
        fmt::format("{} of {} devices have no usable cycle of one polarity and are "
                    "left out",
                    ds.n_dev - ds.devices.size(), ds.n_dev));
  if (d_floor)
    r.notes.push_back(
        "the depression curves, extrapolated, would cross 0: G_min is held at the "
        "bound 0 (a conductance cannot relax below zero), and A_d is fitted under it");
  r.notes.push_back(
      "each cycle's own fit (start, level, A) absorbs part of the random walk of w, so the raw "
      "residual variance grows more slowly than sigma_c2c^2 B^2 sum_j r^2j; the noise fit uses the "
      "exact expected residual variance of the linearised fit instead (figure pulse_train_noise: "
      "the dashed line is the unabsorbed walk), so sigma_c2c is not biased low by the refitting");
  {
    bool alternating = true;
    for (std::size_t c = 0; c < ds.n_cycle; ++c)
      alternating = alternating && data->polarity[c] == (c % 2 == 0 ? 1 : -1);
    if (!alternating)
      r.notes.push_back(
          "the data's cycles do not alternate potentiation/depression starting with "
          "potentiation, as `device simulate memristor` does; per-cycle fits do not "
          "depend on the order (each cycle has its own start), the round trip's G at "
          "mid-cycle does");
  }

  // Goodness of fit: recursive residuals, per-cycle A against lognormal.
  const boost::math::normal_distribution<double> std_normal(0.0, 1.0);
  const CdfFunction normal_cdf = [&](double x) { return boost::math::cdf(std_normal, x); };
  const CdfFunction normal_sf = [&](double x) {
    return boost::math::cdf(boost::math::complement(std_normal, x));
  };
  std::vector<double> z;
  if (!full.noise.noise_free) {
    for (std::size_t j = 0; j < all.size(); ++j)
      for (int pol = 0; pol < 2; ++pol) {
        const auto& ids = pol == 0 ? all[j].p : all[j].d;
        const double A = pol == 0 ? full.pooled_p[j].A_pulses : full.pooled_d[j].A_pulses;
        for (std::size_t id : ids) {
          const auto& c = ds.cycles[id];
          const auto zc =
              recursive_residuals(c.reads, c.fit, std::exp(-1.0 / A),
                                  full.noise.sigma_c2c * full.B[j], full.noise.sigma_read);
          z.insert(z.end(), zc.begin(), zc.end());
        }
      }
  }
  if (z.size() >= 3) {
    GoodnessOfFit g;
    g.what = "standardised recursive residuals of every cycle vs N(0,1)";
    g.ks = kolmogorov_smirnov(z, normal_cdf);
    g.ad = anderson_darling(z, normal_cdf, normal_sf);
    g.note =
        "Kalman filter of the fitted walk + read noise with each cycle's levels as regressors: "
        "independent N(0,1) under the model; A, sigma_c2c, sigma_read are estimated, so the "
        "p-values are approximate";
    r.gof.push_back(g);
    if (g.ks.p_value < 0.01 || g.ad.p_value < 0.01)
      r.notes.push_back(fmt::format(
          "the model does not fit the per-pulse behaviour: the standardised residuals are not "
          "normal (KS p = {}, AD p = {}, n = {})",
          fmt_p(g.ks.p_value), fmt_p(g.ad.p_value), z.size()));
  } else {
    r.notes.push_back("no residual goodness of fit: the data are noise-free (or too few reads)");
  }
  std::array<std::vector<double>, 2> A_cycles;
  for (const auto& draw : all)
    for (int pol = 0; pol < 2; ++pol)
      for (std::size_t id : pol == 0 ? draw.p : draw.d)
        if (ds.cycles[id].fit.shape == CycleShape::fitted)
          A_cycles[pol].push_back(ds.cycles[id].fit.A_pulses);
  std::array<std::optional<DistributionFit>, 2> A_lognormal;
  for (int pol = 0; pol < 2; ++pol) {
    const char* name = pol == 0 ? "A_p" : "A_d";
    const auto& x = A_cycles[pol];
    const bool distinct = x.size() >= 3 && *std::min_element(x.begin(), x.end()) <
                                               *std::max_element(x.begin(), x.end());
    if (!distinct) {
      r.notes.push_back(
          fmt::format("no distribution check of the per-cycle {}: {} cycles with A inside "
                      "its search range",
                      name, x.size()));
      continue;
    }
    A_lognormal[pol] = fit_lognormal(x);
    GoodnessOfFit g;
    g.what = fmt::format("per-cycle {} vs fitted lognormal", name);
    g.ks = A_lognormal[pol]->ks;
    g.ad = A_lognormal[pol]->ad;
    g.note = "lognormal fitted to the same values (maximum likelihood): p-values conservative";
    r.gof.push_back(g);
    if (g.ks.p_value < 0.01 || g.ad.p_value < 0.01)
      r.notes.push_back(fmt::format("the per-cycle {} are not lognormal (KS p = {}, AD p = {})",
                                    name, fmt_p(g.ks.p_value), fmt_p(g.ad.p_value)));
  }

  // PARAMS.toml.
  add_params_from_estimates(r);
  const auto& base = base_config();
  r.params.push_back(
      params_entry("area", base.area_m2, "m^2, base area: g_*_per_area are G_min, G_max over it"));
  r.params.push_back(params_entry("V_p", base.V_p_V, "V, base pulse (k0_p is relative to it)"));
  r.params.push_back(params_entry("tau_p", base.tau_p_s, "s, base pulse width"));
  r.params.push_back(params_entry("V_d", base.V_d_V, "V, base pulse (k0_d is relative to it)"));
  r.params.push_back(params_entry("tau_d", base.tau_d_s, "s, base pulse width"));
  r.params.push_back(params_entry("V0_p", base.V0_p_V, "V, base kinetics"));
  r.params.push_back(params_entry("V0_d", base.V0_d_V, "V, base kinetics"));
  r.params.push_back(params_entry("E_a", base.E_a_eV, "eV, base kinetics"));
  r.params.push_back(params_entry("temperature", base.temperature_K, "K, base kinetics"));
  r.params.push_back(params_entry("p_stuck_off", 0.0, "not estimated: no stuck devices"));
  r.params.push_back(params_entry("p_stuck_on", 0.0, "not estimated: no stuck devices"));
  r.params.push_back(params_entry("pulses_per_cycle", static_cast<std::int64_t>(ds.n_pulse),
                                  "protocol: pulses per cycle of the data"));
  r.params.push_back(params_entry("cycles", static_cast<std::int64_t>(ds.n_cycle),
                                  "protocol: cycles of the data"));
  double w0 = 0;
  {
    const auto& first = ds.cycles[all.front().p.front()];
    const double s =
        first.fit.shape == CycleShape::saturated ? first.reads.G.front() : first.fit.start;
    w0 = std::clamp((s - v[v_G_min]) / (v[v_G_max] - v[v_G_min]), 0.0, 1.0);
  }
  r.params.push_back(
      params_entry("w0", w0, "protocol: state at the start of the first potentiation cycle"));
  r.params.push_back({"noisy_reads", "true", "protocol: reads with read noise"});

  // Lengths of the cycles per polarity (for the round trip and the mid-cycle read).
  std::array<std::vector<std::size_t>, 2> lengths;
  for (const auto& c : ds.cycles)
    if (c.device == ds.devices.front())
      lengths[c.polarity == Polarity::potentiation ? 0 : 1].push_back(
          static_cast<std::size_t>(std::lround(c.reads.k.back())));
  std::array<std::size_t, 2> k_mid{1, 1};
  for (int pol = 0; pol < 2; ++pol) {
    if (lengths[pol].empty()) lengths[pol].push_back(ds.n_pulse);
    auto sorted = lengths[pol];
    std::sort(sorted.begin(), sorted.end());
    k_mid[pol] = std::max<std::size_t>(1, sorted[sorted.size() / 2] / 2);
  }
  if (k_mid[0] != k_mid[1])
    r.notes.push_back(
        "potentiation and depression cycles have different lengths, which "
        "`device simulate memristor` (one pulses_per_cycle) cannot repeat: the round "
        "trip cuts each simulated cycle to the length of the measured one, but its "
        "state at the next cycle's start differs");
  std::vector<Cycle> measured_cycles;
  for (const auto& draw : all)
    for (auto* ids : {&draw.p, &draw.d})
      for (std::size_t id : *ids) measured_cycles.push_back(ds.cycles[id]);
  const auto measured = cycle_statistics(measured_cycles, k_mid[0], k_mid[1]);

  // Round trip.
  CycleStatistics simulated;
  if (options.round_trip) {
    toml::table table = toml::parse(toml_text(r));
    SimulationRequest q;
    q.model = r.model;
    // Enough simulated cycles for a smooth reference (>= 400, 4 devices per measured one), at
    // most ~6000 cycles to fit.
    const std::size_t want =
        std::max<std::size_t>(4 * ds.devices.size(), (400 + ds.n_cycle - 1) / ds.n_cycle);
    q.devices = static_cast<std::int64_t>(std::max<std::size_t>(
        1, std::min(want, std::max<std::size_t>(ds.devices.size(), 6000 / ds.n_cycle))));
    q.seed = options.seed;
    q.config = &table;
    q.config_origin = "fitted parameters";
    q.show_progress = false;
    const auto sim = simulate_measurements(q);
    const auto& st = std::get<PulseTrainData>(sim.sets.front().body);
    std::vector<Cycle> sim_cycles;
    std::array<std::size_t, 2> seen{0, 0};
    for (std::size_t c = 0; c < st.G.shape[1]; ++c) {
      const int pol = st.polarity[c] > 0 ? 0 : 1;
      const std::size_t len =
          std::min(lengths[pol][seen[pol]++ % lengths[pol].size()], st.G.shape[2]);
      for (std::size_t d = 0; d < st.G.shape[0]; ++d) {
        Cycle cy;
        cy.polarity = pol == 0 ? Polarity::potentiation : Polarity::depression;
        cy.reads = cycle_reads(
            std::span<const double>(&st.G.data[(d * st.G.shape[1] + c) * st.G.shape[2]], len));
        if (cy.reads.k.size() < 4) continue;
        cy.fit = fit_cycle(cy.reads, cy.polarity);
        sim_cycles.push_back(std::move(cy));
      }
    }
    simulated = cycle_statistics(sim_cycles, k_mid[0], k_mid[1]);
    const auto add_trip = [&](const std::string& what, const std::vector<double>& a,
                              const std::vector<double>& b, std::string note) {
      if (a.empty() || b.empty()) {
        r.notes.push_back(fmt::format("no round trip of {}: {} measured and {} simulated values",
                                      what, a.size(), b.size()));
        return;
      }
      RoundTrip t;
      t.what = what;
      t.ks = kolmogorov_smirnov_two_sample(a, b);
      t.n_measured = a.size();
      t.n_simulated = b.size();
      t.note = std::move(note);
      if (a.size() < 5)
        t.note += (t.note.empty() ? "" : "; ") + std::string("few measured values: little power");
      if (t.ks.p_value < 0.01)
        r.notes.push_back(fmt::format("round trip fails for {}: KS D = {:.3g}, p = {}{}", what,
                                      t.ks.statistic, fmt_p(t.ks.p_value),
                                      ds.devices.size() > 1 ? " (values clustered by device: the "
                                                              "p-value overstates the evidence)"
                                                            : ""));
      r.round_trips.push_back(std::move(t));
    };
    std::string sim_note = fmt::format(
        "{} simulated devices x {} cycles, each cut to a measured "
        "cycle's length",
        q.devices, ds.n_cycle);
    if (ds.devices.size() > 1)
      sim_note += fmt::format(
          "; the values are clustered by device ({} measured): with "
          "device-to-device spread the p-value, which treats them as "
          "independent, is too small",
          ds.devices.size());
    add_trip("per-cycle A_p (cycles with A inside its range)", measured.A_p, simulated.A_p,
             sim_note);
    add_trip("per-cycle A_d (cycles with A inside its range)", measured.A_d, simulated.A_d,
             sim_note);
    add_trip(fmt::format("G after pulse {} of potentiation cycles", k_mid[0]), measured.G_mid_p,
             simulated.G_mid_p, sim_note);
    add_trip(fmt::format("G after pulse {} of depression cycles", k_mid[1]), measured.G_mid_d,
             simulated.G_mid_d, sim_note);
  }

  // Figures.
  const std::string g_label = ds.normalised ? "G (normalised, shifted)" : "G (S)";
  {
    Plot p("Pulse trains: measured cycles and their fits", "pulse in cycle", g_label);
    const auto pick = [](const std::vector<std::size_t>& ids) {
      std::vector<std::size_t> out;
      const std::size_t n = std::min<std::size_t>(3, ids.size());
      for (std::size_t i = 0; i < n; ++i)
        out.push_back(ids[i * (ids.size() - 1) / std::max<std::size_t>(n - 1, 1)]);
      out.erase(std::unique(out.begin(), out.end()), out.end());
      return out;
    };
    int colour = 0;  // a cycle's reads and its fit share one colour
    for (auto* ids : {&all.front().p, &all.front().d})
      for (std::size_t id : pick(*ids)) {
        const auto& c = ds.cycles[id];
        const std::string label = fmt::format("device {} cycle {} ({})", c.device, c.index,
                                              c.polarity == Polarity::potentiation ? "P" : "D");
        p.points(label, c.reads.k, c.reads.G).colour(colour);
        std::vector<double> x = linspace(1, c.reads.k.back(), 200), y;
        for (double k : x) y.push_back(c.fit.G(k));
        p.line(label + " fit", x, y).colour(colour++);
      }
    r.figures.push_back({"pulse_train_cycles",
                         "Measured cycles (points) and their per-cycle fits "
                         "G_k = a + (s - a) exp(-k/A) (lines), first device",
                         p.svg()});
  }
  {
    // Recompute the sums of the full data for the figure.
    Plot p("Residual noise versus pulse in cycle", "pulse in cycle", g_label + " residual sd");
    for (int pol = 0; pol < 2; ++pol) {
      std::vector<double> k_axis, measured_sd, fitted_sd, raw_sd;
      std::vector<double> count(ds.n_pulse + 1, 0), r2(ds.n_pulse + 1, 0), wk(ds.n_pulse + 1, 0),
          rd(ds.n_pulse + 1, 0), wraw(ds.n_pulse + 1, 0), rraw(ds.n_pulse + 1, 0);
      for (std::size_t j = 0; j < all.size(); ++j) {
        const double B2 = full.B[j] * full.B[j];
        const double A = pol == 0 ? full.pooled_p[j].A_pulses : full.pooled_d[j].A_pulses;
        for (std::size_t id : pol == 0 ? all[j].p : all[j].d) {
          const auto& c = ds.cycles[id];
          for (std::size_t i = 0; i < c.reads.k.size(); ++i) {
            const auto k = static_cast<std::size_t>(std::lround(c.reads.k[i]));
            const double kk = c.reads.k[i];
            const double mu = c.fit.G(kk);
            count[k] += 1;
            r2[k] += c.r2[i];
            wk[k] += B2 * c.components.walk[i];
            rd[k] += c.components.read[i];
            wraw[k] += B2 * std::expm1(-2 * kk / A) / std::expm1(-2 / A);
            rraw[k] += mu * mu;
          }
        }
      }
      const double a2 = full.noise.sigma_c2c * full.noise.sigma_c2c,
                   b2 = full.noise.sigma_read * full.noise.sigma_read;
      for (std::size_t k = 1; k <= ds.n_pulse; ++k) {
        if (!(count[k] > 0)) continue;
        k_axis.push_back(static_cast<double>(k));
        measured_sd.push_back(std::sqrt(r2[k] / count[k]));
        fitted_sd.push_back(std::sqrt((a2 * wk[k] + b2 * rd[k]) / count[k]));
        raw_sd.push_back(std::sqrt((a2 * wraw[k] + b2 * rraw[k]) / count[k]));
      }
      const char* name = pol == 0 ? "potentiation" : "depression";
      p.points(fmt::format("{}: rms residual", name), k_axis, measured_sd).colour(pol);
      p.line(fmt::format("{}: fitted noise, after the fit's absorption", name), k_axis, fitted_sd)
          .colour(pol);
      p.line(fmt::format("{}: fitted noise, walk + read (unabsorbed)", name), k_axis, raw_sd, true)
          .colour(pol);
    }
    r.figures.push_back(
        {"pulse_train_noise",
         "Root-mean-square residual of the per-cycle fits "
         "versus pulse in cycle (points), the fitted noise model's expected residual "
         "(lines) and its unabsorbed walk + read noise (dashed)",
         p.svg()});
  }
  for (int pol = 0; pol < 2; ++pol) {
    const char* name = pol == 0 ? "A_p" : "A_d";
    if (A_cycles[pol].empty()) continue;
    Plot p(fmt::format("Per-cycle {}", name), fmt::format("{} (pulses)", name),
           "cumulative probability");
    p.x_scale(PlotScale::log);
    p.ecdf("measured cycles", A_cycles[pol]);
    if (A_lognormal[pol]) {
      const auto [lo, hi] = std::minmax_element(A_cycles[pol].begin(), A_cycles[pol].end());
      std::vector<double> x = logspace(std::log10(*lo) - 0.1, std::log10(*hi) + 0.1, 200), y;
      for (double a : x) y.push_back(A_lognormal[pol]->cdf(a));
      p.line("fitted lognormal", x, y);
    }
    const auto& sim = pol == 0 ? simulated.A_p : simulated.A_d;
    if (!sim.empty()) {
      PlotSeries s;
      s.label = "simulated with the fitted parameters";
      s.x = sim;
      std::sort(s.x.begin(), s.x.end());
      for (std::size_t i = 0; i < s.x.size(); ++i)
        s.y.push_back(static_cast<double>(i + 1) / static_cast<double>(s.x.size()));
      s.style = SeriesStyle::steps;
      s.dashed = true;
      p.add(std::move(s));
    }
    r.figures.push_back({fmt::format("pulse_train_{}_ecdf", name),
                         fmt::format("Distribution of the per-cycle {}: measured (steps), fitted "
                                     "lognormal (line), round-trip simulation (dashed)",
                                     name),
                         p.svg()});
  }
  return r;
}

std::vector<RecoveryCheck> recovery_trial_pulse_train(std::uint64_t seed, std::int64_t bootstrap) {
  SimulationRequest q;
  q.model = "memristor";
  q.preset = "neurosim";
  q.devices = 2;
  q.seed = seed;
  q.assignments = {"cycles=80", "pulses_per_cycle=32", "sigma_c2c=0.005", "sigma_read=0.01"};
  q.show_progress = false;
  const CalibrationInput input = calibration_input(simulate_measurements(q), "pulse_train", "simulated");
  CalibrationOptions options;
  options.bootstrap = bootstrap;
  options.seed = seed + 1000003;
  options.show_progress = false;
  options.round_trip = false;
  const auto r = calibrate_pulse_train(input, options);
  MemristorConfig config;
  config.sigma_c2c = 0.005;
  config.sigma_read = 0.01;
  const auto truth = MemristorModel(config).abstraction();
  std::vector<RecoveryCheck> checks;
  const std::pair<const char*, double> keys[] = {
      {"G_min", truth.G_min_S},        {"G_max", truth.G_max_S},
      {"A_p", truth.A_p_pulses},       {"A_d", truth.A_d_pulses},
      {"sigma_c2c", config.sigma_c2c}, {"sigma_read", config.sigma_read}};
  for (const auto& [key, value] : keys)
    if (r.parameter(key).identified) checks.push_back(recovery_check(r, key, value));
  return checks;
}

}  // namespace memcarlo
