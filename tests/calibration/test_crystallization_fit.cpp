// calibrate pcm-crystallization: the simulated method of moments on data simulated by memcarlo
// with known parameters (recovery, coverage, closed-form consequences of the estimates), its
// determinism across thread counts, goodness of fit that fails for a wrong model, the
// nucleation_scale knob it fits, and the errors for bad input.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "calibration/crystallization_fit.hpp"
#include "core/parallel.hpp"
#include "physics/pcm_crystallization.hpp"
#include "physics/simulate.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using memcarlo::test::contains;
using memcarlo::test::message_of;

namespace {

constexpr double kTruthRth = 2.05e6, kTruthScale = 0.5;

MeasurementFile simulate(std::int64_t devices, std::uint64_t seed,
                         std::vector<std::string> assignments) {
  SimulationRequest req;
  req.model = "pcm-crystallization";
  req.devices = devices;
  req.seed = seed;
  req.assignments = std::move(assignments);
  req.show_progress = false;
  return simulate_measurements(req);
}

// Points `input` at set `group` of its own contents.
void select(CalibrationInput& input, MeasurementFile file, const std::string& group) {
  input.file = "test.h5";
  input.group = group;
  input.contents = std::move(file);
  input.set = nullptr;
  for (const auto& s : input.contents.sets)
    if (s.name == group) input.set = &s;
  REQUIRE(input.set != nullptr);
}

CalibrationOptions quiet_options(std::uint64_t seed = 1) {
  CalibrationOptions o;
  o.seed = seed;
  o.show_progress = false;
  return o;
}

// The sandwich standard error of ln(key), which the calibrator writes into the note.
double sandwich_se(const EstimatedParameter& p) {
  const std::string tag = fmt::format("sandwich standard error of ln {}: ", p.key);
  const auto at = p.note.find(tag);
  REQUIRE(at != std::string::npos);
  return std::stod(p.note.substr(at + tag.size()));
}

bool has_note(const CalibrationResult& r, const std::string& part) {
  for (const auto& n : r.notes)
    if (contains(n, part)) return true;
  return false;
}

const ParamsEntry* params_entry_of(const CalibrationResult& r, const std::string& key) {
  for (const auto& e : r.params)
    if (e.key == key) return &e;
  return nullptr;
}

}  // namespace

TEST_CASE("nucleation_scale multiplies the nucleation rate and nothing else") {
  PcmCrystallizationConfig c;
  const PcmCrystallizationModel published(c);
  c.nucleation_scale = 2.5;
  const PcmCrystallizationModel scaled(c);
  for (double T : {520.0, 600.0, 680.0}) {
    const auto a = published.rates(T), b = scaled.rates(T);
    CHECK(std::abs(b.I_per_m3_s / a.I_per_m3_s - 2.5) < 1e-14);
    CHECK(b.u_m_per_s == a.u_m_per_s);
    CHECK(b.r_c_m == a.r_c_m);
  }
  c.nucleation_scale = 0;
  CHECK(contains(message_of([&] { PcmCrystallizationModel m(c); }), "nucleation_scale"));
}

