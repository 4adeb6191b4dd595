#include "core/parallel.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace memcarlo {

#if defined(_OPENMP)
int max_threads() { return omp_get_max_threads(); }
int thread_index() { return omp_get_thread_num(); }
void set_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}
#else
int max_threads() { return 1; }
int thread_index() { return 0; }
void set_threads(int) {}
#endif

}  // namespace memcarlo
