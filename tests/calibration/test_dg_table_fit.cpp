// calibrate dg_table: the censored-normal step against closed forms and scipy, the KS and AD
// table distances against scipy integrals, exact recovery from noise-free tables, the
// identification rules for one polarity, PARAMS.toml accepted by `device simulate memristor`,
// reproducible intervals, parameter recovery over seeds, real data and bad input.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "calibration/calibration.hpp"
#include "calibration/dg_table_fit.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "physics/simulate.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using memcarlo::test::contains;
using memcarlo::test::message_of;

namespace {

double rel(double a, double b) { return std::abs(a - b) / std::abs(b); }

// A table whose bins (at G = 1, 2 uS) both hold the standard normal truncated at +-6: knots at
// z = -6, -5.999, ..., 6, so that linear interpolation between them is exact to ~1e-8.
StepTable normal_table() {
  DgTableData t;
  t.G_bins_S = {1e-6, 2e-6};
  std::vector<double> z;
  for (int i = 0; i <= 12000; ++i) z.push_back(-6.0 + 0.001 * i);
  const boost::math::normal_distribution<double> N;
  for (double v : z) t.cdf.push_back(boost::math::cdf(N, v));
  t.cdf.front() = 0.0;
  t.cdf.back() = 1.0;
  t.dG_S = NdArray<double>({z.size(), 2});
  for (std::size_t i = 0; i < z.size(); ++i) t.dG_S(i, 0) = t.dG_S(i, 1) = z[i];
  return StepTable(t, "normal");
}

// Noise-free tables of the memristor model: at each bin the exact censored-normal quantiles of
// the step at levels 0.01 ... 0.99 (the ends at +-6 sd, clamped).
MeasurementFile exact_tables(const StepModel& m, std::size_t n_bins, double w_low, double w_high,
                             bool with_depression = true) {
  MeasurementFile f;
  f.source = "test";
  f.licence = "generated";
  for (Polarity pol : {Polarity::potentiation, Polarity::depression}) {
    if (pol == Polarity::depression && !with_depression) continue;
    DgTableData t;
    t.polarity = static_cast<std::int64_t>(pol);
    for (int i = 0; i <= 100; ++i) t.cdf.push_back(i / 100.0);
    t.dG_S = NdArray<double>({t.cdf.size(), n_bins});
    for (std::size_t j = 0; j < n_bins; ++j) {
      const double w =
          w_low + (w_high - w_low) * (static_cast<double>(j) + 0.5) / static_cast<double>(n_bins);
      const double G = m.abstraction.G_min_S + w * m.abstraction.B_S();
      t.G_bins_S.push_back(G);
      const auto c = m.step(G, pol);
      for (std::size_t i = 0; i < t.cdf.size(); ++i) {
        const double p = t.cdf[i];
        t.dG_S(i, j) = p == 0   ? std::max(c.mean_S - 6 * c.sd_S, c.lower_S)
                       : p == 1 ? std::min(c.mean_S + 6 * c.sd_S, c.upper_S)
                                : c.quantile(p);
      }
    }
    f.sets.push_back(
        {pol == Polarity::potentiation ? "dev_potentiation" : "dev_depression", "test", t});
  }
  return f;
}

StepModel truth_model() {
  StepModel m;
  m.abstraction = {2e-6, 30e-6, 15.0, 25.0};
  m.step_sd_S = 0.005 * m.abstraction.B_S();
  return m;
}

CalibrationResult calibrate_file(const MeasurementFile& f, const std::string& group,
                                 std::int64_t bootstrap, bool round_trip = false,
                                 std::uint64_t seed = 1) {
  CalibrationInput in;
  in.file = "test.h5";
  in.group = group;
  in.contents = f;
  for (const auto& s : in.contents.sets)
    if (s.name == group) in.set = &s;
  REQUIRE(in.set != nullptr);
  CalibrationOptions o;
  o.bootstrap = bootstrap;
  o.seed = seed;
  o.show_progress = false;
  o.round_trip = round_trip;
  return calibrate_dg_table(in, o);
}

bool any_note_contains(const CalibrationResult& r, const std::string& part) {
  for (const auto& n : r.notes)
    if (contains(n, part)) return true;
  return false;
}

}  // namespace

