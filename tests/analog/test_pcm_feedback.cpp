// Tests of the PCM feedback source: its library is the crystallization model's own cells (same
// seed, exact), the entries it draws follow the model's distribution of G after N pulses
// (two-sample KS against cells simulated directly on another seed), the differential and
// mean-subtracted forms have their closed-form moments, and bad settings are refused with the
// key and value named. Sizes are kept small (gst, 40 pulses) so the suite runs in seconds.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "analog/pcm_feedback.hpp"
#include "calibration/goodness_of_fit.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::analog;

namespace {

PcmFeedbackConfig small_config(const std::string& form) {
  PcmFeedbackConfig c;
  c.preset = "gst";
  c.pulses = 40;  // gst at 0.15 mW: ~30 pulses reach 10 uS, so the cells spread widely
  c.form = form;
  c.library_devices = 1000;
  return c;
}

// n cells simulated directly, cell i of seed `seed`.
std::vector<double> direct_cells(const PcmFeedbackConfig& c, std::uint64_t seed, std::size_t n) {
  const PcmFeedbackPhysics physics = resolve_pcm_feedback_physics(c);
  const PcmCrystallizationModel model(physics.device);
  std::vector<double> G(n);
  for (std::size_t i = 0; i < n; ++i) G[i] = simulate_pcm_feedback_cell(model, physics.protocol, seed, i);
  return G;
}

struct Moments {
  double mean = 0, var = 0, skew = 0, m4 = 0;
};
Moments moments(const std::vector<double>& v) {
  Moments m;
  const double n = static_cast<double>(v.size());
  for (double x : v) m.mean += x / n;
  double m3 = 0;
  for (double x : v) {
    const double d = x - m.mean;
    m.var += d * d / n;
    m3 += d * d * d / n;
    m.m4 += d * d * d * d / n;
  }
  m.skew = m3 / std::pow(m.var, 1.5);
  return m;
}

}  // namespace

TEST_CASE("the library is the crystallization model's cells after N pulses, cell i of the seed") {
  const PcmFeedbackConfig c = small_config("differential");
  const PcmFeedback source(c, 77);
  std::vector<double> want = direct_cells(c, 77, 1000);
  std::sort(want.begin(), want.end());
  REQUIRE(source.conductances_S().size() == want.size());
  CHECK(source.conductances_S() == want);  // bit for bit: the same streams
  // The spread comes from the physics: not every cell in one state.
  CHECK(source.std_S() > 0.1 * source.mean_S());
  CHECK(source.entry_scale_S() == doctest::Approx(std::sqrt(2.0) * source.std_S()).epsilon(1e-15));
  // Inverse transform: the ends and the middle of the sorted library.
  CHECK(source.quantile_S(0.0) == want.front());
  CHECK(source.quantile_S(std::nextafter(1.0, 0.0)) == doctest::Approx(want.back()).epsilon(1e-9));
  CHECK(source.quantile_S(0.5) ==
        doctest::Approx(0.5 * (want[499] + want[500])).epsilon(1e-12));
}

TEST_CASE("drawn entries follow the model's distribution of G after N pulses (two-sample KS)") {
  // 2000 entries against 2000 cells simulated directly on an independent seed. With the
  // library's own discretisation (1000 cells) the test has the size of a KS test at p = 0.001
  // on the combined sampling noise; seeds are fixed, so it is deterministic.
  SUBCASE("cells drawn by inverse transform from the library") {
    const PcmFeedbackConfig c = small_config("mean_subtracted");
    const PcmFeedback source(c, 5);
    RngStream rng(9, 0, stream_id("test"));
    std::vector<double> drawn(2000);
    for (double& g : drawn) g = source.quantile_S(rng.uniform());
    const std::vector<double> direct = direct_cells(c, 1234, 2000);
    const GofResult ks = kolmogorov_smirnov_two_sample(drawn, direct);
    INFO("KS D = " << ks.statistic << ", p = " << ks.p_value);
    CHECK(ks.p_value > 0.001);
    // The test has power: 35 pulses instead of 40 is rejected.
    PcmFeedbackConfig fewer = c;
    fewer.pulses = 35;
    const GofResult off = kolmogorov_smirnov_two_sample(drawn, direct_cells(fewer, 1234, 2000));
    INFO("35 pulses: KS D = " << off.statistic << ", p = " << off.p_value);
    CHECK(off.p_value < 1e-6);
  }
  SUBCASE("differential: entry x sqrt(2) sigma_G = G+ - G-") {
    const PcmFeedbackConfig c = small_config("differential");
    const PcmFeedback source(c, 5);
    RngStream rng(9, 0, stream_id("test"));
    const training::Tensor B = source.generate(40, 50, rng);
    const std::vector<double> direct = direct_cells(c, 4321, 4000);
    std::vector<double> pairs(2000), drawn(B.size());
    for (std::size_t k = 0; k < 2000; ++k) pairs[k] = direct[2 * k] - direct[2 * k + 1];
    for (std::size_t k = 0; k < B.size(); ++k) drawn[k] = B.data[k] * source.entry_scale_S();
    const GofResult ks = kolmogorov_smirnov_two_sample(drawn, pairs);
    INFO("KS D = " << ks.statistic << ", p = " << ks.p_value);
    CHECK(ks.p_value > 0.001);
  }
}

