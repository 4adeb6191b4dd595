// Tests of training on simulated device arrays: the periphery against its closed forms, device
// arrays against `device simulate` of the same model and seed, tiles and update rules against
// exact pulse arithmetic, the ideal limit against the digital engine, and the PCM partial-SET
// table against the crystallization model it came from. Seeds are fixed; every statistical
// check states its tolerance.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "analog/analog_layer.hpp"
#include "analog/device_array.hpp"
#include "analog/hardware.hpp"
#include "analog/pcm_steps.hpp"
#include "analog/periphery.hpp"
#include "analog/tile.hpp"
#include "analog/update.hpp"
#include "core/rng.hpp"
#include "physics/lut_device.hpp"
#include "physics/memristor.hpp"
#include "tests/test_support.hpp"
#include "training/layers.hpp"
#include "training/loss.hpp"
#include "training/network.hpp"
#include "training/optimizer.hpp"

using namespace memcarlo;
using namespace memcarlo::analog;
using training::Mode;
using training::Pass;
using training::Shape;
using training::Tensor;

namespace {

training::OptimizerConfig sgd_momentum(double momentum) {
  training::OptimizerConfig o;
  o.sgd.momentum = momentum;
  return o;
}

Tensor random_tensor(Shape shape, std::uint64_t seed, double lo = -1, double hi = 1) {
  Tensor t(std::move(shape));
  RngStream rng(seed, 0, stream_id("test_tensor"));
  for (float& v : t.data) v = static_cast<float>(lo + (hi - lo) * rng.uniform());
  return t;
}

// A small network with both kinds of analog layer: conv2d (1 -> 3 channels, 3x3, same) on 6x6
// images, ReLU, flatten, dense 108 -> 10.
training::Network small_net(std::uint64_t seed) {
  std::vector<training::LayerPtr> layers;
  layers.push_back(std::make_unique<training::Conv2d>(1, 3, 3, 1, 1));
  layers.push_back(std::make_unique<training::ReLU>());
  layers.push_back(std::make_unique<training::Flatten>());
  layers.push_back(std::make_unique<training::Dense>(108, 10));
  training::Network net(std::move(layers), {1, 6, 6}, 10);
  RngStream rng(seed, 0, stream_id("init"));
  net.initialize(rng);
  return net;
}

struct Batches {
  std::vector<Tensor> x;
  std::vector<std::vector<int>> labels;
};

// `count` batches of 16 synthetic images whose class is a linear function of the pixels, so
// that the network learns something in one pass.
Batches synthetic_data(std::size_t count) {
  Batches b;
  const Tensor direction = random_tensor({10, 36}, 77);
  for (std::size_t i = 0; i < count; ++i) {
    b.x.push_back(random_tensor({16, 1, 6, 6}, 100 + i));
    std::vector<int> labels(16);
    for (std::size_t n = 0; n < 16; ++n) {
      double best = -1e30;
      for (int c = 0; c < 10; ++c) {
        double s = 0;
        for (std::size_t j = 0; j < 36; ++j) s += direction.data[c * 36 + j] * b.x[i].data[n * 36 + j];
        if (s > best) {
          best = s;
          labels[n] = c;
        }
      }
    }
    b.labels.push_back(labels);
  }
  return b;
}

// One epoch as the trainer runs it: forward, loss, backward, the digital SGD on what the
// hardware does not own, then the hardware's step.
void train_epoch(training::Network& net, const Batches& data, training::ReplicaHardware* hw,
                 double lr = 0.05, double momentum = 0.9) {
  std::vector<const training::Parameter*> owned;
  if (hw) owned = hw->owned_parameters();
  std::vector<training::Parameter*> digital;
  for (auto* p : net.parameters())
    if (std::find(owned.begin(), owned.end(), p) == owned.end()) digital.push_back(p);
  training::Sgd sgd(training::SgdConfig{momentum, 0.0}, digital);
  Tensor grad;
  for (std::size_t i = 0; i < data.x.size(); ++i) {
    const Pass pass{Mode::train, nullptr, i};
    const Tensor& logits = net.forward(data.x[i], pass);
    training::softmax_cross_entropy(logits, data.labels[i], &grad);
    net.backward(grad, pass);
    sgd.step(lr);
    if (hw) hw->step(lr, pass);
  }
}

std::vector<float> all_weights(training::Network& net) {
  std::vector<float> w;
  for (auto* p : net.parameters()) w.insert(w.end(), p->value.data.begin(), p->value.data.end());
  return w;
}

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double scale = 0, worst = 0;
  for (float v : b) scale = std::max(scale, double(std::fabs(v)));
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, double(std::fabs(a[i] - b[i])));
  return worst / scale;
}

