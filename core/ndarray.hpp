// A dense row-major array with a shape: the in-memory form of every HDF5 dataset.
#pragma once

#include <cstddef>
#include <vector>

#include "core/error.hpp"

namespace memcarlo {

template <class T>
struct NdArray {
  std::vector<std::size_t> shape;
  std::vector<T> data;

  NdArray() = default;
  explicit NdArray(std::vector<std::size_t> shape_, T fill = T{})
      : shape(std::move(shape_)), data(count(shape), fill) {}
  NdArray(std::vector<std::size_t> shape_, std::vector<T> data_)
      : shape(std::move(shape_)), data(std::move(data_)) {
    MC_VALIDATE(data.size() == count(shape), "array data has {} values, shape needs {}",
                data.size(), count(shape));
  }

  // Number of elements of a shape; throws InputError when the product overflows.
  static std::size_t count(const std::vector<std::size_t>& s) {
    std::size_t n = 1;
    for (std::size_t d : s)
      MC_VALIDATE(!__builtin_mul_overflow(n, d, &n), "array shape overflows the address space");
    return n;
  }
  std::size_t rank() const { return shape.size(); }
  std::size_t size() const { return data.size(); }

  T& operator()(std::size_t i, std::size_t j) { return data[i * shape[1] + j]; }
  const T& operator()(std::size_t i, std::size_t j) const { return data[i * shape[1] + j]; }
  T& operator()(std::size_t i, std::size_t j, std::size_t k) {
    return data[(i * shape[1] + j) * shape[2] + k];
  }
  const T& operator()(std::size_t i, std::size_t j, std::size_t k) const {
    return data[(i * shape[1] + j) * shape[2] + k];
  }
};

}  // namespace memcarlo
