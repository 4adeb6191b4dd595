// Conv2d im2col layouts (per sample vs batched) on the convolutions of LeNet-5 and VGG-16 at
// 1/4 width (32 x 32 input), batch 64: forward plus backward (weight and input gradients;
// the first layer skips the input gradient, as in training). Also the time of a whole LeNet-5
// training step (forward, loss, backward, SGD) with each layout. Prints, does not assert.
// Usage: bench_layers [--quick | --lenet] (--lenet: only the LeNet-5 training step)
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
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

// Best of `repeats`, the two layouts interleaved; seconds per forward + backward.
std::pair<double, double> time_conv(const ConvSpec& s, int repeats, int calls) {
  Conv2d per_sample(s.C, s.OC, s.k, 1, s.pad, Im2col::per_sample);
  Conv2d batched(s.C, s.OC, s.k, 1, s.pad, Im2col::batched);
  RngStream rng(1, 0, 0);
  per_sample.initialize(rng);
  batched.initialize(rng);
  const Tensor x = random_tensor({batch, s.C, s.H, s.H}, 2);
  Tensor y, dx;
  Tensor dy;
  auto step = [&](Conv2d& conv) {
    conv.forward(x, y, Pass{});
    if (dy.shape != y.shape) dy = random_tensor(y.shape, 3);
    conv.backward(dy, s.first ? nullptr : &dx);
  };
  step(per_sample);
  step(batched);
  double best[2] = {1e300, 1e300};
  for (int r = 0; r < repeats; ++r) {
    best[0] = std::min(best[0], seconds_of([&] {
                                  for (int c = 0; c < calls; ++c) step(per_sample);
                                }) / calls);
    best[1] = std::min(best[1], seconds_of([&] {
                                  for (int c = 0; c < calls; ++c) step(batched);
                                }) / calls);
  }
  return {best[0], best[1]};
}

// LeNet-5 as used for MNIST: conv 1->6 k5 p2, tanh, maxpool 2, conv 6->16 k5, tanh, maxpool 2,
// flatten, 400-120-84-10 with tanh. One training step at batch 64 with SGD (momentum 0.9).
struct LeNet {
  std::vector<LayerPtr> layers;
  std::vector<Tensor> acts, grads;
  std::unique_ptr<Sgd> sgd;

  explicit LeNet(Im2col layout) {
    layers.push_back(std::make_unique<Conv2d>(1, 6, 5, 1, 2, layout));
    layers.push_back(std::make_unique<Tanh>());
    layers.push_back(std::make_unique<MaxPool2d>(2));
    layers.push_back(std::make_unique<Conv2d>(6, 16, 5, 1, 0, layout));
    layers.push_back(std::make_unique<Tanh>());
    layers.push_back(std::make_unique<MaxPool2d>(2));
    layers.push_back(std::make_unique<Flatten>());
    layers.push_back(std::make_unique<Dense>(400, 120));
    layers.push_back(std::make_unique<Tanh>());
    layers.push_back(std::make_unique<Dense>(120, 84));
    layers.push_back(std::make_unique<Tanh>());
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

  double step(const Tensor& x, const std::vector<int>& labels) {
    acts[0] = x;
    for (std::size_t i = 0; i < layers.size(); ++i)
      layers[i]->forward(acts[i], acts[i + 1], Pass{Mode::train, nullptr});
    const double loss = softmax_cross_entropy(acts.back(), labels, &grads.back());
    for (std::size_t i = layers.size(); i-- > 0;) {
      layers[i]->backward(grads[i + 1], i == 0 ? nullptr : &grads[i]);
    }
    sgd->step(0.01);
    return loss;
  }
};

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const bool lenet_only = argc > 1 && std::strcmp(argv[1], "--lenet") == 0;
  const int repeats = quick ? 2 : 5;
  fmt::print("Conv2d im2col layouts, batch {}, GEMM backend {}; forward + backward per call\n",
             batch, gemm_backend_name(default_gemm_backend()));
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
  fmt::print("{:<34} {:>14} {:>14} {:>10}\n", "layer", "per-sample ms", "batched ms", "per/batch");
  double lenet[2] = {0, 0}, vgg[2] = {0, 0};
  for (const ConvSpec& s : specs) {
    if (lenet_only) break;
    const int calls = quick ? 1 : (s.H >= 16 ? 3 : 10);
    const auto [ps, bt] = time_conv(s, repeats, calls);
    fmt::print("{:<34} {:>14.3f} {:>14.3f} {:>9.2f}x\n", s.name, ps * 1e3, bt * 1e3, ps / bt);
    double* total = s.name.starts_with("LeNet") ? lenet : vgg;
    total[0] += ps;
    total[1] += bt;
  }
  fmt::print("{:<34} {:>14.3f} {:>14.3f} {:>9.2f}x\n", "LeNet-5 convolutions", lenet[0] * 1e3,
             lenet[1] * 1e3, lenet[0] / lenet[1]);
  fmt::print("{:<34} {:>14.3f} {:>14.3f} {:>9.2f}x\n", "VGG-16/4 convolutions", vgg[0] * 1e3,
             vgg[1] * 1e3, vgg[0] / vgg[1]);

  // Whole LeNet-5 training steps, as MNIST training runs them.
  LeNet nets[3] = {LeNet(Im2col::per_sample), LeNet(Im2col::batched), LeNet(Im2col::automatic)};
  const Tensor x = random_tensor({batch, 1, 28, 28}, 5);
  std::vector<int> labels(batch);
  for (std::size_t i = 0; i < batch; ++i) labels[i] = static_cast<int>(i % 10);
  for (LeNet& net : nets) net.step(x, labels);
  const int steps = quick ? 5 : 50;
  double best[3] = {1e300, 1e300, 1e300};
  for (int r = 0; r < repeats; ++r) {
    for (int v = 0; v < 3; ++v) {
      best[v] = std::min(best[v], seconds_of([&] {
                                    for (int i = 0; i < steps; ++i) nets[v].step(x, labels);
                                  }) / steps);
    }
  }
  fmt::print(
      "\nLeNet-5 training step (tanh, batch {}): per-sample {:.3f} ms, batched {:.3f} ms, "
      "automatic {:.3f} ms = {:.0f} samples/s\n",
      batch, best[0] * 1e3, best[1] * 1e3, best[2] * 1e3, batch / best[2]);
  return 0;
}
