// Model configs as plain structs, and the one mechanism that fills them from TOML files and
// `--set key=value` overrides, lists them for --help and echoes them into output files.
//
// A config struct exposes its members to this machinery with a visit function:
//
//   template <class V> void visit(V&& v) {
//     v(ParamInfo{"E_a", "eV", "viscosity activation energy below T_glass [Ref]"}, E_a_eV);
//   }
//
// Supported member types: double, std::int64_t, bool, std::string.
#pragma once

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/error.hpp"

namespace memcarlo {

struct ParamInfo {
  std::string_view key;
  std::string_view unit;  // SI unit, "1" for dimensionless, "" for names and switches
  std::string_view doc;   // meaning, and the citation or "assumption" for its default
};

struct ParamDescription {
  std::string key, unit, default_value, doc;
};

// Comma-separated lists held in one string key (widths = "800,800", layers = "1,3",
// inference_times = "1,3600"): every item must parse whole and be >= minimum (integers) or
// > minimum (numbers, finite); InputError names the key, the text and the bad item. Spaces
// around items are allowed; an empty list is an error.
std::vector<std::int64_t> parse_integer_list(const std::string& text, std::string_view key,
                                             std::int64_t minimum);
std::vector<double> parse_number_list(const std::string& text, std::string_view key,
                                      double exclusive_minimum);

// Reads a TOML file; errors name the file, line and column.
toml::table load_toml_file(const std::string& path);

// A TOML value as text: floats in the shortest form that reads back to the same double (0.3,
// not toml++'s 0.29999999999999999) and always with '.' or an exponent, so they stay floats;
// strings quoted and escaped as toml++ writes them.
std::string toml_value_text(const toml::node& value);

// A flat table (keys and values, no subtables) as TOML lines, in toml++'s key order.
std::string flat_table_toml(const toml::table& table);

// Parses the value part of a `key=value` override as a TOML value (so numbers, booleans and
// quoted strings work); a bare word is taken as a string.
toml::table parse_assignment(std::string_view assignment);

namespace detail {

template <class T>
std::string format_value(const T& value) {
  if constexpr (std::is_same_v<T, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_same_v<T, std::string>) {
    // toml++ writes the string as TOML (quoted, with quotes, backslashes and control
    // characters escaped), so the echo of a path like C:\data reads back unchanged.
    std::ostringstream out;
    out << toml::value<std::string>(value);
    return out.str();
  } else {
    return fmt::format("{}", value);
  }
}

template <class T>
void assign_from_node(T& member, const toml::node& node, std::string_view key,
                      std::string_view origin) {
  if constexpr (std::is_same_v<T, double>) {
    if (auto v = node.value_exact<double>()) {
      member = *v;
      return;
    }
    if (auto v = node.value_exact<std::int64_t>()) {
      member = static_cast<double>(*v);
      return;
    }
    throw InputError(fmt::format("{}: key '{}' needs a number", origin, key));
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (auto v = node.value_exact<std::int64_t>()) {
      member = *v;
      return;
    }
    throw InputError(fmt::format("{}: key '{}' needs an integer", origin, key));
  } else if constexpr (std::is_same_v<T, bool>) {
    if (auto v = node.value_exact<bool>()) {
      member = *v;
      return;
    }
    throw InputError(fmt::format("{}: key '{}' needs true or false", origin, key));
  } else {
    static_assert(std::is_same_v<T, std::string>, "unsupported config member type");
    if (auto v = node.value_exact<std::string>()) {
      member = *v;
      return;
    }
    throw InputError(fmt::format("{}: key '{}' needs a string", origin, key));
  }
}

}  // namespace detail

// Every parameter of a config, with its current value as default.
template <class Config>
std::vector<ParamDescription> describe_params(Config config) {
  std::vector<ParamDescription> out;
  config.visit([&](const ParamInfo& info, const auto& member) {
    out.push_back({std::string(info.key), std::string(info.unit), detail::format_value(member),
                   std::string(info.doc)});
  });
  return out;
}

// The type of a config's key (none: the config has no such key).
enum class ParamType { none, boolean, integer, number, string };

template <class Config>
ParamType param_type(Config config, std::string_view key) {
  ParamType type = ParamType::none;
  config.visit([&](const ParamInfo& info, const auto& member) {
    if (info.key != key) return;
    using T = std::decay_t<decltype(member)>;
    if constexpr (std::is_same_v<T, bool>)
      type = ParamType::boolean;
    else if constexpr (std::is_same_v<T, std::int64_t>)
      type = ParamType::integer;
    else if constexpr (std::is_same_v<T, double>)
      type = ParamType::number;
    else
      type = ParamType::string;
  });
  return type;
}

// Sets one parameter; unknown keys and wrong types throw InputError naming `origin`.
template <class Config>
void set_param(Config& config, std::string_view key, const toml::node& value,
               std::string_view origin) {
  bool found = false;
  config.visit([&](const ParamInfo& info, auto& member) {
    if (info.key == key) {
      detail::assign_from_node(member, value, key, origin);
      found = true;
    }
  });
  if (!found) throw InputError(fmt::format("{}: unknown key '{}'", origin, key));
}

// Applies every key of a flat TOML table.
template <class Config>
void apply_table(Config& config, const toml::table& table, std::string_view origin) {
  for (const auto& [key, node] : table) {
    if (node.is_table()) {
      throw InputError(fmt::format("{}: unexpected table [{}]", origin, key.str()));
    }
    set_param(config, key.str(), node, origin);
  }
}

// One key from command-line text: string keys take the text as it is (so --widths 32 or a path
// stays a string); other keys parse it as a TOML value.
template <class Config>
void set_param_from_text(Config& config, const std::string& key, const std::string& text,
                         std::string_view origin) {
  bool is_string = false;
  config.visit([&](const ParamInfo& info, auto& member) {
    if (info.key == key) is_string = std::is_same_v<std::decay_t<decltype(member)>, std::string>;
  });
  if (is_string) {
    set_param(config, key, toml::value<std::string>(text), origin);
    return;
  }
  apply_table(config, parse_assignment(key + "=" + text), origin);
}

// `key=value` from the command line.
template <class Config>
void apply_assignment(Config& config, std::string_view assignment) {
  apply_table(config, parse_assignment(assignment), fmt::format("--set {}", assignment));
}

// The config as TOML text, readable back by apply_table: echoed into output provenance.
template <class Config>
std::string to_toml(Config config) {
  std::string out;
  config.visit([&](const ParamInfo& info, const auto& member) {
    out += fmt::format("{} = {}", info.key, detail::format_value(member));
    if (!info.unit.empty()) out += fmt::format("  # {}", info.unit);
    out += '\n';
  });
  return out;
}

// Only the keys whose value differs from a default-constructed Config, in the same form: what
// identifies a configuration independently of keys added later with defaults (a campaign's
// config hash).
template <class Config>
std::string to_toml_changed(Config config) {
  Config defaults{};
  std::vector<std::string> default_values;
  defaults.visit([&](const ParamInfo&, const auto& member) {
    default_values.push_back(detail::format_value(member));
  });
  std::string out;
  std::size_t i = 0;
  config.visit([&](const ParamInfo& info, const auto& member) {
    const std::string value = detail::format_value(member);
    if (value != default_values[i++]) out += fmt::format("{} = {}\n", info.key, value);
  });
  return out;
}

}  // namespace memcarlo
