#include "training/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/rng.hpp"
#include "core/version.hpp"
#include "data/datasets.hpp"
#include "data/hdf5.hpp"
#include "training/checkpoint.hpp"
#include "training/loss.hpp"
#include "training/model.hpp"
#include "training/optimizer.hpp"

namespace memcarlo::training {

namespace {

constexpr const char* kResultsFormat = "memcarlo-train";
// 2: optional hardware records in each replica group (analog/, docs/training.md) and the
// hardware's tables after [train] in `config`.
constexpr std::int64_t kResultsVersion = 2;
constexpr std::size_t kEvalBatch = 500;

namespace streams {
constexpr std::uint64_t init = stream_id("train_init");
constexpr std::uint64_t feedback = stream_id("train_feedback");
constexpr std::uint64_t shuffle = stream_id("train_shuffle");
constexpr std::uint64_t batch = stream_id("train_batch");
}  // namespace streams

std::vector<BlockRule> parse_rules(const std::string& text) {
  std::vector<BlockRule> rules;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) rules.push_back(parse_block_rule(item));
  return rules;
}

// Every parameter and batch-norm buffer of the network, in network order, under the name it has
// in a results file's weights group ("layer03_dense.weight", "layer02_batchnorm.running_mean").
template <class F>
void for_each_saved_tensor(Network& net, F&& f) {
  static constexpr const char* kBufferNames[] = {"running_mean", "running_var"};
  for (std::size_t i = 0; i < net.layers(); ++i) {
    Layer& layer = net.layer(i);
    for (auto& p : layer.parameters())
      f(fmt::format("layer{:02}_{}.{}", i + 1, layer.kind(), p.name), p.value);
    std::size_t k = 0;
    for (auto& t : layer.buffers()) {
      f(fmt::format("layer{:02}_{}.{}", i + 1, layer.kind(), k < 2 ? kBufferNames[k] : "buffer"), t);
      ++k;
    }
  }
}

// The network's tensors under "network/<saved name>", for a checkpoint, and back.
void save_network_state(Network& net, StateArchive& archive) {
  for_each_saved_tensor(net, [&](const std::string& name, Tensor& t) {
    archive.arrays["network/" + name] = t.data;
  });
}

void restore_network_state(Network& net, const StateArchive& archive) {
  for_each_saved_tensor(net, [&](const std::string& name, Tensor& t) {
    const std::vector<float>& saved =
        archive.array("network/" + name, static_cast<std::int64_t>(t.data.size()));
    std::copy(saved.begin(), saved.end(), t.data.begin());
  });
}

std::string shape_text(const std::vector<std::size_t>& shape) {
  return fmt::format("({})", fmt::join(shape, ", "));
}

// The weights of replica c.init_replica of the results file c.init_weights, checked against
// the network `net` (the run's model): the same tensors, by name, with the same shapes.
using SavedWeights = std::map<std::string, NdArray<float>>;
SavedWeights read_initial_weights_unchecked(const TrainConfig& c, Network& net) {
  const std::string& path = c.init_weights;
  const h5::Group root = h5::open_file(path);
  const std::string format = root.has_attr("format") ? root.read_attr_string("format") : "";
  MC_VALIDATE(format == kResultsFormat,
              "init_weights = '{}': not a results file of memcarlo train (format '{}')", path, format);
  const std::string replica = fmt::format("{:03}", c.init_replica);
  MC_VALIDATE(root.has("replicas") && root.open_group("replicas").has(replica),
              "init_weights = '{}' has no replica {} (init_replica)", path, c.init_replica);
  const h5::Group group = root.open_group("replicas").open_group(replica);
  MC_VALIDATE(group.has("weights"),
              "init_weights = '{}': replica {} has no weights (status: {}; was it run with "
              "save_weights = false?)",
              path, c.init_replica,
              group.has_attr("status") ? group.read_attr_string("status") : "unknown");
  const h5::Group weights = group.open_group("weights");
  SavedWeights saved;
  for (const std::string& name : weights.children()) saved.emplace(name, weights.read_float(name));
  std::size_t matched = 0;
  for_each_saved_tensor(net, [&](const std::string& name, Tensor& t) {
    const auto it = saved.find(name);
    MC_VALIDATE(it != saved.end(),
                "init_weights = '{}' has no {} of shape {}: it was trained on another model", path,
                name, shape_text(t.shape));
    MC_VALIDATE(it->second.shape == t.shape,
                "init_weights = '{}': {} has shape {} in the file but {} in this model", path, name,
                shape_text(it->second.shape), shape_text(t.shape));
    const auto bad = std::find_if(it->second.data.begin(), it->second.data.end(),
                                  [](float v) { return !std::isfinite(v); });
    if (bad != it->second.data.end())
      throw FileError(path, fmt::format("/replicas/{:03}/weights/{}", c.init_replica, name),
                      fmt::format("value {} at index {} is not finite", *bad,
                                  bad - it->second.data.begin()));
    ++matched;
  });
  MC_VALIDATE(matched == saved.size(),
              "init_weights = '{}' holds {} tensors, this model {}: it was trained on another model",
              path, saved.size(), matched);
  return saved;
}

SavedWeights read_initial_weights(const TrainConfig& c, Network& net) {
  return h5::read_guarded(c.init_weights, [&] { return read_initial_weights_unchecked(c, net); });
}

void load_initial_weights(Network& net, const SavedWeights& saved) {
  for_each_saved_tensor(net, [&](const std::string& name, Tensor& t) {
    t.data = saved.at(name).data;
  });
}

ModelSpec model_spec(const TrainConfig& c, std::string& toml_text) {
  if (is_builtin_model(c.model)) {
    toml_text = builtin_model_toml(
        c.model, c.model == "mlp" ? parse_integer_list(c.widths, "widths", 1) : std::vector<std::int64_t>{},
        c.activation);
    return parse_model(toml::parse(toml_text), "model " + c.model);
  }
  const ModelSpec spec = load_model_file(c.model);
  std::ifstream in(c.model);
  std::stringstream text;
  text << in.rdbuf();
  toml_text = text.str();
  return spec;
}

}  // namespace

