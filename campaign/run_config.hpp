// One run of `memcarlo train` as data: its [train] and [analog] tables and its own device keys
// ([memristor], [lut], [pcm-crystallization], [pcm-drift]: applied over analog.device_config),
// and the one way they are filled from a RUN.toml's tables and from `table.key` assignments. A
// campaign trial is such a run; its axes address keys as "train.lr", "analog.epsilon" or
// "memristor.sigma_area".
#pragma once

#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "analog/hardware.hpp"
#include "training/trainer.hpp"

namespace memcarlo::campaign {

struct RunConfig {
  training::TrainConfig train;
  analog::AnalogConfig analog;
  toml::table devices;  // by model: the keys set by the run itself (checked types, int -> float)
};

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

// The run as TOML ([train], [analog], then the device tables), readable back by
// apply_run_tables.
std::string run_toml(const RunConfig& run);

}  // namespace memcarlo::campaign
