// A thin RAII layer over the HDF5 C API: every handle closes itself, every failure becomes a
// FileError naming the file and the object, and output files appear only when complete
// (OutputFile writes under a temporary name and renames on commit()).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/ndarray.hpp"

namespace memcarlo::h5 {

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  void reset();

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

struct DatasetOptions {
  std::string units;        // written as the "units" attribute ("" = none)
  std::string description;  // written as the "description" attribute ("" = none)
  int deflate_level = 1;    // 0 = no compression; applied with the shuffle filter
};

// A group (or the root group of a file), with the file name kept for error messages.
class Group {
 public:
  Group(Handle handle, std::string file, std::string path)
      : handle_(std::move(handle)), file_(std::move(file)), path_(std::move(path)) {}

  const std::string& file() const { return file_; }
  const std::string& path() const { return path_; }
  hid_t id() const { return handle_.get(); }

  Group create_group(const std::string& name);
  Group open_group(const std::string& name) const;
  bool has(const std::string& name) const;
  // Unlinks a member (its space stays in the file until it is copied).
  void remove(const std::string& name);
  // Copies member `name` of `source` (a group or dataset, with everything under it and its
  // attributes; possibly of another file) into this group under the same name.
  void copy_from(const Group& source, const std::string& name);
  std::vector<std::string> children() const;  // names of direct members, in creation order

  bool has_attr(const std::string& name) const;
  void write_attr(const std::string& name, const std::string& value);
  void write_attr(const std::string& name, const char* value) { write_attr(name, std::string(value)); }
  void write_attr(const std::string& name, double value);
  void write_attr(const std::string& name, std::int64_t value);
  void write_attr(const std::string& name, const std::vector<double>& value);
  std::string read_attr_string(const std::string& name) const;
  double read_attr_double(const std::string& name) const;
  std::int64_t read_attr_int(const std::string& name) const;

  void write(const std::string& name, const NdArray<double>& array, const DatasetOptions& = {});
  void write(const std::string& name, const NdArray<std::int64_t>& array,
             const DatasetOptions& = {});
  // Narrow types for bulk data (training images as uint8, tensors as float32).
  void write(const std::string& name, const NdArray<std::uint8_t>& array,
             const DatasetOptions& = {});
  void write(const std::string& name, const NdArray<float>& array, const DatasetOptions& = {});
  NdArray<double> read_double(const std::string& name) const;
  NdArray<std::int64_t> read_int(const std::string& name) const;
  // Only from a dataset stored as 8-bit unsigned integers: wider integers would be clamped
  // silently by HDF5's conversion.
  NdArray<std::uint8_t> read_uint8(const std::string& name) const;
  NdArray<float> read_float(const std::string& name) const;
  std::vector<std::size_t> dataset_shape(const std::string& name) const;
  // Attribute of a dataset (e.g. its "units"); nullopt when absent.
  std::optional<std::string> dataset_attr_string(const std::string& dataset,
                                                 const std::string& name) const;

  // Path of a member inside the file ("/group/name"), for error messages.
  std::string object_path(const std::string& name = "") const;

 private:
  Handle handle_;
  std::string file_;
  std::string path_;
};

// Opens an existing file read-only. Errors distinguish a missing file from one that is not HDF5.
// A damaged file whose structure or attributes crash or hang HDF5 1.10 is refused (FileError
// "damaged HDF5 file"): a forked child reads them first (hdf5.cpp, "Damaged files").
Group open_file(const std::string& path);

// Runs `read` (a whole reader of the file at `path`) first in a forked child and throws
// FileError naming the file as damaged if HDF5 crashes or hangs there (MEMCARLO_HDF5_TIMEOUT
// seconds, default 10); errors `read` throws are left for the caller's own read to meet.
void check_in_child(const std::string& path, const std::function<void()>& read);

// While one lives on a thread, open_file skips its own check (the whole read was checked).
class CheckedRead {
 public:
  CheckedRead();
  ~CheckedRead();
  CheckedRead(const CheckedRead&) = delete;
  CheckedRead& operator=(const CheckedRead&) = delete;
};

// Identity and state of a file (device, inode, size, modification time), to tell whether it
// changed while it was read.
struct FileStamp {
  std::uint64_t device = 0, inode = 0, size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};
FileStamp file_stamp(const std::string& path);  // all zero if it cannot be stat'ed
// FileError when the file at `path` is no longer as `before` says: another program wrote or
// replaced it while memcarlo read it.
void check_unchanged(const std::string& path, const FileStamp& before);

// The result of `read()`, a reader of the outside file at `path`, after a rehearsal of it in a
// forked child (check_in_child): memcarlo reports a damaged file instead of crashing on it, and
// a file that changed while it was read instead of using a mix of two versions.
// HDF5 1.10 as Debian builds it is not thread-safe: HDF5 work on several threads at once (a
// campaign's trials reading device tables while another commits its results) holds this.
// read_guarded holds it around its fork too, so that the child never starts from a copy of
// HDF5 caught in the middle of another thread's call.
std::recursive_mutex& library_mutex();

// Holds library_mutex() for a read_guarded, except in its forked child: the child's copy of the
// mutex is held by the parent's thread, which the child does not have.
class GuardedReadLock {
 public:
  GuardedReadLock();
  ~GuardedReadLock();
  GuardedReadLock(const GuardedReadLock&) = delete;
  GuardedReadLock& operator=(const GuardedReadLock&) = delete;

 private:
  bool locked_ = false;
};

template <class F>
auto read_guarded(const std::string& path, F&& read) {
  const GuardedReadLock lock;
  const FileStamp before = file_stamp(path);
  check_in_child(path, [&] { read(); });
  const CheckedRead checked;  // the child's read completed: open_file need not check again
  auto result = read();
  check_unchanged(path, before);
  return result;
}

// Checks that `path` can be written before any work is done: not empty, not an existing
// directory or device, in an existing writable directory. Throws InputError or FileError.
void check_output_path(const std::string& path);

// Installs SIGINT/SIGTERM/SIGHUP handlers that delete the temporary file of the OutputFile
// being written and then die of the signal as usual. Call once from main().
void remove_partial_output_on_signal();

// How an OutputFile starts: a new, empty file, or a copy of the existing file at the path (to
// add to it: a campaign commits each finished trial this way, so the file under the path is
// always the last complete version, whenever the process is killed).
enum class OutputMode { create, update };

// A file written under "<path>.tmp-<pid>" and renamed to path by commit(). If it is
// destroyed without commit() (an exception on the way), the temporary file is removed, so
// no half-written output is ever left under the requested name.
class OutputFile {
 public:
  explicit OutputFile(std::string path, OutputMode mode = OutputMode::create);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  Group& root() { return *root_; }
  void commit();

 private:
  std::string path_, temp_path_;
  std::optional<Group> root_;
  bool committed_ = false;
};

// A file held in memory only (HDF5's core driver, no backing store), to ship groups between
// processes as bytes: write into root(), take image(), and read the bytes back elsewhere with
// open_image(). `label` names the file in error messages.
class MemoryFile {
 public:
  explicit MemoryFile(const std::string& label);
  Group& root() { return *root_; }
  // The bytes of the complete file (flushed first).
  std::vector<unsigned char> image();

 private:
  std::optional<Group> root_;
};

// Opens the bytes of an HDF5 file read-only (a copy is taken). FileError naming `label` when
// they are not an HDF5 file.
Group open_image(const std::vector<unsigned char>& bytes, const std::string& label);

}  // namespace memcarlo::h5
