#include "calibration/dg_table_fit.hpp"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/special_functions/erf.hpp>
#include <cmath>
#include <memory>
#include <optional>
#include <utility>

#include "calibration/bootstrap.hpp"
#include "calibration/goodness_of_fit.hpp"
#include "calibration/minimize.hpp"
#include "core/svg_plot.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "physics/simulate.hpp"

namespace memcarlo {

namespace {

constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kInvSqrt2Pi = 0.39894228040143268;

double Phi(double z) { return 0.5 * boost::math::erfc(-z / kSqrt2); }
double phi(double z) { return kInvSqrt2Pi * std::exp(-0.5 * z * z); }
double Phi_inv(double p) {
  return boost::math::quantile(boost::math::normal_distribution<double>(), p);
}

// phi(z) / Phi(z), stable in the far lower tail (asymptotic Mills ratio below z = -30, where
// the next term of the series is below 1e-8 relative).
double lower_hazard(double z) {
  if (z > -30) return phi(z) / Phi(z);
  const double r = 1.0 / (z * z);
  return -z / (1.0 - r + 3.0 * r * r);
}

const char* word(Polarity p) { return p == Polarity::potentiation ? "potentiation" : "depression"; }

double median_of(std::vector<double> v) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

// --- the model's step distribution ---------------------------------------------------------

double CensoredNormalStep::cdf(double x) const {
  if (x < lower_S) return 0.0;
  if (x >= upper_S) return 1.0;
  return Phi((x - mean_S) / sd_S);
}

double CensoredNormalStep::cdf_below(double x) const {
  if (x <= lower_S) return 0.0;
  if (x > upper_S) return 1.0;
  return Phi((x - mean_S) / sd_S);
}

double CensoredNormalStep::quantile(double p) const {
  if (p <= 0) return lower_S;
  if (p >= 1) return upper_S;
  return std::clamp(mean_S + sd_S * Phi_inv(p), lower_S, upper_S);
}

namespace {

// First two moments of Y - mean for Y = clamp(X, a, b), X ~ N(mean, sd^2): the truncated-normal
// integrals plus the two atoms (e.g. Johnson, Kotz & Balakrishnan, Continuous Univariate
// Distributions 1, ch. 13.10).
std::pair<double, double> censored_moments(const CensoredNormalStep& c) {
  const double s = c.sd_S, a = c.lower_S - c.mean_S, b = c.upper_S - c.mean_S;
  const double al = a / s, be = b / s;
  const double Pa = Phi(al), Pb = Phi(be), pa = phi(al), pb = phi(be);
  // The atoms' terms vanish with their mass (guarded: an unbounded side has a = -inf or a huge
  // bound with zero mass, whose product must be 0, not NaN).
  const auto atom = [](double v, double mass) { return mass > 0 ? v * mass : 0.0; };
  const auto edge = [](double z, double density) { return density > 0 ? z * density : 0.0; };
  const double m1 = atom(a, Pa) + atom(b, 1 - Pb) + s * (pa - pb);
  const double m2 = atom(a * a, Pa) + atom(b * b, 1 - Pb) + s * s * (Pb - Pa) +
                    s * s * (edge(al, pa) - edge(be, pb));
  return {m1, m2};
}

}  // namespace

double CensoredNormalStep::expectation() const { return mean_S + censored_moments(*this).first; }

double CensoredNormalStep::standard_deviation() const {
  const auto [m1, m2] = censored_moments(*this);
  return std::sqrt(std::max(m2 - m1 * m1, 0.0));
}

CensoredNormalStep StepModel::step(double G, Polarity polarity) const {
  const auto& a = abstraction;
  CensoredNormalStep c;
  c.sd_S = step_sd_S;
  c.lower_S = a.G_min_S - G;
  c.upper_S = a.G_max_S - G;
  c.mean_S = polarity == Polarity::potentiation ? -std::expm1(-1.0 / a.A_p_pulses) * (a.G_max_S - G)
                                                : std::expm1(-1.0 / a.A_d_pulses) * (G - a.G_min_S);
  return c;
}

// --- distances -------------------------------------------------------------------------------

double step_ks_distance(const StepTable& t, std::size_t bin, const CensoredNormalStep& m) {
  const auto q = t.column(bin);
  const auto& p = t.cdf();
  double D = 0;
  const auto check = [&](double x) {
    D = std::max(
        {D, std::abs(t.cdf_at(bin, x) - m.cdf(x)), std::abs(t.cdf_below(bin, x) - m.cdf_below(x))});
  };
  // Jumps and kinks of either function ...
  for (double x : q) check(x);
  check(m.lower_S);
  check(m.upper_S);
  // ... and, on each linear piece of the table's CDF, where the model's density equals its
  // slope c: phi(z) / sd = c, z = +-sqrt(-2 ln(c sd sqrt(2 pi))).
  for (std::size_t i = 0; i + 1 < q.size(); ++i) {
    if (!(q[i + 1] > q[i]) || !(p[i + 1] > p[i])) continue;
    const double c = (p[i + 1] - p[i]) / (q[i + 1] - q[i]);
    const double r = c * m.sd_S / kInvSqrt2Pi;
    if (!(r < 1)) continue;
    const double z = std::sqrt(-2.0 * std::log(r));
    for (double x : {m.mean_S - m.sd_S * z, m.mean_S + m.sd_S * z})
      if (x > q[i] && x < q[i + 1] && x > m.lower_S && x < m.upper_S) check(x);
  }
  return D;
}

double step_ad_distance(const StepTable& t, std::size_t bin, const CensoredNormalStep& m) {
  // In z = (x - mean) / sd over the continuous part (alpha, beta) of the model:
  // int (F_table(mean + sd z) - Phi(z))^2 phi(z) / (Phi(z) (1 - Phi(z))) dz, where
  // phi / (Phi (1 - Phi)) = h(z) + h(-z) with h = phi / Phi.
  const auto q = t.column(bin);
  const double alpha = (m.lower_S - m.mean_S) / m.sd_S, beta = (m.upper_S - m.mean_S) / m.sd_S;
  const double z_first = (q.front() - m.mean_S) / m.sd_S, z_last = (q.back() - m.mean_S) / m.sd_S;
  double A = 0;
  // Below the table's support F_table = 0: int Phi phi / (1 - Phi) dz = -v - ln(1 - v) over
  // v = Phi(z) in (Phi(alpha), Phi(min(z_first, beta))).
  const auto below = [](double v) { return -v - std::log1p(-v); };
  // Above it F_table = 1: int (1 - Phi) phi / Phi dz = -ln v - (1 - v), with 1 - Phi(z) = Phi(-z).
  const auto above = [](double z) {
    const double v = Phi(z), u = Phi(-z);
    return -std::log(v) - u;
  };
  if (z_first > alpha) A += below(Phi(std::min(z_first, beta))) - below(Phi(alpha));
  if (z_last < beta) A += above(beta) - above(std::max(z_last, alpha));
  // Inside: composite 4-point Gauss-Legendre between consecutive knots (the table's CDF is
  // linear there), each piece cut to at most 0.25 in z.
  static constexpr std::array<double, 4> gx = {-0.86113631159405258, -0.33998104358485626,
                                               0.33998104358485626, 0.86113631159405258};
  static constexpr std::array<double, 4> gw = {0.34785484513745386, 0.65214515486254614,
                                               0.65214515486254614, 0.34785484513745386};
  const double lo = std::max(alpha, z_first), hi = std::min(beta, z_last);
  if (!(hi > lo)) return A;
  std::vector<double> cuts = {lo, hi};
  for (double x : q) {
    const double z = (x - m.mean_S) / m.sd_S;
    if (z > lo && z < hi) cuts.push_back(z);
  }
  std::sort(cuts.begin(), cuts.end());
  for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
    const double a = cuts[i], b = cuts[i + 1];
    if (!(b > a)) continue;
    const int pieces = static_cast<int>(std::min(256.0, std::ceil((b - a) / 0.25)));
    const double h = (b - a) / pieces;
    for (int k = 0; k < pieces; ++k) {
      const double c = a + (k + 0.5) * h;
      for (std::size_t g = 0; g < gx.size(); ++g) {
        const double z = c + 0.5 * h * gx[g];
        const double d = t.cdf_at(bin, m.mean_S + m.sd_S * z) - Phi(z);
        A += 0.5 * h * gw[g] * d * d * (lower_hazard(z) + lower_hazard(-z));
      }
    }
  }
  return A;
}

namespace {

// --- the fit ---------------------------------------------------------------------------------

constexpr std::size_t kMaxLevels = 1000;
constexpr double kMinGain = 1e-9, kMaxGain = 1 - 1e-9;  // A in [0.048, 1e9] pulses

// One polarity's table prepared for the fit, conductances in units of the scale R. The
// objective needs, per bin, sums over runs of consecutive levels of w, w z, w z^2 (shared by all
// bins) and w Q, w Q^2, w z Q: they are kept as cumulative sums, so that a bin costs O(1) when
// the clamp is inactive and O(log K) when it is not, instead of O(K). A bootstrap resample is a
// list of rows into the same sums.
struct FitSums {
  std::vector<double> G;                // [bin]
  std::vector<double> z, w;             // [K]: Phi^-1 of the levels (increasing), weights
  std::vector<double> cw, cwz, cwz2;    // [K + 1]: cumulative sums over levels
  std::vector<double> cwq, cwq2, cwzq;  // [bin * (K + 1) + k]
};

struct FitTable {
  Polarity polarity = Polarity::potentiation;
  std::shared_ptr<const FitSums> sums;
  std::vector<std::uint32_t> rows;  // the bins in use (all, or a resample)

