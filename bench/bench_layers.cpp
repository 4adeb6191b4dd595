// Conv2d algorithms (im2col per sample, im2col batched, oneDNN direct convolution) on the
// convolutions of LeNet-5 and VGG-16 at 1/4 width (32 x 32 input), batch 64: forward plus
// backward (weight and input gradients; the first layer skips the input gradient, as in
// training), and which one `automatic` picks. Also the time of a whole LeNet-5 training step
// (forward, loss, backward, SGD) with each. Prints, does not assert.
// Usage: bench_layers [--quick | --lenet] (--lenet: only the LeNet-5 training step)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "core/rng.hpp"
#include "training/gemm.hpp"
#include "training/layers.hpp"
#include "training/loss.hpp"
#include "training/optimizer.hpp"

using namespace memcarlo;
using namespace memcarlo::training;

namespace {

constexpr std::size_t batch = 64;

double seconds_of(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

Tensor random_tensor(const Shape& shape, std::uint64_t seed) {
  Tensor t(shape);
  RngStream rng(seed, 0, stream_id("bench_layers"));
  for (float& v : t.data) v = static_cast<float>(rng.uniform() - 0.5);
  return t;
}

struct ConvSpec {
  std::string name;
  std::size_t C, OC, k, pad, H;
  bool first;
};

const char* algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::per_sample: return "per-sample";
    case ConvAlgorithm::batched: return "batched";
    case ConvAlgorithm::onednn: return "onednn";
    case ConvAlgorithm::automatic: return "automatic";
  }
  return "?";
}

// The explicit algorithms of this build.
std::vector<ConvAlgorithm> algorithms() {
  std::vector<ConvAlgorithm> v{ConvAlgorithm::per_sample, ConvAlgorithm::batched};
  if (onednn_convolution_available()) v.push_back(ConvAlgorithm::onednn);
  return v;
}

// Seconds per forward + backward of each algorithm: best of `repeats`, interleaved so that a
// slow spell of the machine hits all of them. Also which one `automatic` picks.
std::vector<double> time_conv(const ConvSpec& s, const std::vector<ConvAlgorithm>& algos,
                              int repeats, int calls, ConvAlgorithm& automatic_choice) {
  std::vector<std::unique_ptr<Conv2d>> convs;
  for (ConvAlgorithm a : algos) {
    convs.push_back(std::make_unique<Conv2d>(s.C, s.OC, s.k, 1, s.pad, a));
    RngStream rng(1, 0, 0);
    convs.back()->initialize(rng);
  }
  const Tensor x = random_tensor({batch, s.C, s.H, s.H}, 2);
  Tensor y, dx, dy;
  auto step = [&](Conv2d& conv) {
    conv.forward(x, y, Pass{});
    if (dy.shape != y.shape) dy = random_tensor(y.shape, 3);
    conv.backward(dy, s.first ? nullptr : &dx, Pass{Mode::train, nullptr});
  };
  for (auto& c : convs) step(*c);
  Conv2d automatic(s.C, s.OC, s.k, 1, s.pad, ConvAlgorithm::automatic);
  step(automatic);
  automatic_choice = automatic.used();
  std::vector<double> best(algos.size(), 1e300);
  for (int r = 0; r < repeats; ++r)
    for (std::size_t a = 0; a < algos.size(); ++a)
      best[a] = std::min(best[a], seconds_of([&] {
                                    for (int c = 0; c < calls; ++c) step(*convs[a]);
                                  }) / calls);
  return best;
}

// LeNet-5 as memcarlo's lenet5 model and ../shared/bench/torch_lenet.py: conv 1->6 k5 p2, relu,
// maxpool 2, conv 6->16 k5, relu, maxpool 2, flatten, 400-120-84-10 with relu. One training
// step at batch 64 with SGD (momentum 0.9); `profile` accumulates the time of each layer.
struct LeNet {
  std::vector<LayerPtr> layers;
  std::vector<Tensor> acts, grads;
  std::unique_ptr<Sgd> sgd;

