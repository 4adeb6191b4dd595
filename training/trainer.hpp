// `memcarlo train`: a run of network training described by one config (a RUN.toml [train]
// table or command-line flags), replicated over seeds in parallel, written to a results HDF5.
// Replica i draws everything (initial weights, feedback matrices, shuffles, augmentation,
// dropout) from streams keyed by (seed, i), and runs single-threaded on one thread, so its
// results do not depend on how many threads run the replicas.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "data/datasets.hpp"
#include "training/network.hpp"
#include "training/optimizer.hpp"

namespace memcarlo::h5 {
class Group;
}

namespace memcarlo::training {

struct TrainConfig {
  // model
  std::string model = "lenet5";
  std::string widths = "800,800";  // mlp hidden widths
  std::string activation = "tanh";  // mlp activation
  double width = 1.0;               // channel / width multiplier
  // data
  std::string dataset = "mnist";
  std::string data_dir;  // "" = $MEMCARLO_DATA_DIR or ~/.cache/memcarlo/datasets
  bool augment = false;  // CIFAR-10: random crop (pad 4) and horizontal flip
  std::int64_t train_samples = 0;  // 0 = all
  std::int64_t test_samples = 0;   // 0 = all
  std::string init_weights;        // a memcarlo-train results file ("" = random initialisation)
  std::int64_t init_replica = 0;   // its replica whose weights start the run
  // learning rule
  std::string rule = "bp";  // bp, dfa, hybrid
  std::string block_rules;  // hybrid: one of bp/dfa/frozen per block, comma separated
  std::string feedback = "per_layer";     // per_layer, merged or shared
  std::string feedback_source = "gaussian";
  // optimisation
  std::string optimizer = "sgd";  // sgd or adam
  std::int64_t epochs = 3;
  std::int64_t batch = 64;
  double lr = 0.05;
  double momentum = 0.9;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
  std::string schedule = "constant";  // constant, step, cosine
  std::int64_t step_epochs = 1;       // step schedule: epochs between decays
  double gamma = 0.1;                 // step schedule: decay factor
  double max_loss = 1e3;              // a batch loss above this (or not finite) stops a replica
  // run
  std::int64_t seed = 1;
  std::int64_t replicas = 1;
  bool save_weights = true;

  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"model", "", "mlp, lenet5, vgg16, or the path of a model TOML file"}, model);
    v(ParamInfo{"widths", "", "mlp hidden widths, comma separated"}, widths);
    v(ParamInfo{"activation", "", "mlp activation: tanh or relu"}, activation);
    v(ParamInfo{"width", "1", "multiplier of conv channels and hidden dense widths (VGG-16 at 1/4: 0.25)"},
      width);
    v(ParamInfo{"dataset", "", "mnist, fashion-mnist or cifar10"}, dataset);
    v(ParamInfo{"data_dir", "", "dataset cache ('' = $MEMCARLO_DATA_DIR or ~/.cache/memcarlo/datasets)"},
      data_dir);
    v(ParamInfo{"augment", "", "CIFAR-10 random crop (pad 4) and horizontal flip"}, augment);
    v(ParamInfo{"train_samples", "1", "use the first N training samples (0 = all)"}, train_samples);
    v(ParamInfo{"test_samples", "1", "use the first N test samples (0 = all)"}, test_samples);
    v(ParamInfo{"init_weights", "", "start from the saved weights of a `memcarlo train` results file (same model; '' = random init)"}, init_weights);
    v(ParamInfo{"init_replica", "", "init_weights: the replica of that file whose weights are loaded"}, init_replica);
    v(ParamInfo{"rule", "", "bp (backprop), dfa (direct feedback alignment) or hybrid"}, rule);
    v(ParamInfo{"block_rules", "", "hybrid: bp, dfa or frozen per block (a block starts at each dense/conv2d layer)"},
      block_rules);
    v(ParamInfo{"feedback", "", "dfa feedback matrices: per_layer, merged (one array stacking every block's B) or shared (one array of the largest block's rows, read in part by every block; Lu 2020)"}, feedback);
    v(ParamInfo{"feedback_source", "", "where B comes from: gaussian, or pcm (PCM cells after identical partial-SET pulses; the [pcm-feedback] table)"}, feedback_source);
    v(ParamInfo{"optimizer", "", "sgd (with momentum) or adam (torch.optim.Adam: L2 weight decay, no amsgrad)"}, optimizer);
    v(ParamInfo{"epochs", "1", "training epochs"}, epochs);
    v(ParamInfo{"batch", "1", "mini-batch size"}, batch);
    v(ParamInfo{"lr", "1", "learning rate (SGD or Adam)"}, lr);
    v(ParamInfo{"momentum", "1", "SGD momentum (PyTorch convention; adam ignores it)"}, momentum);
    v(ParamInfo{"weight_decay", "1", "L2 weight decay on weights (not biases or batch-norm parameters)"},
      weight_decay);
    v(ParamInfo{"beta1", "1", "adam: decay of the gradient's running mean (torch default 0.9)"}, beta1);
    v(ParamInfo{"beta2", "1", "adam: decay of the squared gradient's running mean (torch default 0.999)"}, beta2);
    v(ParamInfo{"eps", "1", "adam: added to the root of the second moment (torch default 1e-8)"}, eps);
    v(ParamInfo{"schedule", "", "learning-rate schedule: constant, step or cosine (per epoch)"}, schedule);
    v(ParamInfo{"step_epochs", "1", "step schedule: epochs between decays"}, step_epochs);
    v(ParamInfo{"gamma", "1", "step schedule: decay factor"}, gamma);
    v(ParamInfo{"max_loss", "1", "a batch loss above this, or not finite, stops the replica as diverged"},
      max_loss);
    v(ParamInfo{"seed", "", "master seed; replica i uses the streams of (seed, i)"}, seed);
    v(ParamInfo{"replicas", "1", "independent replicas (seeds), run in parallel one per thread"}, replicas);
    v(ParamInfo{"save_weights", "", "write the final weights of every replica"}, save_weights);
  }
};

