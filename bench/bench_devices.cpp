// Device-simulation throughput and the speedup of two threads over one, measured in the same
// process so that machine noise affects both runs alike. A benchmark, not a test: it prints,
// it does not assert. Usage: bench_devices [--quick | --scale F] (F multiplies device counts)
#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "core/parallel.hpp"
#include "physics/simulate.hpp"

using namespace memcarlo;

namespace {

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Best of `repeats` runs at one and at two threads, interleaved (1, 2, 1, 2, ...) so that a
// slow spell of the machine hits both thread counts alike.
std::pair<double, double> best_seconds(int repeats, const std::function<void()>& work) {
  double best1 = 1e300, best2 = 1e300;
  for (int r = 0; r < repeats; ++r) {
    set_threads(1);
    best1 = std::min(best1, seconds_of(work));
    set_threads(2);
    best2 = std::min(best2, seconds_of(work));
  }
  return {best1, best2};
}

void report(const std::string& name, std::int64_t devices, const SimulationRequest& request,
            int repeats) {
  auto work = [&] { (void)simulate_measurements(request); };
  work();  // warm-up: page faults, library initialisation
  const auto [t1, t2] = best_seconds(repeats, work);
  fmt::print("{:<44} {:>10} {:>14.4g} {:>14.4g} {:>8.2f}x\n", name, devices, devices / t1,
             devices / t2, t1 / t2);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 1 : 5;
  double factor = quick ? 0.1 : 1.0;
  if (argc > 2 && std::strcmp(argv[1], "--scale") == 0) factor = std::atof(argv[2]);
  auto scaled = [&](double n) { return std::max<std::int64_t>(1, static_cast<std::int64_t>(n * factor)); };
  fmt::print("{:<44} {:>10} {:>14} {:>14} {:>9}\n", "workload", "devices", "dev/s 1 thr",
             "dev/s 2 thr", "speedup");

  SimulationRequest drift;
  drift.model = "pcm-drift";
  drift.devices = scaled(1e6);
  drift.seed = 1;
  drift.assignments = {"n_times=10"};
  drift.show_progress = false;
  report("pcm-drift: drift + read noise, 10 reads", drift.devices, drift, repeats);

  SimulationRequest cryst;
  cryst.model = "pcm-crystallization";
  cryst.devices = scaled(1e4);
  cryst.seed = 1;
  cryst.assignments = {"pulses_per_cycle=100", "cycles=1"};
  cryst.show_progress = false;
  report("pcm-crystallization: 100 partial-SET pulses", cryst.devices, cryst, repeats);

  SimulationRequest mem;
  mem.model = "memristor";
  mem.devices = scaled(1e4);
  mem.seed = 1;
  mem.show_progress = false;
  report("memristor: default pulse train", mem.devices, mem, repeats);
  return 0;
}
