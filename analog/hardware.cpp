#include "analog/hardware.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "analog/analog_layer.hpp"
#include "analog/records.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"
#include "physics/simulate.hpp"

namespace memcarlo::analog {

namespace {

constexpr const char* kDevices[] = {"none", "ideal", "memristor", "lut", "pcm"};

std::vector<std::size_t> parse_layer_numbers(const std::string& text) {
  std::vector<std::size_t> out;
  for (std::int64_t v : parse_integer_list(text, "analog.layers", 1))
    out.push_back(static_cast<std::size_t>(v));
  return out;
}

std::vector<double> parse_times(const std::string& text) {
  return parse_number_list(text, "analog.inference_times", 0.0);
}

// The device config file's tables, checked for the models a device kind reads: a file of
// another model (a PARAMS.toml written for pcm-drift given to a memristor) is refused, not
// silently ignored. Top-level keys are allowed when the kind reads one model only.
void check_device_file(const toml::table& file, const std::string& origin,
                       const std::vector<std::string>& models, const std::string& device) {
  bool found = false, top_level = false;
  std::vector<std::string> tables;
  for (const auto& [key, node] : file) {
    if (!node.is_table()) {
      top_level = true;
      continue;
    }
    tables.push_back(std::string(key.str()));
    found = found || std::find(models.begin(), models.end(), key.str()) != models.end();
  }
  MC_VALIDATE(!top_level || models.size() == 1,
              "analog.device_config = {}: keys outside a table; device = {} reads the tables [{}]",
              origin, device, fmt::join(models, "], ["));
  MC_VALIDATE(found || (top_level && tables.empty()),
              "analog.device_config = {} holds {}, not [{}]: a config of another model for device "
              "= {}",
              origin, tables.empty() ? std::string("no table") : "[" + fmt::format("{}", fmt::join(tables, "], [")) + "]",
              fmt::join(models, "] or ["), device);
}

SimulationRequest request_for(const std::string& model, const std::string& preset,
                              const toml::table* file, const std::string& origin,
                              const toml::table* overrides = nullptr) {
  SimulationRequest r;
  r.model = model;
  r.preset = preset;
  r.config = file;
  r.config_origin = origin;
  r.overrides = overrides;
  r.overrides_origin = "the run's device tables";
  return r;
}

// Block number (0-based) of network layer i: the linear layers up to and including it, minus one.
std::size_t block_of(training::Network& net, std::size_t i) {
  std::size_t b = 0;
  for (std::size_t j = 0; j < i; ++j) b += net.layer(j).is_linear();
  return b;
}

}  // namespace

// --- config -----------------------------------------------------------------------------------

void validate(const AnalogConfig& c) {
  MC_VALIDATE(std::find(std::begin(kDevices), std::end(kDevices), c.device) != std::end(kDevices),
              "unknown analog.device '{}': use none, ideal, memristor, lut or pcm", c.device);
  parse_update_rule(c.update);
  MC_VALIDATE(std::isfinite(c.epsilon) && c.epsilon > 0, "analog.epsilon = {} must be positive",
              c.epsilon);
  MC_VALIDATE(c.epsilon_unit == "step" || c.epsilon_unit == "weight",
              "analog.epsilon_unit = '{}': use step or weight", c.epsilon_unit);
  MC_VALIDATE(c.max_pulses >= 0, "analog.max_pulses = {} must be >= 0", c.max_pulses);
  MC_VALIDATE(c.encoding == "differential" || c.encoding == "reference",
              "analog.encoding = '{}': use differential or reference", c.encoding);
  MC_VALIDATE(c.encoding == "differential" || c.device != "pcm",
              "analog.encoding = reference needs bidirectional devices: pcm takes potentiation "
              "pulses only (use differential)");
  MC_VALIDATE(c.pair_update == "auto" || c.pair_update == "alternate" || c.pair_update == "potentiation",
              "analog.pair_update = '{}': use auto, alternate or potentiation", c.pair_update);
  MC_VALIDATE(c.pair_update != "alternate" || c.device != "pcm",
              "analog.pair_update = alternate needs bidirectional devices: pcm takes potentiation "
              "pulses only");
  MC_VALIDATE(c.pair_update != "potentiation" || c.encoding == "differential",
              "analog.pair_update = potentiation needs analog.encoding = differential");
  MC_VALIDATE(std::isfinite(c.w_max) && c.w_max >= 0, "analog.w_max = {} must be >= 0 (0 = auto)",
              c.w_max);
  MC_VALIDATE(std::isfinite(c.w_max_factor) && c.w_max_factor > 0,
              "analog.w_max_factor = {} must be positive", c.w_max_factor);
  if (c.layers != "all") parse_layer_numbers(c.layers);
  validate_periphery_keys(c, "analog");
  MC_VALIDATE(std::isfinite(c.ideal_step) && c.ideal_step > 0 && c.ideal_step <= 1,
              "analog.ideal_step = {} must be in (0, 1]", c.ideal_step);
  MC_VALIDATE(std::isfinite(c.refresh) && c.refresh > 0 && c.refresh <= 1,
              "analog.refresh = {} must be in (0, 1]", c.refresh);
  MC_VALIDATE(c.pcm_devices >= 1 && c.pcm_devices <= 1'000'000,
              "analog.pcm_devices = {} must be in [1, 1e6]", c.pcm_devices);
  MC_VALIDATE(c.pcm_cycles >= 1 && c.pcm_cycles <= 65535, "analog.pcm_cycles = {} must be in [1, 65535]",
              c.pcm_cycles);
  MC_VALIDATE(c.pcm_pulses >= 1 && c.pcm_pulses <= 65535, "analog.pcm_pulses = {} must be in [1, 65535]",
              c.pcm_pulses);
  MC_VALIDATE(c.pcm_devices * c.pcm_cycles * c.pcm_pulses <= 100'000'000,
              "analog.pcm_devices x pcm_cycles x pcm_pulses = {} exceeds 1e8 conductances",
              c.pcm_devices * c.pcm_cycles * c.pcm_pulses);
  if (c.device == "memristor")
    MC_VALIDATE(c.preset.empty() || c.preset == "bulk" || c.preset == "neurosim",
                "analog.preset = '{}' for device memristor: use bulk or neurosim", c.preset);
  else if (c.device == "pcm")
    MC_VALIDATE(c.preset.empty() || c.preset == "gst" || c.preset == "cgst",
                "analog.preset = '{}' for device pcm: use gst or cgst", c.preset);
  else
    MC_VALIDATE(c.preset.empty(), "analog.preset = '{}': device {} has no presets", c.preset,
                c.device);
  MC_VALIDATE(c.device != "lut" || !c.device_config.empty(),
              "analog.device = lut needs analog.device_config, a TOML with a [lut] table naming "
              "potentiation_table and depression_table (e.g. configs/lut_taox_device3.toml)");
  MC_VALIDATE(c.device != "none" || c.device_config.empty(),
              "analog.device_config = '{}' is set, but analog.device = none", c.device_config);
  MC_VALIDATE(c.inference_device == "none" || c.inference_device == "pcm",
              "analog.inference_device = '{}': use none or pcm", c.inference_device);
  MC_VALIDATE(c.inference_device != "none" || c.inference_config.empty(),
              "analog.inference_config is set, but analog.inference_device = none");
  parse_times(c.inference_times);
}

bool uses_hardware(const AnalogConfig& c) { return c.device != "none" || c.inference_device != "none"; }

// --- hardware ---------------------------------------------------------------------------------

struct AnalogHardware::Models {
  std::optional<MemristorModel> memristor;
  std::shared_ptr<const LutModel> lut;
  std::shared_ptr<const PcmTrajectories> pcm_library;
  std::optional<PcmDriftModel> pcm_drift;  // programming and read noise of pcm weight devices
  std::optional<PcmDriftModel> inference;  // the inference chip
  std::optional<CellDrift> cell_drift;     // drift of pcm weight devices during training
};

std::vector<std::string> device_models(const AnalogConfig& config) {
  if (config.device == "memristor") return {"memristor"};
  if (config.device == "lut") return {"lut"};
  if (config.device == "pcm") return {"pcm-crystallization", "pcm-drift"};
  return {};
}

AnalogHardware::AnalogHardware(const AnalogConfig& config, std::uint64_t seed,
                               const toml::table* device_tables, const DriftConfig* drift)
    : config_(config), models_(std::make_unique<Models>()) {
  validate(config_);
  if (drift) {
    MC_VALIDATE(config_.device != "pcm" || config_.update != "digital",
                "[drift]: analog.update = 'digital' writes float weights past the devices, so "
                "their drift would be lost at every step: use update = mixed or sgd");
  }
  if (device_tables) {
    const auto read = device_models(config_);
    for (const auto& [model, node] : *device_tables)
      MC_VALIDATE(std::find(read.begin(), read.end(), model.str()) != read.end(),
                  "[{}] is set, but analog.device = {} reads {}", model.str(), config_.device,
                  read.empty() ? std::string("no device table")
                               : fmt::format("[{}]", fmt::join(read, "] and [")));
  }
  if (device_tables) device_tables_ = *device_tables;
  const toml::table* ov = device_tables;
  periphery_ = periphery_of_keys(config_);
  update_.rule = parse_update_rule(config_.update);
  update_.max_pulses = config_.max_pulses;
  inference_times_ = parse_times(config_.inference_times);
  std::optional<toml::table> file;
  if (!config_.device_config.empty()) file = load_toml_file(config_.device_config);
  const toml::table* table = file ? &*file : nullptr;
  const std::string& origin = config_.device_config;
  const std::string& d = config_.device;
  if (d == "memristor") {
    if (file) check_device_file(*file, origin, {"memristor"}, d);
    models_->memristor.emplace(
        resolve_memristor(request_for("memristor", config_.preset, table, origin, ov)).device);
  } else if (d == "lut") {
    check_device_file(*file, origin, {"lut"}, d);
    const LutDeviceConfig lut = resolve_lut(request_for("lut", "", table, origin, ov));
    MC_VALIDATE(!lut.potentiation_table.empty() && !lut.depression_table.empty(),
                "analog.device_config = {}: [lut] needs potentiation_table and depression_table",
                origin);
    models_->lut = std::make_shared<const LutModel>(LutModel::from_config(lut));
  } else if (d == "pcm") {
    if (file) check_device_file(*file, origin, {"pcm-crystallization", "pcm-drift"}, d);
    const auto crystal = resolve_pcm_crystallization(
        request_for("pcm-crystallization", config_.preset, table, origin, ov));
    models_->pcm_drift.emplace(resolve_pcm_drift(request_for("pcm-drift", "", table, origin, ov)));
    PcmLibrarySampling sampling;
    sampling.devices = config_.pcm_devices;
    sampling.cycles = config_.pcm_cycles;
    sampling.pulses = config_.pcm_pulses;
    sampling.seed = derive_seed(seed, 0, stream_id("pcm_trajectories"));
    models_->pcm_library = std::make_shared<const PcmTrajectories>(
        PcmCrystallizationModel(crystal.device), crystal.protocol, sampling);
    if (drift) models_->cell_drift.emplace(*models_->pcm_drift, *drift);
  }
  if (config_.inference_device == "pcm") {
    std::optional<toml::table> inf;
    if (!config_.inference_config.empty()) {
      inf = load_toml_file(config_.inference_config);
      check_device_file(*inf, config_.inference_config, {"pcm-drift"}, "pcm (inference)");
    }
    models_->inference.emplace(resolve_pcm_drift(
        request_for("pcm-drift", "", inf ? &*inf : nullptr, config_.inference_config)));
  }
}

AnalogHardware::~AnalogHardware() = default;

const PcmTrajectories* AnalogHardware::pcm_library() const { return models_->pcm_library.get(); }

const PcmDriftModel* AnalogHardware::inference_model() const {
  return models_->inference ? &*models_->inference : nullptr;
}

const CellDrift* AnalogHardware::cell_drift() const {
  return models_->cell_drift ? &*models_->cell_drift : nullptr;
}

std::string AnalogHardware::config_toml() const {
  std::string out = "[analog]\n" + to_toml(config_);
  for (const auto& [model, node] : device_tables_)
    out += fmt::format("[{}]\n{}", model.str(), flat_table_toml(*node.as_table()));
  return out;
}

std::vector<std::size_t> AnalogHardware::analog_layers(training::Network& net) const {
  std::vector<std::size_t> out;
  if (config_.layers == "all") {
    for (std::size_t i = 0; i < net.layers(); ++i)
      if (net.layer(i).kind() == "dense" || net.layer(i).kind() == "conv2d") out.push_back(i + 1);
    return out;
  }
  for (std::size_t l : parse_layer_numbers(config_.layers)) {
    MC_VALIDATE(l <= net.layers(), "analog.layers = '{}': layer {} does not exist (the model has {})",
                config_.layers, l, net.layers());
    const std::string kind = net.layer(l - 1).kind();
    MC_VALIDATE(kind == "dense" || kind == "conv2d",
                "analog.layers = '{}': layer {} is {}; only dense and conv2d layers go on tiles",
                config_.layers, l, kind);
    MC_VALIDATE(std::find(out.begin(), out.end(), l) == out.end(),
                "analog.layers = '{}' names layer {} twice", config_.layers, l);
    out.push_back(l);
  }
  return out;
}

std::unique_ptr<DeviceArray> AnalogHardware::make_devices(std::size_t count, std::uint64_t seed) const {
  const std::string& d = config_.device;
  if (d == "ideal") {
    constexpr double kRange = 10e-6;  // S; sets the mapping only (assumption)
    return std::make_unique<IdealArray>(count, seed, kRange, config_.ideal_step * kRange);
  }
  if (d == "memristor") return std::make_unique<MemristorArray>(count, seed, *models_->memristor);
  if (d == "lut") return std::make_unique<LutArray>(count, seed, models_->lut);
  if (d == "pcm")
    return std::make_unique<PcmArray>(count, seed, models_->pcm_library, *models_->pcm_drift,
                                      models_->pcm_drift->config().t0_s, config_.refresh,
                                      cell_drift());
  throw InputError(fmt::format("analog.device = {} has no devices", d));
}

namespace {

class ReplicaAnalog final : public training::ReplicaHardware {
 public:
  ReplicaAnalog(const AnalogHardware& hw, std::uint64_t seed, std::uint64_t replica)
      : hw_(hw), seed_(seed), replica_(replica) {}