AnalogConfig ideal_config(const std::string& update) {
  AnalogConfig c;
  c.device = "ideal";
  c.update = update;
  c.periphery = "ideal";
  c.read_noise = false;
  return c;
}

}  // namespace

// --- periphery ---------------------------------------------------------------------------------

TEST_CASE("DAC: error at most half a level of each sample's range, exact at the levels") {
  PeripheryConfig pc;
  pc.dac_bits = 5;  // L = 15 levels a side
  pc.adc = false;
  pc.out_noise = 0;
  const Periphery p(pc);
  const Tensor x = random_tensor({8, 50}, 3, -2.5, 1.0);
  Tensor xq;
  std::vector<float> scales;
  p.convert_inputs(x, xq, scales);
  for (std::size_t n = 0; n < 8; ++n) {
    float peak = 0;
    for (std::size_t i = 0; i < 50; ++i) peak = std::max(peak, std::fabs(x.data[n * 50 + i]));
    CHECK(scales[n] == peak);
    const double level = peak / 15.0;
    for (std::size_t i = 0; i < 50; ++i) {
      const double e = std::fabs(double(xq.data[n * 50 + i]) - x.data[n * 50 + i]);
      CHECK(e <= 0.5 * level * (1 + 1e-6));
      // Every output sits on a level k * peak / 15.
      const double k = xq.data[n * 50 + i] / level;
      CHECK(std::fabs(k - std::round(k)) < 1e-4);
    }
  }
  // An all-zero sample keeps scale 1 and stays zero.
  Tensor zero({1, 4}, 0.0f);
  p.convert_inputs(zero, xq, scales);
  CHECK(scales[0] == 1.0f);
  CHECK(xq.data == zero.data);
}

TEST_CASE("ADC: error at most LSB/2 inside the range, saturation at +-out_bound outside") {
  PeripheryConfig pc;
  pc.dac = false;
  pc.adc_bits = 6;  // L = 31, LSB = out_bound / 31
  pc.out_bound = 4.0;
  pc.out_noise = 0;
  pc.bound_management = 0;
  Periphery p(pc);
  // Outputs spanning twice the range, with scale 2 and w_max 0.5 (unit 1), bias 0.3 on feature 1.
  Tensor y({2, 2, 500});
  for (std::size_t i = 0; i < y.size(); ++i) y.data[i] = float(-8.0 + 16.0 * (i % 500) / 499.0);
  const Tensor before = y;
  const std::vector<float> scales = {2.0f, 2.0f}, bias = {0.0f, 0.3f};
  ConverterCounts counts;
  p.convert_outputs(y, scales, 0.5, bias, 2, 1.0, {}, 0, counts);
  const double lsb = 4.0 / 31.0;
  std::uint64_t outside = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    const double b = (i / 500) % 2 ? 0.3 : 0.0;
    const double h = before.data[i] - b;  // unit = scale * w_max = 1
    if (std::fabs(h) <= 4.0) {
      CHECK(std::fabs(y.data[i] - before.data[i]) <= 0.5 * lsb + 1e-5);
    } else {
      ++outside;
      CHECK(y.data[i] - b == doctest::Approx(h > 0 ? 4.0 : -4.0).epsilon(1e-6));
    }
  }
  CHECK(counts.outputs == y.size());
  CHECK(counts.saturated == outside);
  CHECK(outside > 0);
}

