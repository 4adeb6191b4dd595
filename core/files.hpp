// Output that appears whole or not at all: written under "<path>.tmp-<pid>" and renamed over
// the path (text here: reports, PARAMS.toml, analysis tables and figures; HDF5 files by
// h5::OutputFile the same way).
#pragma once

#include <string>

namespace memcarlo {

// Writes `text` to `path` atomically; FileError naming the path if it cannot.
void write_text_file(const std::string& path, const std::string& text);

// Removes "<path>.tmp-<pid>" files left by writers that were killed (no process <pid> runs);
// a live writer's temporary file is left alone. Returns how many were removed. Every atomic
// writer (write_text_file, h5::OutputFile) calls it before it starts.
int remove_stale_temporaries(const std::string& path);

// Files this process has read as input (h5::open_file and load_toml_file note them), so that no
// writer replaces one with its output: `memcarlo calibrate --in d.h5 --out d.h5` once destroyed
// the measurements. Off until a program turns it on (memcarlo's main does: one process is one
// command; a test binary reads and rewrites its own files). Thread-safe.
void track_input_files();
void note_input_file(const std::string& path);
// For a file a command reads and then rewrites on purpose (a training checkpoint).
void forget_input_file(const std::string& path);
// FileError when `output` is (the same file as) an input this process read.
void check_not_an_input(const std::string& output);

}  // namespace memcarlo