  void add(AnalogLayer* layer, std::unique_ptr<TileUpdater> updater) {
    layers_.push_back(layer);
    updaters_.push_back(std::move(updater));
  }

  std::vector<const training::Parameter*> owned_parameters() const override {
    std::vector<const training::Parameter*> out;
    for (AnalogLayer* l : layers_)
      if (l->tile()) out.push_back(&l->weight());
    return out;
  }

  void step(double lr, const training::Pass& pass) override {
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i]->clean_weights();
      if (updaters_[i]) updaters_[i]->step(lr, pass.id);
    }
  }

  std::shared_ptr<const training::ReplicaExtras> finish(
      training::Network& net, const std::function<double()>& test_accuracy) override;

 private:
  TileRecord record(AnalogLayer& layer, const TileUpdater* updater) const;
  InferenceRecord inference(const std::function<double()>& test_accuracy);

  const AnalogHardware& hw_;
  std::uint64_t seed_, replica_;
  std::vector<AnalogLayer*> layers_;
  std::vector<std::unique_ptr<TileUpdater>> updaters_;  // null for frozen layers
};

TileRecord ReplicaAnalog::record(AnalogLayer& layer, const TileUpdater* updater) const {
  const Tile& tile = *layer.tile();
  TileRecord r;
  r.name = fmt::format("layer{:02}_{}", layer.index(), layer.kind());
  r.rows = static_cast<std::int64_t>(layer.rows());
  r.cols = static_cast<std::int64_t>(layer.cols());
  r.devices = static_cast<std::int64_t>(tile.devices().size());
  r.w_max = tile.layout().w_max;
  r.alpha = tile.alpha();
  r.mean_step_weight = tile.mean_step_weight();
  r.epsilon_weight = updater ? updater->config().epsilon_weight : 0.0;
  const auto pulses = tile.devices().pulse_counts();
  for (std::uint32_t p : pulses) {
    r.pulses += p;
    r.max_pulses = std::max<std::int64_t>(r.max_pulses, p);
    r.never_pulsed += p == 0;
  }
  for (std::uint32_t p : tile.devices().program_counts()) r.programs += p;
  r.refreshes = static_cast<std::int64_t>(tile.refreshes());
  r.histogram = pulse_histogram(pulses);
  auto fraction = [](const ConverterCounts& c) {
    return c.outputs ? static_cast<double>(c.saturated) / static_cast<double>(c.outputs) : 0.0;
  };
  r.saturated_forward = fraction(layer.forward_counts());
  r.saturated_backward = fraction(layer.backward_counts());
  r.managed_forward = layer.forward_counts().managed;
  r.managed_backward = layer.backward_counts().managed;
  if (tile.drifts()) {
    r.drift_compensation = hw_.cell_drift()->config().compensation;
    r.drift_evaluations = static_cast<std::int64_t>(tile.drift_evaluations());
    r.drift_refreshes = static_cast<std::int64_t>(tile.drift_refreshes());
    r.drift_gain = tile.mean_gain();
  }
  return r;
}

