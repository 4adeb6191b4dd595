// The training-set cache reader (memcarlo train): any bytes as a cache HDF5 file.
#include "data/datasets.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const memcarlo::fuzz::InputFile file(data, size, ".h5");
  memcarlo::fuzz::expect_clean([&] { memcarlo::read_dataset_cache(file.path()); });
  return 0;
}
