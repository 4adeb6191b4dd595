// The calibration infrastructure: bootstrap, percentile intervals, the NLopt wrapper, SVG plots,
// input selection and the PARAMS.toml / report writers.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "calibration/bootstrap.hpp"
#include "calibration/calibration.hpp"
#include "calibration/minimize.hpp"
#include "core/svg_plot.hpp"
#include "core/parallel.hpp"
#include "data/measurements.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using memcarlo::test::contains;
using memcarlo::test::message_of;
using memcarlo::test::TempDir;

TEST_CASE("resample_indices is uniform over 0 ... n-1 and draws one value per index") {
  // 200 000 indices over 10 cells: chi-square with 9 degrees of freedom; 27.9 is its 0.999
  // quantile, so a correct sampler fails this fixed-seed check with probability 0.001.
  RngStream rng(42, 0, bootstrap_stream::resample);
  std::vector<double> count(10, 0.0);
  for (int r = 0; r < 20000; ++r) {
    const auto idx = resample_indices(10, rng);
    for (auto i : idx) {
      REQUIRE(i < 10);
      count[i] += 1;
    }
  }
  CHECK(rng.draws() == 200000u);
  double chi2 = 0;
  for (double c : count) chi2 += (c - 20000) * (c - 20000) / 20000;
  CHECK(chi2 < 27.9);
}

TEST_CASE("percentile_interval takes the (B+1)q-th order statistics and the n-1 deviation") {
  std::vector<double> v;
  for (int i = 101; i >= 1; --i) v.push_back(i);
  const auto ci = percentile_interval(v, 0.9);
  CHECK(ci.low == doctest::Approx(5.1).epsilon(1e-14));   // the 0.05 * 102 = 5.1th smallest
  CHECK(ci.high == doctest::Approx(96.9).epsilon(1e-14));  // the 0.95 * 102 = 96.9th
  // sd of 1..101 = sqrt(101 * 102 / 12) with the n-1 divisor: sqrt(n(n+1)/12) for n = 101.
  CHECK(ci.standard_deviation == doctest::Approx(std::sqrt(101.0 * 102.0 / 12.0)).epsilon(1e-12));
  v.push_back(std::nan(""));
  CHECK(percentile_interval(v, 0.9).low == ci.low);  // NaN replicates are ignored
  std::vector<double> few(kMinBootstrap - 1, 1.0);
  CHECK(std::isnan(percentile_interval(few, 0.95).low));
  CHECK(contains(message_of([&] { percentile_interval(v, 1.0); }), "confidence"));
}

TEST_CASE("run_bootstrap is identical for 1 and 2 threads and reports failures") {
  std::vector<double> data;
  RngStream g(7, 0, stream_id("data"));
  for (int i = 0; i < 500; ++i) data.push_back(g.uniform());
  const auto refit = [&](RngStream& rng, std::span<double> out) {
    const auto idx = resample_indices(data.size(), rng);
    if (idx[0] % 7 == 3) throw InputError("resample refused");
    double s = 0;
    for (auto i : idx) s += data[i];
    out[0] = s / static_cast<double>(idx.size());
    out[1] = static_cast<double>(idx[0]);
  };
  set_threads(1);
  const auto one = run_bootstrap(200, 11, 2, false, refit);
  set_threads(2);
  const auto two = run_bootstrap(200, 11, 2, false, refit);
  set_threads(0);
  CHECK(memcarlo::test::same_bits(one.values, two.values));
  CHECK(one.failures == two.failures);
  CHECK(one.failures > 0);
  CHECK(one.failures < 60);  // about 1 in 7
  CHECK(one.first_failure == "resample refused");
  CHECK(one.column(0).size() == static_cast<std::size_t>(200 - one.failures));
  // The bootstrap standard error of a mean is close to sd / sqrt(n) (uniform: 1 / sqrt(12 n)),
  // within the ~5 % sampling error of a standard deviation from ~170 replicates (4 sigma: 20 %).
  const auto ci = percentile_interval(one.column(0), 0.95);
  CHECK(std::fabs(ci.standard_deviation / (1.0 / std::sqrt(12.0 * 500)) - 1) < 0.2);
  CHECK(contains(message_of([&] { run_bootstrap(5, 1, 1, false, refit); }), "at least 20"));
}

TEST_CASE("attach_intervals fills identified parameters and notes failures") {
  CalibrationResult r;
  r.parameters.resize(2);
  r.parameters[1].identified = false;
  BootstrapReplicates b;
  b.resamples = 40;
  b.n_values = 2;
  for (int i = 0; i < 40; ++i) b.values.insert(b.values.end(), {double(i), double(i)});
  b.failures = 1;
  b.first_failure = "boom";
  attach_intervals(r, b);
  CHECK(r.parameters[0].ci_low == doctest::Approx(0.025));  // the 0.025 * 41 = 1.025th of 0..39
  CHECK(r.parameters[0].ci_high == doctest::Approx(38.975));
  CHECK(std::isnan(r.parameters[1].ci_low));
  CHECK(r.bootstrap_resamples == 40);
  REQUIRE(r.notes.size() == 1);
  CHECK(contains(r.notes[0], "boom"));
}

