// Device-simulation throughput and the speedup of two threads over one, measured in the same
// process so that machine noise affects both runs alike. A benchmark, not a test: it prints,
// it does not assert. Usage: bench_devices [--quick]
#include <chrono>
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

// Best of `repeats` runs at a given thread count.
double best_seconds(int threads, int repeats, const std::function<void()>& work) {
  set_threads(threads);
  double best = 1e300;
  for (int r = 0; r < repeats; ++r) best = std::min(best, seconds_of(work));
  return best;
}

void report(const std::string& name, std::int64_t devices, const SimulationRequest& request,
            int repeats) {
  auto work = [&] { (void)simulate_measurements(request); };
  work();  // warm-up: page faults, library initialisation
  const double t1 = best_seconds(1, repeats, work);
  const double t2 = best_seconds(2, repeats, work);
  fmt::print("{:<44} {:>10} {:>14.4g} {:>14.4g} {:>8.2f}x\n", name, devices, devices / t1,
             devices / t2, t1 / t2);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int repeats = quick ? 1 : 3;
  const std::int64_t scale = quick ? 10 : 1;
  fmt::print("{:<44} {:>10} {:>14} {:>14} {:>9}\n", "workload", "devices", "dev/s 1 thr",
             "dev/s 2 thr", "speedup");

  SimulationRequest drift;
  drift.model = "pcm-drift";
  drift.devices = 1'000'000 / scale;
  drift.seed = 1;
  drift.assignments = {"n_times=10"};
  drift.show_progress = false;
  report("pcm-drift: drift + read noise, 10 reads", drift.devices, drift, repeats);

  SimulationRequest cryst;
  cryst.model = "pcm-crystallization";
  cryst.devices = 10'000 / scale;
  cryst.seed = 1;
  cryst.assignments = {"pulses=100", "cycles=1"};
  cryst.show_progress = false;
  report("pcm-crystallization: 100 partial-SET pulses", cryst.devices, cryst, repeats);

  SimulationRequest mem;
  mem.model = "memristor";
  mem.devices = 10'000 / scale;
  mem.seed = 1;
  mem.show_progress = false;
  report("memristor: default pulse train", mem.devices, mem, repeats);
  return 0;
}
