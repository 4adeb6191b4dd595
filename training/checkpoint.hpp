// Kill-safe training runs. `memcarlo train` keeps the state of every replica at the end of its
// last finished epoch in "<results>.checkpoint" beside the results file, rewritten atomically
// (h5::OutputFile: a temporary file renamed over the old one) after each epoch of any replica,
// and removed once the results are written. `memcarlo train --resume` continues from it.
//
// Why the state below is enough for results bitwise identical to an uninterrupted run: every
// random draw of a replica comes from a counter-based stream keyed by (seed, replica, epoch or
// step) (trainer.cpp), the initial weights and feedback matrices are redrawn from their streams
// on resume and then overwritten by the saved tensors, and the kernels are deterministic. What
// a replica carries from one epoch to the next is its tensors (parameters, batch-norm running
// statistics), its optimizer's moments, the step and evaluation counters that key its streams,
// the feedback readout's counts and its per-epoch records.
//
// Not yet covered: runs on analog tiles (device states, pending pulses, pulse statistics) and
// drifting arrays; memcarlo train writes no checkpoint for them and refuses --resume.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "training/state.hpp"
#include "training/trainer.hpp"

namespace memcarlo::training {

// One replica at the end of an epoch (or where it stopped, diverged).
struct ReplicaCheckpoint {
  std::vector<EpochRecord> epochs;  // the finished epochs' records
  std::uint64_t step = 0;           // training steps taken (keys the next batch's stream)
  std::uint64_t eval_passes = 0;    // evaluation passes taken (keys their noise)
  std::int64_t samples_trained = 0;
  double train_seconds = 0, seconds = 0;  // wall time so far (not part of the identity)
  bool diverged = false;
  std::string status = "completed";
  StateArchive state;  // "network/...", "optimizer/...", "feedback_readout/..."
};

// The checkpoint of one run: its identity (the run's config and model as echoed into the
// results file) and the latest state of each replica.
class Checkpoint {
 public:
  Checkpoint(std::string path, std::string config_text, std::string model_toml,
             std::size_t replicas);

  const std::string& path() const { return path_; }
  // Reads the checkpoint file at path() if there is one (returns false if not). Errors (one
  // line, naming the file): not a checkpoint, a damaged one, another run's (the first line of
  // the config that differs is named), another replica count.
  bool load();
  // The state saved for replica i, null if none.
  const ReplicaCheckpoint* saved(std::size_t replica) const;
  // Keeps replica i's state and rewrites the file atomically. Thread-safe: replicas on other
  // threads call it at the ends of their epochs.
  void save(std::size_t replica, ReplicaCheckpoint state);
 private:
  void load_unchecked();
  void write_locked() const;

  std::string path_, config_text_, model_toml_;
  std::vector<std::optional<ReplicaCheckpoint>> replicas_;
  mutable std::mutex mutex_;
};

// The checkpoint path of a results file: "<results>.checkpoint".
std::string checkpoint_path(const std::string& results_path);
// Deletes a checkpoint (once the results are written); FileError if it exists and cannot be.
void remove_checkpoint(const std::string& path);

}  // namespace memcarlo::training
