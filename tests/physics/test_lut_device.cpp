// The empirical lut device: the step distribution of a table against closed forms (uniform
// and atom tables), sampled steps against the table's quantiles (Kolmogorov-Smirnov with a
// stated tolerance, fixed seeds), bitwise reproducibility over thread counts, the table
// builder against numpy's quantiles, and bad input.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "physics/lut_device.hpp"
#include "physics/simulate.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using memcarlo::test::contains;
using memcarlo::test::message_of;

namespace {

const std::string kTaox = std::string(MEMCARLO_SOURCE_DIR) + "/data/measured/sandia_taox_lut.h5";

// A table of n_bins bins at G = 1, 2, ... uS whose bin j has quantile values q(j, i) at cdf[i].
template <class F>
DgTableData make_table(std::size_t n_bins, std::vector<double> cdf, F q,
                       std::int64_t polarity = 1) {
  DgTableData t;
  t.polarity = polarity;
  for (std::size_t j = 0; j < n_bins; ++j) t.G_bins_S.push_back(1e-6 * static_cast<double>(j + 1));
  t.cdf = std::move(cdf);
  t.dG_S = NdArray<double>({t.cdf.size(), n_bins});
  for (std::size_t i = 0; i < t.cdf.size(); ++i)
    for (std::size_t j = 0; j < n_bins; ++j) t.dG_S(i, j) = q(j, i);
  return t;
}

// Kolmogorov-Smirnov distance sup |F_n - F| of a sample against a CDF that may have atoms
// (the tables have flat runs), written out here: at every distinct sample value both the
// right-continuous values and the left limits are compared.
template <class Cdf, class CdfBelow>
double ks_distance(std::vector<double> x, Cdf cdf, CdfBelow cdf_below) {
  std::sort(x.begin(), x.end());
  const double n = static_cast<double>(x.size());
  double D = 0;
  for (std::size_t i = 0; i < x.size();) {
    std::size_t e = i;
    while (e < x.size() && x[e] == x[i]) ++e;
    D = std::max({D, std::abs(static_cast<double>(e) / n - cdf(x[i])),
                  std::abs(static_cast<double>(i) / n - cdf_below(x[i]))});
    i = e;
  }
  return D;
}

// sqrt(n) D > 1.95 has probability 2 sum (-1)^(k-1) exp(-2 k^2 1.95^2) = 0.001 for a sample of
// a continuous distribution (Kolmogorov's limit; n = 20000 is far into it), and less where the
// distribution has atoms (the test is then conservative).
constexpr double kKsCritical = 1.95;

DgTableData read_taox(const std::string& group) {
  for (auto& s : read_measurements(kTaox).sets)
    if (s.name == group) return std::get<DgTableData>(s.body);
  FAIL("missing group " << group);
  return {};
}

MeasurementFile small_tables() {
  MeasurementFile f;
  f.source = "test";
  f.licence = "generated";
  // Potentiation: uniform steps on [0.1, 0.5] uS at G = 1 ... 5 uS, shrinking with G.
  f.sets.push_back(
      {"potentiation", "test", make_table(5, {0.0, 1.0}, [](std::size_t j, std::size_t i) {
         return 1e-7 * (1.0 + 4.0 * static_cast<double>(i)) * (5.0 - static_cast<double>(j)) / 5.0;
       })});
  f.sets.push_back({"depression", "test",
                    make_table(
                        5, {0.0, 0.5, 1.0},
                        [](std::size_t j, std::size_t i) {
                          return -1e-7 * (3.0 - static_cast<double>(i)) *
                                 (1.0 + static_cast<double>(j)) / 5.0;
                        },
                        -1)});
  DgTableData flat = make_table(3, {0.0, 1.0}, [](std::size_t, std::size_t) { return 0.0; });
  f.sets.push_back({"flat_potentiation", "test", flat});
  flat.polarity = -1;
  f.sets.push_back({"flat_depression", "test", flat});
  PulseTrainData p;
  p.G = NdArray<double>({1, 1, 2}, {1e-6, 2e-6});
  p.polarity = {1};
  f.sets.push_back({"train", "test", p});
  return f;
}

MeasurementFile simulate_lut(const std::string& config_text, std::int64_t devices,
                             std::uint64_t seed) {
  const toml::table config = toml::parse(config_text);
  SimulationRequest r;
  r.model = "lut";
  r.devices = devices;
  r.seed = seed;
  r.config = &config;
  r.config_origin = "test.toml";
  r.show_progress = false;
  return simulate_measurements(r);
}

}  // namespace

