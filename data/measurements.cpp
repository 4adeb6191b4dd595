#include "data/measurements.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/version.hpp"
#include "data/hdf5.hpp"

namespace memcarlo {

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

[[noreturn]] void invalid(const std::string& where, const std::string& what) {
  throw InputError(fmt::format("{}: {}", where, what));
}

void require_finite(const std::vector<double>& v, const std::string& where, const char* name) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) invalid(where, fmt::format("{}[{}] = {} is not finite", name, i, v[i]));
}

void require_size(std::size_t got, std::size_t want, const std::string& where, const char* name,
                  const char* dim) {
  if (got != want)
    invalid(where, fmt::format("{} has {} values, expected {} ({})", name, got, want, dim));
}

void require_shape(const std::vector<std::size_t>& shape, std::size_t rank,
                   const std::string& where, const char* name) {
  if (shape.size() != rank)
    invalid(where, fmt::format("{} has rank {}, expected {}", name, shape.size(), rank));
  for (std::size_t d = 0; d < rank; ++d)
    if (shape[d] == 0) invalid(where, fmt::format("{} has an empty dimension {}", name, d));
}

void require_increasing(const std::vector<double>& v, bool strict, const std::string& where,
                        const char* name) {
  for (std::size_t i = 1; i < v.size(); ++i)
    if (strict ? !(v[i] > v[i - 1]) : !(v[i] >= v[i - 1]))
      invalid(where, fmt::format("{} is not {}increasing at index {} ({} after {})", name,
                                 strict ? "strictly " : "", i, v[i], v[i - 1]));
}

void require_positive(std::optional<double> x, const std::string& where, const char* name) {
  if (x && !(std::isfinite(*x) && *x > 0))
    invalid(where, fmt::format("{} = {} must be positive and finite", name, *x));
}

void validate_drift(const DriftData& d, const std::string& w) {
  if (d.t_s.empty()) invalid(w, "t is empty");
  require_finite(d.t_s, w, "t");
  if (d.t_s.front() < 0) invalid(w, fmt::format("t[0] = {} is negative", d.t_s.front()));
  require_increasing(d.t_s, true, w, "t");
  require_shape(d.G_S.shape, 2, w, "G");
  require_size(d.G_S.shape[1], d.t_s.size(), w, "G columns", "n_t");
  for (std::size_t i = 0; i < d.G_S.size(); ++i)
    if (std::isinf(d.G_S.data[i]))
      invalid(w, fmt::format("G[{}, {}] is infinite (NaN marks a missing read)",
                             i / d.G_S.shape[1], i % d.G_S.shape[1]));
  require_positive(d.t0_s, w, "t0_s");
  require_positive(d.temperature_K, w, "temperature_K");
  if (d.G_target_S) {
    require_size(d.G_target_S->size(), d.G_S.shape[0], w, "G_target", "n_dev");
    require_finite(*d.G_target_S, w, "G_target");
  }
  if (d.t_read_s) {
    if (d.t_read_s->shape != d.G_S.shape) invalid(w, "t_read must have the shape of G");
    for (std::size_t i = 0; i < d.t_read_s->size(); ++i) {
      const double t = d.t_read_s->data[i];
      if (std::isinf(t) || t < 0)
        invalid(w, fmt::format("t_read[{}] = {} must be finite and >= 0 (NaN = not read)", i, t));
    }
  }
  if (d.level) require_size(d.level->size(), d.G_S.shape[0], w, "level", "n_dev");
}

