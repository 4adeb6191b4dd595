// Tests of the stochastic PCM crystallization model (physics/pcm_crystallization.hpp): closed
// forms against the equations coded again here, the JMAK limit, the Arrhenius regime below
// T_glass, statistics of pulses-to-SET, GST against C-GST, reproducibility and input checks.
// Statistical tests use fixed seeds; each states its tolerance and why.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "physics/pcm_crystallization.hpp"

using namespace memcarlo;

namespace {

constexpr double kB = 1.380649e-23;     // J/K, CODATA 2018
constexpr double kQ = 1.602176634e-19;  // C
constexpr double kPi = 3.14159265358979323846;

// The equations of DESIGN.md §4 written out a second time, independently of the model's code.
struct Reference {
  PcmCrystallizationConfig c;

  double dGv(double T) const {
    return c.dH_f_J_m3 * (c.T_m_K - T) / c.T_m_K * 2.0 * T / (c.T_m_K + T);
  }
  double f() const {
    const double x = std::cos(c.theta_deg / 180.0 * kPi);
    return (2.0 - 3.0 * x + std::pow(x, 3)) / 4.0;
  }
  double myega(double T) const {
    const double L = std::log10(c.eta_inf_Pa_s);
    return std::pow(10.0, L + (12.0 - L) * (c.T_g_K / T) *
                                  std::exp((c.fragility / (12.0 - L) - 1.0) * (c.T_g_K / T - 1.0)));
  }
  double eta(double T) const {
    if (T >= c.T_glass_K) return myega(T);
    return myega(c.T_glass_K) * std::exp(c.E_a_eV * kQ / kB * (1.0 / T - 1.0 / c.T_glass_K));
  }
  double gamma(double T) const { return kB * T / (3.0 * kPi * std::pow(c.lambda_m, 3) * eta(T)); }
  double dg(double T) const { return c.v_m_m3 * dGv(T); }
  double n_c(double T) const {
    return f() * 32.0 * kPi / 3.0 * std::pow(c.v_m_m3, 2) * std::pow(c.sigma_J_m2, 3) /
           std::pow(dg(T), 3);
  }
  double barrier(double T) const {
    return f() * 16.0 * kPi / 3.0 * std::pow(c.v_m_m3, 2) * std::pow(c.sigma_J_m2, 3) /
           std::pow(dg(T), 2);
  }
  double Z(double T) const { return std::sqrt(dg(T) / (6.0 * kPi * kB * T * n_c(T))); }
  double I(double T) const { return gamma(T) * Z(T) / c.v_m_m3 * std::exp(-barrier(T) / (kB * T)); }
  double u(double T) const { return c.lambda_m * gamma(T) * (1.0 - std::exp(-dg(T) / (kB * T))); }
  double r_c(double T) const { return 2.0 * c.sigma_J_m2 / dGv(T); }
  // Large-volume JMAK half time for nuclei born at r_c: the extended fraction is
  // (π/3)(I/u)((r_c + u t)^4 − r_c^4); set it to ln 2.
  double t50(double T) const {
    const double rc = r_c(T), uu = u(T);
    return (std::pow(3.0 * std::log(2.0) * uu / (kPi * I(T)) + std::pow(rc, 4), 0.25) - rc) / uu;
  }
};

double rel_diff(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

// Least-squares line y = a + b x; returns {a, b, rms residual}.
struct Line {
  double a, b, rms;
};
Line fit_line(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  const double b = sxy / sxx, a = my - b * mx;
  double ss = 0;
  for (std::size_t i = 0; i < x.size(); ++i) ss += std::pow(y[i] - a - b * x[i], 2);
  return {a, b, std::sqrt(ss / n)};
}

// A nominal cell (no device-to-device or pulse-to-pulse variation) whose dome has volume V,
// held at T in `steps` back-to-back isothermal pulses of width dt: X after each pulse.
std::vector<double> isothermal_X(PcmCrystallizationConfig c, double T, double V, double dt,
                                 int steps, std::uint64_t seed) {
  c.radius_m = std::cbrt(3.0 * V / (2.0 * kPi));
  c.power_c2c = 0;
  c.R_th_K_per_W = 1e6;
  const double P = (T - c.T_amb_K) / c.R_th_K_per_W;
  const PcmCrystallizationModel model(c);
  PcmCellState cell = model.nominal_cell();
  std::vector<double> X;
  for (int k = 0; k < steps; ++k) {
    RngStream rng(seed, 0, stream_id("pulse"), static_cast<std::uint64_t>(k));
    model.apply_pulse(cell, P, dt, rng);
    X.push_back(cell.X);
  }
  return X;
}

struct Spread {
  double mean, cv;
  int not_reached;
};
Spread pulses_to_set_spread(const PcmCrystallizationModel& model, const PcmPulseTrain& train,
                            int devices, std::uint64_t seed) {
  double s = 0, s2 = 0;
  int n = 0, missing = 0;
  for (int d = 0; d < devices; ++d) {
    const auto k = pulses_to_set(model, train, seed, static_cast<std::uint64_t>(d));
    if (k == kPulsesToSetNotReached) {
      ++missing;
      continue;
    }
    s += static_cast<double>(k);
    s2 += static_cast<double>(k) * static_cast<double>(k);
    ++n;
  }
  const double mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean) / mean, missing};
}

// Confined growth simulated a second time, directly and slowly: nuclei Poisson in space and time
// in a periodic cube of side L, taken in order of birth, kept only if they land outside every
// earlier grain at its radius min(r_c + u (t − t_birth), R) at that moment; the crystalline
// fraction at each of `times` from `probes` random points. Shares nothing with the model but
// the RNG and the Poisson sampler.
std::vector<double> spatial_X(double L, const PcmRates& r, double R,
                              const std::vector<double>& times, int probes, RngStream& rng) {
  struct Nucleus {
    double t, x[3];
  };
  const double t_end = times.back();
  const auto n = PoissonDistribution(r.I_per_m3_s * L * L * L * t_end)(rng);
  std::vector<Nucleus> candidates(n);
  for (Nucleus& c : candidates) {
    c.t = t_end * rng.uniform();
    for (double& x : c.x) x = L * rng.uniform();
  }
  std::sort(candidates.begin(), candidates.end(),
            [](const Nucleus& a, const Nucleus& b) { return a.t < b.t; });
  auto dist2 = [L](const double* a, const double* b) {
    double d2 = 0;
    for (int k = 0; k < 3; ++k) {
      double d = std::fabs(a[k] - b[k]);
      d = std::min(d, L - d);
      d2 += d * d;
    }
    return d2;
  };
  auto radius = [&](const Nucleus& g, double t) {
    return std::min(r.r_c_m + r.u_m_per_s * (t - g.t), R);
  };
  std::vector<Nucleus> grains;
  for (const Nucleus& c : candidates) {
    const bool covered = std::any_of(grains.begin(), grains.end(), [&](const Nucleus& g) {
      return dist2(c.x, g.x) <= std::pow(radius(g, c.t), 2);
    });
    if (!covered) grains.push_back(c);
  }
  std::vector<double> X;
  for (double t : times) {
    int hits = 0;
    for (int i = 0; i < probes; ++i) {
      const double p[3] = {L * rng.uniform(), L * rng.uniform(), L * rng.uniform()};
      hits += std::any_of(grains.begin(), grains.end(), [&](const Nucleus& g) {
        return g.t <= t && dist2(p, g.x) <= std::pow(radius(g, t), 2);
      });
    }
    X.push_back(static_cast<double>(hits) / probes);
  }
  return X;
}