TEST_CASE("a two-point table is a uniform distribution: quantile, CDF and moments in closed form") {
  const double a = -2e-7, b = 6e-7;
  const StepTable t(
      make_table(2, {0.0, 1.0}, [&](std::size_t, std::size_t i) { return i ? b : a; }), "uniform");
  CHECK(std::abs(t.quantile(0, 0.25) - (a + 0.25 * (b - a))) < 1e-22);
  CHECK(std::abs(t.cdf_at(0, 0.0) - 0.25) < 1e-15);
  CHECK(std::abs(t.cdf_below(0, 0.0) - 0.25) < 1e-15);
  CHECK(t.cdf_at(0, a - 1e-9) == 0.0);
  CHECK(t.cdf_at(0, b) == 1.0);
  CHECK(t.cdf_below(0, b) == 1.0);
  // Uniform on [a, b]: mean (a + b)/2, variance (b - a)^2 / 12.
  CHECK(std::abs(t.mean(0) - 0.5 * (a + b)) < 1e-22);
  CHECK(std::abs(t.variance(0) - (b - a) * (b - a) / 12) < 1e-12 * (b - a) * (b - a));
}

TEST_CASE("cdf levels inside (0, 1) give atoms at the end values, ties give atoms inside") {
  // Mass 0.2 at 1, uniform on [1, 3] with mass 0.6, mass 0.2 at 3: mean 2, variance
  // 0.2 + 0.2 + 0.6 * 4/12 = 0.6.
  const StepTable t(
      make_table(2, {0.2, 0.8}, [](std::size_t, std::size_t i) { return i ? 3.0 : 1.0; }), "atoms");
  CHECK(t.mean(0) == doctest::Approx(2.0).epsilon(1e-14));
  CHECK(t.variance(0) == doctest::Approx(0.6).epsilon(1e-14));
  CHECK(t.quantile(0, 0.1) == 1.0);
  CHECK(t.quantile(0, 0.95) == 3.0);
  CHECK(t.cdf_below(0, 1.0) == 0.0);
  CHECK(t.cdf_at(0, 1.0) == doctest::Approx(0.2));
  CHECK(t.cdf_below(0, 3.0) == doctest::Approx(0.8));
  CHECK(t.cdf_at(0, 3.0) == 1.0);
  // A flat run of quantile values is an atom: P(dG = 0) = 0.5 here.
  const StepTable f(
      make_table(2, {0.0, 0.5, 1.0}, [](std::size_t, std::size_t i) { return i < 2 ? 0.0 : 1.0; }),
      "tie");
  CHECK(f.cdf_below(0, 0.0) == 0.0);
  CHECK(f.cdf_at(0, 0.0) == doctest::Approx(0.5));
  CHECK(f.cdf_at(0, 0.5) == doctest::Approx(0.75));
  CHECK(f.mean(0) == doctest::Approx(0.25));  // 0.5 * 0 + 0.5 * 0.5
}

TEST_CASE("a decreasing column is rearranged into a quantile function (sorted) and counted") {
  const StepTable t(
      make_table(3, {0.0, 0.5, 1.0},
                 [](std::size_t j, std::size_t i) {
                   const double bumpy[] = {0.0, 2.0, 1.0};  // 2 then 1: not a quantile function
                   return j == 1 ? bumpy[i] : static_cast<double>(i);
                 }),
      "bumpy");
  CHECK(t.rearranged_bins() == 1);
  CHECK(t.largest_rearranged_drop_S() == 1.0);
  const auto c = t.column(1);
  CHECK(std::vector<double>(c.begin(), c.end()) == std::vector<double>{0.0, 1.0, 2.0});
  CHECK(t.mean(1) == doctest::Approx(1.0));  // uniform on [0, 2] after sorting
  const auto d = t.column(0);
  CHECK(std::vector<double>(d.begin(), d.end()) == std::vector<double>{0.0, 1.0, 2.0});
}

