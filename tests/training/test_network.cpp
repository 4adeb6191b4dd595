// Network-level tests: backprop through a whole network against finite differences, the DFA
// and hybrid rules against their closed forms (computed here independently, in double), and
// model descriptions (shapes, parameter counts, errors).
#include <doctest/doctest.h>

#include <cmath>

#include "core/rng.hpp"
#include "training/layers.hpp"
#include "training/model.hpp"
#include "training/network.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

namespace {

Tensor random_tensor(Shape shape, RngStream& rng, double scale = 1.0) {
  Tensor t(std::move(shape));
  for (float& v : t.data) v = static_cast<float>(scale * (2 * rng.uniform() - 1));
  return t;
}

// L = sum_ij c_ij logits_ij, so dL/dlogits = c: a loss whose gradient is known exactly.
double weighted_sum(const Tensor& logits, const Tensor& c) {
  double s = 0;
  for (std::size_t i = 0; i < logits.size(); ++i) s += double(logits.data[i]) * c.data[i];
  return s;
}

Network mlp(std::size_t in, std::vector<std::size_t> hidden, std::size_t classes) {
  std::vector<LayerPtr> layers;
  std::size_t width = in;
  for (auto h : hidden) {
    layers.push_back(std::make_unique<Dense>(width, h));
    layers.push_back(std::make_unique<Tanh>());
    width = h;
  }
  layers.push_back(std::make_unique<Dense>(width, classes));
  return Network(std::move(layers), {in}, classes);
}

// The gradients of every parameter, in network order, copied out.
std::vector<std::vector<float>> gradients(Network& net) {
  std::vector<std::vector<float>> g;
  for (auto* p : net.parameters()) g.push_back(p->grad.data);
  return g;
}

void copy_parameters(Network& from, Network& to) {
  auto a = from.parameters(), b = to.parameters();
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) b[i]->value.data = a[i]->value.data;
}

// Independent double-precision forward pass of an MLP built by mlp(): the post-activation of
// every hidden layer and the logits, per sample.
struct MlpForward {
  std::vector<std::vector<std::vector<double>>> h;  // [layer][sample][unit], h[0] = input
};
MlpForward mlp_forward(Network& net, const Tensor& x) {
  MlpForward f;
  const std::size_t N = x.batch();
  std::vector<std::vector<double>> cur(N);
  for (std::size_t n = 0; n < N; ++n)
    cur[n].assign(x.data.begin() + n * x.sample_size(), x.data.begin() + (n + 1) * x.sample_size());
  f.h.push_back(cur);
  for (std::size_t i = 0; i < net.layers(); ++i) {
    auto& layer = net.layer(i);
    if (layer.kind() == "dense") {
      auto params = layer.parameters();
      const Tensor& W = params[0].value;
      const Tensor& b = params[1].value;
      const std::size_t out = W.shape[0], in = W.shape[1];
      for (auto& v : cur) {
        std::vector<double> y(out);
        for (std::size_t o = 0; o < out; ++o) {
          double s = b.data[o];
          for (std::size_t k = 0; k < in; ++k) s += double(W.data[o * in + k]) * v[k];
          y[o] = s;
        }
        v = y;
      }
    } else {
      for (auto& v : cur)
        for (auto& e : v) e = std::tanh(e);
    }
    if (layer.kind() == "tanh" || i + 1 == net.layers()) f.h.push_back(cur);
  }
  return f;
}

// dL/dW and dL/db of dense layer `l` (0-based among dense layers) for output deltas delta[n]
// and inputs f.h[l][n].
std::pair<std::vector<double>, std::vector<double>> dense_grads(
    const MlpForward& f, std::size_t l, const std::vector<std::vector<double>>& delta) {
  const std::size_t out = delta[0].size(), in = f.h[l][0].size();
  std::vector<double> dW(out * in, 0.0), db(out, 0.0);
  for (std::size_t n = 0; n < delta.size(); ++n)
    for (std::size_t o = 0; o < out; ++o) {
      db[o] += delta[n][o];
      for (std::size_t k = 0; k < in; ++k) dW[o * in + k] += delta[n][o] * f.h[l][n][k];
    }
  return {dW, db};
}

void check_close(const std::vector<float>& got, const std::vector<double>& want, double tol) {
  REQUIRE(got.size() == want.size());
  double scale = 0;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (std::size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= tol * scale);
}

}  // namespace