TEST_CASE("pulse trains: R_th and nucleation_scale recovered, with consistent derived values") {
  CalibrationInput input;
  select(input, simulate(400, 7, {"R_th=2.05e6", "nucleation_scale=0.5", "pulses_per_cycle=60"}),
         "pulse_train");
  CalibrationOptions options = quiet_options(3);
  options.bootstrap = 400;
  const CalibrationResult r = calibrate_crystallization(input, options);
  CHECK(r.model == "pcm-crystallization");
  CHECK(r.source == "test.h5:pulse_train");
  CHECK(contains(r.method, "Simulated method of moments"));

  const auto& R = r.parameter("R_th");
  const auto& s = r.parameter("nucleation_scale");
  // Within four standard errors of the truth (a correct fit fails this with p ~ 6e-5 each).
  CHECK(std::abs(std::log(R.estimate / kTruthRth)) < 4 * sandwich_se(R));
  CHECK(std::abs(std::log(s.estimate / kTruthScale)) < 4 * sandwich_se(s));
  // The data pin the pulse temperature to ~1 K and the nucleation rate to ~10 %.
  CHECK(sandwich_se(R) < 0.005);
  CHECK(sandwich_se(s) < 0.15);
  // The percentile-bootstrap spread of the linearised estimator and the sandwich formula are
  // two computations of one variance: they agree to the bootstrap's own error (~4 % at 400).
  for (const auto* p : {&R, &s}) {
    const double boot = p->standard_error / p->estimate;  // delta method, ln scale
    CHECK(boot == doctest::Approx(sandwich_se(*p)).epsilon(0.15));
    CHECK(p->ci_low < p->estimate);
    CHECK(p->estimate < p->ci_high);
  }
  // T_pulse = T_amb + R_th P exactly, replicate by replicate, so its percentile interval is the
  // image of R_th's (type-7 interpolation commutes with an affine map).
  const auto& T = r.parameter("T_pulse");
  const double P = 0.15e-3, T_amb = 300.0;
  CHECK(T.estimate == doctest::Approx(T_amb + R.estimate * P).epsilon(1e-13));
  CHECK(T.ci_low == doctest::Approx(T_amb + R.ci_low * P).epsilon(1e-12));
  CHECK(T.ci_high == doctest::Approx(T_amb + R.ci_high * P).epsilon(1e-12));
  CHECK(!T.in_params);
  // Not identified at one pulse power and one cycle: held, said so, no interval.
  for (const char* key : {"E_a", "R_th_d2d", "radius_d2d", "power_c2c"}) {
    const auto& p = r.parameter(key);
    CHECK(!p.identified);
    CHECK(std::isnan(p.ci_low));
    CHECK(p.in_params);
  }
  CHECK(contains(r.parameter("E_a").note, "T_glass"));
  // PARAMS.toml: fitted keys and the protocol of the data (from its provenance).
  REQUIRE(params_entry_of(r, "R_th") != nullptr);
  REQUIRE(params_entry_of(r, "pulses_per_cycle") != nullptr);
  CHECK(params_entry_of(r, "pulses_per_cycle")->value == "60");
  CHECK(params_entry_of(r, "power")->value == "0.00015");
  CHECK(params_entry_of(r, "G_threshold")->value == "1e-05");
  CHECK(params_entry_of(r, "cycles")->value == "1");
  CHECK(params_entry_of(r, "max_pulses")->value == "1000");
  // Goodness of fit of data drawn from the model itself, the J-test, the round trip, figures.
  REQUIRE(r.gof.size() == 2);
  for (const auto& g : r.gof) CHECK(g.ks.p_value > 0.001);
  CHECK(r.gof[1].ad.p_value > 0.001);
  CHECK(std::isnan(r.gof[0].ad.p_value));  // pulse counts: no AD, said in the note
  CHECK(contains(r.gof[0].note, "AD"));
  CHECK(has_note(r, "J-test of the 8 overidentifying restrictions"));
  REQUIRE(r.round_trips.size() == 2);
  for (const auto& t : r.round_trips) CHECK(t.ks.p_value > 0.001);
  REQUIRE(r.figures.size() == 2);
  for (const auto& f : r.figures) CHECK(contains(f.svg, "<svg"));
}

TEST_CASE("pulses_to_set: censoring is a moment, and results do not depend on the threads") {
  CalibrationInput input;
  // max_pulses = 30 censors about half the counts.
  select(input, simulate(400, 11, {"R_th=2.05e6", "nucleation_scale=0.5", "max_pulses=30"}),
         "pulses_to_set");
  const auto* s = std::get_if<SamplesData>(&input.set->body);
  REQUIRE(s != nullptr);
  CHECK(s->n_censored > 100);
  CalibrationOptions options = quiet_options(5);
  options.round_trip = false;
  set_threads(1);
  const CalibrationResult one = calibrate_crystallization(input, options);
  set_threads(2);
  const CalibrationResult two = calibrate_crystallization(input, options);
  set_threads(0);
  CHECK(contains(one.method, "P(N > 30)"));
  REQUIRE(one.parameters.size() == two.parameters.size());
  for (std::size_t i = 0; i < one.parameters.size(); ++i) {
    CHECK(one.parameters[i].estimate == two.parameters[i].estimate);
    CHECK((one.parameters[i].ci_low == two.parameters[i].ci_low ||
           (std::isnan(one.parameters[i].ci_low) && std::isnan(two.parameters[i].ci_low))));
  }
  CHECK(one.method == two.method);
  const auto& R = one.parameter("R_th");
  const auto& n = one.parameter("nucleation_scale");
  CHECK(std::abs(std::log(R.estimate / kTruthRth)) < 4 * sandwich_se(R));
  CHECK(std::abs(std::log(n.estimate / kTruthScale)) < 4 * sandwich_se(n));
  CHECK(contains(one.gof[0].note, "censored"));
}

TEST_CASE("several cycles per device identify R_th_d2d") {
  CalibrationInput input;
  select(input,
         simulate(150, 5,
                  {"R_th=2.05e6", "nucleation_scale=0.5", "R_th_d2d=0.05", "cycles=3",
                   "pulses_per_cycle=60"}),
         "pulses_to_set");
  CalibrationOptions options = quiet_options(2);
  options.round_trip = false;
  const CalibrationResult r = calibrate_crystallization(input, options);
  const auto& d = r.parameter("R_th_d2d");
  CHECK(d.identified);
  CHECK(std::abs(std::log(d.estimate / 0.05)) < 4 * sandwich_se(d));
  CHECK(contains(r.method, "within-device cov ln N"));
  CHECK(contains(r.method, "150 devices x 3 cycles"));
}