TEST_CASE("closed forms: differential entries are symmetric with mean 0 and variance 1, "
          "mean-subtracted entries keep the skewness of G") {
  const PcmFeedbackConfig cd = small_config("differential");
  const PcmFeedback diff(cd, 21);
  RngStream rng(3, 0, stream_id("test"));
  const training::Tensor B = diff.generate(200, 100, rng);
  std::vector<double> v(B.data.begin(), B.data.end());
  const Moments m = moments(v);
  const double n = static_cast<double>(v.size());
  // G+ - G- of i.i.d. cells: E = 0, Var = 2 Var_lib(G) (the interpolated inverse transform has
  // a variance a little below the library's: < 1 % with 1000 cells, checked below), skewness 0.
  // Tolerances: 5 standard errors of each sample moment.
  CHECK(std::abs(m.mean) < 5.0 / std::sqrt(n));
  CHECK(std::abs(m.var - 1.0) < 5.0 * std::sqrt((m.m4 - m.var * m.var) / n) + 0.01);
  CHECK(std::abs(m.skew) < 5.0 * std::sqrt(6.0 / n));
  CHECK(diff.devices_per_entry() == 2);

  // Mean-subtracted: (G - mean G) / sigma_G has the skewness of the library itself, which the
  // nucleation-limited crystallization makes clearly non-zero.
  const PcmFeedbackConfig cm = small_config("mean_subtracted");
  const PcmFeedback single(cm, 21);
  const training::Tensor S = single.generate(200, 100, rng);
  std::vector<double> s(S.data.begin(), S.data.end());
  const Moments ms = moments(s);
  const Moments lib = moments(single.conductances_S());
  INFO("library skewness " << lib.skew << ", entries " << ms.skew);
  CHECK(std::abs(lib.skew) > 0.2);
  CHECK(std::abs(ms.skew - lib.skew) < 5.0 * std::sqrt(6.0 / n) + 5.0 * std::sqrt(6.0 / 1000.0));
  CHECK(std::abs(ms.mean) < 1e-5);
  // Exactly its definition: one uniform per cell, (G - mean G) / sigma_G.
  RngStream again(3, 0, stream_id("test"));
  diff.generate(200, 100, again);  // the stream as it was before `single` drew
  std::vector<double> G(S.size());
  double sum = 0;
  for (double& g : G) sum += g = single.quantile_S(again.uniform());
  const double mean = sum / static_cast<double>(G.size());
  for (std::size_t k = 0; k < G.size(); ++k)
    REQUIRE(S.data[k] == static_cast<float>((G[k] - mean) / single.std_S()));
  CHECK(std::abs(ms.var - 1.0) < 5.0 * std::sqrt((ms.m4 - ms.var * ms.var) / n) + 0.01);
  CHECK(single.devices_per_entry() == 1);
}

TEST_CASE("same seed and stream give the same matrix, the library seed changes it") {
  const PcmFeedbackConfig c = small_config("differential");
  const PcmFeedback a(c, 1), b(c, 1), other(c, 2);
  RngStream r1(4, 0, 1), r2(4, 0, 1), r3(4, 0, 1);
  const training::Tensor A = a.generate(10, 10, r1);
  CHECK(A.data == b.generate(10, 10, r2).data);
  CHECK(A.data != other.generate(10, 10, r3).data);
}

TEST_CASE("bad pcm-feedback settings are refused naming the key and value") {
  auto with = [](auto change) {
    PcmFeedbackConfig c;
    change(c);
    return test::message_of([&] { validate(c); });
  };
  CHECK(with([](auto& c) { c.pulses = 0; }).find("pcm-feedback.pulses = 0") != std::string::npos);
  CHECK(with([](auto& c) { c.pulses = -3; }).find("pcm-feedback.pulses = -3") != std::string::npos);
  CHECK(with([](auto& c) { c.form = "pair"; }).find("pcm-feedback.form = 'pair'") != std::string::npos);
  CHECK(with([](auto& c) { c.preset = "agst"; }).find("pcm-feedback.preset = 'agst'") != std::string::npos);
  CHECK(with([](auto& c) { c.power = -1e-4; }).find("pcm-feedback.power = -0.0001") != std::string::npos);
  CHECK(with([](auto& c) { c.width = 0; }).find("pcm-feedback.width = 0") != std::string::npos);
  CHECK(with([](auto& c) { c.library_devices = 3; }).find("library_devices = 3") != std::string::npos);
  // A pulse that melts the cell RESETs it: no partial SET.
  PcmFeedbackConfig hot;
  hot.power = 1e-3;
  CHECK(test::message_of([&] { resolve_pcm_feedback_physics(hot); }).find("melting") != std::string::npos);
  // A config file must hold a [pcm-crystallization] table.
  test::TempDir dir;
  PcmFeedbackConfig wrong;
  wrong.config = dir.write("params.toml", "[memristor]\nsigma_read = 0.1\n");
  const std::string e = test::message_of([&] { resolve_pcm_feedback_physics(wrong); });
  CHECK(e.find("params.toml") != std::string::npos);
  CHECK(e.find("memristor") != std::string::npos);
  // A calibrated table is used: a different nucleation rate gives a different library.
  PcmFeedbackConfig calibrated = small_config("differential");
  calibrated.config = dir.write("cal.toml", "[pcm-crystallization]\nnucleation_scale = 4.0\n");
  CHECK(PcmFeedback(calibrated, 1).mean_S() != PcmFeedback(small_config("differential"), 1).mean_S());
}
