// A dense or conv2d layer computed on an analog array: it wraps the digital layer (whose
// weight parameter then holds what the devices hold) and puts the periphery around its
// products. Forward: DAC on the input, the product with the device weights (each read with the
// devices' read noise), output noise and ADC. Backward: the weight and bias gradients from the
// digital error (the digital unit computes the update; mixed precision accumulates it), the
// input gradient by the transposed product through the same periphery (in-memory backprop).
//
// Read noise of the devices: each weight's read-noise sigma (from its devices' model) is drawn
// once per pass (one normal per weight, noise field keyed by the pass id) and shared by the
// samples of the batch and by the forward and transposed reads of one training step: an
// approximation that keeps the cost at one draw per weight instead of one per weight and sample
// (the periphery's out_noise is drawn per output and sample).
//
// Inactive, the layer is its digital layer, bit for bit (a run whose devices appear only after
// training, for inference on a fresh chip).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "analog/periphery.hpp"
#include "analog/tile.hpp"
#include "training/layers.hpp"

namespace memcarlo::analog {

class AnalogLayer final : public training::Layer {
 public:
  // inner: a Dense or Conv2d layer; index: its 1-based position in the network (names it and
  // keys its noise: noise fields (noise_seed, index, "forward_read" / "backward_read" /
  // "weight_read") with substream = the pass id).
  AnalogLayer(training::LayerPtr inner, std::size_t index, const PeripheryConfig& periphery,
              std::uint64_t noise_seed);

  std::string kind() const override { return inner_->kind(); }
  bool is_linear() const override { return true; }
  training::Shape output_shape(const training::Shape& in) const override {
    return inner_->output_shape(in);
  }
  void forward(const training::Tensor& in, training::Tensor& out,
               const training::Pass& pass) override;
  void backward(const training::Tensor& grad_out, training::Tensor* grad_in,
                const training::Pass& pass) override;
  std::span<training::Parameter> parameters() override { return inner_->parameters(); }
  void initialize(RngStream& rng) override { inner_->initialize(rng); }
  std::span<training::Tensor> buffers() override { return inner_->buffers(); }

  std::size_t index() const { return index_; }
  training::Parameter& weight() { return inner_->parameters()[0]; }
  // The weight matrix as a tile sees it: rows = outputs (channels), cols = fan-in.
  std::size_t rows() const { return rows_; }
  std::size_t cols() const { return cols_; }

  // Training on a tile: the layer computes with the tile's weights, scale w_max and read noise.
  void set_tile(std::unique_ptr<Tile> tile);
  Tile* tile() { return tile_.get(); }
  // Inference on programmed devices: the caller has written the weights; w_max is their scale,
  // read_sigma the read noise of each (empty: none), gain the drift compensation of the outputs.
  void set_inference(double w_max, std::vector<float> read_sigma, double gain);
  bool active() const { return mode_ != Mode::digital; }

  // Puts back the noise-free weights if a pass left read noise in them (a training forward
  // pass keeps its noisy weights for the transposed read of its backward pass).
  void clean_weights();

  const ConverterCounts& forward_counts() const { return forward_counts_; }
  const ConverterCounts& backward_counts() const { return backward_counts_; }

 private:
  enum class Mode { digital, tile, inference };
  std::span<const float> read_sigma() const;
  bool simulated() const;
  void add_read_noise(std::uint64_t pass_id);

  training::LayerPtr inner_;
  training::Dense* dense_ = nullptr;
  training::Conv2d* conv_ = nullptr;
  std::size_t index_, rows_, cols_;
  Periphery periphery_;
  std::uint64_t noise_seed_;
  Mode mode_ = Mode::digital;
  std::unique_ptr<Tile> tile_;
  double w_max_ = 1.0, gain_ = 1.0;
  std::vector<float> inference_sigma_;
  std::vector<float> clean_, noise_;  // noise-free weights while noisy ones are in place
  bool noisy_ = false;
  training::Tensor x_q_, d_q_;
  std::vector<float> x_scales_, d_scales_;
  ConverterCounts forward_counts_, backward_counts_;
};

}  // namespace memcarlo::analog
