// One run of `memcarlo train` as data: its [train] and [analog] tables, and the one way they are
// filled from a RUN.toml's tables and from `table.key` assignments. A campaign trial is such a
// run; the campaign's axes address its keys as "train.lr" or "analog.epsilon".
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
};

// The tables a run reads. A RUN.toml (and a campaign's [base]) holds them and nothing else.
inline constexpr std::string_view kRunTables[] = {"train", "analog"};

// What kind of value a key takes.
enum class KeyKind { unknown_table, unknown_key, boolean, integer, number, string };

// The kind of "table.key" ("train.lr" -> number); unknown_table or unknown_key when the run has
// no such key.
KeyKind key_kind(const RunConfig& run, std::string_view dotted_key);

// Sets "table.key" from a TOML value; InputError naming `origin` for an unknown key or a value of
// the wrong type.
void set_run_key(RunConfig& run, std::string_view dotted_key, const toml::node& value,
                 std::string_view origin);

// Applies every table of a RUN.toml ([train], [analog]); any other key or table is an error
// naming `origin`.
void apply_run_tables(RunConfig& run, const toml::table& tables, std::string_view origin);

// Checks every value and combination of both tables; errors name the key.
void validate(const RunConfig& run);

// The run as TOML ([train] then [analog]), readable back by apply_run_tables.
std::string run_toml(const RunConfig& run);

}  // namespace memcarlo::campaign
