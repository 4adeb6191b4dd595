// The error family of memcarlo and the two kinds of checks.
// Always-on validation (MC_VALIDATE) guards user input and file contents and throws an
// InputError with a message naming the offending value; MC_ASSERT guards internal
// invariants and exists only in debug builds.
#pragma once

#include <cassert>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace memcarlo {

// Base of every error memcarlo throws on purpose; main() prints what() on one line.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A value given by the user (command line, config file, function argument) is invalid.
class InputError : public Error {
 public:
  using Error::Error;
};

// A file cannot be read or written, or its contents break the format it claims.
// The message always starts with the file name (and dataset, when there is one).
class FileError : public Error {
 public:
  FileError(const std::string& file, const std::string& what);
  FileError(const std::string& file, const std::string& object, const std::string& what);
};

}  // namespace memcarlo

// Always-on validation of input: MC_VALIDATE(x > 0, "devices must be positive, got {}", x).
#define MC_VALIDATE(cond, ...)                                      \
  do {                                                              \
    if (!(cond)) throw ::memcarlo::InputError(fmt::format(__VA_ARGS__)); \
  } while (0)

// Internal invariant, checked in debug builds only.
#define MC_ASSERT(cond) assert(cond)