  explicit LeNet(ConvAlgorithm algorithm) {
    layers.push_back(std::make_unique<Conv2d>(1, 6, 5, 1, 2, algorithm));
    layers.push_back(std::make_unique<ReLU>());
    layers.push_back(std::make_unique<MaxPool2d>(2));
    layers.push_back(std::make_unique<Conv2d>(6, 16, 5, 1, 0, algorithm));
    layers.push_back(std::make_unique<ReLU>());
    layers.push_back(std::make_unique<MaxPool2d>(2));
    layers.push_back(std::make_unique<Flatten>());
    layers.push_back(std::make_unique<Dense>(400, 120));
    layers.push_back(std::make_unique<ReLU>());
    layers.push_back(std::make_unique<Dense>(120, 84));
    layers.push_back(std::make_unique<ReLU>());
    layers.push_back(std::make_unique<Dense>(84, 10));
    RngStream rng(1, 0, stream_id("init"));
    std::vector<Parameter*> params;
    for (auto& l : layers) {
      l->initialize(rng);
      for (Parameter& p : l->parameters()) params.push_back(&p);
    }
    sgd = std::make_unique<Sgd>(SgdConfig{0.9, 5e-4}, params);
    acts.resize(layers.size() + 1);
    grads.resize(layers.size() + 1);
  }

  // Seconds spent in each layer's forward and backward, and in loss + SGD, when profiling.
  std::vector<double> forward_s, backward_s;
  double rest_s = 0;

  double step(const Tensor& x, const std::vector<int>& labels, bool profile = false) {
    using clock = std::chrono::steady_clock;
    forward_s.resize(layers.size());
    backward_s.resize(layers.size());
    auto lap = [&](clock::time_point& t) {
      const auto now = clock::now();
      const double s = std::chrono::duration<double>(now - t).count();
      t = now;
      return s;
    };
    auto t = clock::now();
    acts[0] = x;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      layers[i]->forward(acts[i], acts[i + 1], Pass{Mode::train, nullptr});
      if (profile) forward_s[i] += lap(t);
    }
    const double loss = softmax_cross_entropy(acts.back(), labels, &grads.back());
    if (profile) rest_s += lap(t);
    for (std::size_t i = layers.size(); i-- > 0;) {
      layers[i]->backward(grads[i + 1], i == 0 ? nullptr : &grads[i], Pass{Mode::train, nullptr});
      if (profile) backward_s[i] += lap(t);
    }
    sgd->step(0.01);
    if (profile) rest_s += lap(t);
    return loss;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool lenet_only = argc > 1 && std::strcmp(argv[1], "--lenet") == 0;
  const int repeats = quick ? 2 : 5;
  fmt::print("Conv2d algorithms, batch {}, GEMM backend {}\n", batch,
             gemm_backend_name(default_gemm_backend()));
  std::vector<ConvSpec> specs = {
      {"LeNet conv1 1->6 k5 28x28 p2", 1, 6, 5, 2, 28, true},
      {"LeNet conv2 6->16 k5 14x14", 6, 16, 5, 0, 14, false},
  };
  const std::size_t widths[] = {16, 16,  0,   32,  32, 0,   64,  64, 64,
                                0,  128, 128, 128, 0,  128, 128, 128};
  std::size_t C = 3, H = 32, index = 1;
  for (std::size_t w : widths) {
    if (w == 0) {
      H /= 2;
      continue;
    }
    specs.push_back({fmt::format("VGG/4 conv{} {}->{} k3 {}x{}", index, C, w, H, H), C, w, 3, 1, H,
                     index == 1});
    C = w;
    ++index;
  }
  const std::vector<ConvAlgorithm> algos = algorithms();
  std::string header = fmt::format("{:<34}", "layer (ms per forward + backward)");
  for (ConvAlgorithm a : algos) header += fmt::format(" {:>11}", algorithm_name(a));
  fmt::print("{}  {:>10}\n", header, "automatic");
  std::vector<double> lenet(algos.size(), 0.0), vgg(algos.size(), 0.0);
  double lenet_auto = 0, vgg_auto = 0;
  for (const ConvSpec& s : specs) {
    if (lenet_only) break;
    const int calls = quick ? 1 : (s.H >= 16 ? 3 : 10);
    ConvAlgorithm choice{};
    const std::vector<double> t = time_conv(s, algos, repeats, calls, choice);
    const bool is_lenet = s.name.starts_with("LeNet");
    std::string line = fmt::format("{:<34}", s.name);
    for (std::size_t a = 0; a < algos.size(); ++a) {
      line += fmt::format(" {:>11.3f}", t[a] * 1e3);
      (is_lenet ? lenet : vgg)[a] += t[a];
      if (algos[a] == choice) (is_lenet ? lenet_auto : vgg_auto) += t[a];
    }
    fmt::print("{}  {:>10}\n", line, algorithm_name(choice));
  }
  if (!lenet_only) {
    for (auto [name, total, chosen] : {std::tuple{"LeNet-5 convolutions", &lenet, lenet_auto},
                                       std::tuple{"VGG-16/4 convolutions", &vgg, vgg_auto}}) {
      std::string line = fmt::format("{:<34}", name);
      for (double t : *total) line += fmt::format(" {:>11.3f}", t * 1e3);
      fmt::print("{}  {:>7.3f} ms\n", line, chosen * 1e3);
    }
  }

