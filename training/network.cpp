#include "training/network.hpp"

#include <algorithm>
#include <cmath>
#include <span>

#include <fmt/format.h>

#include "core/distributions.hpp"
#include "training/gemm.hpp"

namespace memcarlo::training {

BlockRule parse_block_rule(const std::string& name) {
  if (name == "bp" || name == "backprop") return BlockRule::backprop;
  if (name == "dfa") return BlockRule::dfa;
  if (name == "frozen") return BlockRule::frozen;
  throw InputError(fmt::format("unknown block rule '{}': use bp, dfa or frozen", name));
}

std::string block_rule_name(BlockRule rule) {
  switch (rule) {
    case BlockRule::backprop: return "bp";
    case BlockRule::dfa: return "dfa";
    case BlockRule::frozen: return "frozen";
  }
  return "?";
}

FeedbackLayout parse_feedback_layout(const std::string& name) {
  if (name == "per_layer" || name == "per-layer") return FeedbackLayout::per_layer;
  if (name == "merged") return FeedbackLayout::merged;
  if (name == "shared") return FeedbackLayout::shared;
  throw InputError(fmt::format("unknown feedback layout '{}': use per_layer, merged or shared", name));
}

std::string feedback_layout_name(FeedbackLayout layout) {
  switch (layout) {
    case FeedbackLayout::per_layer: return "per_layer";
    case FeedbackLayout::merged: return "merged";
    case FeedbackLayout::shared: return "shared";
  }
  return "?";
}

namespace {

// Moments, extremes and an equal-width histogram of the entries.
void describe_entries(std::span<const float> v, FeedbackStats& s) {
  const double n = static_cast<double>(v.size());
  double sum = 0;
  s.min = v.empty() ? 0.0 : v[0];
  s.max = s.min;
  for (float x : v) {
    sum += x;
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
  }
  s.mean = sum / n;
  double m2 = 0, m3 = 0, m4 = 0;
  for (float x : v) {
    const double d = x - s.mean, d2 = d * d;
    m2 += d2;
    m3 += d2 * d;
    m4 += d2 * d2;
  }
  m2 /= n;
  m3 /= n;
  m4 /= n;
  s.std = std::sqrt(m2);
  s.skewness = m2 > 0 ? m3 / (m2 * s.std) : 0.0;
  s.excess_kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;
  constexpr std::size_t K = FeedbackStats::kHistogramBins;
  const double width = (s.max - s.min) / static_cast<double>(K);
  s.histogram_edges.resize(K + 1);
  for (std::size_t k = 0; k <= K; ++k) s.histogram_edges[k] = s.min + width * static_cast<double>(k);
  s.histogram_edges[K] = s.max;
  s.histogram_counts.assign(K, 0);
  for (float x : v) {
    const double k = width > 0 ? std::floor((x - s.min) / width) : 0.0;
    ++s.histogram_counts[std::min(K - 1, static_cast<std::size_t>(std::max(0.0, k)))];
  }
}

}  // namespace

Tensor GaussianFeedback::generate(std::size_t rows, std::size_t cols, RngStream& rng) const {
  Tensor B({rows, cols});
  for (float& v : B.data) v = static_cast<float>(NormalDistribution::standard(rng));
  return B;
}

Network::Network(std::vector<LayerPtr> layers, Shape input, std::size_t classes)
    : layers_(std::move(layers)), input_(std::move(input)), classes_(classes) {
  MC_VALIDATE(!layers_.empty(), "a network needs at least one layer");
  shapes_.push_back(input_);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    try {
      shapes_.push_back(layers_[i]->output_shape(shapes_.back()));
    } catch (const InputError& e) {
      throw InputError(fmt::format("layer {} ({}): {}", i + 1, layers_[i]->kind(), e.what()));
    }
    if (layers_[i]->is_linear()) block_start_.push_back(i);
  }
  MC_VALIDATE(!block_start_.empty(), "the network has no dense or conv2d layer to train");
  MC_VALIDATE(shapes_.back() == Shape{classes_},
              "the network ends in shape {}, but the data set has {} classes: the last layer "
              "must give {} logits",
              shape_string(shapes_.back()), classes_, classes_);
  acts_.resize(layers_.size());
  grads_.resize(layers_.size());
  rules_.assign(blocks(), BlockRule::backprop);
  set_rules(rules_);
}

