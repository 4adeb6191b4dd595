// Progress of long runs: a redrawn bar when stderr is a terminal, a log line every few
// seconds otherwise (CI logs, nohup). Safe to advance from inside OpenMP loops: the counter
// is atomic and only one thread at a time prints.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>

namespace memcarlo {

enum class ProgressStyle { automatic, bar, log, quiet };

class ProgressReporter {
 public:
  // period: time between two prints; zero picks 100 ms for the bar and 5 s for log lines.
  ProgressReporter(std::string label, std::uint64_t total,
                   ProgressStyle style = ProgressStyle::automatic, std::FILE* out = stderr,
                   std::chrono::milliseconds period = std::chrono::milliseconds(0));
  ~ProgressReporter();
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  void advance(std::uint64_t n = 1);
  // Prints the final line (idempotent; also called by the destructor).
  void finish();

 private:
  void print(std::uint64_t done, bool final);

  std::string label_;
  std::uint64_t total_;
  ProgressStyle style_;
  std::FILE* out_;
  std::atomic<std::uint64_t> done_{0};
  std::mutex print_mutex_;
  std::chrono::milliseconds period_;
  std::chrono::steady_clock::time_point start_, last_print_;
  bool finished_ = false;
};

}  // namespace memcarlo
