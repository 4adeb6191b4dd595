// Reading the text formats measured data arrive in (CSV, TSV, Sandia lookup tables), plain
// or gzipped, with strict number parsing: every bad token is reported with file and line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace memcarlo {

// All lines of a text file; gzip-compressed files are decompressed transparently.
std::vector<std::string> read_text_lines(const std::string& path);

// Fields separated by exactly `delimiter`; empty fields are kept (ragged CSV columns).
std::vector<std::string_view> split_exact(std::string_view line, char delimiter);

// Tokens separated by any run of commas, tabs and spaces; empty tokens are dropped.
std::vector<std::string_view> split_numbers(std::string_view line);

// Parses a whole token as a double (correctly rounded); throws FileError("path: line N: ...").
double parse_double(std::string_view token, const std::string& path, std::size_t line);
long long parse_integer(std::string_view token, const std::string& path, std::size_t line);

}  // namespace memcarlo
