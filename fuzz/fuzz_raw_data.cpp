// The importers' raw readers: IDX (MNIST), PNG (CIFAR-10 images), JSON labels, and the Sandia
// conductance-step tables (CSV/TSV); the first byte picks the reader.
#include "data/datasets.hpp"
#include "data/importers.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t which = data[0] % 4;
  static const char* const kSuffix[] = {".idx", ".png", ".json", ".txt"};
  const memcarlo::fuzz::InputFile file(data + 1, size - 1, kSuffix[which]);
  memcarlo::fuzz::expect_clean([&] {
    switch (which) {
      case 0: memcarlo::read_idx(file.path()); break;
      case 1: memcarlo::read_png_rgb(file.path()); break;
      case 2: memcarlo::read_json_labels(file.path(), 10); break;
      default: memcarlo::read_sandia_dg_table(file.path(), data[0] & 4 ? 1 : -1); break;
    }
  });
  return 0;
}
