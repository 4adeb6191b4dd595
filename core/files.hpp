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

}  // namespace memcarlo
