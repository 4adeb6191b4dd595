// Tests of the measured-data schema v1: round trips of every kind, the on-disk layout that
// DESIGN.md §3 promises (checked through the h5 layer and the raw C API, not the reader), the
// validation errors of the writer, and the reader's rejection of files that break the
// schema (valid files edited with the raw HDF5 C API).
#include <doctest/doctest.h>

#include <hdf5.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.hpp"
#include "data/hdf5.hpp"
#include "data/measurements.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::test;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using memcarlo::test::same_bits;  // the std::vector overload, for the one below
bool same_bits(const NdArray<double>& a, const NdArray<double>& b) {
  return a.shape == b.shape && same_bits(a.data, b.data);
}

// ---- one example of every kind, with NaN where the schema allows it ----

DriftData drift_full() {
  DriftData d;
  d.t_s = {1.0, 10.0, 100.0, 1000.0};
  d.G_S = NdArray<double>({3, 4}, {20e-6, 18e-6, 16e-6, 14e-6,  //
                                   10e-6, kNaN, 8e-6, 7e-6,      //
                                   2e-6, 1.9e-6, 1.8e-6, kNaN});
  d.t0_s = 2.0;
  d.temperature_K = 358.15;
  d.G_target_S = std::vector<double>{20e-6, 10e-6, 2e-6};
  d.t_read_s = NdArray<double>({3, 4}, {1.01, 10.2, 100.5, 1001,  //
                                        1.02, kNaN, 99.9, 1000.1,  //
                                        0.99, 10.0, 100.0, kNaN});
  d.level = std::vector<std::int64_t>{2, 1, 0};
  return d;
}

DriftData drift_minimal() {
  DriftData d;
  d.t_s = {0.0, 0.5};
  d.G_S = NdArray<double>({1, 2}, {1e-6, 0.9e-6});
  return d;
}

PulseTrainData pulse_train() {
  PulseTrainData p;
  p.G = NdArray<double>({2, 3, 5});
  for (std::size_t i = 0; i < p.G.size(); ++i) p.G.data[i] = 1e-6 * (1.0 + 0.1 * static_cast<double>(i));
  p.G(0, 1, 3) = kNaN;  // padding at the end of a cycle
  p.G(0, 1, 4) = kNaN;
  for (std::size_t k = 1; k < 5; ++k) p.G(1, 2, k) = kNaN;
  p.polarity = {1, -1, 1};
  p.pulse_amplitude_V = -1.5;  // depression pulses may be negative; the magnitude is validated
  p.pulse_width_s = 50e-9;
  p.pulse_power_W = 2e-4;
  return p;
}

PulseTrainData pulse_train_normalised() {
  PulseTrainData p;
  p.G = NdArray<double>({1, 2, 3}, {0.0, 0.5, 1.0, 1.0, 0.4, kNaN});
  p.G_units = "1";
  p.polarity = {1, -1};
  return p;
}

DgTableData dg_table() {
  DgTableData t;
  t.G_bins_S = {1e-6, 2e-6, 3e-6};
  t.cdf = {0.0, 0.1, 0.5, 0.5, 1.0};
  t.dG_S = NdArray<double>({5, 3});
  for (std::size_t i = 0; i < t.dG_S.size(); ++i) t.dG_S.data[i] = -1e-8 * static_cast<double>(i);
  t.polarity = -1;
  return t;
}

// String members are move-assigned: assigning short literals directly trips GCC 12's false
// -Wrestrict warning (GCC PR 105329) in std::string::assign.
SamplesData samples_with_condition() {
  SamplesData s;
  s.value = {1e-7, 2e-7, 1.5e-7, 3e-7};
  s.quantity = std::string("t_set");
  s.unit = std::string("s");
  s.condition = std::vector<double>{1, 2, 3, 4};
  s.condition_name = std::string("pulse_count");
  s.condition_unit = std::string("1");
  s.censor_limit = 1e-5;  // three more devices had not switched after 10 us
  s.n_censored = 3;
  return s;
}