  std::size_t bins() const { return rows.size(); }
  std::size_t levels() const { return sums->z.size(); }
  double G(std::size_t j) const { return sums->G[rows[j]]; }

  FitTable resampled(const std::vector<std::uint32_t>& idx) const {
    FitTable r{polarity, sums, {}};
    r.rows.reserve(idx.size());
    for (auto i : idx) r.rows.push_back(rows[i]);
    return r;
  }
};

FitTable prepare(const StepTable& t, double R) {
  auto sums = std::make_shared<FitSums>();
  FitSums& f = *sums;
  const auto& cdf = t.cdf();
  std::vector<std::size_t> interior;
  for (std::size_t i = 0; i < cdf.size(); ++i)
    if (cdf[i] > 0 && cdf[i] < 1) interior.push_back(i);
  std::vector<double> p;
  std::vector<std::size_t> knots;  // table index per level, or none (interpolated levels)
  if (interior.size() >= 16) {
    const std::size_t stride = (interior.size() + kMaxLevels - 1) / kMaxLevels;
    for (std::size_t k = 0; k < interior.size(); k += stride) {
      knots.push_back(interior[k]);
      p.push_back(cdf[interior[k]]);
    }
  } else {
    // Too few interior levels to integrate over (a 2-point table is a uniform distribution):
    // 32 midpoint levels of the table's interpolated quantile function.
    for (int k = 0; k < 32; ++k) p.push_back((k + 0.5) / 32);
  }
  const std::size_t K = p.size();
  for (std::size_t k = 0; k < K; ++k) {
    f.z.push_back(Phi_inv(p[k]));
    const double left = k == 0 ? 0.0 : p[k - 1], right = k + 1 == K ? 1.0 : p[k + 1];
    f.w.push_back(0.5 * (right - left));
  }
  const auto cumulate = [&](std::vector<double>& c, auto term) {
    double acc = 0;
    c.push_back(0.0);
    for (std::size_t k = 0; k < K; ++k) c.push_back(acc += term(k));
  };
  cumulate(f.cw, [&](std::size_t k) { return f.w[k]; });
  cumulate(f.cwz, [&](std::size_t k) { return f.w[k] * f.z[k]; });
  cumulate(f.cwz2, [&](std::size_t k) { return f.w[k] * f.z[k] * f.z[k]; });
  std::vector<double> q(K);
  for (std::size_t j = 0; j < t.bins(); ++j) {
    f.G.push_back(t.G_bins_S()[j] / R);
    const auto col = t.column(j);
    for (std::size_t k = 0; k < K; ++k)
      q[k] = (knots.empty() ? t.quantile(j, p[k]) : col[knots[k]]) / R;
    cumulate(f.cwq, [&](std::size_t k) { return f.w[k] * q[k]; });
    cumulate(f.cwq2, [&](std::size_t k) { return f.w[k] * q[k] * q[k]; });
    cumulate(f.cwzq, [&](std::size_t k) { return f.w[k] * f.z[k] * q[k]; });
  }
  FitTable table{t.polarity(), sums, {}};
  for (std::size_t j = 0; j < t.bins(); ++j) table.rows.push_back(static_cast<std::uint32_t>(j));
  return table;
}

// The parameters, conductances in units of R: x = (G_min, G_max, gain_p, gain_d, s).
enum : std::size_t { kGmin, kGmax, kGainP, kGainD, kS, kNumParams };
using Params = std::array<double, kNumParams>;

// sum_k w_k (Q_k - clamp(m + s z_k, a, b))^2 per bin, averaged over bins: levels with
// z_k < (a - m)/s are clamped to a, those with z_k > (b - m)/s to b, the rest are linear in z.
double table_distance(const FitTable& t, const Params& x) {
  const FitSums& f = *t.sums;
  const std::size_t K = t.levels(), K1 = K + 1;
  const bool pot = t.polarity == Polarity::potentiation;
  const double s = x[kS];
  double acc = 0;
  for (std::size_t r = 0; r < t.bins(); ++r) {
    const std::size_t j = t.rows[r];
    const double G = f.G[j], a = x[kGmin] - G, b = x[kGmax] - G;
    const double m = pot ? x[kGainP] * (x[kGmax] - G) : -x[kGainD] * (G - x[kGmin]);
    const double lo = (a - m) / s, hi = (b - m) / s;
    const std::size_t k0 =
        lo < f.z.front()
            ? 0
            : static_cast<std::size_t>(std::lower_bound(f.z.begin(), f.z.end(), lo) - f.z.begin());
    const std::size_t k1 =
        hi > f.z.back()
            ? K
            : static_cast<std::size_t>(std::upper_bound(f.z.begin(), f.z.end(), hi) - f.z.begin());
    const double* wq = f.cwq.data() + j * K1;
    const double* wq2 = f.cwq2.data() + j * K1;
    const double* wzq = f.cwzq.data() + j * K1;
    const auto sum = [](const double* c, std::size_t from, std::size_t to) {
      return c[to] - c[from];
    };
    // Clamped runs: sum w (Q - c)^2 = sum w Q^2 - 2 c sum w Q + c^2 sum w.
    double bin = 0;
    if (k0 > 0) bin += sum(wq2, 0, k0) - 2 * a * sum(wq, 0, k0) + a * a * sum(f.cw.data(), 0, k0);
    if (k1 < K) bin += sum(wq2, k1, K) - 2 * b * sum(wq, k1, K) + b * b * sum(f.cw.data(), k1, K);
    if (k1 > k0)
      bin += sum(wq2, k0, k1) - 2 * m * sum(wq, k0, k1) - 2 * s * sum(wzq, k0, k1) +
             m * m * sum(f.cw.data(), k0, k1) + 2 * m * s * sum(f.cwz.data(), k0, k1) +
             s * s * sum(f.cwz2.data(), k0, k1);
    acc += bin;
  }
  return acc / static_cast<double>(t.bins());
}

struct FitProblem {
  std::optional<FitTable> pot, dep;
  double R = 1;                   // S per unit
  double G_lo = 0, G_hi = 1;      // span of all bin centres, in units of R
  Params fixed{};                 // values of the parameters a single polarity does not identify
  std::vector<std::size_t> free;  // indices into Params that are fitted
  std::vector<double> lower, upper;

