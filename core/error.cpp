#include "core/error.hpp"

#include <cstdio>
#include <cstdlib>

namespace memcarlo {

FileError::FileError(const std::string& file, const std::string& what)
    : Error(fmt::format("{}: {}", file, what)) {}

FileError::FileError(const std::string& file, const std::string& object, const std::string& what)
    : Error(fmt::format("{}: {}: {}", file, object, what)) {}

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "memcarlo: internal error: assertion '%s' failed at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace memcarlo
