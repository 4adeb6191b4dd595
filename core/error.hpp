// The error family of memcarlo and the two kinds of checks.
// Always-on validation (MC_VALIDATE) guards user input and file contents and throws an
// InputError with a message naming the offending value; MC_ASSERT guards internal
// invariants and is checked only when memcarlo is built with MEMCARLO_DEBUG (CMake option, on
// in the sanitizer build), independently of NDEBUG.
#pragma once

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

// `text` as one printable line: control characters (newlines included) and bytes that are not
// valid UTF-8 become \xNN escapes. Error messages quote names and values read from files,
// which a damaged file fills with anything.
std::string printable(const std::string& text);

// What a failed MC_ASSERT calls: prints the condition and where to stderr and aborts.
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line);

}  // namespace memcarlo

// Always-on validation of input: MC_VALIDATE(x > 0, "devices must be positive, got {}", x).
#define MC_VALIDATE(cond, ...)                                      \
  do {                                                              \
    if (!(cond)) throw ::memcarlo::InputError(fmt::format(__VA_ARGS__)); \
  } while (0)

// Internal invariant, checked in MEMCARLO_DEBUG builds only (the condition is still compiled,
// never evaluated, in the others, so it cannot rot).
#ifdef MEMCARLO_DEBUG
#define MC_ASSERT(cond) \
  ((cond) ? static_cast<void>(0) : ::memcarlo::assertion_failed(#cond, __FILE__, __LINE__))
#else
#define MC_ASSERT(cond) static_cast<void>(sizeof(!(cond)))
#endif
