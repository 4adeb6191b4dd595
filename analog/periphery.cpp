#include "analog/periphery.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"
#include "core/noise.hpp"

namespace memcarlo::analog {

namespace {

// Round to nearest, ties to even, for |t| <= 2^22 (adding 1.5 2^23 leaves no fraction bits);
// vectorises without SSE4.1's round instruction, and gives what nearbyint would.
inline float round_even(float t) {
  constexpr float kMagic = 0x1.8p23f;
  return (t + kMagic) - kMagic;
}

// Levels on each side of zero of a B-bit mid-tread converter (1 bit: -1, 0, +1).
float levels(std::int64_t bits) {
  return static_cast<float>(std::max<std::int64_t>((std::int64_t{1} << (bits - 1)) - 1, 1));
}

}  // namespace

void PeripheryConfig::validate() const {
  MC_VALIDATE(dac_bits >= 1 && dac_bits <= 16, "dac_bits = {} must be in 1-16", dac_bits);
  MC_VALIDATE(adc_bits >= 1 && adc_bits <= 16, "adc_bits = {} must be in 1-16", adc_bits);
  MC_VALIDATE(std::isfinite(out_bound) && out_bound > 0, "out_bound = {} must be positive",
              out_bound);
  MC_VALIDATE(std::isfinite(out_noise) && out_noise >= 0, "out_noise = {} must be >= 0",
              out_noise);
}

Periphery::Periphery(const PeripheryConfig& config) : config_(config) {
  config_.validate();
  dac_levels_ = levels(config_.dac_bits);
  dac_step_ = 1.0f / dac_levels_;
  adc_levels_ = levels(config_.adc_bits);
  adc_step_ = static_cast<float>(config_.out_bound) / adc_levels_;
}

void Periphery::convert_inputs(const training::Tensor& x, training::Tensor& x_q,
                               std::vector<float>& scales) const {
  const std::size_t N = x.batch();
  const std::size_t per = N ? x.size() / N : 0;
  x_q.resize(x.shape);
  scales.resize(N);
  for (std::size_t n = 0; n < N; ++n) {
    const float* in = x.ptr() + n * per;
    float* out = x_q.ptr() + n * per;
    // The largest |x| in 8 interleaved running maxima (vectorises; a NaN is skipped, and the
    // output of a NaN input stays NaN).
    float part[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= per; i += 8)
      for (int j = 0; j < 8; ++j) part[j] = std::max(part[j], std::fabs(in[i + j]));
    for (; i < per; ++i) part[0] = std::max(part[0], std::fabs(in[i]));
    float peak = 0;
    for (float v : part) peak = std::max(peak, v);
    const float s = peak > 0 && std::isfinite(peak) ? peak : 1.0f;
    scales[n] = s;
    if (!config_.dac) {
      std::copy(in, in + per, out);
      continue;
    }
    const float to_levels = dac_levels_ / s, back = s * dac_step_;
    for (std::size_t i = 0; i < per; ++i) out[i] = round_even(in[i] * to_levels) * back;
  }
}

void Periphery::convert_outputs(training::Tensor& y, std::span<const float> scales, double w_max,
                                std::span<const float> bias, std::size_t features, double gain,
                                const NoiseKey& key, std::uint64_t pass_id,
                                ConverterCounts& counts) {
  const std::size_t N = y.batch();
  const std::size_t per = N ? y.size() / N : 0;
  MC_VALIDATE(scales.size() == N && features > 0 && per % features == 0,
              "analog output of shape {} does not fit {} scales and {} features",
              training::shape_string(y.shape), scales.size(), features);
  const std::size_t P = per / features;
  const bool noisy = config_.out_noise > 0;
  if (noisy) {
    noise_.resize(y.size());
    fill_standard_normal(noise_, key.seed, key.entity, key.stream, pass_id);
  }
  const float sigma = static_cast<float>(config_.out_noise);
  const float bound = static_cast<float>(config_.out_bound);
  const float g = static_cast<float>(gain);
  const float to_levels = adc_levels_ / bound;
  std::uint64_t saturated = 0;
  for (std::size_t n = 0; n < N; ++n) {
    const float unit = scales[n] * static_cast<float>(w_max);  // one full-scale output
    const float inv = 1.0f / unit, back = unit * g;
    for (std::size_t f = 0; f < features; ++f) {
      const float b = bias.empty() ? 0.0f : bias[f];
      float* v = y.ptr() + n * per + f * P;
      // y_hat, plus noise; the loops stay branch-free so that they vectorise.
      for (std::size_t p = 0; p < P; ++p) v[p] = (v[p] - b) * inv;
      if (noisy) {
        const float* z = noise_.data() + n * per + f * P;
        for (std::size_t p = 0; p < P; ++p) v[p] += sigma * z[p];
      }
      if (config_.adc) {
        std::uint32_t over = 0;
        for (std::size_t p = 0; p < P; ++p) {
          over += std::fabs(v[p]) > bound;
          const float t = std::min(std::max(v[p] * to_levels, -adc_levels_), adc_levels_);
          v[p] = round_even(t) * adc_step_;
        }
        saturated += over;
      }
      for (std::size_t p = 0; p < P; ++p) v[p] = v[p] * back + b;
    }
  }
  counts.outputs += y.size();
  counts.saturated += saturated;
}

}  // namespace memcarlo::analog
