#include "data/importers.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/units.hpp"
#include "data/text_table.hpp"

namespace memcarlo {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::string& folder, const std::string& name) {
  return (fs::path(folder) / name).string();
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw FileError(path, "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string find_licence(const std::string& folder) {
  for (const char* name : {"LICENSE_source.txt", "LICENSE_source.md"}) {
    const std::string path = join(folder, name);
    if (fs::exists(path)) return read_whole(path);
  }
  throw FileError(folder, "no LICENSE_source.txt or LICENSE_source.md: refusing to import data "
                          "without its licence");
}

// A file whose root attributes carry the source's attribution and its licence text.
MeasurementFile attributed(const std::string& folder, std::string source, std::string licence,
                           std::string paper, std::string provenance) {
  MeasurementFile f;
  f.source = std::move(source);
  f.licence = std::move(licence);
  f.paper = std::move(paper);
  f.provenance = std::move(provenance);
  f.licence_text = find_licence(folder);
  return f;
}

// One number from a JSON settings file.
double json_number(const std::string& path, const std::string& key) {
  nlohmann::json settings;
  try {
    settings = nlohmann::json::parse(read_whole(path));
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, fmt::format("not valid JSON: {}", e.what()));
  }
  const auto it = settings.find(key);
  if (it == settings.end() || !it->is_number())
    throw FileError(path, fmt::format("no numeric key \"{}\"", key));
  return it->get<double>();
}

// Columns of a CSV whose columns are cycles and rows are pulses, ragged at the end.
std::vector<std::vector<double>> read_ramp_columns(const std::string& path) {
  const auto lines = read_text_lines(path);
  if (lines.size() < 2) throw FileError(path, "needs a header and at least one row");
  const std::size_t n_col = split_exact(lines[0], ',').size();
  std::vector<std::vector<double>> columns(n_col);
  std::vector<bool> ended(n_col, false);
  for (std::size_t l = 1; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    const auto fields = split_exact(lines[l], ',');
    if (fields.size() != n_col)
      throw FileError(path, fmt::format("line {}: {} fields, header has {}", l + 1, fields.size(), n_col));
    for (std::size_t c = 0; c < n_col; ++c) {
      if (fields[c].empty()) {
        ended[c] = true;
        continue;
      }
      if (ended[c])
        throw FileError(path, fmt::format("line {}: value after the end of column {}", l + 1, c + 1));
      columns[c].push_back(parse_double(fields[c], path, l + 1));
    }
  }
  return columns;
}

// Packs cycles of different lengths into [1, n_cycle, n_pulse] with NaN padding.
NdArray<double> pack_cycles(const std::vector<std::vector<double>>& cycles) {
  std::size_t n_pulse = 0;
  for (const auto& c : cycles) n_pulse = std::max(n_pulse, c.size());
  NdArray<double> G({1, cycles.size(), n_pulse}, kNaN);
  for (std::size_t c = 0; c < cycles.size(); ++c)
    std::copy(cycles[c].begin(), cycles[c].end(), G.data.begin() + static_cast<std::ptrdiff_t>(c * n_pulse));
  return G;
}

// A header-less TSV read column-wise; `integer_columns` are parsed as integers.
std::vector<std::vector<double>> read_tsv_columns(const std::string& path, std::size_t n_col) {
  const auto lines = read_text_lines(path);
  std::vector<std::vector<double>> cols(n_col);
  for (auto& c : cols) c.reserve(lines.size());
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    const auto fields = split_exact(lines[l], '\t');
    if (fields.size() != n_col)
      throw FileError(path, fmt::format("line {}: {} fields, expected {}", l + 1, fields.size(), n_col));
    for (std::size_t c = 0; c < n_col; ++c) cols[c].push_back(parse_double(fields[c], path, l + 1));
  }
  if (cols[0].empty()) throw FileError(path, "holds no rows");
  return cols;
}

std::int64_t as_index(double x, const std::string& path, const char* what) {
  if (!(x >= 0 && x == std::floor(x) && x < 9e15))
    throw FileError(path, fmt::format("{} {} is not a non-negative integer", what, x));
  return static_cast<std::int64_t>(x);
}

