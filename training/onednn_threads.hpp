// oneDNN as Debian builds it runs on the OpenMP runtime: outside an active parallel region a
// primitive or dnnl_sgemm splits its work over omp_get_max_threads() threads. Parallelism
// belongs to the replicas, so every oneDNN call here runs inside a OneThread scope, which sets
// the calling task's OpenMP thread count to one and restores it on exit (the setting is per
// OpenMP task, so replicas running concurrently do not see each other's). One thread also
// makes each product and convolution compute in one fixed order: same bits for any --threads.
#pragma once

#include <omp.h>

namespace memcarlo::training {

class OneThread {
 public:
  OneThread() : saved_(omp_get_max_threads()) {
    if (saved_ != 1) omp_set_num_threads(1);
  }
  ~OneThread() {
    if (saved_ != 1) omp_set_num_threads(saved_);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int saved_;
};

}  // namespace memcarlo::training
