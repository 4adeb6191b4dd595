#include "core/rng.hpp"

namespace memcarlo {

RngStream::RngStream(std::uint64_t seed, std::uint64_t entity, std::uint64_t stream,
                     std::uint64_t substream) {
  key_[0] = seed;
  key_[1] = entity;
  ctr_[0] = stream;
  ctr_[1] = substream;
  ctr_[2] = 0;  // block counter
  ctr_[3] = 0;
}

void RngStream::refill() {
  Philox philox;
  const Philox::ctr_type out = philox(ctr_, key_);
  for (unsigned i = 0; i < 4; ++i) block_[i] = out[i];
  ++ctr_[2];
  if (ctr_[2] == 0) ++ctr_[3];  // 2^128 blocks per stream before any repetition
  index_ = 0;
  ++blocks_;
}

std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t entity, std::uint64_t child) {
  RngStream rng(seed, entity, stream_id("derive_seed"), child);
  return rng.next_u64();
}

}  // namespace memcarlo