void Network::replace_layer(std::size_t i, const std::function<LayerPtr(LayerPtr)>& wrap) {
  MC_VALIDATE(i < layers_.size(), "layer {} does not exist (the network has {})", i + 1,
              layers_.size());
  const std::string kind = layers_[i]->kind();
  const bool linear = layers_[i]->is_linear();
  LayerPtr replacement = wrap(std::move(layers_[i]));
  MC_VALIDATE(replacement && replacement->kind() == kind && replacement->is_linear() == linear &&
                  replacement->output_shape(shapes_[i]) == shapes_[i + 1],
              "layer {} ({}): its replacement must keep the kind and the output shape {}", i + 1,
              kind, shape_string(shapes_[i + 1]));
  layers_[i] = std::move(replacement);
}

std::size_t Network::block_output_size(std::size_t b) const {
  const std::size_t end = b + 1 < blocks() ? block_start_[b + 1] : layers_.size();
  return shape_size(shapes_[end]);
}

std::vector<Parameter*> Network::parameters() {
  std::vector<Parameter*> out;
  for (auto& l : layers_)
    for (auto& p : l->parameters()) out.push_back(&p);
  return out;
}

std::vector<Parameter*> Network::block_parameters(std::size_t b) {
  std::vector<Parameter*> out;
  const std::size_t end = b + 1 < blocks() ? block_start_[b + 1] : layers_.size();
  for (std::size_t i = block_start_[b]; i < end; ++i)
    for (auto& p : layers_[i]->parameters()) out.push_back(&p);
  return out;
}

std::size_t Network::parameter_count() {
  std::size_t n = 0;
  for (auto* p : parameters()) n += p->value.size();
  return n;
}

void Network::initialize(RngStream& rng) {
  for (auto& l : layers_) l->initialize(rng);
}

const Tensor& Network::forward(const Tensor& x, const Pass& pass) {
  Shape expected = input_;
  expected.insert(expected.begin(), x.batch());
  MC_VALIDATE(x.shape == expected, "network input has shape {}, expected {}",
              shape_string(x.shape), shape_string(expected));
  const Tensor* in = &x;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->forward(*in, acts_[i], pass);
    in = &acts_[i];
  }
  return acts_.back();
}

void Network::set_rules(std::vector<BlockRule> rules) {
  MC_VALIDATE(rules.size() == blocks(), "{} block rules given for a network of {} blocks",
              rules.size(), blocks());
  rules_ = std::move(rules);
  feedback_ = Tensor();  // drawn for the old rules: set_feedback again
  // Block b must produce the gradient at its input when the nearest learning block below it
  // takes its output gradient from above (backprop); frozen blocks in between pass it on, and
  // a frozen stack over dfa blocks does no work at all.
  needs_input_grad_.assign(blocks(), false);
  for (std::size_t b = 1; b < blocks(); ++b) {
    bool chain = false;  // the nearest non-frozen block below is backprop
    for (std::size_t a = b; a-- > 0;) {
      if (rules_[a] == BlockRule::frozen) continue;
      chain = rules_[a] == BlockRule::backprop;
      break;
    }
    needs_input_grad_[b] = chain;
  }
}

