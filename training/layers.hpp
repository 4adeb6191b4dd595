// The layers of the training engine: dense, 2-d convolution, pooling, activations, batch
// norm, dropout and flatten, each matching the PyTorch module of the same name in shapes,
// initialisation and train/eval behaviour, so that results can be checked against torch.
// Layers keep their scratch buffers, so after the first batch forward and backward allocate
// nothing; they never use threads (replicas run in parallel, one layer object per replica).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "training/layer.hpp"

namespace memcarlo::training {

// The batch shapes of the last forward pass: validating an input costs one comparison (and no
// allocation) once the shapes settle; a new shape goes through Layer::output_shape.
class ShapeCache {
 public:
  // (N, output_shape(sample)) for an input of shape (N, sample...).
  const Shape& output_for(const Layer& layer, const Shape& in);
  const Shape& input() const { return in_; }

 private:
  Shape in_, out_;
};

// y = x W^T + b, like torch.nn.Linear: weight (out, in), bias (out); input (N, in).
class Dense final : public Layer {
 public:
  Dense(std::size_t in_features, std::size_t out_features);

  std::string kind() const override { return "dense"; }
  bool is_linear() const override { return true; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;
  std::span<Parameter> parameters() override { return params_; }
  void initialize(RngStream& rng) override;
  // backward, but the input gradient from grad_out_for_input (same shape) instead of grad_out:
  // an analog array computes the input gradient from the error as its converter delivered it,
  // while the weight gradient comes from the error itself (analog/). grad_in may be null.
  void backward_split(const Tensor& grad_out, const Tensor& grad_out_for_input, Tensor* grad_in);

  std::size_t in_features() const { return in_features_; }
  std::size_t out_features() const { return out_features_; }

 private:
  std::size_t in_features_, out_features_;
  std::array<Parameter, 2> params_;  // weight, bias
  Tensor input_;                     // copy of the last input, for the weight gradient
  ShapeCache shapes_;
};

// How Conv2d computes. per_sample: one im2col matrix (C k k, OH OW) and three small GEMMs per
// sample, the matrices of the whole batch kept from forward to backward. batched: one im2col
// matrix (C k k, N OH OW) for the whole batch, so each pass is one large GEMM at the cost of
// permuting (OC, N, P) <-> (N, OC, P). onednn: oneDNN's direct-convolution primitives (no
// im2col matrix; blocked layouts inside, conversions at the layer's edges), when oneDNN is
// compiled in. automatic: the fastest of these on each layer shape, by bench_layers on the
// LeNet-5 and VGG-16/4 layers (bench/README.md; the rule is in Conv2d::forward).
enum class ConvAlgorithm { per_sample, batched, onednn, automatic };

// Whether ConvAlgorithm::onednn is compiled into this build.
bool onednn_convolution_available();

class OnednnConv;

// Cross-correlation like torch.nn.Conv2d (groups 1, dilation 1, zero padding): weight
// (out_ch, in_ch, k, k), bias (out_ch); input (N, in_ch, H, W) -> (N, out_ch, OH, OW) with
// OH = (H + 2 padding - k) / stride + 1. Computed by im2col + GEMM or by oneDNN.
class Conv2d final : public Layer {
 public:
  Conv2d(std::size_t in_channels, std::size_t out_channels, std::size_t kernel,
         std::size_t stride = 1, std::size_t padding = 0,
         ConvAlgorithm algorithm = ConvAlgorithm::automatic);
  ~Conv2d() override;

  std::string kind() const override { return "conv2d"; }
  bool is_linear() const override { return true; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;
  std::span<Parameter> parameters() override { return params_; }
  void initialize(RngStream& rng) override;
  // As Dense::backward_split.
  void backward_split(const Tensor& grad_out, const Tensor& grad_out_for_input, Tensor* grad_in);

  std::size_t in_channels() const { return in_ch_; }
  std::size_t out_channels() const { return out_ch_; }
  std::size_t kernel() const { return k_; }
  std::size_t stride() const { return stride_; }
  std::size_t padding() const { return pad_; }
  ConvAlgorithm algorithm() const { return algorithm_; }
  // The algorithm resolved for the last input (never automatic after a forward pass).
  ConvAlgorithm used() const { return used_; }
  // oneDNN's names of the kernels of the last forward pass ("forward jit:avx512_core, ..."),
  // empty unless it ran on oneDNN.
  std::string onednn_kernels() const;

 private:
  // Geometry of the last input.
  struct Geometry {
    int N, C, H, W, OH, OW, P, CKK;  // P = OH * OW, CKK = C * k * k
  };
  void im2col(const float* x, float* col, int ld) const;
  // Clobbers the entries of col that im2col would have zeroed.
  void col2im(float* col, int ld, float* dx) const;

  std::size_t in_ch_, out_ch_, k_, stride_, pad_;
  ConvAlgorithm algorithm_;
  ConvAlgorithm used_ = ConvAlgorithm::per_sample;  // algorithm_ resolved for the last input
  std::array<Parameter, 2> params_;                 // weight, bias
  Geometry g_{};
  std::vector<float> col_, out_tmp_, grad_tmp_, dcol_;
  // oneDNN primitives for the last few input shapes (training batch, last partial batch,
  // evaluation batch), most recent last; onednn_ is the one of the last forward pass.
  std::vector<std::unique_ptr<OnednnConv>> onednn_cache_;
  OnednnConv* onednn_ = nullptr;
  ShapeCache shapes_;
};

// Max over k x k windows, like torch.nn.MaxPool2d (no padding, dilation 1, floor mode). The
// position of each maximum is kept for backward; ties go to the first maximum in row-major
// window order and a NaN wins, as in PyTorch's CPU kernel.
class MaxPool2d final : public Layer {
 public:
  explicit MaxPool2d(std::size_t kernel) : MaxPool2d(kernel, kernel) {}  // stride = kernel
  MaxPool2d(std::size_t kernel, std::size_t stride);