// Avrami with phantoms kept, the model's treatment of unlimited growth, applied to capped
// grains: X = 1 − exp(−I ∫₀ᵗ (4π/3) min(r_c + u τ, R)³ dτ) (midpoint rule, 1e4 steps).
double avrami_with_phantoms(const PcmRates& r, double R, double t) {
  const int steps = 10000;
  double ext = 0;
  for (int i = 0; i < steps; ++i) {
    const double tau = (i + 0.5) * t / steps;
    ext += 4.0 * kPi / 3.0 * std::pow(std::min(r.r_c_m + r.u_m_per_s * tau, R), 3) * t / steps;
  }
  return -std::expm1(-r.I_per_m3_s * ext);
}

}  // namespace

TEST_CASE("closed forms match the equations and an independent evaluation") {
  const PcmCrystallizationConfig c = preset_pcm_crystallization("gst");
  const PcmCrystallizationModel model(c);
  const Reference ref{c};

  // f(130°) = (2 − 3cos θ + cos³ θ)/4; 0.9156946181852058 from an independent Python run.
  CHECK(rel_diff(model.f_theta(), 0.9156946181852058) < 1e-14);
  CHECK(rel_diff(model.f_theta(), ref.f()) < 1e-14);
  // Thompson–Spaepen at 600 K: 625e6 · (300/900) · (1200/1500) J/m³, exactly 1.6666…e8.
  CHECK(rel_diff(model.driving_force_J_m3(600.0), 625e6 / 3.0 * 0.8) < 1e-14);
  CHECK(model.driving_force_J_m3(900.0) == 0.0);
  CHECK(model.driving_force_J_m3(950.0) == 0.0);

  // Viscosity: continuous at T_glass (the two branches meet; 1e-9 K either side changes
  // ln η by ~1e-7 at the slopes involved, so 1e-6 would catch any offset between branches).
  const double Tgl = c.T_glass_K;
  CHECK(rel_diff(model.viscosity_Pa_s(Tgl - 1e-9), model.viscosity_Pa_s(Tgl + 1e-9)) < 1e-6);
  // Arrhenius below T_glass with E_a exactly.
  CHECK(rel_diff(model.viscosity_Pa_s(450.0) / model.viscosity_Pa_s(500.0),
                 std::exp(c.E_a_eV * kQ / kB * (1.0 / 450.0 - 1.0 / 500.0))) < 1e-10);

  // Every quantity against the reference coding, on both viscosity branches; rounding only.
  for (double T : {420.0, 500.0, 534.0, 560.0, 600.0, 650.0, 750.0, 850.0}) {
    CAPTURE(T);
    CHECK(rel_diff(model.driving_force_J_m3(T), ref.dGv(T)) < 1e-12);
    CHECK(rel_diff(model.viscosity_Pa_s(T), ref.eta(T)) < 1e-10);
    CHECK(rel_diff(model.jump_frequency_per_s(T), ref.gamma(T)) < 1e-10);
    CHECK(rel_diff(model.critical_size(T), ref.n_c(T)) < 1e-10);
    CHECK(rel_diff(model.barrier_J(T), ref.barrier(T)) < 1e-10);
    CHECK(rel_diff(model.critical_radius_m(T), ref.r_c(T)) < 1e-12);
    CHECK(rel_diff(model.zeldovich(T), ref.Z(T)) < 1e-10);
    CHECK(rel_diff(model.nucleation_rate_per_m3_s(T), ref.I(T)) < 1e-9);
    CHECK(rel_diff(model.growth_velocity_m_s(T), ref.u(T)) < 1e-9);
    // rates() is the one-pass evaluation used per pulse: against the reference as well.
    const PcmRates r = model.rates(T);
    CHECK(r.T_K == T);
    CHECK(rel_diff(r.I_per_m3_s, ref.I(T)) < 1e-9);
    CHECK(rel_diff(r.u_m_per_s, ref.u(T)) < 1e-9);
    CHECK(rel_diff(r.r_c_m, ref.r_c(T)) < 1e-12);
  }
  // Literal values from an independent Python evaluation (double precision, same equations).
  CHECK(rel_diff(model.viscosity_Pa_s(600.0), 0.46271821324111057) < 1e-10);
  CHECK(rel_diff(model.nucleation_rate_per_m3_s(600.0), 3.4134109216531366e+28) < 1e-9);
  CHECK(rel_diff(model.growth_velocity_m_s(600.0), 0.021185194643008116) < 1e-9);
  CHECK(rel_diff(model.viscosity_Pa_s(500.0), 8926.503770230172) < 1e-10);
  CHECK(rel_diff(model.nucleation_rate_per_m3_s(500.0), 2.081576449418665e+25) < 1e-9);
  CHECK(rel_diff(model.growth_velocity_m_s(500.0), 9.176016324944353e-07) < 1e-9);

  // f(θ) at small wetting angles, where 2 − 3cos θ + cos³θ cancels to nothing: against its
  // series 3θ⁴/16 (1 − θ²/3 + O(θ⁴)). At 0.01° the O(θ⁴) term is ~1e-15, so 1e-12 tests the
  // evaluation; the unfactored sum is wrong by ~100 % there, (1 − cos θ)² by ~1e-8.
  for (double deg : {0.01, 0.1}) {
    CAPTURE(deg);
    PcmCrystallizationConfig small = c;
    small.theta_deg = deg;
    const double th = deg / 180.0 * kPi;
    const double series = 3.0 * std::pow(th, 4) / 16.0 * (1.0 - th * th / 3.0);
    CHECK(rel_diff(PcmCrystallizationModel(small).f_theta(), series) < (deg < 0.05 ? 1e-12 : 1e-8));
  }
  PcmCrystallizationConfig flat = c;
  flat.theta_deg = 180.0;  // no wetting: homogeneous nucleation, f = 1
  CHECK(rel_diff(PcmCrystallizationModel(flat).f_theta(), 1.0) < 1e-15);

  // No crystallization at or above the melting point.
  for (double T : {900.0, 901.0, 1200.0}) {
    CAPTURE(T);
    CHECK(model.nucleation_rate_per_m3_s(T) == 0.0);
    CHECK(model.growth_velocity_m_s(T) == 0.0);
  }
}

