// What a component of a training replica carries from one epoch to the next (optimizer
// moments, counters), as named float arrays and integer counters: the unit of a checkpoint
// (training/checkpoint.hpp). Components save into it and restore from it; the checkpoint file
// stores it as one dataset or attribute per name.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace memcarlo::training {

struct StateArchive {
  std::map<std::string, std::vector<float>> arrays;
  std::map<std::string, std::int64_t> counters;

  // The entry `name`; InputError naming it (and the expected size) when it is missing or,
  // for an array, of another size. `size` = -1 accepts any size.
  const std::vector<float>& array(const std::string& name, std::int64_t size = -1) const;
  std::int64_t counter(const std::string& name) const;
};

}  // namespace memcarlo::training