TEST_CASE(
    "between bin centres the step interpolates the two quantile functions; outside, the end bins") {
  const StepTable t(make_table(3, {0.0, 0.5, 1.0},
                               [](std::size_t j, std::size_t i) {
                                 return 1e-7 * static_cast<double>((j + 1) * (i + 1));
                               }),
                    "lin");
  for (double u : {0.0, 0.3, 0.5, 0.9}) {
    CHECK(t.step_S(2e-6, u) == t.quantile(1, u));  // exactly the bin at its centre
    CHECK(std::abs(t.step_S(2.25e-6, u) - (0.75 * t.quantile(1, u) + 0.25 * t.quantile(2, u))) <
          1e-21);
    CHECK(t.step_S(0.5e-6, u) == t.quantile(0, u));
    CHECK(t.step_S(9e-6, u) == t.quantile(2, u));
  }
}

TEST_CASE("sampled steps at a TaOx bin reproduce the table's distribution (KS, n = 20000)") {
  const StepTable t(read_taox("device_3_depression"), "device_3_depression");
  const std::size_t n = 20000;
  for (std::size_t bin : {std::size_t{40}, std::size_t{250}, std::size_t{470}}) {
    CAPTURE(bin);
    const double G = t.G_bins_S()[bin];
    std::vector<double> x;
    for (std::size_t k = 0; k < n; ++k) {
      RngStream rng(7, bin, lut_stream::pulse, k);
      x.push_back(t.step_S(G, rng.uniform()));
    }
    const double D = ks_distance(
        x, [&](double v) { return t.cdf_at(bin, v); },
        [&](double v) { return t.cdf_below(bin, v); });
    CHECK(std::sqrt(static_cast<double>(n)) * D < kKsCritical);
    // The test has power: a table shifted by a tenth of the step's standard deviation fails.
    const double shift = 0.1 * std::sqrt(t.variance(bin));
    const double D_shifted = ks_distance(
        x, [&](double v) { return t.cdf_at(bin, v - shift); },
        [&](double v) { return t.cdf_below(bin, v - shift); });
    CHECK(std::sqrt(static_cast<double>(n)) * D_shifted > kKsCritical);
  }
}

TEST_CASE("halfway between two bins the sampled steps follow the averaged quantile function") {
  const DgTableData data = read_taox("device_5_potentiation");
  const StepTable t(data, "device_5_potentiation");
  const std::size_t j = 300;
  // The distribution of (1 - s) Q_j(U) + s Q_j+1(U) as a table of its own (s = 1/2 up to
  // rounding, written as the sampler does so that the atoms at the table's flat ends coincide).
  const double G = 0.5 * (t.G_bins_S()[j] + t.G_bins_S()[j + 1]);
  const double s = (G - t.G_bins_S()[j]) / (t.G_bins_S()[j + 1] - t.G_bins_S()[j]);
  CHECK(s == doctest::Approx(0.5));
  DgTableData mid = data;
  mid.G_bins_S = {1.0, 2.0};
  mid.dG_S = NdArray<double>({data.cdf.size(), 2});
  for (std::size_t i = 0; i < data.cdf.size(); ++i)
    mid.dG_S(i, 0) = mid.dG_S(i, 1) = data.dG_S(i, j) + s * (data.dG_S(i, j + 1) - data.dG_S(i, j));
  const StepTable m(mid, "mid");
  const std::size_t n = 20000;
  std::vector<double> x;
  for (std::size_t k = 0; k < n; ++k) {
    RngStream rng(11, 0, lut_stream::pulse, k);
    x.push_back(t.step_S(G, rng.uniform()));
  }
  const double D = ks_distance(
      x, [&](double v) { return m.cdf_at(0, v); }, [&](double v) { return m.cdf_below(0, v); });
  CHECK(std::sqrt(static_cast<double>(n)) * D < kKsCritical);
}

TEST_CASE(
    "device simulate lut: pulse_train output, clamped to the tables, identical for 1 and 2 "
    "threads") {
  test::TempDir dir;
  const std::string file = dir.file("t.h5");
  write_measurements(file, small_tables());
  const std::string config = fmt::format(
      "[lut]\npotentiation_table = '{0}:potentiation'\ndepression_table = '{0}:depression'\n"
      "G0 = 0.0\npulses_per_cycle = 7\ncycles = 4\n",
      file);
  set_threads(1);
  const auto one = simulate_lut(config, 9, 3);
  set_threads(2);
  const auto two = simulate_lut(config, 9, 3);
  set_threads(0);
  const auto& a = std::get<PulseTrainData>(one.sets.front().body);
  const auto& b = std::get<PulseTrainData>(two.sets.front().body);
  CHECK(test::same_bits(a.G.data, b.G.data));
  CHECK(a.G.shape == std::vector<std::size_t>{9, 4, 7});
  CHECK(a.polarity == std::vector<std::int64_t>{1, -1, 1, -1});
  for (double g : a.G.data) {
    CHECK(g >= 1e-6);
    CHECK(g <= 5e-6);
  }
  // A device's trajectory does not depend on how many devices are simulated.
  const auto fewer = simulate_lut(config, 4, 3);
  const auto& c = std::get<PulseTrainData>(fewer.sets.front().body);
  CHECK(std::equal(c.G.data.begin(), c.G.data.end(), a.G.data.begin()));
  // Another seed, other steps.
  const auto other = simulate_lut(config, 9, 4);
  CHECK_FALSE(test::same_bits(std::get<PulseTrainData>(other.sets.front().body).G.data, a.G.data));
  CHECK(contains(one.provenance, "potentiation_table"));
}

