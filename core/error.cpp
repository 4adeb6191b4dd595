#include "core/error.hpp"

namespace memcarlo {

FileError::FileError(const std::string& file, const std::string& what)
    : Error(fmt::format("{}: {}", file, what)) {}

FileError::FileError(const std::string& file, const std::string& object, const std::string& what)
    : Error(fmt::format("{}: {}: {}", file, object, what)) {}

}  // namespace memcarlo
