#include "core/mpi.hpp"

#include <chrono>
#include <climits>
#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#if MEMCARLO_MPI
#include <mpi.h>
#endif

#include "core/parallel.hpp"

namespace memcarlo::mpi {

namespace {

// The first of these that the launcher sets (Open MPI, then the PMI of MPICH and Slurm).
int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* name : names)
    if (const char* v = std::getenv(name); v && *v) return std::atoi(v);
  return fallback;
}

}  // namespace

int launched_size() { return env_int({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"}, 1); }
int launched_rank() { return env_int({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"}, 0); }

#if !MEMCARLO_MPI

bool built() { return false; }

Session::Session() {
  throw InputError(fmt::format(
      "started by an MPI launcher with {} processes, but this memcarlo was built without MPI: "
      "configure with -DMEMCARLO_MPI=ON, or split the campaign with --shard I/N",
      launched_size()));
}

Session::~Session() = default;

std::string Session::broadcast(const std::string& text) const { return text; }

void Session::abort(const std::string& message) const {
  fmt::print(stderr, "memcarlo: error: {}\n", message);
  std::exit(1);
}

void distribute(const Session&, int, const WorkPool&) {
  throw InputError("this memcarlo was built without MPI");
}

#else

bool built() { return true; }

Session::Session() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw Error("MPI: the library does not support MPI_THREAD_FUNNELED");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  // A launcher that announced K processes while MPI started this one alone (an MPI library
  // that does not speak the launcher's protocol): K copies would each run everything.
  if (launched_size() > 1 && size_ != launched_size()) {
    const int announced = launched_size(), started = size_;
    MPI_Finalize();
    throw InputError(fmt::format("the MPI launcher announced {} processes, but MPI started {} in "
                                 "this job: memcarlo's MPI library does not match the launcher",
                                 announced, started));
  }
}

Session::~Session() { MPI_Finalize(); }

std::string Session::broadcast(const std::string& text) const {
  std::uint64_t size = text.size();
  MPI_Bcast(&size, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
  std::string out = rank_ == 0 ? text : std::string(size, '\0');
  if (size > static_cast<std::uint64_t>(INT_MAX)) throw Error("MPI: broadcast text too large");
  if (size > 0) MPI_Bcast(out.data(), static_cast<int>(size), MPI_CHAR, 0, MPI_COMM_WORLD);
  return out;
}

void Session::abort(const std::string& message) const {
  fmt::print(stderr, "memcarlo: error: MPI rank {}: {}\n", rank_, message);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);  // MPI_Abort does not return
}

namespace {

// Messages between a rank's main thread and rank 0.
enum Tag : int {
  kReady = 1,   // worker -> 0: one of my workers wants a task (no payload)
  kTask = 2,    // 0 -> worker: the task id, or kNoTask
  kResult = 3,  // worker -> 0: one task's result (bytes)
  kDone = 4,    // worker -> 0: all my workers have finished and every result is sent
};
constexpr std::int64_t kNoTask = -1;
constexpr auto kIdle = std::chrono::milliseconds(1);

// What a rank's main thread and its worker threads share.
struct Local {
  std::mutex mutex;
  std::condition_variable task_arrived;
  int requests = 0;               // workers waiting for a task, not yet asked of rank 0
  std::deque<std::int64_t> tasks; // answers of rank 0, not yet taken by a worker
  std::deque<Bytes> results;      // results not yet sent to rank 0
  int running = 0;                // worker threads that have not finished
  std::exception_ptr error;       // the first error of a worker
};

void record(Local& local, std::exception_ptr e) {
  std::lock_guard lock(local.mutex);
  if (!local.error) local.error = e;
}

// Rank 0's main thread: answers requests, takes results, until every other rank is done and
// rank 0's own workers have finished.
void serve(const Session& session, Local& local, std::mutex& pool_mutex, bool& stop,
           std::int64_t& handed_out, std::int64_t& accepted, const WorkPool& pool) {
  int ranks_running = session.size() - 1;
  // Task replies go out non-blocking (a blocking send could wait on a rank that is itself
  // blocked sending a large result to this loop); each buffer lives until its send completes.
  std::deque<std::int64_t> reply_buffers;
  std::deque<MPI_Request> replies;
  auto retire_replies = [&] {
    while (!replies.empty()) {
      int done = 0;
      MPI_Test(&replies.front(), &done, MPI_STATUS_IGNORE);
      if (!done) break;
      replies.pop_front();
      reply_buffers.pop_front();
    }
  };
  for (;;) {
    retire_replies();
    int flag = 0;
    MPI_Status status;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
    if (flag) {
      const int source = status.MPI_SOURCE;
      if (status.MPI_TAG == kReady) {
        MPI_Recv(nullptr, 0, MPI_BYTE, source, kReady, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        std::int64_t task = kNoTask;
        {
          std::lock_guard lock(pool_mutex);
          if (!stop) {
            try {
              if (const auto next = pool.next()) {
                task = *next;
                ++handed_out;
              }
            } catch (...) {
              stop = true;
              record(local, std::current_exception());
            }
          }
        }
        reply_buffers.push_back(task);
        replies.emplace_back();
        MPI_Isend(&reply_buffers.back(), 1, MPI_INT64_T, source, kTask, MPI_COMM_WORLD,
                  &replies.back());
      } else if (status.MPI_TAG == kResult) {
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        Bytes bytes(static_cast<std::size_t>(count));
        MPI_Recv(bytes.data(), count, MPI_BYTE, source, kResult, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        std::lock_guard lock(pool_mutex);
        if (!stop) {
          try {
            pool.accept(bytes);
            ++accepted;
          } catch (...) {
            stop = true;
            record(local, std::current_exception());
          }
        }
      } else if (status.MPI_TAG == kDone) {
        MPI_Recv(nullptr, 0, MPI_BYTE, source, kDone, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        --ranks_running;
      } else {
        throw Error(fmt::format("MPI: unexpected message tag {} from rank {}", status.MPI_TAG, source));
      }
      continue;
    }
    {
      std::lock_guard lock(local.mutex);
      if (ranks_running == 0 && local.running == 0) {
        for (MPI_Request& r : replies) MPI_Wait(&r, MPI_STATUS_IGNORE);
        return;
      }
    }
    std::this_thread::sleep_for(kIdle);
  }
}

// Another rank's main thread: asks rank 0 for a task for each waiting worker, sends results,
// hands answers to the workers, and says kDone once its workers have finished.
void relay(Local& local) {
  for (;;) {
    int asks = 0;
    std::deque<Bytes> results;
    bool finished = false;
    {
      std::lock_guard lock(local.mutex);
      asks = local.requests;
      local.requests = 0;
      results.swap(local.results);
      finished = local.running == 0;
    }
    // Results before requests and before kDone: rank 0 receives one rank's messages in the
    // order they were sent, so it has every result of a rank when it reads that rank's kDone.
    for (const Bytes& r : results)
      MPI_Send(r.data(), static_cast<int>(r.size()), MPI_BYTE, 0, kResult, MPI_COMM_WORLD);
    for (int i = 0; i < asks; ++i) MPI_Send(nullptr, 0, MPI_BYTE, 0, kReady, MPI_COMM_WORLD);
    if (finished) {
      MPI_Send(nullptr, 0, MPI_BYTE, 0, kDone, MPI_COMM_WORLD);
      return;
    }
    int flag = 0;
    MPI_Iprobe(0, kTask, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      std::int64_t task = kNoTask;
      MPI_Recv(&task, 1, MPI_INT64_T, 0, kTask, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      std::lock_guard lock(local.mutex);
      local.tasks.push_back(task);
      local.task_arrived.notify_one();
    } else if (asks == 0 && results.empty()) {
      std::this_thread::sleep_for(kIdle);
    }
  }
}

}  // namespace

void distribute(const Session& session, int threads, const WorkPool& pool) {
  const bool root = session.rank() == 0;
  Local local;
  std::mutex pool_mutex;  // rank 0: next and accept
  bool stop = false;
  std::int64_t handed_out = 0, accepted = 0;

  // A worker's next task: from the pool on rank 0, through the main thread elsewhere.
  auto take = [&]() -> std::optional<std::int64_t> {
    if (root) {
      std::lock_guard lock(pool_mutex);
      if (stop) return std::nullopt;
      auto next = pool.next();
      if (next) ++handed_out;
      return next;
    }
    std::unique_lock lock(local.mutex);
    ++local.requests;
    local.task_arrived.wait(lock, [&] { return !local.tasks.empty(); });
    const std::int64_t task = local.tasks.front();
    local.tasks.pop_front();
    if (task == kNoTask) return std::nullopt;
    return task;
  };
  auto work = [&] {
    set_threads(1);  // a task is single-threaded: its own parallel regions get one thread
    try {
      while (const auto task = take()) {
        Bytes result = pool.run(*task);
        if (root) {
          std::lock_guard lock(pool_mutex);
          if (stop) break;
          pool.accept(result);
          ++accepted;
        } else {
          if (result.size() > static_cast<std::size_t>(INT_MAX))
            throw Error(fmt::format("task {}: result of {} bytes is too large to send", *task, result.size()));
          std::lock_guard lock(local.mutex);
          local.results.push_back(std::move(result));
        }
      }
    } catch (...) {
      if (root) {
        std::lock_guard lock(pool_mutex);
        stop = true;
      }
      record(local, std::current_exception());
    }
    std::lock_guard lock(local.mutex);
    --local.running;
  };

  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) {
    {
      std::lock_guard lock(local.mutex);
      ++local.running;
    }
    try {
      workers.emplace_back(work);
    } catch (...) {  // no such thread: run with those that started (none: take no task)
      std::lock_guard lock(local.mutex);
      --local.running;
      if (!local.error) local.error = std::current_exception();
      break;
    }
  }
  try {
    if (root)
      serve(session, local, pool_mutex, stop, handed_out, accepted, pool);
    else
      relay(local);
  } catch (const std::exception& e) {
    // Workers may be waiting for tasks this loop will never relay, and other ranks for this
    // one: nothing can finish cleanly.
    session.abort(fmt::format("message loop: {}", e.what()));
  }
  for (auto& w : workers) w.join();
  if (local.error) {
    if (root) std::rethrow_exception(local.error);
    try {
      std::rethrow_exception(local.error);
    } catch (const std::exception& e) {
      throw RankError(fmt::format("MPI rank {}: {}", session.rank(), e.what()));
    }
  }
  if (root && !stop && accepted < handed_out)
    throw Error(fmt::format("{} of the {} tasks handed to other MPI ranks returned no result (their "
                            "ranks printed why)",
                            handed_out - accepted, handed_out));
}

#endif

}  // namespace memcarlo::mpi