SamplesData samples_plain() {
  SamplesData s;
  s.value = {0.05, 0.06};
  s.quantity = std::string("nu");
  s.unit = std::string("1");
  return s;
}

BakeData bake() {
  BakeData b;
  b.G_before_S = {10e-6, 11e-6, 12e-6};
  b.G_after_S = {9e-6, 10.5e-6, 11e-6};
  b.temperature_K = {358.15, 398.15, 423.15};
  b.duration_s = {3600, 7200, 0};
  b.device = std::vector<std::int64_t>{4, 5, 6};
  return b;
}

TimeSeriesData time_series() {
  TimeSeriesData s;
  s.G_S = NdArray<double>({2, 6}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  for (double& g : s.G_S.data) g *= 1e-6;
  s.sample_rate_Hz = 1e3;
  s.level = std::vector<std::int64_t>{3, 5};
  return s;
}

MeasurementFile all_kinds() {
  MeasurementFile f;
  f.source = "synthetic test data";
  f.licence = "CC-BY-4.0";
  f.paper = "doi:10.0000/example";
  f.provenance = "E_a = 0.3  # eV\nlabel = \"gst\"\n";
  f.licence_text = "Creative Commons Attribution 4.0 \xc2\xa9";
  f.sets = {
      {"drift_full", "drift with every optional field", drift_full()},
      {"drift_min", "drift with no optional field", drift_minimal()},
      {"pt", "pulse train in siemens", pulse_train()},
      {"pt_norm", "normalised pulse train", pulse_train_normalised()},
      {"dg", "step lookup table", dg_table()},
      {"samples_cond", "set times per pulse count", samples_with_condition()},
      {"samples", "drift exponents", samples_plain()},
      {"bake", "retention bake", bake()},
      {"ts", "read noise", time_series()},
  };
  return f;
}

// ---- comparison of what was written and what was read ----

void check_equal(const DriftData& a, const DriftData& b) {
  CHECK(a.t_s == b.t_s);
  CHECK(same_bits(a.G_S, b.G_S));
  CHECK(a.t0_s == b.t0_s);
  CHECK(a.temperature_K == b.temperature_K);
  CHECK(a.G_target_S == b.G_target_S);
  REQUIRE(a.t_read_s.has_value() == b.t_read_s.has_value());
  if (a.t_read_s) CHECK(same_bits(*a.t_read_s, *b.t_read_s));
  CHECK(a.level == b.level);
}
void check_equal(const PulseTrainData& a, const PulseTrainData& b) {
  CHECK(same_bits(a.G, b.G));
  CHECK(a.G_units == b.G_units);
  CHECK(a.polarity == b.polarity);
  CHECK(a.pulse_amplitude_V == b.pulse_amplitude_V);
  CHECK(a.pulse_width_s == b.pulse_width_s);
  CHECK(a.pulse_power_W == b.pulse_power_W);
}
void check_equal(const DgTableData& a, const DgTableData& b) {
  CHECK(a.G_bins_S == b.G_bins_S);
  CHECK(a.cdf == b.cdf);
  CHECK(same_bits(a.dG_S, b.dG_S));
  CHECK(a.polarity == b.polarity);
}
void check_equal(const SamplesData& a, const SamplesData& b) {
  CHECK(a.value == b.value);
  CHECK(a.quantity == b.quantity);
  CHECK(a.unit == b.unit);
  CHECK(a.condition == b.condition);
  CHECK(a.condition_name == b.condition_name);
  CHECK(a.condition_unit == b.condition_unit);
  CHECK(a.censor_limit == b.censor_limit);
  CHECK(a.n_censored == b.n_censored);
}
void check_equal(const BakeData& a, const BakeData& b) {
  CHECK(a.G_before_S == b.G_before_S);
  CHECK(a.G_after_S == b.G_after_S);
  CHECK(a.temperature_K == b.temperature_K);
  CHECK(a.duration_s == b.duration_s);
  CHECK(a.device == b.device);
}
void check_equal(const TimeSeriesData& a, const TimeSeriesData& b) {
  CHECK(same_bits(a.G_S, b.G_S));
  CHECK(a.sample_rate_Hz == b.sample_rate_Hz);
  CHECK(a.level == b.level);
}

// ---- raw HDF5 edits of a valid file, to make broken ones ----

struct RawRW {
  hid_t id;
  explicit RawRW(const std::string& path) : id(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT)) {
    if (id < 0) throw std::runtime_error("raw open failed: " + path);
  }
  ~RawRW() { H5Fclose(id); }
  RawRW(const RawRW&) = delete;
  RawRW& operator=(const RawRW&) = delete;
};

