#include "core/progress.hpp"

#include <unistd.h>

#include <cstdlib>
#include <string>

#include <fmt/format.h>

namespace memcarlo {

namespace {
ProgressStyle resolve(ProgressStyle style, std::FILE* out) {
  if (style != ProgressStyle::automatic) return style;
  if (const char* quiet = std::getenv("MEMCARLO_QUIET"); quiet && *quiet && *quiet != '0')
    return ProgressStyle::quiet;
  return isatty(fileno(out)) ? ProgressStyle::bar : ProgressStyle::log;
}

// "40 s", "12 min", "3.5 h".
std::string eta_text(double seconds_left) {
  if (seconds_left < 120) return fmt::format("{:.0f} s", seconds_left);
  if (seconds_left < 7200) return fmt::format("{:.0f} min", seconds_left / 60);
  return fmt::format("{:.1f} h", seconds_left / 3600);
}

}  // namespace

ProgressReporter::ProgressReporter(std::string label, std::uint64_t total, ProgressStyle style,
                                   std::FILE* out, std::chrono::milliseconds period)
    : label_(std::move(label)),
      total_(total),
      style_(resolve(style, out)),
      out_(out),
      period_(period.count() > 0                  ? period
              : style_ == ProgressStyle::bar ? std::chrono::milliseconds(100)
                                             : std::chrono::milliseconds(5000)),
      start_(std::chrono::steady_clock::now()),
      last_print_(start_) {}

ProgressReporter::~ProgressReporter() { finish(); }

void ProgressReporter::advance(std::uint64_t n) {
  const std::uint64_t done = done_.fetch_add(n, std::memory_order_relaxed) + n;
  if (style_ == ProgressStyle::quiet) return;
  std::unique_lock lock(print_mutex_, std::try_to_lock);
  if (!lock.owns_lock()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_print_ < period_) return;
  last_print_ = now;
  print(done, false);
}

void ProgressReporter::finish() {
  std::lock_guard lock(print_mutex_);
  if (finished_ || style_ == ProgressStyle::quiet) {
    finished_ = true;
    return;
  }
  finished_ = true;
  // A run shorter than one reporting period prints nothing in log mode.
  if (style_ == ProgressStyle::log && std::chrono::steady_clock::now() - start_ < period_) return;
  print(done_.load(), true);
}

void ProgressReporter::print(std::uint64_t done, bool final) {
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double fraction = total_ ? static_cast<double>(done) / static_cast<double>(total_) : 1.0;
  // Remaining time at the mean rate so far; none before the first unit is done.
  const std::string eta = (final || done == 0 || fraction >= 1)
                              ? std::string()
                              : ", about " + eta_text(seconds * (1 - fraction) / fraction) + " left";
  if (style_ == ProgressStyle::bar) {
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width + 0.5);
    fmt::print(out_, "\r{} [{:<{}}] {:5.1f}% {:.1f} s{}\x1b[K", label_, std::string(filled, '#'),
               width, 100.0 * fraction, seconds, eta);
    if (final) fmt::print(out_, "\n");
  } else {
    fmt::print(out_, "{}: {}/{} ({:.1f}%) after {:.1f} s{}\n", label_, done, total_,
               100.0 * fraction, seconds, eta);
  }
  std::fflush(out_);
}

}  // namespace memcarlo
