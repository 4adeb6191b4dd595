// OpenMP at the outer level (devices, trials, resamples) behind three helpers that also
// build without OpenMP. parallel_for carries the first exception out of the parallel region,
// which OpenMP itself would turn into std::terminate.
#pragma once

#include <cstdint>
#include <exception>
#include <mutex>

namespace memcarlo {

int max_threads();
int thread_index();
// Sets the number of threads for later parallel regions (n <= 0 leaves the default).
void set_threads(int n);

// How iterations are handed to threads: guided (large chunks first, for many similar items) or
// dynamic (one at a time, for few items of very different cost: campaign trials).
enum class Schedule { guided, dynamic };

// Calls body(i) for i in [0, n), in any order on any thread. body must write only to slots owned by
// i; reductions are done afterwards, in index order, by the caller.
// If several indices throw, the exception of the lowest index is rethrown, so the error a
// user sees does not depend on the thread count or schedule.
template <class Body>
void parallel_for(std::int64_t n, Body&& body, Schedule schedule = Schedule::guided) {
  std::exception_ptr error;
  std::int64_t error_index = n;
  std::mutex error_mutex;
  auto run = [&](std::int64_t i) {
    try {
      body(i);
    } catch (...) {
      std::lock_guard lock(error_mutex);
      if (i < error_index) {
        error = std::current_exception();
        error_index = i;
      }
    }
  };
  if (schedule == Schedule::dynamic) {
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (std::int64_t i = 0; i < n; ++i) run(i);
  } else {
#if defined(_OPENMP)
#pragma omp parallel for schedule(guided)
#endif
    for (std::int64_t i = 0; i < n; ++i) run(i);
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace memcarlo
