// The scipy fixtures of tests/reference/distribution_fit_reference.py, read once and shared
// by the calibration tests: the seeded samples and scipy's values for them.
#pragma once

#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace memcarlo::test {

inline std::vector<std::string> split(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  for (std::string cell; std::getline(ss, cell, ',');) cells.push_back(cell);
  return cells;
}

inline std::string reference_file(const std::string& name) {
  return std::string(MEMCARLO_SOURCE_DIR) + "/tests/reference/" + name;
}

struct Reference {
  std::map<std::string, std::vector<double>> samples;
  std::map<std::string, double> values;  // "sample/quantity"

  Reference() {
    std::ifstream s(reference_file("distribution_fit_samples.csv"));
    REQUIRE(s.good());
    std::string line;
    std::getline(s, line);
    while (std::getline(s, line)) {
      const auto cells = split(line);
      samples[cells.at(0)].push_back(std::stod(cells.at(1)));
    }
    std::ifstream r(reference_file("distribution_fit_reference.csv"));
    REQUIRE(r.good());
    while (std::getline(r, line)) {
      if (line.empty() || line[0] == '#' || line.rfind("sample,", 0) == 0) continue;
      const auto cells = split(line);
      values[cells.at(0) + "/" + cells.at(1)] = std::stod(cells.at(2));
    }
  }
  double at(const std::string& sample, const std::string& quantity) const {
    const auto it = values.find(sample + "/" + quantity);
    REQUIRE_MESSAGE(it != values.end(), sample << "/" << quantity << " missing from fixture");
    return it->second;
  }
};

inline const Reference& reference() {
  static const Reference r;
  return r;
}

}  // namespace memcarlo::test
