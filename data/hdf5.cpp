#include "data/hdf5.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"
#include "core/files.hpp"

// Set by the sanitizer runtimes (and libFuzzer) when linked in; null otherwise.
extern "C" void __sanitizer_set_death_callback(void (*callback)()) __attribute__((weak));

namespace memcarlo::h5 {

namespace {

// HDF5 prints its own error stack to stderr unless told not to; memcarlo reports errors itself.
// Nor may it retry closing a file at exit after a failed close (a full disk): every handle is
// closed by RAII, so its atexit clean-up has nothing to do but can crash.
// HDF5's automatic error printing is a setting of each thread (in Debian's thread-safe
// build), so every thread that opens or creates a file turns it off for itself.
void silence_hdf5() {
  static const bool once = [] {
    H5dont_atexit();
    return true;
  }();
  thread_local const bool silenced = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
  (void)silenced;
}

// The temporary file being written, for the signal handler (one output file at a time).
char g_active_temp[4096];
volatile std::sig_atomic_t g_has_active_temp = 0;

void remove_temp_and_reraise(int signal) {
  if (g_has_active_temp) ::unlink(g_active_temp);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

// The innermost description on HDF5's error stack, for the tail of our messages.
std::string hdf5_reason() {
  std::string reason;
  H5Ewalk2(
      H5E_DEFAULT, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* err, void* data) -> herr_t {
        if (n == 0 && err->desc) *static_cast<std::string*>(data) = err->desc;
        return 0;
      },
      &reason);
  H5Eclear2(H5E_DEFAULT);
  // A failed write or read describes itself as "file write failed: time = ...\n, filename =
  // ..., errno = 28, error message = 'No space left on device', ...": keep the system's words.
  for (const char* io : {"file write failed", "file read failed"}) {
    const std::string marker = "error message = '";
    const auto at = reason.find(marker);
    if (reason.rfind(io, 0) == 0 && at != std::string::npos) {
      const auto end = reason.find('\'', at + marker.size());
      return fmt::format("{}: {}", io, reason.substr(at + marker.size(), end - at - marker.size()));
    }
  }
  // Keep one line: some descriptions (write failures) embed newlines and buffer dumps.
  if (const auto nl = reason.find('\n'); nl != std::string::npos) reason.resize(nl);
  while (!reason.empty() && (reason.back() == ' ' || reason.back() == ',')) reason.pop_back();
  return reason.empty() ? "HDF5 error" : reason;
}

// Largest dataset read into memory: 2^30 values (8 GiB of doubles).
constexpr std::size_t kMaxReadValues = std::size_t{1} << 30;

[[noreturn]] void fail(const Group& g, const std::string& name, const std::string& what) {
  throw FileError(g.file(), g.object_path(name),
                  fmt::format("{} ({})", what, hdf5_reason()));
}

hid_t check(hid_t id, const Group& g, const std::string& name, const char* what) {
  if (id < 0) fail(g, name, what);
  return id;
}

void check(herr_t status, const Group& g, const std::string& name, const char* what) {
  if (status < 0) fail(g, name, what);
}

template <class T>
hid_t native_type() {
  if constexpr (std::is_same_v<T, double>) return H5T_NATIVE_DOUBLE;
  else if constexpr (std::is_same_v<T, float>) return H5T_NATIVE_FLOAT;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return H5T_NATIVE_UINT8;
  else return H5T_NATIVE_INT64;
}

template <class T>
void write_array(Group& g, const std::string& name, const NdArray<T>& array,
                 const DatasetOptions& options) {
  std::vector<hsize_t> dims(array.shape.begin(), array.shape.end());
  Handle space(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), g,
                     name, "cannot create dataspace"),
               H5Sclose);
  Handle plist(check(H5Pcreate(H5P_DATASET_CREATE), g, name, "cannot create property list"),
               H5Pclose);
  // Compress anything beyond a few kilobytes, in chunks of whole trailing rows of <= ~256 KiB.
  if (options.deflate_level > 0 && array.size() >= 1024 && !dims.empty()) {
    // Halve the largest dimension until a chunk holds at most ~256 KiB.
    std::vector<hsize_t> chunk = dims;
    const hsize_t target = (256 * 1024) / sizeof(T);
    auto elements = [&] {
      hsize_t n = 1;
      for (hsize_t c : chunk) n *= c;
      return n;
    };
    while (elements() > target) {
      auto largest = std::max_element(chunk.begin(), chunk.end());
      *largest = (*largest + 1) / 2;
    }
    check(H5Pset_chunk(plist.get(), static_cast<int>(chunk.size()), chunk.data()), g, name,
          "cannot set chunking");
    check(H5Pset_shuffle(plist.get()), g, name, "cannot set shuffle filter");
    check(H5Pset_deflate(plist.get(), static_cast<unsigned>(options.deflate_level)), g, name,
          "cannot set deflate filter");
  }
  Handle dset(check(H5Dcreate2(g.id(), name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                               plist.get(), H5P_DEFAULT),
                    g, name, "cannot create dataset"),
              H5Dclose);
  if (array.size() > 0)
    check(H5Dwrite(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT,
                   array.data.data()),
          g, name, "cannot write dataset");
  Group dataset_view(std::move(dset), g.file(), g.object_path(name));
  if (!options.units.empty()) dataset_view.write_attr("units", options.units);
  if (!options.description.empty()) dataset_view.write_attr("description", options.description);
}

