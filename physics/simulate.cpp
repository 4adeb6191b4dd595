#include "physics/simulate.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/rng.hpp"
#include "physics/pcm_drift.hpp"

namespace memcarlo {

namespace {

constexpr const char* kModelNames[] = {"pcm-drift"};

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

bool is_model_name(std::string_view name) {
  for (const char* m : kModelNames)
    if (name == m) return true;
  return false;
}

// Applies the --config table (top-level keys and the [model] table) and then --set overrides.
template <class Config>
void configure(Config& config, const SimulationRequest& r) {
  if (r.config) {
    toml::table flat;
    for (const auto& [key, node] : *r.config) {
      if (const auto* table = node.as_table()) {
        if (key.str() == r.model) {
          apply_table(config, *table, fmt::format("{} [{}]", r.config_origin, r.model));
        } else if (!is_model_name(key.str())) {
          throw InputError(fmt::format("{}: unknown table [{}] (expected [{}] or top-level keys)",
                                       r.config_origin, key.str(), r.model));
        }
      } else {
        flat.insert(key, node);
      }
    }
    apply_table(config, flat, r.config_origin);
  }
  for (const auto& a : r.assignments) apply_assignment(config, a);
}

std::string provenance(const SimulationRequest& r, const std::string& preset,
                       const std::string& resolved) {
  return fmt::format("memcarlo device simulate {} --devices {} --seed {} (preset {})\n{}", r.model,
                     r.devices, r.seed, preset, resolved);
}

MeasurementFile simulate_pcm_drift(const SimulationRequest& r, const std::string& preset) {
  DriftSimulation sim;
  configure(sim, r);
  const PcmDriftModel model(sim.device);
  sim.protocol.validate();
  const auto times = sim.protocol.read_times_s();
  const auto n_dev = static_cast<std::size_t>(r.devices);
  DriftData d;
  d.t_s = times;
  d.t0_s = sim.device.t0_s;
  d.temperature_K = sim.device.temperature_K;
  d.G_S = NdArray<double>({n_dev, times.size()});
  d.G_target_S = std::vector<double>(n_dev);
  d.level = std::vector<std::int64_t>(n_dev);
  ProgressReporter progress("pcm-drift", n_dev,
                            r.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  parallel_for(r.devices, [&](std::int64_t i) {
    const auto u = static_cast<std::size_t>(i);
    const double target = sim.protocol.target_S(i, sim.device.g_max_S);
    RngStream program_rng(r.seed, u, stream_id("programming"));
    const PcmDriftState state = model.program(target, program_rng);
    RngStream read_rng(r.seed, u, stream_id("read_noise"));
    for (std::size_t j = 0; j < times.size(); ++j) d.G_S(u, j) = model.read(state, times[j], read_rng);
    (*d.G_target_S)[u] = target;
    (*d.level)[u] = i % sim.protocol.levels;
    progress.advance();
  });
  progress.finish();
  MeasurementFile f;
  f.source = "memcarlo device simulate pcm-drift";
  f.licence = "generated";
  f.paper = "IBM statistical PCM model: Nandakumar et al., ISCAS 2019; Joshi et al., Nat. Commun. 11, 2473 (2020)";
  f.provenance = provenance(r, preset, to_toml(sim));
  f.sets.push_back({"drift",
                    fmt::format("simulated PCM drift (model parameterised from published fits, not "
                                "measured): {} devices, {} target levels, read at {} times",
                                r.devices, sim.protocol.levels, times.size()),
                    std::move(d)});
  return f;
}

}  // namespace

std::vector<SimulationModelInfo> simulation_models() {
  std::vector<SimulationModelInfo> out;
  out.push_back({"pcm-drift",
                 "PCM drift, programming and 1/f read noise (IBM statistical model); writes 'drift'",
                 {"pcm-ibm"},
                 describe_params(DriftSimulation{})});
  return out;
}

MeasurementFile simulate_measurements(const SimulationRequest& r) {
  MC_VALIDATE(r.devices > 0, "--devices must be positive, got {}", r.devices);
  MC_VALIDATE(r.devices <= 100'000'000, "--devices {} exceeds the limit of 1e8", r.devices);
  for (const auto& info : simulation_models()) {
    if (info.name != r.model) continue;
    const std::string preset = r.preset.empty() ? info.presets.front() : r.preset;
    bool known = false;
    for (const auto& p : info.presets) known = known || p == preset;
    MC_VALIDATE(known, "unknown preset '{}' for model {} (known: {})", preset, r.model,
                fmt::join(info.presets, ", "));
    if (r.model == "pcm-drift") return simulate_pcm_drift(r, preset);
  }
  std::vector<std::string> names;
  for (const auto& info : simulation_models()) names.push_back(info.name);
  throw InputError(fmt::format("unknown model '{}' (known: {})", r.model, fmt::join(names, ", ")));
}

}  // namespace memcarlo
