#include "analog/pcm_feedback.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/noise.hpp"
#include "core/parallel.hpp"
#include "physics/pcm_drift.hpp"
#include "training/gemm.hpp"
#include "physics/simulate.hpp"

namespace memcarlo::analog {

void validate(const PcmFeedbackConfig& c) {
  MC_VALIDATE(c.pulses >= 1 && c.pulses <= 100000, "pcm-feedback.pulses = {} must be in [1, 100000]",
              c.pulses);
  MC_VALIDATE(std::isfinite(c.power) && c.power > 0, "pcm-feedback.power = {} W must be positive",
              c.power);
  MC_VALIDATE(std::isfinite(c.width) && c.width > 0, "pcm-feedback.width = {} s must be positive",
              c.width);
  MC_VALIDATE(c.form == "differential" || c.form == "mean_subtracted",
              "pcm-feedback.form = '{}': use differential or mean_subtracted", c.form);
  MC_VALIDATE(c.preset == "cgst" || c.preset == "gst", "pcm-feedback.preset = '{}': use cgst or gst",
              c.preset);
  MC_VALIDATE(c.library_devices >= 16 && c.library_devices <= 1'000'000,
              "pcm-feedback.library_devices = {} must be in [16, 1000000]", c.library_devices);
  validate_periphery_keys(c, "pcm-feedback");
  MC_VALIDATE(std::isfinite(c.read_time) && c.read_time >= 0,
              "pcm-feedback.read_time = {} s must be >= 0", c.read_time);
  if (c.periphery == "ideal") {
    // The converter keys mean nothing to a digital product: setting one is a mistake to report.
    PcmFeedbackConfig d;
    d.periphery = c.periphery;
    const bool converters_default =
        c.dac_bits == d.dac_bits && c.adc_bits == d.adc_bits && c.out_bound == d.out_bound &&
        c.out_noise == d.out_noise && c.bound_management == d.bound_management &&
        c.read_noise == d.read_noise && c.read_time == d.read_time;
    MC_VALIDATE(converters_default,
                "pcm-feedback: converter or read keys are set, but pcm-feedback.periphery = "
                "'ideal' computes B e digitally: set periphery = \"realistic\"");
  }
}

PcmFeedbackPhysics resolve_pcm_feedback_physics(const PcmFeedbackConfig& c) {
  validate(c);
  std::optional<toml::table> file;
  if (!c.config.empty()) {
    file = load_toml_file(c.config);
    for (const auto& [key, node] : *file)
      MC_VALIDATE(node.is_table() && key.str() == "pcm-crystallization",
                  "pcm-feedback.config = {}: unexpected key '{}' (the file must hold a "
                  "[pcm-crystallization] table)",
                  c.config, key.str());
  }
  SimulationRequest request;
  request.model = "pcm-crystallization";
  request.preset = c.preset;
  request.config = file ? &*file : nullptr;
  request.config_origin = c.config;
  const PcmCrystallizationSetup setup = resolve_pcm_crystallization(request);
  PcmFeedbackPhysics physics{setup.device, setup.protocol};
  physics.device.read_noise = 0.0;  // reads add their noise in the periphery, not here
  physics.protocol.power_W = c.power;
  physics.protocol.width_s = c.width;
  physics.protocol.pulses_per_cycle = c.pulses;
  physics.protocol.cycles = 1;
  const PcmCrystallizationModel model(physics.device);
  MC_VALIDATE(model.temperature_K(model.nominal_cell(), c.power) < physics.device.T_m_K,
              "pcm-feedback.power = {} W heats the nominal cell to {:.0f} K, above the melting "
              "point {:.0f} K: the pulses would RESET the cells",
              c.power, model.temperature_K(model.nominal_cell(), c.power), physics.device.T_m_K);
  return physics;
}

double simulate_pcm_feedback_cell(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                                  std::uint64_t seed, std::uint64_t index) {
  const std::vector<double> G = simulate_pulse_train(model, protocol, seed, index);
  return G.back();
}

PcmFeedback::PcmFeedback(const PcmFeedbackConfig& config, std::uint64_t seed)
    : config_(config), differential_(config.form == "differential") {
  const auto start = std::chrono::steady_clock::now();
  const PcmFeedbackPhysics physics = resolve_pcm_feedback_physics(config_);
  const PcmCrystallizationModel model(physics.device);
  sorted_S_.resize(static_cast<std::size_t>(config_.library_devices));
  parallel_for(config_.library_devices, [&](std::int64_t i) {
    sorted_S_[static_cast<std::size_t>(i)] =
        simulate_pcm_feedback_cell(model, physics.protocol, seed, static_cast<std::uint64_t>(i));
  });
  std::sort(sorted_S_.begin(), sorted_S_.end());
  double sum = 0;
  for (double g : sorted_S_) sum += g;
  mean_S_ = sum / static_cast<double>(sorted_S_.size());
  double ss = 0;
  for (double g : sorted_S_) ss += (g - mean_S_) * (g - mean_S_);
  std_S_ = std::sqrt(ss / static_cast<double>(sorted_S_.size()));
  MC_VALIDATE(std_S_ > 0,
              "pcm-feedback: every one of {} cells ends at {} S after {} pulses of {} W, {} s: "
              "identical cells give no random matrix (change pulses, power or width)",
              sorted_S_.size(), mean_S_, config_.pulses, config_.power, config_.width);
  scale_S_ = differential_ ? std::sqrt(2.0) * std_S_ : std_S_;
  library_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

double PcmFeedback::quantile_S(double u) const {
  const double x = u * static_cast<double>(sorted_S_.size() - 1);
  const auto i = std::min(static_cast<std::size_t>(x), sorted_S_.size() - 2);
  const double f = x - static_cast<double>(i);
  return sorted_S_[i] + f * (sorted_S_[i + 1] - sorted_S_[i]);
}

training::Tensor PcmFeedback::draw(std::size_t rows, std::size_t cols, RngStream& rng,
                                   std::vector<float>* sigma, std::vector<double>* cells_S) const {
  training::Tensor B({rows, cols});
  std::optional<PcmDriftModel> drift;
  if (sigma) {
    sigma->assign(B.size(), 0.0f);
    if (config_.read_noise) drift.emplace(PcmDriftConfig{});
  }
  // Read-noise standard deviation of a cell at G (S), at read_time after programming.
  const auto cell_sigma = [&](double G) {
    return drift->read_noise_sigma_S(PcmDriftState{G, G, 0.0}, G, config_.read_time);
  };
  if (cells_S) cells_S->resize(B.size() * devices_per_entry());
  if (differential_) {
    for (std::size_t k = 0; k < B.size(); ++k) {
      const double plus = quantile_S(rng.uniform());
      const double minus = quantile_S(rng.uniform());
      if (cells_S) {
        (*cells_S)[2 * k] = plus;
        (*cells_S)[2 * k + 1] = minus;
      }
      B.data[k] = static_cast<float>((plus - minus) / scale_S_);
      if (drift)
        (*sigma)[k] = static_cast<float>(std::hypot(cell_sigma(plus), cell_sigma(minus)) / scale_S_);
    }
    return B;
  }
  // Mean-subtracted: the reference is the array's own mean conductance (a reference column
  // averaging the array, as the periphery would subtract it).
  std::vector<double> G(B.size());
  double sum = 0;
  for (double& g : G) sum += g = quantile_S(rng.uniform());
  const double mean = sum / static_cast<double>(G.size());
  if (cells_S) *cells_S = G;
  for (std::size_t k = 0; k < G.size(); ++k) {
    B.data[k] = static_cast<float>((G[k] - mean) / scale_S_);
    if (drift) (*sigma)[k] = static_cast<float>(cell_sigma(G[k]) / scale_S_);
  }
  return B;
}

training::Tensor PcmFeedback::generate(std::size_t rows, std::size_t cols, RngStream& rng) const {
  return draw(rows, cols, rng, nullptr, nullptr);
}

training::FeedbackArray PcmFeedback::program(std::size_t rows, std::size_t cols,
                                             RngStream& rng) const {
  return program_cells(rows, cols, rng, nullptr);
}

training::FeedbackArray PcmFeedback::program_cells(std::size_t rows, std::size_t cols, RngStream& rng,
                                                   std::vector<double>* cells_S) const {
  if (config_.periphery == "ideal") return {draw(rows, cols, rng, nullptr, cells_S), nullptr, nullptr};
  std::vector<float> sigma;
  training::Tensor B = draw(rows, cols, rng, &sigma, cells_S);
  if (!config_.read_noise) sigma.clear();
  float w_max = 0;
  for (float v : B.data) w_max = std::max(w_max, std::fabs(v));
  const std::uint64_t noise_seed = rng.next_u64();
  return {std::move(B),
          std::make_unique<PcmFeedbackReadout>(periphery_of_keys(config_), std::move(sigma),
                                               w_max > 0 ? w_max : 1.0, noise_seed),
          nullptr};
}

namespace {
constexpr std::uint64_t kFeedbackCellRead = stream_id("feedback_cell_read");
constexpr std::uint64_t kFeedbackOutput = stream_id("feedback_output");
}  // namespace

PcmFeedbackReadout::PcmFeedbackReadout(const PeripheryConfig& periphery, std::vector<float> sigma,
                                       double w_max, std::uint64_t noise_seed)
    : periphery_(periphery), sigma_(std::move(sigma)), w_max_(w_max), seed_(noise_seed) {
  MC_VALIDATE(std::isfinite(w_max) && w_max > 0, "feedback readout: w_max = {} must be positive",
              w_max);
}

void PcmFeedbackReadout::save_state(training::StateArchive& archive) const {
  archive.counters["feedback_readout/outputs"] = static_cast<std::int64_t>(counts_.outputs);
  archive.counters["feedback_readout/saturated"] = static_cast<std::int64_t>(counts_.saturated);
  archive.counters["feedback_readout/managed"] = static_cast<std::int64_t>(counts_.managed);
}

void PcmFeedbackReadout::restore_state(const training::StateArchive& archive) {
  const auto count = [&](const char* name) {
    const std::int64_t n = archive.counter(name);
    MC_VALIDATE(n >= 0, "{} = {} must be >= 0", name, n);
    return static_cast<std::uint64_t>(n);
  };
  counts_.outputs = count("feedback_readout/outputs");
  counts_.saturated = count("feedback_readout/saturated");
  counts_.managed = count("feedback_readout/managed");
}

void PcmFeedbackReadout::product(const training::Tensor& e, const training::Tensor& array,
                                 training::Tensor& out, const training::Pass& pass) {
  const std::size_t N = e.batch(), C = e.sample_size(), R = array.shape[0];
  MC_VALIDATE(array.shape.size() == 2 && array.shape[1] == C,
              "feedback readout: an array of {} columns for {} classes", array.shape.size() == 2 ? array.shape[1] : 0, C);
  MC_VALIDATE(sigma_.empty() || sigma_.size() == array.size(),
              "feedback readout: {} read-noise sigmas for an array of {} entries", sigma_.size(),
              array.size());
  const training::Tensor* read = &array;
  if (!sigma_.empty()) {
    read_.resize(array.shape);
    noise_.resize(array.size());
    fill_standard_normal(noise_, seed_, 0, kFeedbackCellRead, pass.id);
    for (std::size_t k = 0; k < array.size(); ++k)
      read_.data[k] = array.data[k] + sigma_[k] * noise_[k];
    read = &read_;
  }
  // An ideal periphery is no conversion at all: the product is the digital one, bit for bit.
  const bool ideal = periphery_.config().ideal();
  if (!ideal) periphery_.convert_inputs(e, e_q_, scales_);
  out.resize({N, R});
  training::sgemm(training::Trans::no, training::Trans::yes, static_cast<int>(N),
                  static_cast<int>(R), static_cast<int>(C), 1.0f, ideal ? e.ptr() : e_q_.ptr(),
                  static_cast<int>(C), read->ptr(), static_cast<int>(C), 0.0f, out.ptr(),
                  static_cast<int>(R));
  if (!ideal)
    periphery_.convert_outputs(out, scales_, w_max_, {}, R, 1.0,
                               NoiseKey{seed_, 1, kFeedbackOutput}, pass.id, counts_);
}

std::string PcmFeedback::config_toml() const { return "[pcm-feedback]\n" + to_toml(config_); }

}  // namespace memcarlo::analog
