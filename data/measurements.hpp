// Measured-data schema v1 (DESIGN.md §3, docs/hdf5-schema.md): the in-memory form of each
// kind of measurement, and the writer and validating reader of "memcarlo-measurements" files.
// Measured and simulated data share this format, so calibration treats them alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/ndarray.hpp"

namespace memcarlo {

inline constexpr const char* kMeasurementsFormat = "memcarlo-measurements";
inline constexpr std::int64_t kMeasurementsVersion = 1;

// Conductance versus time after programming.
struct DriftData {
  std::vector<double> t_s;       // [n_t] nominal read times after programming, s
  NdArray<double> G_S;           // [n_dev, n_t] S; NaN = not read
  double t0_s = 1.0;             // reference time of the power law G(t0)(t/t0)^-nu, s
  std::optional<double> temperature_K;
  std::optional<std::vector<double>> G_target_S;  // [n_dev] S
  std::optional<NdArray<double>> t_read_s;        // [n_dev, n_t] actual read times, s; NaN = not read
  std::optional<std::vector<std::int64_t>> level; // [n_dev] programmed level index
};

// Conductance after every pulse of repeated potentiation/depression cycles.
struct PulseTrainData {
  NdArray<double> G;                       // [n_dev, n_cycle, n_pulse]; NaN-padded at the end
  std::string G_units = "S";               // "S", or "1" for data published normalised
  std::vector<std::int64_t> polarity;      // [n_cycle] +1 potentiation, -1 depression
  std::optional<double> pulse_amplitude_V;
  std::optional<double> pulse_width_s;
  std::optional<double> pulse_power_W;     // for PCM partial-SET trains
};

// Conditional distribution of the conductance step per pulse (Sandia lookup tables).
struct DgTableData {
  std::vector<double> G_bins_S;  // [n_bins] S, increasing
  std::vector<double> cdf;       // [n_q] in [0, 1], non-decreasing
  NdArray<double> dG_S;          // [n_q, n_bins] S
  std::int64_t polarity = 1;     // +1 potentiation, -1 depression
};

// A plain sample of one quantity, optionally paired with a condition per value.
struct SamplesData {
  std::vector<double> value;
  std::string quantity, unit;
  std::optional<std::vector<double>> condition;
  std::string condition_name, condition_unit;
  // Right-censoring: values that did not occur by censor_limit are left out and counted.
  std::optional<double> censor_limit;
  std::int64_t n_censored = 0;
};

// Reads before and after a bake, one record per (device, bake).
struct BakeData {
  std::vector<double> G_before_S, G_after_S, temperature_K, duration_s;
  std::optional<std::vector<std::int64_t>> device;  // device address per record
};

// Continuous reads of programmed devices (read-noise spectra).
struct TimeSeriesData {
  NdArray<double> G_S;  // [n_dev, n_t] S
  double sample_rate_Hz = 1.0;
  std::optional<std::vector<std::int64_t>> level;  // [n_dev]
};

using MeasurementBody =
    std::variant<DriftData, PulseTrainData, DgTableData, SamplesData, BakeData, TimeSeriesData>;

struct Measurement {
  std::string name;         // HDF5 group name
  std::string description;  // one sentence: what was measured, on what
  MeasurementBody body;
};

const char* kind_name(const MeasurementBody& body);

// Root attributes: where the data came from. For generated files source = "memcarlo device
// simulate ...", licence = "generated", and provenance holds the echoed config.
struct MeasurementFile {
  std::string source, licence, paper, provenance;
  std::string licence_text;  // full licence of the source, kept with derived data
  std::vector<Measurement> sets;
};

// Validates every set (throws InputError naming set and value) and writes atomically.
void write_measurements(const std::string& path, const MeasurementFile& file);

// Reads and validates a whole file; errors name the file, group, dataset and problem.
MeasurementFile read_measurements(const std::string& path);

// Checks one set against the schema; throws InputError("<where>: ...").
void validate(const Measurement& m, const std::string& where);

}  // namespace memcarlo