  std::string kind() const override { return "maxpool"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

 private:
  std::size_t k_, stride_;
  std::vector<std::uint32_t> argmax_;  // index into the input plane of each output
  ShapeCache shapes_;
};

// Mean over k x k windows, like torch.nn.AvgPool2d (no padding, floor mode).
class AvgPool2d final : public Layer {
 public:
  explicit AvgPool2d(std::size_t kernel) : AvgPool2d(kernel, kernel) {}  // stride = kernel
  AvgPool2d(std::size_t kernel, std::size_t stride);

  std::string kind() const override { return "avgpool"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

 private:
  std::size_t k_, stride_;
  ShapeCache shapes_;
};

// max(x, 0); the derivative at 0 is taken as 0, as in PyTorch (threshold_backward).
class ReLU final : public Layer {
 public:
  std::string kind() const override { return "relu"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

 private:
  Tensor output_;
};

class Tanh final : public Layer {
 public:
  std::string kind() const override { return "tanh"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

 private:
  Tensor output_;
};

// Batch normalisation over the first sample dimension: features of (N, F) like
// torch.nn.BatchNorm1d, channels of (N, C, H, W) like torch.nn.BatchNorm2d. Train mode
// normalises with the batch mean and biased variance and updates the running statistics as
// running = (1 - momentum) running + momentum batch, with the unbiased variance (PyTorch docs,
// BatchNorm2d); eval mode normalises with the running statistics. gamma = 1, beta = 0 at start;
// running mean 0 and variance 1.
class BatchNorm final : public Layer {
 public:
  explicit BatchNorm(std::size_t num_features, double eps = 1e-5, double momentum = 0.1);

  std::string kind() const override { return "batchnorm"; }
  Shape output_shape(const Shape& in) const override;
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;
  std::span<Parameter> parameters() override { return params_; }
  void initialize(RngStream& rng) override;
  // running_mean, running_var.
  std::span<Tensor> buffers() override { return buffers_; }

  std::size_t num_features() const { return features_; }

 private:
  std::size_t features_;
  double eps_, momentum_;
  std::array<Parameter, 2> params_;  // gamma, beta
  std::array<Tensor, 2> buffers_;    // running_mean, running_var
  Mode last_mode_ = Mode::eval;
  Tensor xhat_;                 // normalised input of the last forward pass
  std::vector<float> inv_std_;  // per feature, of the statistics used last
  ShapeCache shapes_;
};

// Inverted dropout like torch.nn.Dropout: in train mode each element is kept with probability
// 1 - p and scaled by 1 / (1 - p), one uniform from pass.rng per element (in row-major order);
// identity in eval mode (and for p = 0, which draws nothing).
class Dropout final : public Layer {
 public:
  explicit Dropout(double p);

  std::string kind() const override { return "dropout"; }
  Shape output_shape(const Shape& in) const override { return in; }
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

  double p() const { return p_; }

 private:
  double p_;
  bool masked_ = false;      // the last forward pass applied a mask
  std::vector<float> mask_;  // 0 or 1 / (1 - p)
};

// (N, d1, d2, ...) -> (N, d1 d2 ...), like torch.nn.Flatten.
class Flatten final : public Layer {
 public:
  std::string kind() const override { return "flatten"; }
  Shape output_shape(const Shape& in) const override { return {shape_size(in)}; }
  void forward(const Tensor& in, Tensor& out, const Pass& pass) override;
  void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) override;

 private:
  Shape in_shape_;
};

}  // namespace memcarlo::training