TEST_CASE("percolation law and read noise") {
  const PcmCrystallizationConfig c;
  const PcmCrystallizationModel model(c);
  CHECK(model.conductance_S(0.0) == c.G_amorphous_S);
  CHECK(model.conductance_S(c.X_c) == c.G_amorphous_S);
  CHECK(rel_diff(model.conductance_S(1.0), c.G_crystalline_S) < 1e-14);
  const double X = 0.58;  // (X − X_c)/(1 − X_c) = 0.5, t = 2 -> a quarter of the range
  CHECK(rel_diff(model.conductance_S(X),
                 c.G_amorphous_S + 0.25 * (c.G_crystalline_S - c.G_amorphous_S)) < 1e-12);

  // Read noise: relative std read_noise. 20000 reads give the std to ±1 % (1σ = 1/√(2n) =
  // 0.5 %), so a 3 % tolerance fails only on a wrong noise model.
  PcmCellState cell = model.nominal_cell();
  cell.X = 1.0;
  const int n = 20000;
  double s = 0, s2 = 0;
  for (int i = 0; i < n; ++i) {
    RngStream rng(11, 0, stream_id("read"), static_cast<std::uint64_t>(i));
    const double g = model.read(cell, rng) / model.conductance_S(1.0) - 1.0;
    s += g;
    s2 += g * g;
  }
  CHECK(std::fabs(s / n) < 4.0 * c.read_noise / std::sqrt(n));
  CHECK(rel_diff(std::sqrt(s2 / n), c.read_noise) < 0.03);

  // Reads are clamped at 0 S. At the largest accepted read noise, 0.3, a read is negative before
  // the clamp when N(0,1) < −1/0.3, probability 4.3e-4: 40000 reads hold ~17 such (none with
  // probability e^-17), and every one must come out as exactly 0.
  PcmCrystallizationConfig noisy = c;
  noisy.read_noise = 0.3;
  const PcmCrystallizationModel noisy_model(noisy);
  int zeros = 0;
  double lowest = 1;
  for (int i = 0; i < 40000; ++i) {
    RngStream rng(12, 0, stream_id("read"), static_cast<std::uint64_t>(i));
    const double g = noisy_model.read(cell, rng);
    lowest = std::min(lowest, g);
    zeros += g == 0.0;
  }
  CHECK(lowest == 0.0);
  CHECK(zeros >= 5);
  CHECK(zeros <= 40);
}

TEST_CASE("nuclei per pulse are Poisson(I V w), born between r_c and r_c + u w") {
  PcmCrystallizationConfig c;
  c.power_c2c = 0;
  const PcmCrystallizationModel model(c);
  const double P = 0.15e-3, w = 50e-9;
  const PcmCellState fresh = model.nominal_cell();
  const PcmRates r = model.rates(model.temperature_K(fresh, P));
  const double mean = r.I_per_m3_s * fresh.volume_m3 * w;
  REQUIRE(mean > 0.05);
  REQUIRE(mean < 1.0);
  // 40000 single pulses on fresh cells: the mean count is known to ±sqrt(mean/n) and the
  // fraction with no nucleus to ±sqrt(p(1−p)/n); both checked at 4σ.
  const int n = 40000;
  double count = 0, empty = 0, radius_sum = 0, radius_sum2 = 0;
  for (int i = 0; i < n; ++i) {
    PcmCellState cell = fresh;
    RngStream rng(5, 0, stream_id("pulse"), static_cast<std::uint64_t>(i));
    model.apply_pulse(cell, P, w, rng);
    const auto k = static_cast<double>(cell.moments.count);
    count += k;
    if (k == 0) empty += 1;
    // Every radius in [r_c, r_c + u w]: so is their mean.
    if (k > 0) {
      CHECK(cell.moments.sum_r_m >= k * r.r_c_m);
      CHECK(cell.moments.sum_r_m <= k * (r.r_c_m + r.u_m_per_s * w));
    }
    radius_sum += cell.moments.sum_r_m;
    radius_sum2 += cell.moments.sum_r2_m2;
  }
  CHECK(std::fabs(count / n - mean) < 4.0 * std::sqrt(mean / n));
  const double p0 = std::exp(-mean);
  CHECK(std::fabs(empty / n - p0) < 4.0 * std::sqrt(p0 * (1 - p0) / n));
  // Uniform birth time: mean radius r_c + u w / 2; its std is u w/√12 per nucleus.
  const double sd = r.u_m_per_s * w / std::sqrt(12.0);
  CHECK(std::fabs(radius_sum / count - (r.r_c_m + 0.5 * r.u_m_per_s * w)) <
        4.0 * sd / std::sqrt(count));
  // ... and variance (u w)²/12: the sample variance of ~6000 uniforms is within ±1.2 % (1σ),
  // so 5 % fails on a fixed birth time or any other distribution.
  const double var = radius_sum2 / count - std::pow(radius_sum / count, 2);
  CHECK(rel_diff(var, sd * sd) < 0.05);
}

TEST_CASE("unlimited growth keeps exact moments and stops at full crystallization") {
  // Growth by g moves the moments exactly: against radii kept and summed directly.
  std::vector<double> radii;
  PcmRadiusMoments m;
  RngStream rng(31, 0, stream_id("test"));
  for (int step = 0; step < 50; ++step) {
    const double g = 1e-9 * rng.uniform();
    m.grow(g);
    for (double& r : radii) r += g;
    for (int k = 0; k < 7; ++k) {
      const double r = 1e-9 * (0.5 + rng.uniform());
      radii.push_back(r);
      m.add(r);
    }
  }
  double s1 = 0, s2 = 0, s3 = 0;
  for (double r : radii) s1 += r, s2 += r * r, s3 += r * r * r;
  CHECK(m.count == static_cast<std::int64_t>(radii.size()));
  CHECK(rel_diff(m.sum_r_m, s1) < 1e-12);
  CHECK(rel_diff(m.sum_r2_m2, s2) < 1e-12);
  CHECK(rel_diff(m.sum_r3_m3, s3) < 1e-12);

  // A 200 nm dome held at 600 K: it saturates (X = 1 exactly, extended fraction > 37) and from
  // then on a pulse draws only its power jitter and leaves the grains alone.
  PcmCrystallizationConfig c;
  c.radius_m = 200e-9;
  const PcmCrystallizationModel model(c);
  PcmCellState cell = model.nominal_cell();
  std::uint64_t k = 0;
  for (; k < 20000 && !cell.saturated(); ++k) {
    RngStream pulse(6, 0, stream_id("pulse"), k);
    model.apply_pulse(cell, 0.15e-3, 50e-9, pulse);
  }
  REQUIRE(cell.saturated());
  CHECK(cell.X == 1.0);
  const PcmRadiusMoments frozen = cell.moments;
  RngStream pulse(6, 0, stream_id("pulse"), k);
  model.apply_pulse(cell, 0.15e-3, 50e-9, pulse);
  CHECK(pulse.draws() == 2);
  CHECK(cell.moments.count == frozen.count);
  CHECK(cell.moments.sum_r3_m3 == frozen.sum_r3_m3);
  CHECK(model.conductance_S(cell.X) == c.G_crystalline_S);
}

