#include "campaign/run_config.hpp"

#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <future>
#include <map>
#include <mutex>
#include <sstream>

#include "analog/records.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "physics/simulate.hpp"

namespace memcarlo::campaign {

namespace {

KeyKind kind_of(ParamType type) {
  switch (type) {
    case ParamType::boolean: return KeyKind::boolean;
    case ParamType::integer: return KeyKind::integer;
    case ParamType::number: return KeyKind::number;
    case ParamType::string: return KeyKind::string;
    default: return KeyKind::unknown_key;
  }
}

bool is_device_table(std::string_view name) {
  return std::find(std::begin(kDeviceTables), std::end(kDeviceTables), name) != std::end(kDeviceTables);
}

// A device key's value, checked against the model's type (an integer for a number key becomes
// a float, as the model's own TOML reader would take it).
void set_device_key(RunConfig& run, std::string_view model, std::string_view key,
                    const toml::node& value, std::string_view origin) {
  const ParamType type = model_param_type(model, key);
  MC_VALIDATE(type != ParamType::none, "{}: unknown key '{}' of model {} (see `memcarlo device "
              "simulate --help`)", origin, key, model);
  auto* table = run.devices[model].as_table();
  if (!table) {
    run.devices.insert_or_assign(model, toml::table{});
    table = run.devices[model].as_table();
  }
  if (type == ParamType::number) {
    if (auto v = value.value_exact<std::int64_t>()) {
      table->insert_or_assign(key, static_cast<double>(*v));
      return;
    }
  }
  const bool ok = (type == ParamType::number && value.is_floating_point()) ||
                  (type == ParamType::integer && value.is_integer()) ||
                  (type == ParamType::boolean && value.is_boolean()) ||
                  (type == ParamType::string && value.is_string());
  MC_VALIDATE(ok, "{}: key '{}' of model {} needs {}", origin, key, model,
              type == ParamType::number    ? "a number"
              : type == ParamType::integer ? "an integer"
              : type == ParamType::boolean ? "true or false"
                                           : "a string");
  value.visit([&](const auto& v) { table->insert_or_assign(key, v); });
}

// Splits "table.key"; an undotted key is an error (a campaign names the table explicitly).
std::pair<std::string_view, std::string_view> split_key(std::string_view dotted_key) {
  const auto dot = dotted_key.find('.');
  if (dot == std::string_view::npos) return {std::string_view(), dotted_key};
  return {dotted_key.substr(0, dot), dotted_key.substr(dot + 1)};
}

// The library of (config, seed), built by the first thread that asks for it; the others wait
// for that one instead of building their own. A failed build is not kept.
std::shared_ptr<const analog::PcmFeedback> pcm_feedback_library(const analog::PcmFeedbackConfig& config,
                                                                std::uint64_t seed) {
  using Entry = std::shared_future<std::shared_ptr<const analog::PcmFeedback>>;
  static std::mutex mutex;
  static std::map<std::string, Entry> built;
  const std::string key = fmt::format("{}seed = {}\n", to_toml(config), seed);
  std::promise<std::shared_ptr<const analog::PcmFeedback>> promise;
  Entry entry;
  {
    std::lock_guard lock(mutex);
    const auto it = built.find(key);
    if (it != built.end()) {
      entry = it->second;
    } else {
      if (built.size() >= 64) built.clear();  // bounded: a library is ~32 kB, rebuilding is cheap
      built.emplace(key, promise.get_future().share());
    }
  }
  if (entry.valid()) return entry.get();  // rethrows the builder's error
  try {
    auto library = std::make_shared<const analog::PcmFeedback>(config, seed);
    promise.set_value(library);
    return library;
  } catch (...) {
    promise.set_exception(std::current_exception());
    std::lock_guard lock(mutex);
    built.erase(key);
    throw;
  }
}

}  // namespace

KeyKind key_kind(const RunConfig& run, std::string_view dotted_key) {
  const auto [table, key] = split_key(dotted_key);
  if (table == "train") return kind_of(param_type(run.train, key));
  if (table == "analog") return kind_of(param_type(run.analog, key));
  if (table == "pcm-feedback") return kind_of(param_type(run.pcm_feedback, key));
  if (table == "drift") return kind_of(param_type(analog::DriftConfig{}, key));
  if (table == "cost") return kind_of(param_type(run.cost, key));
  if (is_device_table(table)) return kind_of(model_param_type(table, key));
  return KeyKind::unknown_table;
}

void set_run_key(RunConfig& run, std::string_view dotted_key, const toml::node& value,
                 std::string_view origin) {
  const auto [table, key] = split_key(dotted_key);
  if (table == "train") return set_param(run.train, key, value, origin);
  if (table == "analog") return set_param(run.analog, key, value, origin);
  if (table == "pcm-feedback") return set_param(run.pcm_feedback, key, value, origin);
  if (table == "drift") {
    if (!run.drift) run.drift.emplace();
    return set_param(*run.drift, key, value, origin);
  }
  if (table == "cost") return set_param(run.cost, key, value, origin);
  if (is_device_table(table)) return set_device_key(run, table, key, value, origin);
  throw InputError(fmt::format("{}: key '{}' is not TABLE.KEY of a run's table: [train], [analog], "
                               "[pcm-feedback], [drift], [cost] or a device model's ([memristor], [lut], "
                               "[pcm-crystallization], [pcm-drift])",
                               origin, dotted_key));
}

void apply_run_tables(RunConfig& run, const toml::table& tables, std::string_view origin) {
  for (const auto& [name, node] : tables) {
    const auto* table = node.as_table();
    MC_VALIDATE(table && (name.str() == "train" || name.str() == "analog" ||
                          name.str() == "pcm-feedback" || name.str() == "drift" ||
                          name.str() == "cost" || is_device_table(name.str())),
                "{}: unexpected key '{}' (the run's keys belong in a [train], [analog], "
                "[pcm-feedback], [drift] or [cost] table, or a device model's: [memristor], [lut], "
                "[pcm-crystallization], [pcm-drift])",
                origin, name.str());
    const std::string where = fmt::format("{} [{}]", origin, name.str());
    if (name.str() == "train") {
      apply_table(run.train, *table, where);
    } else if (name.str() == "analog") {
      apply_table(run.analog, *table, where);
    } else if (name.str() == "pcm-feedback") {
      apply_table(run.pcm_feedback, *table, where);
    } else if (name.str() == "drift") {
      if (!run.drift) run.drift.emplace();
      apply_table(*run.drift, *table, where);
    } else if (name.str() == "cost") {
      apply_table(run.cost, *table, where);
    } else {
      for (const auto& [key, value] : *table) {
        MC_VALIDATE(!value.is_table() && !value.is_array(), "{}: unexpected table or array '{}'",
                    where, key.str());
        set_device_key(run, name.str(), key.str(), value, where);
      }
    }
  }
}

bool reads_pcm_feedback(const RunConfig& run) {
  return run.train.feedback_source == "pcm" && run.train.rule != "bp";
}

void validate(const RunConfig& run) {
  training::validate(run.train);
  analog::validate(run.analog);
  analog::validate(run.pcm_feedback);
  MC_VALIDATE(reads_pcm_feedback(run) ||
                  to_toml(run.pcm_feedback) == to_toml(analog::PcmFeedbackConfig{}),
              "[pcm-feedback] keys are set, but the run {}",
              run.train.rule == "bp" ? "trains by backprop (train.rule = bp)"
                                     : "draws B from train.feedback_source = " + run.train.feedback_source);
  MC_VALIDATE(run.pcm_feedback.periphery == "ideal" || run.train.feedback != "per_layer",
              "pcm-feedback.periphery = 'realistic' computes every block's error in one read of "
              "one array, but train.feedback = 'per_layer' has an array per block: use merged or "
              "shared");
  analog::validate(run.cost);
  if (run.drift) {
    analog::validate(*run.drift);
    const bool feedback_drifts = reads_pcm_feedback(run);
    MC_VALIDATE(feedback_drifts || run.analog.device == "pcm",
                "[drift] is set, but nothing in the run drifts: it needs train.feedback_source = "
                "pcm (with dfa blocks) or analog.device = pcm");
    MC_VALIDATE(!feedback_drifts || run.train.feedback != "per_layer",
                "[drift] drifts the one PCM feedback array, but train.feedback = 'per_layer' has "
                "an array per block: use merged or shared");
    MC_VALIDATE(!feedback_drifts || run.drift->compensation != "differential" ||
                    run.pcm_feedback.form == "differential",
                "drift.compensation = 'differential' reads a pair's G+ - G-, but "
                "pcm-feedback.form = 'mean_subtracted' has one cell per entry");
  }
  const auto read = analog::device_models(run.analog);
  for (const auto& [model, node] : run.devices)
    MC_VALIDATE(std::find(read.begin(), read.end(), model.str()) != read.end(),
                "[{}] keys are set, but analog.device = {} reads {}", model.str(), run.analog.device,
                read.empty() ? std::string("no device table") : fmt::format("[{}]", fmt::join(read, "] and [")));
}

namespace {

// The run's tables in order, each config table printed by `print` (all keys, or changed ones).
template <class Print>
std::string run_tables(const RunConfig& run, Print print) {
  std::string out = "[train]\n" + print(run.train) + "[analog]\n" + print(run.analog);
  for (const auto& [model, node] : run.devices)
    out += fmt::format("[{}]\n{}", model.str(), flat_table_toml(*node.as_table()));
  // Only when read: the keys of a run that uses no PCM feedback say nothing about it.
  if (reads_pcm_feedback(run)) out += "[pcm-feedback]\n" + print(run.pcm_feedback);
  if (run.drift) out += "[drift]\n" + print(*run.drift);
  if (to_toml(run.cost) != to_toml(analog::CostConfig{})) out += "[cost]\n" + print(run.cost);
  return out;
}

}  // namespace

std::string run_toml(const RunConfig& run) {
  return run_tables(run, [](const auto& config) { return to_toml(config); });
}

std::string run_identity(const RunConfig& run) {
  return run_tables(run, [](const auto& config) { return to_toml_changed(config); });
}

void RunHardware::attach(training::TrainOptions& options) const {
  options.hardware = analog.get();
  options.feedback = drifting ? static_cast<const training::FeedbackSource*>(drifting.get()) : feedback.get();
  options.clock = clock;
  options.extra_config_toml = drift_toml;
}

RunHardware build_hardware(const RunConfig& run) {
  RunHardware h;
  if (analog::uses_hardware(run.analog))
    h.analog = std::make_unique<analog::AnalogHardware>(
        run.analog, static_cast<std::uint64_t>(run.train.seed),
        run.devices.empty() ? nullptr : &run.devices, run.drift ? &*run.drift : nullptr);
  if (reads_pcm_feedback(run))
    h.feedback = pcm_feedback_library(run.pcm_feedback, derive_seed(static_cast<std::uint64_t>(run.train.seed), 0,
                                                                    stream_id("pcm_feedback_library")));
  if (run.drift) {
    if (h.feedback) h.drifting = std::make_unique<analog::DriftingPcmFeedback>(h.feedback, *run.drift);
    // A step's time from the cost model unless the run states it.
    const double per_batch = run.drift->time_per_batch > 0
                                 ? run.drift->time_per_batch
                                 : analog::run_cost(run.cost, run.train).run.time_s;
    h.clock = {run.drift->t_wait, per_batch};
    h.drift_toml = "[drift]\n" + to_toml(*run.drift);
  }
  return h;
}

std::shared_ptr<const analog::CostRecord> cost_record(const RunConfig& run, const analog::CostPlan& plan,
                                                      const training::TrainResult& result) {
  double pulses = 0, steps = 0;
  bool counted = false;
  for (const auto& r : result.replicas) {
    const auto* analog = dynamic_cast<const analog::AnalogExtras*>(r.extras.get());
    if (!analog || analog->tiles.empty()) continue;
    counted = true;
    for (const auto& t : analog->tiles) pulses += static_cast<double>(t.pulses);
    steps += static_cast<double>(r.samples_trained) / static_cast<double>(run.train.batch);
  }
  const double per_step = counted && steps > 0 ? pulses / steps : -1;
  return std::make_shared<const analog::CostRecord>(
      analog::run_cost(run.cost, plan, per_step), run.cost,
      per_step >= 0 ? "counted by the run's tiles" : "assumed: cost.pulses_per_weight per weight and step");
}

}  // namespace memcarlo::campaign
