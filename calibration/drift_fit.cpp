#include "calibration/drift_fit.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <numeric>
#include <tuple>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "calibration/bootstrap.hpp"
#include "calibration/distribution_fit.hpp"
#include "calibration/minimize.hpp"
#include "core/svg_plot.hpp"
#include "core/error.hpp"
#include "core/units.hpp"
#include "physics/pcm_drift.hpp"
#include "physics/simulate.hpp"

namespace memcarlo {

double ClipLine::operator()(double ln_g) const { return std::min(std::max(a * ln_g + b, lo), hi); }

// ---------------------------------------------------------------- per-device exponents

DriftExponents fit_drift_exponents(const DriftData& d, const std::string& where) {
  const std::size_t n_dev = d.G_S.shape[0], n_t = d.G_S.shape[1];
  MC_VALIDATE(n_dev > 0 && n_t > 0, "{}: the drift data hold no reads", where);
  const double ln_t0 = std::log(d.t0_s);
  DriftExponents e;
  std::vector<double> x, y;
  for (std::size_t i = 0; i < n_dev; ++i) {
    x.clear();
    y.clear();
    double previous = -HUGE_VAL;
    for (std::size_t j = 0; j < n_t; ++j) {
      double t = d.t_s[j];
      if (d.t_read_s && std::isfinite((*d.t_read_s)(i, j))) t = (*d.t_read_s)(i, j);
      const double G = d.G_S(i, j);
      if (!(G > 0) || !std::isfinite(G) || !(t >= d.t0_s * (1 - 1e-12))) continue;
      MC_VALIDATE(t > previous, "{}: device {}: read time {} s does not increase (after {} s)",
                  where, i, t, previous);
      previous = t;
      x.push_back(std::log(t) - ln_t0);
      y.push_back(std::log(G));
    }
    const double n = static_cast<double>(x.size());
    double G_ref = kNaN;
    if (d.G_target_S) G_ref = (*d.G_target_S)[i];
    if (x.size() < 2 || (d.G_target_S && !(G_ref > 0))) {
      ++e.skipped;
      continue;
    }
    const double xm = std::accumulate(x.begin(), x.end(), 0.0) / n;
    const double ym = std::accumulate(y.begin(), y.end(), 0.0) / n;
    double sxx = 0, sxy = 0;
    for (std::size_t k = 0; k < x.size(); ++k) {
      sxx += (x[k] - xm) * (x[k] - xm);
      sxy += (x[k] - xm) * (y[k] - ym);
    }
    if (!(sxx > 0)) {
      ++e.skipped;
      continue;
    }
    const double slope = sxy / sxx, intercept = ym - slope * xm;
    double variance = kNaN;
    if (x.size() > 2) {
      double rss = 0;
      for (std::size_t k = 0; k < x.size(); ++k) {
        const double r = y[k] - intercept - slope * x[k];
        rss += r * r;
      }
      variance = rss / (n - 2) / sxx;
    }
    e.nu.push_back(-slope);
    e.nu_variance.push_back(variance);
    e.G_ref_S.push_back(d.G_target_S ? G_ref : std::exp(intercept));
    e.device.push_back(i);
  }
  MC_VALIDATE(!e.nu.empty(),
              "{}: no device has two positive reads at t >= t0 = {} s (all {} devices NaN, "
              "non-positive or read only once)", where, d.t0_s, n_dev);
  MC_VALIDATE(e.nu.size() >= 10, "{}: only {} devices have two positive reads at t >= t0; at "
              "least 10 are needed to fit a distribution", where, e.nu.size());

  // State groups: programmed level, else distinct target, else quantile bins of G(t0).
  const std::size_t n = e.nu.size();
  e.group.resize(n);
  std::map<double, std::int64_t> ids;
  if (d.level || d.G_target_S) {
    e.grouping = d.level ? "level" : "G_target";
    for (std::size_t k = 0; k < n; ++k) {
      const double key = d.level ? static_cast<double>((*d.level)[e.device[k]]) : e.G_ref_S[k];
      ids.emplace(key, 0);
    }
    std::int64_t next = 0;
    for (auto& [key, id] : ids) id = next++;
    for (std::size_t k = 0; k < n; ++k)
      e.group[k] = ids.at(d.level ? static_cast<double>((*d.level)[e.device[k]]) : e.G_ref_S[k]);
    e.n_groups = next;
  } else {
    e.grouping = "quantile bins of G(t0)";
    const auto bins = static_cast<std::int64_t>(std::clamp<std::size_t>(n / 100, 1, 32));
    std::vector<std::size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return e.G_ref_S[a] < e.G_ref_S[b]; });
    for (std::size_t r = 0; r < n; ++r)
      e.group[order[r]] = static_cast<std::int64_t>(r * static_cast<std::size_t>(bins) / n);
    e.n_groups = bins;
  }
  return e;
}

