#include "physics/simulate.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/rng.hpp"
#include "physics/lut_device.hpp"
#include "physics/memristor.hpp"
#include "physics/pcm_crystallization.hpp"
#include "physics/pcm_drift.hpp"

namespace memcarlo {

namespace {

constexpr const char* kModelNames[] = {"pcm-crystallization", "pcm-drift", "memristor", "lut"};

// A device config and the protocol that exercises it share one key space.
template <class Device, class Protocol>
struct SimulationConfig {
  Device device;
  Protocol protocol;
  template <class V>
  void visit(V&& v) {
    device.visit(v);
    protocol.visit(v);
  }
};

using DriftSimulation = SimulationConfig<PcmDriftConfig, PcmDriftProtocol>;
using CrystallizationSimulation = SimulationConfig<PcmCrystallizationConfig, PcmPulseTrain>;
using MemristorSimulation = SimulationConfig<MemristorConfig, MemristorPulseTrain>;
using LutSimulation = SimulationConfig<LutDeviceConfig, LutPulseTrain>;

bool is_model_name(std::string_view name) {
  for (const char* m : kModelNames)
    if (name == m) return true;
  return false;
}

// Every model's keys, for checking the [MODEL] tables of a config file that are not used.
std::vector<std::string> model_keys(std::string_view model);

// Applies the --config table (top-level keys, then the more specific [model] table) and then
// the --set overrides. Tables of the other models are checked against their own keys.
template <class Config>
void configure(Config& config, const SimulationRequest& r) {
  if (r.config) {
    toml::table flat;
    const toml::table* own = nullptr;
    for (const auto& [key, node] : *r.config) {
      if (const auto* table = node.as_table()) {
        if (key.str() == r.model) {
          own = table;
        } else if (is_model_name(key.str())) {
          const auto keys = model_keys(key.str());
          for (const auto& [k, v] : *table)
            if (std::find(keys.begin(), keys.end(), k.str()) == keys.end())
              throw InputError(fmt::format("{} [{}]: unknown key '{}'", r.config_origin, key.str(), k.str()));
        } else {
          throw InputError(fmt::format("{}: unknown table [{}] (expected [{}] or top-level keys)",
                                       r.config_origin, key.str(), r.model));
        }
      } else {
        flat.insert(key, node);
      }
    }
    apply_table(config, flat, r.config_origin);
    if (own) apply_table(config, *own, fmt::format("{} [{}]", r.config_origin, r.model));
  }
  if (r.overrides) {
    for (const auto& [key, node] : *r.overrides) {
      const auto* table = node.as_table();
      MC_VALIDATE(table && is_model_name(key.str()), "{}: '{}' is not a table of a device model",
                  r.overrides_origin, key.str());
      const std::string origin = fmt::format("{} [{}]", r.overrides_origin, key.str());
      if (key.str() == r.model) {
        apply_table(config, *table, origin);
      } else {
        const auto keys = model_keys(key.str());
        for (const auto& [k, v] : *table)
          MC_VALIDATE(std::find(keys.begin(), keys.end(), k.str()) != keys.end(),
                      "{}: unknown key '{}'", origin, k.str());
      }
    }
  }
  for (const auto& a : r.assignments) apply_assignment(config, a);
}

// Refuses outputs that would not fit in memory, before allocating them.
void check_output_size(std::int64_t devices, std::int64_t per_device, const char* what) {
  constexpr double kMaxValues = 1e9;  // 8 GB of doubles
  const double n = static_cast<double>(devices) * static_cast<double>(per_device);
  MC_VALIDATE(n <= kMaxValues,
              "the output would hold {:.3g} values ({} devices x {} {}), more than {:.0e}: "
              "reduce --devices or {}", n, devices, per_device, what, kMaxValues, what);
}

// Simulated data must be finite (NaN means 'not read' in the schema, so it must not appear).
void check_finite(const std::vector<double>& values, const char* model) {
  for (std::size_t i = 0; i < values.size(); ++i)
    MC_VALIDATE(std::isfinite(values[i]),
                "{} produced a non-finite conductance ({}) at flat index {}: check the "
                "parameters (see --help)", model, values[i], i);
}

// Calls per_device(i) for every device, in parallel, reporting progress.
template <class PerDevice>
void for_each_device(const SimulationRequest& r, const char* label, PerDevice&& per_device) {
  ProgressReporter progress(label, static_cast<std::uint64_t>(r.devices),
                            r.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  parallel_for(r.devices, [&](std::int64_t i) {
    per_device(i);
    progress.advance();
  });
  progress.finish();
}

// An empty [n_dev, n_cycle, n_pulse] pulse train and the slice of one device.
PulseTrainData make_pulse_train(std::int64_t devices, std::int64_t cycles, std::int64_t pulses) {
  PulseTrainData p;
  p.G = NdArray<double>({static_cast<std::size_t>(devices), static_cast<std::size_t>(cycles),
                         static_cast<std::size_t>(pulses)});
  return p;
}

std::span<double> device_slice(PulseTrainData& p, std::int64_t device) {
  const std::size_t n = p.G.shape[1] * p.G.shape[2];
  return {p.G.data.data() + static_cast<std::size_t>(device) * n, n};
}

std::string provenance(const SimulationRequest& r, const std::string& preset,
                       const std::string& resolved) {
  return fmt::format("memcarlo device simulate {} --devices {} --seed {} (preset {})\n{}", r.model,
                     r.devices, r.seed, preset, resolved);
}

// A file of simulated data: its attribution is the command and the resolved config.
template <class Config>
MeasurementFile generated_file(const SimulationRequest& r, const std::string& preset,
                               const Config& sim, std::string paper) {
  MeasurementFile f;
  f.source = fmt::format("memcarlo device simulate {}", r.model);
  f.licence = "generated";
  f.paper = std::move(paper);
  f.provenance = provenance(r, preset, to_toml(sim));
  return f;
}

MeasurementFile simulate_pcm_drift(const SimulationRequest& r, const std::string& preset) {
  DriftSimulation sim;
  configure(sim, r);
  const PcmDriftModel model(sim.device);
  sim.protocol.validate();
  check_output_size(r.devices, sim.protocol.n_times, "read times (n_times)");
  const auto times = sim.protocol.read_times_s();
  const auto n_dev = static_cast<std::size_t>(r.devices);
  DriftData d;
  d.t_s = times;
  d.t0_s = sim.device.t0_s;
  d.temperature_K = sim.device.temperature_K;
  d.G_S = NdArray<double>({n_dev, times.size()});
  d.G_target_S = std::vector<double>(n_dev);
  d.level = std::vector<std::int64_t>(n_dev);
  for_each_device(r, "pcm-drift", [&](std::int64_t i) {
    const auto u = static_cast<std::size_t>(i);
    const double target = sim.protocol.target_S(i, sim.device.g_max_S);
    RngStream program_rng(r.seed, u, stream_id("programming"));
    const PcmDriftState state = model.program(target, program_rng);
    RngStream read_rng(r.seed, u, stream_id("read_noise"));
    for (std::size_t j = 0; j < times.size(); ++j) d.G_S(u, j) = model.read(state, times[j], read_rng);
    (*d.G_target_S)[u] = target;
    (*d.level)[u] = i % sim.protocol.levels;
  });
  check_finite(d.G_S.data, "pcm-drift");
  MeasurementFile f = generated_file(r, preset, sim,
      "IBM statistical PCM model: Nandakumar et al., ISCAS 2019; Joshi et al., Nat. Commun. 11, 2473 (2020)");
  f.sets.push_back({"drift",
                    fmt::format("simulated PCM drift (model parameterised from published fits, not "
                                "measured): {} devices, {} target levels, read at {} times",
                                r.devices, sim.protocol.levels, times.size()),
                    std::move(d)});
  return f;
}

MeasurementFile simulate_pcm_crystallization(const SimulationRequest& r, const std::string& preset) {
  CrystallizationSimulation sim{preset_pcm_crystallization(preset), {}};
  configure(sim, r);
  const PcmCrystallizationModel model(sim.device);
  const PcmPulseTrain& train = sim.protocol;
  train.validate_against(model);
  check_output_size(r.devices, train.cycles * train.pulses_per_cycle, "cycles x pulses_per_cycle");
  const auto n_cycle = static_cast<std::size_t>(train.cycles);
  PulseTrainData p = make_pulse_train(r.devices, train.cycles, train.pulses_per_cycle);
  p.polarity.assign(n_cycle, 1);
  p.pulse_power_W = train.power_W;
  p.pulse_width_s = train.width_s;
  std::vector<std::int64_t> to_set(static_cast<std::size_t>(r.devices) * n_cycle);
  for_each_device(r, "pcm-crystallization", [&](std::int64_t i) {
    const auto u = static_cast<std::size_t>(i);
    const std::span<double> G = device_slice(p, i);
    simulate_pulse_train(model, train, r.seed, u, G);
    // pulses_to_set draws from the same streams as the trajectory, so a crossing inside the
    // recorded cycle is read off it; only cycles that did not cross are continued.
    const auto n_pulse = static_cast<std::size_t>(train.pulses_per_cycle);
    for (std::size_t c = 0; c < n_cycle; ++c) {
      const auto cycle = G.subspan(c * n_pulse, n_pulse);
      const auto hit = std::find_if(cycle.begin(), cycle.end(),
                                    [&](double g) { return g >= train.G_threshold_S; });
      const auto k = static_cast<std::int64_t>(hit - cycle.begin()) + 1;
      to_set[u * n_cycle + c] =
          hit != cycle.end() && k <= train.max_pulses
              ? k
              : pulses_to_set(model, train, r.seed, u, static_cast<std::int64_t>(c));
    }
  });
  check_finite(p.G.data, "pcm-crystallization");
  // Aggregate initialisation (assigning short literals trips a false -Wrestrict in GCC 12).
  SamplesData s{.value = {},
                .quantity = "pulses_to_set",
                .unit = "1",
                .condition = std::vector<double>{},
                .condition_name = "device",
                .condition_unit = "1",
                .censor_limit = static_cast<double>(train.max_pulses),
                .n_censored = 0};
  for (std::size_t k = 0; k < to_set.size(); ++k) {
    if (to_set[k] == kPulsesToSetNotReached) {
      ++s.n_censored;
      continue;
    }
    s.value.push_back(static_cast<double>(to_set[k]));
    s.condition->push_back(static_cast<double>(k / n_cycle));
  }
  MC_VALIDATE(!s.value.empty(), "no device reached G_threshold = {} S within max_pulses = {}: "
              "raise power, width or max_pulses", train.G_threshold_S, train.max_pulses);
  MeasurementFile f = generated_file(r, preset, sim,
      "classical nucleation and growth with the GST parameter set of arXiv:2107.02035; "
            "PCM model parameterised from published fits, not measured");
  f.sets.push_back({"pulse_train",
                    fmt::format("simulated {} PCM cells (crystallization model, not measured): "
                                "conductance after each identical partial-SET pulse of {:g} W, "
                                "{:g} s; every cycle starts with a RESET",
                                preset, train.power_W, train.width_s),
                    std::move(p)});
  f.sets.push_back({"pulses_to_set",
                    fmt::format("pulses after RESET until the read conductance reaches {:g} S, one "
                                "value per (device, cycle), condition = device index; {} did not "
                                "within {} pulses (censored)",
                                train.G_threshold_S, s.n_censored, train.max_pulses),
                    std::move(s)});
  return f;
}

MemristorConfig preset_memristor(const std::string& preset) {
  MemristorConfig c;  // `neurosim`: DNN+NeuroSim V2.1 training defaults, no d2d variation
  if (preset == "bulk") {
    // Device-to-device spread, read noise and faults of a realistic array (assumptions, to be
    // replaced by calibration): a few percent in area, range and kinetics, rare stuck cells.
    c.sigma_area = 0.05;
    c.sigma_range = 0.05;
    c.sigma_k0_p = 0.1;
    c.sigma_k0_d = 0.1;
    c.sigma_read = 0.005;
    c.p_stuck_off = 0.001;
    c.p_stuck_on = 0.001;
  }
  return c;
}

MeasurementFile simulate_memristor(const SimulationRequest& r, const std::string& preset) {
  MemristorSimulation sim{preset_memristor(preset), {}};
  configure(sim, r);
  const MemristorModel model(sim.device);
  const MemristorPulseTrain& train = sim.protocol;
  train.validate();
  check_output_size(r.devices, train.cycles * train.pulses_per_cycle, "cycles x pulses_per_cycle");
  PulseTrainData p = make_pulse_train(r.devices, train.cycles, train.pulses_per_cycle);
  for (std::int64_t c = 0; c < train.cycles; ++c)
    p.polarity.push_back(static_cast<std::int64_t>(train.polarity(c)));
  // The schema has one pulse per file: record it only when depression mirrors potentiation
  // (the provenance holds both pulses in any case).
  if (sim.device.V_d_V == -sim.device.V_p_V && sim.device.tau_d_s == sim.device.tau_p_s) {
    p.pulse_amplitude_V = sim.device.V_p_V;
    p.pulse_width_s = sim.device.tau_p_s;
  }
  for_each_device(r, "memristor", [&](std::int64_t i) {
    run_pulse_train(model, train, r.seed, static_cast<std::uint64_t>(i), device_slice(p, i));
  });
  check_finite(p.G.data, "memristor");
  MeasurementFile f = generated_file(r, preset, sim,
      "bulk-switching compact model; pulse response in the DNN+NeuroSim V2.1 form");
  f.sets.push_back({"pulse_train",
                    fmt::format("simulated bulk-switching memristors (compact model, not measured), "
                                "preset {}: conductance after each pulse, {} cycles of {} pulses "
                                "alternating potentiation and depression",
                                preset, train.cycles, train.pulses_per_cycle),
                    std::move(p)});
  return f;
}

MeasurementFile simulate_lut(const SimulationRequest& r, const std::string& preset) {
  LutSimulation sim;
  configure(sim, r);
  const LutPulseTrain& train = sim.protocol;
  train.validate();
  MC_VALIDATE(std::isfinite(sim.device.G0_S), "lut G0 = {} S must be finite", sim.device.G0_S);
  check_output_size(r.devices, train.cycles * train.pulses_per_cycle, "cycles x pulses_per_cycle");
  const LutModel model = LutModel::from_config(sim.device);
  PulseTrainData p = make_pulse_train(r.devices, train.cycles, train.pulses_per_cycle);
  for (std::int64_t c = 0; c < train.cycles; ++c)
    p.polarity.push_back(static_cast<std::int64_t>(train.polarity(c)));
  for_each_device(r, "lut", [&](std::int64_t i) {
    run_lut_pulse_train(model, train, sim.device.G0_S, r.seed, static_cast<std::uint64_t>(i),
                        device_slice(p, i));
  });
  check_finite(p.G.data, "lut");
  const std::size_t n_sorted = model.table(Polarity::potentiation).rearranged_bins() +
                               model.table(Polarity::depression).rearranged_bins();
  const std::string rearranged =
      n_sorted == 0 ? std::string()
                    : fmt::format(" ({} bins of the tables had decreasing quantile values and were "
                                  "sorted)", n_sorted);
  MeasurementFile f = generated_file(r, preset, sim,
      "empirical device sampling measured conditional step tables (Sandia CrossSim "
      "lookup-table method)");
  f.sets.push_back({"pulse_train",
                    fmt::format("simulated empirical (lut) devices, not measured: each step drawn "
                                "from {} or {}; {} cycles of {} pulses alternating potentiation "
                                "and depression",
                                model.table(Polarity::potentiation).origin(),
                                model.table(Polarity::depression).origin(), train.cycles,
                                train.pulses_per_cycle) + rearranged,
                    std::move(p)});
  return f;
}

std::vector<std::string> model_keys(std::string_view model) {
  std::vector<std::string> keys;
  for (const auto& info : simulation_models())
    if (info.name == model)
      for (const auto& p : info.params) keys.push_back(p.key);
  return keys;
}

}  // namespace

std::vector<SimulationModelInfo> simulation_models() {
  std::vector<SimulationModelInfo> out;
  out.push_back({"pcm-drift",
                 "PCM drift, programming and 1/f read noise (IBM statistical model); writes 'drift'",
                 {"pcm-ibm"},
                 describe_params(DriftSimulation{})});
  out.push_back({"pcm-crystallization",
                 "PCM partial-SET pulse trains by stochastic nucleation and growth; writes "
                 "'pulse_train' and 'pulses_to_set' (samples)",
                 {"gst", "cgst"},
                 describe_params(CrystallizationSimulation{preset_pcm_crystallization("gst"), {}})});
  out.push_back({"memristor",
                 "bulk-switching memristor potentiation/depression cycles; writes 'pulse_train'",
                 {"bulk", "neurosim"},
                 describe_params(MemristorSimulation{preset_memristor("bulk"), {}})});
  out.push_back({"lut",
                 "empirical device: every step drawn from measured dg_table lookup tables "
                 "(potentiation_table, depression_table); writes 'pulse_train'",
                 {"table"},
                 describe_params(LutSimulation{})});
  return out;
}

namespace {

// The request's preset (the model's default when empty), checked against the model's presets;
// InputError for an unknown model or preset.
std::string checked_preset(const SimulationRequest& r) {
  for (const auto& info : simulation_models()) {
    if (info.name != r.model) continue;
    const std::string preset = r.preset.empty() ? info.presets.front() : r.preset;
    bool known = false;
    for (const auto& p : info.presets) known = known || p == preset;
    MC_VALIDATE(known, "unknown preset '{}' for model {} (known: {})", preset, r.model,
                fmt::join(info.presets, ", "));
    return preset;
  }
  std::vector<std::string> names;
  for (const auto& info : simulation_models()) names.push_back(info.name);
  throw InputError(fmt::format("unknown model '{}' (known: {})", r.model, fmt::join(names, ", ")));
}

}  // namespace

MeasurementFile simulate_measurements(const SimulationRequest& r) {
  const std::string preset = checked_preset(r);
  MC_VALIDATE(r.devices > 0, "--devices must be positive, got {}", r.devices);
  MC_VALIDATE(r.devices <= 100'000'000, "--devices {} exceeds the limit of 1e8", r.devices);
  if (r.model == "pcm-drift") return simulate_pcm_drift(r, preset);
  if (r.model == "pcm-crystallization") return simulate_pcm_crystallization(r, preset);
  if (r.model == "memristor") return simulate_memristor(r, preset);
  return simulate_lut(r, preset);
}

ParamType model_param_type(std::string_view model, std::string_view key) {
  if (model == "memristor") return param_type(MemristorSimulation{}, key);
  if (model == "pcm-crystallization") return param_type(CrystallizationSimulation{}, key);
  if (model == "pcm-drift") return param_type(DriftSimulation{}, key);
  if (model == "lut") return param_type(LutSimulation{}, key);
  return ParamType::none;
}

MemristorSetup resolve_memristor(const SimulationRequest& r) {
  MC_VALIDATE(r.model == "memristor", "resolve_memristor given model '{}'", r.model);
  MemristorSimulation sim{preset_memristor(checked_preset(r)), {}};
  configure(sim, r);
  (void)MemristorModel(sim.device);  // validates the device keys
  sim.protocol.validate();
  return {sim.device, sim.protocol};
}

PcmCrystallizationSetup resolve_pcm_crystallization(const SimulationRequest& r) {
  MC_VALIDATE(r.model == "pcm-crystallization", "resolve_pcm_crystallization given model '{}'",
              r.model);
  CrystallizationSimulation sim{preset_pcm_crystallization(checked_preset(r)), {}};
  configure(sim, r);
  sim.protocol.validate_against(PcmCrystallizationModel(sim.device));
  return {sim.device, sim.protocol};
}

PcmDriftConfig resolve_pcm_drift(const SimulationRequest& r) {
  MC_VALIDATE(r.model == "pcm-drift", "resolve_pcm_drift given model '{}'", r.model);
  checked_preset(r);
  DriftSimulation sim;
  configure(sim, r);
  (void)PcmDriftModel(sim.device);
  return sim.device;
}

LutDeviceConfig resolve_lut(const SimulationRequest& r) {
  MC_VALIDATE(r.model == "lut", "resolve_lut given model '{}'", r.model);
  checked_preset(r);
  LutSimulation sim;
  configure(sim, r);
  return sim.device;
}

}  // namespace memcarlo
