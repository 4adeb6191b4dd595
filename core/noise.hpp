// Gaussian noise fields: standard normal variates in bulk, for the read noise of every output
// of an analog array product (hundreds of thousands per training step, where RngStream with
// NormalDistribution costs ~30 ns a variate and this ~1.2 ns with AVX-512). Same key idiom as
// RngStream: a field is owned by (seed, entity, stream, substream), and element i of it does
// not depend on how many elements are drawn, so results are identical for every thread count.
//
// Method. Key (k0, k1) = the first 64-bit value of RngStream(seed, entity, stream, substream);
// block b of Philox4x32-10 (Random123; counter (b, 0, 0, 0), key (k0 low, k0 high)) gives four
// 32-bit words w0..w3. From (w0, w1): u = (floor(w0 / 2^9) + 1/2) 2^-23 in (0, 1) and
// v = floor(w1 / 2^8) 2^-24 in [0, 1), both exact in float, and the Box–Muller pair
// r cos(2 pi v), r sin(2 pi v) with r = sqrt(-2 ln u); (w2, w3) likewise. The field comes in
// chunks of 64 variates, from blocks 16c .. 16c + 15: element 64 c + 16 j + l is, for block
// 16 c + l, the cos (j = 0) and sin (j = 1) of its first pair and those of its second (j = 2, 3),
// an order that lets the kernel store whole vectors.
// Arithmetic is float with memcarlo's own logarithm and sine/cosine polynomials (no libm, no
// fused multiply-add), so the numbers are the same with every C library and on every x86-64
// instruction set the kernel is compiled for. Accuracy: within 2e-6 (absolute) of the same
// transform in double with libm; the tails end at sqrt(2 ln 2^24) = 5.77 sigma (the normal puts
// 8e-9 of its mass beyond).
#pragma once

#include <cstdint>
#include <span>

namespace memcarlo {

// Fills out[i] with element (first + i) of the field; first must be a multiple of 64.
void fill_standard_normal(std::span<float> out, std::uint64_t seed, std::uint64_t entity,
                          std::uint64_t stream, std::uint64_t substream, std::uint64_t first = 0);

}  // namespace memcarlo
