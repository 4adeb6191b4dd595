#include "campaign/runner.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/mpi.hpp"
#include "core/parallel.hpp"
#include "core/progress.hpp"
#include "core/version.hpp"
#include "data/datasets.hpp"
#include "data/hdf5.hpp"

namespace memcarlo::campaign {

namespace {

using Clock = std::chrono::steady_clock;

std::string trial_name(std::int64_t id) { return fmt::format("{:06}", id); }

// The data set a run trains on, as a key of the shared ones.
std::string dataset_key(const RunConfig& run) {
  return run.train.dataset + '\n' + (run.train.data_dir.empty() ? default_data_dir() : run.train.data_dir);
}

// An axis value as an attribute: numbers as numbers, booleans as 0/1, strings as strings.
void write_value_attr(h5::Group& g, const std::string& name, const Value& value) {
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>)
          g.write_attr(name, static_cast<std::int64_t>(v));
        else
          g.write_attr(name, v);
      },
      value);
}

void write_header(h5::Group& root, const Campaign& c, Shard shard, const std::string& command) {
  root.write_attr("format", kResultsFormat);
  root.write_attr("format_version", kResultsVersion);
  root.write_attr("created_by", kCreatedBy);
  root.write_attr("command", command);
  root.write_attr("provenance", fmt::format("{}\ncampaign file {}:\n{}", command, c.origin, c.text));
  root.write_attr("name", c.name);
  root.write_attr("campaign", c.text);
  root.write_attr("config_hash", config_hash(c));
  root.write_attr("base_config", run_toml(c.base));
  root.write_attr("seed", static_cast<std::int64_t>(c.seed));
  root.write_attr("replicas", c.replicas);
  root.write_attr("combine", c.combine == Combine::zip ? "zip" : "product");
  root.write_attr("points", c.points());
  root.write_attr("trials", c.trials());
  root.write_attr("shard_index", shard.index);
  root.write_attr("shard_count", shard.count);
  h5::Group axes = root.create_group("axes");
  for (std::size_t k = 0; k < c.axes.size(); ++k) {
    const Axis& a = c.axes[k];
    h5::Group g = axes.create_group(fmt::format("{:02}", k));
    g.write_attr("key", a.key);
    g.write_attr("source", a.source);
    std::string values = "[";
    for (std::size_t i = 0; i < a.values.size(); ++i)
      values += (i ? ", " : "") + to_toml_text(a.values[i]);
    g.write_attr("values", values + "]");
    const bool numeric = std::all_of(a.values.begin(), a.values.end(), [](const Value& v) {
      return std::holds_alternative<double>(v) || std::holds_alternative<std::int64_t>(v);
    });
    if (numeric) {
      NdArray<double> x({a.values.size()});
      for (std::size_t i = 0; i < a.values.size(); ++i)
        x.data[i] = std::visit(
            [](const auto& v) -> double {
              using T = std::decay_t<decltype(v)>;
              if constexpr (std::is_same_v<T, double> || std::is_same_v<T, std::int64_t>)
                return static_cast<double>(v);
              else
                return 0.0;
            },
            a.values[i]);
      g.write("values", x, {"", "the axis' values in trial order (numbers; the attribute holds them as TOML)"});
    }
  }
  root.create_group("trials");
}

// What one trial produced.
struct Outcome {
  std::string status;  // "completed", "diverged: ...", "failed: ..."
  std::string config_toml;
  std::optional<training::ReplicaResult> replica;
  double seconds = 0;
};

Outcome run_trial(const Campaign& c, const Trial& t, const std::map<std::string, Dataset>& datasets) {
  const auto start = Clock::now();
  Outcome o;
  try {
    const RunConfig run = resolve(c, t);
    o.config_toml = run_toml(run);
    training::TrainOptions options;
    options.show_progress = false;
    options.dataset = &datasets.at(dataset_key(run));
    const RunHardware hardware = build_hardware(run);
    hardware.attach(options);
    training::TrainResult result = training::run_training(run.train, options);
    o.replica = std::move(result.replicas.at(0));
    o.status = o.replica->status;
  } catch (const std::bad_alloc&) {
    o.status = "failed: out of memory";
  } catch (const std::exception& e) {
    o.status = fmt::format("failed: {}", e.what());
  }
  o.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return o;
}