TEST_CASE("ADC bound management: a saturating sample is converted at half its input until it fits") {
  PeripheryConfig pc;
  pc.dac = false;
  pc.adc_bits = 6;
  pc.out_bound = 4.0;
  pc.out_noise = 0;
  pc.bound_management = 2;  // up to a quarter of the input: range +-16
  Periphery p(pc);
  // Sample 0 within +-4 (no retry), sample 1 up to 7 (one halving), sample 2 up to 13 (two),
  // sample 3 up to 30 (still saturates after two: clipped at +-16).
  const float peaks[4] = {3.5f, 7.0f, 13.0f, 30.0f};
  Tensor y({4, 1, 100});
  for (std::size_t n = 0; n < 4; ++n)
    for (std::size_t i = 0; i < 100; ++i) y.data[n * 100 + i] = peaks[n] * (-1.0f + 2.0f * i / 99.0f);
  const Tensor before = y;
  ConverterCounts counts;
  p.convert_outputs(y, std::vector<float>(4, 1.0f), 1.0, {}, 1, 1.0, {}, 0, counts);
  const double lsb = 4.0 / 31.0;
  const int halvings[4] = {0, 1, 2, 2};
  std::uint64_t clipped = 0;
  for (std::size_t n = 0; n < 4; ++n) {
    const double scale = std::ldexp(1.0, halvings[n]);
    for (std::size_t i = 0; i < 100; ++i) {
      const double v = before.data[n * 100 + i], q = y.data[n * 100 + i];
      if (std::fabs(v) <= 4.0 * scale) {
        CHECK(std::fabs(q - v) <= 0.5 * lsb * scale + 1e-5);
      } else {
        ++clipped;
        CHECK(std::fabs(q) == doctest::Approx(4.0 * scale));
      }
    }
  }
  CHECK(counts.managed == 3);
  CHECK(counts.saturated == clipped);
  CHECK(clipped > 0);
}

TEST_CASE("output noise: standard deviation out_noise of a full-scale output, independent per pass") {
  PeripheryConfig pc;
  pc.dac = pc.adc = false;
  pc.out_noise = 0.06;
  Periphery p(pc);
  const std::size_t n = 200000;
  Tensor y({1, n}, 1.0f);
  ConverterCounts counts;
  // Scale 0.5 and w_max 4: one full-scale output is 2, so the noise sd is 0.12.
  p.convert_outputs(y, std::vector<float>{0.5f}, 4.0, {}, 1, 1.0, {9, 1, 2}, 7, counts);
  double mean = 0, var = 0;
  for (float v : y.data) mean += v;
  mean /= n;
  for (float v : y.data) var += (v - mean) * (v - mean);
  const double sd = std::sqrt(var / (n - 1));
  // sd of the sample sd is 0.12 / sqrt(2 n) = 1.9e-4: 5 of those.
  CHECK(std::fabs(sd - 0.12) < 1e-3);
  CHECK(std::fabs(mean - 1.0) < 5 * 0.12 / std::sqrt(double(n)));
  Tensor again({1, n}, 1.0f), other({1, n}, 1.0f);
  p.convert_outputs(again, std::vector<float>{0.5f}, 4.0, {}, 1, 1.0, {9, 1, 2}, 7, counts);
  p.convert_outputs(other, std::vector<float>{0.5f}, 4.0, {}, 1, 1.0, {9, 1, 2}, 8, counts);
  CHECK(again.data == y.data);
  CHECK(other.data != y.data);
}

TEST_CASE("periphery config: converter bits outside 1-16 are refused") {
  PeripheryConfig pc;
  pc.dac_bits = 0;
  CHECK_THROWS_AS(Periphery{pc}, InputError);
  pc.dac_bits = 17;
  CHECK_THROWS_AS(Periphery{pc}, InputError);
  pc.dac_bits = 1;
  pc.adc_bits = 17;
  CHECK(test::message_of([&] { Periphery{pc}; }).find("adc_bits = 17") != std::string::npos);
}

// --- devices -----------------------------------------------------------------------------------