// The rule of every block for the configured learning rule.
std::vector<BlockRule> block_rules(const TrainConfig& c, std::size_t blocks) {
  if (c.rule == "bp") return std::vector<BlockRule>(blocks, BlockRule::backprop);
  if (c.rule == "dfa") return std::vector<BlockRule>(blocks, BlockRule::dfa);
  auto rules = parse_rules(c.block_rules);
  MC_VALIDATE(rules.size() == blocks,
              "block_rules = '{}' gives {} rules, but the model has {} blocks (one per dense or "
              "conv2d layer)",
              c.block_rules, rules.size(), blocks);
  return rules;
}

Network run_network(const TrainConfig& c) {
  std::string text;
  const ModelSpec spec = model_spec(c, text);
  const DatasetSpec& d = dataset_spec(parse_dataset_id(c.dataset));
  Network net = build_network(spec, {d.channels, d.height, d.width}, d.classes, c.width);
  net.set_rules(block_rules(c, net.blocks()));
  return net;
}

namespace {

Shape sample_shape(const Dataset& d) { return {d.channels, d.height, d.width}; }

std::size_t samples_used(std::int64_t requested, std::size_t available) {
  return requested > 0 ? std::min(static_cast<std::size_t>(requested), available) : available;
}

ScheduleConfig schedule_config(const TrainConfig& c) {
  ScheduleConfig s;
  s.kind = parse_schedule_kind(c.schedule);
  s.lr = c.lr;
  s.step_epochs = static_cast<int>(c.step_epochs);
  s.gamma = c.gamma;
  s.cosine_epochs = static_cast<int>(c.epochs);
  return s;
}

std::string describe(Network& net) {
  std::string s;
  for (std::size_t b = 0; b < net.blocks(); ++b)
    s += fmt::format("{}block {} ({} outputs, rule {})", b ? "; " : "", b + 1,
                     net.block_output_size(b), block_rule_name(net.rules()[b]));
  return s;
}

// Mean loss and accuracy of the network on samples [0, n) of the test split. Each batch is one
// pass with id kEvalPass | eval_passes++ (so hardware noise differs between evaluations).
std::pair<double, double> evaluate(Network& net, const BatchMaker& test, std::size_t n,
                                   std::uint64_t& eval_passes, double time_s) {
  Tensor x;
  std::vector<int> labels;
  std::vector<std::size_t> idx;
  double loss = 0, correct = 0;
  for (std::size_t start = 0; start < n; start += kEvalBatch) {
    const std::size_t count = std::min(kEvalBatch, n - start);
    idx.resize(count);
    for (std::size_t i = 0; i < count; ++i) idx[i] = start + i;
    test(idx, x, labels);
    const Tensor& logits = net.forward(x, Pass{Mode::eval, nullptr, kEvalPass | eval_passes++, time_s});
    loss += softmax_cross_entropy(logits, labels, nullptr) * static_cast<double>(count);
    correct += static_cast<double>(count_correct(logits, labels));
  }
  return {loss / static_cast<double>(n), correct / static_cast<double>(n)};
}

OptimizerConfig optimizer_config_of(const TrainConfig& c) {
  OptimizerConfig o;
  o.kind = parse_optimizer_kind(c.optimizer);
  o.sgd = SgdConfig{c.momentum, c.weight_decay};
  o.adam = AdamConfig{c.beta1, c.beta2, c.eps, c.weight_decay};
  return o;
}

ReplicaResult train_replica(const TrainConfig& c, const ModelSpec& spec, const Dataset& dataset,
                            const Hardware* hardware_spec, const FeedbackSource& feedback,
                            const SavedWeights* initial, const SimulatedClock& clock,
                            Checkpoint* checkpoint, std::uint64_t replica,
                            ProgressReporter& progress) {
  const auto start_time = std::chrono::steady_clock::now();
  const std::uint64_t seed = static_cast<std::uint64_t>(c.seed);
  Network net = build_network(spec, sample_shape(dataset), dataset.classes, c.width);
  RngStream init_rng(seed, replica, streams::init);
  net.initialize(init_rng);
  if (initial) load_initial_weights(net, *initial);
  net.set_rules(block_rules(c, net.blocks()));
  if (c.rule != "bp") {
    RngStream feedback_rng(seed, replica, streams::feedback);
    net.set_feedback(feedback, parse_feedback_layout(c.feedback), feedback_rng);
  }
  const OptimizerConfig optimizer_config = optimizer_config_of(c);
  const std::unique_ptr<ReplicaHardware> hardware =
      hardware_spec ? hardware_spec->attach(net, seed, replica, optimizer_config) : nullptr;
  std::vector<const Parameter*> owned;
  if (hardware) owned = hardware->owned_parameters();
  std::vector<Parameter*> trained;
  for (std::size_t b = 0; b < net.blocks(); ++b)
    if (net.rules()[b] != BlockRule::frozen)
      for (auto* p : net.block_parameters(b))
        if (std::find(owned.begin(), owned.end(), p) == owned.end()) trained.push_back(p);
  const std::unique_ptr<Optimizer> optimizer = make_optimizer(optimizer_config, trained);
  const LrSchedule schedule(schedule_config(c));
  const DatasetId id = parse_dataset_id(c.dataset);
  BatchOptions train_options = standard_batch_options(id, Split::train);
  train_options.random_crop = train_options.horizontal_flip = c.augment;
  const BatchMaker train(dataset, Split::train, train_options);
  const BatchMaker test(dataset, Split::test, standard_batch_options(id, Split::test));
  const std::size_t n_train = samples_used(c.train_samples, dataset.count(Split::train));
  const std::size_t n_test = samples_used(c.test_samples, dataset.count(Split::test));
  const std::size_t B = static_cast<std::size_t>(c.batch);
  const std::size_t batches = n_train / B;  // the last partial batch is dropped, as drop_last

  ReplicaResult r;
  Tensor x, grad;
  std::vector<int> labels;
  std::uint64_t step = 0, eval_passes = 0;
  double seconds_before = 0;  // wall time of the run this one resumes
  MC_VALIDATE(!checkpoint || (!hardware && !net.feedback_drifts()),
              "checkpoints do not yet hold the state of analog tiles or drifting feedback arrays");
  if (const ReplicaCheckpoint* saved = checkpoint ? checkpoint->saved(replica) : nullptr) {
    restore_network_state(net, saved->state);
    optimizer->restore_state(saved->state);
    net.restore_feedback_state(saved->state);
    const std::uint64_t full = saved->epochs.size() * batches;  // steps of the finished epochs
    MC_VALIDATE(saved->epochs.size() <= static_cast<std::size_t>(c.epochs) &&
                    (saved->diverged ? saved->step >= full && saved->step < full + batches
                                     : saved->step == full),
                "{}: replica {} has {} epochs and {} steps saved, which a run of {} epochs of {} "
                "batches cannot have",
                checkpoint->path(), replica, saved->epochs.size(), saved->step, c.epochs, batches);
    r.epochs = saved->epochs;
    r.samples_trained = saved->samples_trained;
    r.train_seconds = saved->train_seconds;
    r.diverged = saved->diverged;
    r.status = saved->status;
    step = saved->step;
    eval_passes = saved->eval_passes;
    seconds_before = saved->seconds;
    progress.advance(step);
  }
  const auto save_checkpoint = [&] {
    if (!checkpoint) return;
    ReplicaCheckpoint s;
    s.epochs = r.epochs;
    s.step = step;
    s.eval_passes = eval_passes;
    s.samples_trained = r.samples_trained;
    s.train_seconds = r.train_seconds;
    s.seconds = seconds_before +
                std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
    s.diverged = r.diverged;
    s.status = r.status;
    save_network_state(net, s.state);
    optimizer->save_state(s.state);
    net.save_feedback_state(s.state);
    checkpoint->save(replica, std::move(s));
  };
  for (std::int64_t epoch = static_cast<std::int64_t>(r.epochs.size()); epoch < c.epochs && !r.diverged;
       ++epoch) {
    const auto epoch_start = std::chrono::steady_clock::now();
    EpochRecord e;
    e.lr = schedule.lr(static_cast<int>(epoch));
    RngStream shuffle_rng(seed, replica, streams::shuffle, static_cast<std::uint64_t>(epoch));
    const std::vector<std::size_t> order = shuffled_indices(n_train, shuffle_rng);
    double loss_sum = 0, correct = 0;
    std::size_t seen = 0;
    for (std::size_t k = 0; k < batches; ++k, ++step) {
      RngStream batch_rng(seed, replica, streams::batch, step);
      const std::span<const std::size_t> idx(order.data() + k * B, B);
      train(idx, batch_rng, x, labels);
      const Pass pass{Mode::train, &batch_rng, step, clock.at(step)};
      const Tensor& logits = net.forward(x, pass);
      const double loss = softmax_cross_entropy(logits, labels, &grad);
      if (!std::isfinite(loss) || loss > c.max_loss) {
        r.diverged = true;
        r.status = fmt::format("diverged: batch loss {} at epoch {}, batch {} (max_loss {})", loss,
                               epoch + 1, k + 1, c.max_loss);
        break;
      }
      loss_sum += loss * static_cast<double>(B);
      correct += static_cast<double>(count_correct(logits, labels));
      seen += B;
      net.backward(grad, pass);
      optimizer->step(e.lr);
      if (hardware) hardware->step(e.lr, pass);
      progress.advance();
    }
    r.samples_trained += static_cast<std::int64_t>(seen);
    r.train_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    if (r.diverged) {
      save_checkpoint();
      break;
    }
    e.train_loss = loss_sum / static_cast<double>(seen);
    e.train_accuracy = correct / static_cast<double>(seen);
    std::tie(e.test_loss, e.test_accuracy) = evaluate(net, test, n_test, eval_passes, clock.at(step));
    e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - epoch_start).count();
    r.epochs.push_back(e);
    save_checkpoint();
  }
  r.feedback = net.feedback_stats();  // after training: with the readout's counts
  r.final_test_accuracy = r.epochs.empty() || r.diverged ? std::nan("") : r.epochs.back().test_accuracy;
  if (c.save_weights && !r.diverged) {
    for_each_saved_tensor(net, [&](const std::string& name, Tensor& t) {
      r.weights.emplace_back(name, t.data);
      r.weight_shapes.push_back(t.shape);
    });
  }
  // After the weights are saved: measurements on other hardware may change them.
  if (hardware && !r.diverged)
    r.extras = hardware->finish(
        net, [&] { return evaluate(net, test, n_test, eval_passes, clock.at(step)).second; });
  r.seconds = seconds_before +
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  return r;
}

}  // namespace

