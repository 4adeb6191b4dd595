// Agreement of the training engine with PyTorch: LeNet-5 and VGG-16 at width 0.125 (train and
// eval mode) built from the built-in model TOML, against logits, loss, running statistics and
// gradients that tests/reference/torch_training_reference.py computed with torch.nn.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "data/hdf5.hpp"
#include "training/loss.hpp"
#include "training/model.hpp"
#include "training/network.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

namespace {

// "Agrees to 1e-4": max_i |memcarlo_i - torch_i| <= 1e-4 * max_i |torch_i| for each compared
// quantity: the logits, the loss, the input gradient, each running mean and each running
// variance, and the gradient of each layer's parameters taken as one vector (weight and bias,
// or gamma and beta). The scale is the largest value of the quantity, so small tensors (LeNet's
// gradients are ~1e-2) are held to the same relative accuracy as large ones. A layer's
// gradients are one quantity because the bias of a conv in front of a train-mode batch norm has
// an exact gradient of 0 (the batch mean removes it; torch in float64 gives ~1e-15): its float32
// rounding noise is measured against the layer's weight gradient, the scale of the terms it sums.
constexpr double kTolerance = 1e-4;

const char* const kFixture = MEMCARLO_SOURCE_DIR "/tests/reference/torch_training_reference.h5";

Tensor to_tensor(NdArray<float> a) {
  Tensor t;
  t.shape = a.shape;
  t.data = std::move(a.data);
  return t;
}

// The measure above for one quantity: max |got - want| / max |want| (0 when both are all 0).
double deviation(const std::vector<float>& got, const std::vector<float>& want) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    diff = std::max(diff, std::abs(double(got[i]) - double(want[i])));
    scale = std::max(scale, std::abs(double(want[i])));
  }
  return diff == 0 ? 0.0 : diff / scale;
}

// The worst deviation of each group of tensors (logits, weight gradients, ...), reported at
// the end of a case so that the margin is visible, not only pass or fail.
class DeviationLog {
 public:
  void check(const std::string& group, const std::string& name, const std::vector<float>& got,
             const std::vector<float>& want) {
    REQUIRE(got.size() == want.size());
    const double d = deviation(got, want);
    INFO(name << ": max |memcarlo - torch| / scale = " << d);
    CHECK(d <= kTolerance);
    auto& [worst, count] = worst_[group];
    worst = std::max(worst, d);
    ++count;
  }
  std::string report() const {
    std::ostringstream s;
    for (const auto& [group, entry] : worst_)
      s << fmt::format("\n  {:<20} {:>2} x, worst {:.2e}", group, entry.second, entry.first);
    return s.str();
  }

 private:
  std::map<std::string, std::pair<double, int>> worst_;
};

Network builtin_network(const std::string& model, const Shape& input, double width) {
  const std::string text = builtin_model_toml(model, {}, "relu");
  const ModelSpec spec = parse_model(toml::parse(text), "builtin " + model);
  return build_network(spec, input, 10, width);
}

std::string parameter_name(std::size_t layer, const Parameter& p) {
  return fmt::format("layer{:02d}_{}", layer, p.name);
}

