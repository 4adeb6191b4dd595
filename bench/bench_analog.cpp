// Component costs of training on device arrays, and the PCM trajectory check.
//   noise   Gaussian noise fields (core/noise.hpp) against NormalDistribution on an RngStream,
//           ns per variate, medians of 5 interleaved runs;
//   pulses  ns per pulse on each device kind (memristor `bulk`, lut ENODe, pcm, ideal), random
//           weights of a LeNet-5-sized tile (61,706 weights);
//   pcm     conductance after n partial-SET pulses from RESET: the crystallization model, the
//           trajectory library the pcm device walks, and a G-conditioned step table (rejected):
//           means, spreads and KS distances to the model.
// Usage: build/bench/bench_analog [noise] [pulses] [pcm]   (all three by default; run from the
// repository root, which holds data/measured)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "analog/device_array.hpp"
#include "analog/pcm_steps.hpp"
#include "core/distributions.hpp"
#include "core/noise.hpp"

using namespace memcarlo;
using namespace memcarlo::analog;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void bench_noise() {
  const std::size_t n = 1 << 22;
  std::vector<float> field(n);
  std::vector<double> bulk, scalar;
  for (int rep = 0; rep < 5; ++rep) {
    auto t = Clock::now();
    fill_standard_normal(field, 1, 2, 3, static_cast<std::uint64_t>(rep));
    bulk.push_back(seconds_since(t) / n * 1e9);
    t = Clock::now();
    RngStream rng(1, 2, 3, static_cast<std::uint64_t>(rep));
    for (float& v : field) v = static_cast<float>(NormalDistribution::standard(rng));
    scalar.push_back(seconds_since(t) / n * 1e9);
  }
  std::printf("noise: fill_standard_normal %.2f ns/variate (%.2f-%.2f), NormalDistribution %.1f ns "
              "(%.1f-%.1f): %.0fx\n",
              median(bulk), *std::min_element(bulk.begin(), bulk.end()),
              *std::max_element(bulk.begin(), bulk.end()), median(scalar),
              *std::min_element(scalar.begin(), scalar.end()),
              *std::max_element(scalar.begin(), scalar.end()), median(scalar) / median(bulk));
}

void time_pulses(const char* name, DeviceArray& array, bool bidirectional) {
  const std::size_t pulses = 2'000'000;
  RngStream rng(7, 0, stream_id("bench_pulses"));
  const auto t = Clock::now();
  double sink = 0;
  for (std::size_t k = 0; k < pulses; ++k) {
    const std::size_t i = rng.next_u64() % array.size();
    const Polarity p = !bidirectional || (k & 1) ? Polarity::potentiation : Polarity::depression;
    sink += array.pulse(i, p, 1);
  }
  std::printf("pulses: %-10s %6.1f ns/pulse (random devices of %zu; %g)\n", name,
              seconds_since(t) / pulses * 1e9, array.size(), sink > 0 ? 1.0 : 0.0);
}

void bench_pulses() {
  const std::size_t devices = 2 * 61706;  // LeNet-5's weights on differential pairs
  MemristorConfig bulk;
  bulk.sigma_area = bulk.sigma_range = 0.05;
  bulk.sigma_k0_p = bulk.sigma_k0_d = 0.1;
  bulk.sigma_read = 0.005;
  MemristorArray memristor(devices, 1, MemristorModel(bulk));
  time_pulses("memristor", memristor, true);
  auto enode = std::make_shared<const LutModel>(LutModel::from_config(
      {"data/measured/sandia_enode_lut.h5:potentiation", "data/measured/sandia_enode_lut.h5:depression", 0.0}));
  LutArray lut(devices, 1, enode);
  time_pulses("lut enode", lut, true);
  auto library = std::make_shared<const PcmTrajectories>(
      PcmCrystallizationModel(preset_pcm_crystallization("gst")), PcmPulseTrain{}, PcmLibrarySampling{});
  PcmArray pcm(devices, 1, library, PcmDriftModel(PcmDriftConfig{}), 20.0, 0.9);
  time_pulses("pcm", pcm, false);
  IdealArray ideal(devices, 1, 10e-6, 1e-8);
  time_pulses("ideal", ideal, true);
}

