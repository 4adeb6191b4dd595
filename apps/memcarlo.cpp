// The memcarlo command line: subcommands parse their flags, call library code and print.
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <limits>
#include <new>
#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "calibration/calibration.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/files.hpp"
#include "core/mpi.hpp"
#include "core/parallel.hpp"
#include "core/version.hpp"
#include "data/hdf5.hpp"
#include "data/importers.hpp"
#include "data/measurements.hpp"
#include "data/summary.hpp"
#include "physics/simulate.hpp"
#include "analog/hardware.hpp"
#include "campaign/analysis.hpp"
#include "campaign/campaign.hpp"
#include "campaign/run_config.hpp"
#include "campaign/runner.hpp"
#include "training/model.hpp"
#include "training/checkpoint.hpp"
#include "training/trainer.hpp"

namespace mc = memcarlo;
namespace fs = std::filesystem;

namespace {

// The first word of the command line that is not a command where one is expected ("" if
// none): `memcarlo frobnicate`, `memcarlo campaign warp`. Stops at the first option, whose
// values it cannot tell from words.
std::string unknown_command(const CLI::App& app, int argc, char** argv) {
  const CLI::App* current = &app;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    const std::vector<const CLI::App*> commands = current->get_subcommands({});
    if (commands.empty() || word.empty() || word[0] == '-') return "";
    const auto it = std::find_if(commands.begin(), commands.end(),
                                 [&](const CLI::App* c) { return c->get_name() == word; });
    if (it == commands.end()) {
      std::vector<std::string> names;
      for (const CLI::App* c : commands) names.push_back(c->get_name());
      return fmt::format("unknown command '{}'{}: use {}", word,
                         current == &app ? "" : " of " + current->get_name(),
                         fmt::join(names, ", "));
    }
    current = *it;
  }
  return "";
}

std::string models_help() {
  std::string out = "\nModels, their presets and every key (--set key=value; units are SI, "
                    "'1' = dimensionless):\n";
  for (const auto& m : mc::simulation_models()) {
    out += fmt::format("\n  {}  (presets: {})\n    {}\n", m.name, fmt::join(m.presets, ", "), m.summary);
    for (const auto& p : m.params)
      out += fmt::format("    {:<22} {:>8}  default {:<12} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                         p.default_value, p.doc);
  }
  out += "\nA --config TOML file holds the same keys, at top level or under a [MODEL] table (the\n"
         "table wins); --set overrides both. The output uses the measured-data schema\n"
         "(docs/hdf5-schema.md); its provenance attribute echoes the resolved config.\n";
  return out;
}

void print_summary(const std::string& file, const mc::MeasurementFile& f) {
  for (const auto& m : f.sets) {
    const auto s = mc::summarize(m);
    fmt::print("{:<30} {:<24} {:<12} {:<26} {}\n", fs::path(file).filename().string(), m.name, s.kind,
               s.shape, s.detail);
  }
}

// A whole number from the command line; scientific notation (1e5) is accepted when integral.
std::uint64_t parse_count(const std::string& text, const char* option, std::uint64_t max) {
  std::uint64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, err] = std::from_chars(text.data(), end, value);
  if (err == std::errc() && ptr == end) {
    MC_VALIDATE(value <= max, "{} {} exceeds the limit of {}", option, text, max);
    return value;
  }
  double real = 0;
  auto [rptr, rerr] = std::from_chars(text.data(), end, real);
  MC_VALIDATE(rerr == std::errc() && rptr == end && real >= 0 && real == std::floor(real),
              "{} expects a whole number >= 0, got '{}'", option, text);
  MC_VALIDATE(real <= static_cast<double>(max), "{} {} exceeds the limit of {}", option, text, max);
  return static_cast<std::uint64_t>(real);
}

void print_summary_header() {
  fmt::print("{:<30} {:<24} {:<12} {:<26} {}\n", "file", "set", "kind", "shape", "summary");
}

int run_import(const std::string& from, const std::string& out_dir) {
  if (!fs::is_directory(from)) throw mc::FileError(from, "measured-data folder not found");
  if (!fs::is_directory(out_dir)) throw mc::FileError(out_dir, "output folder not found");
  const auto files = mc::import_all(from);
  // Validate everything before writing anything, so a bad source leaves data/ untouched.
  for (const auto& imported : files) {
    mc::h5::check_output_path((fs::path(out_dir) / imported.file_name).string());
    for (const auto& m : imported.content.sets)
      mc::validate(m, fmt::format("{} (import into {}): /{}", from, imported.file_name, m.name));
  }
  for (const auto& imported : files) {
    const std::string path = (fs::path(out_dir) / imported.file_name).string();
    mc::write_measurements(path, imported.content);
    fmt::print("wrote {} ({} data sets)\n", path, imported.content.sets.size());
  }
  return 0;
}