namespace {

// Group statistics of the devices listed in `rows` (indices into e), shifted sums for accuracy.
std::vector<DriftGroup> group_statistics(const DriftExponents& e, std::span<const double> ln_g,
                                         std::span<const std::uint32_t> rows) {
  const auto G = static_cast<std::size_t>(e.n_groups);
  std::vector<double> n(G), s1(G), s2(G), lg(G);
  const double shift = e.nu[0];
  for (std::uint32_t r : rows) {
    const auto k = static_cast<std::size_t>(e.group[r]);
    const double v = e.nu[r] - shift;
    n[k] += 1;
    s1[k] += v;
    s2[k] += v * v;
    lg[k] += ln_g[r];
  }
  std::vector<DriftGroup> out;
  for (std::size_t k = 0; k < G; ++k) {
    if (n[k] < 3) continue;  // a spread needs a few devices
    const double m = s1[k] / n[k];
    out.push_back({lg[k] / n[k], n[k], m + shift, std::max(s2[k] - n[k] * m * m, 0.0)});
  }
  return out;
}

std::vector<std::uint32_t> all_rows(std::size_t n) {
  std::vector<std::uint32_t> r(n);
  std::iota(r.begin(), r.end(), 0u);
  return r;
}

double weighted_slope(const std::vector<double>& x, const std::vector<double>& y,
                      const std::vector<double>& w, double& intercept) {
  double sw = 0, sx = 0, sy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sw += w[i], sx += w[i] * x[i], sy += w[i] * y[i];
  const double xm = sx / sw, ym = sy / sw;
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i)
    sxx += w[i] * (x[i] - xm) * (x[i] - xm), sxy += w[i] * (x[i] - xm) * (y[i] - ym);
  const double slope = sxx > 0 ? sxy / sxx : 0.0;
  intercept = ym - slope * xm;
  return slope;
}

// The extreme values of a line over the groups: the bound a missing clip stands for.
double line_min(const ClipLine& c, const std::vector<DriftGroup>& g) {
  double v = HUGE_VAL;
  for (const auto& k : g) v = std::min(v, c(k.ln_g));
  return v;
}
double line_max(const ClipLine& c, const std::vector<DriftGroup>& g) {
  double v = -HUGE_VAL;
  for (const auto& k : g) v = std::max(v, c(k.ln_g));
  return v;
}

}  // namespace

// ---------------------------------------------------------------- state dependence

DriftStateFit fit_drift_state(const std::vector<DriftGroup>& groups, const DriftStateFit& structure) {
  MC_VALIDATE(groups.size() >= 2, "the state dependence needs at least 2 groups of >= 3 devices, "
              "got {}", groups.size());
  // Work in units of the overall spread so that every parameter is of order one.
  double N = 0, S = 0;
  for (const auto& k : groups) N += k.n, S += k.n * k.mean;
  const double grand = S / N;
  double SS = 0;
  for (const auto& k : groups) SS += k.ss + k.n * (k.mean - grand) * (k.mean - grand);
  const double scale = SS > 0 ? std::sqrt(SS / N) : 1.0;
  std::vector<double> lg, m, sd, w;
  for (const auto& k : groups) {
    lg.push_back(k.ln_g);
    m.push_back(k.mean / scale);
    sd.push_back(std::sqrt(k.ss / k.n) / scale);
    w.push_back(k.n);
  }
  const auto [m_lo, m_hi] = std::minmax_element(m.begin(), m.end());
  const auto [s_lo, s_hi] = std::minmax_element(sd.begin(), sd.end());
  double b_mu = 0, b_sig = 0;
  const double a_mu = weighted_slope(lg, m, w, b_mu);
  const double a_sig = weighted_slope(lg, sd, w, b_sig);

  struct Slot { int index = -1; };
  std::vector<double> x0, lower, upper, step;
  const auto add = [&](double start, double lo, double hi, double st) {
    x0.push_back(start), lower.push_back(lo), upper.push_back(hi), step.push_back(st);
    return static_cast<int>(x0.size()) - 1;
  };
  const double mrange = *m_hi - *m_lo + 1e-3, srange = *s_hi - *s_lo + 1e-3;
  const int ia = add(a_mu, -1e3, 1e3, 0.5), ib = add(b_mu, -1e3, 1e3, 0.5);
  const int ilo = structure.mu_lo ? add(*m_lo, *m_lo - 10 * mrange, *m_hi + mrange, 0.2 * mrange) : -1;
  const int ihi = structure.mu_hi ? add(*m_hi, *m_lo - mrange, *m_hi + 10 * mrange, 0.2 * mrange) : -1;
  const int isa = add(a_sig, -1e3, 1e3, 0.2), isb = add(b_sig, -1e3, 1e3, 0.2);
  const int islo = structure.sigma_lo ? add(std::max(*s_lo, 1e-3), 1e-6, *s_hi + srange, 0.2 * srange) : -1;
  const int ishi = structure.sigma_hi ? add(*s_hi, 1e-6, *s_hi + 10 * srange, 0.2 * srange) : -1;

  const auto lines = [&](std::span<const double> x, ClipLine& mu, ClipLine& sig) {
    mu = {x[ia], x[ib], ilo >= 0 ? x[ilo] : -HUGE_VAL, ihi >= 0 ? x[ihi] : HUGE_VAL};
    sig = {x[isa], x[isb], islo >= 0 ? x[islo] : -HUGE_VAL, ishi >= 0 ? x[ishi] : HUGE_VAL};
  };
  const auto nll = [&](std::span<const double> x) {
    ClipLine mu, sig;
    lines(x, mu, sig);
    if (mu.lo >= mu.hi || sig.lo >= sig.hi) return HUGE_VAL;
    double f = 0;
    for (std::size_t k = 0; k < groups.size(); ++k) {
      const double s = sig(lg[k]);
      if (!(s > 1e-9)) return HUGE_VAL;
      const double d = m[k] - mu(lg[k]);
      f += w[k] * std::log(s) + (w[k] * sd[k] * sd[k] + w[k] * d * d) / (2 * s * s);
    }
    return f;
  };
  MinimizeOptions opt;
  opt.initial_step = step;
  opt.max_evaluations = 4000;
  opt.x_tol_rel = 1e-8;
  MinimizeResult best;
  if (structure.parameters > 0) {
    // Refit (bootstrap): start from the previous fit, whose clips are already in place.
    std::vector<double> x = x0;
    const ClipLine& mu = structure.mu;
    const ClipLine& sig = structure.sigma;
    x[ia] = mu.a / scale, x[ib] = mu.b / scale, x[isa] = sig.a / scale, x[isb] = sig.b / scale;
    if (ilo >= 0) x[ilo] = mu.lo / scale;
    if (ihi >= 0) x[ihi] = mu.hi / scale;
    if (islo >= 0) x[islo] = sig.lo / scale;
    if (ishi >= 0) x[ishi] = sig.hi / scale;
    opt.x_tol_rel = 1e-6;  // far below the spread of the replicates
    best = minimize(nll, x, lower, upper, opt, "drift state-dependence fit");
  } else {
    // Two starts: clips at the extremes of the group values, and clips inside them; then a
    // restart from the better one (subplex can stall on the kinks of the clips).
    std::vector<double> start2 = x0;
    if (ilo >= 0) start2[ilo] = *m_lo + 0.3 * mrange;
    if (ihi >= 0) start2[ihi] = *m_hi - 0.3 * mrange;
    if (islo >= 0) start2[islo] = *s_lo + 0.3 * srange;
    if (ishi >= 0) start2[ishi] = *s_hi - 0.3 * srange;
    best = minimize(nll, x0, lower, upper, opt, "drift state-dependence fit");
    const auto second = minimize(nll, start2, lower, upper, opt, "drift state-dependence fit");
    if (second.value < best.value) best = second;
    best = minimize(nll, best.x, lower, upper, opt, "drift state-dependence fit");
  }

  DriftStateFit r = structure;
  lines(best.x, r.mu, r.sigma);
  for (ClipLine* c : {&r.mu, &r.sigma}) {
    c->a *= scale, c->b *= scale;
    if (std::isfinite(c->lo)) c->lo *= scale;
    if (std::isfinite(c->hi)) c->hi *= scale;
  }
  r.parameters = static_cast<int>(best.x.size());
  // The scaled objective omits N ln(scale) and N/2 ln(2 pi); the quadratic terms are scale free.
  r.log_likelihood = -best.value - N * std::log(scale) - 0.5 * N * std::log(2 * units::kPi);
  r.aic = 2 * r.parameters - 2 * r.log_likelihood;
  r.bic = std::log(N) * r.parameters - 2 * r.log_likelihood;
  return r;
}