TEST_CASE("a wrong model fails its goodness of fit") {
  // Reads ten times noisier than the model assumes; without the provenance the fit takes the
  // gst defaults (read_noise 0.01) and says so. No choice of R_th and nucleation_scale gives
  // reads that scatter like these: the test of one read against the model's read distribution
  // rejects (the moments, dominated by the switching, hardly see it: J-test p ~ 0.03).
  MeasurementFile f = simulate(300, 4, {"read_noise=0.1", "pulses_per_cycle=60"});
  f.provenance.clear();
  CalibrationInput input;
  select(input, std::move(f), "pulse_train");
  CalibrationOptions options = quiet_options();
  options.round_trip = false;
  const CalibrationResult r = calibrate_crystallization(input, options);
  CHECK(has_note(r, "no memcarlo provenance"));
  CHECK(has_note(r, "fails a goodness-of-fit test"));
  CHECK(r.gof[1].ks.p_value < 1e-3);
  CHECK(r.gof[1].ad.p_value < 1e-6);
}

TEST_CASE("recovery trials cover the truth") {
  // Four seeded trials; each interval is a 95 % interval, so a calibrated method covers at
  // least 3 of 4 with probability 0.986 per key (bench/bench_recovery runs 50).
  std::map<std::string, int> covered, total;
  for (std::uint64_t seed = 101; seed <= 104; ++seed)
    for (const auto& c : recovery_trial_crystallization(seed, 200)) {
      CHECK(c.ci_low < c.ci_high);
      covered[c.key] += c.covered() ? 1 : 0;
      ++total[c.key];
    }
  CHECK(total.size() == 4);
  for (const auto& [key, n] : total) {
    INFO(key);
    CHECK(n == 4);
    CHECK(covered[key] >= 3);
  }
}

TEST_CASE("bad input gives one clear error naming the set") {
  const MeasurementFile good = simulate(60, 1, {"pulses_per_cycle=60"});
  auto error_of = [](MeasurementFile f, const std::string& group) {
    CalibrationInput input;
    select(input, std::move(f), group);
    return message_of([&] { calibrate_crystallization(input, quiet_options()); });
  };
  {  // samples of another quantity
    MeasurementFile f = good;
    std::get<SamplesData>(f.sets[1].body).quantity = fmt::format("nu");
    const auto m = error_of(f, "pulses_to_set");
    CHECK(contains(m, "test.h5:pulses_to_set"));
    CHECK(contains(m, "quantity 'nu'"));
  }
  {  // every record censored
    MeasurementFile f = good;
    auto& s = std::get<SamplesData>(f.sets[1].body);
    s.n_censored = static_cast<std::int64_t>(s.value.size());
    s.value.clear();
    s.condition->clear();
    CHECK(contains(error_of(f, "pulses_to_set"), "all 60 records are censored"));
  }
  {  // too few devices
    const MeasurementFile f = simulate(30, 1, {"pulses_per_cycle=60"});
    CHECK(contains(error_of(f, "pulses_to_set"), "30 records are too few"));
    CHECK(contains(error_of(f, "pulse_train"), "30 records (devices x cycles) are too few"));
  }
  {  // not pulse counts
    MeasurementFile f = good;
    std::get<SamplesData>(f.sets[1].body).value[3] = 2.5;
    CHECK(contains(error_of(f, "pulses_to_set"), "value[3] = 2.5 is not a pulse count"));
  }
  {  // a depression cycle: memristor data
    MeasurementFile f = good;
    std::get<PulseTrainData>(f.sets[0].body).polarity[0] = -1;
    CHECK(contains(error_of(f, "pulse_train"), "polarity -1"));
  }
  {  // normalised conductance
    MeasurementFile f = good;
    std::get<PulseTrainData>(f.sets[0].body).G_units = fmt::format("1");
    CHECK(contains(error_of(f, "pulse_train"), "units '1'"));
  }
  {  // NaN inside a train
    MeasurementFile f = good;
    std::get<PulseTrainData>(f.sets[0].body).G.data[5] = std::nan("");
    CHECK(contains(error_of(f, "pulse_train"), "device 0 cycle 0 has a NaN at pulse 5"));
  }
  {  // trains that never switch
    MeasurementFile f = good;
    for (double& g : std::get<PulseTrainData>(f.sets[0].body).G.data) g = 1e-7;
    CHECK(contains(error_of(f, "pulse_train"), "no crystallization"));
  }
  {  // the wrong kind altogether
    MeasurementFile f;
    DriftData d;
    d.t_s = {1, 2};
    d.G_S = NdArray<double>({1, 2}, {1e-6, 1e-6});
    f.sets.push_back({"drift", "x", d});
    CHECK(contains(error_of(f, "drift"), "needs pulse_train or samples"));
  }
}
