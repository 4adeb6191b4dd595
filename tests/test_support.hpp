// Helpers shared by the doctest suites: a temporary directory per test case, the message of
// a thrown exception, a substring check and a bit-exact comparison of arrays.
#pragma once

#include <unistd.h>

#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace memcarlo::test {

// A fresh directory for the files of one test case, removed afterwards. The name is unique
// per process and test case: prefix, process id and a running count.
struct TempDir {
  std::filesystem::path path;

  explicit TempDir(const std::string& prefix = "memcarlo_test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // The path of `name` inside the directory; the file is not created.
  std::string file(const std::string& name) const { return (path / name).string(); }

  // Writes `text` to `name` inside the directory and returns the file's path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string target = file(name);
    std::ofstream(target) << text;
    return target;
  }

  // The names of the directory's entries, in directory order.
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path)) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

  bool empty() const { return std::filesystem::is_empty(path); }
};

// The what() of the exception that `f` throws, or "<no exception>".
inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no exception>";
}

inline bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Equal sizes and identical bytes, so NaN equals NaN and 0.0 differs from -0.0.
template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

}  // namespace memcarlo::test
