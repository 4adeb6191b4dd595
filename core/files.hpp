// Text output that appears whole or not at all: written under "<path>.tmp-<pid>" and renamed
// over the path (reports, PARAMS.toml, analysis tables and figures).
#pragma once

#include <string>

namespace memcarlo {

// Writes `text` to `path` atomically; FileError naming the path if it cannot.
void write_text_file(const std::string& path, const std::string& text);

}  // namespace memcarlo