double ks(std::vector<double> a, std::vector<double> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  double D = 0;
  for (const auto* v : {&a, &b})
    for (double t : *v) {
      const double Fa = double(std::upper_bound(a.begin(), a.end(), t) - a.begin()) / a.size();
      const double Fb = double(std::upper_bound(b.begin(), b.end(), t) - b.begin()) / b.size();
      D = std::max(D, std::fabs(Fa - Fb));
    }
  return D;
}

void summary(const char* name, const std::vector<double>& G, const std::vector<double>& model) {
  double m = 0, s = 0;
  for (double g : G) m += g;
  m /= G.size();
  for (double g : G) s += (g - m) * (g - m);
  std::printf("  %-11s mean %6.3f uS  sd %6.3f uS", name, m * 1e6, std::sqrt(s / G.size()) * 1e6);
  if (!model.empty()) std::printf("  KS to the model %.3f", ks(G, model));
  std::printf("\n");
}

void bench_pcm() {
  const PcmCrystallizationModel model(preset_pcm_crystallization("gst"));
  const PcmPulseTrain protocol;
  const std::size_t cells = 2000, n_max = 60;
  PcmCrystallizationConfig quiet_config = model.config();
  quiet_config.read_noise = 0;
  const PcmCrystallizationModel quiet(quiet_config);
  PcmPulseTrain train = protocol;
  train.cycles = 1;
  train.pulses_per_cycle = static_cast<std::int64_t>(n_max);
  std::vector<std::vector<double>> direct(n_max), table_G(n_max), library_G(n_max);
  for (std::size_t c = 0; c < cells; ++c) {
    const auto g = simulate_pulse_train(quiet, train, 999, c);
    for (std::size_t p = 0; p < n_max; ++p) direct[p].push_back(g[p]);
  }
  const StepTable table(pcm_step_table(model, protocol, PcmStepSampling{}), "G-conditioned table");
  for (std::size_t c = 0; c < cells; ++c) {
    double G = quiet.conductance_S(0.0);
    for (std::size_t p = 0; p < n_max; ++p) {
      RngStream rng(1234, c, stream_id("pulse"), p);
      const double step = table.step_S(G, rng.uniform());
      if (G < table.G_high_S()) G = std::min(G + std::max(step, 0.0), table.G_high_S());
      table_G[p].push_back(G);
    }
  }
  auto library = std::make_shared<const PcmTrajectories>(model, protocol, PcmLibrarySampling{});
  PcmArray array(cells, 1234, library, PcmDriftModel(PcmDriftConfig{}), 20.0, 0.9);
  for (std::size_t p = 0; p < n_max; ++p)
    for (std::size_t c = 0; c < cells; ++c)
      library_G[p].push_back(array.pulse(c, Polarity::potentiation, 1));
  std::printf("pcm: conductance after n partial-SET pulses from RESET (gst, %zu cells; KS critical "
              "value at alpha 1e-3: %.3f)\n", cells, 1.95 * std::sqrt(2.0 / cells));
  for (std::size_t n : {1u, 5u, 10u, 20u, 30u, 40u, 60u}) {
    std::printf(" after %zu pulses\n", n);
    summary("model", direct[n - 1], {});
    summary("library", library_G[n - 1], direct[n - 1]);
    summary("G-table", table_G[n - 1], direct[n - 1]);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> what(argv + 1, argv + argc);
  if (what.empty()) what = {"noise", "pulses", "pcm"};
  for (const auto& w : what) {
    if (w == "noise") {
      bench_noise();
    } else if (w == "pulses") {
      bench_pulses();
    } else if (w == "pcm") {
      bench_pcm();
    } else {
      std::fprintf(stderr, "bench_analog: unknown part '%s' (noise, pulses, pcm)\n", w.c_str());
      return 1;
    }
  }
  return 0;
}
