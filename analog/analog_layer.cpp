#include "analog/analog_layer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "core/noise.hpp"

namespace memcarlo::analog {

namespace {
constexpr std::uint64_t kForwardRead = stream_id("forward_read");
constexpr std::uint64_t kBackwardRead = stream_id("backward_read");
constexpr std::uint64_t kWeightRead = stream_id("weight_read");
}  // namespace

AnalogLayer::AnalogLayer(training::LayerPtr inner, std::size_t index,
                         const PeripheryConfig& periphery, std::uint64_t noise_seed)
    : inner_(std::move(inner)), index_(index), periphery_(periphery), noise_seed_(noise_seed) {
  dense_ = dynamic_cast<training::Dense*>(inner_.get());
  conv_ = dynamic_cast<training::Conv2d*>(inner_.get());
  MC_VALIDATE(dense_ || conv_,
              "layer {} ({}) cannot go on an analog tile: only dense and conv2d layers can", index,
              inner_ ? inner_->kind() : "none");
  if (dense_) {
    rows_ = dense_->out_features();
    cols_ = dense_->in_features();
  } else {
    rows_ = conv_->out_channels();
    cols_ = conv_->in_channels() * conv_->kernel() * conv_->kernel();
  }
}

void AnalogLayer::set_tile(std::unique_ptr<Tile> tile) {
  MC_VALIDATE(tile && tile->weights().data() == weight().value.ptr(),
              "layer {}: the tile does not hold this layer's weights", index_);
  clean_weights();
  tile_ = std::move(tile);
  w_max_ = tile_->layout().w_max;
  gain_ = 1.0;
  mode_ = Mode::tile;
}

void AnalogLayer::set_inference(double w_max, std::vector<float> read_sigma, double gain) {
  MC_VALIDATE(read_sigma.empty() || read_sigma.size() == weight().value.size(),
              "layer {}: {} read-noise sigmas for {} weights", index_, read_sigma.size(),
              weight().value.size());
  MC_VALIDATE(w_max > 0 && gain > 0, "layer {}: inference needs w_max > 0 and gain > 0", index_);
  clean_weights();
  w_max_ = w_max;
  inference_sigma_ = std::move(read_sigma);
  gain_ = gain;
  mode_ = Mode::inference;
}

std::span<const float> AnalogLayer::read_sigma() const {
  if (mode_ == Mode::tile && tile_->read_noise()) return tile_->read_sigma();
  if (mode_ == Mode::inference) return inference_sigma_;
  return {};
}

bool AnalogLayer::simulated() const {
  return mode_ != Mode::digital &&
         (!periphery_.config().ideal() || gain_ != 1.0 || !read_sigma().empty());
}

void AnalogLayer::add_read_noise(std::uint64_t pass_id) {
  const std::span<const float> sigma = read_sigma();
  if (sigma.empty()) return;
  std::vector<float>& w = weight().value.data;
  clean_.assign(w.begin(), w.end());
  noise_.resize(w.size());
  fill_standard_normal(noise_, noise_seed_, index_, kWeightRead, pass_id);
  for (std::size_t k = 0; k < w.size(); ++k) w[k] = clean_[k] + sigma[k] * noise_[k];
  noisy_ = true;
}

void AnalogLayer::clean_weights() {
  if (!noisy_) return;
  std::copy(clean_.begin(), clean_.end(), weight().value.data.begin());
  noisy_ = false;
}

void AnalogLayer::forward(const training::Tensor& in, training::Tensor& out,
                          const training::Pass& pass) {
  clean_weights();
  if (mode_ == Mode::tile && tile_->drifts()) tile_->at_time(pass.time_s);
  if (!simulated()) {
    inner_->forward(in, out, pass);
    return;
  }
  periphery_.convert_inputs(in, x_q_, x_scales_);
  add_read_noise(pass.id);
  inner_->forward(x_q_, out, pass);
  periphery_.convert_outputs(out, x_scales_, w_max_, inner_->parameters()[1].value.data,
                             out.shape[1], gain_, NoiseKey{noise_seed_, index_, kForwardRead},
                             pass.id, forward_counts_);
  // An evaluation has no backward pass to keep the noisy weights for.
  if (pass.mode == training::Mode::eval) clean_weights();
}

void AnalogLayer::backward(const training::Tensor& grad_out, training::Tensor* grad_in,
                           const training::Pass& pass) {
  if (!simulated() || !grad_in) {
    inner_->backward(grad_out, grad_in, pass);
    clean_weights();
    return;
  }
  periphery_.convert_inputs(grad_out, d_q_, d_scales_);
  if (dense_) {
    dense_->backward_split(grad_out, d_q_, grad_in);
  } else {
    conv_->backward_split(grad_out, d_q_, grad_in);
  }
  periphery_.convert_outputs(*grad_in, d_scales_, w_max_, {}, 1, 1.0,
                             NoiseKey{noise_seed_, index_, kBackwardRead}, pass.id,
                             backward_counts_);
  clean_weights();
}

}  // namespace memcarlo::analog
