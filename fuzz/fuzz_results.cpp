// Readers of memcarlo's own result files, which users pass back in: campaign results
// (memcarlo analyze, campaign run --resume) and training checkpoints (train --resume).
#include "campaign/analysis.hpp"
#include "fuzz/fuzz_support.hpp"
#include "training/checkpoint.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const memcarlo::fuzz::InputFile file(data + 1, size - 1, ".h5");
  memcarlo::fuzz::expect_clean([&] {
    if (data[0] % 2 == 0) {
      memcarlo::campaign::read_results(file.path());
    } else {
      memcarlo::training::Checkpoint checkpoint(file.path(), "[train]\n", "", 2);
      checkpoint.load();
    }
  });
  return 0;
}
