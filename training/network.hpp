// A feed-forward network as a sequence of layers grouped into blocks, and the learning rules
// that decide what gradient reaches each block. A block starts at a linear layer (dense or
// conv2d) and holds the layers up to the next one (activation, pooling, batch norm, dropout):
// direct feedback alignment feeds each hidden block's output with B_l e, backprop with the
// gradient from the block above (Nøkland, NeurIPS 2016; DESIGN.md §5).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "training/layer.hpp"

namespace memcarlo::training {

// How a block learns. backprop: its output gradient comes from the block above through the
// true weights. dfa: from the feedback matrix, B_l e. frozen: its parameters do not change (it
// still passes gradients down when a block below learns by backprop).
enum class BlockRule { backprop, dfa, frozen };
BlockRule parse_block_rule(const std::string& name);  // "bp"/"backprop", "dfa", "frozen"
std::string block_rule_name(BlockRule rule);

// Where the random feedback matrices come from. Gaussian now; the device-generated source (a
// PCM array programmed by identical partial-SET pulses) implements the same interface.
class FeedbackSource {
 public:
  virtual ~FeedbackSource() = default;
  virtual std::string name() const = 0;
  // A rows x cols matrix (row-major) drawn from rng.
  virtual Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const = 0;
};

// Entries i.i.d. N(0, 1); the network scales each block's rows by 1/sqrt(rows of the block),
// so that B_l e is as large as the backprop gradient of a layer initialised by PyTorch's rule.
class GaussianFeedback final : public FeedbackSource {
 public:
  std::string name() const override { return "gaussian"; }
  Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const override;
};

// per_layer: one matrix B_l per hidden block, each drawn on its own substream. merged: one
// matrix stacking every B_l (convolution blocks included), drawn at once and used by a single
// product B e that gives every block its error, as one in-memory array would.
enum class FeedbackLayout { per_layer, merged };
FeedbackLayout parse_feedback_layout(const std::string& name);

class Network {
 public:
  // Checks that the layers chain from `input` (one sample's shape) to `classes` logits; errors
  // name the layer index, its kind and the shapes.
  Network(std::vector<LayerPtr> layers, Shape input, std::size_t classes);

  const Shape& input_shape() const { return input_; }
  std::size_t classes() const { return classes_; }
  std::size_t layers() const { return layers_.size(); }
  Layer& layer(std::size_t i) { return *layers_[i]; }
  // Replaces layer i by wrap(the layer): how analog/ moves a dense or conv2d layer onto a
  // device array. The replacement must keep the kind, whether it is linear, and the output
  // shape; errors name the layer.
  void replace_layer(std::size_t i, const std::function<LayerPtr(LayerPtr)>& wrap);
  std::size_t blocks() const { return block_start_.size(); }
  // Elements of one sample at the output of block b (the rows of its feedback matrix).
  std::size_t block_output_size(std::size_t b) const;
  std::vector<Parameter*> parameters();
  std::vector<Parameter*> block_parameters(std::size_t b);
  std::size_t parameter_count();

  void initialize(RngStream& rng);

  // Runs the batch through every layer; returns the logits (N, classes).
  const Tensor& forward(const Tensor& x, const Pass& pass);

  // Sets the rule of each block (size blocks()). The last block always receives the loss
  // gradient itself; a dfa rule there is the same as backprop. Discards the feedback matrices.
  void set_rules(std::vector<BlockRule> rules);
  const std::vector<BlockRule>& rules() const { return rules_; }
  // Draws the feedback matrices for the dfa blocks of the current rules (needed iff some hidden
  // block is dfa).
  void set_feedback(const FeedbackSource& source, FeedbackLayout layout, RngStream& rng);

  // B_b as used (scaled), (block_output_size(b), classes); empty unless block b is dfa.
  Tensor feedback_matrix(std::size_t b) const;

  // From dL/d(logits) of the last forward pass (whose Pass is `pass`), writes the gradients of
  // every parameter of the blocks that learn (frozen blocks' gradients are left stale and must
  // not be applied).
  void backward(const Tensor& grad_logits, const Pass& pass);

 private:
  std::vector<LayerPtr> layers_;
  Shape input_;
  std::size_t classes_;
  std::vector<std::size_t> block_start_;  // index of each block's first (linear) layer
  std::vector<Shape> shapes_;             // shapes_[i]: one sample's input to layer i; back: logits
  std::vector<Tensor> acts_;              // acts_[i]: output of layer i (last forward pass)
  std::vector<Tensor> grads_;             // scratch: gradient at each layer's input
  std::vector<BlockRule> rules_;
  std::vector<bool> needs_input_grad_;    // per block: a block below needs its input gradient
  // Feedback: rows of every dfa block stacked, (sum rows) x classes; offset of each block.
  FeedbackLayout layout_ = FeedbackLayout::per_layer;
  Tensor feedback_;
  std::vector<std::size_t> feedback_offset_;
  Tensor feedback_out_;  // (N, sum rows): B e for every block at once (merged layout)
  std::vector<Tensor> block_grad_;  // (N, block output) for dfa blocks
};

}  // namespace memcarlo::training