InferenceRecord ReplicaAnalog::inference(const std::function<double()>& test_accuracy) {
  const PcmDriftModel& model = *hw_.inference_model();
  const bool read_noise = hw_.config().read_noise;
  InferenceRecord rec;
  rec.time_s = hw_.inference_times();
  rec.t0_s = model.config().t0_s;
  const std::uint64_t chip = derive_seed(seed_, replica_, stream_id("inference_chip"));

  // Program every analog layer's trained weights onto fresh devices: W = alpha (G+ - G-), the
  // largest |W| of the layer at g_max, each weight on the device of its sign, the other RESET
  // (target 0 S), both with programming noise and a drift exponent of their own.
  struct Programmed {
    std::vector<float> trained;
    std::vector<PcmDriftState> plus, minus;
    double alpha = 1, w_scale = 1, reference = 0;
  };
  std::vector<Programmed> chip_layers(layers_.size());
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    AnalogLayer& layer = *layers_[l];
    layer.clean_weights();
    Programmed& p = chip_layers[l];
    p.trained = layer.weight().value.data;
    float peak = 0;
    for (float v : p.trained) peak = std::max(peak, std::fabs(v));
    p.w_scale = peak > 0 ? peak : 1.0;
    p.alpha = p.w_scale / model.config().g_max_S;
    const std::uint64_t seed = derive_seed(chip, 0, layer.index());
    p.plus.resize(p.trained.size());
    p.minus.resize(p.trained.size());
    for (std::size_t k = 0; k < p.trained.size(); ++k) {
      const double w = p.trained[k];
      RngStream plus_rng(seed, 2 * k, kProgramStream, 0), minus_rng(seed, 2 * k + 1, kProgramStream, 0);
      p.plus[k] = model.program(std::max(w, 0.0) / p.alpha, plus_rng);
      p.minus[k] = model.program(std::max(-w, 0.0) / p.alpha, minus_rng);
    }
    rec.layers.push_back(fmt::format("layer{:02}_{}", layer.index(), layer.kind()));
  }
  // The drifted weights at t (noise-free), their read-noise sigmas, and the global drift
  // compensation's reference: the output for an all-ones input, summed in magnitude over the
  // outputs (IBM aihwkit's GlobalDriftCompensation; read here without noise).
  auto weights_at = [&](const Programmed& p, std::size_t rows, double t, std::vector<float>& W,
                        std::vector<float>& sigma) {
    W.resize(p.trained.size());
    sigma.assign(read_noise ? p.trained.size() : 0, 0.0f);
    for (std::size_t k = 0; k < W.size(); ++k) {
      const double Gp = model.drifted(p.plus[k], t), Gm = model.drifted(p.minus[k], t);
      W[k] = static_cast<float>(p.alpha * (Gp - Gm));
      if (read_noise)
        sigma[k] = static_cast<float>(p.alpha * std::hypot(model.read_noise_sigma_S(p.plus[k], Gp, t),
                                                           model.read_noise_sigma_S(p.minus[k], Gm, t)));
    }
    const std::size_t cols = W.size() / rows;
    double response = 0;
    for (std::size_t r = 0; r < rows; ++r) {
      double row = 0;
      for (std::size_t j = 0; j < cols; ++j) row += W[r * cols + j];
      response += std::fabs(row);
    }
    return response;
  };
  std::vector<float> W, sigma;
  for (std::size_t l = 0; l < layers_.size(); ++l)
    chip_layers[l].reference = weights_at(chip_layers[l], layers_[l]->rows(), rec.t0_s, W, sigma);
  rec.compensation.assign(layers_.size(), {});
  std::vector<std::vector<float>> sigmas(layers_.size());
  for (double t : rec.time_s) {
    std::vector<double> gains(layers_.size());
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const double response = weights_at(chip_layers[l], layers_[l]->rows(), t, W, sigmas[l]);
      gains[l] = response > 0 ? chip_layers[l].reference / response : 1.0;
      rec.compensation[l].push_back(gains[l]);
      std::copy(W.begin(), W.end(), layers_[l]->weight().value.data.begin());
      layers_[l]->set_inference(chip_layers[l].w_scale, sigmas[l], 1.0);
    }
    rec.accuracy.push_back(test_accuracy());
    for (std::size_t l = 0; l < layers_.size(); ++l)
      layers_[l]->set_inference(chip_layers[l].w_scale, sigmas[l], gains[l]);
    rec.accuracy_compensated.push_back(test_accuracy());
  }
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    layers_[l]->clean_weights();
    std::copy(chip_layers[l].trained.begin(), chip_layers[l].trained.end(),
              layers_[l]->weight().value.data.begin());
  }
  return rec;
}