// Checks every value and its combinations; errors name the key.
void validate(const TrainConfig& config);

// The rule of every block of a network of `blocks` blocks under the config's rule.
std::vector<BlockRule> block_rules(const TrainConfig& config, std::size_t blocks);
// The run's network (model, width, the data set's sample shape from its spec; nothing loaded)
// with its block rules set, uninitialised: for what depends on the structure alone.
Network run_network(const TrainConfig& config);

// --- Hardware a run trains on ----------------------------------------------------------------
// The digital engine trains on its own; a run may add simulated hardware through these hooks
// (analog/ implements them: layers on device arrays, the rules that update them, measurements
// after training). training/ never sees a device.

// What a replica's hardware adds to its record in the results file.
class ReplicaExtras {
 public:
  virtual ~ReplicaExtras() = default;
  // Writes datasets and groups into the replica's group of the results file.
  virtual void write(h5::Group& replica_group) const = 0;
  // One line for the console after the run ("" for none).
  virtual std::string summary() const = 0;
};

// The hardware of one replica, made by Hardware::attach; used by that replica's thread only.
class ReplicaHardware {
 public:
  virtual ~ReplicaHardware() = default;
  // The parameters it updates itself; the digital optimizer leaves them alone.
  virtual std::vector<const Parameter*> owned_parameters() const = 0;
  // Updates the owned parameters from their gradients (after Network::backward of the
  // training pass `pass`), at learning rate lr.
  virtual void step(double lr, const Pass& pass) = 0;
  // After training: measurements of the trained network (test_accuracy evaluates it as it is
  // on the test samples of the run); returns what goes into the results file.
  virtual std::shared_ptr<const ReplicaExtras> finish(
      Network& net, const std::function<double()>& test_accuracy) = 0;
};

class Hardware {
 public:
  virtual ~Hardware() = default;
  // Called once per replica, after the network is built, initialised and given its rules and
  // feedback; may replace layers (Network::replace_layer). `optimizer` is the run's optimizer,
  // which computes the updates the hardware applies.
  virtual std::unique_ptr<ReplicaHardware> attach(Network& net, std::uint64_t seed,
                                                  std::uint64_t replica,
                                                  const OptimizerConfig& optimizer) const = 0;
  // The hardware's config as TOML tables, echoed into the results file after [train].
  virtual std::string config_toml() const = 0;
  // Checks the hardware against the run's network before any replica starts (e.g. that the
  // layers it names exist); throws InputError.
  virtual void check(Network& net) const = 0;
};

