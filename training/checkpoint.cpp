#include "training/checkpoint.hpp"

#include <cstdio>
#include <filesystem>
#include <sstream>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/files.hpp"
#include "core/version.hpp"
#include "data/hdf5.hpp"

namespace memcarlo::training {

namespace {

constexpr const char* kFormat = "memcarlo-train-checkpoint";
constexpr std::int64_t kVersion = 1;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

// The first line where two texts differ, quoted from both ("" when they are equal).
std::string first_difference(const std::string& saved, const std::string& now) {
  const auto a = split_lines(saved), b = split_lines(now);
  for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
    const std::string x = i < a.size() ? a[i] : "(end)", y = i < b.size() ? b[i] : "(end)";
    if (x != y) return fmt::format("line {}: '{}' in the checkpoint, '{}' now", i + 1, x, y);
  }
  return "";
}

// Archive names are paths ("optimizer/m003"): a group per component, the last part a dataset.
void write_state_array(h5::Group& root, const std::string& name, const std::vector<float>& values) {
  std::optional<h5::Group> g;
  std::size_t start = 0;
  for (std::size_t slash; (slash = name.find('/', start)) != std::string::npos; start = slash + 1) {
    h5::Group& parent = g ? *g : root;
    const std::string part = name.substr(start, slash - start);
    h5::Group next = parent.has(part) ? parent.open_group(part) : parent.create_group(part);
    g.emplace(std::move(next));
  }
  (g ? *g : root).write(name.substr(start), NdArray<float>({values.size()}, values), {"", "", 0});
}

std::vector<float> read_state_array(const h5::Group& root, const std::string& name) {
  std::optional<h5::Group> g;
  std::size_t start = 0;
  for (std::size_t slash; (slash = name.find('/', start)) != std::string::npos; start = slash + 1) {
    h5::Group next = (g ? *g : root).open_group(name.substr(start, slash - start));
    g.emplace(std::move(next));
  }
  return (g ? *g : root).read_float(name.substr(start)).data;
}

void write_replica_checkpoint(h5::Group& g, const ReplicaCheckpoint& r) {
  g.write_attr("epochs_done", static_cast<std::int64_t>(r.epochs.size()));
  g.write_attr("step", static_cast<std::int64_t>(r.step));
  g.write_attr("eval_passes", static_cast<std::int64_t>(r.eval_passes));
  g.write_attr("samples_trained", r.samples_trained);
  g.write_attr("train_seconds", r.train_seconds);
  g.write_attr("seconds", r.seconds);
  g.write_attr("diverged", static_cast<std::int64_t>(r.diverged));
  g.write_attr("status", r.status);
  const std::size_t E = r.epochs.size();
  NdArray<double> curves({E, 6});
  for (std::size_t e = 0; e < E; ++e) {
    const EpochRecord& x = r.epochs[e];
    const double row[6] = {x.train_loss, x.train_accuracy, x.test_loss, x.test_accuracy, x.lr, x.seconds};
    for (std::size_t k = 0; k < 6; ++k) curves.data[e * 6 + k] = row[k];
  }
  g.write("epochs", curves,
          {"", "per finished epoch: train_loss, train_accuracy, test_loss, test_accuracy, lr, seconds",
           0});
  std::vector<std::string> names;
  h5::Group state = g.create_group("state");
  for (const auto& [name, values] : r.state.arrays) {
    write_state_array(state, name, values);
    names.push_back(name);
  }
  state.write_attr("arrays", join_lines(names));
  names.clear();
  NdArray<std::int64_t> counts({r.state.counters.size()});
  std::size_t k = 0;
  for (const auto& [name, value] : r.state.counters) {
    names.push_back(name);
    counts.data[k++] = value;
  }
  state.write_attr("counters", join_lines(names));
  state.write("counter_values", counts, {"", "the counters named by the attribute 'counters', in order", 0});
}

ReplicaCheckpoint read_replica_checkpoint(const h5::Group& g) {
  ReplicaCheckpoint r;
  const auto count = [&](const char* name) {
    const std::int64_t n = g.read_attr_int(name);
    if (n < 0)
      throw FileError(g.file(), g.object_path(), fmt::format("attribute {} = {} must be >= 0", name, n));
    return n;
  };
  const std::int64_t epochs_done = count("epochs_done");
  r.step = static_cast<std::uint64_t>(count("step"));
  r.eval_passes = static_cast<std::uint64_t>(count("eval_passes"));
  r.samples_trained = count("samples_trained");
  r.train_seconds = g.read_attr_double("train_seconds");
  r.seconds = g.read_attr_double("seconds");
  r.diverged = g.read_attr_int("diverged") != 0;
  r.status = g.read_attr_string("status");
  const NdArray<double> curves = g.read_double("epochs");
  if (curves.shape.size() != 2 || curves.shape[1] != 6 ||
      curves.shape[0] != static_cast<std::size_t>(epochs_done))
    throw FileError(g.file(), g.object_path("epochs"),
                    fmt::format("expected {} x 6 values (epochs_done = {})", epochs_done, epochs_done));
  for (std::size_t e = 0; e < curves.shape[0]; ++e) {
    const double* row = curves.data.data() + e * 6;
    r.epochs.push_back({row[0], row[1], row[2], row[3], row[4], row[5]});
  }
  const h5::Group state = g.open_group("state");
  for (const std::string& name : split_lines(state.read_attr_string("arrays")))
    r.state.arrays[name] = read_state_array(state, name);
  const std::vector<std::string> counter_names = split_lines(state.read_attr_string("counters"));
  const NdArray<std::int64_t> values = state.read_int("counter_values");
  if (values.data.size() != counter_names.size())
    throw FileError(g.file(), state.object_path("counter_values"),
                    fmt::format("{} values for {} counters", values.data.size(), counter_names.size()));
  for (std::size_t k = 0; k < counter_names.size(); ++k)
    r.state.counters[counter_names[k]] = values.data[k];
  return r;
}

}  // namespace

