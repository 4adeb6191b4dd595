#include "physics/lut_device.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include "core/error.hpp"

namespace memcarlo {

namespace {

const char* polarity_word(Polarity p) {
  return p == Polarity::potentiation ? "potentiation (+1)" : "depression (-1)";
}

// The segment of the cdf grid holding u and the position in it: u lies at cdf[i] + t (cdf[i+1] -
// cdf[i]); t = 0 with i = 0 below the grid and t = 0 with i = n - 1 above it.
struct GridPosition {
  std::size_t i = 0;
  double t = 0;
};

GridPosition locate(const std::vector<double>& cdf, double u) {
  if (!(u > cdf.front())) return {0, 0.0};
  if (u >= cdf.back()) return {cdf.size() - 1, 0.0};
  // Last i with cdf[i] <= u: ties in the cdf are skipped, so cdf[i + 1] > u >= cdf[i].
  const auto i =
      static_cast<std::size_t>(std::upper_bound(cdf.begin(), cdf.end(), u) - cdf.begin()) - 1;
  return {i, (u - cdf[i]) / (cdf[i + 1] - cdf[i])};
}

double interpolate(std::span<const double> q, GridPosition g) {
  if (g.t == 0) return q[g.i];
  return q[g.i] + g.t * (q[g.i + 1] - q[g.i]);
}

}  // namespace

StepTable::StepTable(const DgTableData& table, std::string origin) : origin_(std::move(origin)) {
  validate(Measurement{origin_, "", table}, origin_);
  MC_VALIDATE(table.cdf.front() < table.cdf.back(),
              "{}: cdf is constant ({}): a table needs at least two distinct probability levels",
              origin_, table.cdf.front());
  polarity_ = table.polarity > 0 ? Polarity::potentiation : Polarity::depression;
  G_bins_S_ = table.G_bins_S;
  cdf_ = table.cdf;
  const std::size_t n_q = cdf_.size(), n_bins = G_bins_S_.size();
  columns_.resize(n_q * n_bins);
  for (std::size_t q = 0; q < n_q; ++q)
    for (std::size_t j = 0; j < n_bins; ++j) columns_[j * n_q + q] = table.dG_S(q, j);
  mean_.resize(n_bins);
  variance_.resize(n_bins);
  for (std::size_t j = 0; j < n_bins; ++j) {
    // Measured tables can have small decreases (smoothing noise in sparse bins): rearrange the
    // column into a quantile function by sorting it, the monotone rearrangement of Chernozhukov,
    // Fernandez-Val & Galichon, Econometrica 78, 1093 (2010), which never moves it further from
    // the true (monotone) quantile function.
    auto col = std::span<double>(columns_.data() + j * n_q, n_q);
    if (!std::is_sorted(col.begin(), col.end())) {
      double drop = 0;
      for (std::size_t i = 1; i < n_q; ++i) drop = std::max(drop, col[i - 1] - col[i]);
      largest_rearranged_drop_S_ = std::max(largest_rearranged_drop_S_, drop);
      std::sort(col.begin(), col.end());
      ++rearranged_bins_;
    }
    const auto q = column(j);
    // Exact moments of Q(U): atoms at the ends (mass cdf.front() and 1 - cdf.back()) and, on
    // each segment, a linear quantile function: int (a + (b - a) s)^k ds over [0, 1].
    const double p0 = cdf_.front(), p1 = 1.0 - cdf_.back();
    double m = p0 * q.front() + p1 * q.back();
    for (std::size_t i = 0; i + 1 < n_q; ++i)
      m += (cdf_[i + 1] - cdf_[i]) * 0.5 * (q[i] + q[i + 1]);
    // Second pass about the mean, so that a large mean step does not swamp the spread.
    const double a0 = q.front() - m, a1 = q.back() - m;
    double v = p0 * a0 * a0 + p1 * a1 * a1;
    for (std::size_t i = 0; i + 1 < n_q; ++i) {
      const double a = q[i] - m, b = q[i + 1] - m;
      v += (cdf_[i + 1] - cdf_[i]) * (a * a + a * b + b * b) / 3.0;
    }
    mean_[j] = m;
    variance_[j] = std::max(v, 0.0);
  }
}

double StepTable::quantile(std::size_t bin, double u) const {
  return interpolate(column(bin), locate(cdf_, u));
}

double StepTable::cdf_at(std::size_t bin, double x) const {
  const auto q = column(bin);
  if (x < q.front()) return 0.0;
  if (x >= q.back()) return 1.0;
  // Last i with q[i] <= x; then q[i + 1] > x.
  const auto i = static_cast<std::size_t>(std::upper_bound(q.begin(), q.end(), x) - q.begin()) - 1;
  return cdf_[i] + (cdf_[i + 1] - cdf_[i]) * (x - q[i]) / (q[i + 1] - q[i]);
}

double StepTable::cdf_below(std::size_t bin, double x) const {
  const auto q = column(bin);
  if (x <= q.front()) return 0.0;
  if (x > q.back()) return 1.0;
  // First i with q[i] >= x (i >= 1); then q[i - 1] < x.
  const auto i = static_cast<std::size_t>(std::lower_bound(q.begin(), q.end(), x) - q.begin());
  return cdf_[i - 1] + (cdf_[i] - cdf_[i - 1]) * (x - q[i - 1]) / (q[i] - q[i - 1]);
}

double StepTable::step_S(double G, double u) const {
  const GridPosition g = locate(cdf_, u);
  if (!(G > G_bins_S_.front())) return interpolate(column(0), g);
  if (G >= G_bins_S_.back()) return interpolate(column(bins() - 1), g);
  const auto j = static_cast<std::size_t>(std::upper_bound(G_bins_S_.begin(), G_bins_S_.end(), G) -
                                          G_bins_S_.begin()) -
                 1;
  const double s = (G - G_bins_S_[j]) / (G_bins_S_[j + 1] - G_bins_S_[j]);
  const double lo = interpolate(column(j), g);
  if (s == 0) return lo;
  return lo + s * (interpolate(column(j + 1), g) - lo);
}

namespace {

// FILE.h5:GROUP split as calibrate's --in: the whole spec if it names a file, else at the last ':'.
std::pair<std::string, std::string> split_spec(const std::string& spec) {
  std::error_code ec;
  const auto colon = spec.rfind(':');
  if (std::filesystem::exists(spec, ec) || colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

StepTable pick_table(const MeasurementFile& contents, const std::string& file,
                     const std::string& group, Polarity polarity, std::string_view key) {
  std::vector<std::string> names, candidates;
  const Measurement* chosen = nullptr;
  for (const auto& s : contents.sets) {
    names.push_back(s.name);
    const auto* t = std::get_if<DgTableData>(&s.body);
    if (group.empty()) {
      if (t && t->polarity == static_cast<std::int64_t>(polarity)) {
        candidates.push_back(s.name);
        chosen = &s;
      }
    } else if (s.name == group) {
      chosen = &s;
    }
  }
  if (group.empty()) {
    MC_VALIDATE(candidates.size() == 1,
                "lut {} = {}: the file holds {} dg_table sets of polarity {} ({}): name one as "
                "FILE.h5:GROUP",
                key, file, candidates.size(), polarity_word(polarity), fmt::join(candidates, ", "));
  } else if (!chosen) {
    throw FileError(file, fmt::format("no data set '{}' for lut {} (the file holds: {})", group,
                                      key, fmt::join(names, ", ")));
  }
  const std::string origin = fmt::format("{}:{}", file, chosen->name);
  const auto* t = std::get_if<DgTableData>(&chosen->body);
  MC_VALIDATE(t != nullptr, "{} is kind '{}', but lut {} needs kind dg_table", origin,
              kind_name(chosen->body), key);
  MC_VALIDATE(t->polarity == static_cast<std::int64_t>(polarity),
              "{} has polarity {}, but lut {} needs {}", origin, t->polarity, key,
              polarity_word(polarity));
  return StepTable(*t, origin);
}

}  // namespace

StepTable read_step_table(const std::string& spec, Polarity polarity, std::string_view key) {
  MC_VALIDATE(!spec.empty(), "lut {} is empty: give FILE.h5:GROUP of a dg_table set", key);
  const auto [file, group] = split_spec(spec);
  return pick_table(read_measurements(file), file, group, polarity, key);
}

void LutPulseTrain::validate() const {
  MC_VALIDATE(pulses_per_cycle >= 1 && pulses_per_cycle <= 100'000'000,
              "pulses_per_cycle = {} must be in [1, 1e8]", pulses_per_cycle);
  MC_VALIDATE(cycles >= 1 && cycles <= 100'000'000, "cycles = {} must be in [1, 1e8]", cycles);
}

LutModel::LutModel(StepTable potentiation, StepTable depression)
    : potentiation_(std::move(potentiation)), depression_(std::move(depression)) {
  MC_VALIDATE(potentiation_.polarity() == Polarity::potentiation,
              "{} has polarity -1, but the lut potentiation table needs +1",
              potentiation_.origin());
  MC_VALIDATE(depression_.polarity() == Polarity::depression,
              "{} has polarity +1, but the lut depression table needs -1", depression_.origin());
}

LutModel LutModel::from_config(const LutDeviceConfig& c) {
  MC_VALIDATE(!c.potentiation_table.empty(),
              "lut needs potentiation_table = \"FILE.h5:GROUP\" (a dg_table with polarity +1)");
  MC_VALIDATE(!c.depression_table.empty(),
              "lut needs depression_table = \"FILE.h5:GROUP\" (a dg_table with polarity -1)");
  const auto [file_p, group_p] = split_spec(c.potentiation_table);
  const auto [file_d, group_d] = split_spec(c.depression_table);
  // In this order (not as two arguments of one call, whose order the compiler picks), so that
  // of two wrong tables the error names the potentiation one with every compiler.
  const MeasurementFile contents_p = read_measurements(file_p);
  StepTable potentiation =
      pick_table(contents_p, file_p, group_p, Polarity::potentiation, "potentiation_table");
  StepTable depression =
      file_d == file_p
          ? pick_table(contents_p, file_d, group_d, Polarity::depression, "depression_table")
          : pick_table(read_measurements(file_d), file_d, group_d, Polarity::depression,
                       "depression_table");
  return LutModel(std::move(potentiation), std::move(depression));
}

double LutModel::G_low_S() const {
  return std::min(potentiation_.G_low_S(), depression_.G_low_S());
}
double LutModel::G_high_S() const {
  return std::max(potentiation_.G_high_S(), depression_.G_high_S());
}

double LutModel::apply_pulse(double G, Polarity polarity, RngStream& rng) const {
  const StepTable& t = table(polarity);
  const double u = rng.uniform();
  return std::clamp(G + t.step_S(G, u), t.G_low_S(), t.G_high_S());
}

void run_lut_pulse_train(const LutModel& model, const LutPulseTrain& train, double G0,
                         std::uint64_t seed, std::uint64_t device_index, std::span<double> G_out) {
  train.validate();
  MC_VALIDATE(std::isfinite(G0), "lut G0 = {} S must be finite", G0);
  const auto n_pulse = static_cast<std::size_t>(train.pulses_per_cycle);
  const auto n_cycle = static_cast<std::size_t>(train.cycles);
  MC_VALIDATE(G_out.size() == n_cycle * n_pulse,
              "pulse-train output holds {} values, the train has {} cycles x {} pulses",
              G_out.size(), n_cycle, n_pulse);
  double G = std::clamp(G0, model.G_low_S(), model.G_high_S());
  std::uint64_t k = 0;
  for (std::size_t c = 0; c < n_cycle; ++c) {
    const Polarity polarity = train.polarity(static_cast<std::int64_t>(c));
    for (std::size_t p = 0; p < n_pulse; ++p, ++k) {
      RngStream rng(seed, device_index, lut_stream::pulse, k);
      G = model.apply_pulse(G, polarity, rng);
      G_out[c * n_pulse + p] = G;
    }
  }
}

StepSamples collect_steps(const PulseTrainData& train, Polarity polarity) {
  MC_VALIDATE(train.G_units == "S",
              "pulse train in units '{}': steps for a table need conductances in S", train.G_units);
  MC_VALIDATE(train.G.rank() == 3, "pulse train G has rank {}, expected 3", train.G.rank());
  StepSamples s;
  const std::size_t n_dev = train.G.shape[0], n_cycle = train.G.shape[1],
                    n_pulse = train.G.shape[2];
  MC_VALIDATE(train.polarity.size() == n_cycle, "pulse train has {} polarities for {} cycles",
              train.polarity.size(), n_cycle);
  for (std::size_t d = 0; d < n_dev; ++d)
    for (std::size_t c = 0; c < n_cycle; ++c) {
      if (train.polarity[c] != static_cast<std::int64_t>(polarity)) continue;
      for (std::size_t k = 1; k < n_pulse; ++k) {
        const double before = train.G(d, c, k - 1), after = train.G(d, c, k);
        if (std::isnan(after)) break;
        s.G_before_S.push_back(before);
        s.dG_S.push_back(after - before);
      }
    }
  return s;
}

double sample_quantile_type9(std::span<const double> x, double p) {
  MC_ASSERT(!x.empty());
  // Hyndman & Fan definition 9: m = p/4 + 3/8, j = floor(n p + m), g = n p + m - j, and
  // Q = (1 - g) x_j + g x_{j+1} (1-based), with x_0 = x_1 and x_{n+1} = x_n.
  const double n = static_cast<double>(x.size());
  const double h = n * p + (p / 4.0 + 3.0 / 8.0);
  const double j = std::floor(h);
  const double g = h - j;
  if (j < 1) return x.front();
  if (j >= n) return x.back();
  const auto lo = static_cast<std::size_t>(j) - 1;  // 0-based index of x_j
  return x[lo] + g * (x[lo + 1] - x[lo]);
}

DgTableData build_dg_table(const StepSamples& steps, Polarity polarity, const DgTableBinning& b) {
  MC_VALIDATE(steps.G_before_S.size() == steps.dG_S.size(),
              "build_dg_table: {} conductances but {} steps", steps.G_before_S.size(),
              steps.dG_S.size());
  MC_VALIDATE(b.edges_S.size() >= 3, "build_dg_table needs at least 3 bin edges (2 bins), got {}",
              b.edges_S.size());
  for (std::size_t i = 0; i < b.edges_S.size(); ++i) {
    MC_VALIDATE(std::isfinite(b.edges_S[i]), "build_dg_table: bin edge {} is {}", i, b.edges_S[i]);
    MC_VALIDATE(i == 0 || b.edges_S[i] > b.edges_S[i - 1],
                "build_dg_table: bin edges must increase ({} after {} at index {})", b.edges_S[i],
                b.edges_S[i - 1], i);
  }
  MC_VALIDATE(b.cdf.size() >= 2, "build_dg_table needs at least two cdf levels");
  for (std::size_t i = 0; i < b.cdf.size(); ++i)
    MC_VALIDATE(b.cdf[i] >= 0 && b.cdf[i] <= 1 && (i == 0 || b.cdf[i] >= b.cdf[i - 1]),
                "build_dg_table: cdf[{}] = {} must lie in [0, 1] and not decrease", i, b.cdf[i]);
  MC_VALIDATE(b.min_steps >= 1, "build_dg_table: min_steps = {} must be >= 1", b.min_steps);

  const std::size_t n_bins = b.edges_S.size() - 1;
  std::vector<std::vector<double>> members(n_bins);
  std::vector<double> G_sum(n_bins, 0.0);
  for (std::size_t k = 0; k < steps.dG_S.size(); ++k) {
    const double G = steps.G_before_S[k], dG = steps.dG_S[k];
    MC_VALIDATE(std::isfinite(G) && std::isfinite(dG),
                "build_dg_table: step {} is not finite (G = {} S, dG = {} S)", k, G, dG);
    if (G < b.edges_S.front() || G > b.edges_S.back()) continue;
    auto j = static_cast<std::size_t>(std::upper_bound(b.edges_S.begin(), b.edges_S.end(), G) -
                                      b.edges_S.begin()) -
             1;
    j = std::min(j, n_bins - 1);  // G == last edge
    members[j].push_back(dG);
    G_sum[j] += G;
  }
  DgTableData t;
  t.polarity = static_cast<std::int64_t>(polarity);
  t.cdf = b.cdf;
  std::vector<std::size_t> kept;
  for (std::size_t j = 0; j < n_bins; ++j) {
    if (static_cast<std::int64_t>(members[j].size()) < b.min_steps) continue;
    kept.push_back(j);
    t.G_bins_S.push_back(G_sum[j] / static_cast<double>(members[j].size()));
  }
  MC_VALIDATE(kept.size() >= 2,
              "build_dg_table: only {} bin(s) hold at least {} steps (of {} steps in {} bins): a "
              "table needs two",
              kept.size(), b.min_steps, steps.dG_S.size(), n_bins);
  t.dG_S = NdArray<double>({t.cdf.size(), kept.size()});
  for (std::size_t c = 0; c < kept.size(); ++c) {
    auto& m = members[kept[c]];
    std::sort(m.begin(), m.end());
    for (std::size_t i = 0; i < t.cdf.size(); ++i)
      t.dG_S(i, c) = sample_quantile_type9(m, t.cdf[i]);
  }
  return t;
}

}  // namespace memcarlo