void Network::set_feedback(const FeedbackSource& source, FeedbackLayout layout, RngStream& rng) {
  layout_ = layout;
  feedback_offset_.assign(blocks(), 0);
  feedback_scale_.assign(blocks(), 0.0f);
  feedback_stats_ = FeedbackStats();
  readout_.reset();
  drift_.reset();
  scale_on_use_ = false;
  std::size_t rows = 0, d_max = 0;
  for (std::size_t b = 0; b + 1 < blocks(); ++b) {
    if (rules_[b] != BlockRule::dfa) continue;
    feedback_offset_[b] = layout == FeedbackLayout::shared ? 0 : rows;
    rows += block_output_size(b);
    d_max = std::max(d_max, block_output_size(b));
    // B_l has entries of variance 1 / d_l, so that B_l e is as large as the backprop gradient of
    // a layer initialised by PyTorch's rule. Shared: the array is normalised by 1/sqrt(d_max)
    // and block l's slice scaled by sqrt(d_max / d_l), the same 1/sqrt(d_l) in all.
    feedback_scale_[b] = 1.0f / std::sqrt(static_cast<float>(block_output_size(b)));
  }
  if (rows == 0) {
    feedback_ = Tensor();
    return;
  }
  MC_VALIDATE(layout != FeedbackLayout::per_layer || !source.needs_one_array(),
              "the {} feedback source computes B e in one array (in-memory readout or drift), but "
              "the per_layer layout draws a matrix per block: use merged or shared",
              source.name());
  if (layout != FeedbackLayout::per_layer) {
    FeedbackArray array =
        source.program(layout == FeedbackLayout::shared ? d_max : rows, classes_, rng);
    feedback_ = std::move(array.entries);
    readout_ = std::move(array.readout);
    drift_ = std::move(array.drift);
  } else {
    // One matrix per block from its own substream of the caller's stream, so a block's B does
    // not change when another block's rule does.
    feedback_ = Tensor({rows, classes_});
    const std::uint64_t key = rng.next_u64();
    for (std::size_t b = 0; b + 1 < blocks(); ++b) {
      if (rules_[b] != BlockRule::dfa) continue;
      RngStream block_rng(key, b, stream_id("feedback"));
      const Tensor B = source.generate(block_output_size(b), classes_, block_rng);
      std::copy(B.data.begin(), B.data.end(),
                feedback_.data.begin() + static_cast<std::ptrdiff_t>(feedback_offset_[b] * classes_));
    }
  }
  MC_VALIDATE(feedback_.shape == Shape({layout == FeedbackLayout::shared ? d_max : rows, classes_}),
              "feedback source {} returned a matrix of shape {}", source.name(),
              shape_string(feedback_.shape));
  feedback_stats_.source = source.name();
  feedback_stats_.layout = feedback_layout_name(layout);
  feedback_stats_.rows = feedback_.shape[0];
  feedback_stats_.cols = classes_;
  feedback_stats_.cells = feedback_.size() * source.devices_per_entry();
  describe_entries(feedback_.data, feedback_stats_);
  if (readout_) feedback_stats_.readout = "in_memory";
  feedback_stats_.drifts = drift_ != nullptr;
  // Shared: scaled on use, the slices overlap; a readout reads the array as programmed, and a
  // drifting array rewrites it.
  scale_on_use_ = layout == FeedbackLayout::shared || readout_ != nullptr || drift_ != nullptr;
  if (scale_on_use_) return;
  for (std::size_t b = 0; b + 1 < blocks(); ++b) {
    if (rules_[b] != BlockRule::dfa) continue;
    float* row = feedback_.ptr() + feedback_offset_[b] * classes_;
    for (std::size_t k = 0; k < block_output_size(b) * classes_; ++k) row[k] *= feedback_scale_[b];
  }
}

Tensor Network::feedback_matrix(std::size_t b) const {
  MC_VALIDATE(b < blocks(), "block {} does not exist (the network has {})", b, blocks());
  if (feedback_.size() == 0 || b + 1 == blocks() || rules_[b] != BlockRule::dfa) return Tensor();
  Tensor B({block_output_size(b), classes_});
  const float* from = feedback_.ptr() + feedback_offset_[b] * classes_;
  std::copy(from, from + B.size(), B.ptr());
  if (scale_on_use_)
    for (float& v : B.data) v *= feedback_scale_[b];
  return B;
}

