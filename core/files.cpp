#include "core/files.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace memcarlo {

void write_text_file(const std::string& path, const std::string& text) {
  const std::string temp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(path, "cannot create (temporary file " + temp + ")");
    out << text;
    out.flush();
    if (!out) {
      std::remove(temp.c_str());
      throw FileError(path, "write failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::remove(temp.c_str());
    throw FileError(path, "cannot rename from temporary file: " + ec.message());
  }
}

}  // namespace memcarlo