DriftStateFit fit_drift_state(const std::vector<DriftGroup>& groups) {
  DriftStateFit best;
  bool have = false;
  for (int mask = 0; mask < 16; ++mask) {
    DriftStateFit s;  // parameters = 0: a fresh fit
    s.mu_lo = mask & 1, s.mu_hi = mask & 2, s.sigma_lo = mask & 4, s.sigma_hi = mask & 8;
    const int clips = s.mu_lo + s.mu_hi + s.sigma_lo + s.sigma_hi;
    if (static_cast<int>(groups.size()) < 4 + clips + 1) continue;  // keep a degree of freedom
    const auto f = fit_drift_state(groups, s);
    if (!have || f.bic < best.bic - 1e-9) best = f, have = true;
  }
  MC_VALIDATE(have, "the state dependence needs at least 5 groups of >= 3 devices, got {}",
              groups.size());
  return best;
}

// ---------------------------------------------------------------- bake

double BakeArrheniusFit::model(double T_K) const { return v0 + A * std::exp(-E_a_eV / (units::kBoltzmann_eV_per_K * T_K)); }

namespace {

struct BakeGroups {
  std::vector<double> T;
  std::vector<std::vector<std::uint32_t>> rows;
};

BakeGroups bake_groups(const std::vector<double>& temperature_K) {
  std::map<double, std::vector<std::uint32_t>> m;
  for (std::size_t i = 0; i < temperature_K.size(); ++i)
    m[temperature_K[i]].push_back(static_cast<std::uint32_t>(i));
  BakeGroups g;
  for (auto& [T, rows] : m) g.T.push_back(T), g.rows.push_back(std::move(rows));
  return g;
}

BakeArrheniusFit fit_bake_points(const std::vector<double>& T, const std::vector<double>& v,
                                 const std::string& where) {
  MC_VALIDATE(T.size() >= 3, "{}: the activation energy needs bakes at >= 3 temperatures, got {}",
              where, T.size());
  for (std::size_t j = 0; j < v.size(); ++j)
    MC_VALIDATE(v[j] > 0 && std::isfinite(v[j]), "{}: the relaxation variance at {} K is {}",
                where, T[j], v[j]);
  // v = v0 + c exp(-E_a/k (1/T - 1/T*)), T* the harmonic mean temperature (c and E_a decouple).
  double inv = 0;
  for (double t : T) inv += 1 / t;
  const double inv_star = inv / static_cast<double>(T.size());
  const double vmin = *std::min_element(v.begin(), v.end()), vmax = *std::max_element(v.begin(), v.end());
  const auto model = [&](std::span<const double> x, double t) {
    return x[0] * vmin + std::exp(x[1]) * vmin * std::exp(-x[2] / units::kBoltzmann_eV_per_K * (1 / t - inv_star));
  };
  const auto f = [&](std::span<const double> x) {
    double s = 0;
    for (std::size_t j = 0; j < T.size(); ++j) {
      const double r = std::log(v[j]) - std::log(model(x, T[j]));
      s += r * r;
    }
    return s;
  };
  MinimizeOptions opt;
  opt.method = MinimizeMethod::subplex;
  opt.initial_step = {0.1, 0.5, 0.1};
  const std::vector<double> lower{0, std::log(1e-6), 0.0}, upper{1.0, std::log(1e4 * vmax / vmin), 5.0};
  auto best = minimize(f, {0.5, 0.0, 0.5}, lower, upper, opt, where + ": bake Arrhenius fit");
  for (double e0 : {0.1, 1.5}) {
    const auto r = minimize(f, {0.2, 0.0, e0}, lower, upper, opt, where + ": bake Arrhenius fit");
    if (r.value < best.value) best = r;
  }
  BakeArrheniusFit out;
  out.v0 = best.x[0] * vmin;
  out.E_a_eV = best.x[2];
  out.A = std::exp(best.x[1]) * vmin * std::exp(best.x[2] / units::kBoltzmann_eV_per_K * inv_star);
  out.temperature_K = T;
  out.variance = v;
  return out;
}

double variance_of(const std::vector<double>& x, std::span<const std::uint32_t> rows, double* mean_out) {
  double m = 0;
  for (auto r : rows) m += x[r];
  m /= static_cast<double>(rows.size());
  double s = 0;
  for (auto r : rows) s += (x[r] - m) * (x[r] - m);
  if (mean_out) *mean_out = m;
  return s / static_cast<double>(rows.size() - 1);
}

}  // namespace