  Params expand(std::span<const double> v) const {
    Params x = fixed;
    for (std::size_t i = 0; i < free.size(); ++i) x[free[i]] = v[i];
    return x;
  }
  double objective(const Params& x) const {
    double f = 0;
    if (pot) f += table_distance(*pot, x);
    if (dep) f += table_distance(*dep, x);
    return f;
  }
};

// Per-bin normal projection (mean, spread) of a prepared table: the W2-closest normal for
// symmetric levels. Used for start values and diagnostics.
std::pair<std::vector<double>, std::vector<double>> normal_projection(const FitTable& t) {
  const FitSums& f = *t.sums;
  const std::size_t K = t.levels(), K1 = K + 1;
  const double sw = f.cw[K], swz = f.cwz[K], swz2 = f.cwz2[K];
  std::vector<double> m(t.bins()), s(t.bins());
  for (std::size_t r = 0; r < t.bins(); ++r) {
    const std::size_t j = t.rows[r];
    m[r] = f.cwq[j * K1 + K] / sw;
    s[r] = (f.cwzq[j * K1 + K] - m[r] * swz) / swz2;
  }
  return {m, s};
}

// Least-squares line m = intercept + slope G through the per-bin means.
std::pair<double, double> line_fit(const std::vector<double>& G, const std::vector<double>& m) {
  const double n = static_cast<double>(G.size());
  double gm = 0, mm = 0;
  for (std::size_t j = 0; j < G.size(); ++j) {
    gm += G[j];
    mm += m[j];
  }
  gm /= n;
  mm /= n;
  double sgg = 0, sgm = 0;
  for (std::size_t j = 0; j < G.size(); ++j) {
    sgg += (G[j] - gm) * (G[j] - gm);
    sgm += (G[j] - gm) * (m[j] - mm);
  }
  const double slope = sgg > 0 ? sgm / sgg : 0.0;
  return {mm - slope * gm, slope};
}

// Start values: the model's mean step is linear in G away from the window edges,
// m = gain_p G_max - gain_p G (potentiation), gain_d G_min - gain_d G (depression).
Params start_values(const FitProblem& fp) {
  Params x = fp.fixed;
  std::vector<double> spreads;
  for (const auto* t : {fp.pot ? &*fp.pot : nullptr, fp.dep ? &*fp.dep : nullptr}) {
    if (!t) continue;
    const auto [m, s] = normal_projection(*t);
    spreads.insert(spreads.end(), s.begin(), s.end());
    std::vector<double> G(t->bins());
    for (std::size_t r = 0; r < t->bins(); ++r) G[r] = t->G(r);
    const auto [intercept, slope] = line_fit(G, m);
    const double gain = std::clamp(-slope, 1e-6, 1 - 1e-6);
    if (t->polarity == Polarity::potentiation) {
      x[kGainP] = gain;
      x[kGmax] = intercept / gain;
    } else {
      x[kGainD] = gain;
      x[kGmin] = intercept / gain;
    }
  }
  x[kS] = median_of(spreads);
  return x;
}

// `near`: the start is already close to the optimum (a bootstrap refit from the estimate), so
// the first trust region is small.
MinimizeResult run_fit(const FitProblem& fp, const Params& start, bool near) {
  std::vector<double> x0, step;
  for (std::size_t i = 0; i < fp.free.size(); ++i) {
    const double v = std::clamp(start[fp.free[i]], fp.lower[i], fp.upper[i]);
    x0.push_back(v);
    const double width = fp.upper[i] - fp.lower[i];
    const double scale = fp.free[i] == kGainP || fp.free[i] == kGainD || fp.free[i] == kS
                             ? std::max(0.1 * v, 1e-4)
                             : 0.05;
    step.push_back(std::min(near ? std::max(0.02 * std::abs(v), 1e-6) : scale, 0.25 * width));
  }
  MinimizeOptions o;
  o.method = MinimizeMethod::bobyqa;
  o.x_tol_rel = 1e-8;
  o.f_tol_rel = 1e-12;
  o.max_evaluations = 20000;
  o.initial_step = step;
  const Objective f = [&](std::span<const double> v) { return fp.objective(fp.expand(v)); };
  MinimizeResult r = minimize(f, x0, fp.lower, fp.upper, o, "dg_table fit");
  // A restart from the optimum rebuilds BOBYQA's quadratic model: it moves on where the first
  // run stopped at a kink of the clamp.
  for (std::size_t i = 0; i < step.size(); ++i)
    step[i] = std::min(step[i], std::max(0.02 * std::abs(r.x[i]), 1e-6));
  o.initial_step = step;
  MinimizeResult r2 = minimize(f, r.x, fp.lower, fp.upper, o, "dg_table fit");
  r2.evaluations += r.evaluations;
  return r2.value <= r.value ? r2 : r;
}

// The derived quantities of a parameter vector, in the order of the result's parameters.
enum : std::size_t {
  kOutGmin,
  kOutGmax,
  kOutAp,
  kOutAd,
  kOutSigma,
  kOutStepSd,
  kOutGminArea,
  kOutGmaxArea,
  kOutK0p,
  kOutK0d,
  kNumOut
};

StepModel step_model(const Params& x, double R) {
  StepModel m;
  m.abstraction.G_min_S = x[kGmin] * R;
  m.abstraction.G_max_S = x[kGmax] * R;
  m.abstraction.A_p_pulses = -1.0 / std::log1p(-x[kGainP]);
  m.abstraction.A_d_pulses = -1.0 / std::log1p(-x[kGainD]);
  m.step_sd_S = x[kS] * R;
  return m;
}

std::array<double, kNumOut> derived(const Params& x, double R, const MemristorConfig& base) {
  const StepModel m = step_model(x, R);
  const MemristorModel model = MemristorModel::from_abstraction(m.abstraction, base);
  const auto& c = model.config();
  return {m.abstraction.G_min_S,
          m.abstraction.G_max_S,
          m.abstraction.A_p_pulses,
          m.abstraction.A_d_pulses,
          m.sigma_c2c(),
          m.step_sd_S,
          c.g_min_per_area_S_per_m2,
          c.g_max_per_area_S_per_m2,
          c.k0_p_per_s,
          c.k0_d_per_s};
}

// The sibling of a polarity group: the same name with potentiation <-> depression.
const DgTableData* find_sibling(const CalibrationInput& input, const DgTableData& own,
                                std::string& name, std::string& why_not) {
  const std::string from = own.polarity > 0 ? "potentiation" : "depression";
  const std::string to = own.polarity > 0 ? "depression" : "potentiation";
  name = input.set->name;
  const auto pos = name.rfind(from);
  if (pos == std::string::npos) {
    why_not = fmt::format(
        "the group name '{}' does not contain '{}', so no {} table of the "
        "same device could be found",
        input.set->name, from, to);
    return nullptr;
  }
  name.replace(pos, from.size(), to);
  for (const auto& s : input.contents.sets) {
    if (s.name != name) continue;
    const auto* t = std::get_if<DgTableData>(&s.body);
    if (!t) {
      why_not =
          fmt::format("{}:{} is kind '{}', not a dg_table", input.file, name, kind_name(s.body));
      return nullptr;
    }
    if (t->polarity != -own.polarity) {
      why_not = fmt::format("{}:{} has polarity {}, the same as {}", input.file, name, t->polarity,
                            input.group);
      return nullptr;
    }
    return t;
  }
  why_not = fmt::format("{} holds no group '{}'", input.file, name);
  return nullptr;
}

// Steps of the simulated round trip falling into each table bin's cell (edges halfway
// between centres, the outer cells as wide as their inner neighbours).
std::vector<std::vector<double>> bin_steps(const StepTable& t, const StepSamples& s) {
  const auto& G = t.G_bins_S();
  const std::size_t n = G.size();
  std::vector<double> edges(n + 1);
  edges[0] = G[0] - 0.5 * (G[1] - G[0]);
  for (std::size_t j = 1; j < n; ++j) edges[j] = 0.5 * (G[j - 1] + G[j]);
  edges[n] = G[n - 1] + 0.5 * (G[n - 1] - G[n - 2]);
  std::vector<std::vector<double>> out(n);
  for (std::size_t k = 0; k < s.dG_S.size(); ++k) {
    const double g = s.G_before_S[k];
    if (g < edges.front() || g >= edges.back()) continue;
    const auto j =
        static_cast<std::size_t>(std::upper_bound(edges.begin(), edges.end(), g) - edges.begin()) -
        1;
    out[j].push_back(s.dG_S[k]);
  }
  return out;
}

struct BinSummary {
  std::vector<double> ks, ad;
  double max_ks = 0, G_at_max = kNaN, max_ad = 0;
  double median_ks = kNaN, median_ad = kNaN;
  double median_atom = 0;  // median over bins of the largest probability mass at one dG value
};

BinSummary summarize_bins(const StepTable& t, const StepModel& model) {
  BinSummary b;
  std::vector<double> atoms;
  for (std::size_t j = 0; j < t.bins(); ++j) {
    const auto m = model.step(t.G_bins_S()[j], t.polarity());
    b.ks.push_back(step_ks_distance(t, j, m));
    b.ad.push_back(step_ad_distance(t, j, m));
    if (b.ks.back() > b.max_ks) {
      b.max_ks = b.ks.back();
      b.G_at_max = t.G_bins_S()[j];
    }
    b.max_ad = std::max(b.max_ad, b.ad.back());
    const auto q = t.column(j);
    double atom = 0;
    for (std::size_t i = 0; i < q.size();) {
      std::size_t e = i;
      while (e + 1 < q.size() && q[e + 1] == q[i]) ++e;
      atom = std::max(atom, t.cdf()[e] - t.cdf()[i]);
      i = e + 1;
    }
    atoms.push_back(atom);
  }
  b.median_ks = median_of(b.ks);
  b.median_ad = median_of(b.ad);
  b.median_atom = median_of(atoms);
  return b;
}

std::string params_text(const CalibrationResult& r) {
  std::string text = fmt::format("[{}]\n", r.model);
  for (const auto& e : r.params) text += fmt::format("{} = {}\n", e.key, e.value);
  return text;
}

std::string lut_note(const StepTable* pot, const StepTable* dep) {
  if (!pot || !dep)
    return "the empirical model `lut` samples the tables themselves but needs a potentiation "
           "and a depression table; only one was found";
  return fmt::format(
      "empirical alternative that samples these tables themselves instead of the fitted model: "
      "memcarlo device simulate lut --set potentiation_table='{}' --set depression_table='{}' "
      "--set G0={:g} --devices N --out FILE.h5 (or the same keys in a [lut] table; paths relative "
      "to the working directory)",
      pot->origin(), dep->origin(), pot->G_low_S());
}

}  // namespace

CalibrationResult calibrate_dg_table(const CalibrationInput& input,
                                     const CalibrationOptions& options) {
  MC_VALIDATE(input.set != nullptr, "calibrate dg_table: no data set selected");
  const auto* own = std::get_if<DgTableData>(&input.set->body);
  MC_VALIDATE(own != nullptr, "{}: calibrate dg_table needs kind dg_table, got {}", input.source(),
              kind_name(input.set->body));
  CalibrationResult r;
  r.kind = "dg_table";
  r.source = input.source();
  r.model = "memristor";
  r.confidence = options.confidence;

  std::string sibling_name, why_not;
  const DgTableData* sibling = find_sibling(input, *own, sibling_name, why_not);
  std::optional<StepTable> pot_table, dep_table;
  const StepTable own_table(*own, input.source());
  (own->polarity > 0 ? pot_table : dep_table).emplace(own_table);
  if (sibling)
    (own->polarity > 0 ? dep_table : pot_table)
        .emplace(*sibling, fmt::format("{}:{}", input.file, sibling_name));
  else
    r.notes.push_back(fmt::format("fitted {} only: {}", word(own_table.polarity()), why_not));

  // Degenerate tables: nothing to fit when no step is ever non-zero.
  for (const auto* t : {pot_table ? &*pot_table : nullptr, dep_table ? &*dep_table : nullptr}) {
    if (!t) continue;
    if (t->rearranged_bins() > 0)
      r.notes.push_back(fmt::format(
          "{}: {} of {} bins have quantile values that decrease (by up to {:.3g} S) and were "
          "sorted "
          "into quantile functions (monotone rearrangement) before fitting",
          t->origin(), t->rearranged_bins(), t->bins(), t->largest_rearranged_drop_S()));
    double largest = 0;
    for (std::size_t j = 0; j < t->bins(); ++j)
      for (double v : t->column(j)) largest = std::max(largest, std::abs(v));
    MC_VALIDATE(largest > 0,
                "{}: every step in the table is zero: there is no step "
                "distribution to fit",
                t->origin());
  }

  // Scale: the span of the bin centres of both tables.
  double G_lo = HUGE_VAL, G_hi = -HUGE_VAL;
  for (const auto* t : {pot_table ? &*pot_table : nullptr, dep_table ? &*dep_table : nullptr}) {
    if (!t) continue;
    G_lo = std::min(G_lo, t->G_low_S());
    G_hi = std::max(G_hi, t->G_high_S());
  }
  const double R = G_hi - G_lo;
  FitProblem fp;
  fp.R = R;
  fp.G_lo = G_lo / R;
  fp.G_hi = G_hi / R;
  if (pot_table) fp.pot = prepare(*pot_table, R);
  if (dep_table) fp.dep = prepare(*dep_table, R);
  const MemristorConfig base;
  const MemristorAbstraction nominal = MemristorModel(base).abstraction();
  // What one polarity cannot identify follows a stated rule: the window edge at the table's
  // extreme bin, the other polarity's kinetics at the memristor default.
  fp.fixed[kGmin] = fp.G_lo;
  fp.fixed[kGmax] = fp.G_hi;
  fp.fixed[kGainP] = -std::expm1(-1.0 / nominal.A_p_pulses);
  fp.fixed[kGainD] = -std::expm1(-1.0 / nominal.A_d_pulses);
  const auto add_free = [&](std::size_t i, double lo, double hi) {
    fp.free.push_back(i);
    fp.lower.push_back(lo);
    fp.upper.push_back(hi);
  };
  if (fp.dep) add_free(kGmin, std::max(0.0, fp.G_lo - 5.0), fp.G_lo + 0.5);
  if (fp.pot) add_free(kGmax, fp.G_hi - 0.5, fp.G_hi + 20.0);
  if (fp.pot) add_free(kGainP, kMinGain, kMaxGain);
  if (fp.dep) add_free(kGainD, kMinGain, kMaxGain);
  add_free(kS, 1e-9, 5.0);

  const MinimizeResult fit = run_fit(fp, start_values(fp), false);
  const Params x_hat = fp.expand(fit.x);
  const auto values = derived(x_hat, R, base);
  const StepModel model = step_model(x_hat, R);
  if (!fit.converged)
    r.notes.push_back(fmt::format("the optimiser stopped at its evaluation limit ({} evaluations)",
                                  fit.evaluations));

  // Parameters, in the order of `derived`.
  const bool both = fp.pot && fp.dep;
  const bool has_pot = fp.pot.has_value(), has_dep = fp.dep.has_value();
  const std::string no_dep = "needs the depression table (none found)";
  const std::string no_pot = "needs the potentiation table (none found)";
  const auto add = [&](std::string key, std::string unit, std::string description, bool identified,
                       bool in_params, std::string note) {
    EstimatedParameter p;
    p.key = std::move(key);
    p.unit = std::move(unit);
    p.description = std::move(description);
    p.estimate = values[r.parameters.size()];
    p.identified = identified;
    p.in_params = in_params;
    p.note = std::move(note);
    r.parameters.push_back(std::move(p));
  };
  add("G_min", "S", "low window edge of the memristor (depression saturates here)", has_dep, false,
      has_dep ? "" : no_dep + "; set to the lowest bin centre");
  add("G_max", "S", "high window edge (potentiation saturates here)", has_pot, false,
      has_pot ? "" : no_pot + "; set to the highest bin centre");
  add("A_p", "pulses", "potentiation nonlinearity, mean step (G_max - G)(1 - e^{-1/A_p})", has_pot,
      false, has_pot ? "" : no_pot + "; memristor default");
  add("A_d", "pulses", "depression nonlinearity, mean step -(G - G_min)(1 - e^{-1/A_d})", has_dep,
      false, has_dep ? "" : no_dep + "; memristor default");
  add("sigma_c2c", "1", "cycle-to-cycle step spread as a fraction of G_max - G_min", both, true,
      both ? "" : "step_sd is identified, but the window G_max - G_min it is divided by is not");
  add("step_sd", "S", "standard deviation of the step before clipping, sigma_c2c (G_max - G_min)",
      true, false, "");
  add("g_min_per_area", "S/m^2",
      fmt::format("G_min / area at the default area {:g} m^2", base.area_m2), has_dep, true,
      has_dep ? "" : no_dep);
  add("g_max_per_area", "S/m^2",
      fmt::format("G_max / area at the default area {:g} m^2", base.area_m2), has_pot, true,
      has_pot ? "" : no_pot);
  add("k0_p", "1/s",
      "attempt rate giving A_p under the default pulses (MemristorModel::from_abstraction)",
      has_pot, true, has_pot ? "" : no_pot);
  add("k0_d", "1/s",
      "attempt rate giving A_d under the default pulses (MemristorModel::from_abstraction)",
      has_dep, true, has_dep ? "" : no_dep);

  // Bootstrap: resample the bins of each table with replacement and refit from the estimate.
  const auto replicates =
      run_bootstrap(options.bootstrap, options.seed, kNumOut, options.show_progress,
                    [&](RngStream& rng, std::span<double> out) {
                      FitProblem b = fp;
                      if (b.pot) b.pot = fp.pot->resampled(resample_indices(fp.pot->bins(), rng));
                      if (b.dep) b.dep = fp.dep->resampled(resample_indices(fp.dep->bins(), rng));
                      const MinimizeResult refit = run_fit(b, x_hat, true);
                      const auto v = derived(b.expand(refit.x), R, base);
                      std::copy(v.begin(), v.end(), out.begin());
                    });
  attach_intervals(r, replicates);

  r.method = fmt::format(
      "The memristor model's step at conductance G is a normal of mean (G_max - G)(1 - e^(-1/A_p)) "
      "(potentiation) or -(G - G_min)(1 - e^(-1/A_d)) (depression) and standard deviation "
      "step_sd = sigma_c2c (G_max - G_min), clamped so that G + dG stays in [G_min, G_max]. "
      "{} fitted by minimising, with NLopt BOBYQA, the squared Wasserstein-2 distance between "
      "each bin's tabulated step distribution and the model's, i.e. the weighted squared "
      "difference of the quantile functions at the table's own interior cdf levels (at most {}, "
      "trapezoid weights), averaged over bins with equal weight per bin (the tables do not say "
      "how many steps each bin holds) and summed over the polarities. Intervals: percentile "
      "bootstrap over the G bins, resampled with replacement within each table and refitted; the "
      "tables hold no raw steps, so an interval measures how consistently the bins support the "
      "fitted curve (the scatter of the conditional distributions about the model), not the "
      "sampling error of the measured steps, and neighbouring bins that share smoothed data make "
      "it too narrow. Goodness of fit per bin: Kolmogorov-Smirnov and Anderson-Darling distances "
      "(A^2/n) between the table's conditional CDF and the fitted model's, exact for the "
      "piecewise-linear table.",
      both ? fmt::format("Both tables ({} and {}) are", pot_table->origin(), dep_table->origin())
           : fmt::format("The {} table is", word(own_table.polarity())),
      kMaxLevels);

  // Goodness of fit per polarity.
  std::optional<BinSummary> summaries[2];
  for (int side = 0; side < 2; ++side) {
    const StepTable* t =
        side == 0 ? (pot_table ? &*pot_table : nullptr) : (dep_table ? &*dep_table : nullptr);
    if (!t) continue;
    const BinSummary b = summarize_bins(*t, model);
    const std::string p_note =
        "p-value not computable: the tables do not record how many steps each bin was built "
        "from; distance between the tabulated and the fitted distribution only";
    GoodnessOfFit worst;
    worst.what = fmt::format(
        "{} steps per bin vs fitted model: largest distance over {} bins "
        "(KS at G = {:.4g} S)",
        word(t->polarity()), t->bins(), b.G_at_max);
    worst.ks.statistic = b.max_ks;
    worst.ad.statistic = b.max_ad;
    worst.note = p_note;
    GoodnessOfFit typical;
    typical.what = fmt::format("{} steps per bin vs fitted model: median distance over {} bins",
                               word(t->polarity()), t->bins());
    typical.ks.statistic = b.median_ks;
    typical.ad.statistic = b.median_ad;
    typical.note = fmt::format(
        "{}; a 1% KS test on n steps per bin would reject the median bin "
        "for n > {:.0f}",
        p_note, std::pow(1.628 / std::max(b.median_ks, 1e-12), 2));
    r.gof.push_back(worst);
    r.gof.push_back(typical);
    summaries[side] = b;
  }

  // Diagnostics in words.
  for (std::size_t i = 0; i < fp.free.size(); ++i) {
    const double v = fit.x[i];
    const double span = fp.upper[i] - fp.lower[i];
    if (v - fp.lower[i] > 1e-6 * span && fp.upper[i] - v > 1e-6 * span) continue;
    static constexpr const char* names[] = {"G_min", "G_max", "A_p", "A_d", "sigma_c2c"};
    static constexpr std::size_t outputs[] = {kOutGmin, kOutGmax, kOutAp, kOutAd, kOutStepSd};
    const std::size_t k = fp.free[i];
    const bool at_upper = fp.upper[i] - v <= 1e-6 * span;
    std::string why = "the model cannot follow the table here";
    if ((k == kGainP || k == kGainD) && at_upper)
      why =
          "the mean step is larger than an exponentially saturating window allows: one pulse "
          "would have to cover the whole remaining distance to the window edge";
    else if (k == kGmin && !at_upper)
      why =
          "the depression steps do not shrink towards any G_min above 0 S as the model's "
          "-(G - G_min) law requires";
    else if (k == kGmax && at_upper)
      why = "the potentiation steps do not shrink towards any G_max within 20 table ranges";
    else if (k == kS && !at_upper)
      why = "the table's steps have (almost) no spread";
    r.notes.push_back(fmt::format("{} = {:.4g} is at the bound of its search range: {}",
                                  k == kS ? "step_sd" : names[k], values[outputs[k]], why));
  }
  for (int side = 0; side < 2; ++side) {
    const StepTable* t =
        side == 0 ? (pot_table ? &*pot_table : nullptr) : (dep_table ? &*dep_table : nullptr);
    if (!t) continue;
    // Mean step: tabulated versus fitted, and steps of the wrong sign.
    double ss = 0, scale = 0;
    std::size_t wrong_sign = 0;
    const double sign = t->polarity() == Polarity::potentiation ? 1.0 : -1.0;
    for (std::size_t j = 0; j < t->bins(); ++j) {
      const double fitted = model.step(t->G_bins_S()[j], t->polarity()).expectation();
      ss += (t->mean(j) - fitted) * (t->mean(j) - fitted);
      scale += t->mean(j) * t->mean(j);
      if (sign * t->mean(j) < 0) ++wrong_sign;
    }
    const double rms = std::sqrt(ss / static_cast<double>(t->bins()));
    const double rel = rms / std::sqrt(scale / static_cast<double>(t->bins()));
    r.notes.push_back(fmt::format(
        "{}: the fitted mean step misses the table's per-bin means by {:.3g} S RMS ({:.0f}% of "
        "the RMS mean step){}; median KS distance {:.3f}, largest {:.3f} at G = {:.4g} S{}",
        word(t->polarity()), rms, 100 * rel,
        rel > 0.2 ? ": the table's mean step is not the model's saturating-exponential shape "
                    "(linear in G) -- the model fails here"
                  : "",
        summaries[side]->median_ks, summaries[side]->max_ks, summaries[side]->G_at_max,
        wrong_sign > 0 ? fmt::format("; {} of {} bins have a mean step of the wrong sign, which "
                                     "the model cannot produce away from the window edges",
                                     wrong_sign, t->bins())
                       : ""));
    std::size_t beyond = 0;
    for (std::size_t j = 0; j < t->bins(); ++j) {
      const double after = t->G_bins_S()[j] + t->quantile(j, 0.5);
      if (after > G_hi || after < G_lo) ++beyond;
    }
    if (beyond > 0)
      r.notes.push_back(fmt::format(
          "{}: in {} of {} bins the median step carries G outside the range of bin centres "
          "[{:.4g}, {:.4g}] S, to conductances the tables never condition on; a bounded window "
          "cannot produce that (the lut model clamps such steps at the range)",
          word(t->polarity()), beyond, t->bins(), G_lo, G_hi));
    if (summaries[side]->median_atom > 0.05)
      r.notes.push_back(fmt::format(
          "{}: the table's steps are quantised (in the median bin {:.0f}% of the probability sits "
          "on one step value), so a continuous model cannot come closer than about half that in "
          "KS distance",
          word(t->polarity()), 100 * summaries[side]->median_atom));
  }
  r.notes.push_back(lut_note(pot_table ? &*pot_table : nullptr, dep_table ? &*dep_table : nullptr));

  // PARAMS.toml: the fitted keys, then the keys a dg table fixes.
  add_params_from_estimates(r);
  r.params.push_back(
      params_entry("area", base.area_m2,
                   "m^2, the area the per-area conductances refer to (memristor default)"));
  for (const char* key : {"sigma_area", "sigma_range", "sigma_k0_p", "sigma_k0_d"})
    r.params.push_back(params_entry(
        key, 0.0,
        "fixed: a dg table describes the steps of one device, no device-to-device spread"));
  r.params.push_back(params_entry(
      "sigma_read", 0.0, "fixed: the measured steps already hold the read noise (in step_sd)"));
  for (const char* key : {"p_stuck_off", "p_stuck_on"})
    r.params.push_back(params_entry(key, 0.0, "fixed: a dg table has no stuck devices"));

  // Round trip: pulse trains of the fitted memristor, steps binned like the tables.
  if (options.round_trip) {
    const double A = std::max(values[kOutAp], values[kOutAd]);
    const auto pulses = static_cast<std::int64_t>(std::clamp(std::ceil(4 * A), 20.0, 400.0));
    toml::table config = toml::parse(params_text(r));
    auto* own_table_toml = config[r.model].as_table();
    own_table_toml->insert_or_assign("pulses_per_cycle", pulses);
    own_table_toml->insert_or_assign("cycles", std::int64_t{6});
    own_table_toml->insert_or_assign("noisy_reads", false);
    SimulationRequest q;
    q.model = r.model;
    q.preset = "neurosim";
    q.devices = 200;
    q.seed = options.seed;
    q.config = &config;
    q.config_origin = "fitted parameters";
    q.show_progress = false;
    const auto simulated = simulate_measurements(q);
    const auto& train = std::get<PulseTrainData>(simulated.sets.front().body);
    for (int side = 0; side < 2; ++side) {
      const StepTable* t =
          side == 0 ? (pot_table ? &*pot_table : nullptr) : (dep_table ? &*dep_table : nullptr);
      if (!t) continue;
      const auto binned = bin_steps(*t, collect_steps(train, t->polarity()));
      std::vector<double> D, pit;
      std::vector<double> counts;
      std::size_t n_total = 0;
      double D_max = 0, G_max_D = kNaN;
      for (std::size_t j = 0; j < t->bins(); ++j) {
        const auto& steps = binned[j];
        for (std::size_t k = 0; k < steps.size(); ++k) {
          // Randomised probability integral transform through the bin's table CDF (uniform on
          // [F(x-), F(x)] where the table has an atom).
          RngStream rng(options.seed, static_cast<std::uint64_t>(side), stream_id("round_trip_pit"),
                        static_cast<std::uint64_t>(n_total + k));
          const double lo = t->cdf_below(j, steps[k]), hi = t->cdf_at(j, steps[k]);
          pit.push_back(lo + rng.uniform() * (hi - lo));
        }
        n_total += steps.size();
        if (steps.size() < 20) continue;
        const auto ks = kolmogorov_smirnov(steps, [&](double v) { return t->cdf_at(j, v); });
        D.push_back(ks.statistic);
        counts.push_back(static_cast<double>(steps.size()));
        if (ks.statistic > D_max) {
          D_max = ks.statistic;
          G_max_D = t->G_bins_S()[j];
        }
      }
      const std::string caveat =
          "the table is taken as the exact distribution although it was built from an unknown "
          "number of measured steps, and simulated states spread over each bin's width: p says "
          "whether this many simulated steps can be told apart from the table, not whether the "
          "measurement rejects the model";
      RoundTrip per_bin;
      per_bin.what = D.empty()
                         ? fmt::format(
                               "{} steps of the fitted memristor vs the table, per bin: no bin "
                               "received 20 simulated steps",
                               word(t->polarity()))
                         : fmt::format(
                               "{} steps of the fitted memristor vs the table, per bin: median "
                               "KS distance over {} bins with >= 20 simulated steps (largest "
                               "{:.3f} at G = {:.4g} S)",
                               word(t->polarity()), D.size(), D_max, G_max_D);
      per_bin.ks.statistic = median_of(D);
      per_bin.ks.n = counts.empty() ? 0 : static_cast<std::size_t>(median_of(counts));
      per_bin.n_simulated = n_total;
      per_bin.note =
          "n = median simulated steps per bin; n measured unknown (not in the table); " + caveat;
      r.round_trips.push_back(per_bin);
      if (!pit.empty()) {
        RoundTrip pooled;
        pooled.what = fmt::format(
            "{} steps of the fitted memristor, pooled over bins: randomised "
            "PIT through the bin's table CDF vs uniform",
            word(t->polarity()));
        pooled.ks = kolmogorov_smirnov(pit, [](double u) { return std::clamp(u, 0.0, 1.0); });
        pooled.n_simulated = n_total;
        pooled.note = fmt::format("{} of the simulated steps fell inside the table's bins; {}",
                                  n_total, caveat);
        r.round_trips.push_back(pooled);
      }
    }
  }

  // Figures.
  {
    Plot mean_plot("Mean step per pulse versus conductance", "G (S)", "mean dG (S)");
    Plot sd_plot("Step standard deviation versus conductance", "G (S)", "std dG (S)");
    for (const auto* t : {pot_table ? &*pot_table : nullptr, dep_table ? &*dep_table : nullptr}) {
      if (!t) continue;
      std::vector<double> G = t->G_bins_S(), mt, st, mf, sf;
      for (std::size_t j = 0; j < t->bins(); ++j) {
        mt.push_back(t->mean(j));
        st.push_back(std::sqrt(t->variance(j)));
        const auto c = model.step(G[j], t->polarity());
        mf.push_back(c.expectation());
        sf.push_back(c.standard_deviation());
      }
      // a polarity's table and fit share one colour
      const int colour = t->polarity() == Polarity::potentiation ? 0 : 1;
      mean_plot.points(fmt::format("{} table", word(t->polarity())), G, mt).colour(colour);
      mean_plot.line(fmt::format("{} fit", word(t->polarity())), G, mf).colour(colour);
      sd_plot.points(fmt::format("{} table", word(t->polarity())), G, st).colour(colour);
      sd_plot.line(fmt::format("{} fit", word(t->polarity())), G, sf).colour(colour);
    }
    r.figures.push_back({"mean_step",
                         "Mean step per pulse versus G: table (points) and fitted "
                         "memristor model (lines), both polarities",
                         mean_plot.svg()});
    r.figures.push_back({"step_sd",
                         "Standard deviation of the step versus G: table (points) and "
                         "fitted model (lines, clipping included)",
                         sd_plot.svg()});
    for (const auto* t : {pot_table ? &*pot_table : nullptr, dep_table ? &*dep_table : nullptr}) {
      if (!t) continue;
      Plot p(fmt::format("Conditional step CDFs, {}", word(t->polarity())), "dG (S)",
             "P(step <= dG)");
      const std::size_t n = t->bins();
      for (std::size_t j : {n / 10, n / 2, n - 1 - n / 10}) {
        const auto col = t->column(j);
        const double G = t->G_bins_S()[j];
        p.line(fmt::format("table, G = {:.3g} S", G), {col.begin(), col.end()}, t->cdf());
        const auto c = model.step(G, t->polarity());
        const double lo = std::min(col.front(), c.quantile(1e-3)),
                     hi = std::max(col.back(), c.quantile(1 - 1e-3));
        const auto xs = linspace(lo, hi, 200);
        std::vector<double> ys;
        for (double x : xs) ys.push_back(c.cdf(x));
        p.line(fmt::format("fit, G = {:.3g} S", G), xs, ys, true);
      }
      r.figures.push_back({fmt::format("cdf_{}", word(t->polarity())),
                           fmt::format("Conditional CDFs of the {} step at three bins: table "
                                       "(solid) and fitted model (dashed)",
                                       word(t->polarity())),
                           p.svg()});
    }
  }
  return r;
}

MeasurementFile memristor_dg_tables(const MemristorModel& model, const DgTableDesign& d,
                                    std::uint64_t seed) {
  MC_VALIDATE(d.n_bins >= 2 && d.steps_per_bin >= 1, "memristor_dg_tables: {} bins x {} steps",
              d.n_bins, d.steps_per_bin);
  MC_VALIDATE(d.w_low >= 0 && d.w_high <= 1 && d.w_low < d.w_high,
              "memristor_dg_tables: state range [{}, {}] must lie in [0, 1]", d.w_low, d.w_high);
  MemristorDevice device = model.make_device(seed, 0);
  MC_VALIDATE(device.stuck == StuckState::none, "memristor_dg_tables: the drawn device is stuck");
  const double width = (d.w_high - d.w_low) / static_cast<double>(d.n_bins);
  DgTableBinning binning;
  for (std::int64_t j = 0; j <= d.n_bins; ++j) {
    model.set_state(device, std::min(d.w_low + width * static_cast<double>(j), 1.0));
    binning.edges_S.push_back(model.conductance(device));
  }
  for (int i = 0; i <= 100; ++i) binning.cdf.push_back(i / 100.0);
  binning.min_steps = 1;
  MeasurementFile f;
  f.source = "memcarlo memristor_dg_tables";
  f.licence = "generated";
  f.provenance = fmt::format("{} bins x {} steps per polarity over w in [{}, {}], seed {}",
                             d.n_bins, d.steps_per_bin, d.w_low, d.w_high, seed);
  for (Polarity pol : {Polarity::potentiation, Polarity::depression}) {
    StepSamples s;
    for (std::int64_t j = 0; j < d.n_bins; ++j) {
      const double w = d.w_low + width * (static_cast<double>(j) + 0.5);
      const auto entity =
          static_cast<std::uint64_t>(j + (pol == Polarity::depression ? d.n_bins : 0));
      for (std::int64_t k = 0; k < d.steps_per_bin; ++k) {
        model.set_state(device, w);
        const double before = model.conductance(device);
        RngStream rng(seed, entity, memristor_stream::pulse, static_cast<std::uint64_t>(k));
        model.apply_pulse(device, pol, rng);
        s.G_before_S.push_back(before);
        s.dG_S.push_back(model.conductance(device) - before);
      }
    }
    f.sets.push_back({word(pol),
                      fmt::format("simulated memristor {} steps (not measured)", word(pol)),
                      build_dg_table(s, pol, binning)});
  }
  return f;
}

std::vector<RecoveryCheck> recovery_trial_dg_table(std::uint64_t seed, std::int64_t bootstrap) {
  MemristorAbstraction truth;
  truth.G_min_S = 2e-6;
  truth.G_max_S = 30e-6;
  truth.A_p_pulses = 15;
  truth.A_d_pulses = 25;
  MemristorConfig base;
  base.sigma_c2c = 0.005;
  const MemristorModel model = MemristorModel::from_abstraction(truth, base);
  const CalibrationInput input = calibration_input(
      memristor_dg_tables(model, {160, 2000, 0.05, 0.95}, seed), "potentiation", "simulated");
  CalibrationOptions options;
  options.bootstrap = bootstrap;
  options.seed = seed;
  options.show_progress = false;
  options.round_trip = false;
  const auto r = calibrate_dg_table(input, options);
  return {recovery_check(r, "G_min", truth.G_min_S), recovery_check(r, "G_max", truth.G_max_S),
          recovery_check(r, "A_p", truth.A_p_pulses), recovery_check(r, "A_d", truth.A_d_pulses),
          recovery_check(r, "sigma_c2c", base.sigma_c2c)};
}

}  // namespace memcarlo