TEST_CASE("one pulse: the step drawn from the table at the current G, then the clamp") {
  test::TempDir dir;
  const std::string file = dir.file("t.h5");
  write_measurements(file, small_tables());
  LutDeviceConfig c;
  c.potentiation_table = file + ":potentiation";
  c.depression_table = file + ":depression";
  const LutModel model = LutModel::from_config(c);
  for (std::uint64_t k = 0; k < 50; ++k) {
    RngStream rng(5, 0, lut_stream::pulse, k), same(5, 0, lut_stream::pulse, k);
    const double G = 2.5e-6;
    const double expected =
        std::clamp(G + model.table(Polarity::potentiation).step_S(G, same.uniform()), 1e-6, 5e-6);
    CHECK(model.apply_pulse(G, Polarity::potentiation, rng) == expected);
    CHECK(rng.draws() == 1);
  }
  // Starting at G = 5 uS every potentiation step is clamped at the top.
  RngStream rng(5, 0, lut_stream::pulse, 0);
  const double top = model.table(Polarity::potentiation).G_high_S();
  CHECK(model.apply_pulse(top, Polarity::potentiation, rng) == top);
}

TEST_CASE("an all-zero table is a device that never moves") {
  test::TempDir dir;
  const std::string file = dir.file("t.h5");
  write_measurements(file, small_tables());
  const auto f = simulate_lut(fmt::format("potentiation_table = '{0}:flat_potentiation'\n"
                                          "depression_table = '{0}:flat_depression'\nG0 = 2e-6\n",
                                          file),
                              3, 1);
  for (double g : std::get<PulseTrainData>(f.sets.front().body).G.data) CHECK(g == 2e-6);
}

TEST_CASE("bad lut input gives one clear error naming the file, group and value") {
  test::TempDir dir;
  const std::string file = dir.file("t.h5");
  write_measurements(file, small_tables());
  const auto run = [&](const std::string& pot, const std::string& dep) {
    return message_of([&] {
      simulate_lut(fmt::format("potentiation_table = '{}'\ndepression_table = '{}'\n", pot, dep), 2,
                   1);
    });
  };
  const std::string missing = dir.file("missing.h5");
  CHECK(contains(run(missing + ":potentiation", file + ":depression"), missing + ": no such file"));
  CHECK(
      contains(run(file + ":train", file + ":depression"),
               "t.h5:train is kind 'pulse_train', but lut potentiation_table needs kind dg_table"));
  CHECK(contains(run(file + ":depression", file + ":depression"),
                 "has polarity -1, but lut potentiation_table needs potentiation"));
  CHECK(contains(run(file + ":nope", file + ":depression"), "no data set 'nope'"));
  CHECK(contains(run("", file + ":depression"), "lut needs potentiation_table"));
  CHECK(contains(run(file + ":potentiation", ""), "lut needs depression_table"));
  // A file without a group: fine when it holds one table of that polarity, else name it.
  CHECK(
      contains(run(file, file + ":depression"), "holds 2 dg_table sets of polarity potentiation"));
  CHECK(contains(message_of([&] {
                   simulate_lut(fmt::format("potentiation_table = '{0}:potentiation'\n"
                                            "depression_table = '{0}:depression'\n"
                                            "G0 = nan\n",
                                            file),
                                2, 1);
                 }),
                 "G0 = nan"));
  // Tables the schema accepts but a quantile function cannot be.
  auto constant = make_table(2, {0.5, 0.5}, [](std::size_t, std::size_t) { return 0.0; });
  CHECK(contains(message_of([&] { StepTable(constant, "c.h5:g"); }), "c.h5:g: cdf is constant"));
  auto one_bin = make_table(
      1, {0.0, 1.0}, [](std::size_t, std::size_t i) { return 1.0 * static_cast<double>(i); });
  CHECK(contains(message_of([&] { StepTable(one_bin, "one.h5:g"); }),
                 "G_bins needs at least two bins"));
  const auto dep = std::get<DgTableData>(small_tables().sets[1].body);
  CHECK(contains(
      message_of([&] { LutModel(StepTable(dep, "d.h5:dep"), StepTable(dep, "d.h5:dep")); }),
      "d.h5:dep has polarity -1, but the lut potentiation table needs +1"));
}