TEST_CASE("confined growth matches an independent spatial simulation") {
  // Grains capped at R = 10 nm in a cube of the default dome's volume (L = 44.8 nm, ~21 grain
  // volumes). Two regimes: fast growth (grains reach R within half a pulse, 5 nuclei expected
  // per pulse) and slow growth (R after 8 pulses, 0.5 nuclei per pulse), each read at three
  // times between X ≈ 0.5 and 0.95. The model (400 cells) and the direct simulation (400
  // realisations, 2000 probe points each) are compared at 4 standard errors of the difference
  // of the means (≈0.01 here, both sampling errors and probe noise included).
  // Avrami with phantoms kept overestimates X by ≥0.05 at the later times, over 5 of these
  // errors: the check tells the two treatments apart.
  const double R = 10e-9;
  PcmCrystallizationConfig c = preset_pcm_crystallization("cgst");
  c.r_max_m = R;
  c.radius_m = 35e-9;
  const double V = 2.0 * kPi / 3.0 * std::pow(c.radius_m, 3), L = std::cbrt(V);
  const PcmCrystallizationModel model(c);
  struct Regime {
    const char* name;
    double nuclei_per_pulse, growth_per_pulse_m;
    std::vector<int> read_after;  // pulses
  };
  const std::vector<Regime> regimes = {{"fast", 5.0, 2.0 * R, {3, 6, 15}},
                                       {"slow", 0.5, R / 8.0, {40, 70, 140}}};
  const double w = 1e-7;
  for (const Regime& regime : regimes) {
    CAPTURE(std::string(regime.name));
    PcmRates r;
    r.T_K = 600;
    r.I_per_m3_s = regime.nuclei_per_pulse / (V * w);
    r.u_m_per_s = regime.growth_per_pulse_m / w;
    r.r_c_m = 0.7e-9;
    const std::size_t m = regime.read_after.size();
    const int K = 400;
    std::vector<double> model_sum(m), model_sum2(m), sim_sum(m), sim_sum2(m);
    std::vector<double> times;
    for (int p : regime.read_after) times.push_back(p * w);
    for (int i = 0; i < K; ++i) {
      PcmCellState cell = model.nominal_cell();
      std::size_t next = 0;
      for (int p = 1; p <= regime.read_after.back(); ++p) {
        RngStream rng(17, static_cast<std::uint64_t>(i), stream_id("pulse"),
                      static_cast<std::uint64_t>(p));
        model.anneal(cell, r, w, rng);
        if (p == regime.read_after[next]) {
          model_sum[next] += cell.X;
          model_sum2[next] += cell.X * cell.X;
          ++next;
        }
      }
      RngStream rng(18, static_cast<std::uint64_t>(i), stream_id("spatial"));
      const std::vector<double> X = spatial_X(L, r, R, times, 2000, rng);
      for (std::size_t j = 0; j < m; ++j) {
        sim_sum[j] += X[j];
        sim_sum2[j] += X[j] * X[j];
      }
    }
    for (std::size_t j = 0; j < m; ++j) {
      const double a = model_sum[j] / K, b = sim_sum[j] / K;
      const double va = model_sum2[j] / K - a * a, vb = sim_sum2[j] / K - b * b;
      const double se = std::sqrt((va + vb) / K);
      const double phantom = avrami_with_phantoms(r, R, times[j]);
      MESSAGE(std::string(regime.name)
              << " after " << regime.read_after[j] << " pulses: model X = " << a << ", spatial X = "
              << b << " (se of difference " << se << "), Avrami with phantoms " << phantom);
      CHECK(std::fabs(a - b) < 4.0 * se);
      if (j > 0) CHECK(phantom - b > 5.0 * se);
    }
  }
}

TEST_CASE("confined growth: the grid of crystal agrees with the grains' spheres") {
  // A big dome (L = 640 nm, grid spacing 10 nm, R = 50 nm, 12³ cells) with ~1e4 nuclei in the
  // first pulse: their point lists exceed the model's budget, so some grains walk the grid
  // instead. After growing for a few pulses, 3000 random grid points must be crystalline exactly
  // when some grain's sphere holds them (brute force over all grains). Rounding may differ only
  // within ~1e-7 R of a sphere's surface, which no point out of 3000 is expected to hit.
  PcmCrystallizationConfig c = preset_pcm_crystallization("cgst");
  c.r_max_m = 50e-9;
  c.radius_m = std::cbrt(3.0 / (2.0 * kPi)) * 640e-9;
  const PcmCrystallizationModel model(c);
  PcmCellState cell = model.nominal_cell();
  const auto& g = cell.confined;
  REQUIRE(g.points_per_side == 64);
  REQUIRE(g.cells_per_side == 12);
  PcmRates r;
  r.T_K = 600;
  r.I_per_m3_s = 1e4 / (cell.volume_m3 * 1e-7);
  r.u_m_per_s = 4e-9 / 1e-7;  // 4 nm per pulse of 100 ns
  r.r_c_m = 1e-9;
  std::size_t walking = 0;
  for (std::uint64_t k = 0; k < 4; ++k) {
    RngStream rng(9, 0, stream_id("pulse"), k);
    model.anneal(cell, r, 1e-7, rng);
    if (k == 0) {
      walking = static_cast<std::size_t>(std::count(g.walking.begin(), g.walking.end(), 1));
      r.I_per_m3_s = 0;  // no further nuclei: the grains just grow
    }
  }
  MESSAGE("grains " << g.grains.size() << ", walking the grid " << walking << ", X " << cell.X);
  REQUIRE(g.grains.size() > 5000);
  CHECK(walking > 100);
  CHECK(cell.X > 0.2);
  CHECK(cell.X < 0.95);
  const int n = g.points_per_side;
  const double L = g.box_m, h = L / n;
  RngStream pick(10, 0, stream_id("test"));
  int mismatches = 0, crystalline = 0;
  for (int t = 0; t < 3000; ++t) {
    const auto i = static_cast<int>(pick.uniform() * n), j = static_cast<int>(pick.uniform() * n),
               k = static_cast<int>(pick.uniform() * n);
    const double p[3] = {(k + 0.5) * h, (j + 0.5) * h, (i + 0.5) * h};  // x fastest in memory
    bool inside = false;
    for (const PcmGrain& grain : g.grains) {
      double d2 = 0;
      for (int a = 0; a < 3; ++a) {
        double d = std::fabs(p[a] - grain.centre_m[static_cast<std::size_t>(a)]);
        d = std::min(d, L - d);
        d2 += d * d;
      }
      if (d2 <= grain.r_m * grain.r_m) {
        inside = true;
        break;
      }
    }
    const bool flagged =
        g.covered[(static_cast<std::size_t>(i) * 64 + static_cast<std::size_t>(j)) * 64 +
                  static_cast<std::size_t>(k)] != 0;
    mismatches += inside != flagged;
    crystalline += inside;
  }
  CHECK(mismatches == 0);
  // The flags' share is X, and the probes see it too (binomial, 3000 points: 4σ ≤ 0.037).
  CHECK(std::fabs(crystalline / 3000.0 - cell.X) < 0.037);
}

