#include "training/model.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "core/config.hpp"
#include "training/layers.hpp"

namespace memcarlo::training {

namespace {

constexpr const char* kLenet5 = R"(# LeNet-5 for 28x28 inputs, as in ../shared/bench/torch_lenet.py (padding 2 in conv1).
name = "lenet5"
input = [1, 28, 28]

[[layers]]
type = "conv2d"
out_channels = 6
kernel = 5
padding = 2
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
kernel = 2
[[layers]]
type = "conv2d"
out_channels = 16
kernel = 5
[[layers]]
type = "relu"
[[layers]]
type = "maxpool"
kernel = 2
[[layers]]
type = "flatten"
[[layers]]
type = "dense"
out_features = 120
[[layers]]
type = "relu"
[[layers]]
type = "dense"
out_features = 84
[[layers]]
type = "relu"
[[layers]]
type = "dense"
out_features = 10
)";

// VGG-16 for 32x32 inputs: 13 conv3x3 layers with batch norm in five stages of 64-128-256-512-512
// channels, each stage closed by 2x2 max pooling, then one dense layer (the common CIFAR-10
// variant; Simonyan & Zisserman, ICLR 2015, configuration D, with batch norm).
std::string vgg16_toml() {
  std::string t = "# VGG-16 (configuration D) with batch norm for 32x32 inputs.\nname = \"vgg16\"\n"
                  "input = [3, 32, 32]\n";
  const int stages[5][2] = {{64, 2}, {128, 2}, {256, 3}, {512, 3}, {512, 3}};
  for (const auto& [channels, convs] : stages) {
    for (int c = 0; c < convs; ++c)
      t += fmt::format(
          "\n[[layers]]\ntype = \"conv2d\"\nout_channels = {}\nkernel = 3\npadding = 1\n"
          "[[layers]]\ntype = \"batchnorm\"\n[[layers]]\ntype = \"relu\"\n",
          channels);
    t += "[[layers]]\ntype = \"maxpool\"\nkernel = 2\n";
  }
  t += "\n[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nout_features = 10\n";
  return t;
}

std::string mlp_toml(const std::vector<std::int64_t>& widths, const std::string& activation) {
  MC_VALIDATE(activation == "tanh" || activation == "relu",
              "MLP activation '{}' is not tanh or relu", activation);
  std::string t = fmt::format("# MLP with hidden widths {} and {} activations.\nname = \"mlp\"\n"
                              "\n[[layers]]\ntype = \"flatten\"\n",
                              fmt::join(widths, "-"), activation);
  for (auto w : widths) {
    MC_VALIDATE(w > 0, "MLP hidden width {} must be positive", w);
    t += fmt::format("[[layers]]\ntype = \"dense\"\nout_features = {}\n[[layers]]\ntype = \"{}\"\n",
                     w, activation);
  }
  t += "[[layers]]\ntype = \"dense\"\nout_features = 10\n";
  return t;
}

// Reads an integer key of a layer (with a default when `fallback` >= 0), checking its range.
std::int64_t int_arg(const LayerSpec& l, const std::string& where, const char* key,
                     std::int64_t fallback, std::int64_t min_value = 1) {
  const toml::node* node = l.args.get(key);
  if (!node) {
    MC_VALIDATE(fallback >= 0, "{}: {} needs the key '{}'", where, l.type, key);
    return fallback;
  }
  const auto v = node->value_exact<std::int64_t>();
  MC_VALIDATE(v.has_value(), "{}: key '{}' needs an integer", where, key);
  MC_VALIDATE(*v >= min_value, "{}: key '{}' = {} must be at least {}", where, key, *v, min_value);
  return *v;
}

double real_arg(const LayerSpec& l, const std::string& where, const char* key, double fallback) {
  const toml::node* node = l.args.get(key);
  if (!node) return fallback;
  if (auto v = node->value_exact<double>()) return *v;
  if (auto v = node->value_exact<std::int64_t>()) return static_cast<double>(*v);
  throw InputError(fmt::format("{}: key '{}' needs a number", where, key));
}

void check_keys(const LayerSpec& l, const std::string& where, std::set<std::string> allowed) {
  for (const auto& [key, node] : l.args)
    MC_VALIDATE(allowed.count(std::string(key.str())),
                "{}: {} has no key '{}' (it takes: {})", where, l.type, key.str(),
                fmt::join(allowed, ", "));
}

}  // namespace