// relaxdata TSV: addr, time_s, R_ohm, G_S, G_initial_S, level, timept.
DriftData read_stanford_relaxation(const std::string& path) {
  const auto cols = read_tsv_columns(path, 7);
  const auto& addr = cols[0];
  const auto& time = cols[1];
  const auto& G = cols[3];
  const auto& level = cols[5];
  const auto& timept = cols[6];
  std::vector<double> t = timept;
  std::sort(t.begin(), t.end());
  t.erase(std::unique(t.begin(), t.end()), t.end());
  std::map<std::int64_t, std::size_t> device_index;
  for (double a : addr) device_index.emplace(as_index(a, path, "address"), 0);
  std::size_t next = 0;
  for (auto& [a, i] : device_index) i = next++;
  const std::size_t n_dev = device_index.size(), n_t = t.size();
  DriftData d;
  d.t_s = t;
  d.t0_s = *std::find_if(t.begin(), t.end(), [](double x) { return x > 0; });
  d.G_S = NdArray<double>({n_dev, n_t}, kNaN);
  d.t_read_s = NdArray<double>({n_dev, n_t}, kNaN);
  d.level = std::vector<std::int64_t>(n_dev, -1);
  for (std::size_t r = 0; r < addr.size(); ++r) {
    const std::size_t i = device_index.at(static_cast<std::int64_t>(addr[r]));
    const std::size_t j = static_cast<std::size_t>(std::lower_bound(t.begin(), t.end(), timept[r]) - t.begin());
    if (!std::isnan(d.G_S(i, j)))
      throw FileError(path, fmt::format("line {}: second read of address {} at time point {}", r + 1,
                                        addr[r], timept[r]));
    d.G_S(i, j) = G[r];
    (*d.t_read_s)(i, j) = time[r];
    const std::int64_t lv = as_index(level[r], path, "level");
    auto& stored = (*d.level)[i];
    if (stored >= 0 && stored != lv)
      throw FileError(path, fmt::format("line {}: address {} changes level {} -> {}", r + 1, addr[r],
                                        stored, lv));
    stored = lv;
  }
  return d;
}

// bake TSV: addr, time, R_ohm, G_S, temperature_C; a read at time 0 before and one after each
// bake, the same cells baked at every temperature.
BakeData read_stanford_bake(const std::string& path) {
  const auto cols = read_tsv_columns(path, 5);
  const auto& addr = cols[0];
  const auto& time = cols[1];
  const auto& G = cols[3];
  const auto& temp_C = cols[4];
  // key (temperature, address) -> row of the read before and after
  std::map<std::pair<double, std::int64_t>, std::pair<long, long>> rows;
  std::vector<std::pair<double, std::int64_t>> order;
  for (std::size_t r = 0; r < addr.size(); ++r) {
    const auto key = std::make_pair(temp_C[r], as_index(addr[r], path, "address"));
    auto [it, inserted] = rows.emplace(key, std::make_pair(-1L, -1L));
    if (inserted) order.push_back(key);
    long& slot = time[r] == 0.0 ? it->second.first : it->second.second;
    if (slot >= 0)
      throw FileError(path, fmt::format("line {}: duplicate {} read of address {} at {} C", r + 1,
                                        time[r] == 0.0 ? "before" : "after", addr[r], temp_C[r]));
    slot = static_cast<long>(r);
  }
  BakeData b;
  b.device.emplace();
  for (const auto& key : order) {
    const auto [before, after] = rows.at(key);
    if (before < 0 || after < 0)
      throw FileError(path, fmt::format("address {} at {} C lacks its {} read", key.second, key.first,
                                        before < 0 ? "before" : "after"));
    b.G_before_S.push_back(G[static_cast<std::size_t>(before)]);
    b.G_after_S.push_back(G[static_cast<std::size_t>(after)]);
    b.temperature_K.push_back(units::celsius_to_kelvin(key.first));
    b.duration_s.push_back(time[static_cast<std::size_t>(after)]);
    b.device->push_back(key.second);
  }
  return b;
}

// tsdata TSV: level, index, then one conductance per sample.
TimeSeriesData read_stanford_time_series(const std::string& path, double sample_rate_Hz) {
  const auto lines = read_text_lines(path);
  TimeSeriesData s;
  s.sample_rate_Hz = sample_rate_Hz;
  s.level.emplace();
  std::vector<double> values;
  std::size_t n_t = 0;
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    const auto fields = split_exact(lines[l], '\t');
    if (fields.size() < 3) throw FileError(path, fmt::format("line {}: too few fields", l + 1));
    if (n_t == 0) n_t = fields.size() - 2;
    if (fields.size() - 2 != n_t)
      throw FileError(path, fmt::format("line {}: {} samples, first line has {}", l + 1,
                                        fields.size() - 2, n_t));
    s.level->push_back(parse_integer(fields[0], path, l + 1));
    for (std::size_t k = 2; k < fields.size(); ++k) values.push_back(parse_double(fields[k], path, l + 1));
  }
  s.G_S = NdArray<double>({s.level->size(), n_t}, std::move(values));
  return s;
}

}  // namespace

