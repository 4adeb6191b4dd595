// Counter-based random streams (Philox4x64-10 from Random123).
// A stream is keyed by (master seed, entity id) and addressed by (named stream, substream,
// step): any device, trial or pulse can draw its numbers without knowing how many numbers
// anybody else drew, so results are identical for every thread count and schedule.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include <Random123/philox.h>

namespace memcarlo {

// A named stream: stream_id("read_noise"). FNV-1a, evaluated at compile time where possible.
constexpr std::uint64_t stream_id(std::string_view name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// The sequence of random numbers owned by one (seed, entity, stream, substream).
// Cheap to construct; construct one where it is needed rather than passing one around.
class RngStream {
 public:
  RngStream(std::uint64_t seed, std::uint64_t entity, std::uint64_t stream,
            std::uint64_t substream = 0);

  // Next raw 64-bit value.
  std::uint64_t next_u64() {
    if (index_ == 4) refill();
    return block_[index_++];
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return to_unit(next_u64()); }
  // Uniform in (0, 1): safe to take the logarithm of.
  double uniform_open() { return to_unit_open(next_u64()); }
  // The maps from raw bits to the unit interval (public so tests can reach the extremes).
  static constexpr double to_unit(std::uint64_t bits) {
    return static_cast<double>(bits >> 11) * 0x1.0p-53;
  }
  // 52 bits, centred: 2^-53 ... 1 - 2^-53. With 53 bits, m + 0.5 needs 54 significant bits
  // and m = 2^53 - 1 rounds up to 2^53, i.e. exactly 1.0.
  static constexpr double to_unit_open(std::uint64_t bits) {
    return (static_cast<double>(bits >> 12) + 0.5) * 0x1.0p-52;
  }
  // How many 64-bit values have been consumed (for tests that freeze draw counts).
  std::uint64_t draws() const { return blocks_ * 4 - (4 - index_); }

 private:
  void refill();

  using Philox = r123::Philox4x64;
  Philox::key_type key_{};
  Philox::ctr_type ctr_{};
  std::array<std::uint64_t, 4> block_{};
  unsigned index_ = 4;
  std::uint64_t blocks_ = 0;
};

// The master seed of a child entity: keys need more than the two words of a stream when an
// entity sits inside another (the devices of tile `layer` of replica r of a run with master
// seed S). derive_seed(S, r, child) is the first value of RngStream(S, r, stream_id
// ("derive_seed"), child): a fixed function of (S, r, child), different for every child, whose
// streams RngStream(derive_seed(S, r, child), device, ...) are as independent as any two keys.
std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t entity, std::uint64_t child);

}  // namespace memcarlo
