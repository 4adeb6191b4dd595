// Calibration speed: drift calibration of 16k simulated devices, and the two-thread speedup of
// a 1000-resample bootstrap, measured in the same process (one- and two-thread runs interleaved,
// best of `repeats`). A benchmark, not a test: it prints, it does not assert.
// Usage: bench_calibration [--quick]
#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "calibration/drift_fit.hpp"
#include "core/parallel.hpp"
#include "physics/simulate.hpp"

using namespace memcarlo;

namespace {

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 1 : 3;
  SimulationRequest q;
  q.model = "pcm-drift";
  q.devices = 16384;
  q.seed = 1;
  q.show_progress = false;
  const CalibrationInput input = calibration_input(simulate_measurements(q), "drift", "simulated");

  const auto run = [&](std::int64_t resamples, bool round_trip) {
    CalibrationOptions o;
    o.bootstrap = resamples;
    o.round_trip = round_trip;
    o.show_progress = false;
    return calibrate_drift(input, o);
  };
  run(20, false);  // warm-up
  fmt::print("drift calibration of {} pcm-drift devices (11 reads each, read noise on), 2 threads:\n",
             q.devices);
  for (auto [resamples, round_trip] : {std::pair<std::int64_t, bool>{20, false}, {200, false}, {200, true}}) {
    double best = 1e300;
    set_threads(2);
    for (int r = 0; r < repeats; ++r) best = std::min(best, seconds_of([&] { run(resamples, round_trip); }));
    fmt::print("  bootstrap {:>4}, round trip {:<3}  {:8.3f} s{}\n", resamples, round_trip ? "on" : "off",
               best, resamples == 20 && !round_trip ? "   (target: < 1 s)" : "");
  }
  const std::int64_t big = quick ? 200 : 1000;
  double t1 = 1e300, t2 = 1e300;
  for (int r = 0; r < repeats; ++r) {
    set_threads(1);
    t1 = std::min(t1, seconds_of([&] { run(big, false); }));
    set_threads(2);
    t2 = std::min(t2, seconds_of([&] { run(big, false); }));
    fmt::print(stderr, "  run {}: best so far {:.3f} s (1 thread), {:.3f} s (2 threads)\n", r + 1, t1, t2);
  }
  fmt::print("drift calibration with {} bootstrap resamples: {:.3f} s on 1 thread, {:.3f} s on 2: "
             "speedup {:.2f}x (target >= 1.8x; the point fit before the bootstrap is serial)\n",
             big, t1, t2, t1 / t2);
  return 0;
}