TEST_CASE("minimize finds the Rosenbrock minimum inside bounds and passes errors on") {
  const auto rosenbrock = [](std::span<const double> x) {
    return 100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]);
  };
  for (auto method : {MinimizeMethod::subplex, MinimizeMethod::bobyqa}) {
    MinimizeOptions o;
    o.method = method;
    o.x_tol_rel = 1e-12;
    const auto r = minimize(rosenbrock, {-1.2, 1.0}, {-5, -5}, {5, 5}, o, "rosenbrock");
    CHECK(std::fabs(r.x[0] - 1) < 1e-5);
    CHECK(std::fabs(r.x[1] - 1) < 1e-5);
    CHECK(r.converged);
  }
  // With the minimum outside the box, the answer is on the boundary.
  const auto r = minimize(rosenbrock, {0.2, 0.1}, {-1, -1}, {0.5, 0.5}, {}, "box");
  CHECK(r.x[0] <= 0.5);
  CHECK(r.x[0] > 0.49);
  const auto thrower = [](std::span<const double>) -> double { throw InputError("objective broke"); };
  CHECK(message_of([&] { minimize(thrower, {0.0}, {-1}, {1}, {}, "t"); }) == "objective broke");
  CHECK(contains(message_of([&] { minimize(rosenbrock, {0, 0}, {1, 0}, {0, 1}, {}, "bad box"); }),
                 "bad box: empty bounds"));
}

namespace {

MeasurementFile two_sets() {
  MeasurementFile f;
  f.source = "test";
  f.licence = "generated";
  for (const char* name : {"a", "b"}) {
    SamplesData s;
    s.value = {1, 2, 3};
    s.quantity = "pulses_to_set";
    s.unit = "1";
    f.sets.push_back({name, "test set", s});
  }
  return f;
}

}  // namespace

TEST_CASE("select_calibration_input names the file, group and kinds in its errors") {
  TempDir dir;
  const std::string file = dir.file("m.h5");
  write_measurements(file, two_sets());
  CHECK(contains(message_of([&] { select_calibration_input("drift", file); }),
                 "holds no data set of kind drift or bake"));
  CHECK(contains(message_of([&] { select_calibration_input("pcm-crystallization", file); }),
                 "choose one with --in"));
  CHECK(contains(message_of([&] { select_calibration_input("drift", file + ":a"); }),
                 "is kind 'samples', but calibrate drift needs kind drift or bake"));
  CHECK(contains(message_of([&] { select_calibration_input("pcm-crystallization", file + ":c"); }),
                 "no data set 'c' (the file holds: a, b)"));
  CHECK(contains(message_of([&] { select_calibration_input("fit", file); }),
                 "unknown calibration kind 'fit'"));
  CHECK(contains(message_of([&] { select_calibration_input("drift", dir.file("none.h5")); }),
                 "none.h5"));
  const auto in = select_calibration_input("pcm-crystallization", file + ":/b");
  CHECK(in.group == "b");
  CHECK(in.set->name == "b");
  CHECK(in.source() == file + ":b");
}

TEST_CASE("PARAMS.toml round-trips every value bit for bit and the writers are atomic") {
  CalibrationResult r;
  r.kind = "drift";
  r.model = "pcm-drift";
  r.source = "x.h5:g";
  EstimatedParameter p;
  p.key = "mu_nu_a";
  p.unit = "1";
  p.estimate = -0.1 / 3;
  p.ci_low = -0.04;
  p.ci_high = -0.03;
  p.in_params = true;
  r.parameters.push_back(p);
  p.key = "nu_mean";
  p.in_params = false;
  r.parameters.push_back(p);
  add_params_from_estimates(r);
  r.params.push_back(params_entry("levels", std::int64_t{16}, "count"));
  r.params.push_back(params_entry("g_max", 2.5e-5, "S"));
  r.notes.push_back("a note");
  const std::string text = params_toml(r, "memcarlo calibrate drift");
  const auto t = toml::parse(text);
  CHECK(t["pcm-drift"]["mu_nu_a"].value<double>() == -0.1 / 3);
  CHECK(t["pcm-drift"]["levels"].value<std::int64_t>() == 16);
  CHECK(t["pcm-drift"]["g_max"].value<double>() == 2.5e-5);
  CHECK_FALSE(t["pcm-drift"]["nu_mean"]);
  CHECK(contains(text, "# note: a note"));
  CHECK(contains(text, "95% CI [-0.04, -0.03]"));

  TempDir dir;
  write_text_file(dir.file("p.toml"), text);
  CHECK(dir.entries() == std::vector<std::string>{"p.toml"});
  CHECK(contains(message_of([&] { write_text_file(dir.file("no/such/p.toml"), text); }), "cannot create"));
  write_report(dir.file("report"), r, "cmd");
  std::ifstream json(dir.file("report/report.json"));
  std::stringstream s;
  s << json.rdbuf();
  CHECK(contains(s.str(), "\"mu_nu_a\""));
  CHECK(contains(s.str(), "null"));  // NaN standard error written as null, valid JSON
}