std::string run_config_text(const TrainResult& result) {
  return "[train]\n" + to_toml(result.config) + result.hardware_config_toml;
}

void validate(const TrainConfig& c) {
  MC_VALIDATE(c.epochs >= 1 && c.epochs <= 100000, "epochs = {} must be in [1, 100000]", c.epochs);
  MC_VALIDATE(c.batch >= 1 && c.batch <= 65536, "batch = {} must be in [1, 65536]", c.batch);
  MC_VALIDATE(std::isfinite(c.lr) && c.lr > 0, "lr = {} must be positive", c.lr);
  MC_VALIDATE(std::isfinite(c.momentum) && c.momentum >= 0 && c.momentum < 1,
              "momentum = {} must be in [0, 1)", c.momentum);
  MC_VALIDATE(std::isfinite(c.weight_decay) && c.weight_decay >= 0,
              "weight_decay = {} must be >= 0", c.weight_decay);
  MC_VALIDATE(c.optimizer == "sgd" || c.optimizer == "adam", "optimizer = '{}': use sgd or adam",
              c.optimizer);
  MC_VALIDATE(std::isfinite(c.beta1) && c.beta1 >= 0 && c.beta1 < 1,
              "beta1 = {} must be in [0, 1)", c.beta1);
  MC_VALIDATE(std::isfinite(c.beta2) && c.beta2 >= 0 && c.beta2 < 1,
              "beta2 = {} must be in [0, 1)", c.beta2);
  MC_VALIDATE(std::isfinite(c.eps) && c.eps > 0, "eps = {} must be positive", c.eps);
  {
    const TrainConfig defaults;
    MC_VALIDATE(c.optimizer == "adam" ||
                    (c.beta1 == defaults.beta1 && c.beta2 == defaults.beta2 && c.eps == defaults.eps),
                "beta1, beta2 and eps are Adam's, but optimizer = '{}': set optimizer = \"adam\"",
                c.optimizer);
  }
  MC_VALIDATE(c.replicas >= 1 && c.replicas <= 4096, "replicas = {} must be in [1, 4096]", c.replicas);
  MC_VALIDATE(c.seed >= 0, "seed = {} must be >= 0", c.seed);
  MC_VALIDATE(c.init_replica >= 0 && c.init_replica < 4096, "init_replica = {} must be in [0, 4096)",
              c.init_replica);
  MC_VALIDATE(!c.init_weights.empty() || c.init_replica == 0,
              "init_replica = {} is set, but init_weights is not", c.init_replica);
  MC_VALIDATE(c.train_samples >= 0 && c.test_samples >= 0,
              "train_samples and test_samples must be >= 0 (0 = all)");
  MC_VALIDATE(c.max_loss > 0, "max_loss = {} must be positive", c.max_loss);
  MC_VALIDATE(c.rule == "bp" || c.rule == "dfa" || c.rule == "hybrid",
              "rule = '{}': use bp, dfa or hybrid", c.rule);
  MC_VALIDATE(c.rule == "hybrid" || c.block_rules.empty(),
              "block_rules is set, but rule = '{}': use rule = \"hybrid\"", c.rule);
  MC_VALIDATE(c.rule != "hybrid" || !c.block_rules.empty(),
              "rule = \"hybrid\" needs block_rules, e.g. \"dfa,dfa,bp\"");
  MC_VALIDATE(c.feedback_source == "gaussian" || c.feedback_source == "pcm",
              "feedback_source = '{}': use gaussian or pcm", c.feedback_source);
  MC_VALIDATE(c.step_epochs >= 1, "step_epochs = {} must be >= 1", c.step_epochs);
  MC_VALIDATE(std::isfinite(c.gamma) && c.gamma > 0, "gamma = {} must be positive", c.gamma);
  MC_VALIDATE(c.feedback == "per_layer" || c.feedback == "merged" || c.feedback == "shared",
              "feedback = '{}': use per_layer, merged or shared", c.feedback);
  parse_schedule_kind(c.schedule);
  parse_dataset_id(c.dataset);
}

