// Tests of the PCM feedback source: its library is the crystallization model's own cells (same
// seed, exact), the entries it draws follow the model's distribution of G after N pulses
// (two-sample KS against cells simulated directly on another seed), the differential and
// mean-subtracted forms have their closed-form moments, and bad settings are refused with the
// key and value named. Sizes are kept small (gst, 40 pulses) so the suite runs in seconds.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "analog/pcm_feedback.hpp"
#include "calibration/goodness_of_fit.hpp"
#include "training/layers.hpp"
#include "training/loss.hpp"
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

// An MLP with tanh (the DFA test network of tests/training/test_network.cpp).
training::Network mlp(std::size_t in, std::vector<std::size_t> hidden, std::size_t classes) {
  std::vector<training::LayerPtr> layers;
  std::size_t width = in;
  for (auto h : hidden) {
    layers.push_back(std::make_unique<training::Dense>(width, h));
    layers.push_back(std::make_unique<training::Tanh>());
    width = h;
  }
  layers.push_back(std::make_unique<training::Dense>(width, classes));
  return training::Network(std::move(layers), {in}, classes);
}

// The PCM source's entries (same draws), read through a readout of the given periphery and
// read-noise sigmas (entry units): a readout that periphery = realistic cannot configure.
class ReadoutSource final : public training::FeedbackSource {
 public:
  ReadoutSource(const PcmFeedback& pcm, PeripheryConfig periphery, float sigma)
      : pcm_(pcm), periphery_(periphery), sigma_(sigma) {}
  std::string name() const override { return "pcm"; }
  training::Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const override {
    return pcm_.generate(rows, cols, rng);
  }
  training::FeedbackArray program(std::size_t rows, std::size_t cols, RngStream& rng) const override {
    training::Tensor B = pcm_.generate(rows, cols, rng);
    std::vector<float> sigma(sigma_ > 0 ? B.size() : 0, sigma_);
    return {std::move(B), std::make_unique<PcmFeedbackReadout>(periphery_, sigma, 1.0, 99), nullptr};
  }

 private:
  const PcmFeedback& pcm_;
  PeripheryConfig periphery_;
  float sigma_;
};

PeripheryConfig ideal_periphery() {
  PeripheryConfig p;
  p.dac = p.adc = false;
  p.out_noise = 0;
  return p;
}