TEST_CASE("large-volume isothermal limit is JMAK") {
  const PcmCrystallizationConfig c;
  const PcmCrystallizationModel model(c);
  const double T = 600.0;
  const PcmRates r = model.rates(T);
  // Time at which JMAK (n = 4, r_c neglected) reaches X = 0.95, and a volume holding 1e5
  // nuclei by then; 48 pulses of t95/40 cover X from 0 to ~0.999.
  const double t95 =
      std::pow(-std::log(0.05) * 3.0 / (kPi * r.I_per_m3_s * std::pow(r.u_m_per_s, 3)), 0.25);
  const double V = 1e5 / (r.I_per_m3_s * t95);
  const double dt = t95 / 40.0;
  const std::vector<double> X = isothermal_X(c, T, V, dt, 48, 2024);

  std::vector<double> lnt, lnlnX;
  double worst = 0;
  for (std::size_t k = 0; k < X.size(); ++k) {
    if (X[k] <= 0.05 || X[k] >= 0.95) continue;
    const double t = dt * static_cast<double>(k + 1);
    lnt.push_back(std::log(t));
    lnlnX.push_back(std::log(-std::log1p(-X[k])));
    // Exact extended fraction for nuclei born at r_c and growing at u.
    const double ext = kPi / 3.0 * r.I_per_m3_s / r.u_m_per_s *
                       (std::pow(r.r_c_m + r.u_m_per_s * t, 4) - std::pow(r.r_c_m, 4));
    worst = std::max(worst, std::fabs(lnlnX.back() - std::log(ext)));
  }
  REQUIRE(lnt.size() >= 15);
  const Line line = fit_line(lnt, lnlnX);
  MESSAGE("JMAK at 600 K: n = " << line.b << ", rms residual " << line.rms
                                << ", worst |ln X_ext - theory| = " << worst << " over "
                                << lnt.size() << " points");
  // Expected n just under 4: grains born at r_c = 0.7 nm make early growth a little faster than
  // t^4 (at X = 0.05 the local exponent is 4 u t/(r_c + u t) ≈ 3.9).
  CHECK(line.b >= 2.5);
  CHECK(line.b <= 4.0);
  CHECK(line.b > 3.7);
  // Residual of the straight line: sampling noise of ~1e4–1e5 nuclei is ≤1 % in ln X_ext, the
  // r_c curvature about as much; 0.02 fails on any other shape.
  CHECK(line.rms < 0.02);
  // Against the exact extended fraction: relative std of X_ext is ≈ 1.5/√N_nuclei ≤ 0.8 % at
  // X = 0.05 (N ≈ 3.6e4), so 0.03 is ≥ 3.5σ.
  CHECK(worst < 0.03);

  // No time stepping is needed: a single pulse as long as the whole anneal gives the same
  // extended fraction (birth times uniform inside the pulse). Same 0.03 tolerance.
  std::uint64_t seed = 500;
  for (double frac : {0.4, 0.7, 1.0}) {
    const double t = frac * t95;
    const std::vector<double> X1 = isothermal_X(c, T, V, t, 1, seed++);
    const double ext = kPi / 3.0 * r.I_per_m3_s / r.u_m_per_s *
                       (std::pow(r.r_c_m + r.u_m_per_s * t, 4) - std::pow(r.r_c_m, 4));
    CAPTURE(frac);
    CHECK(std::fabs(std::log(-std::log1p(-X1[0])) - std::log(ext)) < 0.03);
  }
}

TEST_CASE("below T_glass the crystallization rate is Arrhenius with E_a") {
  const PcmCrystallizationConfig c;
  const PcmCrystallizationModel model(c);
  const Reference ref{c};
  std::vector<double> inv_T, ln_rate, ln_rate_ref;
  std::uint64_t seed = 77;  // a different seed per temperature: independent sampling errors
  for (double T : {440.0, 460.0, 480.0, 500.0, 520.0}) {
    CAPTURE(T);
    REQUIRE(T < c.T_glass_K);
    // Volume and step from the expected half time: ~2e4 nuclei by t_50, 30 steps to reach it.
    const double t50_guess = ref.t50(T);
    const double V = 2e4 / (ref.I(T) * t50_guess);
    const double dt = t50_guess / 30.0;
    const std::vector<double> X = isothermal_X(c, T, V, dt, 60, seed++);
    // Interpolate ln(−ln(1−X)) linearly in ln t to its value at X = 0.5.
    const double y50 = std::log(std::log(2.0));
    double t50 = 0;
    for (std::size_t k = 1; k < X.size(); ++k) {
      if (X[k - 1] < 0.5 && X[k] >= 0.5) {
        const double y0 = std::log(-std::log1p(-X[k - 1])), y1 = std::log(-std::log1p(-X[k]));
        const double x0 = std::log(dt * static_cast<double>(k)),
                     x1 = std::log(dt * static_cast<double>(k + 1));
        t50 = std::exp(x0 + (y50 - y0) * (x1 - x0) / (y1 - y0));
        break;
      }
    }
    REQUIRE(t50 > 0);
    // The half time itself against the closed form: its sampling error is ≈0.3 % (relative
    // std of the extended volume ≈1.5/√2e4, a quarter of it in t), so 1.5 % is ≥ 5σ.
    CHECK(rel_diff(t50, ref.t50(T)) < 0.015);
    inv_T.push_back(1.0 / T);
    ln_rate.push_back(-std::log(t50));
    ln_rate_ref.push_back(-std::log(ref.t50(T)));
  }
  const double E_fit = -fit_line(inv_T, ln_rate).b * kB / kQ;
  const double E_expected = -fit_line(inv_T, ln_rate_ref).b * kB / kQ;
  MESSAGE("apparent activation energy: simulated " << E_fit << " eV, closed-form " << E_expected
                                                   << " eV, configured E_a " << c.E_a_eV << " eV");
  // 1/t50 ∝ (I u³)^(1/4) ∝ γ · (barrier, Zeldovich and driving-force terms); γ ∝ T/η adds +kT
  // (≈ +0.04 eV at 480 K), the nucleation barrier, which grows with T as the driving force
  // shrinks, takes ≈ −0.01 eV back: the closed form gives E_a + 0.03 eV. Tolerance 0.06 eV (2.5 %)
  // around E_a covers that offset; a MYEGA-like slope (~13 eV here) or a missing E_a fails.
  CHECK(std::fabs(E_fit - c.E_a_eV) < 0.06);
  // The simulated half times scatter by ≈0.3 % (2e4 nuclei), i.e. ≈0.002 eV on the slope over
  // this 1/T range: 0.01 eV against the closed form checks the Monte Carlo itself.
  CHECK(std::fabs(E_fit - E_expected) < 0.01);
}