// One trial's group under `trials`: its results, identity, status, timing and values, and
// under MPI the rank that ran it (mpi_rank >= 0).
void write_trial(h5::Group& trials, const Campaign& c, const Trial& t, const Outcome& o,
                 int mpi_rank = -1) {
  h5::Group g = trials.create_group(trial_name(t.id));
  const std::int64_t seed = replica_seed(c, t.replica);
  if (o.replica) training::write_replica(g, *o.replica, seed, t.replica);
  g.write_attr("id", t.id);
  g.write_attr("point", t.point);
  g.write_attr("replica", t.replica);
  g.write_attr("seed", seed);
  g.write_attr("status", o.status);
  g.write_attr("completed", static_cast<std::int64_t>(o.status == "completed"));
  if (!o.replica) g.write_attr("final_test_accuracy", std::numeric_limits<double>::quiet_NaN());
  g.write_attr("trial_time_s", o.seconds);
  if (mpi_rank >= 0) g.write_attr("mpi_rank", static_cast<std::int64_t>(mpi_rank));
  g.write_attr("values", describe_point(c, t));
  g.write_attr("config", o.config_toml);
  for (std::size_t k = 0; k < c.axes.size(); ++k)
    write_value_attr(g, c.axes[k].key, c.axes[k].values[t.value_index[k]]);
}

void commit_trial(const std::string& out, const Campaign& c, const Trial& t, const Outcome& o) {
  h5::OutputFile file(out, h5::OutputMode::update);
  h5::Group trials = file.root().open_group("trials");
  write_trial(trials, c, t, o);
  file.commit();
}

// A trial as the bytes of an in-memory HDF5 file holding /trials/<id>, for another MPI rank.
mpi::Bytes trial_image(const Campaign& c, const Trial& t, const Outcome& o, int rank) {
  h5::MemoryFile file(fmt::format("trial {}", t.id));
  h5::Group trials = file.root().create_group("trials");
  write_trial(trials, c, t, o, rank);
  return file.image();
}

// Commits the trial of an image made by trial_image, if it is one of `expected` (the trials
// handed out and not yet back, from which it is removed); returns its status.
std::string commit_trial_image(const std::string& out, const mpi::Bytes& image,
                               std::set<std::int64_t>& expected) {
  const h5::Group source = h5::open_image(image, "trial from an MPI rank");
  const h5::Group trials = source.open_group("trials");
  const std::vector<std::string> names = trials.children();
  if (names.size() != 1) throw FileError("trial from an MPI rank", "does not hold one trial");
  const h5::Group g = trials.open_group(names.front());
  const std::int64_t id = g.read_attr_int("id");
  if (names.front() != trial_name(id) || expected.erase(id) != 1)
    throw FileError("trial from an MPI rank", fmt::format("holds trial {} ({}), which rank 0 did "
                                                          "not hand out", id, names.front()));
  h5::OutputFile file(out, h5::OutputMode::update);
  file.root().open_group("trials").copy_from(trials, names.front());
  file.commit();
  return g.read_attr_string("status");
}

void check_results_format(const h5::Group& root, const std::string& path) {
  const bool ours = root.has_attr("format") && root.read_attr_string("format") == kResultsFormat;
  if (!ours) throw FileError(path, "is not a campaign results file (format memcarlo-campaign-results)");
  const std::int64_t version = root.read_attr_int("format_version");
  if (version != kResultsVersion)
    throw FileError(path, fmt::format("format_version {} (this memcarlo reads {})", version,
                                      kResultsVersion));
}

bool is_done(const std::string& status) {
  return status == "completed" || status.rfind("diverged", 0) == 0;
}