TrainResult run_training(const TrainConfig& config, const TrainOptions& options) {
  validate(config);
  TrainResult result;
  result.config = config;
  if (options.hardware) result.hardware_config_toml = options.hardware->config_toml();
  const GaussianFeedback gaussian;
  const FeedbackSource& feedback = options.feedback ? *options.feedback : gaussian;
  MC_VALIDATE(config.rule == "bp" || feedback.name() == config.feedback_source,
              "feedback_source = {}, but the run was given the {} source (memcarlo train and "
              "campaigns build it from the [pcm-feedback] table)",
              config.feedback_source, feedback.name());
  if (config.rule != "bp") result.hardware_config_toml += feedback.config_toml();
  result.hardware_config_toml += options.extra_config_toml;
  const ModelSpec spec = model_spec(config, result.model_toml);
  std::optional<Dataset> loaded;
  if (!options.dataset)
    loaded = load_dataset(parse_dataset_id(config.dataset),
                          config.data_dir.empty() ? default_data_dir() : config.data_dir,
                          options.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  const Dataset& dataset = options.dataset ? *options.dataset : *loaded;
  MC_VALIDATE(dataset.name == dataset_spec(parse_dataset_id(config.dataset)).name,
              "the run trains on dataset = {}, but was given {}", config.dataset, dataset.name);
  std::optional<SavedWeights> initial;
  {
    // Build once up front: a model that does not fit the data fails before any thread starts.
    Network probe = build_network(spec, sample_shape(dataset), dataset.classes, config.width);
    probe.set_rules(block_rules(config, probe.blocks()));
    result.parameters = probe.parameter_count();
    if (options.hardware) options.hardware->check(probe);
    result.network_summary = describe(probe);
    if (!config.init_weights.empty()) initial = read_initial_weights(config, probe);
  }
  const std::size_t n_train = samples_used(config.train_samples, dataset.count(Split::train));
  MC_VALIDATE(n_train >= static_cast<std::size_t>(config.batch),
              "batch = {} is larger than the {} training samples", config.batch, n_train);
  const std::uint64_t steps = static_cast<std::uint64_t>(config.epochs) *
                              (n_train / static_cast<std::size_t>(config.batch)) *
                              static_cast<std::uint64_t>(config.replicas);
  std::optional<Checkpoint> checkpoint;
  if (!options.checkpoint.empty()) {
    MC_VALIDATE(!options.hardware,
                "checkpoints do not yet hold the state of analog tiles: run without a checkpoint");
    checkpoint.emplace(options.checkpoint, run_config_text(result), result.model_toml,
                       static_cast<std::size_t>(config.replicas));
    if (options.resume && checkpoint->load()) {
      for (std::size_t i = 0; i < static_cast<std::size_t>(config.replicas); ++i)
        if (const ReplicaCheckpoint* saved = checkpoint->saved(i)) {
          ++result.resumed_replicas;
          result.resumed_epochs += static_cast<std::int64_t>(saved->epochs.size());
        }
    }
  }
  ProgressReporter progress("train", steps,
                            options.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  result.replicas.resize(static_cast<std::size_t>(config.replicas));
  const auto start = std::chrono::steady_clock::now();
  parallel_for(config.replicas, [&](std::int64_t i) {
    result.replicas[static_cast<std::size_t>(i)] =
        train_replica(config, spec, dataset, options.hardware, feedback,
                      initial ? &*initial : nullptr, options.clock,
                      checkpoint ? &*checkpoint : nullptr, static_cast<std::uint64_t>(i), progress);
  });
  progress.finish();
  result.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double samples = 0;
  for (const auto& r : result.replicas) samples += static_cast<double>(r.samples_trained);
  result.samples_per_second = samples / result.wall_seconds;
  return result;
}

void write_results(const std::string& path, const TrainResult& result, const std::string& command) {
  h5::OutputFile out(path);
  h5::Group& root = out.root();
  const TrainConfig& c = result.config;
  root.write_attr("format", kResultsFormat);
  root.write_attr("format_version", kResultsVersion);
  root.write_attr("created_by", kCreatedBy);
  root.write_attr("command", command);
  root.write_attr("config", run_config_text(result));
  root.write_attr("model_toml", result.model_toml);
  root.write_attr("network", result.network_summary);
  root.write_attr("parameters", static_cast<std::int64_t>(result.parameters));
  root.write_attr("wall_time_s", result.wall_seconds);
  root.write_attr("samples_per_s", result.samples_per_second);
  root.write_attr("replicas", c.replicas);
  for (const auto& record : result.run_records) record->write(root);

  const std::size_t R = result.replicas.size();
  NdArray<double> final_accuracy({R}), seconds({R}), rate({R}), train_rate({R});
  NdArray<std::int64_t> diverged({R});
  for (std::size_t i = 0; i < R; ++i) {
    const auto& r = result.replicas[i];
    final_accuracy.data[i] = r.final_test_accuracy;
    seconds.data[i] = r.seconds;
    rate.data[i] = static_cast<double>(r.samples_trained) / r.seconds;
    train_rate.data[i] = static_cast<double>(r.samples_trained) / r.train_seconds;
    diverged.data[i] = r.diverged;
  }
  h5::Group summary = root.create_group("summary");
  summary.write("final_test_accuracy", final_accuracy,
                {"1", "test accuracy after the last epoch, per replica (NaN: diverged)"});
  summary.write("replica_time_s", seconds, {"s", "wall time of each replica, evaluation included"});
  summary.write("replica_samples_per_s", rate,
                {"1/s", "training samples per second of each replica, over its whole wall time"});
  summary.write("replica_train_samples_per_s", train_rate,
                {"1/s", "training samples per second of each replica, over its training steps only "
                        "(batch assembly, forward, backward, update; no evaluation)"});
  summary.write("diverged", diverged, {"", "1 if the replica stopped because its loss diverged"});

  h5::Group replicas = root.create_group("replicas");
  for (std::size_t i = 0; i < R; ++i) {
    h5::Group g = replicas.create_group(fmt::format("{:03}", i));
    write_replica(g, result.replicas[i], c.seed, static_cast<std::int64_t>(i));
  }
  out.commit();
}

void write_replica(h5::Group& g, const ReplicaResult& r, std::int64_t seed, std::int64_t index) {
  g.write_attr("seed", seed);
  g.write_attr("replica", index);
  g.write_attr("status", r.status);
  g.write_attr("final_test_accuracy", r.final_test_accuracy);
  g.write_attr("samples_trained", r.samples_trained);
  const std::size_t E = r.epochs.size();
  NdArray<double> tl({E}), ta({E}), vl({E}), va({E}), lr({E}), es({E});
  for (std::size_t e = 0; e < E; ++e) {
    tl.data[e] = r.epochs[e].train_loss;
    ta.data[e] = r.epochs[e].train_accuracy;
    vl.data[e] = r.epochs[e].test_loss;
    va.data[e] = r.epochs[e].test_accuracy;
    lr.data[e] = r.epochs[e].lr;
    es.data[e] = r.epochs[e].seconds;
  }
  g.write("train_loss", tl, {"1", "mean cross-entropy over the epoch's training batches"});
  g.write("train_accuracy", ta, {"1", "accuracy over the epoch's training batches (train mode)"});
  g.write("test_loss", vl, {"1", "cross-entropy on the test set after the epoch"});
  g.write("test_accuracy", va, {"1", "accuracy on the test set after the epoch"});
  g.write("lr", lr, {"1", "learning rate used in the epoch"});
  g.write("epoch_time_s", es, {"s", "wall time of the epoch, evaluation included"});
  if (r.extras) r.extras->write(g);
  if (!r.feedback.source.empty()) {
    const FeedbackStats& f = r.feedback;
    h5::Group fb = g.create_group("feedback");
    fb.write_attr("source", f.source);
    fb.write_attr("layout", f.layout);
    fb.write_attr("array_rows", static_cast<std::int64_t>(f.rows));
    fb.write_attr("array_cols", static_cast<std::int64_t>(f.cols));
    fb.write_attr("array_entries", static_cast<std::int64_t>(f.rows * f.cols));
    fb.write_attr("array_cells", static_cast<std::int64_t>(f.cells));
    fb.write_attr("readout", f.readout);
    fb.write_attr("adc_outputs", static_cast<std::int64_t>(f.adc_outputs));
    fb.write_attr("adc_saturated", static_cast<std::int64_t>(f.adc_saturated));
    if (f.drifts) {
      fb.write_attr("drift_compensation", f.drift.compensation);
      fb.write_attr("drift_evaluations", static_cast<std::int64_t>(f.drift.evaluations));
      fb.write_attr("drift_refreshes", static_cast<std::int64_t>(f.drift.refreshes));
      fb.write_attr("drift_last_time_s", f.drift.last_time_s);
      fb.write_attr("drift_signal", f.drift.signal);
    }
    fb.write_attr("mean", f.mean);
    fb.write_attr("std", f.std);
    fb.write_attr("skewness", f.skewness);
    fb.write_attr("excess_kurtosis", f.excess_kurtosis);
    fb.write_attr("min", f.min);
    fb.write_attr("max", f.max);
    fb.write("histogram_edges", NdArray<double>({f.histogram_edges.size()}, f.histogram_edges),
             {"1", "bin edges of the entries of the feedback array as generated (unit variance, "
                   "before each block's 1/sqrt(rows) scale)"});
    fb.write("histogram_counts",
             NdArray<std::int64_t>({f.histogram_counts.size()}, f.histogram_counts),
             {"1", "entries per bin"});
  }
  if (!r.weights.empty()) {
    h5::Group w = g.create_group("weights");
    for (std::size_t k = 0; k < r.weights.size(); ++k)
      w.write(r.weights[k].first, NdArray<float>(r.weight_shapes[k], r.weights[k].second),
              {"1", "final value"});
  }
}

}  // namespace memcarlo::training