void raw_delete_attr(const std::string& file, const std::string& object, const std::string& name) {
  RawRW f(file);
  REQUIRE(H5Adelete_by_name(f.id, object.c_str(), name.c_str(), H5P_DEFAULT) >= 0);
}

// Replaces (or adds) a string attribute; fixed_length writes it the way h5py writes bytes.
void raw_set_string_attr(const std::string& file, const std::string& object,
                         const std::string& name, const std::string& value,
                         bool fixed_length = false) {
  RawRW f(file);
  const hid_t obj = H5Oopen(f.id, object.c_str(), H5P_DEFAULT);
  REQUIRE(obj >= 0);
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, fixed_length ? value.size() + 1 : H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(attr >= 0);
  const char* data = value.c_str();
  REQUIRE(H5Awrite(attr, type, fixed_length ? static_cast<const void*>(data)
                                            : static_cast<const void*>(&data)) >= 0);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
  H5Oclose(obj);
}

void raw_set_int_attr(const std::string& file, const std::string& object, const std::string& name,
                      std::int64_t value) {
  RawRW f(file);
  const hid_t obj = H5Oopen(f.id, object.c_str(), H5P_DEFAULT);
  REQUIRE(obj >= 0);
  if (H5Aexists(obj, name.c_str()) > 0) H5Adelete(obj, name.c_str());
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(attr >= 0);
  REQUIRE(H5Awrite(attr, H5T_NATIVE_INT64, &value) >= 0);
  H5Aclose(attr);
  H5Sclose(space);
  H5Oclose(obj);
}

void raw_delete_link(const std::string& file, const std::string& path) {
  RawRW f(file);
  REQUIRE(H5Ldelete(f.id, path.c_str(), H5P_DEFAULT) >= 0);
}

// Overwrites one element (flat index) of an existing dataset.
template <class T>
void raw_poke(const std::string& file, const std::string& dataset, std::size_t index, T value,
              hid_t mem_type) {
  RawRW f(file);
  const hid_t d = H5Dopen2(f.id, dataset.c_str(), H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t space = H5Dget_space(d);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  REQUIRE(index < n);
  std::vector<T> data(n);
  REQUIRE(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) >= 0);
  data[index] = value;
  REQUIRE(H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) >= 0);
  H5Sclose(space);
  H5Dclose(d);
}

H5T_class_t raw_attr_class(const std::string& file, const std::string& object,
                           const std::string& name) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t a = H5Aopen_by_name(f, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  const hid_t t = H5Aget_type(a);
  const H5T_class_t c = H5Tget_class(t);
  H5Tclose(t);
  H5Aclose(a);
  H5Fclose(f);
  return c;
}

// Writes a small valid file with one drift and one pulse-train set and checks it reads.
std::string valid_file(const TempDir& dir, const std::string& name = "valid.h5") {
  MeasurementFile f;
  f.source = "test";
  f.licence = "generated";
  f.sets = {{"drift", "", drift_full()}, {"pt", "", pulse_train()}, {"bake", "", bake()}};
  const std::string path = dir.file(name);
  write_measurements(path, f);
  REQUIRE_NOTHROW(read_measurements(path));
  return path;
}