TEST_CASE("memristor array: a device's pulse response equals run_pulse_train of the same seed") {
  MemristorConfig c;
  c.sigma_area = 0.05;
  c.sigma_k0_p = 0.1;
  c.sigma_c2c = 0.01;
  const MemristorModel model(c);
  MemristorPulseTrain train;
  train.pulses_per_cycle = 12;
  train.cycles = 3;
  train.noisy_reads = false;
  const std::uint64_t seed = 4242;
  MemristorArray array(20, seed, model);
  for (std::size_t device : {0u, 7u, 19u}) {
    const auto expected = run_pulse_train(model, train, seed, device);
    array.program(device, model.conductance(model.make_device(seed, device)));  // w0 = 0
    std::size_t k = 0;
    for (std::int64_t cycle = 0; cycle < train.cycles; ++cycle)
      for (std::int64_t p = 0; p < train.pulses_per_cycle; ++p, ++k)
        CHECK(array.pulse(device, train.polarity(cycle), 1) == expected.data[k]);
  }
  // Bursts draw the same streams as single pulses.
  MemristorArray burst(20, seed, model);
  const auto expected = run_pulse_train(model, train, seed, 3);
  CHECK(burst.pulse(3, Polarity::potentiation, 12) == expected.data[11]);
  CHECK(burst.pulse_counts()[3] == 12);
}

TEST_CASE("lut array: a device's pulse response equals run_lut_pulse_train of the same seed") {
  const std::string file = std::string(MEMCARLO_SOURCE_DIR) + "/data/measured/sandia_taox_lut.h5";
  auto model = std::make_shared<const LutModel>(
      LutModel::from_config({file + ":device_3_potentiation", file + ":device_3_depression", 0.0}));
  LutPulseTrain train;
  train.pulses_per_cycle = 10;
  train.cycles = 2;
  LutArray array(5, 99, model);
  std::vector<double> expected(20);
  run_lut_pulse_train(*model, train, 0.0, 99, 4, expected);
  for (std::size_t k = 0; k < 20; ++k)
    CHECK(array.pulse(4, train.polarity(static_cast<std::int64_t>(k / 10)), 1) == expected[k]);
}

TEST_CASE("tile: differential mapping holds the weights, and pulses alternate between the pair") {
  std::vector<float> w = {0.05f, -0.02f, 0.0f, 0.1f};
  const std::vector<float> initial = w;
  TileLayout layout;
  layout.rows = 2;
  layout.cols = 2;
  layout.w_max = 0.1;
  // Ideal devices, range 10 uS, step 0.1 uS: one pulse moves a weight by 0.1 * 0.01 = 0.001.
  Tile tile(layout, std::make_unique<IdealArray>(8, 1, 10e-6, 0.1e-6), w);
  for (std::size_t k = 0; k < 4; ++k) CHECK(w[k] == doctest::Approx(initial[k]).epsilon(1e-6));
  CHECK(tile.mean_step_weight() == doctest::Approx(0.001));
  tile.pulse(1, 5);  // +5 pulses: G+ up 3 (pulses 0, 2, 4), G- down 2 (pulses 1, 3)
  CHECK(w[1] == doctest::Approx(-0.015).epsilon(1e-5));
  CHECK(tile.devices().pulse_counts()[2] == 3);
  CHECK(tile.devices().pulse_counts()[3] == 2);
  tile.pulse(1, -1);  // the pair has taken 5 pulses: the next goes to G- (up, W down)
  CHECK(tile.devices().pulse_counts()[3] == 3);
  CHECK(w[1] == doctest::Approx(-0.016).epsilon(1e-5));
}