std::string calibration_help() {
  std::string out = "\nKinds (and the data kinds each accepts):\n";
  for (const auto& k : mc::calibration_kinds())
    out += fmt::format("\n  {:<20} [{}]\n    {}\n", k.name, fmt::join(k.accepts, ", "), k.summary);
  out += "\nEvery fit reports estimates with percentile bootstrap intervals (resampling devices,\n"
         "cycles or records; parallel and reproducible by --seed), Kolmogorov-Smirnov and\n"
         "Anderson-Darling goodness of fit, and a round trip (simulate with the fitted\n"
         "parameters, two-sample KS against the data). PARAMS.toml holds the fitted keys under a\n"
         "[MODEL] table and is accepted by 'memcarlo device simulate MODEL --config PARAMS.toml'.\n"
         "--report DIR writes report.md, report.json and SVG figures. See docs/calibration.md.\n";
  return out;
}

void print_calibration(const mc::CalibrationResult& r) {
  fmt::print("{} calibration of {} ({}), {:g}% bootstrap intervals from {} resamples\n", r.kind,
             r.source, r.model, 100 * r.confidence, r.bootstrap_resamples);
  for (const auto& p : r.parameters) {
    const std::string interval = p.identified ? fmt::format("[{:.5g}, {:.5g}]", p.ci_low, p.ci_high)
                                              : std::string("not identified");
    fmt::print("  {:<24} {:>12.5g}  {:<28} {}\n", p.key, p.estimate, interval, p.unit);
  }
  for (const auto& g : r.gof)
    fmt::print("  fit: {}: KS D = {:.4g} (p = {:.3g}), AD A2 = {:.4g} (p = {:.3g})\n", g.what,
               g.ks.statistic, g.ks.p_value, g.ad.statistic, g.ad.p_value);
  for (const auto& t : r.round_trips)
    fmt::print("  round trip: {}: KS D = {:.4g} (p = {:.3g})\n", t.what, t.ks.statistic,
               t.ks.p_value);
  for (const auto& n : r.notes) fmt::print("  note: {}\n", n);
}

