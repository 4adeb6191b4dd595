// Shared by the libFuzzer harnesses (fuzz/README.md): the input bytes as a file (every
// reader under test takes a path, as memcarlo's commands do), and the rule that a reader may
// throw memcarlo's errors but nothing else. A crash, a sanitizer report, a hang (libFuzzer's
// -timeout) or another exception type is a finding.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <new>
#include <string>

#include "core/error.hpp"

namespace memcarlo::fuzz {

// A file holding the input, in /dev/shm when it exists (no disk writes per execution).
class InputFile {
 public:
  InputFile(const std::uint8_t* data, std::size_t size, const char* suffix) {
    const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    path_ = std::string(dir) + "/memcarlo-fuzz-" + std::to_string(::getpid()) + suffix;
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (f == nullptr) __builtin_trap();
    if (size > 0 && std::fwrite(data, 1, size, f) != size) __builtin_trap();
    std::fclose(f);
  }
  ~InputFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs a reader: memcarlo's own errors (and running out of memory on a claimed size) are the
// expected outcome of bad input; anything else escapes and libFuzzer reports it.
template <class F>
void expect_clean(F&& read) {
  try {
    read();
  } catch (const Error&) {
  } catch (const std::bad_alloc&) {
  }
}

}  // namespace memcarlo::fuzz