TEST_CASE("tile: a potentiation-only memristor pair raises G+ or G- alone and refreshes past the threshold") {
  MemristorConfig c;  // the default (NeuroSim-like) device, made noise-free so the closed form holds
  c.sigma_c2c = 0;
  const MemristorModel model(c);
  std::vector<float> w = {0.0f, 0.0f};
  TileLayout layout;
  layout.rows = 1;
  layout.cols = 2;
  layout.w_max = 1.0;
  layout.potentiation_only = true;
  layout.refresh_fraction = 0.5;
  Tile tile(layout, std::make_unique<MemristorArray>(4, 3, model), w);
  const double B = model.abstraction().B_S();
  const double gain = model.make_device(0, 0).gain_p;
  // The unit of epsilon: gain_p (1 - w) B averaged over w in [0, 0.5], in weight units.
  CHECK(tile.mean_step_weight() == doctest::Approx(tile.alpha() * B * gain * 0.75).epsilon(1e-12));
  // Both devices of a zero weight rest at G_min; +n pulses raise G+ by B (1 - (1 - gain)^n).
  tile.pulse(0, 3);
  CHECK(tile.devices().pulse_counts()[0] == 3);
  CHECK(tile.devices().pulse_counts()[1] == 0);
  CHECK(w[0] == doctest::Approx(tile.alpha() * B * (1 - std::pow(1 - gain, 3))).epsilon(1e-6));
  tile.pulse(0, -2);  // lowering W potentiates G-
  CHECK(tile.devices().pulse_counts()[1] == 2);
  CHECK(w[0] == doctest::Approx(tile.alpha() * B * ((1 - std::pow(1 - gain, 3)) - (1 - std::pow(1 - gain, 2))))
                    .epsilon(1e-6));
  CHECK(tile.refreshes() == 0);
  // Enough pulses on weight 1 carry G+ past half the range: the pair is refreshed, G- back at
  // G_min and G+ holding the weight, which the threshold caps at 0.5 w_max.
  const auto n_refresh = static_cast<std::int64_t>(std::ceil(std::log(0.5) / std::log(1 - gain)));
  tile.pulse(1, n_refresh - 1);
  CHECK(tile.refreshes() == 0);
  tile.pulse(1, 1);
  CHECK(tile.refreshes() == 1);
  CHECK(tile.devices().program_counts()[2] == 2);  // mapping, then the refresh
  CHECK(tile.devices().program_counts()[3] == 2);
  CHECK(w[1] == doctest::Approx(0.5).epsilon(1e-6));
}

TEST_CASE("analog config: pair_update values are checked against the device and encoding") {
  AnalogConfig c;
  c.device = "memristor";
  c.pair_update = "sometimes";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("analog.pair_update = 'sometimes'"), InputError);
  c.pair_update = "potentiation";
  c.encoding = "reference";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("analog.pair_update = potentiation"), InputError);
  c.device = "pcm";
  c.encoding = "differential";
  c.pair_update = "alternate";
  CHECK_THROWS_WITH_AS(validate(c), doctest::Contains("analog.pair_update = alternate"), InputError);
}

// --- update rules ------------------------------------------------------------------------------

TEST_CASE("mixed precision: pulse counts are exact for a known update sequence") {
  TileLayout layout;
  layout.rows = 1;
  layout.cols = 3;
  layout.w_max = 1.0;
  // The tile holds the weight parameter's storage, as it holds a layer's. Ideal step 1/1000 of
  // the range: a pulse moves a weight by exactly 0.001 = epsilon.
  training::Parameter weight{"weight", Tensor({1, 3}), Tensor({1, 3}), true};
  std::vector<float>& storage = weight.value.data;
  Tile tile2(layout, std::make_unique<IdealArray>(6, 1, 1.0, 1e-3), storage);
  UpdateConfig config;
  config.rule = UpdateRule::mixed;
  config.epsilon_weight = 1e-3;
  TileUpdater updater(tile2, weight, sgd_momentum(0.0), config, 5);
  // Gradients (lr 1, no momentum): the update is -g. Expected pulses by hand:
  //   weight 0: -0.0004 x 3 -> chi -0.0012 at step 3: -1 pulse, chi -0.0002
  //   weight 1: +0.0025 at once -> +2 pulses, chi 0.0005; then +0.0006 -> chi 0.0011: +1
  //   weight 2: +0.0001 steps -> never reaches epsilon in 4 steps
  const float g[4][3] = {{0.0004f, -0.0025f, -0.0001f},
                         {0.0004f, -0.0006f, -0.0001f},
                         {0.0004f, 0.0f, -0.0001f},
                         {0.0f, 0.0f, -0.0001f}};
  for (const auto& step : g) {
    weight.grad.data.assign(step, step + 3);
    updater.step(1.0, 0);
  }
  const auto pulses = tile2.devices().pulse_counts();
  CHECK(pulses[0] + pulses[1] == 1);
  CHECK(pulses[2] + pulses[3] == 3);
  CHECK(pulses[4] + pulses[5] == 0);
  CHECK(storage[0] == doctest::Approx(-0.001).epsilon(1e-4));
  CHECK(storage[1] == doctest::Approx(0.003).epsilon(1e-4));
  CHECK(storage[2] == 0.0f);
  CHECK(updater.accumulator()[0] == doctest::Approx(-0.0002).epsilon(1e-3));
  CHECK(updater.accumulator()[1] == doctest::Approx(0.0001).epsilon(1e-2));
  CHECK(updater.accumulator()[2] == doctest::Approx(0.0004).epsilon(1e-3));
}

