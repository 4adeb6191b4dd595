// Importers for the public measured data bundled in ../shared/measured: each converts one
// source folder, exactly as published (no smoothing, no dropped rows), into a schema-v1
// MeasurementFile carrying the source's attribution (source, licence, paper, licence text).
#pragma once

#include <string>
#include <vector>

#include "data/measurements.hpp"

namespace memcarlo {

struct ImportedFile {
  std::string file_name;  // name under data/measured/, e.g. "sandia_taox_lut.h5"
  MeasurementFile content;
};

// Sandia CrossSim example: set.csv / reset.csv ramps of read current at 0.1 V.
MeasurementFile import_sandia_pulse(const std::string& folder);
// Sandia lookup tables (TaOx: one sub-folder per device; ENODe: the folder itself).
MeasurementFile import_sandia_taox(const std::string& folder);
MeasurementFile import_sandia_enode(const std::string& folder);
// Stanford RRAM relaxation master model data: relaxation, bakes, read time series.
MeasurementFile import_stanford_relaxation(const std::string& folder);
// IBM aihwkit's digitisation of Gong et al. 2018: 1000 up then 1000 down pulses, normalised.
MeasurementFile import_gong(const std::string& folder);

// Every importer above, on the standard sub-folders of `measured_root`.
std::vector<ImportedFile> import_all(const std::string& measured_root);

// One Sandia lookup-table file (header line, G bins, CDF points, blank, dG matrix).
DgTableData read_sandia_dg_table(const std::string& path, std::int64_t polarity);

}  // namespace memcarlo
