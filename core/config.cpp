#include "core/config.hpp"
#include "core/files.hpp"

#include <cmath>
#include <filesystem>
#include <sstream>


namespace memcarlo {

toml::table load_toml_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory, not a file");
  if (!std::filesystem::exists(path, ec)) throw FileError(path, "no such file");
  if (!std::filesystem::is_regular_file(path, ec))
    throw FileError(path, "is not a regular file (a pipe or a device): give the path of a file");
  note_input_file(path);
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (where.line == 0) throw FileError(path, std::string(e.description()));
    throw FileError(path, fmt::format("line {}, column {}: {}", where.line, where.column,
                                      e.description()));
  }
}

std::string toml_value_text(const toml::node& value) {
  if (auto d = value.value_exact<double>()) {
    std::string s = fmt::format("{}", *d);
    if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // inf and nan hold an 'n'
    return s;
  }
  std::ostringstream out;
  value.visit([&](const auto& v) { out << v; });
  return out.str();
}

std::string flat_table_toml(const toml::table& table) {
  std::string out;
  for (const auto& [key, node] : table) out += fmt::format("{} = {}\n", key.str(), toml_value_text(node));
  return out;
}

toml::table parse_assignment(std::string_view assignment) {
  const auto eq = assignment.find('=');
  MC_VALIDATE(eq != std::string_view::npos && eq > 0,
              "--set expects key=value, got '{}'", assignment);
  const std::string key(assignment.substr(0, eq));
  const std::string value(assignment.substr(eq + 1));
  MC_VALIDATE(!value.empty(), "--set {}: empty value", assignment);
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    MC_VALIDATE(ok, "--set {}: key may hold letters, digits, '_' and '-' only", assignment);
  }
  MC_VALIDATE(value.find_first_of("\r\n") == std::string::npos,
              "--set {}: the value may not span lines", key);
  try {
    return toml::parse(fmt::format("\"{}\" = {}", key, value));
  } catch (const toml::parse_error&) {
    toml::table out;
    out.insert(key, value);  // a bare word: take it as a string
    return out;
  }
}

namespace {

std::vector<std::string> split_items(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto first = item.find_first_not_of(' ');
    const auto last = item.find_last_not_of(' ');
    items.push_back(first == std::string::npos ? std::string() : item.substr(first, last - first + 1));
  }
  return items;
}

}  // namespace

std::vector<std::int64_t> parse_integer_list(const std::string& text, std::string_view key,
                                             std::int64_t minimum) {
  std::vector<std::int64_t> out;
  for (const std::string& item : split_items(text)) {
    std::size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    MC_VALIDATE(!item.empty() && used == item.size() && v >= minimum,
                "{} = '{}': '{}' is not an integer >= {}", key, text, item, minimum);
    out.push_back(v);
  }
  MC_VALIDATE(!out.empty(), "{} = '{}' lists nothing", key, text);
  return out;
}

std::vector<double> parse_number_list(const std::string& text, std::string_view key,
                                      double exclusive_minimum) {
  std::vector<double> out;
  for (const std::string& item : split_items(text)) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    MC_VALIDATE(!item.empty() && used == item.size() && std::isfinite(v) && v > exclusive_minimum,
                "{} = '{}': '{}' is not a finite number > {}", key, text, item, exclusive_minimum);
    out.push_back(v);
  }
  MC_VALIDATE(!out.empty(), "{} = '{}' lists nothing", key, text);
  return out;
}

}  // namespace memcarlo