void validate_pulse_train(const PulseTrainData& p, const std::string& w) {
  require_shape(p.G.shape, 3, w, "G");
  const std::size_t n_dev = p.G.shape[0], n_cycle = p.G.shape[1], n_pulse = p.G.shape[2];
  require_size(p.polarity.size(), n_cycle, w, "polarity", "n_cycle");
  for (std::size_t c = 0; c < n_cycle; ++c)
    if (p.polarity[c] != 1 && p.polarity[c] != -1)
      invalid(w, fmt::format("polarity[{}] = {} must be +1 or -1", c, p.polarity[c]));
  if (p.G_units != "S" && p.G_units != "1")
    invalid(w, fmt::format("G units '{}' must be 'S' or '1' (normalised)", p.G_units));
  for (std::size_t d = 0; d < n_dev; ++d)
    for (std::size_t c = 0; c < n_cycle; ++c) {
      bool padding = false;
      for (std::size_t k = 0; k < n_pulse; ++k) {
        const double g = p.G(d, c, k);
        if (std::isinf(g)) invalid(w, fmt::format("G[{}, {}, {}] is infinite", d, c, k));
        if (std::isnan(g)) {
          if (k == 0) invalid(w, fmt::format("G[{}, {}, 0] is NaN: a cycle needs at least one value", d, c));
          padding = true;
        } else if (padding) {
          invalid(w, fmt::format("G[{}, {}, {}] follows NaN padding (NaN is allowed only at the end of a cycle)", d, c, k));
        }
      }
    }
  require_positive(p.pulse_amplitude_V ? std::optional(std::fabs(*p.pulse_amplitude_V)) : std::nullopt, w, "pulse_amplitude_V");
  require_positive(p.pulse_width_s, w, "pulse_width_s");
  require_positive(p.pulse_power_W, w, "pulse_power_W");
}

void validate_dg_table(const DgTableData& t, const std::string& w) {
  if (t.G_bins_S.size() < 2) invalid(w, "G_bins needs at least two bins");
  require_finite(t.G_bins_S, w, "G_bins");
  require_increasing(t.G_bins_S, true, w, "G_bins");
  if (t.cdf.size() < 2) invalid(w, "cdf needs at least two points");
  require_finite(t.cdf, w, "cdf");
  require_increasing(t.cdf, false, w, "cdf");
  if (t.cdf.front() < 0 || t.cdf.back() > 1)
    invalid(w, fmt::format("cdf must lie in [0, 1], got [{}, {}]", t.cdf.front(), t.cdf.back()));
  require_shape(t.dG_S.shape, 2, w, "dG");
  require_size(t.dG_S.shape[0], t.cdf.size(), w, "dG rows", "n_q");
  require_size(t.dG_S.shape[1], t.G_bins_S.size(), w, "dG columns", "n_bins");
  require_finite(t.dG_S.data, w, "dG");
  if (t.polarity != 1 && t.polarity != -1)
    invalid(w, fmt::format("polarity = {} must be +1 or -1", t.polarity));
}

void validate_samples(const SamplesData& s, const std::string& w) {
  if (s.value.empty()) invalid(w, "value is empty");
  require_finite(s.value, w, "value");
  if (s.quantity.empty()) invalid(w, "attribute quantity is empty");
  if (s.unit.empty()) invalid(w, "attribute unit is empty (use '1' for counts and ratios)");
  if (s.condition) {
    require_size(s.condition->size(), s.value.size(), w, "condition", "n");
    require_finite(*s.condition, w, "condition");
    if (s.condition_name.empty()) invalid(w, "condition given without condition_name");
  }
  if (s.n_censored < 0) invalid(w, fmt::format("n_censored = {} is negative", s.n_censored));
  if (s.n_censored > 0 && !s.censor_limit) invalid(w, "n_censored given without censor_limit");
}

void validate_bake(const BakeData& b, const std::string& w) {
  const std::size_t n = b.G_before_S.size();
  if (n == 0) invalid(w, "G_before is empty");
  require_size(b.G_after_S.size(), n, w, "G_after", "n");
  require_size(b.temperature_K.size(), n, w, "temperature_K", "n");
  require_size(b.duration_s.size(), n, w, "duration_s", "n");
  require_finite(b.G_before_S, w, "G_before");
  require_finite(b.G_after_S, w, "G_after");
  require_finite(b.temperature_K, w, "temperature_K");
  require_finite(b.duration_s, w, "duration_s");
  for (std::size_t i = 0; i < n; ++i) {
    if (b.temperature_K[i] <= 0)
      invalid(w, fmt::format("temperature_K[{}] = {} must be positive", i, b.temperature_K[i]));
    if (b.duration_s[i] < 0)
      invalid(w, fmt::format("duration_s[{}] = {} is negative", i, b.duration_s[i]));
  }
  if (b.device) require_size(b.device->size(), n, w, "device", "n");
}

void validate_time_series(const TimeSeriesData& s, const std::string& w) {
  require_shape(s.G_S.shape, 2, w, "G");
  require_finite(s.G_S.data, w, "G");
  require_positive(s.sample_rate_Hz, w, "sample_rate_Hz");
  if (s.level) require_size(s.level->size(), s.G_S.shape[0], w, "level", "n_dev");
}