std::string train_help() {
  std::string out =
      "\nEvery key of a run (RUN.toml holds them under [train]; a flag or --set key=value\n"
      "(or train.key=value) overrides the file; units: '1' = dimensionless):\n";
  for (const auto& p : mc::describe_params(mc::training::TrainConfig{}))
    out += fmt::format("  {:<16} {:>4}  default {:<10} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                       p.default_value, p.doc);
  out += "\nTraining on simulated device arrays (RUN.toml table [analog], or --set analog.key=value;\n"
         "docs/analog.md):\n";
  for (const auto& p : mc::describe_params(mc::analog::AnalogConfig{}))
    out += fmt::format("  {:<16} {:>4}  default {:<10} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                       p.default_value.empty() || p.default_value == "\"\"" ? "''" : p.default_value,
                       p.doc);
  out += "\nThe PCM feedback array of feedback_source = pcm (RUN.toml table [pcm-feedback], or\n"
         "--set pcm-feedback.key=value; docs/training.md):\n";
  for (const auto& p : mc::describe_params(mc::analog::PcmFeedbackConfig{}))
    out += fmt::format("  {:<16} {:>4}  default {:<10} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                       p.default_value.empty() || p.default_value == "\"\"" ? "''" : p.default_value,
                       p.doc);
  out += "\nConductance drift of PCM arrays during training (RUN.toml table [drift], or --set\n"
         "drift.key=value; any [drift] key turns drift on; docs/training.md):\n";
  for (const auto& p : mc::describe_params(mc::analog::DriftConfig{}))
    out += fmt::format("  {:<16} {:>4}  default {:<10} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                       p.default_value, p.doc);
  out += "\nThe cost model of on-chip training (RUN.toml table [cost], or --set cost.key=value;\n"
         "`--cost-only` prints it; analog/cost.hpp):\n";
  for (const auto& p : mc::describe_params(mc::analog::CostConfig{}))
    out += fmt::format("  {:<16} {:>4}  default {:<10} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                       p.default_value, p.doc);
  out += "\nThe devices' own keys (RUN.toml tables [memristor], [lut], [pcm-crystallization],\n"
         "[pcm-drift], or --set memristor.key=value) apply over analog.device_config; the keys,\n"
         "units and defaults are those of `memcarlo device simulate --help`.\n";
  out += "\nReplica i uses the random streams of (seed, i) and runs on one thread: the results do\n"
         "not depend on --threads. The results HDF5 holds per-epoch curves, final accuracies,\n"
         "throughput, the echoed config and model, the final weights, and with analog devices the\n"
         "pulse statistics of every tile and the inference chip's accuracy over time\n"
         "(docs/training.md, docs/analog.md). Datasets come from `bash scripts/fetch_datasets.sh`\n"
         "(docs/datasets.md).\n";
  return out;
}

// `--set` of `memcarlo train`: `analog.key=value` sets a key of the [analog] table (likewise
// `pcm-feedback.key=value`),
// `memristor.key=value` (or another device model's) one of the run's device keys, `key=value`
// and `train.key=value` one of [train].
void apply_train_assignment(mc::campaign::RunConfig& run, const std::string& assignment) {
  const std::string origin = fmt::format("--set {}", assignment);
  const auto eq = assignment.find('=');
  MC_VALIDATE(eq != std::string::npos && eq > 0, "{}: expected key=value", origin);
  std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  if (key.find('.') == std::string::npos) key = "train." + key;
  const std::string table = key.substr(0, key.find('.'));
  const std::string name = key.substr(key.find('.') + 1);
  // String keys take unquoted text as it is (inference_times=1, layers=3); quoted text and
  // other keys are parsed as a TOML value.
  const bool quoted = value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
                      value.back() == value.front();
  auto set = [&](auto& config) {
    if (quoted)
      mc::apply_table(config, mc::parse_assignment(name + "=" + value), origin);
    else
      mc::set_param_from_text(config, name, value, origin);
  };
  if (table == "analog") {
    set(run.analog);
  } else if (table == "pcm-feedback") {
    set(run.pcm_feedback);
  } else if (table == "train") {
    set(run.train);
  } else if (table == "drift") {
    if (!run.drift) run.drift.emplace();
    set(*run.drift);
  } else if (table == "cost") {
    set(run.cost);
  } else {  // a device model's key, or an error naming the table
    const toml::table parsed = mc::parse_assignment(name + "=" + value);
    mc::campaign::set_run_key(run, key, *parsed.get(name), origin);
  }
}

std::string command_line(int argc, char** argv) {
  std::string s = "memcarlo";
  for (int i = 1; i < argc; ++i) s += fmt::format(" {}", argv[i]);
  return s;
}

}  // namespace

// LeakSanitizer (the sanitizer build): HDF5 1.10 does not free everything it allocated while
// parsing a damaged file before it returns its error; those blocks are HDF5's, not memcarlo's.
extern "C" const char* __lsan_default_suppressions() { return "leak:libhdf5_serial.so\n"; }

int main(int argc, char** argv) {
  mc::track_input_files();  // no output may replace a file this command read
  // Past a file-size limit (ulimit -f) a write fails with EFBIG and the writer reports it,
  // instead of the process dying of SIGXFSZ with its temporary file half written.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{fmt::format(
      "memcarlo {}: Monte Carlo device physics and on-chip training for analog compute-in-memory.\n"
      "Measured data and simulated devices share one HDF5 format (docs/hdf5-schema.md).",
      mc::kVersion)};
  app.require_subcommand(1);
  app.set_version_flag("--version", mc::kCreatedBy);
  int threads = 0;
  app.add_option("--threads", threads, "OpenMP threads, 0 = OMP_NUM_THREADS or all cores")
      ->check(CLI::Range(0, 1024));

  // import
  auto* import_cmd = app.add_subcommand(
      "import", "Convert the public measured data sets into schema-v1 HDF5 files");
  std::string from = "../shared/measured", out_dir = "data/measured";
  import_cmd->add_option("--from", from, "folder with the source data sets")->capture_default_str();
  import_cmd->add_option("--out", out_dir, "folder for the .h5 files")->capture_default_str();

  // summary
  auto* summary_cmd = app.add_subcommand(
      "summary", "Validate measurement files and print one line per data set");
  std::vector<std::string> summary_files;
  summary_cmd->add_option("files", summary_files, "memcarlo-measurements .h5 files")->required();

  // device simulate
  auto* device_cmd = app.add_subcommand("device", "Device models");
  device_cmd->require_subcommand(1);
  auto* simulate_cmd = device_cmd->add_subcommand(
      "simulate", "Simulate many devices and write the result in the measured-data schema");
  mc::SimulationRequest request;
  std::string out_file, config_file;
  std::string devices = "0";
  std::string seed = "1";
  bool quiet = false;
  simulate_cmd->add_option("model", request.model, "device model (listed below)")->required();
  simulate_cmd->add_option("--devices", devices, "number of devices (1 ... 1e8)")->required();
  simulate_cmd->add_option("--out", out_file, "output .h5 file (written atomically)")->required();
  simulate_cmd->add_option("--seed", seed, "master random seed, 0 ... 2^64-1 (same seed, same file)")
      ->capture_default_str();
  simulate_cmd->add_option("--preset", request.preset, "parameter preset of the model");
  simulate_cmd->add_option("--config", config_file, "TOML file with model keys");
  simulate_cmd->add_option("--set", request.assignments, "override one key (repeatable): --set key=value")
      ->expected(1)
      ->take_all();
  simulate_cmd->add_flag("--quiet", quiet, "no progress output");
  simulate_cmd->footer(models_help());

  // calibrate
  auto* calibrate_cmd = app.add_subcommand(
      "calibrate", "Fit a device model to measured data in HDF5, with intervals and goodness of fit");
  std::string calibration_kind, calibrate_in, calibrate_out, report_dir;
  std::string bootstrap = "200", calibrate_seed = "1";
  bool calibrate_quiet = false, no_round_trip = false;
  calibrate_cmd->add_option("kind", calibration_kind, "what to fit (listed below)")->required();
  calibrate_cmd->add_option("--in", calibrate_in, "FILE.h5 or FILE.h5:GROUP (memcarlo-measurements)")
      ->required();
  calibrate_cmd->add_option("--out", calibrate_out, "PARAMS.toml to write (atomically)")->required();
  calibrate_cmd->add_option("--report", report_dir, "directory for report.md, report.json and figures");
  calibrate_cmd->add_option("--bootstrap", bootstrap, "bootstrap resamples for the intervals (>= 20)")
      ->capture_default_str();
  calibrate_cmd->add_option("--seed", calibrate_seed, "seed of resampling and simulation")
      ->capture_default_str();
  calibrate_cmd->add_flag("--no-round-trip", no_round_trip, "skip the simulate-and-compare check");
  calibrate_cmd->add_flag("--quiet", calibrate_quiet, "no progress output");
  calibrate_cmd->footer(calibration_help());

  // train
  auto* train_cmd = app.add_subcommand(
      "train", "Train a network (MLP, LeNet-5, VGG-16) on MNIST, Fashion-MNIST or CIFAR-10 by "
               "backprop, DFA or a hybrid; replicas in parallel");
  std::string train_config, train_out, print_model;
  std::vector<std::string> train_sets;
  bool train_quiet = false;
  // Flags that set a key of the run; given ones override RUN.toml.
  const std::vector<std::pair<std::string, std::string>> train_flags = {
      {"model", "mlp, lenet5, vgg16, or a model TOML file"},
      {"dataset", "mnist, fashion-mnist or cifar10"},
      {"rule", "bp, dfa or hybrid"},
      {"epochs", "training epochs"},
      {"batch", "mini-batch size"},
      {"lr", "learning rate"},
      {"seed", "master seed"},
      {"replicas", "independent replicas, in parallel"},
      {"width", "channel/width multiplier (VGG-16 at 1/4: 0.25)"},
      {"widths", "mlp hidden widths, e.g. 800,800"},
  };
  std::vector<std::string> train_flag_values(train_flags.size());
  train_cmd->add_option("--config", train_config, "RUN.toml with a [train] table");
  for (std::size_t i = 0; i < train_flags.size(); ++i)
    train_cmd->add_option("--" + train_flags[i].first, train_flag_values[i], train_flags[i].second);
  train_cmd->add_option("--threads", threads, "OpenMP threads (replicas run one per thread)")
      ->check(CLI::Range(0, 1024));
  train_cmd->add_option("--out", train_out, "results .h5 file (written atomically)");
  train_cmd->add_option("--set", train_sets, "override one key (repeatable): --set key=value")
      ->expected(1)
      ->take_all();
  train_cmd->add_option("--print-model", print_model,
                        "print a built-in model's TOML (mlp, lenet5, vgg16) and exit");
  train_cmd->add_flag("--quiet", train_quiet, "no progress output");
  bool train_resume = false;
  auto* resume_flag = train_cmd->add_flag("--resume", train_resume,
                      "continue the run from OUT.checkpoint, which memcarlo train rewrites at the "
                      "end of every epoch (results bitwise identical to an uninterrupted run); "
                      "without a checkpoint the run starts from the beginning");
  bool train_cost_only = false;
  train_cmd->add_flag("--cost-only", train_cost_only,
                      "print the cost model of the run (time and energy per phase, backprop against "
                      "DFA; [cost] table) and exit without training")
      ->excludes(resume_flag);
  train_cmd->footer(train_help());

  // campaign
  auto* campaign_cmd = app.add_subcommand(
      "campaign", "Monte Carlo campaigns: many trainings over axes of a base run, in parallel");
  campaign_cmd->require_subcommand(1);
  auto* campaign_run_cmd = campaign_cmd->add_subcommand(
      "run", "Run a campaign's trials (one per thread) and commit each to the results file as it ends");
  std::string campaign_file, campaign_out, shard_text = "0/1";
  bool campaign_resume = false, campaign_dry_run = false, campaign_quiet = false, no_probe = false;
  campaign_run_cmd->add_option("campaign", campaign_file, "campaign TOML (docs/campaigns.md)")->required();
  campaign_run_cmd->add_option("--out", campaign_out, "results .h5 (each trial committed atomically)");
  campaign_run_cmd->add_flag("--resume", campaign_resume,
                             "continue the results file: run only the trials it lacks (and failed ones)");
  auto* dry_run_flag = campaign_run_cmd->add_flag(
      "--dry-run", campaign_dry_run, "list the points and trials and estimate the time; run nothing");
  campaign_run_cmd->add_flag("--no-probe", no_probe, "--dry-run without the timing probe")
      ->needs(dry_run_flag);
  campaign_run_cmd->add_option("--shard", shard_text,
                               "run the slice I/N of the trials (id % N == I), e.g. one job of an array")
      ->capture_default_str();
  campaign_run_cmd->add_option("--threads", threads,
                               "OpenMP threads (trials run one per thread); under mpirun, trials "
                               "at once per rank (default 1)")
      ->check(CLI::Range(0, 1024));
  campaign_run_cmd->add_flag("--quiet", campaign_quiet, "no progress output");
  campaign_run_cmd->footer(
      "\nA trial is (point, replica): the base run with one value of every axis, trained\n"
      "single-threaded with replica r's seed (common to every point). Same campaign, same\n"
      "results, whatever --threads, --shard and MPI ranks. A killed run leaves the results file\n"
      "as of its last finished trial; run again with --resume.\n"
      "MPI (a build with -DMEMCARLO_MPI=ON): `mpirun -np K memcarlo campaign run C.toml --out R.h5`\n"
      "spreads the trials over K ranks, handed out one at a time by rank 0, which alone writes\n"
      "the file. See docs/campaigns.md.\n");

  auto* campaign_merge_cmd = campaign_cmd->add_subcommand(
      "merge", "Join the results files of a campaign's shards into one");
  std::vector<std::string> merge_inputs;
  std::string merge_out;
  campaign_merge_cmd->add_option("shards", merge_inputs, "results .h5 of the shards (--shard I/N runs)")
      ->required();
  campaign_merge_cmd->add_option("--out", merge_out, "merged results .h5 (written atomically)")->required();

  // analyze
  auto* analyze_cmd = app.add_subcommand(
      "analyze", "Statistics of a campaign's results: groups by axes, means with confidence "
                 "intervals, tables and figures");
  std::string analyze_file, analyze_by, analyze_metric = "final_test_accuracy", analyze_out,
                                        analyze_compare;
  analyze_cmd->add_option("results", analyze_file, "results .h5 of `memcarlo campaign run`")->required();
  analyze_cmd->add_option("--by", analyze_by,
                          "axes to group by, comma separated (default: every axis; none: one group)");
  analyze_cmd->add_option("--metric", analyze_metric, "what to summarise (listed below)")
      ->capture_default_str();
  analyze_cmd->add_option("--out", analyze_out,
                          "directory for summary.csv, summary.md, figure.svg (and heatmap.svg)");
  analyze_cmd->add_option("--compare", analyze_compare,
                          "a second campaign's results: both side by side with the difference");
  analyze_cmd->footer(fmt::format(
      "\nMetrics: {}.\nPer group: n completed trials, mean, standard deviation and the 95% "
      "Student-t confidence\ninterval of the mean; diverged, failed and missing (not yet run) "
      "trials are counted apart.\nSee docs/campaigns.md.\n",
      mc::campaign::metric_help()));

  // CLI11 says only "A subcommand is required" for `memcarlo frobnicate`: name the word.
  if (const std::string unknown = unknown_command(app, argc, argv); !unknown.empty()) {
    fmt::print(stderr, "memcarlo: error: {} (see memcarlo --help)\n", mc::printable(unknown));
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    fmt::print(stderr, "memcarlo: error: {} (see memcarlo --help)\n", mc::printable(e.what()));
    return 1;
  }

  mc::h5::remove_partial_output_on_signal();
  std::optional<mc::mpi::Session> mpi_session;  // finalized after the error is printed
  try {
    MC_VALIDATE(mc::mpi::launched_size() == 1 || *campaign_run_cmd,
                "started by an MPI launcher with {} processes: only `memcarlo campaign run` "
                "spreads over MPI ranks; start other commands directly",
                mc::mpi::launched_size());
    mc::set_threads(threads);
    if (*import_cmd) return run_import(from, out_dir);
    if (*summary_cmd) {
      std::vector<mc::MeasurementFile> contents;
      for (const auto& file : summary_files) contents.push_back(mc::read_measurements(file));
      print_summary_header();
      for (std::size_t i = 0; i < summary_files.size(); ++i) print_summary(summary_files[i], contents[i]);
      return 0;
    }
    if (*simulate_cmd) {
      request.devices = static_cast<std::int64_t>(parse_count(devices, "--devices", 100'000'000));
      request.seed = parse_count(seed, "--seed", std::numeric_limits<std::uint64_t>::max());
      mc::h5::check_output_path(out_file);  // before the work, not after it
      request.show_progress = !quiet;
      toml::table config;
      if (!config_file.empty()) {
        config = mc::load_toml_file(config_file);
        request.config = &config;
        request.config_origin = config_file;
      }
      const auto result = mc::simulate_measurements(request);
      mc::write_measurements(out_file, result);
      if (!quiet) fmt::print("wrote {}\n", out_file);
      return 0;
    }
    if (*calibrate_cmd) {
      mc::CalibrationOptions options;
      options.bootstrap = static_cast<std::int64_t>(parse_count(bootstrap, "--bootstrap", 1'000'000));
      options.seed = parse_count(calibrate_seed, "--seed", std::numeric_limits<std::uint64_t>::max());
      options.show_progress = !calibrate_quiet;
      options.round_trip = !no_round_trip;
      mc::h5::check_output_path(calibrate_out);  // before the work, not after it
      if (!report_dir.empty() && fs::exists(report_dir) && !fs::is_directory(report_dir))
        throw mc::FileError(report_dir, "exists and is not a directory");
      if (!report_dir.empty() &&
          fs::weakly_canonical(report_dir) == fs::weakly_canonical(calibrate_out))
        throw mc::InputError(fmt::format("--report {} and --out {} are the same path: the report "
                                         "is a folder beside PARAMS.toml", report_dir, calibrate_out));
      const auto input = mc::select_calibration_input(calibration_kind, calibrate_in);
      mc::check_not_an_input(calibrate_out);  // read above: before the work, not after it
      const auto result = mc::calibrate(calibration_kind, input, options);
      const std::string command = command_line(argc, argv);
      if (!report_dir.empty()) mc::write_report(report_dir, result, command);
      mc::write_text_file(calibrate_out, mc::params_toml(result, command));
      if (!calibrate_quiet) {
        print_calibration(result);
        fmt::print("wrote {}{}\n", calibrate_out, report_dir.empty() ? "" : " and " + report_dir + "/");
      }
      return 0;
    }
    if (*analyze_cmd) {
      namespace cp = mc::campaign;
      std::vector<std::string> by;
      if (!analyze_by.empty()) {
        std::stringstream in(analyze_by);
        for (std::string key; std::getline(in, key, ',');) by.push_back(key);
      }
      if (!analyze_out.empty()) {
        MC_VALIDATE(!fs::exists(analyze_out) || fs::is_directory(analyze_out),
                    "--out {}: exists and is not a directory", analyze_out);
      }
      const cp::CampaignResults results = cp::read_results(analyze_file);
      const cp::Summary summary = cp::summarize(results, by, analyze_metric);
      // --compare: the other campaign grouped by the same axes (by key)
      std::optional<cp::CampaignResults> other;
      std::optional<cp::Summary> other_summary;
      if (!analyze_compare.empty()) {
        other = cp::read_results(analyze_compare);
        std::vector<std::string> keys;
        for (std::size_t k : summary.axes) keys.push_back(results.campaign.axes[k].key);
        other_summary =
            cp::summarize(*other, keys.empty() ? std::vector<std::string>{"none"} : keys, analyze_metric);
      }
      const auto comparison = [&](cp::TableFormat format) {
        return cp::compare_table(results, summary, *other, *other_summary, format);
      };
      fmt::print("{} ({}): {} of {} trials in the file; {} by {}\n", results.campaign.name,
                 analyze_file, results.trials.size(), results.campaign.trials(), analyze_metric,
                 summary.axes.empty() ? std::string("(one group)") : analyze_by.empty() ? "every axis" : analyze_by);
      fmt::print("{}", cp::format_table(results, summary, cp::TableFormat::text));
      if (other) fmt::print("\ncompared with {} (b):\n{}", analyze_compare, comparison(cp::TableFormat::text));
      if (!analyze_out.empty()) {
        fs::create_directories(analyze_out);
        const auto path = [&](const char* name) { return (fs::path(analyze_out) / name).string(); };
        mc::write_text_file(path("summary.csv"), cp::format_table(results, summary, cp::TableFormat::csv));
        mc::write_text_file(path("summary.md"), cp::format_table(results, summary, cp::TableFormat::markdown));
        std::vector<std::string> written = {"summary.csv", "summary.md"};
        if (const std::string svg = cp::summary_figure(results, summary); !svg.empty()) {
          mc::write_text_file(path("figure.svg"), svg);
          written.push_back("figure.svg");
        }
        if (const std::string svg = cp::summary_heatmap(results, summary); !svg.empty()) {
          mc::write_text_file(path("heatmap.svg"), svg);
          written.push_back("heatmap.svg");
        }
        if (other) {
          mc::write_text_file(path("compare.csv"), comparison(cp::TableFormat::csv));
          mc::write_text_file(path("compare.md"), comparison(cp::TableFormat::markdown));
          written.push_back("compare.csv");
          written.push_back("compare.md");
        }
        fmt::print("wrote {} in {}\n", fmt::join(written, ", "), analyze_out);
      }
      return 0;
    }
    if (*campaign_merge_cmd) {
      const auto r = mc::campaign::merge_shards(merge_inputs, merge_out, command_line(argc, argv));
      fmt::print("merged {} shard files: {} of {} trials; wrote {}\n", merge_inputs.size(), r.present,
                 r.trials, merge_out);
      if (r.present < r.trials)
        fmt::print("{} trials are missing: `memcarlo campaign run CAMPAIGN.toml --out {} --resume` "
                   "runs them\n",
                   r.trials - r.present, merge_out);
      return 0;
    }
    if (*campaign_run_cmd) {
      namespace cp = mc::campaign;
      const cp::Campaign campaign = cp::load_campaign(campaign_file);
      const cp::Shard shard = cp::parse_shard(shard_text);
      const int ranks = mc::mpi::launched_size();
      if (campaign_dry_run) {
        if (mc::mpi::launched_rank() == 0)
          fmt::print("{}", cp::dry_run(campaign, shard, ranks > 1 ? ranks * std::max(threads, 1) : mc::max_threads(), !no_probe));
        return 0;
      }
      MC_VALIDATE(!campaign_out.empty(), "campaign run needs --out FILE.h5 for the results (or --dry-run)");
      cp::RunOptions options;
      options.resume = campaign_resume;
      options.show_progress = !campaign_quiet;
      options.shard = shard;
      options.command = command_line(argc, argv);
      if (ranks > 1) {  // under mpirun: --threads trials per rank (default 1)
        mpi_session.emplace();
        options.mpi = &*mpi_session;
        options.threads_per_rank = threads > 0 ? threads : 1;
      }
      const cp::RunReport r = cp::run_campaign(campaign, campaign_out, options);
      if (mpi_session && mpi_session->rank() != 0) return 0;
      if (!campaign_quiet)
        fmt::print("{} trials: {} run now ({} completed, {} diverged, {} failed), {} already in the "
                   "file; {:.1f} s; wrote {}\n",
                   r.trials, r.trials - r.skipped, r.completed, r.diverged, r.failed, r.skipped,
                   r.seconds, campaign_out);
      if (r.failed > 0) {
        fmt::print(stderr,
                   "memcarlo: error: {} trials failed (their errors are recorded in {}; --resume "
                   "runs them again)\n",
                   r.failed, campaign_out);
        return 3;
      }
      return 0;
    }
    if (*train_cmd) {
      namespace tr = mc::training;
      mc::campaign::RunConfig run;
      if (!print_model.empty()) {
        fmt::print("{}", tr::builtin_model_toml(print_model, {800, 800}, "tanh"));
        return 0;
      }
      if (!train_config.empty())
        mc::campaign::apply_run_tables(run, mc::load_toml_file(train_config), train_config);
      for (std::size_t i = 0; i < train_flags.size(); ++i)
        if (!train_flag_values[i].empty())
          mc::set_param_from_text(run.train, train_flags[i].first, train_flag_values[i],
                                  "--" + train_flags[i].first);
      for (const auto& a : train_sets) apply_train_assignment(run, a);
      if (train_cost_only) {
        mc::campaign::validate(run);
        fmt::print("{}", mc::analog::describe(mc::analog::run_cost(run.cost, run.train), run.train));
        return 0;
      }
      MC_VALIDATE(!train_out.empty(), "train needs --out FILE.h5 for the results");
      mc::campaign::validate(run);
      mc::h5::check_output_path(train_out);  // before the work, not after it
      std::error_code same_ec;
      if (!run.train.init_weights.empty() &&
          fs::equivalent(run.train.init_weights, train_out, same_ec))
        throw mc::FileError(train_out, "is also init_weights, an input of this run: refusing to "
                                       "overwrite it (write the results to another file)");
      tr::TrainOptions options;
      options.show_progress = !train_quiet;
      const mc::campaign::RunHardware hardware = mc::campaign::build_hardware(run);
      hardware.attach(options);
      if (hardware.feedback && !train_quiet)
        fmt::print("PCM feedback: {} cells ({}) after {} pulses: G mean {:.3g} uS, sd {:.3g} uS "
                   "(library simulated in {:.1f} s)\n",
                   run.pcm_feedback.library_devices, run.pcm_feedback.preset, run.pcm_feedback.pulses,
                   hardware.feedback->mean_S() * 1e6, hardware.feedback->std_S() * 1e6,
                   hardware.feedback->library_seconds());
      if (hardware.feedback && !train_quiet && run.pcm_feedback.periphery == "realistic") {
        const auto& f = run.pcm_feedback;
        fmt::print("in-memory error computing: {}-bit DAC, {}-bit ADC (bound {}), output noise {}, "
                   "{}\n",
                   f.dac_bits, f.adc_bits, f.out_bound, f.out_noise,
                   f.read_noise ? fmt::format("1/f read noise at {} s", f.read_time)
                                : std::string("no read noise"));
      }
      if (run.drift && !train_quiet)
        fmt::print("drift: training starts {} s after programming, {} s per batch, compensation {}\n",
                   run.drift->t_wait, run.drift->time_per_batch, run.drift->compensation);
      // Kill-safe: a checkpoint beside the results after every epoch, for --resume.
      const bool checkpointed = options.hardware == nullptr && !run.drift;
      MC_VALIDATE(checkpointed || !train_resume,
                  "--resume: runs on analog tiles ([analog]) or with drift ([drift]) write no "
                  "checkpoint yet, so they cannot be resumed");
      if (checkpointed) {
        options.checkpoint = tr::checkpoint_path(train_out);
        options.resume = train_resume;
        mc::remove_stale_temporaries(options.checkpoint);
        if (train_resume && !std::filesystem::exists(options.checkpoint) && !train_quiet)
          fmt::print("--resume: no checkpoint {}: starting from the beginning\n", options.checkpoint);
      } else if (!train_quiet) {
        fmt::print("no checkpoint: runs on analog tiles or with drift cannot be resumed yet\n");
      }
      const mc::analog::CostPlan cost_plan = mc::analog::plan_cost(run.train);  // before the work
      auto result = tr::run_training(run.train, options);
      if (result.resumed_replicas > 0 && !train_quiet)
        fmt::print("resumed from {}: {} replicas had {} epochs done\n", options.checkpoint,
                   result.resumed_replicas, result.resumed_epochs);
      result.run_records.push_back(mc::campaign::cost_record(run, cost_plan, result));
      tr::write_results(train_out, result, command_line(argc, argv));
      if (checkpointed) tr::remove_checkpoint(options.checkpoint);
      if (!train_quiet) {
        for (std::size_t i = 0; i < result.replicas.size(); ++i) {
          const auto& r = result.replicas[i];
          fmt::print("replica {}: {} after {} epochs, test accuracy {:.4f}\n", i, r.status,
                     r.epochs.size(), r.final_test_accuracy);
          if (r.extras && !r.extras->summary().empty())
            fmt::print("  {}\n", r.extras->summary());
        }
        fmt::print("{:.0f} training samples/s over {:.1f} s; wrote {}\n", result.samples_per_second,
                   result.wall_seconds, train_out);
      }
      int diverged = 0;
      for (std::size_t i = 0; i < result.replicas.size(); ++i) {
        if (!result.replicas[i].diverged) continue;
        ++diverged;
        fmt::print(stderr, "memcarlo: error: replica {} {} (recorded in {})\n", i,
                   result.replicas[i].status, train_out);
      }
      return diverged ? 3 : 0;
    }
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "memcarlo: error: out of memory: reduce --devices or the pulses/times per device\n");
    return 1;
  } catch (const mc::mpi::RankError& e) {  // this rank's own: every rank says its own
    fmt::print(stderr, "memcarlo: error: {}\n", mc::printable(e.what()));
    return 1;
  } catch (const std::exception& e) {
    // Under mpirun every rank meets the same error (a bad campaign file): rank 0 says it.
    if (mc::mpi::launched_rank() == 0)
      fmt::print(stderr, "memcarlo: error: {}\n", mc::printable(e.what()));
    return 1;
  }
  return 0;
}