// One epoch's record of one replica.
struct EpochRecord {
  double train_loss = 0, train_accuracy = 0;  // running means over the epoch's batches
  double test_loss = 0, test_accuracy = 0;
  double lr = 0, seconds = 0;
};

struct ReplicaResult {
  std::vector<EpochRecord> epochs;
  bool diverged = false;
  std::string status = "completed";  // or why it stopped
  double final_test_accuracy = 0;
  double seconds = 0;        // wall time of the replica
  double train_seconds = 0;  // of its training steps only (no evaluation)
  std::int64_t samples_trained = 0;
  // Final parameters, in network order: name "layer03.weight" etc. (empty unless saved).
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  std::vector<std::vector<std::size_t>> weight_shapes;
  std::shared_ptr<const ReplicaExtras> extras;  // from the hardware, if any
  FeedbackStats feedback;  // the feedback array drawn (source empty without dfa blocks)
};

struct TrainResult {
  TrainConfig config;
  std::string model_toml;  // the model as it ran
  std::string network_summary;
  std::size_t parameters = 0;
  std::vector<ReplicaResult> replicas;
  std::string hardware_config_toml;  // Hardware::config_toml(), "" without hardware
  double wall_seconds = 0;
  double samples_per_second = 0;  // all replicas' training samples over the wall time
  // Records of the whole run added by the caller (e.g. the cost model), each writing its own
  // group at the root of the results file.
  std::vector<std::shared_ptr<const ReplicaExtras>> run_records;
  // Replicas continued from a checkpoint (TrainOptions::resume), and the epochs they had done.
  std::size_t resumed_replicas = 0;
  std::int64_t resumed_epochs = 0;
};

// The simulated time of training step k (Pass::time_s): start_s + k seconds_per_batch. Set by
// a run whose arrays drift ([drift] table: t_wait, time_per_batch); 0 throughout otherwise.
struct SimulatedClock {
  double start_s = 0, seconds_per_batch = 0;
  double at(std::uint64_t step) const { return start_s + static_cast<double>(step) * seconds_per_batch; }
};

struct TrainOptions {
  bool show_progress = true;
  const Hardware* hardware = nullptr;  // null: the digital engine alone
  // Source of the dfa feedback matrices; null: gaussian. Must be named as config.feedback_source.
  const FeedbackSource* feedback = nullptr;
  // The run's data set, loaded once by the caller and shared read-only (a campaign's trials);
  // null: the run loads config.dataset itself.
  const Dataset* dataset = nullptr;
  SimulatedClock clock;
  // More of the run's tables (TOML), echoed into the results file's config after the rest.
  std::string extra_config_toml;
  // Kill-safe runs (training/checkpoint.hpp): the checkpoint file rewritten at the end of every
  // epoch ("" = none; not with hardware or drifting feedback arrays, whose state it does not
  // hold yet), and whether to continue from it when it exists. run_training leaves the file in
  // place: the caller removes it once the results are safely written.
  std::string checkpoint;
  bool resume = false;
};

TrainResult run_training(const TrainConfig& config, const TrainOptions& options = {});

// The run's config as echoed into the results file (and a checkpoint): [train] and the
// hardware's tables.
std::string run_config_text(const TrainResult& result);

// Writes the results HDF5 atomically: per-epoch curves and final accuracy per replica, wall
// time, throughput, the echoed config and model, and (if saved) the final weights.
void write_results(const std::string& path, const TrainResult& result, const std::string& command);

// One replica's record (curves, status, hardware extras, weights if saved) into `group`: the
// layout of /replicas/NNN, shared with a campaign's trials.
void write_replica(h5::Group& group, const ReplicaResult& replica, std::int64_t seed,
                   std::int64_t index);

}  // namespace memcarlo::training