void Network::save_feedback_state(StateArchive& archive) const {
  if (readout_) readout_->save_state(archive);
}

void Network::restore_feedback_state(const StateArchive& archive) {
  if (readout_) readout_->restore_state(archive);
}

FeedbackStats Network::feedback_stats() const {
  FeedbackStats stats = feedback_stats_;
  if (readout_) {
    stats.adc_outputs = readout_->outputs();
    stats.adc_saturated = readout_->saturated();
  }
  if (drift_) stats.drift = drift_->stats();
  return stats;
}

void Network::backward(const Tensor& grad_logits, const Pass& pass) {
  const std::size_t N = grad_logits.batch();
  const std::size_t C = classes_;
  block_grad_.resize(blocks());
  // Direct feedback: B_l e for every dfa block, e = dL/d(logits), (N, rows_l) = e B_l^T.
  if (feedback_.size() > 0) {
    if (drift_) drift_->update(pass.time_s, feedback_);
    const std::size_t R = feedback_.shape[0];
    const bool one_product = layout_ != FeedbackLayout::per_layer;
    if (one_product && readout_) {
      feedback_out_.resize({N, R});
      readout_->product(grad_logits, feedback_, feedback_out_, pass);
    } else if (one_product) {
      feedback_out_.resize({N, R});
      sgemm(Trans::no, Trans::yes, static_cast<int>(N), static_cast<int>(R), static_cast<int>(C),
            1.0f, grad_logits.ptr(), static_cast<int>(C), feedback_.ptr(), static_cast<int>(C),
            0.0f, feedback_out_.ptr(), static_cast<int>(R));
    }
    for (std::size_t b = 0; b + 1 < blocks(); ++b) {
      if (rules_[b] != BlockRule::dfa) continue;
      const std::size_t rows = block_output_size(b);
      Shape s = shapes_[block_start_[b + 1]];
      s.insert(s.begin(), N);
      block_grad_[b].resize(s);
      if (layout_ == FeedbackLayout::merged && !scale_on_use_) {
        for (std::size_t n = 0; n < N; ++n)
          std::copy_n(feedback_out_.ptr() + n * R + feedback_offset_[b], rows,
                      block_grad_[b].ptr() + n * rows);
      } else if (one_product) {
        const float scale = feedback_scale_[b];
        for (std::size_t n = 0; n < N; ++n) {
          const float* from = feedback_out_.ptr() + n * R + feedback_offset_[b];
          float* to = block_grad_[b].ptr() + n * rows;
          for (std::size_t k = 0; k < rows; ++k) to[k] = scale * from[k];
        }
      } else {
        sgemm(Trans::no, Trans::yes, static_cast<int>(N), static_cast<int>(rows),
              static_cast<int>(C), 1.0f, grad_logits.ptr(), static_cast<int>(C),
              feedback_.ptr() + feedback_offset_[b] * C, static_cast<int>(C), 0.0f,
              block_grad_[b].ptr(), static_cast<int>(rows));
      }
    }
  }
  for (std::size_t b = blocks(); b-- > 0;) {
    const bool last = b + 1 == blocks();
    if (rules_[b] == BlockRule::frozen && !needs_input_grad_[b]) continue;
    const std::size_t lo = block_start_[b];
    const std::size_t hi = last ? layers_.size() : block_start_[b + 1];
    const Tensor* g = last                              ? &grad_logits
                      : rules_[b] == BlockRule::dfa     ? &block_grad_[b]
                                                        : &grads_[hi];
    for (std::size_t i = hi; i-- > lo;) {
      const bool want_input = i > lo || needs_input_grad_[b];
      layers_[i]->backward(*g, want_input ? &grads_[i] : nullptr, pass);
      g = &grads_[i];
    }
  }
}

}  // namespace memcarlo::training