TEST_CASE("backprop through a conv network agrees with central finite differences") {
  std::vector<LayerPtr> layers;
  layers.push_back(std::make_unique<Conv2d>(2, 3, 3, 1, 1));
  layers.push_back(std::make_unique<Tanh>());
  layers.push_back(std::make_unique<AvgPool2d>(2, 2));
  layers.push_back(std::make_unique<Flatten>());
  layers.push_back(std::make_unique<Dense>(27, 5));
  layers.push_back(std::make_unique<Tanh>());
  layers.push_back(std::make_unique<Dense>(5, 4));
  Network net(std::move(layers), {2, 6, 6}, 4);
  RngStream rng(7, 0, stream_id("test"));
  net.initialize(rng);
  const Tensor x = random_tensor({3, 2, 6, 6}, rng);
  const Tensor c = random_tensor({3, 4}, rng);
  net.forward(x, Pass{Mode::train, nullptr});
  net.backward(c, Pass{Mode::train, nullptr});
  // Central differences in float32 with h = 1e-2: truncation O(h^2) and rounding O(eps/h)
  // both stay below 1e-3 relative to the largest gradient of the tensor.
  for (auto* p : net.parameters()) {
    double scale = 0;
    for (float g : p->grad.data) scale = std::max(scale, double(std::abs(g)));
    for (std::size_t k = 0; k < p->value.size(); k += 3) {
      const float saved = p->value.data[k];
      const float h = 1e-2f;
      p->value.data[k] = saved + h;
      const double up = weighted_sum(net.forward(x, Pass{}), c);
      p->value.data[k] = saved - h;
      const double down = weighted_sum(net.forward(x, Pass{}), c);
      p->value.data[k] = saved;
      const double fd = (up - down) / (2.0 * h);
      CHECK(std::abs(p->grad.data[k] - fd) <= 2e-3 * scale + 1e-5);
    }
  }
}

TEST_CASE("DFA gives each hidden layer (B_l e) * f'(a_l), per-layer, merged and shared feedback") {
  for (auto layout : {FeedbackLayout::per_layer, FeedbackLayout::merged, FeedbackLayout::shared}) {
    Network net = mlp(5, {7, 6}, 3);
    RngStream rng(11, 0, stream_id("test"));
    net.initialize(rng);
    net.set_rules({BlockRule::dfa, BlockRule::dfa, BlockRule::dfa});
    net.set_feedback(GaussianFeedback(), layout, rng);
    const Tensor x = random_tensor({4, 5}, rng);
    const Tensor e = random_tensor({4, 3}, rng);
    net.forward(x, Pass{Mode::train, nullptr});
    net.backward(e, Pass{Mode::train, nullptr});
    const MlpForward f = mlp_forward(net, x);
    const auto grads = gradients(net);
    for (std::size_t l = 0; l < 2; ++l) {
      const Tensor B = net.feedback_matrix(l);
      REQUIRE(B.shape == Shape{l == 0 ? 7u : 6u, 3u});
      std::vector<std::vector<double>> delta(4);
      for (std::size_t n = 0; n < 4; ++n)
        for (std::size_t r = 0; r < B.shape[0]; ++r) {
          double s = 0;
          for (std::size_t k = 0; k < 3; ++k) s += double(B.data[r * 3 + k]) * e.data[n * 3 + k];
          const double hr = f.h[l + 1][n][r];
          delta[n].push_back(s * (1 - hr * hr));
        }
      const auto [dW, db] = dense_grads(f, l, delta);
      check_close(grads[2 * l], dW, 1e-4);
      check_close(grads[2 * l + 1], db, 1e-4);
    }
    // The output layer learns from e itself.
    std::vector<std::vector<double>> delta(4);
    for (std::size_t n = 0; n < 4; ++n)
      for (std::size_t k = 0; k < 3; ++k) delta[n].push_back(e.data[n * 3 + k]);
    const auto [dW, db] = dense_grads(f, 2, delta);
    check_close(grads[4], dW, 1e-4);
    check_close(grads[5], db, 1e-4);
  }
}