template <class T>
NdArray<T> read_array(const Group& g, const std::string& name) {
  if (!g.has(name)) throw FileError(g.file(), g.object_path(name), "missing dataset");
  Handle dset(check(H5Dopen2(g.id(), name.c_str(), H5P_DEFAULT), g, name, "cannot open dataset"),
              H5Dclose);
  Handle type(check(H5Dget_type(dset.get()), g, name, "cannot read type"), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  const bool want_float = std::is_floating_point_v<T>;
  if (want_float && cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw FileError(g.file(), g.object_path(name), "dataset is not numeric");
  if (!want_float && cls != H5T_INTEGER)
    throw FileError(g.file(), g.object_path(name), "dataset is not integer");
  if constexpr (std::is_same_v<T, std::uint8_t>) {
    if (H5Tget_size(type.get()) != 1 || H5Tget_sign(type.get()) != H5T_SGN_NONE)
      throw FileError(g.file(), g.object_path(name), "dataset is not 8-bit unsigned integer");
  }
  Handle space(check(H5Dget_space(dset.get()), g, name, "cannot read dataspace"), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  check(static_cast<hid_t>(rank), g, name, "cannot read rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  std::vector<std::size_t> shape(dims.begin(), dims.end());
  std::size_t n = 1;
  for (std::size_t d : shape)
    if (__builtin_mul_overflow(n, d, &n) || n > kMaxReadValues)
      throw FileError(g.file(), g.object_path(name),
                      fmt::format("dataset is too large to read (more than {} values)", kMaxReadValues));
  // A damaged header can claim far more values than the file holds (HDF5 would then allocate
  // and fill them, for minutes): deflate packs at most ~1032:1, so a claim beyond 2000 times
  // the stored bytes is refused (a file whose chunks were never written is refused too).
  const std::size_t claimed = n * H5Tget_size(type.get());
  const hsize_t stored = H5Dget_storage_size(dset.get());
  if (claimed > (std::size_t{1} << 20) && claimed / 2000 > stored)
    throw FileError(g.file(), g.object_path(name),
                    fmt::format("damaged dataset: its shape {} claims {} bytes but the file stores {} "
                                "bytes of it", fmt::join(shape, " x "), claimed, stored));
  NdArray<T> out(std::move(shape));
  if (out.size() > 0)
    check(H5Dread(dset.get(), native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data()),
          g, name, "cannot read dataset");
  return out;
}

Handle open_attr(const Group& g, const std::string& name) {
  if (!g.has_attr(name))
    throw FileError(g.file(), g.object_path(),
                    fmt::format("missing attribute '{}'", name));
  return Handle(check(H5Aopen(g.id(), name.c_str(), H5P_DEFAULT), g, "", "cannot open attribute"),
                H5Aclose);
}

void replace_attr(Group& g, const std::string& name) {
  if (H5Aexists(g.id(), name.c_str()) > 0) H5Adelete(g.id(), name.c_str());
}

template <class T>
void write_numeric_attr(Group& g, const std::string& name, const T* values, hsize_t n, bool scalar) {
  replace_attr(g, name);
  Handle space(scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr), H5Sclose);
  Handle attr(check(H5Acreate2(g.id(), name.c_str(), native_type<T>(), space.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    g, "", "cannot create attribute"),
              H5Aclose);
  check(H5Awrite(attr.get(), native_type<T>(), values), g, "", "cannot write attribute");
}

template <class T>
T read_numeric_attr(const Group& g, const std::string& name) {
  Handle attr = open_attr(g, name);
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw FileError(g.file(), g.object_path(),
                    fmt::format("attribute '{}' is not a scalar", name));
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER)
    throw FileError(g.file(), g.object_path(),
                    fmt::format("attribute '{}' is not a number", name));
  if (std::is_integral_v<T> && cls != H5T_INTEGER)
    throw FileError(g.file(), g.object_path(),
                    fmt::format("attribute '{}' must be an integer", name));
  T value{};
  check(H5Aread(attr.get(), native_type<T>(), &value), g, "", "cannot read attribute");
  return value;
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = -1;
}

std::string Group::object_path(const std::string& name) const {
  if (name.empty()) return path_;
  return path_ == "/" ? "/" + name : path_ + "/" + name;
}

Group Group::create_group(const std::string& name) {
  hid_t gid = check(H5Gcreate2(id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), *this,
                   name, "cannot create group");
  return Group(Handle(gid, H5Gclose), file_, object_path(name));
}

Group Group::open_group(const std::string& name) const {
  if (!has(name)) throw FileError(file_, object_path(name), "missing group");
  H5O_info_t info;
  check(H5Oget_info_by_name2(id(), name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT), *this, name,
        "cannot inspect object");
  if (info.type != H5O_TYPE_GROUP) throw FileError(file_, object_path(name), "is not a group");
  hid_t gid = check(H5Gopen2(id(), name.c_str(), H5P_DEFAULT), *this, name, "cannot open group");
  return Group(Handle(gid, H5Gclose), file_, object_path(name));
}

bool Group::has(const std::string& name) const {
  if (name.empty() || name.find('/') != std::string::npos) return false;
  const htri_t exists = H5Lexists(id(), name.c_str(), H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

void Group::remove(const std::string& name) {
  if (!has(name)) throw FileError(file_, object_path(name), "missing member");
  check(H5Ldelete(id(), name.c_str(), H5P_DEFAULT), *this, name, "cannot remove");
}

void Group::copy_from(const Group& source, const std::string& name) {
  if (!source.has(name)) throw FileError(source.file(), source.object_path(name), "missing member");
  if (H5Ocopy(source.id(), name.c_str(), id(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT) < 0)
    throw FileError(file_, object_path(name),
                    fmt::format("cannot copy from {} ({})", source.file(), hdf5_reason()));
}

std::vector<std::string> Group::children() const {
  silence_hdf5();  // the first try below fails on groups without a creation-order index
  std::vector<std::string> names;
  // Creation order is tracked only when the file was made with it; fall back to names.
  auto collect = [](hid_t, const char* name, const H5L_info_t*, void* data) -> herr_t {
    static_cast<std::vector<std::string>*>(data)->emplace_back(name);
    return 0;
  };
  hsize_t index = 0;
  if (H5Literate(id(), H5_INDEX_CRT_ORDER, H5_ITER_INC, &index, collect, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    index = 0;
    check(H5Literate(id(), H5_INDEX_NAME, H5_ITER_INC, &index, collect, &names), *this, "",
          "cannot list members");
  }
  return names;
}

bool Group::has_attr(const std::string& name) const {
  const htri_t exists = H5Aexists(id(), name.c_str());
  H5Eclear2(H5E_DEFAULT);
  return exists > 0;
}

void Group::write_attr(const std::string& name, const std::string& value) {
  replace_attr(*this, name);
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), H5T_VARIABLE);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  Handle attr(check(H5Acreate2(id(), name.c_str(), type.get(), space.get(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    *this, "", "cannot create attribute"),
              H5Aclose);
  const char* data = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &data), *this, "", "cannot write attribute");
}

void Group::write_attr(const std::string& name, double value) {
  write_numeric_attr(*this, name, &value, 1, true);
}

void Group::write_attr(const std::string& name, std::int64_t value) {
  write_numeric_attr(*this, name, &value, 1, true);
}

void Group::write_attr(const std::string& name, const std::vector<double>& value) {
  write_numeric_attr(*this, name, value.data(), value.size(), false);
}

std::string Group::read_attr_string(const std::string& name) const {
  Handle attr = open_attr(*this, name);
  Handle type(H5Aget_type(attr.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING)
    throw FileError(file_, object_path(), fmt::format("attribute '{}' is not a string", name));
  Handle space(H5Aget_space(attr.get()), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw FileError(file_, object_path(), fmt::format("attribute '{}' is not a scalar", name));
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* data = nullptr;
    check(H5Aread(attr.get(), mem.get(), &data), *this, "", "cannot read attribute");
    std::string out = data ? data : "";
    H5free_memory(data);
    return out;
  }
  const std::size_t size = H5Tget_size(type.get());
  std::string out(size, '\0');
  check(H5Aread(attr.get(), type.get(), out.data()), *this, "", "cannot read attribute");
  if (const auto end = out.find('\0'); end != std::string::npos) out.resize(end);
  if (H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD)
    while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

double Group::read_attr_double(const std::string& name) const {
  return read_numeric_attr<double>(*this, name);
}

std::int64_t Group::read_attr_int(const std::string& name) const {
  return read_numeric_attr<std::int64_t>(*this, name);
}

void Group::write(const std::string& name, const NdArray<double>& array,
                  const DatasetOptions& options) {
  write_array(*this, name, array, options);
}

void Group::write(const std::string& name, const NdArray<std::int64_t>& array,
                  const DatasetOptions& options) {
  write_array(*this, name, array, options);
}

void Group::write(const std::string& name, const NdArray<std::uint8_t>& array,
                  const DatasetOptions& options) {
  write_array(*this, name, array, options);
}

void Group::write(const std::string& name, const NdArray<float>& array,
                  const DatasetOptions& options) {
  write_array(*this, name, array, options);
}

NdArray<double> Group::read_double(const std::string& name) const {
  return read_array<double>(*this, name);
}

NdArray<std::int64_t> Group::read_int(const std::string& name) const {
  return read_array<std::int64_t>(*this, name);
}

NdArray<std::uint8_t> Group::read_uint8(const std::string& name) const {
  return read_array<std::uint8_t>(*this, name);
}

NdArray<float> Group::read_float(const std::string& name) const {
  return read_array<float>(*this, name);
}

std::vector<std::size_t> Group::dataset_shape(const std::string& name) const {
  if (!has(name)) throw FileError(file_, object_path(name), "missing dataset");
  Handle dset(check(H5Dopen2(id(), name.c_str(), H5P_DEFAULT), *this, name, "cannot open dataset"),
              H5Dclose);
  Handle space(H5Dget_space(dset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return {dims.begin(), dims.end()};
}

std::optional<std::string> Group::dataset_attr_string(const std::string& dataset,
                                                      const std::string& name) const {
  if (!has(dataset)) throw FileError(file_, object_path(dataset), "missing dataset");
  Handle dset(check(H5Dopen2(id(), dataset.c_str(), H5P_DEFAULT), *this, dataset,
                    "cannot open dataset"),
              H5Dclose);
  Group view(std::move(dset), file_, object_path(dataset));
  if (!view.has_attr(name)) return std::nullopt;
  return view.read_attr_string(name);
}

namespace {

// --- Damaged files --------------------------------------------------------------------------
// HDF5 1.10 trusts what it reads: a few flipped bits in a file's global heap (where every
// variable-length string attribute lives) or in an object header make H5Aread crash or loop
// forever, and some damage corrupts HDF5's own heap so that it crashes later, when the file is
// closed (h5dump does the same on such files). memcarlo cannot fix HDF5, so it reads outside
// files first in a forked child (a copy of this process): a child that dies or does not finish
// in time marks the file as damaged, and the error says so instead of the process crashing or
// hanging. The child starts from the same state as the parent, so a read that completes there
// completes here. Two forms: open_file() lets a child walk the file's structure and read its
// attributes and variable-length data (cheap, for any file); read_guarded() lets it run a whole
// reader (for measured data, results files and checkpoints, whose readers read everything).

thread_local int t_guarded = 0;  // > 0: inside read_guarded (the whole read is checked)
bool t_in_child = false;        // this process is a forked child of run_in_child

constexpr int kChildOk = 0, kChildError = 3;

double child_timeout_s() {
  const char* text = std::getenv("MEMCARLO_HDF5_TIMEOUT");
  if (text == nullptr || *text == '\0') return 10.0;
  char* end = nullptr;
  const double t = std::strtod(text, &end);
  if (end == text || *end != '\0' || !(t > 0))
    throw InputError(fmt::format("MEMCARLO_HDF5_TIMEOUT = '{}' must be a positive number of seconds", text));
  return t;
}

// Runs body() in a forked child. body returns normally or throws (exit kChildOk / kChildError:
// the parent then reads and meets the same error itself); a crash or a timeout throws
// FileError naming the file as damaged.
void run_in_child(const std::string& path, const std::function<void()>& body) {
  const double timeout = child_timeout_s();
  std::fflush(nullptr);
  const pid_t child = ::fork();
  if (child < 0) return;  // no check possible: read as before
  if (child == 0) {
    // Die of the signal itself: no handler of a sanitizer or fuzzer reports the child's crash
    // as the process's own (libFuzzer would save the input as a crash of memcarlo).
    for (const int s : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) std::signal(s, SIG_DFL);
    if (__sanitizer_set_death_callback != nullptr) __sanitizer_set_death_callback(nullptr);
    // No output: a sanitizer's report of HDF5's crash would read as memcarlo's own.
    const int null = ::open("/dev/null", O_WRONLY);
    if (null >= 0) {
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
    }
    ++t_guarded;
    t_in_child = true;
    int code = kChildOk;
    try {
      body();
    } catch (...) {
      code = kChildError;
    }
    ::_exit(code);
  }
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (auto pause = std::chrono::microseconds(100);;
       pause = std::min(pause * 2, std::chrono::microseconds(20000))) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    if (done < 0 && errno != EINTR) return;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      throw FileError(path, fmt::format("damaged HDF5 file: HDF5 did not finish reading it within "
                                        "{} s (MEMCARLO_HDF5_TIMEOUT sets the limit)", timeout));
    }
    std::this_thread::sleep_for(pause);
  }
  if (WIFSIGNALED(status))
    throw FileError(path, fmt::format("damaged HDF5 file: reading it crashes HDF5 (signal {}; "
                                      "h5dump fails on such files too)", WTERMSIG(status)));
  if (WIFEXITED(status) && WEXITSTATUS(status) != kChildOk && WEXITSTATUS(status) != kChildError)
    throw FileError(path, fmt::format("damaged HDF5 file: reading it crashes HDF5 (exit status {})",
                                      WEXITSTATUS(status)));
}

// The structure walk of open_file's check: every object, every link listing (by creation order
// and by name, as Group::children), every attribute and every variable-length dataset read in
// its own type, then the file closed.
void probe_read(hid_t object, hid_t file_type, hid_t space, bool attribute) {
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  const hid_t memory_type = H5Tget_native_type(file_type, H5T_DIR_ASCEND);
  if (n < 0 || memory_type < 0) return;
  const std::size_t size = H5Tget_size(memory_type);
  // Sizes come from the file: a damaged one may claim anything; the real reader checks them.
  if (size == 0 || static_cast<std::size_t>(n) > (std::size_t{1} << 28) / size) return;
  std::vector<unsigned char> buffer(static_cast<std::size_t>(n) * size);
  const herr_t read = attribute ? H5Aread(object, memory_type, buffer.data())
                                : H5Dread(object, memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                                          buffer.data());
  if (read >= 0 && (H5Tdetect_class(memory_type, H5T_VLEN) > 0 || H5Tis_variable_str(memory_type) > 0))
    H5Dvlen_reclaim(memory_type, space, H5P_DEFAULT, buffer.data());
}

herr_t probe_attribute(hid_t location, const char* name, const H5A_info_t*, void*) {
  const hid_t a = H5Aopen(location, name, H5P_DEFAULT);
  if (a < 0) return 0;
  const hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  if (type >= 0 && space >= 0) probe_read(a, type, space, true);
  return 0;  // go on whatever happened: only crashes and hangs matter here
}

herr_t probe_link(hid_t, const char*, const H5L_info_t*, void*) { return 0; }

herr_t probe_object(hid_t root, const char* name, const H5O_info_t* info, void*) {
  const hid_t object = H5Oopen(root, name, H5P_DEFAULT);
  if (object < 0) return 0;
  H5Aiterate2(object, H5_INDEX_NAME, H5_ITER_NATIVE, nullptr, probe_attribute, nullptr);
  if (info->type == H5O_TYPE_GROUP) {
    for (const H5_index_t index : {H5_INDEX_CRT_ORDER, H5_INDEX_NAME}) {
      hsize_t at = 0;
      H5Literate(object, index, H5_ITER_INC, &at, probe_link, nullptr);
    }
  }
  if (info->type == H5O_TYPE_DATASET) {
    const hid_t type = H5Dget_type(object), space = H5Dget_space(object);
    if (type >= 0 && space >= 0 && (H5Tdetect_class(type, H5T_VLEN) > 0 || H5Tis_variable_str(type) > 0))
      probe_read(object, type, space, false);
  }
  return 0;
}

void probe_structure(const std::string& path) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (file < 0) return;
  H5Ovisit2(file, H5_INDEX_NAME, H5_ITER_NATIVE, probe_object, nullptr, H5O_INFO_BASIC);
  H5Fclose(file);  // flushes HDF5's metadata cache: some damage crashes only here
}

}  // namespace

std::recursive_mutex& library_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

GuardedReadLock::GuardedReadLock() : locked_(!t_in_child) {
  if (locked_) library_mutex().lock();
}

GuardedReadLock::~GuardedReadLock() {
  if (locked_) library_mutex().unlock();
}

FileStamp file_stamp(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::uint64_t>(st.st_size),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

void check_unchanged(const std::string& path, const FileStamp& before) {
  if (file_stamp(path) != before)
    throw FileError(path, "changed while memcarlo read it (another program wrote or replaced "
                          "it): run again once it is complete");
}

CheckedRead::CheckedRead() { ++t_guarded; }
CheckedRead::~CheckedRead() { --t_guarded; }

void check_in_child(const std::string& path, const std::function<void()>& read) {
  if (t_guarded > 0) return;  // already inside a checked read
  run_in_child(path, read);
}

Group open_file(const std::string& path) {
  silence_hdf5();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw FileError(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) throw FileError(path, "is a directory, not a file");
  if (::access(path.c_str(), R_OK) != 0) throw FileError(path, "cannot read (permission denied)");
  const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
  if (is_hdf5 < 0) throw FileError(path, fmt::format("cannot open ({})", hdf5_reason()));
  if (is_hdf5 == 0) throw FileError(path, "not an HDF5 file");
  if (t_guarded == 0) run_in_child(path, [&] { probe_structure(path); });
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw FileError(path, fmt::format("cannot open ({})", hdf5_reason()));
  note_input_file(path);
  return Group(Handle(id, H5Fclose), path, "/");
}

void check_output_path(const std::string& path) {
  if (path.empty()) throw InputError("output file name is empty");
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::exists(status) && !std::filesystem::is_regular_file(status))
    throw FileError(path, "exists and is not a regular file: refusing to replace it");
  const auto parent = std::filesystem::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (!std::filesystem::is_directory(dir, ec))
    throw FileError(path, fmt::format("output directory '{}' does not exist", dir));
  if (::access(dir.c_str(), W_OK) != 0)
    throw FileError(path, fmt::format("output directory '{}' is not writable", dir));
}

void remove_partial_output_on_signal() {
  for (int s : {SIGINT, SIGTERM, SIGHUP}) std::signal(s, remove_temp_and_reraise);
}

OutputFile::OutputFile(std::string path, OutputMode mode)
    : path_(std::move(path)), temp_path_(fmt::format("{}.tmp-{}", path_, ::getpid())) {
  silence_hdf5();
  check_output_path(path_);
  if (mode == OutputMode::create) check_not_an_input(path_);  // update: rewriting it is the point
  remove_stale_temporaries(path_);  // of writers killed before they could clean up
  if (temp_path_.size() < sizeof g_active_temp) {
    std::memcpy(g_active_temp, temp_path_.c_str(), temp_path_.size() + 1);
    g_has_active_temp = 1;
  }
  hid_t id = -1;
  if (mode == OutputMode::update) {
    std::error_code ec;
    std::filesystem::copy_file(path_, temp_path_, std::filesystem::copy_options::overwrite_existing,
                               ec);
    if (ec) {
      std::remove(temp_path_.c_str());
      g_has_active_temp = 0;
      throw FileError(path_, fmt::format("cannot copy to update it: {}", ec.message()));
    }
    id = H5Fopen(temp_path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    if (id < 0) {
      std::remove(temp_path_.c_str());
      g_has_active_temp = 0;
      throw FileError(path_, fmt::format("cannot open to update it ({})", hdf5_reason()));
    }
  } else {
    Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
    H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    id = H5Fcreate(temp_path_.c_str(), H5F_ACC_TRUNC, fcpl.get(), H5P_DEFAULT);
    if (id < 0) throw FileError(path_, fmt::format("cannot create ({})", hdf5_reason()));
  }
  root_.emplace(Handle(id, H5Fclose), path_, "/");
}

OutputFile::~OutputFile() {
  if (!committed_) {
    root_.reset();
    std::remove(temp_path_.c_str());
  }
  g_has_active_temp = 0;
}

void OutputFile::commit() {
  MC_ASSERT(!committed_);
  if (H5Fflush(root_->id(), H5F_SCOPE_GLOBAL) < 0)
    throw FileError(path_, fmt::format("cannot flush ({})", hdf5_reason()));
  root_.reset();  // closes the file
  std::error_code ec;
  std::filesystem::rename(temp_path_, path_, ec);
  if (ec) throw FileError(path_, fmt::format("cannot rename from temporary file: {}", ec.message()));
  committed_ = true;
  g_has_active_temp = 0;
}

namespace {

// A name no other open file has: HDF5 treats two open core-driver files of one name as one.
std::string memory_file_name(const std::string& label) {
  static std::atomic<std::uint64_t> counter{0};
  return fmt::format("{} (in memory, {}.{})", label, ::getpid(), counter++);
}

Handle core_driver_access() {
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/0);
  return fapl;
}

}  // namespace

MemoryFile::MemoryFile(const std::string& label) {
  silence_hdf5();
  Handle fapl = core_driver_access();
  Handle fcpl(H5Pcreate(H5P_FILE_CREATE), H5Pclose);
  H5Pset_link_creation_order(fcpl.get(), H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  const std::string name = memory_file_name(label);
  hid_t id = H5Fcreate(name.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get());
  if (id < 0) throw FileError(label, fmt::format("cannot create in memory ({})", hdf5_reason()));
  root_.emplace(Handle(id, H5Fclose), label, "/");
}

std::vector<unsigned char> MemoryFile::image() {
  const hid_t id = root_->id();
  if (H5Fflush(id, H5F_SCOPE_GLOBAL) < 0)
    throw FileError(root_->file(), fmt::format("cannot flush ({})", hdf5_reason()));
  const ssize_t size = H5Fget_file_image(id, nullptr, 0);
  if (size < 0) throw FileError(root_->file(), fmt::format("cannot take its image ({})", hdf5_reason()));
  std::vector<unsigned char> bytes(static_cast<std::size_t>(size));
  if (H5Fget_file_image(id, bytes.data(), bytes.size()) != size)
    throw FileError(root_->file(), fmt::format("cannot take its image ({})", hdf5_reason()));
  return bytes;
}

Group open_image(const std::vector<unsigned char>& bytes, const std::string& label) {
  silence_hdf5();
  Handle fapl = core_driver_access();
  if (bytes.empty() ||
      H5Pset_file_image(fapl.get(), const_cast<unsigned char*>(bytes.data()), bytes.size()) < 0)
    throw FileError(label, "not an HDF5 file image (empty)");
  const std::string name = memory_file_name(label);
  hid_t id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, fapl.get());
  if (id < 0) throw FileError(label, fmt::format("not an HDF5 file image ({})", hdf5_reason()));
  return Group(Handle(id, H5Fclose), label, "/");
}

}  // namespace memcarlo::h5
