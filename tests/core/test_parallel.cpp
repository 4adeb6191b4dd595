// Tests of the OpenMP helpers and the progress reporter (core/parallel, core/progress).
#include <doctest/doctest.h>

#include <atomic>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/parallel.hpp"
#include "core/progress.hpp"

using namespace memcarlo;

namespace {
// Everything written to a FILE*, read back.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<char>(c));
  return out;
}
}  // namespace

TEST_CASE("parallel_for visits every index exactly once, on any thread count") {
  for (int threads : {1, 2}) {
    set_threads(threads);
    std::vector<int> visits(10007, 0);
    parallel_for(static_cast<std::int64_t>(visits.size()), [&](std::int64_t i) { ++visits[static_cast<std::size_t>(i)]; });
    for (int v : visits) REQUIRE(v == 1);
  }
  CHECK(max_threads() >= 1);
  CHECK(thread_index() == 0);  // outside a parallel region
  parallel_for(0, [](std::int64_t) { FAIL("no index to visit"); });
}

TEST_CASE("parallel_for with the dynamic schedule visits every index once and keeps the lowest error") {
  for (int threads : {1, 2}) {
    set_threads(threads);
    std::vector<int> visits(101, 0);
    parallel_for(
        101, [&](std::int64_t i) { ++visits[static_cast<std::size_t>(i)]; }, Schedule::dynamic);
    for (int v : visits) REQUIRE(v == 1);
    CHECK_THROWS_WITH(parallel_for(
                          50,
                          [](std::int64_t i) {
                            if (i % 20 == 19) throw std::runtime_error(std::to_string(i));
                          },
                          Schedule::dynamic),
                      "19");
  }
}

TEST_CASE("an exception inside parallel_for reaches the caller") {
  set_threads(2);
  std::atomic<int> visited{0};
  CHECK_THROWS_WITH_AS(parallel_for(1000,
                                    [&](std::int64_t i) {
                                      ++visited;
                                      if (i == 777) throw std::runtime_error("device 777 failed");
                                    }),
                       "device 777 failed", std::runtime_error);
  CHECK(visited.load() == 1000);  // the loop still completes: no thread is left inside
  // Several failures: the lowest index wins whatever the thread count.
  for (int threads : {1, 2}) {
    set_threads(threads);
    CHECK_THROWS_WITH(parallel_for(1000,
                                   [](std::int64_t i) {
                                     if (i % 300 == 299) throw std::runtime_error(std::to_string(i));
                                   }),
                      "299");
  }
}

TEST_CASE("log-style progress prints the count and a final line, and quiet prints nothing") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    ProgressReporter progress("devices", 1000, ProgressStyle::log, f, std::chrono::milliseconds(1));
    set_threads(2);
    parallel_for(1000, [&](std::int64_t) {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      progress.advance();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    progress.finish();
    progress.finish();  // idempotent
  }
  const std::string text = contents(f);
  std::fclose(f);
  CHECK(text.find("devices: ") != std::string::npos);
  // The last line carries the full count, whichever thread advanced last.
  const auto last = text.rfind("devices: ");
  CHECK(text.substr(last).find("1000/1000 (100.0%)") != std::string::npos);

  std::FILE* q = std::tmpfile();
  {
    ProgressReporter quiet("devices", 10, ProgressStyle::quiet, q, std::chrono::milliseconds(1));
    for (int i = 0; i < 10; ++i) quiet.advance();
  }
  CHECK(contents(q).empty());
  std::fclose(q);
}

TEST_CASE("bar-style progress redraws one line and ends it") {
  std::FILE* f = std::tmpfile();
  {
    ProgressReporter bar("pulses", 4, ProgressStyle::bar, f, std::chrono::milliseconds(1));
    for (int i = 0; i < 4; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      bar.advance();
    }
  }
  const std::string text = contents(f);
  std::fclose(f);
  CHECK(text.find('\r') != std::string::npos);
  CHECK(text.find("100.0%") != std::string::npos);
  CHECK(text.back() == '\n');
}