TEST_CASE("feedback rows are scaled to unit variance over the block's outputs") {
  Network net = mlp(10, {400, 100}, 10);
  RngStream rng(3, 0, stream_id("test"));
  net.initialize(rng);
  net.set_rules({BlockRule::dfa, BlockRule::dfa, BlockRule::backprop});
  net.set_feedback(GaussianFeedback(), FeedbackLayout::merged, rng);
  for (std::size_t b = 0; b < 2; ++b) {
    const Tensor B = net.feedback_matrix(b);
    double ss = 0;
    for (float v : B.data) ss += double(v) * v;
    const double var = ss / static_cast<double>(B.size());
    const double want = 1.0 / static_cast<double>(B.shape[0]);
    // 4000 or 1000 N(0, want) draws: the sample variance has relative sd sqrt(2/n) <= 4.5 %;
    // 4 sd.
    CHECK(std::abs(var / want - 1) < 4 * std::sqrt(2.0 / static_cast<double>(B.size())));
  }
  CHECK(net.feedback_matrix(2).size() == 0);
}

// Records the matrices it generated, so the test can see the array the network was given.
class RecordingFeedback final : public FeedbackSource {
 public:
  std::string name() const override { return "recording"; }
  Tensor generate(std::size_t rows, std::size_t cols, RngStream& rng) const override {
    arrays.push_back(GaussianFeedback().generate(rows, cols, rng));
    return arrays.back();
  }
  std::size_t devices_per_entry() const override { return 2; }
  mutable std::vector<Tensor> arrays;
};

TEST_CASE("shared feedback: one array of the largest block's rows, block l reads its first d_l "
          "rows scaled by 1/sqrt(d_l)") {
  Network net = mlp(5, {7, 9, 4}, 3);
  RngStream rng(13, 0, stream_id("test"));
  net.initialize(rng);
  net.set_rules({BlockRule::dfa, BlockRule::dfa, BlockRule::dfa, BlockRule::backprop});
  RecordingFeedback source;
  net.set_feedback(source, FeedbackLayout::shared, rng);
  REQUIRE(source.arrays.size() == 1);
  const Tensor& A = source.arrays[0];
  REQUIRE(A.shape == Shape{9u, 3u});  // d_max = 9 rows, not 7 + 9 + 4
  for (std::size_t b = 0; b < 3; ++b) {
    const Tensor B = net.feedback_matrix(b);
    const std::size_t d = net.block_output_size(b);
    REQUIRE(B.shape == Shape{d, 3u});
    // sqrt(d_max / d_l) (Launay 2019) times the array's 1/sqrt(d_max): 1/sqrt(d_l).
    const float scale = 1.0f / std::sqrt(static_cast<float>(d));
    for (std::size_t k = 0; k < B.size(); ++k) CHECK(B.data[k] == A.data[k] * scale);
  }
  // The record: the array as generated, in entries and in devices (2 per entry here).
  const FeedbackStats& s = net.feedback_stats();
  CHECK(s.source == "recording");
  CHECK(s.layout == "shared");
  CHECK(s.rows == 9);
  CHECK(s.cols == 3);
  CHECK(s.cells == 54);
  double sum = 0;
  for (float v : A.data) sum += v;
  CHECK(s.mean == doctest::Approx(sum / 27.0).epsilon(1e-12));
  std::int64_t counted = 0;
  for (auto c : s.histogram_counts) counted += c;
  CHECK(counted == 27);
  CHECK(s.histogram_edges.front() == s.min);
  CHECK(s.histogram_edges.back() == s.max);
  // Merged holds every block's rows.
  net.set_feedback(source, FeedbackLayout::merged, rng);
  CHECK(net.feedback_stats().rows == 7 + 9 + 4);
  CHECK(net.feedback_stats().layout == "merged");
  CHECK(parse_feedback_layout("shared") == FeedbackLayout::shared);
  CHECK_THROWS_AS(parse_feedback_layout("stacked"), InputError);
}