TEST_CASE("default partial-SET pulse train needs tens of pulses with a device spread") {
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  const PcmPulseTrain train;
  const Spread s = pulses_to_set_spread(model, train, 1000, 3);
  MESSAGE("gst default pulse: mean pulses-to-SET " << s.mean << ", cv " << s.cv);
  CHECK(s.not_reached == 0);
  CHECK(s.mean > 15);
  CHECK(s.mean < 60);
  CHECK(s.cv > 0.15);
  CHECK(s.cv < 0.6);

  // Variance split: 200 devices × 10 cycles. The within-device (cycle-to-cycle) share of the
  // variance of pulses-to-SET; the defaults were tuned to about two thirds (Gong et al. 2018).
  // With 200 devices its sampling error is a few %; the band [0.45, 0.85] separates it from a
  // d2d-dominated (R_th_d2d = 0.05: ~0.2) or variation-free (1.0) cell.
  const int devices = 200, cycles = 10;
  double within = 0, s1 = 0, s2 = 0;
  for (int d = 0; d < devices; ++d) {
    double a = 0, a2 = 0;
    for (int cy = 0; cy < cycles; ++cy) {
      const double k =
          static_cast<double>(pulses_to_set(model, train, 9, static_cast<std::uint64_t>(d), cy));
      REQUIRE(k > 0);
      a += k;
      a2 += k * k;
    }
    s1 += a;
    s2 += a2;
    within += (a2 - a * a / cycles) / (cycles - 1);
  }
  within /= devices;
  const double n = devices * cycles;
  const double total = (s2 - s1 * s1 / n) / (n - 1);
  MESSAGE("within-device share of variance: " << within / total);
  CHECK(within / total > 0.45);
  CHECK(within / total < 0.85);
}

TEST_CASE("relative spread of pulses-to-SET shrinks as the pulse power rises") {
  // Thermal variation (R_th device-to-device, power pulse-to-pulse) dominates the spread here,
  // and the temperature sensitivity of the rates falls as T rises towards their maxima: for gst
  // the nucleation rate I peaks at 602 K (d ln I/dT = 0.072, 0.032, 0.002 /K at 560, 580,
  // 600 K) and the JMAK speed (I u³)^(1/4) at 653 K. 0.13/0.14/0.15 mW are 560, 580 and 600 K
  // in the nominal cell. The intrinsic (nucleation) part alone goes the other way: with
  // R_th_d2d = 0 the cv is ≈0.12, 0.16, 0.24 at these powers (fewer, larger grains at higher
  // T), and above ~620 K, where I falls (5x lower at 650 K), the total spread rises again. With
  // 1000 devices the cv is known to ±0.015; the measured steps are ≈0.16 and ≈0.09.
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  PcmPulseTrain train;
  train.max_pulses = 5000;
  std::vector<double> cv;
  for (double P : {0.13e-3, 0.14e-3, 0.15e-3}) {
    train.power_W = P;
    const Spread s = pulses_to_set_spread(model, train, 1000, 21);
    MESSAGE("P = " << P * 1e3 << " mW: mean " << s.mean << ", cv " << s.cv);
    CHECK(s.not_reached == 0);
    cv.push_back(s.cv);
  }
  CHECK(cv[1] < cv[0] - 0.03);
  CHECK(cv[2] < cv[1] - 0.02);
}

TEST_CASE("C-GST crystallizes more slowly, in smaller grains") {
  const PcmCrystallizationModel gst(preset_pcm_crystallization("gst"));
  const PcmCrystallizationConfig cc = preset_pcm_crystallization("cgst");
  const PcmCrystallizationModel cgst(cc);
  PcmPulseTrain train;  // the same pulse for both
  train.max_pulses = 5000;
  const Spread a = pulses_to_set_spread(gst, train, 200, 4);
  const Spread b = pulses_to_set_spread(cgst, train, 200, 4);
  MESSAGE("same pulse: gst " << a.mean << " pulses, cgst " << b.mean << " pulses");
  CHECK(a.not_reached == 0);
  CHECK(b.mean > 5.0 * a.mean);

  // Mean conductance after 100 pulses.
  double Ga = 0, Gb = 0;
  for (std::uint64_t d = 0; d < 200; ++d) {
    Ga += simulate_pulse_train(gst, train, 4, d).back() / 200;
    Gb += simulate_pulse_train(cgst, train, 4, d).back() / 200;
  }
  MESSAGE("mean G after 100 pulses: gst " << Ga * 1e6 << " uS, cgst " << Gb * 1e6 << " uS");
  CHECK(Gb < 0.2 * Ga);

  // Grains never exceed r_max, and a longer pulse SETs C-GST in tens of pulses.
  PcmCellState cell = cgst.nominal_cell();
  for (std::uint64_t k = 0; k < 200; ++k) {
    RngStream rng(8, 0, stream_id("pulse"), k);
    cgst.apply_pulse(cell, 0.16e-3, 1e-6, rng);
  }
  REQUIRE(!cell.confined.grains.empty());
  CHECK(cell.moments.count == 0);  // the confined branch keeps grains, not moments
  double largest = 0;
  for (const PcmGrain& g : cell.confined.grains) largest = std::max(largest, g.r_m);
  CHECK(largest <= cc.r_max_m);
  PcmPulseTrain slow;
  slow.power_W = 0.16e-3;
  slow.width_s = 1e-6;
  const Spread s = pulses_to_set_spread(cgst, slow, 200, 4);
  MESSAGE("cgst at 0.16 mW, 1 us: mean " << s.mean << " pulses, cv " << s.cv);
  CHECK(s.not_reached == 0);
  CHECK(s.mean > 10);
  CHECK(s.mean < 100);
}

