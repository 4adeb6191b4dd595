// Distribution of independent tasks over MPI ranks (built with -DMEMCARLO_MPI=ON; without it
// every function here works for a single process and Session refuses to start).
//
// The pattern is a dynamic work pool: rank 0 owns the list of tasks and the results; every
// rank (rank 0 included) runs `threads` worker threads that ask rank 0 for one task at a time,
// so fast and slow tasks balance over ranks as they do over threads with a dynamic schedule.
// Only each process's main thread calls MPI (MPI_THREAD_FUNNELED): it relays requests and
// results between its workers and rank 0 and sleeps when there is nothing to do, so a rank
// costs one core per worker thread. A task's result travels as bytes (the caller serializes,
// e.g. as an HDF5 file image), so any result type can be shipped without an MPI datatype.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace memcarlo::mpi {

// Whether this memcarlo was built with MPI.
bool built();

// The process count and this process's rank as an MPI launcher (mpirun, srun) announces them
// in the environment, before MPI starts; 1 and 0 for a program started directly.
int launched_size();
int launched_rank();

// An error of one rank's own work, printed by that rank. Errors that every rank meets alike
// (a bad campaign file) are printed by rank 0 alone.
class RankError : public Error {
 public:
  using Error::Error;
};

// MPI for the life of the object (MPI_Init_thread with MPI_THREAD_FUNNELED .. MPI_Finalize).
// Throws InputError when memcarlo was built without MPI.
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Rank 0's text, on every rank (a collective call: every rank must make it).
  std::string broadcast(const std::string& text) const;
  // Ends the whole job after an error it cannot recover from (MPI_Abort): the other ranks may
  // be waiting for this one. Prints `message` first.
  [[noreturn]] void abort(const std::string& message) const;

 private:
  int rank_ = 0, size_ = 1;
};

using Bytes = std::vector<unsigned char>;

struct WorkPool {
  // Rank 0 only: the next task, or nullopt when none is left.
  std::function<std::optional<std::int64_t>()> next;
  // Every rank, on its worker threads, concurrently: runs one task and returns its result.
  std::function<Bytes(std::int64_t)> run;
  // Rank 0 only: takes one result, from any rank.
  std::function<void(const Bytes&)> accept;
};

// Runs the pool's tasks on `threads` worker threads per rank until rank 0 has none left, and
// returns once every result handed out has been accepted (rank 0) or sent (other ranks). Every
// rank of the session must call it. next and accept are called under one lock, never
// concurrently. If run or accept throws on rank 0, no further task is handed out (tasks in
// flight still finish, their results are dropped) and the first error is rethrown at the end;
// if run throws on another rank, that worker stops and the error is rethrown there as a
// RankError at the end, while the other workers go on. A failure of the message loop itself
// (out of memory for a result, a stray message) aborts the job (Session::abort).
void distribute(const Session& session, int threads, const WorkPool& pool);

}  // namespace memcarlo::mpi