DgTableData read_sandia_dg_table(const std::string& path, std::int64_t polarity) {
  const auto lines = read_text_lines(path);
  std::vector<std::vector<double>> rows;
  std::vector<std::size_t> line_numbers;
  for (std::size_t l = 1; l < lines.size(); ++l) {  // line 1 is the header text
    const auto tokens = split_numbers(lines[l]);
    if (tokens.empty()) continue;
    std::vector<double> row;
    row.reserve(tokens.size());
    for (auto t : tokens) row.push_back(parse_double(t, path, l + 1));
    rows.push_back(std::move(row));
    line_numbers.push_back(l + 1);
  }
  if (rows.size() < 3) throw FileError(path, "needs G bins, CDF points and a dG matrix");
  DgTableData t;
  t.polarity = polarity;
  t.G_bins_S = rows[0];
  t.cdf = rows[1];
  const std::size_t n_q = t.cdf.size(), n_bins = t.G_bins_S.size();
  if (rows.size() - 2 != n_q)
    throw FileError(path, fmt::format("dG has {} rows, expected one per CDF point ({})", rows.size() - 2, n_q));
  t.dG_S = NdArray<double>({n_q, n_bins});
  for (std::size_t q = 0; q < n_q; ++q) {
    if (rows[q + 2].size() != n_bins)
      throw FileError(path, fmt::format("line {}: {} values, expected one per G bin ({})",
                                        line_numbers[q + 2], rows[q + 2].size(), n_bins));
    std::copy(rows[q + 2].begin(), rows[q + 2].end(), t.dG_S.data.begin() + static_cast<std::ptrdiff_t>(q * n_bins));
  }
  return t;
}

MeasurementFile import_sandia_pulse(const std::string& folder) {
  constexpr double kReadVoltage_V = 0.1;  // reads at 0.1 V [CrossSim lookup-table example]
  MeasurementFile f = attributed(folder,
      "sandialabs/cross-sim, initial public commit, examples/lookup_table_generation/"
             "lookup_table_example/{set,reset}.csv",
      "BSD-3-Clause",
      "Agarwal et al. / Xiao et al., Sandia lookup-table method for analog neural network "
            "training (IEEE, 2019)",
      "memcarlo import: G = I / 0.1 V; set.csv columns become potentiation cycles, "
                 "then reset.csv columns depression cycles; empty cells become NaN padding");
  std::vector<std::vector<double>> cycles;
  std::vector<std::int64_t> polarity;
  for (auto [file, sign] : {std::pair{"set.csv", 1}, std::pair{"reset.csv", -1}}) {
    for (auto& column : read_ramp_columns(join(folder, file))) {
      for (double& current : column) current /= kReadVoltage_V;
      cycles.push_back(std::move(column));
      polarity.push_back(sign);
    }
  }
  PulseTrainData p;
  p.G = pack_cycles(cycles);
  p.polarity = std::move(polarity);
  f.sets.push_back({"pulse_train",
                    "one analog memristive device (type not documented by the source): conductance "
                    "read at 0.1 V after each identical pulse, 39 potentiation then 40 depression ramps",
                    std::move(p)});
  return f;
}

MeasurementFile import_sandia_taox(const std::string& folder) {
  MeasurementFile f = attributed(folder,
      "sandialabs/cross-sim-data, lookup_tables/TaOx_all/<device>/dG_{increasing,decreasing}.txt",
      "BSD-3-Clause",
      "Agarwal et al. / Xiao et al., Sandia TaOx lookup-table method (IEEE, 2019)",
      "memcarlo import: values as published (binned conditional CDFs processed from "
                 "measurement by Sandia, not raw traces)");
  std::vector<int> devices;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.size() > 6 ||
        name.find_first_not_of("0123456789") != std::string::npos)
      throw FileError(folder, fmt::format("sub-folder '{}' is not a device number", name));
    devices.push_back(std::stoi(name));
  }
  std::sort(devices.begin(), devices.end());
  if (devices.empty()) throw FileError(folder, "no device sub-folders");
  for (int d : devices) {
    for (auto [file, sign, label] : {std::tuple{"dG_increasing.txt.gz", 1, "potentiation"},
                                     std::tuple{"dG_decreasing.txt.gz", -1, "depression"}}) {
      const std::string path = join(join(folder, std::to_string(d)), file);
      f.sets.push_back({fmt::format("device_{}_{}", d, label),
                        fmt::format("TaOx ReRAM device {} (Sandia, ca. 2016): conditional "
                                    "distribution of the conductance step per identical {} pulse",
                                    d, label),
                        read_sandia_dg_table(path, sign)});
    }
  }
  return f;
}

MeasurementFile import_sandia_enode(const std::string& folder) {
  MeasurementFile f = attributed(folder,
      "sandialabs/cross-sim-data, lookup_tables/ENODe/dG_{increasing,decreasing}.txt",
      "BSD-3-Clause",
      "van de Burgt et al., Nat. Mater. 16, 414 (2017) (ENODe); Sandia lookup-table method",
      "memcarlo import: values as published");
  for (auto [file, sign, label] : {std::tuple{"dG_increasing.txt", 1, "potentiation"},
                                   std::tuple{"dG_decreasing.txt", -1, "depression"}}) {
    f.sets.push_back({label,
                      fmt::format("ENODe electrochemical organic synapse: conditional distribution "
                                  "of the conductance step per identical {} pulse", label),
                      read_sandia_dg_table(join(folder, file), sign)});
  }
  return f;
}