// The trials already in a results file of this campaign and shard; failed ones are listed in
// `failed` (they run again). Throws naming the file when it belongs to another campaign.
std::set<std::int64_t> recorded_trials_unchecked(const std::string& out, const Campaign& c,
                                                 Shard shard, std::vector<std::string>& failed) {
  const h5::Group root = h5::open_file(out);
  check_results_format(root, out);
  const std::string hash = root.read_attr_string("config_hash");
  if (hash != config_hash(c))
    throw FileError(out, fmt::format("holds campaign '{}' (config hash {}), not this campaign '{}' "
                                     "({}): --resume continues only the same campaign",
                                     root.read_attr_string("name"), hash, c.name, config_hash(c)));
  const Shard recorded{root.read_attr_int("shard_index"), root.read_attr_int("shard_count")};
  if (recorded.index != shard.index || recorded.count != shard.count)
    throw FileError(out, fmt::format("holds shard {}/{}, not {}/{}", recorded.index, recorded.count,
                                     shard.index, shard.count));
  std::set<std::int64_t> done;
  const h5::Group trials = root.open_group("trials");
  for (const std::string& name : trials.children()) {
    const h5::Group g = trials.open_group(name);
    if (is_done(g.read_attr_string("status")))
      done.insert(g.read_attr_int("id"));
    else
      failed.push_back(name);
  }
  return done;
}

std::set<std::int64_t> recorded_trials(const std::string& out, const Campaign& c, Shard shard,
                                       std::vector<std::string>& failed) {
  return h5::read_guarded(out, [&] { return recorded_trials_unchecked(out, c, shard, failed); });
}

Campaign campaign_of_results_unchecked(const std::string& path) {
  const h5::Group root = h5::open_file(path);
  check_results_format(root, path);
  const std::string text = root.read_attr_string("campaign");
  toml::table file;
  try {
    file = toml::parse(text);
  } catch (const toml::parse_error& e) {
    throw FileError(path, "/", fmt::format("attribute 'campaign' is not TOML: {}", e.description()));
  }
  Campaign c = parse_campaign(file, path + " (attribute campaign)", text);
  if (config_hash(c) != root.read_attr_string("config_hash"))
    throw FileError(path, "its campaign does not match its config_hash (written by another memcarlo?)");
  return c;
}

}  // namespace

Campaign campaign_of_results(const std::string& path) {
  return h5::read_guarded(path, [&] { return campaign_of_results_unchecked(path); });
}

MergeReport merge_shards(const std::vector<std::string>& shards, const std::string& out,
                         const std::string& command) {
  MC_VALIDATE(!shards.empty(), "campaign merge needs the shards' results files");
  h5::check_output_path(out);
  for (const std::string& s : shards)
    MC_VALIDATE(std::filesystem::absolute(s) != std::filesystem::absolute(out),
                "campaign merge: --out {} is one of the shards: write the merge to a new file", out);
  const Campaign c = campaign_of_results(shards.front());
  const std::string hash = config_hash(c);
  std::int64_t count = -1;
  std::set<std::int64_t> indexes;
  std::map<std::int64_t, std::pair<std::size_t, std::string>> trials;  // id -> (shard, group)
  std::vector<h5::Group> roots;
  for (std::size_t k = 0; k < shards.size(); ++k) {
    roots.push_back(h5::open_file(shards[k]));
    const h5::Group& root = roots.back();
    check_results_format(root, shards[k]);
    const std::string h = root.read_attr_string("config_hash");
    if (h != hash)
      throw FileError(shards[k], fmt::format("holds campaign '{}' (config hash {}), not '{}' ({}) of "
                                             "{}: shards of different campaigns do not merge",
                                             root.read_attr_string("name"), h, c.name, hash,
                                             shards.front()));
    const std::int64_t n = root.read_attr_int("shard_count");
    const std::int64_t i = root.read_attr_int("shard_index");
    if (count >= 0 && n != count)
      throw FileError(shards[k], fmt::format("is shard {}/{}, but {} is of {} shards", i, n,
                                             shards.front(), count));
    count = n;
    if (!indexes.insert(i).second)
      throw FileError(shards[k], fmt::format("shard {}/{} is given twice", i, n));
    const h5::Group g = root.open_group("trials");
    for (const std::string& name : g.children()) {
      const std::int64_t id = g.open_group(name).read_attr_int("id");
      if (id < 0 || id >= c.trials() || id % n != i)
        throw FileError(shards[k], fmt::format("trial {} does not belong to shard {}/{}", id, i, n));
      trials[id] = {k, name};
    }
  }
  h5::OutputFile file(out);
  write_header(file.root(), c, Shard{}, command);
  h5::Group merged = file.root().open_group("trials");
  for (const auto& [id, where] : trials)
    merged.copy_from(roots[where.first].open_group("trials"), where.second);
  file.commit();
  return {c.trials(), static_cast<std::int64_t>(trials.size())};
}