bool is_builtin_model(const std::string& name) {
  return name == "mlp" || name == "lenet5" || name == "vgg16";
}

std::string builtin_model_toml(const std::string& name, const std::vector<std::int64_t>& widths,
                               const std::string& activation) {
  if (name == "lenet5") return kLenet5;
  if (name == "vgg16") return vgg16_toml();
  if (name == "mlp") return mlp_toml(widths, activation);
  throw InputError(fmt::format(
      "unknown model '{}': use mlp, lenet5, vgg16 or the path of a model TOML file", name));
}

ModelSpec parse_model(const toml::table& table, const std::string& origin) {
  ModelSpec spec;
  spec.source = origin;
  for (const auto& [key, node] : table) {
    const std::string k(key.str());
    if (k == "name") {
      const auto v = node.value_exact<std::string>();
      MC_VALIDATE(v.has_value(), "{}: 'name' needs a string", origin);
      spec.name = *v;
    } else if (k == "input") {
      const auto* a = node.as_array();
      MC_VALIDATE(a && !a->empty() && a->size() <= 3,
                  "{}: 'input' needs 1 to 3 positive integers, e.g. [1, 28, 28]", origin);
      for (const auto& d : *a) {
        const auto v = d.value_exact<std::int64_t>();
        MC_VALIDATE(v && *v > 0, "{}: 'input' needs positive integers", origin);
        spec.input.push_back(static_cast<std::size_t>(*v));
      }
    } else if (k == "layers") {
      const auto* a = node.as_array();
      MC_VALIDATE(a && a->is_array_of_tables(),
                  "{}: 'layers' must be an array of tables ([[layers]] sections)", origin);
      for (const auto& item : *a) {
        LayerSpec l;
        l.args = *item.as_table();
        const auto type = l.args.get("type") ? l.args["type"].value_exact<std::string>()
                                             : std::optional<std::string>{};
        MC_VALIDATE(type.has_value(), "{}: layer {} has no type = \"...\"", origin,
                    spec.layers.size() + 1);
        l.type = *type;
        l.args.erase("type");
        spec.layers.push_back(std::move(l));
      }
    } else {
      throw InputError(fmt::format("{}: unknown key '{}' (a model has name, input, [[layers]])",
                                   origin, k));
    }
  }
  MC_VALIDATE(!spec.layers.empty(), "{}: the model has no [[layers]]", origin);
  if (spec.name.empty()) spec.name = "model";
  return spec;
}

ModelSpec load_model_file(const std::string& path) {
  return parse_model(load_toml_file(path), path);
}

