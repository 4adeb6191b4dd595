#include "core/config.hpp"

#include <filesystem>


namespace memcarlo {

toml::table load_toml_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory, not a file");
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    if (where.line == 0) throw FileError(path, std::string(e.description()));
    throw FileError(path, fmt::format("line {}, column {}: {}", where.line, where.column,
                                      e.description()));
  }
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

}  // namespace memcarlo