const std::vector<float>& StateArchive::array(const std::string& name, std::int64_t size) const {
  const auto it = arrays.find(name);
  MC_VALIDATE(it != arrays.end(), "the checkpoint has no state '{}'", name);
  MC_VALIDATE(size < 0 || it->second.size() == static_cast<std::size_t>(size),
              "the checkpoint's state '{}' has {} values, the run needs {}", name, it->second.size(),
              size);
  return it->second;
}

std::int64_t StateArchive::counter(const std::string& name) const {
  const auto it = counters.find(name);
  MC_VALIDATE(it != counters.end(), "the checkpoint has no counter '{}'", name);
  return it->second;
}

std::string checkpoint_path(const std::string& results_path) { return results_path + ".checkpoint"; }

Checkpoint::Checkpoint(std::string path, std::string config_text, std::string model_toml,
                       std::size_t replicas)
    : path_(std::move(path)),
      config_text_(std::move(config_text)),
      model_toml_(std::move(model_toml)),
      replicas_(replicas) {}

bool Checkpoint::load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec)) return false;
  h5::read_guarded(path_, [&] {
    load_unchecked();
    return true;
  });
  forget_input_file(path_);  // read to be rewritten: the run replaces it after every epoch
  return true;
}

void Checkpoint::load_unchecked() {
  const h5::Group root = h5::open_file(path_);
  const std::string format = root.has_attr("format") ? root.read_attr_string("format") : "";
  if (format != kFormat)
    throw FileError(path_, fmt::format("not a memcarlo train checkpoint (format '{}', expected '{}')",
                                       format, kFormat));
  const std::int64_t version = root.read_attr_int("format_version");
  if (version != kVersion)
    throw FileError(path_, fmt::format("checkpoint format_version {} is not {}, which this memcarlo "
                                       "reads", version, kVersion));
  const std::string config = root.read_attr_string("config");
  if (config != config_text_)
    throw InputError(fmt::format("{}: the checkpoint is of another run config ({}); rerun that "
                                 "config, or delete the checkpoint to start afresh",
                                 path_, first_difference(config, config_text_)));
  if (root.read_attr_string("model_toml") != model_toml_)
    throw InputError(fmt::format("{}: the checkpoint is of another model ({}); delete it to start "
                                 "afresh", path_,
                                 first_difference(root.read_attr_string("model_toml"), model_toml_)));
  const h5::Group replicas = root.open_group("replicas");
  for (const std::string& name : replicas.children()) {
    std::size_t index = 0;
    const bool numeric = !name.empty() && name.find_first_not_of("0123456789") == std::string::npos;
    if (numeric) index = std::stoul(name);
    if (!numeric || index >= replicas_.size())
      throw FileError(path_, replicas.object_path(name),
                      fmt::format("not a replica of this run ({} replicas)", replicas_.size()));
    replicas_[index] = read_replica_checkpoint(replicas.open_group(name));
  }
}

const ReplicaCheckpoint* Checkpoint::saved(std::size_t replica) const {
  MC_ASSERT(replica < replicas_.size());
  return replicas_[replica] ? &*replicas_[replica] : nullptr;
}

void Checkpoint::save(std::size_t replica, ReplicaCheckpoint state) {
  MC_ASSERT(replica < replicas_.size());
  const std::lock_guard<std::mutex> lock(mutex_);
  replicas_[replica] = std::move(state);
  write_locked();
}

void Checkpoint::write_locked() const {
  h5::OutputFile out(path_);
  h5::Group& root = out.root();
  root.write_attr("format", kFormat);
  root.write_attr("format_version", kVersion);
  root.write_attr("created_by", kCreatedBy);
  root.write_attr("config", config_text_);
  root.write_attr("model_toml", model_toml_);
  root.write_attr("replicas", static_cast<std::int64_t>(replicas_.size()));
  h5::Group replicas = root.create_group("replicas");
  for (std::size_t i = 0; i < replicas_.size(); ++i) {
    if (!replicas_[i]) continue;
    h5::Group g = replicas.create_group(fmt::format("{:03}", i));
    write_replica_checkpoint(g, *replicas_[i]);
  }
  out.commit();
}

void remove_checkpoint(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (ec) throw FileError(path, fmt::format("cannot remove the finished run's checkpoint: {}", ec.message()));
}

}  // namespace memcarlo::training