BakeArrheniusFit fit_bake_arrhenius(const std::vector<double>& temperature_K,
                                    const std::vector<double>& log_ratio,
                                    const std::vector<double>& duration_s, const std::string& where) {
  const auto groups = bake_groups(temperature_K);
  std::vector<double> v, mean, dur;
  std::vector<std::size_t> count;
  for (const auto& rows : groups.rows) {
    MC_VALIDATE(rows.size() >= 3, "{}: only {} usable records at one temperature", where, rows.size());
    double m = 0;
    v.push_back(variance_of(log_ratio, rows, &m));
    mean.push_back(m);
    std::vector<double> d;
    for (auto r : rows) d.push_back(duration_s[r]);
    std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
    dur.push_back(d[d.size() / 2]);
    count.push_back(rows.size());
  }
  auto fit = fit_bake_points(groups.T, v, where);
  fit.mean = mean;
  fit.duration_s = dur;
  fit.count = count;
  return fit;
}

// ---------------------------------------------------------------- the calibrations

namespace {

std::string toml_text(const CalibrationResult& r, const std::vector<ParamsEntry>& extra) {
  std::string t = fmt::format("[{}]\n", r.model);
  for (const auto& e : r.params) t += fmt::format("{} = {}\n", e.key, e.value);
  for (const auto& e : extra) t += fmt::format("{} = {}\n", e.key, e.value);
  return t;
}

EstimatedParameter param(std::string key, std::string unit, std::string description, double value,
                         bool in_params = true) {
  EstimatedParameter p;
  p.key = std::move(key);
  p.unit = std::move(unit);
  p.description = std::move(description);
  p.estimate = value;
  p.in_params = in_params;
  return p;
}

// The 8 clip-form values of a fit; missing clips stand at the line's extremes over the groups.
std::array<double, 8> clip_values(const DriftStateFit& f, const std::vector<DriftGroup>& g) {
  return {f.mu.a, f.mu.b,
          f.mu_lo ? f.mu.lo : line_min(f.mu, g), f.mu_hi ? f.mu.hi : line_max(f.mu, g),
          f.sigma.a, f.sigma.b,
          f.sigma_lo ? f.sigma.lo : line_min(f.sigma, g), f.sigma_hi ? f.sigma.hi : line_max(f.sigma, g)};
}

CalibrationResult calibrate_drift_data(const CalibrationInput& input, const DriftData& d,
                                       const CalibrationOptions& options) {
  const std::string where = input.source();
  CalibrationResult r;
  r.kind = "drift";
  r.source = where;
  r.model = "pcm-drift";
  r.confidence = options.confidence;
  const auto e = fit_drift_exponents(d, where);
  const std::size_t n = e.nu.size();
  const double g_max = *std::max_element(e.G_ref_S.begin(), e.G_ref_S.end());
  const double ln_g_max = std::log(g_max);
  const auto rows = all_rows(n);
  std::vector<double> ln_g(n);  // ln(G_ref / g_max) per device, once (not per resample)
  for (std::size_t k = 0; k < n; ++k) ln_g[k] = std::log(e.G_ref_S[k]) - ln_g_max;
  const auto groups = group_statistics(e, ln_g, rows);
  const auto fit = fit_drift_state(groups);
  const auto clips = clip_values(fit, groups);

  r.method = fmt::format(
      "Per device, nu = minus the slope of the least-squares line of ln G against ln t over the "
      "reads at t >= t0 = {} s with G > 0 (actual read times where recorded); {} of {} devices had "
      "two such reads. Devices are grouped by {} ({} groups with >= 3 devices); g = G_ref / g_max "
      "with G_ref the {} and g_max = {:.6g} S, the largest G_ref. nu_i ~ N(mu_nu(g), sigma_nu(g)) "
      "with mu_nu, sigma_nu = clip(a ln g + b, lo, hi) is fitted by maximum likelihood (NLopt "
      "subplex); which clips the data support is chosen by BIC among all 16 combinations (BIC, not AIC: a spurious clip inside the data would be written into PARAMS.toml), and a "
      "clip the data do not reach is not identified and is written as the line's extreme over the "
      "measured range (no extrapolation). The pooled nu are fitted by normal and lognormal maximum "
      "likelihood and ranked by AIC. Intervals: devices resampled with replacement and every fit "
      "repeated (clip choice fixed).",
      d.t0_s, n, d.G_S.shape[0], e.grouping, groups.size(),
      d.G_target_S ? "programmed target" : "fitted G(t0)", g_max);

  const char* names[8] = {"mu_nu_a", "mu_nu_b", "mu_nu_lo", "mu_nu_hi",
                          "sigma_nu_a", "sigma_nu_b", "sigma_nu_lo", "sigma_nu_hi"};
  const char* docs[8] = {"mean drift exponent, slope in ln g", "mean drift exponent, intercept",
                         "lower clip of the mean", "upper clip of the mean",
                         "spread of nu, slope in ln g", "spread of nu, intercept",
                         "lower clip of the spread", "upper clip of the spread"};
  const bool identified[8] = {true, true, fit.mu_lo, fit.mu_hi, true, true, fit.sigma_lo, fit.sigma_hi};
  for (int k = 0; k < 8; ++k) {
    auto p = param(names[k], "1", docs[k], clips[static_cast<std::size_t>(k)]);
    p.identified = identified[k];
    if (!identified[k]) p.note = "no group reaches this clip; set to the line's extreme over the measured range";
    r.parameters.push_back(p);
  }
  // Pooled distribution of nu.
  const std::vector<double>& nu = e.nu;
  const bool positive = std::all_of(nu.begin(), nu.end(), [](double v) { return v > 0; });
  const auto normal = fit_normal(nu);
  r.parameters.push_back(param("nu_mean", "1", "mean of nu over all devices", normal.parameter("mean"), false));
  r.parameters.push_back(param("nu_std", "1", "standard deviation of nu over all devices",
                               normal.parameter("sigma"), false));
  std::vector<DistributionFit> ranked{normal};
  if (positive) {
    const auto lognormal = fit_lognormal(nu);
    r.parameters.push_back(param("nu_log_mu", "1", "lognormal fit of nu: mean of ln nu", lognormal.parameter("mu"), false));
    r.parameters.push_back(param("nu_log_sigma", "1", "lognormal fit of nu: std of ln nu",
                                 lognormal.parameter("sigma"), false));
    const DistributionFamily fam[] = {DistributionFamily::normal, DistributionFamily::lognormal};
    ranked = rank_by_aic(nu, fam);
  } else {
    const auto neg = std::count_if(nu.begin(), nu.end(), [](double v) { return v <= 0; });
    r.notes.push_back(fmt::format("{} of {} devices have nu <= 0 (conductance rising), so the "
                                  "lognormal family does not apply; nu is described as normal",
                                  neg, n));
  }
  // Share of the spread of nu that the regression error of single devices explains.
  double v_sum = 0;
  std::size_t v_n = 0;
  for (double v : e.nu_variance)
    if (std::isfinite(v)) v_sum += v, ++v_n;
  const double share = v_n ? (v_sum / static_cast<double>(v_n)) / (normal.parameter("sigma") * normal.parameter("sigma")) : kNaN;
  r.parameters.push_back(param("regression_share", "1",
                               "mean per-device regression variance of nu / variance of nu "
                               "(the part of the spread that is read noise, not device physics)",
                               share, false));

  // Bootstrap: resample devices.
  const std::size_t n_values = r.parameters.size();
  const auto replicates = run_bootstrap(
      options.bootstrap, options.seed, n_values, options.show_progress,
      [&](RngStream& rng, std::span<double> out) {
        const auto idx = resample_indices(n, rng);
        const auto g = group_statistics(e, ln_g, idx);
        const auto f = fit_drift_state(g, fit);
        const auto c = clip_values(f, g);
        std::copy(c.begin(), c.end(), out.begin());
        // The normal and lognormal maximum-likelihood estimates in closed form (fit_normal and
        // fit_lognormal would also run their goodness-of-fit tests, which cost more than the rest).
        const auto mean_sd = [&](auto&& value) {
          double m = 0, ss = 0;
          for (auto k : idx) m += value(nu[k]);
          m /= static_cast<double>(idx.size());
          for (auto k : idx) ss += (value(nu[k]) - m) * (value(nu[k]) - m);
          return std::pair{m, std::sqrt(ss / static_cast<double>(idx.size()))};
        };
        std::tie(out[8], out[9]) = mean_sd([](double v) { return v; });
        std::size_t j = 10;
        if (positive) {
          std::tie(out[j], out[j + 1]) = mean_sd([](double v) { return std::log(v); });
          j += 2;
        }
        double vs = 0;
        std::size_t vn = 0;
        for (auto k : idx)
          if (std::isfinite(e.nu_variance[k])) vs += e.nu_variance[k], ++vn;
        out[j] = vn ? (vs / static_cast<double>(vn)) / (out[9] * out[9]) : kNaN;
      });
  attach_intervals(r, replicates);

  // Goodness of fit.
  for (const auto& f : ranked) {
    GoodnessOfFit g;
    g.what = fmt::format("nu (all devices) vs fitted {}{}", to_string(f.family),
                         &f == &ranked.front() && ranked.size() > 1 ? " (best by AIC)" : "");
    g.ks = f.ks;
    g.ad = f.ad;
    g.note = fmt::format("AIC {:.6g}; parameters estimated from the same data (p conservative)", f.aic);
    r.gof.push_back(g);
  }
  {
    std::vector<double> z(n);
    std::vector<double> lg(static_cast<std::size_t>(e.n_groups), 0.0);
    for (std::size_t k = 0; k < n; ++k) {
      const double x = std::log(e.G_ref_S[k]) - ln_g_max;
      z[k] = (nu[k] - fit.mu(x)) / fit.sigma(x);
    }
    GoodnessOfFit g;
    g.what = "standardised nu, (nu - mu_nu(g)) / sigma_nu(g), vs N(0, 1)";
    const auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
    const auto Q = [](double x) { return 0.5 * std::erfc(x / std::sqrt(2.0)); };
    g.ks = kolmogorov_smirnov(z, Phi);
    g.ad = anderson_darling(z, Phi, Q);
    g.note = "tests the state-dependent normal model; parameters estimated (p conservative)";
    r.gof.push_back(g);
  }
  for (const auto& g : r.gof)
    if (g.ks.p_value < 0.01 || g.ad.p_value < 0.01)
      r.notes.push_back(fmt::format("the fit fails the {} test at the 1% level: {}",
                                    g.ks.p_value < 0.01 ? "Kolmogorov-Smirnov" : "Anderson-Darling", g.what));

  // PARAMS.toml: the fitted keys, then the normalisation and a protocol that repeats the data's.
  add_params_from_estimates(r);
  double glo = HUGE_VAL, ghi = -HUGE_VAL;
  for (const auto& g : groups) glo = std::min(glo, std::exp(g.ln_g)), ghi = std::max(ghi, std::exp(g.ln_g));
  std::vector<double> times;
  for (double t : d.t_s)
    if (t >= d.t0_s * (1 - 1e-12)) times.push_back(t);
  r.params.push_back(params_entry("g_max", g_max, "S, normalisation of g (largest G_ref in the data)"));
  r.params.push_back(params_entry("t0", d.t0_s, "s, reference time of the data"));
  r.params.push_back(params_entry("levels", static_cast<std::int64_t>(groups.size()), "protocol: state groups of the data"));
  r.params.push_back(params_entry("g_lo", glo, "protocol: lowest group g"));
  r.params.push_back(params_entry("g_hi", std::min(ghi, 10.0), "protocol: highest group g"));
  r.params.push_back(params_entry("t_first", times.front(), "s, protocol: first read at t >= t0"));
  r.params.push_back(params_entry("t_last", times.back(), "s, protocol: last read"));
  r.params.push_back(params_entry("n_times", static_cast<std::int64_t>(times.size()),
                                  "protocol: reads at t >= t0 (log-spaced in the simulation)"));

  // Round trip: simulate pcm-drift with these keys (noise off: nu is then read exactly, as the
  // fitted spread already holds the measured regression error) and compare the exponents.
  if (options.round_trip) {
    toml::table table = toml::parse(toml_text(r, {}));
    auto* own = table[r.model].as_table();
    own->insert_or_assign("read_noise", false);
    own->insert_or_assign("programming_noise", false);
    SimulationRequest q;
    q.model = r.model;
    q.devices = static_cast<std::int64_t>(std::min<std::size_t>(n, 20000));
    q.seed = options.seed;
    q.config = &table;
    q.config_origin = "fitted parameters";
    q.show_progress = false;
    const auto simulated = simulate_measurements(q);
    const auto se = fit_drift_exponents(std::get<DriftData>(simulated.sets.front().body), "round trip");
    RoundTrip t;
    t.what = "nu, measured vs simulated with the fitted parameters";
    t.ks = kolmogorov_smirnov_two_sample(nu, se.nu);
    t.n_measured = n;
    t.n_simulated = se.nu.size();
    t.note = "simulated targets are evenly spaced between g_lo and g_hi, not the measured levels";
    r.round_trips.push_back(t);
  }

  // Figures.
  {
    Plot p("Drift exponent versus state", "g = G_ref / g_max", "nu");
    p.x_scale(PlotScale::log);
    std::vector<double> gx, ny;
    // At most 1500 devices, spread by the golden ratio so that no level is skipped (a fixed
    // stride would alias with the level cycle of the devices).
    const std::size_t shown = std::min<std::size_t>(n, 1500);
    for (std::size_t j = 0; j < shown; ++j) {
      const double u = std::fmod(0.6180339887498949 * static_cast<double>(j), 1.0);
      const auto k = shown == n ? j : static_cast<std::size_t>(u * static_cast<double>(n));
      gx.push_back(e.G_ref_S[k] / g_max), ny.push_back(nu[k]);
    }
    p.points("devices", gx, ny);
    std::vector<double> mx, my, ml, mh;
    for (const auto& g : groups) mx.push_back(std::exp(g.ln_g)), my.push_back(g.mean);
    p.points("group means", mx, my);
    const auto xs = logspace(glo, ghi, 100);
    std::vector<double> mu, lo, hi;
    for (double x : xs) {
      const double m = fit.mu(std::log(x)), s = fit.sigma(std::log(x));
      mu.push_back(m), lo.push_back(m - s), hi.push_back(m + s);
    }
    p.line("mu_nu(g) fit", xs, mu).colour(2);
    p.band("mu_nu +- sigma_nu", xs, lo, hi).colour(2);
    r.figures.push_back({"drift_state", "Per-device drift exponents and the fitted mu_nu(g) +- sigma_nu(g)", p.svg()});
  }
  {
    Plot p("Distribution of the drift exponent", "nu", "cumulative probability");
    p.ecdf("measured", nu);
    std::vector<double> xs = linspace(*std::min_element(nu.begin(), nu.end()),
                                      *std::max_element(nu.begin(), nu.end()), 200);
    for (const auto& f : ranked) {
      std::vector<double> c;
      for (double x : xs) c.push_back(f.family == DistributionFamily::lognormal && x <= 0 ? 0.0 : f.cdf(x));
      p.line(fmt::format("fitted {}", to_string(f.family)), xs, c, true);
    }
    r.figures.push_back({"drift_nu_cdf", "Empirical CDF of nu with the fitted normal (and lognormal) CDFs", p.svg()});
  }
  {
    Plot p("Conductance versus time, examples", "t (s)", "G (S)");
    p.x_scale(PlotScale::log).y_scale(PlotScale::log);
    const std::size_t shown = std::min<std::size_t>(6, n);
    for (std::size_t s = 0; s < shown; ++s) {
      const std::size_t k = s * (n / shown);
      const std::size_t i = e.device[k];
      std::vector<double> t, G, fitted;
      for (std::size_t j = 0; j < d.t_s.size(); ++j)
        if (d.t_s[j] >= d.t0_s * (1 - 1e-12)) {
          t.push_back(d.t_s[j]);
          G.push_back(d.G_S(i, j));
        }
      p.points(fmt::format("device {}", i), t, G);
    }
    r.figures.push_back({"drift_examples", "Reads of a few devices (log-log); nu is the negative slope", p.svg()});
  }
  return r;
}

CalibrationResult calibrate_bake(const CalibrationInput& input, const BakeData& b,
                                 const CalibrationOptions& options) {
  const std::string where = input.source();
  CalibrationResult r;
  r.kind = "drift";
  r.source = where;
  r.model = "pcm-drift";
  r.confidence = options.confidence;
  std::vector<double> T, lr, dur;
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < b.G_before_S.size(); ++i) {
    const double g0 = b.G_before_S[i], g1 = b.G_after_S[i];
    if (!(g0 > 0) || !(g1 > 0) || !std::isfinite(g0) || !std::isfinite(g1) ||
        !std::isfinite(b.temperature_K[i])) {
      ++dropped;
      continue;
    }
    T.push_back(b.temperature_K[i]);
    lr.push_back(std::log(g1 / g0));
    dur.push_back(b.duration_s[i]);
  }
  MC_VALIDATE(!T.empty(), "{}: no record has positive finite G before and after its bake "
              "({} records)", where, b.G_before_S.size());
  const auto fit = fit_bake_arrhenius(T, lr, dur, where);
  r.method = fmt::format(
      "Relaxation during a bake is measured by the variance over devices of ln(G_after/G_before) "
      "at each bake temperature ({} temperatures; {} records with a non-positive or missing "
      "conductance left out). Its growth with temperature is fitted as v(T) = v0 + A "
      "exp(-E_a / k T) (least squares on ln v, NLopt subplex): v0 is the temperature-independent "
      "part (read noise, room-temperature relaxation), E_a the activation energy of thermally "
      "activated relaxation. Bake durations differ between temperatures (median {:.0f} to {:.0f} s) "
      "and are not normalised out. Intervals: records resampled with replacement within each "
      "temperature and the fit repeated.",
      fit.temperature_K.size(), dropped,
      *std::min_element(fit.duration_s.begin(), fit.duration_s.end()),
      *std::max_element(fit.duration_s.begin(), fit.duration_s.end()));
  r.parameters.push_back(param("E_a_drift", "eV", "activation energy of relaxation", fit.E_a_eV));
  r.parameters.push_back(param("v0", "1", "temperature-independent variance of ln(G_after/G_before)", fit.v0, false));
  r.parameters.push_back(param("A", "1", "Arrhenius prefactor of the variance", fit.A, false));
  const auto groups = bake_groups(T);
  const auto replicates = run_bootstrap(
      options.bootstrap, options.seed, 3, options.show_progress,
      [&](RngStream& rng, std::span<double> out) {
        std::vector<double> v;
        for (const auto& rows : groups.rows) {
          const auto idx = resample_indices(rows.size(), rng);
          std::vector<std::uint32_t> pick(idx.size());
          for (std::size_t k = 0; k < idx.size(); ++k) pick[k] = rows[idx[k]];
          v.push_back(variance_of(lr, pick, nullptr));
        }
        const auto f = fit_bake_points(groups.T, v, where);
        out[0] = f.E_a_eV, out[1] = f.v0, out[2] = f.A;
      });
  attach_intervals(r, replicates);
  const auto& ea = r.parameters.front();
  if (ea.ci_high >= 4.99 || ea.ci_low <= 0.01)
    r.notes.push_back("the interval of E_a reaches a bound of the search (0 or 5 eV): the bake data "
                      "barely constrain the activation energy");
  for (std::size_t j = 0; j < groups.T.size(); ++j) {
    std::vector<double> x;
    for (auto k : groups.rows[j]) x.push_back(lr[k]);
    GoodnessOfFit g;
    g.what = fmt::format("ln(G_after/G_before) at {} K vs normal", groups.T[j]);
    const auto nf = fit_normal(x);
    g.ks = nf.ks;
    g.ad = anderson_darling_normal(x);
    g.note = "AD accounts for the estimated mean and spread (Stephens case 3); KS p conservative";
    r.gof.push_back(g);
    if (g.ad.p_value < 0.01)
      r.notes.push_back(fmt::format("at {} K the relaxation is not normal in ln G (AD p = {:.2g}): "
                                    "the variance summarises a heavy-tailed distribution", groups.T[j], g.ad.p_value));
  }
  r.notes.push_back("no round trip: the pcm-drift model does not simulate bakes; E_a_drift sets "
                    "its temperature acceleration of drift");
  add_params_from_estimates(r);
  {
    Plot p("Relaxation variance versus bake temperature", "1000 / T (1/K)", "var ln(G_after/G_before)");
    p.y_scale(PlotScale::log);
    std::vector<double> x, y;
    for (std::size_t j = 0; j < fit.temperature_K.size(); ++j)
      x.push_back(1000 / fit.temperature_K[j]), y.push_back(fit.variance[j]);
    p.points("measured", x, y);
    const auto Ts = linspace(fit.temperature_K.front(), fit.temperature_K.back(), 100);
    std::vector<double> fx, fy;
    for (double t : Ts) fx.push_back(1000 / t), fy.push_back(fit.model(t));
    p.line(fmt::format("v0 + A exp(-E_a/kT), E_a = {:.3g} eV", fit.E_a_eV), fx, fy);
    r.figures.push_back({"bake_arrhenius", "Variance of the relaxation at each bake temperature and the Arrhenius fit", p.svg()});
  }
  {
    Plot p("Relaxation during bakes", "ln(G_after / G_before)", "cumulative probability");
    for (std::size_t j = 0; j < groups.T.size(); ++j) {
      std::vector<double> x;
      for (auto k : groups.rows[j]) x.push_back(lr[k]);
      p.ecdf(fmt::format("{} K", groups.T[j]), x);
    }
    r.figures.push_back({"bake_cdf", "Empirical CDFs of the relaxation at each bake temperature", p.svg()});
  }
  return r;
}

}  // namespace

