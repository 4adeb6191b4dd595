// calibrate drift: per-device exponents, the clip-form state dependence, the bake activation
// energy, parameter recovery from simulated pcm-drift devices, and bad input.
#include <doctest/doctest.h>

#include <cmath>

#include <toml++/toml.h>

#include "calibration/drift_fit.hpp"
#include "core/distributions.hpp"
#include "core/parallel.hpp"
#include "core/units.hpp"
#include "physics/simulate.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using memcarlo::test::contains;
using memcarlo::test::message_of;

namespace {

// Exact power laws: device i has nu_i = 0.01 i and G(t0) = (1 + i) uS, read at 5 times.
DriftData exact_drift(std::size_t n_dev) {
  DriftData d;
  d.t_s = {0.0, 1.0, 10.0, 100.0, 1000.0};
  d.t0_s = 1.0;
  d.G_S = NdArray<double>({n_dev, d.t_s.size()});
  for (std::size_t i = 0; i < n_dev; ++i)
    for (std::size_t j = 0; j < d.t_s.size(); ++j)
      d.G_S(i, j) = d.t_s[j] == 0 ? 9.0 : (1.0 + i) * 1e-6 * std::pow(d.t_s[j], -0.01 * i);
  return d;
}

CalibrationInput input_of(MeasurementFile f) { return calibration_input(std::move(f)); }

CalibrationOptions quick(std::int64_t bootstrap = 40) {
  CalibrationOptions o;
  o.bootstrap = bootstrap;
  o.show_progress = false;
  return o;
}

}  // namespace

TEST_CASE("drift exponents of exact power laws are exact, and t = 0 reads are ignored") {
  const auto e = fit_drift_exponents(exact_drift(20), "exact");
  REQUIRE(e.nu.size() == 20);
  for (std::size_t k = 0; k < 20; ++k) {
    CHECK(std::fabs(e.nu[k] - 0.01 * static_cast<double>(k)) < 1e-13);
    CHECK(std::fabs(e.G_ref_S[k] / ((1.0 + k) * 1e-6) - 1) < 1e-12);
    CHECK(e.nu_variance[k] < 1e-28);
  }
  CHECK(e.grouping == "quantile bins of G(t0)");
}

TEST_CASE("drift exponents use the actual read times where recorded") {
  DriftData d = exact_drift(12);
  d.t_read_s = NdArray<double>({12, d.t_s.size()});
  for (std::size_t i = 0; i < 12; ++i)
    for (std::size_t j = 0; j < d.t_s.size(); ++j) {
      const double t = d.t_s[j] * (j == 4 ? 1.19 : 1.0);  // the last read came late
      (*d.t_read_s)(i, j) = t;
      if (t > 0) d.G_S(i, j) = 1e-6 * std::pow(t, -0.05);
    }
  const auto e = fit_drift_exponents(d, "t_read");
  for (double nu : e.nu) CHECK(std::fabs(nu - 0.05) < 1e-13);
}

TEST_CASE("drift exponent bad input: all NaN, too few devices, reads out of order") {
  DriftData d = exact_drift(20);
  for (double& g : d.G_S.data) g = std::nan("");
  CHECK(contains(message_of([&] { fit_drift_exponents(d, "f.h5:g"); }),
                 "f.h5:g: no device has two positive reads"));
  CHECK(contains(message_of([&] { fit_drift_exponents(exact_drift(5), "f.h5:g"); }),
                 "only 5 devices"));
  DriftData late = exact_drift(20);
  late.t_read_s = NdArray<double>({20, late.t_s.size()});
  for (std::size_t i = 0; i < 20; ++i)
    for (std::size_t j = 0; j < late.t_s.size(); ++j) (*late.t_read_s)(i, j) = late.t_s[j];
  (*late.t_read_s)(3, 3) = 5000.0;
  CHECK(contains(message_of([&] { fit_drift_exponents(late, "f.h5:g"); }),
                 "f.h5:g: device 3: read time 1000 s does not increase (after 5000 s)"));
}

TEST_CASE("state fit recovers clip lines from exact group statistics and picks the clips") {
  // Groups whose means and spreads lie exactly on the pcm-ibm curves: the maximum-likelihood
  // estimate is the truth, and AIC must choose the lower clips only (the upper ones lie
  // outside g in [0.05, 1]).
  const ClipLine mu{-0.0155, 0.0244, 0.049, 0.1}, sigma{-0.0125, -0.0059, 0.008, 0.045};
  std::vector<DriftGroup> groups;
  for (int k = 0; k < 16; ++k) {
    const double g = 0.05 + 0.95 * k / 15.0, n = 1000;
    groups.push_back({std::log(g), n, mu(std::log(g)), n * sigma(std::log(g)) * sigma(std::log(g))});
  }
  const auto f = fit_drift_state(groups);
  CHECK(f.mu_lo);
  CHECK_FALSE(f.mu_hi);
  CHECK(f.sigma_lo);
  CHECK_FALSE(f.sigma_hi);
  // Tolerance: the optimiser's x tolerance (1e-8 relative in scaled units) and the kink of the
  // clip between two groups; 1e-4 absolute is 1 % of the smallest coefficient.
  CHECK(std::fabs(f.mu.a - mu.a) < 1e-4);
  CHECK(std::fabs(f.mu.b - mu.b) < 1e-4);
  CHECK(std::fabs(f.mu.lo - mu.lo) < 1e-6);
  CHECK(std::fabs(f.sigma.a - sigma.a) < 1e-4);
  CHECK(std::fabs(f.sigma.b - sigma.b) < 1e-4);
  CHECK(std::fabs(f.sigma.lo - sigma.lo) < 1e-6);
  CHECK(contains(message_of([&] { fit_drift_state({groups[0]}); }), "at least"));
}