TEST_CASE("censored normal step: moments and distribution against closed forms and scipy") {
  // max(X, 0) for X ~ N(0, 1): mean phi(0), second moment 1/2.
  const CensoredNormalStep half{0.0, 1.0, 0.0, 1e300};
  CHECK(half.expectation() == doctest::Approx(0.3989422804014327).epsilon(1e-13));
  CHECK(half.standard_deviation() ==
        doctest::Approx(std::sqrt(0.5 - 0.3989422804014327 * 0.3989422804014327)).epsilon(1e-12));
  // N(0.3, 1.2) clamped to [-1, 1.5]: scipy.integrate.quad of the truncated moments plus atoms
  // (tests/reference values computed with scipy 1.10: 0.28511469925715105, 0.8832235192949098).
  const CensoredNormalStep c{0.3, 1.2, -1.0, 1.5};
  CHECK(c.expectation() == doctest::Approx(0.28511469925715105).epsilon(1e-12));
  CHECK(c.standard_deviation() == doctest::Approx(0.8832235192949098).epsilon(1e-12));
  CHECK(c.cdf_below(-1.0) == 0.0);
  CHECK(c.cdf(-1.0) == doctest::Approx(0.13999).epsilon(1e-3));  // Phi(-1.3 / 1.2) = 0.13933
  CHECK(c.cdf(1.5) == 1.0);
  CHECK(c.quantile(0.05) == -1.0);
  CHECK(c.quantile(0.5) == doctest::Approx(0.3));
  CHECK(c.quantile(0.97) == 1.5);
  // The model's mean step: (G_max - G)(1 - e^{-1/A_p}) and -(G - G_min)(1 - e^{-1/A_d}).
  const StepModel m = truth_model();
  const auto p = m.step(10e-6, Polarity::potentiation);
  CHECK(rel(p.mean_S, 20e-6 * (1 - std::exp(-1.0 / 15))) < 1e-14);
  CHECK(rel(p.upper_S, 20e-6) < 1e-14);
  const auto d = m.step(10e-6, Polarity::depression);
  CHECK(rel(d.mean_S, -8e-6 * (1 - std::exp(-1.0 / 25))) < 1e-14);
  CHECK(rel(d.lower_S, -8e-6) < 1e-14);
}

TEST_CASE("KS and AD distances between a table and a model against closed forms and scipy") {
  const StepTable t = normal_table();
  // Same distribution: both vanish (up to the truncation at +-6 and interpolation).
  const CensoredNormalStep same{0.0, 1.0, -1e3, 1e3};
  CHECK(step_ks_distance(t, 0, same) < 1e-7);
  CHECK(step_ad_distance(t, 0, same) < 1e-7);
  // N(0, 1) vs N(0.5, 1): sup |Phi(x) - Phi(x - 0.5)| = 2 Phi(0.25) - 1.
  const CensoredNormalStep shifted{0.5, 1.0, -1e3, 1e3};
  CHECK(step_ks_distance(t, 1, shifted) == doctest::Approx(0.1974126513658474).epsilon(1e-7));
  // scipy.integrate.quad of (F_table - F_model)^2 / (F_model (1 - F_model)) dF_model.
  CHECK(step_ad_distance(t, 1, shifted) == doctest::Approx(0.11997291886978025).epsilon(1e-5));
  // A censored model: the jumps at the clamps count for KS (here the largest difference is just
  // below the lower clamp, where the model has no mass yet: F_table(-1-) = Phi(-1)); AD runs
  // over the continuous part.
  const CensoredNormalStep censored{0.3, 1.2, -1.0, 1.5};
  CHECK(step_ks_distance(t, 0, censored) == doctest::Approx(0.15865525393145707).epsilon(1e-7));
  CHECK(step_ad_distance(t, 0, censored) == doctest::Approx(0.03320572272530013).epsilon(1e-5));
}

