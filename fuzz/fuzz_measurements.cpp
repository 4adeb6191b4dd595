// The measured-data reader (memcarlo summary, calibrate): any bytes as an HDF5 file.
#include "data/measurements.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const memcarlo::fuzz::InputFile file(data, size, ".h5");
  memcarlo::fuzz::expect_clean([&] { memcarlo::read_measurements(file.path()); });
  return 0;
}
