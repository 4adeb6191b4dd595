// The layer interface of the training engine. A network is a sequence of layers; each keeps
// what its backward pass needs from the last forward pass, so a layer object belongs to one
// replica (one thread) and is never shared. Learning rules (backprop, DFA) decide what gradient
// reaches each layer's output; the layers only differentiate themselves.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/rng.hpp"
#include "training/tensor.hpp"

namespace memcarlo::training {

enum class Mode { train, eval };

// What a pass needs besides its input: train or eval (dropout, batch norm), the replica's random
// stream for the pass (dropout masks; may be null in eval mode), and for layers on simulated
// hardware (analog/) a pass id and the simulated time. `id` names the pass within a replica
// (the trainer uses the training step, and kEvalPass | n for the n-th evaluation batch), so a
// layer can key its own random streams by it: the same pass draws the same noise whatever else
// ran before. The backward pass gets the pass of its forward pass.
struct Pass {
  Mode mode = Mode::eval;
  RngStream* rng = nullptr;
  std::uint64_t id = 0;
  double time_s = 0;  // simulated time since the run began (0 when nothing simulates time)
};

// The high bit marks evaluation passes, so their ids never meet a training step's.
inline constexpr std::uint64_t kEvalPass = std::uint64_t{1} << 63;

// A trainable tensor and its gradient (same shape). `decay`: weight decay applies (weights yes,
// biases and batch-norm affine parameters no, as is usual).
struct Parameter {
  std::string name;  // "weight", "bias", "gamma", "beta"
  Tensor value, grad;
  bool decay = true;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // "dense", "conv2d", "maxpool", "avgpool", "relu", "tanh", "batchnorm", "dropout", "flatten".
  virtual std::string kind() const = 0;
  // True for the layers whose weights a learning rule trains (dense, conv2d): they start the
  // blocks that direct feedback alignment feeds.
  virtual bool is_linear() const { return false; }

  // Shape of one output sample for one input sample (no batch dimension). Throws InputError
  // naming the layer and both shapes when the input does not fit (e.g. a dense layer built for
  // 400 inputs given 256).
  virtual Shape output_shape(const Shape& in) const = 0;

  // in: (N, in_shape...) -> out: (N, output_shape...). out is resized by the layer.
  virtual void forward(const Tensor& in, Tensor& out, const Pass& pass) = 0;

  // grad_out = dL/d(out) of the last forward pass, whose Pass is `pass`. Writes (overwrites)
  // every parameter's grad and, if grad_in is not null, dL/d(in) resized to the input's shape.
  // Skipping grad_in saves the work for the first layer and for blocks trained by DFA.
  virtual void backward(const Tensor& grad_out, Tensor* grad_in, const Pass& pass) = 0;

  virtual std::span<Parameter> parameters() { return {}; }

  // Draws initial parameters from rng (PyTorch's defaults: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
  // for weights and biases of dense and conv layers; gamma = 1, beta = 0 for batch norm).
  virtual void initialize(RngStream& /*rng*/) {}

  // Non-trainable state that evaluation depends on (batch-norm running mean and variance):
  // saved with the weights, not updated by the optimizer.
  virtual std::span<Tensor> buffers() { return {}; }
};

using LayerPtr = std::unique_ptr<Layer>;

}  // namespace memcarlo::training