TEST_CASE("trajectories are reproducible and independent of other devices") {
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  PcmPulseTrain train;
  train.pulses_per_cycle = 60;
  train.cycles = 3;
  const auto alone = simulate_pulse_train(model, train, 42, 5);
  CHECK(alone == simulate_pulse_train(model, train, 42, 5));
  // Among others, in another order, reusing one output buffer: bitwise the same.
  std::vector<double> buffer(alone.size());
  std::vector<double> among;
  for (std::uint64_t d : {9, 5, 0, 7, 5, 1}) {
    simulate_pulse_train(model, train, 42, d, buffer);
    if (d == 5) among = buffer;
  }
  CHECK(among == alone);
  CHECK(simulate_pulse_train(model, train, 43, 5) != alone);
  CHECK(simulate_pulse_train(model, train, 42, 6) != alone);
  // Cycles start from RESET with new nuclei: cycles differ.
  const std::vector<double> c0(alone.begin(), alone.begin() + 60),
      c1(alone.begin() + 60, alone.begin() + 120);
  CHECK(c0 != c1);
  // pulses_to_set uses the same streams: it is the first crossing in each cycle (or, when the
  // cycle of 60 pulses never crosses, later than 60).
  int crossed = 0;
  for (std::int64_t cy = 0; cy < 3; ++cy) {
    CAPTURE(cy);
    const auto begin = alone.begin() + cy * 60;
    const auto it =
        std::find_if(begin, begin + 60, [&](double g) { return g >= train.G_threshold_S; });
    const std::int64_t k = pulses_to_set(model, train, 42, 5, cy);
    if (it == begin + 60) {
      CHECK((k > 60 || k == kPulsesToSetNotReached));
    } else {
      CHECK(k == (it - begin) + 1);
      ++crossed;
    }
  }
  CHECK(crossed >= 2);
  // Freeze the random draws of the device factors: two normals, two 64-bit values each.
  RngStream rng(1, 2, stream_id("device"));
  (void)model.make_cell(rng);
  CHECK(rng.draws() == 4);
}

TEST_CASE("random draws are frozen and do not depend on which noise sources are on") {
  // A pulse draws one normal (two 64-bit values), one Poisson count (one value: inversion below
  // a mean of 10) and one uniform per nucleus; the normal also when power_c2c = 0.
  std::int64_t nuclei = 0;
  for (double c2c : {0.0, 0.02}) {
    PcmCrystallizationConfig c;
    c.power_c2c = c2c;
    const PcmCrystallizationModel model(c);
    for (std::uint64_t k = 0; k < 200; ++k) {
      PcmCellState cell = model.nominal_cell();
      RngStream rng(1, 0, stream_id("pulse"), k);
      model.apply_pulse(cell, 0.15e-3, 50e-9, rng);
      CHECK(rng.draws() == 3 + static_cast<std::uint64_t>(cell.moments.count));
      nuclei += cell.moments.count;
    }
  }
  CHECK(nuclei > 20);  // the identity was tested with nuclei present
  // Confined growth: three more uniforms per nucleus (its position). With no growth and a
  // negligible r_c no nucleus can land in another, so every one becomes a grain.
  {
    const PcmCrystallizationModel cgst(preset_pcm_crystallization("cgst"));
    PcmRates r;
    r.T_K = 600;
    r.I_per_m3_s = 3.0 / (cgst.nominal_cell().volume_m3 * 1e-7);
    r.r_c_m = 1e-15;
    std::size_t grains = 0;
    for (std::uint64_t k = 0; k < 50; ++k) {
      PcmCellState cell = cgst.nominal_cell();
      RngStream rng(2, 0, stream_id("pulse"), k);
      cgst.anneal(cell, r, 1e-7, rng);
      CHECK(rng.draws() == 1 + 4 * cell.confined.grains.size());
      grains += cell.confined.grains.size();
    }
    CHECK(grains > 50);
  }
  // A read draws one normal, also when read_noise = 0.
  for (double noise : {0.0, 0.01}) {
    PcmCrystallizationConfig c;
    c.read_noise = noise;
    const PcmCrystallizationModel model(c);
    RngStream rng(3, 0, stream_id("read"));
    (void)model.read(model.nominal_cell(), rng);
    CHECK(rng.draws() == 2);
  }

  // Paired comparison: switching a noise source off (to 0) or almost off (1e-9) must leave every
  // other draw in place, so the two trajectories agree to ~1e-9 relative. Before the normals
  // were always drawn, power_c2c = 0 shifted all later draws and the nuclei differed entirely.
  PcmPulseTrain train;
  auto trajectory = [&](double c2c, double noise) {
    PcmCrystallizationConfig c;
    c.power_c2c = c2c;
    c.read_noise = noise;
    return simulate_pulse_train(PcmCrystallizationModel(c), train, 8, 3);
  };
  for (const auto& [off, almost] : {std::pair{trajectory(0.0, 0.01), trajectory(1e-9, 0.01)},
                                    std::pair{trajectory(0.02, 0.0), trajectory(0.02, 1e-9)}}) {
    REQUIRE(off.size() == almost.size());
    double worst = 0;
    for (std::size_t k = 0; k < off.size(); ++k)
      worst = std::max(worst, std::fabs(off[k] - almost[k]) / train.G_threshold_S);
    CHECK(worst < 1e-6);
    CHECK(off.back() > train.G_threshold_S);  // the trajectories did crystallize
  }
}

TEST_CASE("golden run: frozen outputs for a fixed seed") {
  // REGRESSION FREEZE, not physics: these literals are the model's output for seed 20240611 as
  // of this revision. Any change to the model, the draw order or the RNG changes them; when
  // that is intended, check the physics tests above, then update the literals deliberately
  // (the MESSAGE lines print the new values).
  const PcmCrystallizationModel gst(preset_pcm_crystallization("gst"));
  const PcmCrystallizationModel cgst(preset_pcm_crystallization("cgst"));
  const std::uint64_t seed = 20240611;
  PcmPulseTrain train;
  PcmPulseTrain slow;  // the documented C-GST operating point
  slow.power_W = 0.16e-3;
  slow.width_s = 1e-6;
  std::vector<std::int64_t> gst_k, cgst_k;
  for (std::uint64_t d = 0; d < 6; ++d) {
    gst_k.push_back(pulses_to_set(gst, train, seed, d));
    cgst_k.push_back(pulses_to_set(cgst, slow, seed, d));
  }
  const auto trajectory = simulate_pulse_train(gst, train, seed, 1);
  const auto cgst_trajectory = simulate_pulse_train(cgst, slow, seed, 1);
  const std::vector<std::size_t> at = {0, 9, 19, 29, 49};
  std::string printed;
  for (std::size_t k : at)
    printed += fmt::format("{:.17g} / {:.17g}, ", trajectory[k], cgst_trajectory[k]);
  MESSAGE("pulses to SET: gst " << fmt::format("{}", fmt::join(gst_k, ", ")) << "; cgst "
                                << fmt::format("{}", fmt::join(cgst_k, ", ")));
  MESSAGE("G at pulses 1, 10, 20, 30, 50 (gst / cgst): " << printed);
  CHECK(gst_k == std::vector<std::int64_t>{29, 32, 28, 21, 29, 26});
  CHECK(cgst_k == std::vector<std::int64_t>{49, 33, 35, 39, 65, 59});
  const std::vector<double> G_gst = {1.0132952170139985e-07, 1.0047362632193485e-07,
                                     3.8831892340056668e-07, 8.310090914785364e-06,
                                     2.533061791402763e-05};
  const std::vector<double> G_cgst = {1.0132952170139985e-07, 1.5180672724867276e-06,
                                      5.1518696013903754e-06, 9.4611640500919954e-06,
                                      1.2078798591489722e-05};
  for (std::size_t i = 0; i < at.size(); ++i) {
    CAPTURE(at[i]);
    // Relative 1e-12: room for a different compiler's rounding, none for a model change.
    CHECK(std::fabs(trajectory[at[i]] - G_gst[i]) <= 1e-12 * G_gst[i]);
    CHECK(std::fabs(cgst_trajectory[at[i]] - G_cgst[i]) <= 1e-12 * G_cgst[i]);
  }
}