// Expects write_measurements to throw InputError naming the set and `parts`, and to leave
// no file behind.
void check_write_rejects(const Measurement& m, std::initializer_list<const char*> parts) {
  TempDir dir;
  const std::string path = dir.file("bad.h5");
  MeasurementFile f;
  f.sets = {m};
  CHECK_THROWS_AS(write_measurements(path, f), InputError);
  const std::string msg = message_of([&] { write_measurements(path, f); });
  CAPTURE(msg);
  CHECK(contains(msg, path));
  CHECK(contains(msg, "/" + m.name));
  for (const char* part : parts) CHECK(contains(msg, part));
  CHECK(dir.empty());
}

// Expects read_measurements to throw a memcarlo::Error naming the file and `parts`.
void check_read_rejects(const std::string& path, std::initializer_list<std::string> parts) {
  CHECK_THROWS_AS(read_measurements(path), Error);
  const std::string msg = message_of([&] { read_measurements(path); });
  CAPTURE(msg);
  CHECK(contains(msg, path));
  for (const auto& part : parts) CHECK(contains(msg, part));
}

}  // namespace

TEST_CASE("every kind round-trips through write_measurements and read_measurements") {
  TempDir dir;
  const std::string path = dir.file("all.h5");
  const MeasurementFile written = all_kinds();
  write_measurements(path, written);
  const MeasurementFile read = read_measurements(path);

  CHECK(read.source == written.source);
  CHECK(read.licence == written.licence);
  CHECK(read.paper == written.paper);
  CHECK(read.provenance == written.provenance);
  CHECK(read.licence_text == written.licence_text);
  REQUIRE(read.sets.size() == written.sets.size());
  for (std::size_t i = 0; i < written.sets.size(); ++i) {
    const Measurement& w = written.sets[i];
    const Measurement& r = read.sets[i];
    CAPTURE(w.name);
    CHECK(r.name == w.name);  // in the order written
    CHECK(r.description == w.description);
    REQUIRE(r.body.index() == w.body.index());
    std::visit(
        [&](const auto& wb) {
          using T = std::decay_t<decltype(wb)>;
          check_equal(wb, std::get<T>(r.body));
        },
        w.body);
  }
  // The minimal drift set has no optional fields after reading either.
  const auto& minimal = std::get<DriftData>(read.sets[1].body);
  CHECK_FALSE(minimal.temperature_K.has_value());
  CHECK_FALSE(minimal.G_target_S.has_value());
  CHECK_FALSE(minimal.t_read_s.has_value());
  CHECK_FALSE(minimal.level.has_value());
  CHECK_FALSE(std::get<PulseTrainData>(read.sets[3].body).pulse_width_s.has_value());
  CHECK_FALSE(std::get<SamplesData>(read.sets[6].body).condition.has_value());
  CHECK_FALSE(std::get<SamplesData>(read.sets[6].body).censor_limit.has_value());
}