NdArray<double> vec(const std::vector<double>& v) { return NdArray<double>({v.size()}, v); }
NdArray<std::int64_t> ivec(const std::vector<std::int64_t>& v) {
  return NdArray<std::int64_t>({v.size()}, v);
}

h5::DatasetOptions opts(const char* units, const char* description = "") {
  return h5::DatasetOptions{units, description};
}

void write_body(h5::Group& g, const DriftData& d) {
  g.write("t", vec(d.t_s), opts("s", "read time after programming"));
  g.write("G", d.G_S, opts("S", "conductance [device, time]; NaN = not read"));
  g.write_attr("t0_s", d.t0_s);
  if (d.temperature_K) g.write_attr("temperature_K", *d.temperature_K);
  if (d.G_target_S) g.write("G_target", vec(*d.G_target_S), opts("S", "programming target"));
  if (d.t_read_s) g.write("t_read", *d.t_read_s, opts("s", "actual read time [device, time]"));
  if (d.level) g.write("level", ivec(*d.level), opts("1", "programmed level index"));
}

void write_body(h5::Group& g, const PulseTrainData& p) {
  g.write("G", p.G, opts(p.G_units.c_str(), "conductance after each pulse [device, cycle, pulse]; NaN = padding"));
  g.write("polarity", ivec(p.polarity), opts("1", "+1 potentiation, -1 depression"));
  if (p.pulse_amplitude_V) g.write_attr("pulse_amplitude_V", *p.pulse_amplitude_V);
  if (p.pulse_width_s) g.write_attr("pulse_width_s", *p.pulse_width_s);
  if (p.pulse_power_W) g.write_attr("pulse_power_W", *p.pulse_power_W);
}

void write_body(h5::Group& g, const DgTableData& t) {
  g.write("G_bins", vec(t.G_bins_S), opts("S", "conductance bin centres"));
  g.write("cdf", vec(t.cdf), opts("1", "cumulative probability of each row of dG"));
  g.write("dG", t.dG_S, opts("S", "conductance step quantile [cdf point, G bin]"));
  g.write_attr("polarity", t.polarity);
}

void write_body(h5::Group& g, const SamplesData& s) {
  g.write("value", vec(s.value), opts(s.unit.c_str()));
  g.write_attr("quantity", s.quantity);
  g.write_attr("unit", s.unit);
  if (s.condition) {
    g.write("condition", vec(*s.condition), opts(s.condition_unit.c_str()));
    g.write_attr("condition_name", s.condition_name);
    g.write_attr("condition_unit", s.condition_unit);
  }
  if (s.censor_limit) {
    g.write_attr("censor_limit", *s.censor_limit);
    g.write_attr("n_censored", s.n_censored);
  }
}

void write_body(h5::Group& g, const BakeData& b) {
  g.write("G_before", vec(b.G_before_S), opts("S", "conductance read before the bake"));
  g.write("G_after", vec(b.G_after_S), opts("S", "conductance read after the bake"));
  g.write("temperature_K", vec(b.temperature_K), opts("K", "bake temperature"));
  g.write("duration_s", vec(b.duration_s), opts("s", "time from the read before to the read after"));
  if (b.device) g.write("device", ivec(*b.device), opts("1", "device address"));
}

void write_body(h5::Group& g, const TimeSeriesData& s) {
  g.write("G", s.G_S, opts("S", "conductance [device, sample]"));
  g.write_attr("sample_rate_Hz", s.sample_rate_Hz);
  if (s.level) g.write("level", ivec(*s.level), opts("1", "programmed level index"));
}

// ---- reading ----

void require_units(const h5::Group& g, const std::string& dataset,
                   std::initializer_list<const char*> allowed) {
  const auto units = g.dataset_attr_string(dataset, "units");
  if (!units) throw FileError(g.file(), g.object_path(dataset), "missing attribute 'units'");
  for (const char* a : allowed)
    if (*units == a) return;
  throw FileError(g.file(), g.object_path(dataset),
                  fmt::format("units '{}' not allowed here (expected '{}')", *units,
                              *allowed.begin()));
}

std::vector<double> read_vector(const h5::Group& g, const std::string& name) {
  auto a = g.read_double(name);
  if (a.rank() != 1)
    throw FileError(g.file(), g.object_path(name), fmt::format("rank {}, expected 1", a.rank()));
  return std::move(a.data);
}

