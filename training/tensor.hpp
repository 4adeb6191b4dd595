// The dense float32 array the training engine computes on: row-major, batch first (N, C, H, W
// for images, N, F for features). Shapes are checked where layers are built, not per element.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/error.hpp"

namespace memcarlo::training {

using Shape = std::vector<std::size_t>;

inline std::size_t shape_size(const Shape& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return n;
}

inline std::string shape_string(const Shape& s) { return fmt::format("({})", fmt::join(s, ", ")); }

struct Tensor {
  Shape shape;
  std::vector<float> data;

  Tensor() = default;
  explicit Tensor(Shape s, float fill = 0.0f) : shape(std::move(s)), data(shape_size(shape), fill) {}

  std::size_t size() const { return data.size(); }
  std::size_t batch() const { return shape.empty() ? 0 : shape[0]; }
  // Elements per sample (all but the first dimension).
  std::size_t sample_size() const { return shape.empty() ? 0 : data.size() / shape[0]; }
  float* ptr() { return data.data(); }
  const float* ptr() const { return data.data(); }

  // Reshapes, reusing the storage (no reallocation when it is large enough).
  void resize(const Shape& s) {
    shape = s;
    data.resize(shape_size(s));
  }
  void fill(float v) { std::fill(data.begin(), data.end(), v); }
};

}  // namespace memcarlo::training