TEST_CASE("a pulse that reaches T_m melt-quenches the cell") {
  PcmCrystallizationConfig c;
  c.power_c2c = 0;
  const PcmCrystallizationModel model(c);
  PcmCellState cell = model.nominal_cell();
  for (std::uint64_t k = 0; k < 200; ++k) {
    RngStream rng(3, 0, stream_id("pulse"), k);
    model.apply_pulse(cell, 0.15e-3, 50e-9, rng);
  }
  REQUIRE(cell.X > 0.5);
  RngStream rng(3, 0, stream_id("pulse"), 999);
  model.apply_pulse(cell, (c.T_m_K - c.T_amb_K) / c.R_th_K_per_W, 50e-9, rng);
  CHECK(cell.X == 0.0);
  CHECK(cell.moments.count == 0);
  CHECK(cell.moments.sum_r3_m3 == 0.0);
}

TEST_CASE("every config parameter has a unit-bearing key and a citation or 'assumption'") {
  for (const char* name : {"gst", "cgst"}) {
    const PcmCrystallizationConfig c = preset_pcm_crystallization(name);
    std::set<std::string> keys;
    for (const auto& p : describe_params(c)) {
      CAPTURE(p.key);
      CHECK(keys.insert(p.key).second);
      CHECK(!p.unit.empty());
      CHECK(
          (p.doc.find('[') != std::string::npos || p.doc.find("assumption") != std::string::npos));
    }
    CHECK(keys.size() == 24);
    // The echoed config reads back to the same model.
    PcmCrystallizationConfig back;
    apply_table(back, toml::parse(to_toml(c)), "roundtrip");
    CHECK(to_toml(back) == to_toml(c));
  }
}

TEST_CASE("invalid input throws InputError") {
  CHECK_THROWS_AS(preset_pcm_crystallization("gst2"), InputError);
  const PcmCrystallizationModel model{PcmCrystallizationConfig{}};
  PcmCellState cell = model.nominal_cell();
  RngStream rng(1, 0, stream_id("pulse"));
  CHECK_THROWS_AS(model.apply_pulse(cell, -1e-4, 50e-9, rng), InputError);
  CHECK_THROWS_AS(model.apply_pulse(cell, 1e-4, -50e-9, rng), InputError);
  CHECK_THROWS_AS(model.apply_pulse(cell, std::nan(""), 50e-9, rng), InputError);
  CHECK_THROWS_AS(model.apply_pulse(cell, 1e-4, INFINITY, rng), InputError);

  auto bad = [](auto mutate) {
    PcmCrystallizationConfig c;
    mutate(c);
    return c;
  };
  using C = PcmCrystallizationConfig;
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.sigma_J_m2 = -0.06; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.E_a_eV = 0; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.T_g_K = 1000; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.T_glass_K = 950; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.fragility = 5; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.theta_deg = 0; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.radius_m = 0; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.R_th_K_per_W = -1; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.G_crystalline_S = 0.05e-6; })),
                  InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.X_c = 1.0; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.r_max_m = -1e-9; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.power_c2c = -0.01; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.R_th_d2d = std::nan(""); })),
                  InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.T_amb_K = 900; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.read_noise = -0.01; })), InputError);
  CHECK_THROWS_AS(PcmCrystallizationModel(bad([](C& c) { c.read_noise = 0.31; })), InputError);
  CHECK_NOTHROW(PcmCrystallizationModel(bad([](C& c) { c.read_noise = 0.3; })));
  CHECK_NOTHROW(PcmCrystallizationModel(bad([](C& c) { c.read_noise = 0; })));
  CHECK_NOTHROW(PcmCrystallizationModel(bad([](C&) {})));

  PcmPulseTrain t;
  t.width_s = -1;
  CHECK_THROWS_AS(simulate_pulse_train(model, t, 1, 0), InputError);
  t = PcmPulseTrain{};
  t.power_W = -1e-3;
  CHECK_THROWS_AS(pulses_to_set(model, t, 1, 0), InputError);
  t = PcmPulseTrain{};
  t.pulses_per_cycle = 0;
  CHECK_THROWS_AS(simulate_pulse_train(model, t, 1, 0), InputError);
  t = PcmPulseTrain{};
  t.G_threshold_S = 0;
  CHECK_THROWS_AS(pulses_to_set(model, t, 1, 0), InputError);
  // A threshold at or above G_crystalline is out of reach without read noise.
  t = PcmPulseTrain{};
  t.G_threshold_S = model.config().G_crystalline_S;
  CHECK_THROWS_AS(t.validate_against(model), InputError);
  CHECK_THROWS_AS(pulses_to_set(model, t, 1, 0), InputError);
  CHECK_THROWS_AS(simulate_pulse_train(model, t, 1, 0), InputError);
  t.G_threshold_S = 0.99 * model.config().G_crystalline_S;
  CHECK_NOTHROW(t.validate_against(model));
  t.pulses_per_cycle = 0;  // validate_against includes validate()
  CHECK_THROWS_AS(t.validate_against(model), InputError);
  // A pulse longer than one with 1e6 expected nuclei is refused before anything is allocated.
  {
    const PcmRates r = model.rates(600.0);
    const double w_limit = 1e6 / (r.I_per_m3_s * cell.volume_m3);
    PcmCellState fresh = model.nominal_cell();
    RngStream big(1, 0, stream_id("pulse"), 1);
    CHECK_THROWS_AS(model.anneal(fresh, r, 1.01 * w_limit, big), InputError);
  }
  t = PcmPulseTrain{};
  std::vector<double> wrong(3);
  CHECK_THROWS_AS(simulate_pulse_train(model, t, 1, 0, wrong), InputError);
  CHECK_THROWS_AS(pulses_to_set(model, t, 1, 0, -1), InputError);
}