std::vector<std::int64_t> read_int_vector(const h5::Group& g, const std::string& name) {
  auto a = g.read_int(name);
  if (a.rank() != 1)
    throw FileError(g.file(), g.object_path(name), fmt::format("rank {}, expected 1", a.rank()));
  return std::move(a.data);
}

std::optional<double> optional_attr(const h5::Group& g, const char* name) {
  if (!g.has_attr(name)) return std::nullopt;
  return g.read_attr_double(name);
}

MeasurementBody read_body(const h5::Group& g, const std::string& kind) {
  if (kind == "drift") {
    DriftData d;
    require_units(g, "t", {"s"});
    require_units(g, "G", {"S"});
    d.t_s = read_vector(g, "t");
    d.G_S = g.read_double("G");
    d.t0_s = g.read_attr_double("t0_s");
    d.temperature_K = optional_attr(g, "temperature_K");
    if (g.has("G_target")) {
      require_units(g, "G_target", {"S"});
      d.G_target_S = read_vector(g, "G_target");
    }
    if (g.has("t_read")) {
      require_units(g, "t_read", {"s"});
      d.t_read_s = g.read_double("t_read");
    }
    if (g.has("level")) {
      require_units(g, "level", {"1"});
      d.level = read_int_vector(g, "level");
    }
    return d;
  }
  if (kind == "pulse_train") {
    PulseTrainData p;
    require_units(g, "G", {"S", "1"});
    p.G = g.read_double("G");
    p.G_units = *g.dataset_attr_string("G", "units");
    require_units(g, "polarity", {"1"});
    p.polarity = read_int_vector(g, "polarity");
    p.pulse_amplitude_V = optional_attr(g, "pulse_amplitude_V");
    p.pulse_width_s = optional_attr(g, "pulse_width_s");
    p.pulse_power_W = optional_attr(g, "pulse_power_W");
    return p;
  }
  if (kind == "dg_table") {
    DgTableData t;
    require_units(g, "G_bins", {"S"});
    require_units(g, "dG", {"S"});
    require_units(g, "cdf", {"1"});
    t.G_bins_S = read_vector(g, "G_bins");
    t.cdf = read_vector(g, "cdf");
    t.dG_S = g.read_double("dG");
    t.polarity = g.read_attr_int("polarity");
    return t;
  }
  if (kind == "samples") {
    SamplesData s;
    s.quantity = g.read_attr_string("quantity");
    s.unit = g.read_attr_string("unit");
    require_units(g, "value", {s.unit.c_str()});
    s.value = read_vector(g, "value");
    if (g.has("condition")) {
      s.condition_name = g.read_attr_string("condition_name");
      s.condition_unit = g.read_attr_string("condition_unit");
      require_units(g, "condition", {s.condition_unit.c_str()});
      s.condition = read_vector(g, "condition");
    }
    if (g.has_attr("censor_limit")) s.censor_limit = g.read_attr_double("censor_limit");
    // Read whether or not censor_limit is there, so that validate() refuses a count of
    // censored values without the limit instead of the values being dropped unseen.
    if (g.has_attr("n_censored")) s.n_censored = g.read_attr_int("n_censored");
    return s;
  }
  if (kind == "bake") {
    BakeData b;
    require_units(g, "G_before", {"S"});
    require_units(g, "G_after", {"S"});
    require_units(g, "temperature_K", {"K"});
    require_units(g, "duration_s", {"s"});
    b.G_before_S = read_vector(g, "G_before");
    b.G_after_S = read_vector(g, "G_after");
    b.temperature_K = read_vector(g, "temperature_K");
    b.duration_s = read_vector(g, "duration_s");
    if (g.has("device")) {
      require_units(g, "device", {"1"});
      b.device = read_int_vector(g, "device");
    }
    return b;
  }
  if (kind == "time_series") {
    TimeSeriesData s;
    require_units(g, "G", {"S"});
    s.G_S = g.read_double("G");
    s.sample_rate_Hz = g.read_attr_double("sample_rate_Hz");
    if (g.has("level")) {
      require_units(g, "level", {"1"});
      s.level = read_int_vector(g, "level");
    }
    return s;
  }
  throw FileError(g.file(), g.object_path(),
                  fmt::format("unknown kind '{}' (expected drift, pulse_train, dg_table, samples, "
                              "bake or time_series)",
                              kind));
}

}  // namespace

