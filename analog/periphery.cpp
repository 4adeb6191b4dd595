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

// Dispatched to AVX-512, AVX2 or the x86-64 baseline at run time; the arithmetic is the same
// exactly rounded float operations (no contraction) on every path, so are the results.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define MEMCARLO_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MEMCARLO_CLONES
#endif

// One feature's P outputs of one sample, in place: y_hat = (v - b) inv, plus sigma z when z is
// not null, through the ADC when levels > 0 (clamp to +-levels steps, round); then back to
// v = y_hat back + b. Returns how many |y_hat| exceeded bound. One pass, branch-free inside.
MEMCARLO_CLONES
std::uint32_t output_block(float* v, std::size_t P, float b, float inv, float back,
                           const float* z, float sigma, float levels, float to_levels,
                           float step, float bound) {
  std::uint32_t over = 0;
  if (z && levels > 0) {
    for (std::size_t p = 0; p < P; ++p) {
      const float h = (v[p] - b) * inv + sigma * z[p];
      over += std::fabs(h) > bound;
      const float t = std::min(std::max(h * to_levels, -levels), levels);
      v[p] = round_even(t) * step * back + b;
    }
  } else if (levels > 0) {
    for (std::size_t p = 0; p < P; ++p) {
      const float h = (v[p] - b) * inv;
      over += std::fabs(h) > bound;
      const float t = std::min(std::max(h * to_levels, -levels), levels);
      v[p] = round_even(t) * step * back + b;
    }
  } else if (z) {
    for (std::size_t p = 0; p < P; ++p) v[p] = ((v[p] - b) * inv + sigma * z[p]) * back + b;
  } else {
    for (std::size_t p = 0; p < P; ++p) v[p] = ((v[p] - b) * inv) * back + b;
  }
  return over;
}

// The largest |x| of n values, in 8 interleaved running maxima (a NaN is skipped; the output of
// a NaN input stays NaN anyway).
MEMCARLO_CLONES
float largest_magnitude(const float* x, std::size_t n) {
  float part[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) part[j] = std::max(part[j], std::fabs(x[i + j]));
  for (; i < n; ++i) part[0] = std::max(part[0], std::fabs(x[i]));
  float peak = 0;
  for (float v : part) peak = std::max(peak, v);
  return peak;
}

// out = round(in to_levels) back: the DAC's levels, in the input's units.
MEMCARLO_CLONES
void quantise(const float* in, float* out, std::size_t n, float to_levels, float back) {
  for (std::size_t i = 0; i < n; ++i) out[i] = round_even(in[i] * to_levels) * back;
}

// Levels on each side of zero of a B-bit mid-tread converter (1 bit: -1, 0, +1).
float levels(std::int64_t bits) {
  return static_cast<float>(std::max<std::int64_t>((std::int64_t{1} << (bits - 1)) - 1, 1));
}

}  // namespace

void PeripheryConfig::validate() const {
  MC_VALIDATE(bound_management >= 0 && bound_management <= 30,
              "bound_management = {} must be in 0-30 halvings", bound_management);
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
    const float peak = largest_magnitude(in, per);
    const float s = peak > 0 && std::isfinite(peak) ? peak : 1.0f;
    scales[n] = s;
    if (!config_.dac) {
      std::copy(in, in + per, out);
      continue;
    }
    quantise(in, out, per, dac_levels_ / s, s * dac_step_);
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
  const float levels = config_.adc ? adc_levels_ : 0.0f;
  const float to_levels = adc_levels_ / bound;
  const std::int64_t max_halvings = config_.adc ? config_.bound_management : 0;
  std::uint64_t saturated = 0;
  for (std::size_t n = 0; n < N; ++n) {
    float* sample = y.ptr() + n * per;
    if (max_halvings > 0) sample_.assign(sample, sample + per);
    for (std::int64_t k = 0;; ++k) {
      // One full-scale output; bound management halves the input k times (outputs 2^k units).
      const float unit = scales[n] * static_cast<float>(w_max) * std::ldexp(1.0f, static_cast<int>(k));
      const float inv = 1.0f / unit, back = unit * static_cast<float>(gain);
      std::uint64_t over = 0;
      for (std::size_t f = 0; f < features; ++f) {
        const std::size_t at = n * per + f * P;
        over += output_block(sample + f * P, P, bias.empty() ? 0.0f : bias[f], inv, back,
                             noisy ? noise_.data() + at : nullptr, sigma, levels, to_levels,
                             adc_step_, bound);
      }
      if (over == 0 || k == max_halvings) {
        saturated += over;
        counts.managed += k > 0;
        break;
      }
      std::copy(sample_.begin(), sample_.end(), sample);
    }
  }
  counts.outputs += y.size();
  counts.saturated += saturated;
}

}  // namespace memcarlo::analog
