#include "data/text_table.hpp"

#include <zlib.h>

#include <charconv>
#include <filesystem>

#include <fmt/format.h>

#include "core/error.hpp"

namespace memcarlo {

std::vector<std::string> read_text_lines(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw FileError(path, "no such file");
  gzFile in = gzopen(path.c_str(), "rb");  // reads plain files unchanged
  if (!in) throw FileError(path, "cannot open");
  std::vector<std::string> lines;
  std::string current;
  char buffer[1 << 16];
  for (;;) {
    const int n = gzread(in, buffer, sizeof buffer);
    if (n < 0) {
      int errnum = 0;
      const std::string message = gzerror(in, &errnum);
      gzclose(in);
      throw FileError(path, fmt::format("cannot decompress: {}", message));
    }
    if (n == 0) {
      // gzread returns 0 both at the end and on a truncated stream: ask which.
      int errnum = Z_OK;
      std::string message = gzerror(in, &errnum);
      if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
      if (errnum != Z_OK) {
        gzclose(in);
        throw FileError(path, fmt::format("truncated or corrupt gzip data: {}", message));
      }
      break;
    }
    for (int i = 0; i < n; ++i) {
      if (buffer[i] == '\n') {
        if (!current.empty() && current.back() == '\r') current.pop_back();
        lines.push_back(std::move(current));
        current.clear();
      } else {
        current.push_back(buffer[i]);
      }
    }
  }
  if (gzclose(in) != Z_OK) throw FileError(path, "truncated or corrupt gzip data");
  if (!current.empty()) lines.push_back(std::move(current));
  return lines;
}

std::vector<std::string_view> split_exact(std::string_view line, char delimiter) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = line.find(delimiter, start);
    out.push_back(line.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

std::vector<std::string_view> split_numbers(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  auto is_sep = [](char c) { return c == ',' || c == '\t' || c == ' '; };
  while (i < line.size()) {
    while (i < line.size() && is_sep(line[i])) ++i;
    const std::size_t start = i;
    while (i < line.size() && !is_sep(line[i])) ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

double parse_double(std::string_view token, const std::string& path, std::size_t line) {
  double value = 0;
  const char* end = token.data() + token.size();
  const auto [ptr, err] = std::from_chars(token.data(), end, value);
  if (err != std::errc() || ptr != end)
    throw FileError(path, fmt::format("line {}: '{}' is not a number", line, token));
  return value;
}

long long parse_integer(std::string_view token, const std::string& path, std::size_t line) {
  long long value = 0;
  const char* end = token.data() + token.size();
  const auto [ptr, err] = std::from_chars(token.data(), end, value);
  if (err != std::errc() || ptr != end)
    throw FileError(path, fmt::format("line {}: '{}' is not an integer", line, token));
  return value;
}

}  // namespace memcarlo
