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
#include "training/state.hpp"

namespace memcarlo::training {

// How a block learns. backprop: its output gradient comes from the block above through the
// true weights. dfa: from the feedback matrix, B_l e. frozen: its parameters do not change (it
// still passes gradients down when a block below learns by backprop).
enum class BlockRule { backprop, dfa, frozen };
BlockRule parse_block_rule(const std::string& name);  // "bp"/"backprop", "dfa", "frozen"
std::string block_rule_name(BlockRule rule);

// How the one-product layouts (merged, shared) compute B e: digitally when the source gives no
// readout, or through hardware (analog/pcm_feedback.hpp: a DAC on e, the array's cells with
// their read noise, an ADC on every output), as in-memory error computing.
class FeedbackReadout {
 public:
  virtual ~FeedbackReadout() = default;
  // out (N, rows) = e (N, classes) times the array's transpose; `array` is the array as
  // programmed (rows x classes, the source's entries before any block's scale); `pass` keys
  // the noise of this read.
  virtual void product(const Tensor& e, const Tensor& array, Tensor& out, const Pass& pass) = 0;
  // Outputs digitised so far, and how many of them the ADC clipped.
  virtual std::uint64_t outputs() const = 0;
  virtual std::uint64_t saturated() const = 0;
  // Its counters under "feedback_readout/..." for a checkpoint, and back.
  virtual void save_state(StateArchive& archive) const = 0;
  virtual void restore_state(const StateArchive& archive) = 0;
};

// A feedback array whose cells change with time (conductance drift, its compensation,
// refresh: analog/feedback_drift.hpp). The network asks it for the entries at the simulated
// time of every training step (Pass::time_s).
class FeedbackDrift {
 public:
  virtual ~FeedbackDrift() = default;
  // Rewrites `entries` (rows x classes, as the source scales them, before any block's scale) as
  // the periphery reads the array at time t_s; returns false when they did not change.
  virtual bool update(double t_s, Tensor& entries) = 0;
  // For the results file: the protocol, how often the array was evaluated and refreshed, the
  // time of the last evaluation, and the mean |entry| then over the mean |entry| as programmed.
  struct Stats {
    std::string compensation;
    std::uint64_t evaluations = 0, refreshes = 0;
    double last_time_s = 0, signal = 1;
  };
  virtual Stats stats() const = 0;
};

// A programmed feedback array: its entries, the readout when hardware computes its product,
// and its drift when its cells drift.
struct FeedbackArray {
  Tensor entries;
  std::unique_ptr<FeedbackReadout> readout;  // null: the digital product
  std::unique_ptr<FeedbackDrift> drift;      // null: the entries stay as programmed
};

// Where the random feedback matrices come from: `gaussian` here, `pcm` (an array of PCM cells
// programmed by identical partial-SET pulses, analog/pcm_feedback.hpp) through the same
// interface. Every source gives entries of mean 0 and variance 1; the network scales them.
class FeedbackSource {
 public:
  virtual ~FeedbackSource() = default;
  virtual std::string name() const = 0;
  // A rows x cols matrix (row-major), one array, drawn from rng.
  virtual Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const = 0;
  // The one array of a merged or shared layout: generate()'s entries from the same draws of
  // rng, and the readout of a source that computes the product in hardware.
  virtual FeedbackArray program(std::size_t rows, std::size_t cols, RngStream& rng) const {
    return {generate(rows, cols, rng), nullptr, nullptr};
  }
  // Whether the source only works as one array (program(): a hardware readout or drifting
  // cells), so that the per_layer layout, which draws a matrix per block by generate(), would
  // silently lose what it models.
  virtual bool needs_one_array() const { return false; }
  // Physical devices behind one entry (a differential pair: 2).
  virtual std::size_t devices_per_entry() const { return 1; }
  // The source's settings as TOML tables, echoed into the results file ("" for none).
  virtual std::string config_toml() const { return ""; }
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
// product B e that gives every block its error, as one in-memory array would. shared: the
// reduced-hardware array of Lu et al. (IEDM 2020): one matrix of d_max rows (the largest dfa
// block) x classes, of which block l reads its first d_l rows scaled by sqrt(d_max / d_l) (the
// form of the public DFA code of Launay et al., arXiv:1906.04554, 2019), again in one product.
enum class FeedbackLayout { per_layer, merged, shared };
FeedbackLayout parse_feedback_layout(const std::string& name);
std::string feedback_layout_name(FeedbackLayout layout);

// What set_feedback drew: the array(s) as generated by the source (before the network's
// per-block scaling), for the results file.
struct FeedbackStats {
  std::string source;  // FeedbackSource::name()
  std::string layout;  // per_layer, merged, shared
  std::size_t rows = 0, cols = 0;  // array size in entries (per_layer: every B_l stacked)
  std::size_t cells = 0;           // devices: entries x the source's devices_per_entry
  std::string readout = "digital";  // digital, or in_memory (a FeedbackReadout computes B e)
  std::uint64_t adc_outputs = 0, adc_saturated = 0;  // in_memory: the readout's counts
  bool drifts = false;  // the array drifts (then `drift` holds what it did)
  FeedbackDrift::Stats drift;
  double mean = 0, std = 0, skewness = 0, excess_kurtosis = 0, min = 0, max = 0;
  std::vector<double> histogram_edges;        // kHistogramBins + 1 equal bins from min to max
  std::vector<std::int64_t> histogram_counts;  // kHistogramBins
  static constexpr std::size_t kHistogramBins = 64;
};

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
  // The distribution of the last set_feedback's entries (source empty when none was drawn),
  // with the readout's counts so far.
  FeedbackStats feedback_stats() const;
  // Whether the feedback array changes with time (its state is then more than its entries).
  bool feedback_drifts() const { return drift_ != nullptr; }
  // The state of the feedback readout (its counts) for a checkpoint, and back; nothing without
  // a readout. The entries themselves are redrawn from the replica's stream on resume.
  void save_feedback_state(StateArchive& archive) const;
  void restore_feedback_state(const StateArchive& archive);

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
  // Feedback: rows of every dfa block stacked, (sum rows) x classes, with the offset of each
  // block; shared: (d_max x classes), every offset 0, block b's scale folded into
  // feedback_scale_[b] (applied to B e) so that the array itself stays as programmed.
  FeedbackLayout layout_ = FeedbackLayout::per_layer;
  Tensor feedback_;
  std::vector<std::size_t> feedback_offset_;
  std::vector<float> feedback_scale_;
  bool scale_on_use_ = false;  // shared, a readout or drift: feedback_ holds the array as read
  std::unique_ptr<FeedbackReadout> readout_;
  std::unique_ptr<FeedbackDrift> drift_;
  FeedbackStats feedback_stats_;
  Tensor feedback_out_;  // (N, array rows): B e for every block at once (merged, shared)
  std::vector<Tensor> block_grad_;  // (N, block output) for dfa blocks
};

}  // namespace memcarlo::training