Shard parse_shard(const std::string& text) {
  Shard s;
  const auto slash = text.find('/');
  bool ok = slash != std::string::npos;
  try {
    std::size_t used_i = 0, used_n = 0;
    if (ok) {
      s.index = std::stoll(text.substr(0, slash), &used_i);
      s.count = std::stoll(text.substr(slash + 1), &used_n);
      ok = used_i == slash && used_n == text.size() - slash - 1;
    }
  } catch (const std::exception&) {
    ok = false;
  }
  MC_VALIDATE(ok && s.count >= 1 && s.index >= 0 && s.index < s.count,
              "--shard {}: expected I/N with 0 <= I < N (e.g. 0/4 ... 3/4)", text);
  return s;
}

std::vector<std::int64_t> shard_trials(const Campaign& c, Shard shard) {
  std::vector<std::int64_t> ids;
  for (std::int64_t id = shard.index; id < c.trials(); id += shard.count) ids.push_back(id);
  return ids;
}

namespace {

// Every data set the trials need, loaded once (a missing one fails here, before any trial).
std::map<std::string, Dataset> load_datasets(const Campaign& c, const std::vector<std::int64_t>& ids,
                                             bool show_progress) {
  std::map<std::string, Dataset> datasets;
  for (std::int64_t id : ids) {
    const RunConfig run = resolve(c, trial(c, id));
    const std::string key = dataset_key(run);
    if (datasets.count(key)) continue;
    datasets.emplace(key, load_dataset(parse_dataset_id(run.train.dataset),
                                       run.train.data_dir.empty() ? default_data_dir() : run.train.data_dir,
                                       show_progress ? ProgressStyle::automatic : ProgressStyle::quiet));
  }
  return datasets;
}

// The trials that the results file lacks, after checking it (or writing its header when the
// campaign starts), with the data sets they need.
struct Plan {
  std::vector<std::int64_t> todo;
  std::map<std::string, Dataset> datasets;
};

Plan plan_run(const Campaign& c, const std::string& out, const RunOptions& options, RunReport& report) {
  h5::check_output_path(out);
  remove_stale_temporaries(out);  // of a run that was killed while committing
  const std::vector<std::int64_t> ids = shard_trials(c, options.shard);
  report.trials = static_cast<std::int64_t>(ids.size());
  std::set<std::int64_t> done;
  // --resume on a file that does not exist yet starts the campaign (a job script can always
  // pass it, whether or not an earlier attempt got as far as writing the file).
  const bool resume = options.resume && std::filesystem::exists(out);
  if (resume) {
    std::vector<std::string> failed;
    done = recorded_trials(out, c, options.shard, failed);
    if (!failed.empty()) {  // run again: drop their records first
      h5::OutputFile file(out, h5::OutputMode::update);
      h5::Group trials = file.root().open_group("trials");
      for (const std::string& name : failed) trials.remove(name);
      file.commit();
    }
  } else {
    if (std::filesystem::exists(out))
      throw FileError(out, "exists: --resume continues it; remove it (or choose another --out) to "
                           "start over");
  }
  Plan plan;
  for (std::int64_t id : ids)
    if (!done.count(id)) plan.todo.push_back(id);
  report.skipped = report.trials - static_cast<std::int64_t>(plan.todo.size());
  plan.datasets = load_datasets(c, plan.todo, options.show_progress);
  if (!resume) {  // a readable file from the start: header, axes, no trials yet
    h5::OutputFile file(out);
    write_header(file.root(), c, options.shard, options.command);
    file.commit();
  }
  return plan;
}

void count(RunReport& report, const std::string& status) {
  if (status == "completed")
    ++report.completed;
  else if (is_done(status))
    ++report.diverged;
  else
    ++report.failed;
}

// The trials on this process's threads (one per thread, dynamic schedule).
void run_threads(const Campaign& c, const std::string& out, const RunOptions& options,
                 const Plan& plan, RunReport& report) {
  ProgressReporter progress("campaign", plan.todo.size(),
                            options.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  std::mutex commit_mutex;
  std::atomic<bool> stop{false};
  parallel_for(
      static_cast<std::int64_t>(plan.todo.size()),
      [&](std::int64_t i) {
        if (stop.load()) return;
        const Trial t = trial(c, plan.todo[static_cast<std::size_t>(i)]);
        const Outcome o = run_trial(c, t, plan.datasets);
        std::lock_guard lock(commit_mutex);
        try {
          const std::lock_guard hdf5(h5::library_mutex());  // trials may be reading tables
          commit_trial(out, c, t, o);
        } catch (...) {
          stop = true;  // the file cannot take more: finish the trials in flight, start no more
          throw;
        }
        count(report, o.status);
        progress.advance();
      },
      Schedule::dynamic);
  progress.finish();
}

// The trials over MPI ranks: rank 0 checks the file, hands out trials one at a time and
// commits the results that come back; every rank runs trials on its threads. A rank's trial
// reaches rank 0 as the bytes of an in-memory HDF5 file, written by the same code as a local
// commit, so the results file does not depend on where a trial ran.
void run_ranks(const Campaign& c, const std::string& out, const RunOptions& options,
               RunReport& report) {
  const mpi::Session& session = *options.mpi;
  const bool root = session.rank() == 0;
  std::exception_ptr error;  // of the preparation: every rank still joins the distribution
  Plan plan;
  // Rank 0 checks the file and loads its data sets first, then tells the others its campaign's
  // hash and which data sets the remaining trials need: they load those only, after rank 0
  // (which may have written a data set's cache: no two ranks write it at once).
  std::string shared;
  if (root) {
    try {
      plan = plan_run(c, out, options, report);
    } catch (...) {
      error = std::current_exception();
    }
    shared = config_hash(c) + '\n';
    for (const auto& [key, data] : plan.datasets) shared += key + '\n';  // "dataset\ndir"
  }
  shared = session.broadcast(shared);
  if (!root) {
    try {
      std::vector<std::string> lines;
      std::stringstream in(shared);
      for (std::string line; std::getline(in, line);) lines.push_back(line);
      if (lines.empty() || lines.front() != config_hash(c))
        throw InputError(fmt::format("campaign {} has config hash {}, rank 0's has {}: every rank "
                                     "must read the same campaign file", c.origin, config_hash(c),
                                     lines.empty() ? "none" : lines.front()));
      for (std::size_t i = 1; i + 1 < lines.size(); i += 2)
        plan.datasets.emplace(lines[i] + '\n' + lines[i + 1],
                              load_dataset(parse_dataset_id(lines[i]), lines[i + 1], ProgressStyle::quiet));
    } catch (...) {
      error = std::current_exception();
    }
  }
  std::optional<ProgressReporter> progress;
  if (root)
    progress.emplace("campaign", plan.todo.size(),
                     options.show_progress ? ProgressStyle::automatic : ProgressStyle::quiet);
  std::size_t next = 0;
  std::set<std::int64_t> outstanding;  // rank 0: handed out, not yet committed
  mpi::WorkPool pool;
  pool.next = [&]() -> std::optional<std::int64_t> {
    if (error || next == plan.todo.size()) return std::nullopt;
    outstanding.insert(plan.todo[next]);
    return plan.todo[next++];
  };
  pool.run = [&](std::int64_t id) {
    const Trial t = trial(c, id);
    const Outcome o = run_trial(c, t, plan.datasets);
    std::lock_guard lock(h5::library_mutex());  // the image a worker writes, the commit of rank 0
    return trial_image(c, t, o, session.rank());
  };
  pool.accept = [&](const mpi::Bytes& image) {
    std::lock_guard lock(h5::library_mutex());  // the image a worker writes, the commit of rank 0
    count(report, commit_trial_image(out, image, outstanding));
    progress->advance();
  };
  if (error && !root) {  // this rank cannot run trials: it takes none, and says why
    mpi::distribute(session, 0, pool);
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      throw mpi::RankError(fmt::format("MPI rank {}: {}", session.rank(), e.what()));
    }
  }
  mpi::distribute(session, options.threads_per_rank, pool);
  if (progress) progress->finish();
  if (error) std::rethrow_exception(error);
}

}  // namespace