TEST_CASE("hybrid rules: a backprop block under a DFA block gets the true gradient") {
  RngStream rng(5, 0, stream_id("test"));
  Network ref = mlp(6, {8, 7}, 4);
  ref.initialize(rng);
  const Tensor x = random_tensor({5, 6}, rng);
  const Tensor e = random_tensor({5, 4}, rng);
  ref.forward(x, Pass{Mode::train, nullptr});
  ref.backward(e, Pass{Mode::train, nullptr});
  const auto bp = gradients(ref);

  SUBCASE("dfa, bp, bp: blocks 1 and 2 as backprop") {
    Network net = mlp(6, {8, 7}, 4);
    copy_parameters(ref, net);
    net.set_rules({BlockRule::dfa, BlockRule::backprop, BlockRule::backprop});
    net.set_feedback(GaussianFeedback(), FeedbackLayout::per_layer, rng);
    net.forward(x, Pass{Mode::train, nullptr});
    net.backward(e, Pass{Mode::train, nullptr});
    const auto g = gradients(net);
    for (std::size_t k = 2; k < 6; ++k) CHECK(g[k] == bp[k]);
    CHECK(g[0] != bp[0]);  // block 0 learns from its random feedback instead
  }
  SUBCASE("bp, frozen, bp: the gradient passes through the frozen block") {
    Network net = mlp(6, {8, 7}, 4);
    copy_parameters(ref, net);
    net.set_rules({BlockRule::backprop, BlockRule::frozen, BlockRule::backprop});
    net.forward(x, Pass{Mode::train, nullptr});
    net.backward(e, Pass{Mode::train, nullptr});
    const auto g = gradients(net);
    CHECK(g[0] == bp[0]);
    CHECK(g[1] == bp[1]);
    CHECK(g[4] == bp[4]);
  }
  SUBCASE("wrong number of rules") {
    Network net = mlp(6, {8, 7}, 4);
    CHECK_THROWS_WITH_AS(net.set_rules({BlockRule::dfa}), doctest::Contains("3 blocks"), InputError);
  }
}

TEST_CASE("built-in models: LeNet-5 has 61706 parameters and VGG-16 chains 32x32 to 10") {
  const ModelSpec lenet = parse_model(toml::parse(builtin_model_toml("lenet5", {}, "tanh")), "lenet5");
  Network net = build_network(lenet, {1, 28, 28}, 10);
  // conv1 6*25+6, conv2 16*6*25+16, fc 400*120+120, 120*84+84, 84*10+10 (LeCun et al. 1998,
  // with 28x28 inputs padded by 2).
  CHECK(net.parameter_count() == 156 + 2416 + 48120 + 10164 + 850);
  CHECK(net.blocks() == 5);

  const ModelSpec vgg = parse_model(toml::parse(builtin_model_toml("vgg16", {}, "tanh")), "vgg16");
  Network v4 = build_network(vgg, {3, 32, 32}, 10, 0.25);
  CHECK(v4.blocks() == 14);
  // Width 1/4: stages of 16, 32, 64, 128, 128 channels, batch norm (2 per channel), dense 128->10.
  std::size_t expect = 0, in = 3;
  for (auto [ch, n] : {std::pair{16, 2}, {32, 2}, {64, 3}, {128, 3}, {128, 3}})
    for (int k = 0; k < n; ++k) {
      expect += in * ch * 9 + ch + 2 * ch;
      in = ch;
    }
  expect += 128 * 10 + 10;
  CHECK(v4.parameter_count() == expect);

  const ModelSpec m = parse_model(toml::parse(builtin_model_toml("mlp", {800, 800}, "tanh")), "mlp");
  Network mlp_net = build_network(m, {1, 28, 28}, 10);
  CHECK(mlp_net.parameter_count() == 784 * 800 + 800 + 800 * 800 + 800 + 8010);
}

TEST_CASE("model descriptions with inconsistent shapes give errors naming the layer") {
  const char* bad_dense = R"(
name = "bad"
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
in_features = 400
out_features = 10
)";
  CHECK_THROWS_WITH_AS(build_network(parse_model(toml::parse(bad_dense), "bad.toml"), {1, 16, 16}, 10),
                       doctest::Contains("bad.toml: layer 2 (dense): in_features = 400, but the "
                                         "layer before gives 256 features"),
                       InputError);
  const char* big_kernel = R"(
[[layers]]
type = "conv2d"
out_channels = 4
kernel = 7
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
out_features = 10
)";
  CHECK_THROWS_WITH_AS(build_network(parse_model(toml::parse(big_kernel), "k.toml"), {1, 5, 5}, 10),
                       doctest::Contains("k.toml: layer 1 (conv2d)"), InputError);
  const char* wrong_classes = R"(
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
out_features = 7
)";
  CHECK_THROWS_WITH_AS(build_network(parse_model(toml::parse(wrong_classes), "c.toml"), {1, 4, 4}, 10),
                       doctest::Contains("10 classes"), InputError);
  CHECK_THROWS_WITH_AS(parse_model(toml::parse("[[layers]]\nkernel = 3\n"), "t.toml"),
                       doctest::Contains("t.toml: layer 1 has no type"), InputError);
  CHECK_THROWS_WITH_AS(
      build_network(parse_model(toml::parse("[[layers]]\ntype = \"dense\"\nout_features = 10\nbias = false\n"),
                                "u.toml"),
                    {10}, 10),
      doctest::Contains("has no key 'bias'"), InputError);
}