std::shared_ptr<const training::ReplicaExtras> ReplicaAnalog::finish(
    training::Network& /*net*/, const std::function<double()>& test_accuracy) {
  auto extras = std::make_shared<AnalogExtras>();
  extras->device = hw_.config().device;
  extras->update = hw_.config().update;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->clean_weights();
    if (layers_[i]->tile()) extras->tiles.push_back(record(*layers_[i], updaters_[i].get()));
  }
  if (hw_.config().inference_device == "pcm") extras->inference = inference(test_accuracy);
  return extras;
}

}  // namespace

std::unique_ptr<training::ReplicaHardware> AnalogHardware::attach(
    training::Network& net, std::uint64_t seed, std::uint64_t replica,
    const training::OptimizerConfig& optimizer) const {
  auto hardware = std::make_unique<ReplicaAnalog>(*this, seed, replica);
  const std::uint64_t noise_seed = derive_seed(seed, replica, stream_id("periphery_noise"));
  for (std::size_t l : analog_layers(net)) {
    const std::size_t i = l - 1;
    net.replace_layer(i, [&](training::LayerPtr inner) -> training::LayerPtr {
      return std::make_unique<AnalogLayer>(std::move(inner), l, periphery_, noise_seed);
    });
    auto* layer = static_cast<AnalogLayer*>(&net.layer(i));
    std::unique_ptr<TileUpdater> updater;
    if (config_.device != "none") {
      std::vector<float>& w = layer->weight().value.data;
      double w_max = config_.w_max;
      if (w_max == 0) {
        float peak = 0;
        for (float v : w) peak = std::max(peak, std::fabs(v));
        w_max = config_.w_max_factor * (peak > 0 ? peak : 1.0f);
      }
      TileLayout layout;
      layout.rows = layer->rows();
      layout.cols = layer->cols();
      layout.encoding = config_.encoding == "reference" ? Encoding::reference : Encoding::differential;
      layout.w_max = w_max;
      layout.potentiation_only = config_.pair_update == "potentiation";
      layout.refresh_fraction = config_.refresh;
      layout.read_noise = config_.read_noise;
      const std::uint64_t tile_seed = derive_seed(seed, replica, l);
      const std::size_t devices = w.size() * (layout.encoding == Encoding::differential ? 2 : 1);
      layer->set_tile(std::make_unique<Tile>(layout, make_devices(devices, tile_seed), w));
      if (const CellDrift* drift = cell_drift()) {
        std::unique_ptr<DeviceArray> reference;
        if (drift->compensation() == Compensation::reference_cells)
          reference = make_devices(static_cast<std::size_t>(drift->config().reference_cells),
                                   derive_seed(tile_seed, 0, stream_id("reference_cells")));
        layer->tile()->set_drift(*drift, std::move(reference));
      }
      if (net.rules()[block_of(net, i)] != training::BlockRule::frozen) {
        UpdateConfig u = update_;
        u.epsilon_weight = config_.epsilon_unit == "weight"
                               ? config_.epsilon
                               : config_.epsilon * layer->tile()->mean_step_weight();
        updater = std::make_unique<TileUpdater>(*layer->tile(), layer->weight(), optimizer, u, tile_seed);
      }
    }
    hardware->add(layer, std::move(updater));
  }
  return hardware;
}

}  // namespace memcarlo::analog