MeasurementFile import_stanford_relaxation(const std::string& folder) {
  MeasurementFile f = attributed(folder,
      "akashlevy/RRAM-Relaxation-Master-Model, data/ (minimal set)",
      "MIT",
      "Levy et al., RRAM relaxation master model (Stanford)",
      "memcarlo import: RRAM relaxation (not PCM drift). relaxdata -> drift (t = "
                 "nominal time point, t_read = recorded read time, t0 = first positive time point); "
                 "bake -> bake (duration = recorded time of the read after the bake); tsdata -> "
                 "time_series at the settings.json sample rate. techC/model.tsv holds the same "
                 "values as techC/relaxdata and is not imported twice.");
  const std::string A = join(folder, "techA"), B = join(folder, "techB"), C = join(folder, "techC");
  f.sets.push_back({"techA_bake",
                    "1T1R RRAM technology A, 32 levels: conductance before and after bakes at "
                    "100-260 C, 16384 cells per temperature",
                    read_stanford_bake(join(A, "bake.tsv.gz"))});
  f.sets.push_back({"techB_bake",
                    "1T1R RRAM technology B, 32 levels: conductance before and after bakes at "
                    "100-260 C, 16384 cells per temperature",
                    read_stanford_bake(join(B, "bake.tsv.gz"))});
  f.sets.push_back({"techB_relaxation",
                    "1T1R RRAM technology B: conductance relaxation after programming to 32 levels, "
                    "reads from 0 to 1e4 s",
                    read_stanford_relaxation(join(B, "relaxdata_10k.min.tsv.gz"))});
  f.sets.push_back({"techC_relaxation",
                    "1T1R RRAM technology C: conductance relaxation after programming to 32 levels, "
                    "reads from 0 to 1e5 s",
                    read_stanford_relaxation(join(C, "relaxdata.min.tsv.gz"))});
  f.sets.push_back({"techA_read_noise",
                    "1T1R RRAM technology A: continuous reads of one cell at each of levels 0, 8, "
                    "16, 24, 31, for 1/f noise spectra",
                    read_stanford_time_series(join(A, "tsdata.min.tsv.gz"),
                                              json_number(join(A, "settings.json"), "fs"))});
  return f;
}

MeasurementFile import_gong(const std::string& folder) {
  MeasurementFile f = attributed(folder,
      "IBM/aihwkit, examples/csv/gong_et_al.csv",
      "MIT",
      "Gong et al., Nat. Commun. 9, 2102 (2018), Fig. 3a (digitised by IBM aihwkit)",
      "memcarlo import: column 1 = 1000 potentiation pulses, column 2 = the following "
                 "1000 depression pulses; normalised weight units on a 1/90 grid (shape only)");
  const std::string path = join(folder, "gong_et_al.csv");
  const auto lines = read_text_lines(path);
  std::vector<std::vector<double>> cycles(2);
  for (std::size_t l = 0; l < lines.size(); ++l) {
    if (lines[l].empty()) continue;
    const auto fields = split_exact(lines[l], ',');
    if (fields.size() != 2) throw FileError(path, fmt::format("line {}: expected 2 fields", l + 1));
    for (std::size_t c = 0; c < 2; ++c) cycles[c].push_back(parse_double(fields[c], path, l + 1));
  }
  PulseTrainData p;
  p.G = pack_cycles(cycles);
  p.G_units = "1";
  p.polarity = {1, -1};
  f.sets.push_back({"pulse_train",
                    "HfO2 ReRAM (Gong et al. 2018): weight after each of 1000 potentiation then 1000 "
                    "depression pulses, normalised units",
                    std::move(p)});
  return f;
}

std::vector<ImportedFile> import_all(const std::string& root) {
  std::vector<ImportedFile> out;
  out.push_back({"sandia_crosssim_pulse.h5", import_sandia_pulse(join(root, "sandia_crosssim_example_pulse"))});
  out.push_back({"sandia_taox_lut.h5", import_sandia_taox(join(root, "sandia_taox_lut"))});
  out.push_back({"sandia_enode_lut.h5", import_sandia_enode(join(root, "sandia_enode_lut"))});
  out.push_back({"stanford_rram_relaxation.h5",
                 import_stanford_relaxation(join(root, "stanford_rram_relaxation"))});
  out.push_back({"gong_hfo2_reram.h5", import_gong(join(root, "aihwkit_gong_hfo2_reram"))});
  return out;
}

}  // namespace memcarlo