RunReport run_campaign(const Campaign& c, const std::string& out, const RunOptions& options) {
  const auto start = Clock::now();
  RunReport report;
  if (options.mpi && options.mpi->size() > 1) {
    run_ranks(c, out, options, report);
  } else {
    const Plan plan = plan_run(c, out, options, report);
    run_threads(c, out, options, plan, report);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

std::string dry_run(const Campaign& c, Shard shard, int threads, bool probe) {
  const std::vector<std::int64_t> ids = shard_trials(c, shard);
  std::string out = fmt::format("campaign '{}' ({}): {} points x {} replicas = {} trials", c.name,
                                c.origin, c.points(), c.replicas, c.trials());
  if (shard.count > 1) out += fmt::format("; shard {}/{} runs {} of them", shard.index, shard.count, ids.size());
  out += fmt::format("; config hash {}\n", config_hash(c));
  // Per point: its trial ids (of the shard) and values.
  std::map<std::int64_t, std::vector<std::int64_t>> by_point;
  for (std::int64_t id : ids) by_point[id / c.replicas].push_back(id);
  for (const auto& [point, trial_ids] : by_point) {
    const std::string first = fmt::format("{}", trial_ids.front());
    const std::string range = trial_ids.size() == 1
                                  ? first
                                  : fmt::format("{}..{}", trial_ids.front(), trial_ids.back());
    out += fmt::format("  point {:>5}  trials {:<14} {}\n", point, range,
                       describe_point(c, trial(c, trial_ids.front())));
  }
  if (!probe || ids.empty()) return out;

  // Probe: point 0's run for a few batches and test samples, scaled to every trial's size.
  const RunConfig run0 = resolve(c, trial(c, 0));
  const Dataset data = load_dataset(parse_dataset_id(run0.train.dataset),
                                    run0.train.data_dir.empty() ? default_data_dir() : run0.train.data_dir,
                                    ProgressStyle::quiet);
  constexpr std::int64_t kProbeBatches = 10, kProbeTest = 500;
  RunConfig p = run0;
  p.train.epochs = 1;
  p.train.train_samples = kProbeBatches * p.train.batch;
  p.train.test_samples = kProbeTest;
  training::TrainOptions options;
  options.show_progress = false;
  options.dataset = &data;
  p.analog.inference_device = "none";  // measured after training: not part of a step
  const RunHardware hardware = build_hardware(p);
  hardware.attach(options);
  const auto r = training::run_training(p.train, options).replicas.at(0);
  const double per_step = r.train_seconds / kProbeBatches;
  const double per_test = std::max(0.0, r.seconds - r.train_seconds) / kProbeTest;
  double total = 0;
  for (std::int64_t id : ids) {
    const RunConfig run = resolve(c, trial(c, id));
    const auto n_train = static_cast<double>(run.train.train_samples > 0 ? std::min<std::size_t>(run.train.train_samples, data.count(Split::train)) : data.count(Split::train));
    const auto n_test = static_cast<double>(run.train.test_samples > 0 ? std::min<std::size_t>(run.train.test_samples, data.count(Split::test)) : data.count(Split::test));
    total += static_cast<double>(run.train.epochs) *
             (std::floor(n_train / static_cast<double>(run.train.batch)) * per_step + n_test * per_test);
  }
  const int t = std::max(1, std::min<int>(threads, static_cast<int>(ids.size())));
  out += fmt::format(
      "estimate: {:.3g} s per training batch and {:.3g} ms per test sample (probe of point 0: {} "
      "batches, {} test samples); {:.0f} s of training in all, about {:.1f} min on {} thread{} "
      "(points that change the model, width, data set or devices may run at other speeds)\n",
      per_step, 1e3 * per_test, kProbeBatches, kProbeTest, total, total / t / 60, t,
      t == 1 ? "" : "s");
  return out;
}

}  // namespace memcarlo::campaign
