// One run of `memcarlo train` as data: its [train] and [analog] tables, its own device keys
// ([memristor], [lut], [pcm-crystallization], [pcm-drift]: applied over analog.device_config)
// and its [pcm-feedback] table (the PCM feedback array of train.feedback_source = "pcm"), and the
// one way they are filled from a RUN.toml's tables and from `table.key` assignments. A campaign
// trial is such a run; its axes address keys as "train.lr", "analog.epsilon",
// "memristor.sigma_area" or "pcm-feedback.pulses".
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "analog/cost.hpp"
#include "analog/feedback_drift.hpp"
#include "analog/hardware.hpp"
#include "analog/pcm_feedback.hpp"
#include "training/trainer.hpp"

namespace memcarlo::campaign {

struct RunConfig {
  training::TrainConfig train;
  analog::AnalogConfig analog;
  toml::table devices;  // by model: the keys set by the run itself (checked types, int -> float)
  analog::PcmFeedbackConfig pcm_feedback;
  // The [drift] table: present when the run sets any of its keys (then PCM arrays drift).
  std::optional<analog::DriftConfig> drift;
  analog::CostConfig cost;  // the [cost] table: per-event costs of the cost model
};

// Whether the run draws its feedback from PCM cells (and so reads [pcm-feedback]).
bool reads_pcm_feedback(const RunConfig& run);

// The device models whose keys a run can set (in tables named after them).
inline constexpr std::string_view kDeviceTables[] = {"memristor", "lut", "pcm-crystallization",
                                                     "pcm-drift"};

// What kind of value a key takes.
enum class KeyKind { unknown_table, unknown_key, boolean, integer, number, string };

// The kind of "table.key" ("train.lr" -> number, "memristor.sigma_area" -> number);
// unknown_table or unknown_key when the run has no such key.
KeyKind key_kind(const RunConfig& run, std::string_view dotted_key);

// Sets "table.key" from a TOML value; InputError naming `origin` for an unknown key or a value of
// the wrong type.
void set_run_key(RunConfig& run, std::string_view dotted_key, const toml::node& value,
                 std::string_view origin);

// Applies every table of a RUN.toml ([train], [analog], device tables); any other key or table
// is an error naming `origin`.
void apply_run_tables(RunConfig& run, const toml::table& tables, std::string_view origin);

// Checks every value and combination of the tables, and that the device tables are ones
// analog.device reads; errors name the key.
void validate(const RunConfig& run);

// The run as TOML ([train], [analog], the device tables, then [pcm-feedback] if the run reads
// it, [drift] if set and [cost] if changed), readable back by apply_run_tables.
std::string run_toml(const RunConfig& run);
// The keys of `run` that differ from their defaults, as run_toml lays them out: what a
// campaign's config hash covers, so that a memcarlo that adds keys (with defaults that keep
// the old behaviour) still resumes and analyses the files of an older one.
std::string run_identity(const RunConfig& run);

// What a run trains on beyond the digital engine, built once and shared read-only by its
// replicas: the analog hardware (null for digital training) and the feedback source (null for
// gaussian). A PCM feedback library depends only on [pcm-feedback] and the run's seed, so the
// process keeps the libraries it built and a campaign's trials of one seed share one (2 s of
// simulation for the default cgst library, each time it is not rebuilt).
struct RunHardware {
  std::unique_ptr<analog::AnalogHardware> analog;
  std::shared_ptr<const analog::PcmFeedback> feedback;
  std::unique_ptr<analog::DriftingPcmFeedback> drifting;  // the feedback's drift, with [drift]
  training::SimulatedClock clock;
  std::string drift_toml;  // the [drift] table, echoed into the results file
  // Points the options at them.
  void attach(training::TrainOptions& options) const;
};
RunHardware build_hardware(const RunConfig& run);

// The cost model's record of a finished run (analog/cost.hpp): its network under its rules and
// all-backprop and all-DFA, with the programming pulses per step its tiles counted (averaged
// over replicas), or the [cost] assumption when it trained without tiles.
// `plan`: analog::plan_cost(run.train), taken before training (it builds the network).
std::shared_ptr<const analog::CostRecord> cost_record(const RunConfig& run, const analog::CostPlan& plan,
                                                      const training::TrainResult& result);

}  // namespace memcarlo::campaign