TEST_CASE("ideal devices, ideal periphery: the digital rule is the digital engine, bit for bit") {
  const Batches data = synthetic_data(16);
  training::Network reference = small_net(3);
  train_epoch(reference, data, nullptr);
  training::Network net = small_net(3);
  const AnalogHardware hw(ideal_config("digital"), 1);
  auto replica = hw.attach(net, 1, 0, sgd_momentum(0.9));
  train_epoch(net, data, replica.get());
  CHECK(all_weights(net) == all_weights(reference));
}

TEST_CASE("ideal devices, ideal periphery: mixed precision approaches the digital engine as epsilon -> 0") {
  const Batches data = synthetic_data(16);
  training::Network reference = small_net(3);
  train_epoch(reference, data, nullptr);
  const std::vector<float> digital = all_weights(reference);
  std::vector<double> distance;
  for (double step : {1e-2, 1e-3, 1e-4, 1e-6}) {
    AnalogConfig c = ideal_config("mixed");
    c.ideal_step = step;  // epsilon = 1 mean step = step of the range
    training::Network net = small_net(3);
    const AnalogHardware hw(c, 1);
    auto replica = hw.attach(net, 1, 0, sgd_momentum(0.9));
    train_epoch(net, data, replica.get());
    distance.push_back(max_relative_difference(all_weights(net), digital));
  }
  CAPTURE(distance[0]);
  CAPTURE(distance[3]);
  for (std::size_t i = 1; i < distance.size(); ++i) CHECK(distance[i] < distance[i - 1]);
  // One epoch through the conductances at step 1e-6 of the range: equal within 1e-5.
  CHECK(distance.back() < 1e-5);
}

TEST_CASE("ideal periphery with the analog layers active on a digital update keeps the digital numbers") {
  // Realistic periphery changes the numbers; ideal converters with no noise do not.
  const Batches data = synthetic_data(4);
  training::Network a = small_net(5), b = small_net(5);
  AnalogConfig c = ideal_config("digital");
  const AnalogHardware hw(c, 1);
  auto replica = hw.attach(b, 1, 0, sgd_momentum(0.9));
  train_epoch(a, data, nullptr);
  train_epoch(b, data, replica.get());
  CHECK(all_weights(a) == all_weights(b));
  c.periphery = "realistic";
  training::Network d = small_net(5);
  const AnalogHardware hw2(c, 1);
  auto replica2 = hw2.attach(d, 1, 0, sgd_momentum(0.9));
  train_epoch(d, data, replica2.get());
  CHECK(all_weights(d) != all_weights(a));
}

// --- PCM partial-SET trajectories ------------------------------------------------------------

namespace {

// Two-sample Kolmogorov-Smirnov distance.
double ks_distance(std::vector<double> x, std::vector<double> y) {
  std::sort(x.begin(), x.end());
  std::sort(y.begin(), y.end());
  double D = 0;
  for (const auto* v : {&x, &y})
    for (double t : *v) {
      const double Fx = double(std::upper_bound(x.begin(), x.end(), t) - x.begin()) / x.size();
      const double Fy = double(std::upper_bound(y.begin(), y.end(), t) - y.begin()) / y.size();
      D = std::max(D, std::fabs(Fx - Fy));
    }
  return D;
}

}  // namespace

