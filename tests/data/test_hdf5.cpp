// Tests of the RAII HDF5 layer: round trips of arrays and attributes (checked where useful
// with the raw HDF5 C API, independently of the layer's readers), chunking and compression of
// large arrays, the all-or-nothing OutputFile, and the errors for files that cannot be read.
#include <doctest/doctest.h>

#include <hdf5.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/files.hpp"
#include "data/hdf5.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::test;
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Raw HDF5 C API access, independent of the layer under test.
struct RawFile {
  hid_t id;
  explicit RawFile(const std::string& path) : id(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT)) {
    if (id < 0) throw std::runtime_error("raw open failed: " + path);
  }
  ~RawFile() { H5Fclose(id); }
  RawFile(const RawFile&) = delete;
  RawFile& operator=(const RawFile&) = delete;
};

struct DatasetInfo {
  std::vector<hsize_t> dims, chunk;
  H5D_layout_t layout;
  std::set<H5Z_filter_t> filters;
  H5T_class_t type_class;
  std::size_t type_size;
  hsize_t storage_bytes;
};

DatasetInfo inspect(const std::string& file, const std::string& dataset) {
  RawFile f(file);
  const hid_t d = H5Dopen2(f.id, dataset.c_str(), H5P_DEFAULT);
  REQUIRE(d >= 0);
  DatasetInfo info;
  const hid_t space = H5Dget_space(d);
  info.dims.resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, info.dims.data(), nullptr);
  H5Sclose(space);
  const hid_t type = H5Dget_type(d);
  info.type_class = H5Tget_class(type);
  info.type_size = H5Tget_size(type);
  H5Tclose(type);
  const hid_t plist = H5Dget_create_plist(d);
  info.layout = H5Pget_layout(plist);
  if (info.layout == H5D_CHUNKED) {
    info.chunk.resize(info.dims.size());
    H5Pget_chunk(plist, static_cast<int>(info.chunk.size()), info.chunk.data());
  }
  for (int i = 0; i < H5Pget_nfilters(plist); ++i) {
    unsigned flags = 0;
    std::size_t n_values = 0;
    info.filters.insert(H5Pget_filter2(plist, static_cast<unsigned>(i), &flags, &n_values,
                                       nullptr, 0, nullptr, nullptr));
  }
  H5Pclose(plist);
  info.storage_bytes = H5Dget_storage_size(d);
  H5Dclose(d);
  return info;
}

template <class T>
std::vector<T> raw_read(const std::string& file, const std::string& dataset, hid_t mem_type) {
  const DatasetInfo info = inspect(file, dataset);
  std::size_t n = 1;
  for (auto d : info.dims) n *= d;
  std::vector<T> out(n);
  RawFile f(file);
  const hid_t d = H5Dopen2(f.id, dataset.c_str(), H5P_DEFAULT);
  REQUIRE(H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) >= 0);
  H5Dclose(d);
  return out;
}

// An attribute on the object at `object` ("/" for the root), with its type class.
struct RawAttr {
  H5T_class_t type_class;
  std::vector<hsize_t> dims;
  std::vector<double> numbers;
  std::string text;
};

RawAttr raw_attr(const std::string& file, const std::string& object, const std::string& name) {
  RawFile f(file);
  const hid_t a = H5Aopen_by_name(f.id, object.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(a >= 0);
  RawAttr out;
  const hid_t type = H5Aget_type(a);
  out.type_class = H5Tget_class(type);
  const hid_t space = H5Aget_space(a);
  out.dims.resize(static_cast<std::size_t>(H5Sget_simple_extent_ndims(space)));
  H5Sget_simple_extent_dims(space, out.dims.data(), nullptr);
  const auto n = static_cast<std::size_t>(H5Sget_simple_extent_npoints(space));
  if (out.type_class == H5T_STRING) {
    REQUIRE(H5Tis_variable_str(type) > 0);
    char* s = nullptr;
    REQUIRE(H5Aread(a, type, &s) >= 0);
    out.text = s;
    H5free_memory(s);
  } else {
    out.numbers.resize(n);
    REQUIRE(H5Aread(a, H5T_NATIVE_DOUBLE, out.numbers.data()) >= 0);
  }
  H5Sclose(space);
  H5Tclose(type);
  H5Aclose(a);
  return out;
}

NdArray<double> ramp(std::vector<std::size_t> shape, double scale = 1.0) {
  NdArray<double> a(std::move(shape));
  for (std::size_t i = 0; i < a.size(); ++i) a.data[i] = scale * static_cast<double>(i) + 0.25;
  return a;
}

}  // namespace