TEST_CASE("parameter recovery: simulated pcm-drift devices, 95 % intervals") {
  // A few of the 50 trials that bench/bench_recovery runs. With true 95 % coverage, failing
  // this (fewer than 3 of 4 covered for some parameter) has probability below 2 %.
  std::map<std::string, int> covered, total;
  for (std::uint64_t seed = 1; seed <= 4; ++seed)
    for (const auto& c : recovery_trial_drift(seed, 200)) {
      total[c.key]++;
      covered[c.key] += c.covered();
      CAPTURE(c.key);
      CAPTURE(c.estimate);
      CHECK(std::fabs(c.estimate - c.truth) < 0.01);  // and close: nu is of order 0.05
    }
  for (const char* key : {"mu_nu_a", "mu_nu_b", "mu_nu_lo", "sigma_nu_a", "sigma_nu_b", "sigma_nu_lo"}) {
    CAPTURE(key);
    CHECK(total[key] == 4);  // identified in every trial
    CHECK(covered[key] >= 3);
  }
  CHECK(total.count("mu_nu_hi") == 0);  // beyond the simulated range of g: not identified
}

TEST_CASE("drift calibration: PARAMS accepted by device simulate, same for 1 and 2 threads") {
  SimulationRequest q;
  q.model = "pcm-drift";
  q.devices = 800;
  q.seed = 9;
  q.show_progress = false;
  const auto in = input_of(simulate_measurements(q));
  set_threads(1);
  const auto one = calibrate_drift(in, quick());
  set_threads(2);
  const auto two = calibrate_drift(in, quick());
  set_threads(0);
  REQUIRE(one.parameters.size() == two.parameters.size());
  for (std::size_t j = 0; j < one.parameters.size(); ++j) {
    CAPTURE(one.parameters[j].key);
    CHECK(memcarlo::test::same_bits(std::vector<double>{one.parameters[j].ci_low, one.parameters[j].ci_high},
                                    std::vector<double>{two.parameters[j].ci_low, two.parameters[j].ci_high}));
  }
  REQUIRE(one.round_trips.size() == 1);
  CHECK(one.round_trips[0].n_simulated == 800);
  // Read noise on (as simulated): the regression error is part of the measured spread.
  CHECK(one.parameter("regression_share").estimate > 0.0);
  const auto table = toml::parse(params_toml(one, "test"));
  SimulationRequest again;
  again.model = "pcm-drift";
  again.devices = 10;
  again.config = &table;
  again.config_origin = "PARAMS.toml";
  again.show_progress = false;
  CHECK_NOTHROW(simulate_measurements(again));
  CHECK(one.figures.size() == 3);
}

namespace {

// ln(G_after/G_before) ~ N(0, v(T)), v = v0 + A exp(-E_a/kT), `per_T` records per temperature.
BakeData synthetic_bake(std::uint64_t seed, int per_T, double v0, double E_a, double A) {
  BakeData b;
  std::uint64_t id = 0;
  for (double T : {373.15, 413.15, 453.15, 493.15, 533.15}) {
    const double sd = std::sqrt(v0 + A * std::exp(-E_a / (units::kBoltzmann_eV_per_K * T)));
    for (int i = 0; i < per_T; ++i, ++id) {
      RngStream rng(seed, id, stream_id("bake"));
      b.G_before_S.push_back(1e-4);
      b.G_after_S.push_back(1e-4 * std::exp(sd * NormalDistribution::standard(rng)));
      b.temperature_K.push_back(T);
      b.duration_s.push_back(3600);
    }
  }
  return b;
}

}  // namespace

TEST_CASE("bake: activation energy of the relaxation variance is recovered") {
  // E_a = 0.6 eV must lie in the 95 % interval in at least 3 of 4 seeded data sets (probability
  // of failing with true 95 % coverage: 1.4 %) and every estimate within 0.05 eV.
  const double v0 = 0.05, E_a = 0.6;
  const double A = 0.5 / std::exp(-E_a / (units::kBoltzmann_eV_per_K * 533.15));
  int covered = 0;
  CalibrationResult r;
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    MeasurementFile f;
    f.sets.push_back({"bake", "synthetic", synthetic_bake(seed, 10000, v0, E_a, A)});
    r = calibrate_drift(input_of(f), quick(100));
    const auto& ea = r.parameter("E_a_drift");
    CAPTURE(ea.estimate);
    CHECK(std::fabs(ea.estimate - E_a) < 0.05);
    covered += ea.ci_low <= E_a && E_a <= ea.ci_high;
    CHECK(ea.in_params);
  }
  CHECK(covered >= 3);
  CHECK(r.gof.size() == 5);
  for (const auto& g : r.gof) CHECK(g.ad.p_value > 0.001);  // normal by construction
  // Two temperatures cannot give three parameters.
  BakeData two = synthetic_bake(1, 100, v0, E_a, A);
  for (auto& T : two.temperature_K) T = T < 450 ? 373.15 : 533.15;
  MeasurementFile f2;
  f2.sets.push_back({"bake", "synthetic", two});
  CHECK(contains(message_of([&] { calibrate_drift(input_of(f2), quick()); }),
                 "memory:bake: the activation energy needs bakes at >= 3 temperatures, got 2"));
}