const char* kind_name(const MeasurementBody& body) {
  return std::visit(Overloaded{[](const DriftData&) { return "drift"; },
                               [](const PulseTrainData&) { return "pulse_train"; },
                               [](const DgTableData&) { return "dg_table"; },
                               [](const SamplesData&) { return "samples"; },
                               [](const BakeData&) { return "bake"; },
                               [](const TimeSeriesData&) { return "time_series"; }},
                    body);
}

void validate(const Measurement& m, const std::string& where) {
  std::visit(Overloaded{[&](const DriftData& d) { validate_drift(d, where); },
                        [&](const PulseTrainData& p) { validate_pulse_train(p, where); },
                        [&](const DgTableData& t) { validate_dg_table(t, where); },
                        [&](const SamplesData& s) { validate_samples(s, where); },
                        [&](const BakeData& b) { validate_bake(b, where); },
                        [&](const TimeSeriesData& s) { validate_time_series(s, where); }},
             m.body);
}

void write_measurements(const std::string& path, const MeasurementFile& file) {
  std::set<std::string> names;
  for (const auto& m : file.sets) {
    MC_VALIDATE(!m.name.empty() && m.name.find('/') == std::string::npos,
                "{}: invalid data set name '{}'", path, m.name);
    MC_VALIDATE(names.insert(m.name).second, "{}: duplicate data set name '{}'", path, m.name);
    validate(m, fmt::format("{}: /{}", path, m.name));
  }
  h5::OutputFile out(path);
  auto& root = out.root();
  root.write_attr("format", kMeasurementsFormat);
  root.write_attr("format_version", kMeasurementsVersion);
  root.write_attr("created_by", kCreatedBy);
  root.write_attr("source", file.source);
  root.write_attr("licence", file.licence);
  root.write_attr("paper", file.paper);
  root.write_attr("provenance", file.provenance);
  if (!file.licence_text.empty()) root.write_attr("licence_text", file.licence_text);
  for (const auto& m : file.sets) {
    h5::Group g = root.create_group(m.name);
    g.write_attr("kind", kind_name(m.body));
    g.write_attr("description", m.description);
    std::visit([&](const auto& body) { write_body(g, body); }, m.body);
  }
  out.commit();
}

namespace {

MeasurementFile read_measurements_unchecked(const std::string& path) {
  h5::Group root = h5::open_file(path);
  if (!root.has_attr("format")) throw FileError(path, "missing root attribute 'format'");
  const std::string format = root.read_attr_string("format");
  if (format != kMeasurementsFormat)
    throw FileError(path, fmt::format("format is '{}', expected '{}'", format, kMeasurementsFormat));
  if (!root.has_attr("format_version"))
    throw FileError(path, "missing root attribute 'format_version'");
  const std::int64_t version = root.read_attr_int("format_version");
  if (version != kMeasurementsVersion)
    throw FileError(path, fmt::format("format_version {} is not supported (this memcarlo reads "
                                      "version {})",
                                      version, kMeasurementsVersion));
  MeasurementFile file;
  auto optional_string = [&](const char* name) {
    return root.has_attr(name) ? root.read_attr_string(name) : std::string();
  };
  file.source = optional_string("source");
  file.licence = optional_string("licence");
  file.paper = optional_string("paper");
  file.provenance = optional_string("provenance");
  file.licence_text = optional_string("licence_text");
  for (const std::string& name : root.children()) {
    h5::Group g = root.open_group(name);
    if (!g.has_attr("kind")) throw FileError(path, g.object_path(), "missing attribute 'kind'");
    Measurement m{name, g.has_attr("description") ? g.read_attr_string("description") : "",
                  read_body(g, g.read_attr_string("kind"))};
    try {
      validate(m, "/" + name);
    } catch (const InputError& e) {
      throw FileError(path, e.what());  // broken file contents are a FileError
    }
    file.sets.push_back(std::move(m));
  }
  if (file.sets.empty()) throw FileError(path, "holds no data set");
  return file;
}

}  // namespace

MeasurementFile read_measurements(const std::string& path) {
  return h5::read_guarded(path, [&] { return read_measurements_unchecked(path); });
}

}  // namespace memcarlo