TEST_CASE("the file layout is the one of DESIGN.md section 3 and docs/hdf5-schema.md") {
  TempDir dir;
  const std::string path = dir.file("layout.h5");
  write_measurements(path, all_kinds());
  const h5::Group root = h5::open_file(path);
  CHECK(root.read_attr_string("format") == "memcarlo-measurements");
  CHECK(raw_attr_class(path, "/", "format") == H5T_STRING);
  CHECK(root.read_attr_int("format_version") == 1);
  CHECK(raw_attr_class(path, "/", "format_version") == H5T_INTEGER);
  CHECK_FALSE(root.read_attr_string("created_by").empty());
  CHECK(root.read_attr_string("provenance") == all_kinds().provenance);

  struct Expect {
    const char* group;
    const char* kind;
    std::vector<std::pair<const char*, const char*>> units;  // dataset, units
  };
  const Expect expected[] = {
      {"drift_full", "drift", {{"t", "s"}, {"G", "S"}, {"G_target", "S"}, {"t_read", "s"}}},
      {"pt", "pulse_train", {{"G", "S"}}},
      {"pt_norm", "pulse_train", {{"G", "1"}}},
      {"dg", "dg_table", {{"G_bins", "S"}, {"cdf", "1"}, {"dG", "S"}}},
      {"samples_cond", "samples", {{"value", "s"}, {"condition", "1"}}},
      {"bake", "bake", {{"G_before", "S"}, {"G_after", "S"}, {"temperature_K", "K"}, {"duration_s", "s"}}},
      {"ts", "time_series", {{"G", "S"}}},
  };
  for (const Expect& e : expected) {
    CAPTURE(e.group);
    const h5::Group g = root.open_group(e.group);
    CHECK(g.read_attr_string("kind") == e.kind);
    CHECK(g.has_attr("description"));
    for (const auto& [dataset, units] : e.units) {
      CAPTURE(dataset);
      CHECK(g.dataset_attr_string(dataset, "units") == units);
    }
  }
  // Shapes and the attributes of the table.
  const h5::Group drift = root.open_group("drift_full");
  CHECK(drift.dataset_shape("G") == std::vector<std::size_t>{3, 4});
  CHECK(drift.dataset_shape("t") == std::vector<std::size_t>{4});
  CHECK(drift.read_attr_double("t0_s") == 2.0);
  CHECK(drift.read_attr_double("temperature_K") == 358.15);
  const h5::Group pt = root.open_group("pt");
  CHECK(pt.dataset_shape("G") == std::vector<std::size_t>{2, 3, 5});
  CHECK(pt.read_int("polarity").data == std::vector<std::int64_t>{1, -1, 1});
  CHECK(pt.read_attr_double("pulse_amplitude_V") == -1.5);
  CHECK(pt.read_attr_double("pulse_width_s") == 50e-9);
  CHECK(raw_attr_class(path, "/dg", "polarity") == H5T_INTEGER);
  CHECK(root.open_group("dg").read_attr_int("polarity") == -1);
  const h5::Group s = root.open_group("samples_cond");
  CHECK(s.read_attr_string("quantity") == "t_set");
  CHECK(s.read_attr_string("unit") == "s");
  CHECK(s.read_attr_string("condition_name") == "pulse_count");
  CHECK(s.read_attr_double("censor_limit") == 1e-5);
  CHECK(s.read_attr_int("n_censored") == 3);
  CHECK_FALSE(root.open_group("samples").has_attr("censor_limit"));
  CHECK(root.open_group("ts").read_attr_double("sample_rate_Hz") == 1e3);
}