TEST_CASE("PCM array: conductance after n partial-SET pulses agrees with the crystallization model") {
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  PcmPulseTrain protocol;
  PcmLibrarySampling sampling;
  sampling.devices = 256;
  sampling.cycles = 8;
  sampling.pulses = 80;
  auto library = std::make_shared<const PcmTrajectories>(model, protocol, sampling);
  const PcmDriftModel drift{PcmDriftConfig{}};
  const std::size_t cells = 1500;
  PcmArray array(cells, 31, library, drift, 20.0, 0.9);
  // Fresh cells of the model (another seed), noise-free, one cycle each from RESET.
  PcmCrystallizationConfig quiet = model.config();
  quiet.read_noise = 0;
  auto fresh_G = [&](const PcmPulseTrain& p) {
    PcmPulseTrain train = p;
    train.cycles = 1;
    train.pulses_per_cycle = 60;
    std::vector<std::vector<double>> G(60);
    for (std::size_t c = 0; c < cells; ++c) {
      const auto g = simulate_pulse_train(PcmCrystallizationModel(quiet), train, 4711, c);
      for (std::size_t k = 0; k < 60; ++k) G[k].push_back(g[k]);
    }
    return G;
  };
  const auto same = fresh_G(protocol);
  PcmPulseTrain hotter = protocol;
  hotter.power_W *= 1.05;
  const auto other = fresh_G(hotter);
  // The array's cells, pulsed together; compare after 5, 10, 20, 30, 40 and 60 pulses. Tolerance:
  // the alpha = 1e-3 two-sample critical value, widened for the library's own sampling (the
  // array resamples 2048 library trajectories): 1.95 sqrt(1/n + 1/n + 1/2048).
  const double critical = 1.95 * std::sqrt(2.0 / cells + 1.0 / 2048);
  std::size_t done = 0, told_apart = 0;
  for (std::size_t n : {5u, 10u, 20u, 30u, 40u, 60u}) {
    std::vector<double> G(cells);
    for (std::size_t i = 0; i < cells; ++i) G[i] = array.pulse(i, Polarity::potentiation, n - done);
    done = n;
    const double D = ks_distance(G, same[n - 1]);
    INFO("after " << n << " pulses: KS D = " << D << ", critical " << critical);
    CHECK(D < critical);
    told_apart += ks_distance(G, other[n - 1]) >= critical;
  }
  // Power: 5 % hotter pulses are told apart at some pulse count.
  CHECK(told_apart > 0);
  CHECK(array.pulse_counts()[7] == 60);
}

TEST_CASE("PCM array: write-verify programming lands at the first pulse count reaching the target") {
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  PcmLibrarySampling sampling;
  sampling.devices = 16;
  sampling.cycles = 4;
  sampling.pulses = 100;
  auto library = std::make_shared<const PcmTrajectories>(model, PcmPulseTrain{}, sampling);
  PcmArray array(50, 3, library, PcmDriftModel{PcmDriftConfig{}}, 20.0, 0.9);
  CHECK(array.conductance(0) == library->G_amorphous_S());
  // Every cell lands at or above its target (these targets are reached within 100 pulses).
  for (double target : {0.5e-6, 5e-6, 12e-6, 20e-6})
    for (std::size_t i = 0; i < 50; ++i) CHECK(array.program(i, target) >= target);
  CHECK(array.program_counts()[0] == 5);
  // And at the first pulse count that reaches it: one pulse fewer would not have.
  for (std::size_t d = 0; d < 16; ++d)
    for (std::size_t c = 0; c < 4; ++c) {
      const std::size_t p = library->pulses_to_reach(d, c, 5e-6);
      if (p < 100) {
        CHECK(library->G_S(d, c, p) >= 5e-6);
        if (p > 0) CHECK(library->G_S(d, c, p - 1) < 5e-6);
      }
    }
}