TEST_CASE("double and int64 arrays of rank 1 to 3 round-trip bit for bit") {
  TempDir dir;
  const std::string path = dir.file("arrays.h5");

  NdArray<double> d1({5}, {1.5, kNaN, -0.0, kInf, std::numeric_limits<double>::denorm_min()});
  NdArray<double> d2 = ramp({3, 4}, -1e-6);
  d2(1, 2) = kNaN;
  d2(2, 3) = -kInf;
  NdArray<double> d3 = ramp({2, 3, 4}, 1e9);
  d3(1, 0, 3) = kNaN;
  NdArray<std::int64_t> i1({4}, {0, -1, std::numeric_limits<std::int64_t>::min(),
                                 std::numeric_limits<std::int64_t>::max()});
  NdArray<std::int64_t> i2({2, 3}, {1, 2, 3, -4, -5, -6});
  NdArray<std::int64_t> i3({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  {
    h5::OutputFile out(path);
    out.root().write("d1", d1);
    out.root().write("d2", d2);
    out.root().write("d3", d3);
    out.root().write("i1", i1);
    out.root().write("i2", i2);
    h5::Group g = out.root().create_group("nested");
    g.write("i3", i3);
    out.commit();
  }
  const h5::Group root = h5::open_file(path);
  using DoubleCase = std::pair<const char*, const NdArray<double>*>;
  for (const auto& [name, want] : {DoubleCase{"d1", &d1}, DoubleCase{"d2", &d2}, DoubleCase{"d3", &d3}}) {
    CAPTURE(name);
    const auto got = root.read_double(name);
    CHECK(got.shape == want->shape);
    CHECK(root.dataset_shape(name) == want->shape);
    CHECK(same_bits(got.data, want->data));
    // Independently: the raw C API sees the same shape, type and values.
    const DatasetInfo info = inspect(path, name);
    CHECK(std::vector<std::size_t>(info.dims.begin(), info.dims.end()) == want->shape);
    CHECK(info.type_class == H5T_FLOAT);
    CHECK(info.type_size == 8);
    CHECK(same_bits(raw_read<double>(path, name, H5T_NATIVE_DOUBLE), want->data));
  }
  using IntCase = std::pair<const char*, const NdArray<std::int64_t>*>;
  for (const auto& [name, want] : {IntCase{"i1", &i1}, IntCase{"i2", &i2}}) {
    CAPTURE(name);
    const auto got = root.read_int(name);
    CHECK(got.shape == want->shape);
    CHECK(got.data == want->data);
    const DatasetInfo info = inspect(path, name);
    CHECK(info.type_class == H5T_INTEGER);
    CHECK(info.type_size == 8);
    CHECK(raw_read<std::int64_t>(path, name, H5T_NATIVE_INT64) == want->data);
  }
  const h5::Group nested = root.open_group("nested");
  CHECK(nested.read_int("i3").data == i3.data);
  CHECK(nested.read_int("i3").shape == i3.shape);
  CHECK(nested.dataset_shape("i3") == i3.shape);
  // Integers may be read as doubles (converted by HDF5), not the other way round.
  CHECK(root.read_double("i2").data == std::vector<double>{1, 2, 3, -4, -5, -6});
  CHECK_THROWS_AS(root.read_int("d2"), FileError);
  CHECK(contains(message_of([&] { root.read_int("d2"); }), "/d2"));
}

TEST_CASE("large arrays are chunked and compressed, small ones are not") {
  TempDir dir;
  const std::string path = dir.file("large.h5");
  // Smooth, compressible data with NaN holes, larger than one chunk.
  NdArray<double> big({400, 700});
  for (std::size_t i = 0; i < 400; ++i)
    for (std::size_t j = 0; j < 700; ++j) big(i, j) = 1e-6 * std::floor(0.01 * static_cast<double>(i * j));
  big(123, 456) = kNaN;
  big(399, 699) = kNaN;
  NdArray<double> wide = ramp({2, 3, 100000});  // rows far longer than one chunk
  NdArray<std::int64_t> counts({300000});
  for (std::size_t i = 0; i < counts.size(); ++i) counts.data[i] = static_cast<std::int64_t>(i % 17) - 8;
  const NdArray<double> small = ramp({10, 10});
  {
    h5::OutputFile out(path);
    out.root().write("big", big);
    out.root().write("wide", wide);
    out.root().write("counts", counts);
    out.root().write("small", small);
    out.root().write("plain", big, h5::DatasetOptions{"", "", 0});
    out.commit();
  }
  const h5::Group root = h5::open_file(path);
  CHECK(same_bits(root.read_double("big").data, big.data));
  CHECK(root.read_double("big").shape == big.shape);
  CHECK(same_bits(root.read_double("wide").data, wide.data));
  CHECK(root.read_double("wide").shape == wide.shape);
  CHECK(root.read_int("counts").data == counts.data);
  CHECK(same_bits(root.read_double("plain").data, big.data));

  for (const char* name : {"big", "wide", "counts"}) {
    CAPTURE(name);
    const DatasetInfo info = inspect(path, name);
    CHECK(info.layout == H5D_CHUNKED);
    CHECK(info.filters.count(H5Z_FILTER_DEFLATE) == 1);
    CHECK(info.filters.count(H5Z_FILTER_SHUFFLE) == 1);
    REQUIRE(info.chunk.size() == info.dims.size());
    std::size_t chunk_values = 1;
    for (std::size_t d = 0; d < info.dims.size(); ++d) {
      CHECK(info.chunk[d] >= 1);
      CHECK(info.chunk[d] <= info.dims[d]);
      chunk_values *= info.chunk[d];
    }
    // Chunks hold at most 256 KiB of values, as hdf5.cpp promises.
    CHECK(chunk_values * 8 <= 256 * 1024);
  }
  // Compression pays off on smooth data: at least a factor two at the default (fast) level 1
  // (uncompressed storage would be the full size).
  const DatasetInfo big_info = inspect(path, "big");
  CHECK(big_info.storage_bytes < big.size() * sizeof(double) / 2);
  // deflate_level = 0 and small arrays are stored contiguous and unfiltered.
  for (const char* name : {"plain", "small"}) {
    CAPTURE(name);
    const DatasetInfo info = inspect(path, name);
    CHECK(info.layout == H5D_CONTIGUOUS);
    CHECK(info.filters.empty());
  }
}

TEST_CASE("attributes: strings, integers, doubles and vectors on groups and datasets") {
  TempDir dir;
  const std::string path = dir.file("attrs.h5");
  const std::string utf8 = "Ge\xe2\x82\x82Sb\xe2\x82\x82Te\xe2\x82\x85, 25 \xc2\xb0" "C";
  {
    h5::OutputFile out(path);
    h5::Group& root = out.root();
    root.write_attr("text", std::string("first"));
    root.write_attr("text", "replaced");  // overwriting replaces
    root.write_attr("utf8", utf8);
    root.write_attr("empty", std::string());
    root.write_attr("count", std::int64_t{-42});
    root.write_attr("big", std::numeric_limits<std::int64_t>::max());
    root.write_attr("x", 6.02214076e23);
    root.write_attr("nan", kNaN);
    root.write_attr("vec", std::vector<double>{1.0, -2.5, 1e-300});
    h5::Group g = root.create_group("grp");
    g.write_attr("kind", "drift");
    g.write("G", ramp({2, 3}), h5::DatasetOptions{"S", "conductance [device, time]"});
    g.write("t", ramp({3}), h5::DatasetOptions{"s", ""});
    g.write("bare", ramp({3}));
    out.commit();
  }
  const h5::Group root = h5::open_file(path);
  CHECK(root.has_attr("text"));
  CHECK_FALSE(root.has_attr("absent"));
  CHECK(root.read_attr_string("text") == "replaced");
  CHECK(root.read_attr_string("utf8") == utf8);
  CHECK(root.read_attr_string("empty") == "");
  CHECK(root.read_attr_int("count") == -42);
  CHECK(root.read_attr_int("big") == std::numeric_limits<std::int64_t>::max());
  CHECK(root.read_attr_double("x") == 6.02214076e23);
  CHECK(std::isnan(root.read_attr_double("nan")));

  // Independently: types and values as the C API sees them.
  CHECK(raw_attr(path, "/", "text").type_class == H5T_STRING);
  CHECK(raw_attr(path, "/", "text").text == "replaced");
  CHECK(raw_attr(path, "/", "count").type_class == H5T_INTEGER);
  CHECK(raw_attr(path, "/", "count").dims.empty());  // scalar
  CHECK(raw_attr(path, "/", "x").type_class == H5T_FLOAT);
  const RawAttr vec = raw_attr(path, "/", "vec");
  CHECK(vec.dims == std::vector<hsize_t>{3});
  CHECK(vec.numbers == std::vector<double>{1.0, -2.5, 1e-300});
  CHECK(raw_attr(path, "/grp/G", "units").text == "S");
  CHECK(raw_attr(path, "/grp/G", "description").text == "conductance [device, time]");

  const h5::Group g = root.open_group("grp");
  CHECK(g.read_attr_string("kind") == "drift");
  CHECK(g.dataset_attr_string("G", "units") == "S");
  CHECK(g.dataset_attr_string("G", "description") == "conductance [device, time]");
  CHECK(g.dataset_attr_string("t", "units") == "s");
  CHECK_FALSE(g.dataset_attr_string("t", "description").has_value());
  CHECK_FALSE(g.dataset_attr_string("bare", "units").has_value());
  CHECK_THROWS_AS(g.dataset_attr_string("missing", "units"), FileError);

  // Wrong kinds and missing attributes name the object and the attribute.
  CHECK_THROWS_AS(root.read_attr_string("count"), FileError);
  CHECK(contains(message_of([&] { root.read_attr_string("count"); }), "'count'"));
  CHECK_THROWS_AS(root.read_attr_double("text"), FileError);
  CHECK_THROWS_AS(root.read_attr_int("vec"), FileError);  // not a scalar
  const std::string missing = message_of([&] { g.read_attr_string("absent"); });
  CHECK(contains(missing, path));
  CHECK(contains(missing, "/grp"));
  CHECK(contains(missing, "'absent'"));
}

TEST_CASE("groups: nesting, membership, listing and errors") {
  TempDir dir;
  const std::string path = dir.file("groups.h5");
  {
    h5::OutputFile out(path);
    h5::Group& root = out.root();
    for (const char* name : {"zeta", "alpha", "mid"}) root.create_group(name);
    root.write("data", ramp({2}));
    h5::Group a = root.open_group("alpha");
    h5::Group b = a.create_group("beta");
    b.write("x", ramp({3}));
    CHECK(b.path() == "/alpha/beta");
    CHECK(b.object_path("x") == "/alpha/beta/x");
    CHECK(b.file() == path);  // errors name the final file, not the temporary one
    out.commit();
  }
  const h5::Group root = h5::open_file(path);
  // The root tracks creation order.
  CHECK(root.children() == std::vector<std::string>{"zeta", "alpha", "mid", "data"});
  CHECK(root.has("alpha"));
  CHECK(root.has("data"));
  CHECK_FALSE(root.has("nothing"));
  CHECK_FALSE(root.has("alpha/beta"));  // direct members only
  CHECK_FALSE(root.has(""));
  const h5::Group beta = root.open_group("alpha").open_group("beta");
  CHECK(beta.children() == std::vector<std::string>{"x"});
  CHECK(beta.read_double("x").data == ramp({3}).data);

  const std::string missing_group = message_of([&] { root.open_group("nothing"); });
  CHECK(contains(missing_group, path));
  CHECK(contains(missing_group, "/nothing"));
  CHECK_THROWS_AS(root.open_group("data"), FileError);
  CHECK(contains(message_of([&] { root.open_group("data"); }), "not a group"));
  const std::string missing_data = message_of([&] { beta.read_double("y"); });
  CHECK(contains(missing_data, path));
  CHECK(contains(missing_data, "/alpha/beta/y"));
  CHECK(contains(missing_data, "missing dataset"));
  CHECK_THROWS_AS(beta.dataset_shape("y"), FileError);
}

TEST_CASE("OutputFile appears only on commit and leaves nothing behind otherwise") {
  TempDir dir;
  const std::string path = dir.file("out.h5");

  SUBCASE("committed: the final file only") {
    {
      h5::OutputFile out(path);
      out.root().write("x", ramp({4}));
      CHECK_FALSE(fs::exists(path));      // written under another name until commit()
      CHECK(dir.entries().size() == 1);   // ... the temporary file
      out.commit();
      CHECK(fs::exists(path));
    }
    CHECK(dir.entries() == std::vector<std::string>{"out.h5"});
    CHECK(h5::open_file(path).read_double("x").data == ramp({4}).data);
  }

  SUBCASE("destroyed without commit: neither the final nor the temporary file") {
    {
      h5::OutputFile out(path);
      out.root().write("x", ramp({4}));
      h5::Group g = out.root().create_group("g");
      g.write("y", ramp({2000}));
    }
    CHECK_FALSE(fs::exists(path));
    CHECK(dir.entries().empty());
  }

  SUBCASE("a group that outlives its OutputFile does not resurrect the file") {
    {
      std::optional<h5::Group> late;
      {
        h5::OutputFile out(path);
        late.emplace(out.root().create_group("g"));
        late->write("y", ramp({10}));
      }
      CHECK_FALSE(fs::exists(path));
    }
    CHECK(dir.entries().empty());
  }

  SUBCASE("a group still open at commit() does not spoil the committed file") {
    {
      std::optional<h5::Group> late;
      h5::OutputFile out(path);
      late.emplace(out.root().create_group("g"));
      late->write("y", ramp({10}));
      out.commit();
    }
    CHECK(dir.entries() == std::vector<std::string>{"out.h5"});
    CHECK(h5::open_file(path).open_group("g").read_double("y").data == ramp({10}).data);
  }

  SUBCASE("an exception on the way: nothing left") {
    try {
      h5::OutputFile out(path);
      out.root().write("x", ramp({4}));
      out.root().write("x", ramp({4}));  // duplicate name: the layer throws
      FAIL("no exception");
    } catch (const FileError& e) {
      CHECK(contains(e.what(), path));
      CHECK(contains(e.what(), "/x"));
    }
    CHECK(dir.entries().empty());
  }

  SUBCASE("an existing file survives a failed rewrite and is replaced by a committed one") {
    {
      h5::OutputFile out(path);
      out.root().write_attr("version", std::int64_t{1});
      out.commit();
    }
    {
      h5::OutputFile out(path);
      out.root().write_attr("version", std::int64_t{2});
    }
    CHECK(h5::open_file(path).read_attr_int("version") == 1);
    CHECK(dir.entries() == std::vector<std::string>{"out.h5"});
    {
      h5::OutputFile out(path);
      out.root().write_attr("version", std::int64_t{3});
      out.commit();
    }
    CHECK(h5::open_file(path).read_attr_int("version") == 3);
    CHECK(dir.entries() == std::vector<std::string>{"out.h5"});
  }

  SUBCASE("a missing output directory is reported") {
    const std::string nowhere = (dir.path / "no_such_dir" / "out.h5").string();
    CHECK_THROWS_AS(h5::OutputFile{nowhere}, FileError);
    CHECK(contains(message_of([&] { h5::OutputFile out(nowhere); }), "no_such_dir"));
    CHECK(dir.entries().empty());
  }
}

TEST_CASE("OutputFile in update mode adds to a copy and replaces the file only on commit") {
  TempDir dir;
  const std::string path = dir.file("r.h5");
  {
    h5::OutputFile out(path);
    out.root().create_group("trials").write_attr("n", std::int64_t{0});
    out.commit();
  }
  {
    h5::OutputFile up(path, h5::OutputMode::update);
    up.root().open_group("trials").create_group("000001").write("x", ramp({3}));
    // until commit, the file under the path is the previous version
    CHECK_FALSE(h5::open_file(path).open_group("trials").has("000001"));
  }  // destroyed without commit: nothing changes, no temporary file is left
  CHECK(dir.entries() == std::vector<std::string>{"r.h5"});
  CHECK(h5::open_file(path).open_group("trials").children().empty());
  for (const char* name : {"000002", "000005"}) {
    h5::OutputFile up(path, h5::OutputMode::update);
    up.root().open_group("trials").create_group(name).write("x", ramp({3}));
    up.commit();
  }
  {
    h5::OutputFile up(path, h5::OutputMode::update);
    up.root().open_group("trials").remove("000002");
    CHECK_THROWS_AS(up.root().open_group("trials").remove("000002"), FileError);
    up.commit();
  }
  const h5::Group trials = h5::open_file(path).open_group("trials");
  CHECK(trials.children() == std::vector<std::string>{"000005"});
  CHECK(trials.read_attr_int("n") == 0);

  // copy_from: a group with its datasets and attributes, from another file
  const std::string other = dir.file("o.h5");
  {
    h5::OutputFile out(other);
    h5::Group dst = out.root().create_group("t");
    dst.copy_from(trials, "000005");
    CHECK_THROWS_AS(dst.copy_from(trials, "000009"), FileError);
    out.commit();
  }
  CHECK(h5::open_file(other).open_group("t").open_group("000005").read_double("x").data ==
        ramp({3}).data);
  CHECK_THROWS_AS(h5::OutputFile(dir.file("missing.h5"), h5::OutputMode::update), FileError);
}

TEST_CASE("MemoryFile images carry groups between processes as bytes, and write no file") {
  TempDir dir;
  std::vector<unsigned char> image;
  {
    h5::MemoryFile file("trial 3");
    h5::Group g = file.root().create_group("trials").create_group("000003");
    g.write("x", ramp({4, 2}));
    g.write_attr("status", "completed");
    image = file.image();
  }
  // an HDF5 file's signature, and nothing written to disk under the file's in-memory name
  REQUIRE(image.size() > 8);
  CHECK(std::string(image.begin(), image.begin() + 8) == "\x89HDF\r\n\x1a\n");
  for (const auto& entry : fs::directory_iterator(fs::current_path()))
    CHECK(entry.path().filename().string().find("in memory") == std::string::npos);
  // two images open at once stay apart; each reads back bit for bit
  std::vector<unsigned char> other;
  {
    h5::MemoryFile file("trial 4");
    file.root().create_group("trials").create_group("000004").write_attr("status", "failed: x");
    other = file.image();
  }
  const h5::Group a = h5::open_image(image, "image a");
  const h5::Group b = h5::open_image(other, "image b");
  CHECK(a.open_group("trials").children() == std::vector<std::string>{"000003"});
  CHECK(b.open_group("trials").children() == std::vector<std::string>{"000004"});
  CHECK(a.open_group("trials").open_group("000003").read_double("x").data == ramp({4, 2}).data);
  CHECK(a.open_group("trials").open_group("000003").read_attr_string("status") == "completed");

  // and into a file on disk, as rank 0 commits a trial of another rank
  const std::string path = dir.file("r.h5");
  {
    h5::OutputFile out(path);
    out.root().create_group("trials").copy_from(a.open_group("trials"), "000003");
    out.commit();
  }
  CHECK(h5::open_file(path).open_group("trials").open_group("000003").read_double("x").data ==
        ramp({4, 2}).data);
  CHECK(dir.entries() == std::vector<std::string>{"r.h5"});

  // bytes that are not an HDF5 file: an error naming the label
  const std::vector<unsigned char> junk(100, 0x5a);
  CHECK(contains(message_of([&] { h5::open_image(junk, "bytes from rank 1"); }), "bytes from rank 1"));
  CHECK_THROWS_AS(h5::open_image({}, "empty"), FileError);
}

TEST_CASE("read_guarded: a file that changes while it is read is refused, naming it") {
  TempDir dir;
  const std::string path = dir.file("m.h5");
  {
    h5::OutputFile out(path);
    out.root().write_attr("format", "x");
    out.commit();
  }
  // unchanged: the reader's result
  CHECK(h5::read_guarded(path, [&] { return h5::open_file(path).read_attr_string("format"); }) == "x");
  // the file grows while it is read (here the reader appends to it, as another program
  // writing it at the same time would; the rehearsal in the child appends too)
  int calls = 0;
  const auto appending_read = [&] {
    ++calls;
    const std::string value = h5::open_file(path).read_attr_string("format");
    std::ofstream(path, std::ios::app) << "appended";
    return value;
  };
  const std::string message = message_of([&] { h5::read_guarded(path, appending_read); });
  CHECK(contains(message, path));
  CHECK(contains(message, "changed while memcarlo read it"));
  CHECK(calls == 1);  // the rehearsal's call counted in the child's memory, not here
}

TEST_CASE("remove_stale_temporaries removes a killed writer's file, not a live one's") {
  TempDir dir;
  const std::string path = dir.file("r.h5");
  // pid 2^22 + 1 is above Linux's pid_max limit (2^22): no process can have it
  const std::string dead = path + ".tmp-4194305";
  const std::string live = fmt::format("{}.tmp-{}", path, ::getpid());
  const std::string other = dir.file("rr.h5.tmp-4194305");
  for (const auto& p : {dead, live, other}) std::ofstream(p) << "x";
  CHECK(remove_stale_temporaries(path) == 1);
  CHECK_FALSE(fs::exists(dead));
  CHECK(fs::exists(live));
  CHECK(fs::exists(other));  // another file's temporary

  // every atomic writer clears a killed writer's leftovers of its path before it starts
  std::ofstream(dead) << "x";
  {
    h5::OutputFile out(path);
    out.root().write_attr("a", 1.0);
    out.commit();
  }
  CHECK_FALSE(fs::exists(dead));
  std::ofstream(dead) << "x";
  write_text_file(path, "text\n");
  CHECK_FALSE(fs::exists(dead));
}

TEST_CASE("open_file rejects missing files, non-HDF5 files and directories") {
  TempDir dir;
  const std::string missing = dir.file("missing.h5");
  CHECK_THROWS_AS(h5::open_file(missing), FileError);
  const std::string m1 = message_of([&] { h5::open_file(missing); });
  CHECK(contains(m1, missing));
  CHECK(contains(m1, "no such file"));

  const std::string text = dir.file("notes.h5");
  std::ofstream(text) << "time,G\n1,2e-6\n";
  CHECK_THROWS_AS(h5::open_file(text), FileError);
  const std::string m2 = message_of([&] { h5::open_file(text); });
  CHECK(contains(m2, text));
  CHECK(contains(m2, "not an HDF5 file"));

  const std::string empty = dir.file("empty.h5");
  { std::ofstream create(empty); }
  CHECK(contains(message_of([&] { h5::open_file(empty); }), "not an HDF5 file"));

  const std::string folder = dir.file("folder.h5");
  fs::create_directory(folder);
  CHECK_THROWS_AS(h5::open_file(folder), FileError);
  const std::string m3 = message_of([&] { h5::open_file(folder); });
  CHECK(contains(m3, folder));
  CHECK(contains(m3, "directory"));
}
