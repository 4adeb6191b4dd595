// One-line summaries of measurement sets, for `memcarlo summary` and the main job's table.
#pragma once

#include <string>

#include "data/measurements.hpp"

namespace memcarlo {

struct SetSummary {
  std::string kind;
  std::string shape;   // e.g. "16292 dev x 7 t"
  std::string detail;  // the physically interesting numbers, with units
};

SetSummary summarize(const Measurement& m);

}  // namespace memcarlo
