// `memcarlo calibrate`: fits a device model to one measured (or simulated) data set of the
// measured-data schema and reports estimates with bootstrap confidence intervals, goodness of fit,
// a round trip through the simulator and figures. Every calibrator returns a CalibrationResult;
// this header also holds what they share: the options, the result types and their writers
// (PARAMS.toml for `memcarlo device simulate --config`, and a report directory).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "calibration/goodness_of_fit.hpp"
#include "core/files.hpp"
#include "data/measurements.hpp"

namespace memcarlo {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct CalibrationOptions {
  std::int64_t bootstrap = 200;  // resamples for the confidence intervals; >= 20 (see bootstrap.hpp)
  std::uint64_t seed = 1;        // of the resampling and of any simulation (round trip, SMM)
  double confidence = 0.95;      // two-sided level of the intervals
  bool show_progress = true;
  bool round_trip = true;  // simulate with the fitted parameters and compare (costs a simulation)
};

// One estimated quantity. `key` is the PARAMS.toml key when the quantity maps onto a key of the
// target model (and then `in_params` is true), otherwise a descriptive name.
struct EstimatedParameter {
  std::string key;
  std::string unit;  // SI unit, "1" for dimensionless
  std::string description;
  double estimate = kNaN;
  // Percentile bootstrap interval at CalibrationOptions::confidence, and the standard deviation
  // of the bootstrap replicates. NaN when not identified or when no bootstrap was run.
  double ci_low = kNaN, ci_high = kNaN, standard_error = kNaN;
  // false: the data do not constrain the quantity; `estimate` then follows a stated rule (note).
  bool identified = true;
  bool in_params = false;
  std::string note;
};

// A goodness-of-fit check of one fitted distribution or curve against the data.
struct GoodnessOfFit {
  std::string what;  // e.g. "nu (all devices) vs fitted normal"
  GofResult ks;      // Kolmogorov-Smirnov D and p-value
  GofResult ad;      // Anderson-Darling A^2 and p-value (NaN where it does not apply: note)
  std::string note;  // how the p-value is to be read (parameters estimated from the same data...)
};

// Simulate with the fitted parameters, analyse the simulated data like the measured ones, and
// compare the two distributions of `what` by the two-sample Kolmogorov-Smirnov test.
struct RoundTrip {
  std::string what;
  GofResult ks;  // D, p-value, effective n
  std::size_t n_measured = 0, n_simulated = 0;
  std::string note;
};

// An SVG figure, written as <report dir>/<name>.svg.
struct Figure {
  std::string name;
  std::string caption;
  std::string svg;
};

// One key of PARAMS.toml: value and the comment written after it.
struct ParamsEntry {
  std::string key;
  std::string value;  // TOML literal (format_value)
  std::string comment;
};

struct CalibrationResult {
  std::string kind;    // drift, pulse_train, dg_table, pcm-crystallization
  std::string source;  // FILE.h5:GROUP
  std::string model;   // the `device simulate` model PARAMS.toml configures ([model] table)
  std::string method;  // one paragraph: how the fit was made
  std::vector<EstimatedParameter> parameters;
  std::vector<GoodnessOfFit> gof;
  std::vector<RoundTrip> round_trips;
  std::vector<ParamsEntry> params;  // the [model] table of PARAMS.toml, in order
  std::vector<Figure> figures;
  std::vector<std::string> notes;  // what the user must know (failed fits, caveats)
  std::int64_t bootstrap_resamples = 0;
  std::int64_t bootstrap_failures = 0;  // resamples whose fit failed (left out of intervals)
  double confidence = 0.95;

  // The estimate of `key`; InputError naming the available keys otherwise.
  const EstimatedParameter& parameter(const std::string& key) const;
};

// Parameter recovery: one trial simulates a data set with known parameters (seeded), calibrates
// it, and checks each identified parameter's truth against its reported interval. The tests run
// a few trials; bench/bench_recovery runs 50 and prints the coverage per parameter.
struct RecoveryCheck {
  std::string key;
  double truth = kNaN, estimate = kNaN, ci_low = kNaN, ci_high = kNaN;
  bool covered() const { return ci_low <= truth && truth <= ci_high; }
};
// The check of `key` in `result` against `truth`.
RecoveryCheck recovery_check(const CalibrationResult& result, const std::string& key, double truth);

// What `memcarlo calibrate KIND --in FILE.h5[:GROUP]` selected: the file, and the set.
struct CalibrationInput {
  std::string file;
  std::string group;
  MeasurementFile contents;  // the whole file (calibrators may look at sibling sets)
  const Measurement* set = nullptr;
  std::string source() const { return file + ":" + group; }
};

// A CalibrationInput over data held in memory (simulated data, tests): the set called `group`,
// or the first set if `group` is empty; `file` names the source in messages. (Move, do not
// copy, the result: `set` points into `contents`.)
CalibrationInput calibration_input(MeasurementFile contents, const std::string& group = {},
                                   const std::string& file = "memory");

// The calibration kinds, in `--help` order, with one line each and the data kinds they accept.
struct CalibrationKindInfo {
  std::string name;
  std::string summary;
  std::vector<std::string> accepts;  // measured-data kinds
};
std::vector<CalibrationKindInfo> calibration_kinds();

// Reads FILE.h5[:GROUP] and selects the set for `kind`: the named group, or, without one, the
// only set of an accepted kind in the file. InputError/FileError name the file, group and kind
// ("the wrong kind for the chosen fit", an empty group, no or several candidates).
CalibrationInput select_calibration_input(const std::string& kind, const std::string& in_spec);

// Runs the calibrator of `kind` on input.set.
CalibrationResult calibrate(const std::string& kind, const CalibrationInput& input,
                            const CalibrationOptions& options);

// Appends a PARAMS.toml entry for every parameter with in_params, in order, valued by its
// estimate and commented with its interval, unit and description. Call after the intervals are
// attached (bootstrap.hpp).
void add_params_from_estimates(CalibrationResult& result);
// One PARAMS.toml entry for a value that is not an estimate (a protocol setting, a fixed key).
ParamsEntry params_entry(const std::string& key, double value, const std::string& comment);
ParamsEntry params_entry(const std::string& key, std::int64_t value, const std::string& comment);
ParamsEntry params_entry(const std::string& key, const std::string& value, const std::string& comment);

// PARAMS.toml text: a comment header (source, command, date-free so reruns are identical),
// then the [model] table with one key per line and its interval as a comment.
std::string params_toml(const CalibrationResult& result, const std::string& command_line);

// report.md (human), report.json (machine, read by scripts/calibration_report.py) and one SVG
// per figure into `directory` (created if missing; existing files of the same names replaced).
void write_report(const std::string& directory, const CalibrationResult& result,
                  const std::string& command_line);
// report.json content on its own (for tests).
std::string report_json(const CalibrationResult& result, const std::string& command_line);

}  // namespace memcarlo