Network build_network(const ModelSpec& spec, const Shape& input, std::size_t classes,
                      double width) {
  MC_VALIDATE(std::isfinite(width) && width > 0 && width <= 16, "width multiplier {} is not in (0, 16]",
              width);
  if (!spec.input.empty())
    MC_VALIDATE(spec.input == input, "{}: the model is built for inputs {}, the data set has {}",
                spec.source, shape_string(spec.input), shape_string(input));
  std::size_t last_linear = 0;
  for (std::size_t i = 0; i < spec.layers.size(); ++i)
    if (spec.layers[i].type == "dense" || spec.layers[i].type == "conv2d") last_linear = i;
  const auto scaled = [&](std::int64_t n) {
    return static_cast<std::size_t>(std::max<double>(1.0, std::round(static_cast<double>(n) * width)));
  };
  std::vector<LayerPtr> layers;
  Shape shape = input;
  for (std::size_t i = 0; i < spec.layers.size(); ++i) {
    const LayerSpec& l = spec.layers[i];
    const std::string where = fmt::format("{}: layer {} ({})", spec.source, i + 1, l.type);
    LayerPtr layer;
    if (l.type == "dense") {
      check_keys(l, where, {"in_features", "out_features"});
      MC_VALIDATE(shape.size() == 1,
                  "{}: a dense layer needs flat inputs, but receives {} (add a flatten layer)",
                  where, shape_string(shape));
      const auto in = int_arg(l, where, "in_features", static_cast<std::int64_t>(shape[0]));
      MC_VALIDATE(static_cast<std::size_t>(in) == shape[0],
                  "{}: in_features = {}, but the layer before gives {} features", where, in,
                  shape[0]);
      const auto out = int_arg(l, where, "out_features", -1);
      const std::size_t n_out = i == last_linear ? static_cast<std::size_t>(out) : scaled(out);
      layer = std::make_unique<Dense>(shape[0], n_out);
    } else if (l.type == "conv2d") {
      check_keys(l, where, {"in_channels", "out_channels", "kernel", "stride", "padding"});
      MC_VALIDATE(shape.size() == 3, "{}: conv2d needs (C, H, W) inputs, but receives {}", where,
                  shape_string(shape));
      const auto in = int_arg(l, where, "in_channels", static_cast<std::int64_t>(shape[0]));
      MC_VALIDATE(static_cast<std::size_t>(in) == shape[0],
                  "{}: in_channels = {}, but the layer before gives {} channels", where, in,
                  shape[0]);
      const auto out = int_arg(l, where, "out_channels", -1);
      layer = std::make_unique<Conv2d>(
          shape[0], i == last_linear ? static_cast<std::size_t>(out) : scaled(out),
          static_cast<std::size_t>(int_arg(l, where, "kernel", -1)),
          static_cast<std::size_t>(int_arg(l, where, "stride", 1)),
          static_cast<std::size_t>(int_arg(l, where, "padding", 0, 0)));
    } else if (l.type == "maxpool" || l.type == "avgpool") {
      check_keys(l, where, {"kernel", "stride"});
      const auto k = static_cast<std::size_t>(int_arg(l, where, "kernel", -1));
      const auto s = static_cast<std::size_t>(int_arg(l, where, "stride", static_cast<std::int64_t>(k)));
      if (l.type == "maxpool")
        layer = std::make_unique<MaxPool2d>(k, s);
      else
        layer = std::make_unique<AvgPool2d>(k, s);
    } else if (l.type == "relu") {
      check_keys(l, where, {});
      layer = std::make_unique<ReLU>();
    } else if (l.type == "tanh") {
      check_keys(l, where, {});
      layer = std::make_unique<Tanh>();
    } else if (l.type == "flatten") {
      check_keys(l, where, {});
      layer = std::make_unique<Flatten>();
    } else if (l.type == "batchnorm") {
      check_keys(l, where, {"momentum", "eps"});
      MC_VALIDATE(shape.size() == 1 || shape.size() == 3,
                  "{}: batchnorm needs (F) or (C, H, W) inputs, receives {}", where,
                  shape_string(shape));
      layer = std::make_unique<BatchNorm>(shape[0], real_arg(l, where, "eps", 1e-5),
                                          real_arg(l, where, "momentum", 0.1));
    } else if (l.type == "dropout") {
      check_keys(l, where, {"p"});
      const double p = real_arg(l, where, "p", 0.5);
      MC_VALIDATE(p >= 0 && p < 1, "{}: dropout p = {} is not in [0, 1)", where, p);
      layer = std::make_unique<Dropout>(p);
    } else {
      throw InputError(fmt::format(
          "{}: unknown layer type '{}' (use dense, conv2d, maxpool, avgpool, relu, tanh, "
          "batchnorm, dropout, flatten)",
          where, l.type));
    }
    try {
      shape = layer->output_shape(shape);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: {}", where, e.what()));
    }
    layers.push_back(std::move(layer));
  }
  MC_VALIDATE(shape == Shape{classes},
              "{}: the model ends in shape {}, but the data set has {} classes", spec.source,
              shape_string(shape), classes);
  return Network(std::move(layers), input, classes);
}

}  // namespace memcarlo::training