// Runs one fixture case: loads the parameters (and, in eval mode, the running statistics),
// runs forward, the loss and Network::backward, and compares everything torch recorded.
void check_case(const std::string& case_name, const std::string& model, double width) {
  const h5::Group file = h5::open_file(kFixture);
  const h5::Group g = file.open_group(case_name);
  const Mode mode = g.read_attr_string("mode") == "train" ? Mode::train : Mode::eval;
  const Tensor x = to_tensor(g.read_float("input"));
  const NdArray<std::int64_t> labels64 = g.read_int("labels");
  const std::vector<int> labels(labels64.data.begin(), labels64.data.end());

  Network net = builtin_network(model, Shape(x.shape.begin() + 1, x.shape.end()), width);
  const h5::Group params = g.open_group("parameters");
  std::size_t loaded = 0;
  for (std::size_t i = 0; i < net.layers(); ++i) {
    for (Parameter& p : net.layer(i).parameters()) {
      Tensor v = to_tensor(params.read_float(parameter_name(i, p)));
      REQUIRE(v.shape == p.value.shape);
      p.value = std::move(v);
      ++loaded;
    }
  }
  REQUIRE(loaded == params.children().size());
  const bool has_running = g.has("running");
  if (mode == Mode::eval && has_running) {
    const h5::Group running = g.open_group("running");
    for (std::size_t i = 0; i < net.layers(); ++i) {
      auto buffers = net.layer(i).buffers();
      if (buffers.empty()) continue;
      buffers[0].data = running.read_float(fmt::format("layer{:02d}_running_mean", i)).data;
      buffers[1].data = running.read_float(fmt::format("layer{:02d}_running_var", i)).data;
    }
  }

  DeviationLog log;
  const Tensor& logits = net.forward(x, Pass{mode, nullptr});
  log.check("logits", "logits", logits.data, g.read_float("logits").data);
  Tensor grad_logits;
  const double loss = softmax_cross_entropy(logits, labels, &grad_logits);
  const double torch_loss = g.read_double("loss").data.at(0);
  log.check("loss", "loss", {static_cast<float>(loss)}, {static_cast<float>(torch_loss)});
  net.backward(grad_logits, Pass{mode, nullptr});

  // Every parameter gradient, except those the fixture names as left out (vgg_eval).
  std::set<std::string> omitted;
  {
    std::istringstream names(g.read_attr_string("omitted_gradients"));
    for (std::string n; names >> n;) omitted.insert(n);
  }
  const h5::Group grads = g.open_group("gradients");
  std::size_t compared = 0, skipped = 0;
  for (std::size_t i = 0; i < net.layers(); ++i) {
    std::vector<float> got, want;  // the layer's parameter gradients, concatenated
    for (Parameter& p : net.layer(i).parameters()) {
      const std::string name = parameter_name(i, p);
      if (omitted.count(name)) {
        CHECK_FALSE(grads.has(name));
        ++skipped;
        continue;
      }
      const NdArray<float> torch_grad = grads.read_float(name);
      REQUIRE(torch_grad.shape == p.grad.shape);
      got.insert(got.end(), p.grad.data.begin(), p.grad.data.end());
      want.insert(want.end(), torch_grad.data.begin(), torch_grad.data.end());
      ++compared;
    }
    if (!want.empty())
      log.check(net.layer(i).kind() + " gradients", fmt::format("layer{:02d} gradients", i), got,
                want);
  }
  CHECK(compared == grads.children().size());
  CHECK(skipped == omitted.size());

  // Running statistics: train mode updated them from 0 and 1 with momentum 0.1; eval mode must
  // leave the loaded ones alone.
  if (has_running) {
    const h5::Group running = g.open_group("running");
    for (std::size_t i = 0; i < net.layers(); ++i) {
      auto buffers = net.layer(i).buffers();
      if (buffers.empty()) continue;
      for (const auto& [k, which] : {std::pair{0, "running_mean"}, std::pair{1, "running_var"}}) {
        const std::string name = fmt::format("layer{:02d}_{}", i, which);
        log.check(which, name, buffers[static_cast<std::size_t>(k)].data,
                  running.read_float(name).data);
      }
    }
  }

  // The input gradient, which Network::backward does not compute: the same chain of layer
  // backward passes from the logits gradient, now asking every layer (the first too) for its
  // input gradient. The layers still hold the forward pass; parameter gradients are rewritten
  // with the same values.
  Tensor g_out = grad_logits, g_in;
  for (std::size_t i = net.layers(); i-- > 0;) {
    net.layer(i).backward(g_out, &g_in, Pass{Mode::train, nullptr});
    std::swap(g_out, g_in);
  }
  REQUIRE(g_out.shape == x.shape);
  log.check("input grad", "input_grad", g_out.data, g.read_float("input_grad").data);

  const std::string mode_name = mode == Mode::train ? "train" : "eval";
  MESSAGE(case_name << " (" << mode_name
                    << " mode), max |memcarlo - torch| / max |torch| per quantity:"
                    << log.report());
}

}  // namespace

TEST_CASE("the fixture records its origin") {
  const h5::Group file = h5::open_file(kFixture);
  CHECK(file.read_attr_string("filetype") == "memcarlo torch training reference");
  CHECK(file.read_attr_string("script") == "tests/reference/torch_training_reference.py");
  CHECK(file.read_attr_string("torch_version").rfind("1.13", 0) == 0);
}

TEST_CASE("LeNet-5 forward and backward agree with PyTorch") {
  check_case("lenet5", "lenet5", 1.0);
}

TEST_CASE("VGG-16 at width 0.125 in train mode agrees with PyTorch, running statistics too") {
  check_case("vgg_train", "vgg16", 0.125);
}

TEST_CASE("VGG-16 at width 0.125 in eval mode agrees with PyTorch") {
  check_case("vgg_eval", "vgg16", 0.125);
}