TEST_CASE("the writer rejects invalid sets, naming the set and the value, and writes nothing") {
  SUBCASE("NaN in the middle of a pulse cycle") {
    PulseTrainData p = pulse_train();
    p.G(1, 0, 2) = kNaN;  // followed by a value at pulse 3
    check_write_rejects({"pt", "", p}, {"G[1, 0, 3]", "NaN"});
  }
  SUBCASE("a cycle that starts with NaN") {
    PulseTrainData p = pulse_train();
    p.G(0, 2, 0) = kNaN;
    check_write_rejects({"pt", "", p}, {"G[0, 2, 0]"});
  }
  SUBCASE("polarity 2") {
    PulseTrainData p = pulse_train();
    p.polarity[1] = 2;
    check_write_rejects({"pt", "", p}, {"polarity[1] = 2"});
    DgTableData t = dg_table();
    t.polarity = 2;
    check_write_rejects({"dg", "", t}, {"polarity = 2"});
  }
  SUBCASE("non-increasing t") {
    DriftData d = drift_full();
    d.t_s[2] = 10.0;
    check_write_rejects({"drift", "", d}, {"t is not strictly increasing", "index 2"});
    d.t_s = {1.0, 10.0, 5.0, 1000.0};
    check_write_rejects({"drift", "", d}, {"index 2", "5"});
  }
  SUBCASE("cdf outside [0, 1]") {
    DgTableData t = dg_table();
    t.cdf.back() = 1.25;
    check_write_rejects({"dg", "", t}, {"cdf", "1.25"});
    t = dg_table();
    t.cdf.front() = -0.5;
    check_write_rejects({"dg", "", t}, {"cdf", "-0.5"});
  }
  SUBCASE("shape mismatches") {
    DriftData d = drift_full();
    d.t_s.push_back(1e4);  // 5 times, 4 columns of G
    check_write_rejects({"drift", "", d}, {"G columns", "4", "5"});
    d = drift_full();
    d.G_target_S = std::vector<double>{20e-6, 10e-6};
    check_write_rejects({"drift", "", d}, {"G_target", "2", "3"});
    d = drift_full();
    d.t_read_s = NdArray<double>({4, 3});
    check_write_rejects({"drift", "", d}, {"t_read"});
    PulseTrainData p = pulse_train();
    p.polarity.pop_back();
    check_write_rejects({"pt", "", p}, {"polarity", "2", "3"});
    p = pulse_train();
    p.G = NdArray<double>({2, 15}, 1e-6);
    check_write_rejects({"pt", "", p}, {"G has rank 2, expected 3"});
    DgTableData t = dg_table();
    t.dG_S = NdArray<double>({5, 2}, 0.0);
    check_write_rejects({"dg", "", t}, {"dG columns", "2", "3"});
    BakeData b = bake();
    b.duration_s.pop_back();
    check_write_rejects({"bake", "", b}, {"duration_s", "2", "3"});
    SamplesData s = samples_with_condition();
    s.condition->push_back(5);
    check_write_rejects({"s", "", s}, {"condition", "5", "4"});
  }
  SUBCASE("NaN in samples") {
    SamplesData s = samples_plain();
    s.value.push_back(kNaN);
    check_write_rejects({"s", "", s}, {"value[2]", "nan"});
  }
  SUBCASE("negative temperature") {
    BakeData b = bake();
    b.temperature_K[1] = -5.0;
    check_write_rejects({"bake", "", b}, {"temperature_K[1] = -5"});
    DriftData d = drift_full();
    d.temperature_K = -5.0;
    check_write_rejects({"drift", "", d}, {"temperature_K = -5"});
  }
  SUBCASE("infinite conductance, bad units and missing metadata") {
    DriftData d = drift_full();
    d.G_S(2, 1) = std::numeric_limits<double>::infinity();
    check_write_rejects({"drift", "", d}, {"G[2, 1]", "infinite"});
    PulseTrainData p = pulse_train();
    p.G_units = "uS";
    check_write_rejects({"pt", "", p}, {"'uS'"});
    SamplesData s = samples_plain();
    s.unit = "";
    check_write_rejects({"s", "", s}, {"unit"});
    s = samples_with_condition();
    s.condition_name = "";
    check_write_rejects({"s", "", s}, {"condition_name"});
    s = samples_with_condition();
    s.n_censored = -2;
    check_write_rejects({"s", "", s}, {"n_censored = -2"});
    s = samples_plain();
    s.n_censored = 2;
    check_write_rejects({"s", "", s}, {"censor_limit"});
  }
  SUBCASE("set names must be unique and plain") {
    TempDir dir;
    const std::string path = dir.file("names.h5");
    MeasurementFile f;
    f.sets = {{"a", "", bake()}, {"a", "", bake()}};
    CHECK(contains(message_of([&] { write_measurements(path, f); }), "duplicate"));
    f.sets = {{"a/b", "", bake()}};
    CHECK_THROWS_AS(write_measurements(path, f), InputError);
    f.sets = {{"", "", bake()}};
    CHECK_THROWS_AS(write_measurements(path, f), InputError);
    CHECK(dir.empty());
  }
}

