// Running a campaign: its trials in parallel, one per thread, dynamically scheduled, each
// single-threaded, with every data set loaded once and shared read-only. Each finished trial
// is committed to the results file at once and atomically (a copy of the file plus the trial,
// renamed over it), so a SIGKILL at any moment leaves the last complete file and loses only
// the trials in flight; --resume runs what the file lacks. Format: docs/campaigns.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "campaign/campaign.hpp"
#include "core/mpi.hpp"

namespace memcarlo::campaign {

// The results file's identity.
inline constexpr const char* kResultsFormat = "memcarlo-campaign-results";
inline constexpr std::int64_t kResultsVersion = 1;

// A deterministic slice of the trials, for job arrays: those with id % count == index.
struct Shard {
  std::int64_t index = 0, count = 1;
};

// "i/N" with 0 <= i < N; InputError naming the text otherwise (3/2, 1/0, x).
Shard parse_shard(const std::string& text);

// The trial ids of a shard, ascending.
std::vector<std::int64_t> shard_trials(const Campaign& campaign, Shard shard);

struct RunOptions {
  bool resume = false;  // continue the results file at the output path (if there is one)
  bool show_progress = true;
  Shard shard;
  std::string command;  // the command line, echoed into the file
  // Under MPI (more than one rank): every rank calls run_campaign; rank 0 checks and writes the
  // results file and hands trials out one at a time, each rank runs threads_per_rank at once.
  const mpi::Session* mpi = nullptr;
  int threads_per_rank = 1;
};

// Counts of rank 0 (other ranks return an empty report).
struct RunReport {
  std::int64_t trials = 0;   // in the shard
  std::int64_t skipped = 0;  // already in the file (--resume)
  std::int64_t completed = 0, diverged = 0, failed = 0;
  double seconds = 0;
};

// Runs the trials of the shard that the file at `out` lacks and commits each one. Without
// resume, `out` must not exist (a campaign's results are never overwritten); with resume it
// must be this campaign's (same config hash and shard), or not exist yet. A failed trial (an error inside its
// run) is recorded with its message and run again by the next --resume; a diverged one is a
// result and is kept.
RunReport run_campaign(const Campaign& campaign, const std::string& out, const RunOptions& options);

struct MergeReport {
  std::int64_t trials = 0;   // of the campaign
  std::int64_t present = 0;  // in the merged file
};

// Joins the results files of shards of one campaign (same config hash, same shard count,
// distinct shards) into `out`, trials in id order. The merged file is the campaign's as one run
// would have written it (shard 0/1): --resume on it runs whatever trials no shard finished.
MergeReport merge_shards(const std::vector<std::string>& shards, const std::string& out,
                         const std::string& command);

// Reads the campaign back from a results file (the echoed campaign file, checked again).
Campaign campaign_of_results(const std::string& path);

// The dry run: every point with its trial ids and values, and an estimate of the time from a
// short probe of point 0's run (a few training batches and test samples) on this machine.
std::string dry_run(const Campaign& campaign, Shard shard, int threads, bool probe);

}  // namespace memcarlo::campaign
