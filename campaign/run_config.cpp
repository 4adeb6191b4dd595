#include "campaign/run_config.hpp"

#include <type_traits>

#include <fmt/format.h>

#include "core/config.hpp"
#include "core/error.hpp"

namespace memcarlo::campaign {

namespace {

template <class Config>
KeyKind kind_in(Config config, std::string_view key) {
  KeyKind kind = KeyKind::unknown_key;
  config.visit([&](const ParamInfo& info, const auto& member) {
    if (info.key != key) return;
    using T = std::decay_t<decltype(member)>;
    if constexpr (std::is_same_v<T, bool>)
      kind = KeyKind::boolean;
    else if constexpr (std::is_same_v<T, std::int64_t>)
      kind = KeyKind::integer;
    else if constexpr (std::is_same_v<T, double>)
      kind = KeyKind::number;
    else
      kind = KeyKind::string;
  });
  return kind;
}

// Splits "table.key"; an undotted key is an error (a campaign names the table explicitly).
std::pair<std::string_view, std::string_view> split_key(std::string_view dotted_key) {
  const auto dot = dotted_key.find('.');
  if (dot == std::string_view::npos) return {std::string_view(), dotted_key};
  return {dotted_key.substr(0, dot), dotted_key.substr(dot + 1)};
}

}  // namespace

KeyKind key_kind(const RunConfig& run, std::string_view dotted_key) {
  const auto [table, key] = split_key(dotted_key);
  if (table == "train") return kind_in(run.train, key);
  if (table == "analog") return kind_in(run.analog, key);
  return KeyKind::unknown_table;
}

void set_run_key(RunConfig& run, std::string_view dotted_key, const toml::node& value,
                 std::string_view origin) {
  const auto [table, key] = split_key(dotted_key);
  if (table == "train") return set_param(run.train, key, value, origin);
  if (table == "analog") return set_param(run.analog, key, value, origin);
  throw InputError(fmt::format("{}: key '{}' is not TABLE.KEY of a run's table [train] or [analog]",
                               origin, dotted_key));
}

void apply_run_tables(RunConfig& run, const toml::table& tables, std::string_view origin) {
  for (const auto& [name, node] : tables) {
    const auto* table = node.as_table();
    MC_VALIDATE(table && (name.str() == "train" || name.str() == "analog"),
                "{}: unexpected key '{}' (the run's keys belong in a [train] or [analog] table)",
                origin, name.str());
    if (name.str() == "train")
      apply_table(run.train, *table, fmt::format("{} [train]", origin));
    else
      apply_table(run.analog, *table, fmt::format("{} [analog]", origin));
  }
}

void validate(const RunConfig& run) {
  training::validate(run.train);
  analog::validate(run.analog);
}

std::string run_toml(const RunConfig& run) {
  return "[train]\n" + to_toml(run.train) + "[analog]\n" + to_toml(run.analog);
}

}  // namespace memcarlo::campaign
