// The periphery of an analog array: the DAC that turns a digital vector into input voltages,
// the read noise of the product, and the ADC that digitises each output, in the forward product
// (x -> W x) and in the transposed product of in-memory backprop (delta -> W^T delta).
//
// Units follow IBM aihwkit's IOParameters (Rasch et al., "A flexible and fast PyTorch toolkit
// for simulating training and inference on analog crossbar arrays", AICAS 2021): weights in
// units of the tile's w_max (a full-range device difference), inputs in units of the input
// vector's largest magnitude (aihwkit's "abs max" noise management: each vector is scaled onto
// the DAC's range [-1, 1] and the outputs scaled back), so one output y_hat = sum_j w_hat x_hat
// is in units of one full-scale weight times one full-scale input.
//   DAC   (B bits): x_hat -> round(x_hat / d) d, d = 1 / L, L = max(2^(B-1) - 1, 1)
//                   (aihwkit: inp_res = 1/(2^7 - 2) over [-1, 1], i.e. d = 2/(2^B - 2)).
//   noise          : y_hat + out_noise N(0, 1), one normal per output per product.
//   ADC   (B bits): clamp(round(y_hat / d), -L, L) d with d = out_bound / L: error <= d/2
//                   inside [-out_bound, out_bound], saturation at the bounds outside;
//                   bound management (below) retries a saturated sample at half the input.
// Defaults are aihwkit's IOParameters defaults: 7-bit DAC, 9-bit ADC, out_bound 12,
// out_noise 0.06. With a convolution the vector is one sample's whole input (one scale per
// image rather than per unrolled patch: assumption, one DAC range per image and layer).
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/error.hpp"

#include "training/tensor.hpp"

namespace memcarlo::analog {

struct PeripheryConfig {
  bool dac = true;               // quantise inputs
  std::int64_t dac_bits = 7;     // [aihwkit IOParameters inp_res = 1/(2^7 - 2)]
  bool adc = true;               // quantise and clip outputs
  std::int64_t adc_bits = 9;     // [aihwkit IOParameters out_res = 1/(2^9 - 2)]
  double out_bound = 12.0;       // [aihwkit IOParameters out_bound]
  double out_noise = 0.06;       // [aihwkit IOParameters out_noise]
  // Iterative bound management: a sample whose output saturates the ADC is converted again
  // with its input halved, up to this many times (0 = off) [aihwkit IOParameters
  // bound_management = ITERATIVE, max_bm_factor 1000 ~ 2^10]. The product is rescaled rather
  // than recomputed: the input keeps its first DAC conversion (assumption), the noise its draw.
  std::int64_t bound_management = 10;

  // No quantisation, no clipping, no noise: the product is the digital one, bit for bit.
  bool ideal() const { return !dac && !adc && out_noise == 0; }
  void validate() const;
};

// The keys that describe a periphery in a config table, shared by [analog] (the tiles) and
// [pcm-feedback] (the feedback array): periphery (realistic or ideal), dac_bits, adc_bits,
// out_bound, out_noise, bound_management. Checks them; errors name `table.key = value`.
template <class Keys>
void validate_periphery_keys(const Keys& c, std::string_view table) {
  MC_VALIDATE(c.periphery == "realistic" || c.periphery == "ideal",
              "{}.periphery = '{}': use realistic or ideal", table, c.periphery);
  MC_VALIDATE(c.dac_bits >= 1 && c.dac_bits <= 16, "{}.dac_bits = {} must be in 1-16", table,
              c.dac_bits);
  MC_VALIDATE(c.adc_bits >= 1 && c.adc_bits <= 16, "{}.adc_bits = {} must be in 1-16", table,
              c.adc_bits);
  MC_VALIDATE(std::isfinite(c.out_bound) && c.out_bound > 0, "{}.out_bound = {} must be positive",
              table, c.out_bound);
  MC_VALIDATE(std::isfinite(c.out_noise) && c.out_noise >= 0, "{}.out_noise = {} must be >= 0",
              table, c.out_noise);
  MC_VALIDATE(c.bound_management >= 0 && c.bound_management <= 30,
              "{}.bound_management = {} must be in 0-30 (halvings of the input)", table,
              c.bound_management);
}

// The periphery those keys describe; ideal: no converters and no output noise.
template <class Keys>
PeripheryConfig periphery_of_keys(const Keys& c) {
  PeripheryConfig p;
  p.dac_bits = c.dac_bits;
  p.adc_bits = c.adc_bits;
  p.out_bound = c.out_bound;
  p.out_noise = c.out_noise;
  p.bound_management = c.bound_management;
  if (c.periphery == "ideal") {
    p.dac = p.adc = false;
    p.out_noise = 0;
  }
  return p;
}

// Counts of what the ADC did, for the results file.
struct ConverterCounts {
  std::uint64_t outputs = 0;    // outputs digitised
  std::uint64_t saturated = 0;  // outputs beyond +-out_bound, clipped (after bound management)
  std::uint64_t managed = 0;    // sample products that bound management had to scale down
};

// Where the noise of a product comes from: a noise field (core/noise.hpp) of (seed, entity,
// stream) with substream = the pass id.
struct NoiseKey {
  std::uint64_t seed = 0, entity = 0, stream = 0;
};

class Periphery {
 public:
  explicit Periphery(const PeripheryConfig& config);
  const PeripheryConfig& config() const { return config_; }

  // DAC: x (N, ...) -> x_q, one scale per sample (its largest |x|, 1 for an all-zero sample)
  // in scales; x_q = scale * quantised(x / scale). Without a DAC, x_q = x and scales hold the
  // magnitudes all the same (the output stage needs them).
  void convert_inputs(const training::Tensor& x, training::Tensor& x_q,
                      std::vector<float>& scales) const;

  // Noise and ADC on the outputs of a product, in place. y (N, F, P...) holds the product of
  // the quantised inputs with weights of scale w_max, plus bias[f] (bias may be empty);
  // y_hat = (y - bias) / (scale_n w_max) gets the noise and the ADC and is scaled back, then
  // multiplied by `gain` (drift compensation) and the bias added again. `features` is F (P is
  // the rest of a sample). Noise is drawn from the field of `key`, substream `pass_id`.
  void convert_outputs(training::Tensor& y, std::span<const float> scales, double w_max,
                       std::span<const float> bias, std::size_t features, double gain,
                       const NoiseKey& key, std::uint64_t pass_id, ConverterCounts& counts);

 private:
  PeripheryConfig config_;
  float dac_step_ = 0, adc_step_ = 0;
  float dac_levels_ = 0, adc_levels_ = 0;
  std::vector<float> noise_;   // scratch for one product's noise field
  std::vector<float> sample_;  // one sample's raw outputs, for bound management
};

}  // namespace memcarlo::analog
