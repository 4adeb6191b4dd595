// The memcarlo command line: subcommands parse their flags, call library code and print.
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/parallel.hpp"
#include "core/version.hpp"
#include "data/importers.hpp"
#include "data/measurements.hpp"
#include "data/summary.hpp"
#include "physics/simulate.hpp"

namespace mc = memcarlo;
namespace fs = std::filesystem;

namespace {

std::string models_help() {
  std::string out = "\nModels, their presets and every key (--set key=value; units are SI, "
                    "'1' = dimensionless):\n";
  for (const auto& m : mc::simulation_models()) {
    out += fmt::format("\n  {}  (presets: {})\n    {}\n", m.name, fmt::join(m.presets, ", "), m.summary);
    for (const auto& p : m.params)
      out += fmt::format("    {:<22} {:>8}  default {:<12} {}\n", p.key, p.unit.empty() ? "-" : p.unit,
                         p.default_value, p.doc);
  }
  out += "\nA --config TOML file holds the same keys, at top level or under a [MODEL] table;\n"
         "--set overrides it. The output uses the measured-data schema (docs/hdf5-schema.md).\n";
  return out;
}

void print_summary(const std::string& file, const mc::MeasurementFile& f) {
  for (const auto& m : f.sets) {
    const auto s = mc::summarize(m);
    fmt::print("{:<30} {:<24} {:<12} {:<26} {}\n", fs::path(file).filename().string(), m.name, s.kind,
               s.shape, s.detail);
  }
}

void print_summary_header() {
  fmt::print("{:<30} {:<24} {:<12} {:<26} {}\n", "file", "set", "kind", "shape", "summary");
}

int run_import(const std::string& from, const std::string& out_dir) {
  if (!fs::is_directory(from)) throw mc::FileError(from, "measured-data folder not found");
  if (!fs::is_directory(out_dir)) throw mc::FileError(out_dir, "output folder not found");
  for (auto& imported : mc::import_all(from)) {
    const std::string path = (fs::path(out_dir) / imported.file_name).string();
    mc::write_measurements(path, imported.content);
    fmt::print("wrote {} ({} data sets)\n", path, imported.content.sets.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{fmt::format(
      "memcarlo {}: Monte Carlo device physics and on-chip training for analog compute-in-memory.\n"
      "Measured data and simulated devices share one HDF5 format (docs/hdf5-schema.md).",
      mc::kVersion)};
  app.require_subcommand(1);
  app.set_version_flag("--version", mc::kCreatedBy);
  int threads = 0;
  app.add_option("--threads", threads, "OpenMP threads (default: OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber);

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
  std::int64_t devices = 0;
  std::int64_t seed = 1;
  bool quiet = false;
  simulate_cmd->add_option("model", request.model, "device model (listed below)")->required();
  simulate_cmd->add_option("--devices", devices, "number of devices")->required();
  simulate_cmd->add_option("--out", out_file, "output .h5 file (written atomically)")->required();
  simulate_cmd->add_option("--seed", seed, "master random seed (same seed, same file)")
      ->capture_default_str();
  simulate_cmd->add_option("--preset", request.preset, "parameter preset of the model");
  simulate_cmd->add_option("--config", config_file, "TOML file with model keys");
  simulate_cmd->add_option("--set", request.assignments, "override one key: --set key=value")
      ->take_all();
  simulate_cmd->add_flag("--quiet", quiet, "no progress output");
  simulate_cmd->footer(models_help());

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    mc::set_threads(threads);
    if (*import_cmd) return run_import(from, out_dir);
    if (*summary_cmd) {
      print_summary_header();
      for (const auto& file : summary_files) print_summary(file, mc::read_measurements(file));
      return 0;
    }
    if (*simulate_cmd) {
      MC_VALIDATE(seed >= 0, "--seed must be >= 0, got {}", seed);
      request.devices = devices;
      request.seed = static_cast<std::uint64_t>(seed);
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
  } catch (const std::exception& e) {
    fmt::print(stderr, "memcarlo: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