TEST_CASE(
    "noise-free tables of the model are fitted back exactly, atoms at the window edges included") {
  const StepModel m = truth_model();
  const auto f = exact_tables(m, 30, 0.0, 1.0);
  const auto r = calibrate_file(f, "dev_potentiation", 20);
  CHECK(rel(r.parameter("G_min").estimate, 2e-6) < 1e-6);
  CHECK(rel(r.parameter("G_max").estimate, 30e-6) < 1e-6);
  CHECK(rel(r.parameter("A_p").estimate, 15.0) < 1e-6);
  CHECK(rel(r.parameter("A_d").estimate, 25.0) < 1e-6);
  CHECK(rel(r.parameter("sigma_c2c").estimate, 0.005) < 1e-6);
  // The memristor keys follow through MemristorModel::from_abstraction.
  const MemristorModel model = MemristorModel::from_abstraction(m.abstraction);
  CHECK(rel(r.parameter("k0_p").estimate, model.config().k0_p_per_s) < 1e-5);
  CHECK(rel(r.parameter("g_max_per_area").estimate, 30e-6 / 4e-12) < 1e-6);
  // Goodness of fit: KS distances are those of the table's interpolation (levels 0.01 apart).
  REQUIRE(r.gof.size() == 4);
  for (const auto& g : r.gof) {
    CHECK(g.ks.statistic < 0.011);
    CHECK(std::isnan(g.ks.p_value));
    CHECK(std::isnan(g.ad.p_value));
    CHECK(contains(g.note, "do not record how many steps"));
  }
  CHECK(r.figures.size() == 4);
  CHECK(any_note_contains(
      r, "memcarlo device simulate lut --set potentiation_table='test.h5:dev_potentiation'"));
}

TEST_CASE("one polarity identifies its own side only, and the depression group finds its sibling") {
  const StepModel m = truth_model();
  const auto pot_only = exact_tables(m, 30, 0.05, 0.95, false);
  const auto r = calibrate_file(pot_only, "dev_potentiation", 20);
  CHECK(r.parameter("G_max").identified);
  CHECK(r.parameter("A_p").identified);
  CHECK(r.parameter("step_sd").identified);
  CHECK(rel(r.parameter("G_max").estimate, 30e-6) < 1e-6);
  CHECK(rel(r.parameter("A_p").estimate, 15.0) < 1e-6);
  CHECK(rel(r.parameter("step_sd").estimate, m.step_sd_S) < 1e-6);
  for (const char* key : {"G_min", "A_d", "sigma_c2c", "k0_d", "g_min_per_area"}) {
    CAPTURE(key);
    CHECK_FALSE(r.parameter(key).identified);
    CHECK(std::isnan(r.parameter(key).ci_low));
  }
  CHECK(any_note_contains(r, "fitted potentiation only: test.h5 holds no group 'dev_depression'"));
  const auto both = exact_tables(m, 30, 0.05, 0.95);
  const auto d = calibrate_file(both, "dev_depression", 20);
  CHECK(d.parameter("A_p").identified);
  CHECK(rel(d.parameter("A_p").estimate, 15.0) < 1e-6);
  CHECK(contains(d.method, "test.h5:dev_potentiation and test.h5:dev_depression"));
}

TEST_CASE("PARAMS.toml is accepted by device simulate memristor and reproduces the fitted device") {
  const auto r =
      calibrate_file(exact_tables(truth_model(), 30, 0.0, 1.0), "dev_potentiation", 20, true);
  const toml::table config = toml::parse(params_toml(r, "test"));
  SimulationRequest q;
  q.model = "memristor";
  q.devices = 3;
  q.seed = 1;
  q.config = &config;
  q.config_origin = "PARAMS.toml";
  q.show_progress = false;
  CHECK_NOTHROW(simulate_measurements(q));
  MemristorConfig c;
  apply_table(c, *config["memristor"].as_table(), "PARAMS.toml");
  const auto a = MemristorModel(c).abstraction();
  CHECK(rel(a.G_min_S, 2e-6) < 1e-6);
  CHECK(rel(a.A_d_pulses, 25.0) < 1e-6);
  CHECK(c.sigma_area == 0.0);
  CHECK(c.sigma_read == 0.0);
  // Round trip: the fitted (= true) model simulated and binned like the tables. Simulated
  // states spread over each bin's width, so the distance is not zero, but far below the
  // real-data misfits (> 0.3).
  REQUIRE(r.round_trips.size() == 4);
  CHECK(r.round_trips[0].ks.statistic < 0.2);
  CHECK(r.round_trips[2].ks.statistic < 0.2);
  CHECK(r.round_trips[1].ks.n > 1000);
}