  // Whole LeNet-5 training steps, as MNIST training runs them.
  std::vector<ConvAlgorithm> variants = algos;
  variants.push_back(ConvAlgorithm::automatic);
  std::vector<LeNet> nets;
  for (ConvAlgorithm a : variants) nets.emplace_back(a);
  const Tensor x = random_tensor({batch, 1, 28, 28}, 5);
  std::vector<int> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<int>(i % 10);
  for (LeNet& net : nets) net.step(x, labels);
  const int steps = quick ? 5 : 50;
  std::vector<double> best(nets.size(), 1e300);
  for (int r = 0; r < repeats; ++r)
    for (std::size_t v = 0; v < nets.size(); ++v)
      best[v] = std::min(best[v], seconds_of([&] {
                                    for (int i = 0; i < steps; ++i) nets[v].step(x, labels);
                                  }) / steps);
  fmt::print("\nLeNet-5 training step (relu, batch {}), ms:", batch);
  for (std::size_t v = 0; v < nets.size(); ++v)
    fmt::print(" {} {:.3f}{}", algorithm_name(variants[v]), best[v] * 1e3,
               v + 1 < nets.size() ? "," : "");
  fmt::print(" (automatic: {:.0f} samples/s)\n", batch / best.back());

  // Where a step of the automatic variant goes, layer by layer.
  LeNet& net = nets.back();
  for (int i = 0; i < steps; ++i) net.step(x, labels, true);
  fmt::print("per layer (automatic), ms per step:       forward   backward\n");
  for (std::size_t i = 0; i < net.layers.size(); ++i) {
    const std::string name =
        net.layers[i]->kind() == "conv2d"
            ? fmt::format("{} {}: conv2d ({})", "layer", i + 1,
                          algorithm_name(static_cast<Conv2d&>(*net.layers[i]).used()))
            : fmt::format("layer {}: {}", i + 1, net.layers[i]->kind());
    fmt::print("  {:<36} {:>9.3f} {:>10.3f}\n", name, net.forward_s[i] / steps * 1e3,
               net.backward_s[i] / steps * 1e3);
  }
  fmt::print("  {:<36} {:>9.3f}\n", "loss and SGD", net.rest_s / steps * 1e3);
  for (std::size_t i = 0; i < net.layers.size(); ++i)
    if (net.layers[i]->kind() == "conv2d") {
      const std::string kernels = static_cast<Conv2d&>(*net.layers[i]).onednn_kernels();
      if (!kernels.empty()) fmt::print("layer {} oneDNN kernels: {}\n", i + 1, kernels);
    }
  return 0;
}