// Every parameter gradient of one DFA step on a fixed batch, with feedback from `source`.
std::vector<float> dfa_gradients(const training::FeedbackSource& source,
                                 training::FeedbackLayout layout) {
  training::Network net = mlp(6, {8, 5}, 4);
  RngStream init(3, 0, stream_id("test_init"));
  net.initialize(init);
  net.set_rules({training::BlockRule::dfa, training::BlockRule::dfa, training::BlockRule::backprop});
  RngStream feedback(3, 0, stream_id("test_feedback"));
  net.set_feedback(source, layout, feedback);
  training::Tensor x({5, 6});
  RngStream data(3, 0, stream_id("test_data"));
  for (float& v : x.data) v = static_cast<float>(data.uniform() * 2 - 1);
  const std::vector<int> labels = {0, 3, 1, 2, 3};
  const training::Pass pass{training::Mode::train, nullptr, 7};
  training::Tensor grad;
  training::softmax_cross_entropy(net.forward(x, pass), labels, &grad);
  net.backward(grad, pass);
  std::vector<float> g;
  for (auto* p : net.parameters()) g.insert(g.end(), p->grad.data.begin(), p->grad.data.end());
  return g;
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

TEST_CASE("in-memory error computing with an ideal periphery and noise-free reads is DFA with "
          "the same B, exactly (shared) or to float rounding (merged)") {
  const PcmFeedback pcm(small_config("differential"), 1);
  const ReadoutSource ideal(pcm, ideal_periphery(), 0.0f);
  const std::vector<float> digital = dfa_gradients(pcm, training::FeedbackLayout::shared);
  CHECK(dfa_gradients(ideal, training::FeedbackLayout::shared) == digital);
  // Merged: the digital path scales B's rows before the product, a readout after it.
  const std::vector<float> merged = dfa_gradients(pcm, training::FeedbackLayout::merged);
  const std::vector<float> merged_readout = dfa_gradients(ideal, training::FeedbackLayout::merged);
  REQUIRE(merged.size() == merged_readout.size());
  for (std::size_t k = 0; k < merged.size(); ++k)
    CHECK(merged_readout[k] == doctest::Approx(merged[k]).epsilon(1e-5).scale(1e-7));
  // The network records that a readout computed B e.
  training::Network net = mlp(6, {8, 5}, 4);
  net.set_rules({training::BlockRule::dfa, training::BlockRule::dfa, training::BlockRule::backprop});
  RngStream rng(1, 0, 1);
  net.set_feedback(ideal, training::FeedbackLayout::shared, rng);
  CHECK(net.feedback_stats().readout == "in_memory");
  net.set_feedback(pcm, training::FeedbackLayout::shared, rng);
  CHECK(net.feedback_stats().readout == "digital");
}

TEST_CASE("readout: cell read noise gives each output the variance sum_k sigma_jk^2 e_k^2") {
  // Ideal converters, read noise sigma = 0.3 on every entry: y_j = sum_k (B_jk + 0.3 z_jk) e_k,
  // so Var y_j = 0.09 sum_k e_k^2 and E y_j = (B e)_j. 4000 reads (passes); tolerance 5 standard
  // errors of the mean (sd/sqrt(P)) and of the variance (var sqrt(2/P)).
  PcmFeedbackReadout readout(ideal_periphery(), std::vector<float>(6 * 3, 0.3f), 1.0, 5);
  training::Tensor B({6, 3}), e({2, 3}), out;
  RngStream rng(9, 0, 1);
  for (float& v : B.data) v = static_cast<float>(rng.uniform() * 4 - 2);
  e.data = {0.5f, -0.25f, 0.125f, -1.0f, 0.0f, 0.75f};
  constexpr int P = 4000;
  std::vector<double> sum(12, 0.0), sum2(12, 0.0);
  for (int p = 0; p < P; ++p) {
    readout.product(e, B, out, training::Pass{training::Mode::train, nullptr, static_cast<std::uint64_t>(p)});
    for (std::size_t k = 0; k < 12; ++k) {
      sum[k] += out.data[k];
      sum2[k] += static_cast<double>(out.data[k]) * out.data[k];
    }
  }
  for (std::size_t n = 0; n < 2; ++n) {
    double e2 = 0;
    for (std::size_t c = 0; c < 3; ++c) e2 += e.data[n * 3 + c] * e.data[n * 3 + c];
    const double var = 0.09 * e2;
    for (std::size_t j = 0; j < 6; ++j) {
      double exact = 0;
      for (std::size_t c = 0; c < 3; ++c) exact += B.data[j * 3 + c] * e.data[n * 3 + c];
      const double mean = sum[n * 6 + j] / P;
      const double sample_var = sum2[n * 6 + j] / P - mean * mean;
      CHECK(std::fabs(mean - exact) < 5 * std::sqrt(var / P));
      CHECK(std::fabs(sample_var / var - 1) < 5 * std::sqrt(2.0 / P));
    }
  }
  // The same pass id reads the same noise: a replay is bitwise identical.
  training::Tensor again;
  readout.product(e, B, out, training::Pass{training::Mode::train, nullptr, 17});
  readout.product(e, B, again, training::Pass{training::Mode::train, nullptr, 17});
  CHECK(out.data == again.data);
}

TEST_CASE("readout: the ADC's error is at most half a level, and clipped outputs are counted") {
  // DAC off, 6-bit ADC over +-out_bound = 4, no noise. The unit of an output is
  // max|e_n| w_max, so sample n's error is at most (out_bound / 31) max|e_n| w_max / 2.
  PeripheryConfig p;
  p.dac = false;
  p.adc_bits = 6;
  p.out_bound = 4;
  p.out_noise = 0;
  p.bound_management = 0;
  const double w_max = 2.0;
  PcmFeedbackReadout readout(p, {}, w_max, 5);
  training::Tensor B({40, 3}), e({3, 3}), out;
  RngStream rng(2, 0, 1);
  for (float& v : B.data) v = static_cast<float>(rng.uniform() * 4 - 2);
  e.data = {0.5f, -0.25f, 0.125f, -1.0f, 0.0f, 0.75f, 0.3f, 0.2f, -0.1f};
  readout.product(e, B, out, training::Pass{training::Mode::train, nullptr, 1});
  std::uint64_t clipped = 0;
  for (std::size_t n = 0; n < 3; ++n) {
    double peak = 0;
    for (std::size_t c = 0; c < 3; ++c) peak = std::max(peak, std::fabs(double{e.data[n * 3 + c]}));
    const double unit = peak * w_max, half_level = 4.0 / 31 * unit / 2;
    for (std::size_t j = 0; j < 40; ++j) {
      double exact = 0;
      for (std::size_t c = 0; c < 3; ++c) exact += B.data[j * 3 + c] * e.data[n * 3 + c];
      if (std::fabs(exact) > 4 * unit) {
        ++clipped;
        CHECK(std::fabs(out.data[n * 40 + j]) == doctest::Approx(4 * unit).epsilon(1e-6));
      } else {
        CHECK(std::fabs(out.data[n * 40 + j] - exact) <= half_level * (1 + 1e-5));
      }
    }
  }
  CHECK(readout.outputs() == 120);
  CHECK(readout.saturated() == clipped);
}

TEST_CASE("periphery = realistic: the same entries as the digital source, the readout holds "
          "each pair's 1/f read noise") {
  PcmFeedbackConfig c = small_config("differential");
  const PcmFeedback digital(c, 1);
  c.periphery = "realistic";
  const PcmFeedback in_memory(c, 1);
  RngStream r1(4, 0, 1), r2(4, 0, 1);
  const training::Tensor A = digital.generate(20, 10, r1);
  const training::FeedbackArray array = in_memory.program(20, 10, r2);
  CHECK(array.entries.data == A.data);
  REQUIRE(array.readout != nullptr);
  CHECK(digital.program(20, 10, r1).readout == nullptr);
  // Each entry's read noise from its two cells, replayed from the same draws, by the IBM model's
  // closed form: sigma(G) = G Q_s(G / 25 uS) sqrt(ln((t + t_r) / (2 t_r))), t = 20 s,
  // t_r = 250 ns, Q_s(g) = min(0.0088 / g^0.65, 0.2) (Nandakumar 2019).
  const auto* readout = dynamic_cast<const PcmFeedbackReadout*>(array.readout.get());
  REQUIRE(readout != nullptr);
  REQUIRE(readout->read_sigma().size() == 200);
  const auto closed_form = [](double G) {
    const double q = std::min(0.0088 / std::pow(G / 25e-6, 0.65), 0.2);
    return G * q * std::sqrt(std::log((20.0 + 250e-9) / 500e-9));
  };
  RngStream r3(4, 0, 1);
  for (std::size_t k = 0; k < 200; ++k) {
    const double plus = in_memory.quantile_S(r3.uniform()), minus = in_memory.quantile_S(r3.uniform());
    const double expected = std::hypot(closed_form(plus), closed_form(minus)) / in_memory.entry_scale_S();
    CHECK(readout->read_sigma()[k] == doctest::Approx(expected).epsilon(1e-6));
  }
  // Bad keys name themselves; converter keys with an ideal periphery are a mistake.
  auto with = [](auto change) {
    PcmFeedbackConfig k;
    change(k);
    return test::message_of([&] { validate(k); });
  };
  CHECK(with([](auto& k) { k.periphery = "analog"; }).find("pcm-feedback.periphery = 'analog'") != std::string::npos);
  CHECK(with([](auto& k) { k.periphery = "realistic"; k.adc_bits = 0; }).find("pcm-feedback.adc_bits = 0") != std::string::npos);
  CHECK(with([](auto& k) { k.periphery = "realistic"; k.read_time = -1; }).find("pcm-feedback.read_time = -1") != std::string::npos);
  CHECK(with([](auto& k) { k.dac_bits = 4; }).find("periphery = 'ideal'") != std::string::npos);
}
