// Network architectures described in TOML: a list of layers with their hyper-parameters, from
// which the layers are built and their shapes checked against the data. The built-in models
// (MLP, LeNet-5, VGG-16 for 32x32 inputs) are TOML texts too, so `memcarlo train --print-model`
// shows exactly what runs and a user can edit it.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

#include "training/network.hpp"

namespace memcarlo::training {

struct LayerSpec {
  std::string type;   // dense, conv2d, maxpool, avgpool, relu, tanh, batchnorm, dropout, flatten
  toml::table args;   // the layer's keys other than type
};

struct ModelSpec {
  std::string name;
  std::vector<std::size_t> input;  // (C, H, W) or (F); empty: take the data set's
  std::vector<LayerSpec> layers;
  std::string source;  // where it came from, for messages
};

// Parses a model table (keys name, input, and an array of tables [[layers]]). Errors name
// `origin` and the layer number.
ModelSpec parse_model(const toml::table& table, const std::string& origin);
ModelSpec load_model_file(const std::string& path);

// The built-in models as TOML text: "mlp" (hidden widths and activation given), "lenet5",
// "vgg16". `widths` only applies to mlp.
std::string builtin_model_toml(const std::string& name, const std::vector<std::int64_t>& widths,
                               const std::string& activation);
bool is_builtin_model(const std::string& name);

// Builds the layers for one sample shape `input` and `classes` outputs. `width` multiplies
// the channels of every conv2d and the outputs of every dense layer but the last (VGG-16 at
// width 1/4 has 16...128 channels); at least 1 remains. Checks every shape: an explicit
// in_features / in_channels that does not match what arrives is an error naming the layer.
Network build_network(const ModelSpec& spec, const Shape& input, std::size_t classes,
                      double width = 1.0);

}  // namespace memcarlo::training