TEST_CASE("the reader rejects files that break the schema") {
  TempDir dir;

  SUBCASE("wrong format") {
    const std::string path = valid_file(dir);
    raw_set_string_attr(path, "/", "format", "openmc-statepoint");
    check_read_rejects(path, {"format", "openmc-statepoint", "memcarlo-measurements"});
  }
  SUBCASE("missing format") {
    const std::string path = valid_file(dir);
    raw_delete_attr(path, "/", "format");
    check_read_rejects(path, {"'format'"});
  }
  SUBCASE("format_version 2") {
    const std::string path = valid_file(dir);
    raw_set_int_attr(path, "/", "format_version", 2);
    check_read_rejects(path, {"format_version 2"});
  }
  SUBCASE("unknown kind") {
    const std::string path = valid_file(dir);
    raw_set_string_attr(path, "/drift", "kind", "spectrum");
    check_read_rejects(path, {"/drift", "'spectrum'"});
  }
  SUBCASE("missing kind") {
    const std::string path = valid_file(dir);
    raw_delete_attr(path, "/pt", "kind");
    check_read_rejects(path, {"/pt", "'kind'"});
  }
  SUBCASE("wrong units attribute on a dataset") {
    const std::string path = valid_file(dir);
    raw_set_string_attr(path, "/drift/G", "units", "uS");
    check_read_rejects(path, {"/drift/G", "'uS'"});
  }
  SUBCASE("missing units attribute on a dataset") {
    const std::string path = valid_file(dir);
    raw_delete_attr(path, "/bake/temperature_K", "units");
    check_read_rejects(path, {"/bake/temperature_K", "units"});
  }
  SUBCASE("missing dataset") {
    const std::string path = valid_file(dir);
    raw_delete_link(path, "/drift/t");
    check_read_rejects(path, {"/drift/t", "missing"});
  }
  SUBCASE("missing polarity of a pulse train") {
    const std::string path = valid_file(dir);
    raw_delete_link(path, "/pt/polarity");
    check_read_rejects(path, {"/pt/polarity", "missing"});
  }
  SUBCASE("NaN in the middle of a pulse cycle") {
    const std::string path = valid_file(dir);
    raw_poke(path, "/pt/G", (1 * 3 + 0) * 5 + 2, kNaN, H5T_NATIVE_DOUBLE);  // G[1, 0, 2]
    check_read_rejects(path, {"/pt", "G[1, 0, 3]"});
  }
  SUBCASE("polarity 2 in the file") {
    const std::string path = valid_file(dir);
    raw_poke<std::int64_t>(path, "/pt/polarity", 2, 2, H5T_NATIVE_INT64);
    check_read_rejects(path, {"/pt", "polarity[2] = 2"});
  }
  SUBCASE("negative bake temperature in the file") {
    const std::string path = valid_file(dir);
    raw_poke(path, "/bake/temperature_K", 0, -1.0, H5T_NATIVE_DOUBLE);
    check_read_rejects(path, {"/bake", "temperature_K[0] = -1"});
  }
  SUBCASE("non-increasing t in the file") {
    const std::string path = valid_file(dir);
    raw_poke(path, "/drift/t", 3, 50.0, H5T_NATIVE_DOUBLE);
    check_read_rejects(path, {"/drift", "index 3"});
  }
  SUBCASE("a file with no data set") {
    const std::string path = dir.file("empty.h5");
    {
      h5::OutputFile out(path);
      out.root().write_attr("format", kMeasurementsFormat);
      out.root().write_attr("format_version", kMeasurementsVersion);
      out.commit();
    }
    check_read_rejects(path, {"no data set"});
  }
  SUBCASE("not an HDF5 file, or no file") {
    check_read_rejects(dir.file("absent.h5"), {"no such file"});
  }
}

TEST_CASE("string attributes written as fixed-length (as h5py does) are read") {
  TempDir dir;
  const std::string path = valid_file(dir);
  raw_set_string_attr(path, "/", "format", "memcarlo-measurements", true);
  raw_set_string_attr(path, "/", "source", "h5py export", true);
  raw_set_string_attr(path, "/drift/G", "units", "S", true);
  const MeasurementFile f = read_measurements(path);
  CHECK(f.source == "h5py export");
  CHECK(f.sets.size() == 3);
}