CalibrationResult calibrate_drift(const CalibrationInput& input, const CalibrationOptions& options) {
  if (const auto* d = std::get_if<DriftData>(&input.set->body)) return calibrate_drift_data(input, *d, options);
  if (const auto* b = std::get_if<BakeData>(&input.set->body)) return calibrate_bake(input, *b, options);
  throw InputError(fmt::format("{}: calibrate drift needs kind drift or bake, got {}", input.source(),
                               kind_name(input.set->body)));
}

std::vector<RecoveryCheck> recovery_trial_drift(std::uint64_t seed, std::int64_t bootstrap) {
  SimulationRequest q;
  q.model = "pcm-drift";
  q.devices = 4000;
  q.seed = seed;
  q.assignments = {"read_noise=false"};
  q.show_progress = false;
  const CalibrationInput input = calibration_input(simulate_measurements(q), "drift", "simulated");
  CalibrationOptions options;
  options.bootstrap = bootstrap;
  options.seed = seed + 1000003;
  options.show_progress = false;
  options.round_trip = false;
  const auto r = calibrate_drift(input, options);
  const PcmDriftConfig truth;
  std::vector<RecoveryCheck> checks;
  const std::pair<const char*, double> keys[] = {
      {"mu_nu_a", truth.mu_nu_a}, {"mu_nu_b", truth.mu_nu_b}, {"mu_nu_lo", truth.mu_nu_lo},
      {"mu_nu_hi", truth.mu_nu_hi}, {"sigma_nu_a", truth.sigma_nu_a}, {"sigma_nu_b", truth.sigma_nu_b},
      {"sigma_nu_lo", truth.sigma_nu_lo}, {"sigma_nu_hi", truth.sigma_nu_hi}};
  for (const auto& [key, value] : keys)
    if (r.parameter(key).identified) checks.push_back(recovery_check(r, key, value));
  return checks;
}

}  // namespace memcarlo