TEST_CASE("sample quantiles of definition 9 equal numpy's 'normal_unbiased'") {
  // numpy 1.24: np.quantile([3, -1, 4, 1.5, 9, 2.6, 5], p, method='normal_unbiased').
  std::vector<double> x = {3.0, -1.0, 4.0, 1.5, 9.0, 2.6, 5.0};
  std::sort(x.begin(), x.end());
  const std::vector<std::pair<double, double>> reference = {{0.0, -1.0},
                                                            {0.01, -1.0},
                                                            {0.1, -0.7499999999999998},
                                                            {0.25, 1.70625},
                                                            {0.5, 3.0},
                                                            {0.77, 4.9575000000000005},
                                                            {0.9, 8.599999999999998},
                                                            {0.99, 9.0},
                                                            {1.0, 9.0}};
  for (const auto& [p, q] : reference) {
    CAPTURE(p);
    CHECK(sample_quantile_type9(x, p) == doctest::Approx(q).epsilon(1e-14));
  }
}

TEST_CASE("build_dg_table bins steps, keeps the mean G per bin and drops sparse bins") {
  StepSamples s;
  // Bin [0, 1): G = 0.2, 0.4 with steps 1..5 each; bin [1, 2): one step; bin [2, 3]: G = 3 (upper
  // edge).
  for (int k = 1; k <= 5; ++k) {
    s.G_before_S.push_back(0.2);
    s.dG_S.push_back(k);
    s.G_before_S.push_back(0.4);
    s.dG_S.push_back(k);
  }
  s.G_before_S.push_back(1.5);
  s.dG_S.push_back(100);
  for (int k = 0; k < 4; ++k) {
    s.G_before_S.push_back(3.0);
    s.dG_S.push_back(-k);
  }
  s.G_before_S.push_back(7.0);  // outside the edges: ignored
  s.dG_S.push_back(1e9);
  DgTableBinning b{{0.0, 1.0, 2.0, 3.0}, {0.0, 0.5, 1.0}, 2};
  const DgTableData t = build_dg_table(s, Polarity::depression, b);
  CHECK(t.polarity == -1);
  REQUIRE(t.G_bins_S.size() == 2);
  CHECK(t.G_bins_S[0] == doctest::Approx(0.3));
  CHECK(t.G_bins_S[1] == 3.0);
  CHECK(t.dG_S(0, 0) == 1.0);
  CHECK(t.dG_S(1, 0) == 3.0);
  CHECK(t.dG_S(2, 0) == 5.0);
  CHECK(t.dG_S(1, 1) == doctest::Approx(-1.5));
  CHECK_NOTHROW(StepTable(t, "built"));
  b.min_steps = 5;
  CHECK(contains(message_of([&] { build_dg_table(s, Polarity::depression, b); }),
                 "only 1 bin(s) hold at least 5 steps"));
  s.dG_S[0] = std::nan("");
  CHECK(contains(message_of([&] { build_dg_table(s, Polarity::depression, b); }),
                 "step 0 is not finite"));
}

TEST_CASE("collect_steps pairs consecutive reads within the cycles of one polarity") {
  PulseTrainData p;
  p.G = NdArray<double>({1, 3, 3}, {1, 2, 4, 4, 3, std::nan(""), 5, 7, 8});
  p.polarity = {1, -1, 1};
  const StepSamples up = collect_steps(p, Polarity::potentiation);
  CHECK(up.G_before_S == std::vector<double>{1, 2, 5, 7});
  CHECK(up.dG_S == std::vector<double>{1, 2, 2, 1});
  const StepSamples down = collect_steps(p, Polarity::depression);
  CHECK(down.G_before_S == std::vector<double>{4});
  CHECK(down.dG_S == std::vector<double>{-1});
}