TEST_CASE("bootstrap intervals are identical for 1 and 2 threads") {
  MemristorConfig base;
  base.sigma_c2c = 0.005;
  const auto model = MemristorModel::from_abstraction(truth_model().abstraction, base);
  const auto f = memristor_dg_tables(model, {20, 200, 0.05, 0.95}, 3);
  set_threads(1);
  const auto a = calibrate_file(f, "potentiation", 40, false, 9);
  set_threads(2);
  const auto b = calibrate_file(f, "potentiation", 40, false, 9);
  set_threads(0);
  for (std::size_t i = 0; i < a.parameters.size(); ++i) {
    CAPTURE(a.parameters[i].key);
    CHECK(a.parameters[i].ci_low == b.parameters[i].ci_low);
    CHECK(a.parameters[i].ci_high == b.parameters[i].ci_high);
  }
}

TEST_CASE("parameter recovery: the truth lies inside the 95% intervals in most of 4 trials") {
  std::map<std::string, int> covered;
  for (std::uint64_t seed = 101; seed <= 104; ++seed)
    for (const auto& c : recovery_trial_dg_table(seed, 200)) {
      covered[c.key] += c.covered();
      // Estimates within 5 standard errors (about 5 interval quarter-widths) of the truth.
      CHECK(std::abs(c.estimate - c.truth) < 2.5 * (c.ci_high - c.ci_low));
    }
  REQUIRE(covered.size() == 5);
  for (const auto& [key, n] : covered) {
    CAPTURE(key);
    CHECK(n >= 3);
  }
}

TEST_CASE("bundled data: ENODe and TaOx fit, and the report says where the model fails") {
  const std::string dir = std::string(MEMCARLO_SOURCE_DIR) + "/data/measured/";
  {
    const auto in = select_calibration_input("dg_table", dir + "sandia_enode_lut.h5:potentiation");
    CalibrationOptions o;
    o.bootstrap = 20;
    o.show_progress = false;
    o.round_trip = false;
    const auto r = calibrate("dg_table", in, o);
    CHECK(r.parameter("A_p").identified);
    CHECK(std::isfinite(r.parameter("A_p").ci_low));
    CHECK(any_note_contains(r, "depression: the fitted mean step misses"));
    CHECK(any_note_contains(r, "quantised"));
  }
  {
    const auto in =
        select_calibration_input("dg_table", dir + "sandia_taox_lut.h5:device_3_potentiation");
    CalibrationOptions o;
    o.bootstrap = 20;
    o.show_progress = false;
    o.round_trip = false;
    const auto r = calibrate("dg_table", in, o);
    // TaOx potentiation steps exceed what a saturating window allows: A_p sits at its bound.
    CHECK(any_note_contains(r, "A_p = 0.04825 is at the bound"));
    CHECK(any_note_contains(r, "the model fails here"));
  }
}

TEST_CASE("bad dg_table input gives one clear error") {
  MeasurementFile f;
  f.source = "t";
  f.licence = "generated";
  DgTableData zero;
  zero.G_bins_S = {1e-6, 2e-6, 3e-6};
  zero.cdf = {0.0, 0.5, 1.0};
  zero.dG_S = NdArray<double>({3, 3}, 0.0);
  f.sets.push_back({"zero_potentiation", "all zero", zero});
  CHECK(contains(message_of([&] { calibrate_file(f, "zero_potentiation", 20); }),
                 "test.h5:zero_potentiation: every step in the table is zero"));
  DgTableData one = zero;
  one.G_bins_S = {1e-6};
  one.dG_S = NdArray<double>({3, 1}, {0.0, 1e-7, 2e-7});
  f.sets.push_back({"one_potentiation", "one bin", one});
  CHECK(contains(message_of([&] { calibrate_file(f, "one_potentiation", 20); }),
                 "test.h5:one_potentiation: G_bins needs at least two bins"));
  PulseTrainData p;
  p.G = NdArray<double>({1, 1, 2}, {1e-6, 2e-6});
  p.polarity = {1};
  f.sets.push_back({"train", "not a table", p});
  CHECK(contains(message_of([&] { calibrate_file(f, "train", 20); }),
                 "test.h5:train: calibrate dg_table needs kind dg_table, got pulse_train"));
  // Through the dispatcher, the wrong kind is refused when the input is selected.
  test::TempDir dir;
  const std::string file = dir.file("t.h5");
  f.sets.erase(f.sets.begin() + 1);
  write_measurements(file, f);
  CHECK(contains(message_of([&] { select_calibration_input("dg_table", file + ":train"); }),
                 "is kind 'pulse_train', but calibrate dg_table needs kind dg_table"));
}
