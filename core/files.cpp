#include "core/files.hpp"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <mutex>
#include <vector>
#include <fstream>

#include <fmt/format.h>

#include "core/error.hpp"

namespace memcarlo {

int remove_stale_temporaries(const std::string& path) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp-";
  std::error_code ec;
  int removed = 0;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const std::string pid_text = name.substr(prefix.size());
    if (pid_text.empty() || pid_text.find_first_not_of("0123456789") != std::string::npos) continue;
    const long pid = std::strtol(pid_text.c_str(), nullptr, 10);
    if (pid <= 0 || (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)) {
      if (fs::remove(entry.path(), ec)) ++removed;
    }
  }
  return removed;
}

namespace {

std::mutex g_inputs_mutex;
bool g_track_inputs = false;
std::vector<std::string> g_inputs;  // as given; compared by std::filesystem::equivalent

}  // namespace

void track_input_files() {
  const std::lock_guard<std::mutex> lock(g_inputs_mutex);
  g_track_inputs = true;
}

void note_input_file(const std::string& path) {
  const std::lock_guard<std::mutex> lock(g_inputs_mutex);
  if (!g_track_inputs) return;
  if (std::find(g_inputs.begin(), g_inputs.end(), path) == g_inputs.end()) g_inputs.push_back(path);
}

void forget_input_file(const std::string& path) {
  const std::lock_guard<std::mutex> lock(g_inputs_mutex);
  std::error_code ec;
  std::erase_if(g_inputs, [&](const std::string& input) {
    return input == path || std::filesystem::equivalent(input, path, ec);
  });
}

void check_not_an_input(const std::string& output) {
  const std::lock_guard<std::mutex> lock(g_inputs_mutex);
  std::error_code ec;
  for (const std::string& input : g_inputs)
    if (std::filesystem::equivalent(input, output, ec))
      throw FileError(output, input == output
                                  ? "is also an input of this command: refusing to overwrite it"
                                  : fmt::format("is the same file as the input {}: refusing to "
                                                "overwrite it", input));
}

void write_text_file(const std::string& path, const std::string& text) {
  check_not_an_input(path);
  remove_stale_temporaries(path);
  const std::string temp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw FileError(path, "cannot create (temporary file " + temp + ")");
    errno = 0;
    out << text;
    out.close();  // a full disk may show only when the last buffer is written
    if (!out) {
      const int error = errno;
      std::remove(temp.c_str());
      throw FileError(path, error != 0 ? fmt::format("write failed: {}", std::strerror(error))
                                       : "write failed (disk full?)");
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
