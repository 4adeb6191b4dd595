#include "campaign/campaign.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include <boost/math/distributions/normal.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/config.hpp"
#include "core/error.hpp"
#include "core/rng.hpp"

namespace memcarlo::campaign {

namespace {

// Keys a campaign owns itself: an axis or the base may not set them.
bool campaign_owned(std::string_view key) { return key == "train.seed" || key == "train.replicas"; }

std::unique_ptr<toml::node> to_node(const Value& value) {
  return std::visit(
      [](const auto& v) -> std::unique_ptr<toml::node> {
        using T = std::decay_t<decltype(v)>;
        return std::make_unique<toml::value<T>>(v);
      },
      value);
}

std::string kind_name(KeyKind kind) {
  switch (kind) {
    case KeyKind::boolean: return "true or false";
    case KeyKind::integer: return "an integer";
    case KeyKind::number: return "a number";
    case KeyKind::string: return "a string";
    default: return "a value";
  }
}

// The node as a Value of the key's kind, or an error text.
std::variant<Value, std::string> value_for(KeyKind kind, const toml::node& node) {
  if (kind == KeyKind::number) {
    if (auto v = node.value_exact<double>()) return Value(*v);
    if (auto v = node.value_exact<std::int64_t>()) return Value(static_cast<double>(*v));
  } else if (kind == KeyKind::integer) {
    if (auto v = node.value_exact<std::int64_t>()) return Value(*v);
  } else if (kind == KeyKind::boolean) {
    if (auto v = node.value_exact<bool>()) return Value(*v);
  } else if (kind == KeyKind::string) {
    if (auto v = node.value_exact<std::string>()) return Value(*v);
  }
  std::ostringstream text;
  node.visit([&](const auto& n) { text << n; });
  return fmt::format("{} is not {}", text.str(), kind_name(kind));
}

// A number of a table (integers accepted), or nullopt with an error appended.
std::optional<double> number_of(const toml::table& t, std::string_view key, const std::string& where,
                                std::vector<std::string>& errors) {
  const toml::node* node = t.get(key);
  if (!node) {
    errors.push_back(fmt::format("{} needs '{}'", where, key));
    return std::nullopt;
  }
  std::optional<double> v = node->value_exact<double>();
  if (!v) {
    if (auto i = node->value_exact<std::int64_t>()) v = static_cast<double>(*i);
  }
  if (!v || !std::isfinite(*v)) {
    errors.push_back(fmt::format("{}: '{}' must be a finite number", where, key));
    return std::nullopt;
  }
  return v;
}

std::optional<std::int64_t> count_of(const toml::table& t, const std::string& where,
                                     std::vector<std::string>& errors) {
  const auto v = t["count"].value_exact<std::int64_t>();
  if (!v || *v < 1 || *v > kMaxTrials) {
    errors.push_back(fmt::format("{}: 'count' must be an integer in [1, {}]", where, kMaxTrials));
    return std::nullopt;
  }
  return v;
}

void check_keys(const toml::table& t, std::initializer_list<std::string_view> allowed,
                const std::string& where, std::vector<std::string>& errors) {
  for (const auto& [key, node] : t)
    if (std::find(allowed.begin(), allowed.end(), key.str()) == allowed.end())
      errors.push_back(fmt::format("{}: unknown key '{}' (expected {})", where, key.str(),
                                   fmt::join(allowed, ", ")));
}

// Numbers for a key of kind `kind`: integer keys take only whole numbers.
void push_numbers(const std::vector<double>& numbers, KeyKind kind, const std::string& where,
                  Axis& axis, std::vector<std::string>& errors) {
  for (double x : numbers) {
    if (kind == KeyKind::integer) {
      const double r = std::round(x);
      if (std::abs(x - r) > 1e-9 * std::max(1.0, std::abs(x)) || std::abs(r) > 9e15) {
        errors.push_back(fmt::format("{}: {} is not a whole number, but {} takes integers", where,
                                     x, axis.key));
        return;
      }
      const Value v(static_cast<std::int64_t>(r));
      if (std::find(axis.values.begin(), axis.values.end(), v) != axis.values.end()) {
        errors.push_back(fmt::format("{}: the value {} repeats (an integer key)", where, r));
        return;
      }
      axis.values.push_back(v);
    } else {
      axis.values.push_back(Value(x));
    }
  }
}

void parse_range(const toml::table& range, KeyKind kind, const std::string& where, Axis& axis,
                 std::vector<std::string>& errors) {
  check_keys(range, {"from", "to", "count", "scale"}, where, errors);
  const auto from = number_of(range, "from", where, errors);
  const auto to = number_of(range, "to", where, errors);
  const auto count = count_of(range, where, errors);
  const std::string scale = range["scale"].value_or(std::string("linear"));
  if (scale != "linear" && scale != "log") {
    errors.push_back(fmt::format("{}: scale = '{}': use linear or log", where, scale));
    return;
  }
  axis.source = fmt::format("range ({})", scale);
  if (!from || !to || !count) return;
  if (scale == "log" && (*from <= 0 || *to <= 0)) {
    errors.push_back(fmt::format("{}: a log range needs from and to > 0, got {} and {}", where,
                                 *from, *to));
    return;
  }
  std::vector<double> numbers;
  for (std::int64_t i = 0; i < *count; ++i) {
    if (*count == 1) {
      numbers.push_back(*from);
      break;
    }
    const double f = static_cast<double>(i) / static_cast<double>(*count - 1);
    if (i == 0)
      numbers.push_back(*from);  // the end points exactly, not as rounded by the steps
    else if (i == *count - 1)
      numbers.push_back(*to);
    else if (scale == "linear")
      numbers.push_back(*from + (*to - *from) * f);
    else
      numbers.push_back(std::pow(10.0, std::log10(*from) + (std::log10(*to) - std::log10(*from)) * f));
  }
  push_numbers(numbers, kind, where, axis, errors);
}

void parse_random(const toml::table& random, KeyKind kind, const std::string& where,
                  std::uint64_t seed, std::size_t axis_index, Axis& axis,
                  std::vector<std::string>& errors) {
  const std::string dist = random["distribution"].value_or(std::string());
  axis.source = fmt::format("random ({})", dist);
  if (kind != KeyKind::number) {
    errors.push_back(fmt::format("{}: random draws need a key that takes a number; {} takes {}",
                                 where, axis.key, kind_name(kind)));
    return;
  }
  const bool normal = dist == "normal";
  if (dist != "uniform" && dist != "log-uniform" && !normal) {
    errors.push_back(fmt::format("{}: distribution = '{}': use uniform, log-uniform or normal",
                                 where, dist));
    return;
  }
  if (normal)
    check_keys(random, {"distribution", "mean", "std", "count"}, where, errors);
  else
    check_keys(random, {"distribution", "from", "to", "count"}, where, errors);
  const auto a = number_of(random, normal ? "mean" : "from", where, errors);
  const auto b = number_of(random, normal ? "std" : "to", where, errors);
  const auto count = count_of(random, where, errors);
  if (!a || !b || !count) return;
  if (normal && !(*b > 0)) {
    errors.push_back(fmt::format("{}: std = {} must be > 0", where, *b));
    return;
  }
  if (!normal && !(*a < *b)) {
    errors.push_back(fmt::format("{}: needs from < to, got {} and {}", where, *a, *b));
    return;
  }
  if (dist == "log-uniform" && !(*a > 0)) {
    errors.push_back(fmt::format("{}: log-uniform needs from > 0, got {}", where, *a));
    return;
  }
  // One stream per axis: its draws do not depend on the other axes or on the trial order.
  RngStream rng(seed, axis_index, stream_id("campaign_axis"));
  std::vector<double> numbers;
  for (std::int64_t i = 0; i < *count; ++i) {
    if (normal)
      numbers.push_back(boost::math::quantile(boost::math::normal(*a, *b), rng.uniform_open()));
    else if (dist == "uniform")
      numbers.push_back(*a + (*b - *a) * rng.uniform());
    else
      numbers.push_back(std::exp(std::log(*a) + (std::log(*b) - std::log(*a)) * rng.uniform()));
  }
  push_numbers(numbers, kind, where, axis, errors);
}

Axis parse_axis(const toml::table& t, std::size_t index, const Campaign& c,
                std::vector<std::string>& errors) {
  Axis axis;
  std::string where = fmt::format("axis {}", index + 1);
  check_keys(t, {"key", "values", "range", "random"}, where, errors);
  const auto key = t["key"].value<std::string>();
  if (!key) {
    errors.push_back(fmt::format("{} needs key = \"table.key\"", where));
    return axis;
  }
  axis.key = *key;
  where = fmt::format("axis {} ({})", index + 1, axis.key);
  const KeyKind kind = key_kind(c.base, axis.key);
  if (kind == KeyKind::unknown_table || kind == KeyKind::unknown_key) {
    errors.push_back(fmt::format("{}: unknown key: {}", where,
                                 kind == KeyKind::unknown_table
                                     ? "use TABLE.KEY with TABLE train, analog or a device model "
                                       "(memristor, lut, pcm-crystallization, pcm-drift)"
                                     : "see `memcarlo train --help` and `memcarlo device "
                                       "simulate --help` for the keys"));
    return axis;
  }
  if (campaign_owned(axis.key)) {
    errors.push_back(fmt::format("{}: the campaign sets this key itself; use [campaign] {}", where,
                                 axis.key == "train.seed" ? "seed" : "replicas"));
    return axis;
  }
  const int given = (t.contains("values") ? 1 : 0) + (t.contains("range") ? 1 : 0) +
                    (t.contains("random") ? 1 : 0);
  if (given != 1) {
    errors.push_back(fmt::format("{}: give exactly one of values, range or random", where));
    return axis;
  }
  if (const auto* values = t["values"].as_array()) {
    axis.source = "values";
    if (values->empty()) errors.push_back(fmt::format("{}: values is empty", where));
    for (std::size_t i = 0; i < values->size(); ++i) {
      auto v = value_for(kind, *values->get(i));
      if (auto* e = std::get_if<std::string>(&v))
        errors.push_back(fmt::format("{}: value {}: {}", where, i + 1, *e));
      else
        axis.values.push_back(std::get<Value>(v));
    }
  } else if (const auto* range = t["range"].as_table()) {
    parse_range(*range, kind, where, axis, errors);
  } else if (const auto* random = t["random"].as_table()) {
    parse_random(*random, kind, where, c.seed, index, axis, errors);
  } else {
    errors.push_back(fmt::format("{}: values must be an array, range and random tables", where));
  }
  return axis;
}

void parse_header(const toml::table& file, Campaign& c, std::vector<std::string>& errors) {
  const auto* header = file["campaign"].as_table();
  if (!header) {
    errors.push_back("needs a [campaign] table with at least name = \"...\"");
    return;
  }
  check_keys(*header, {"name", "seed", "replicas", "combine"}, "[campaign]", errors);
  const auto name = (*header)["name"].value_exact<std::string>();
  if (!name || name->empty() || name->find_first_of("\r\n") != std::string::npos)
    errors.push_back("[campaign] needs name = \"...\" (one line of text)");
  else
    c.name = *name;
  if (const auto* node = header->get("seed")) {
    const auto v = node->value_exact<std::int64_t>();
    if (!v || *v < 0)
      errors.push_back("[campaign] seed must be an integer >= 0");
    else
      c.seed = static_cast<std::uint64_t>(*v);
  }
  if (const auto* node = header->get("replicas")) {
    const auto v = node->value_exact<std::int64_t>();
    if (!v || *v < 1 || *v > 100'000)
      errors.push_back("[campaign] replicas must be an integer in [1, 100000]");
    else
      c.replicas = *v;
  }
  const std::string combine = (*header)["combine"].value_or(std::string("product"));
  if (combine == "zip")
    c.combine = Combine::zip;
  else if (combine != "product")
    errors.push_back(fmt::format("[campaign] combine = '{}': use product or zip", combine));
}

void parse_base(const toml::table& file, Campaign& c, std::vector<std::string>& errors) {
  const toml::node* base = file.get("base");
  if (!base) return;  // every key at its default
  if (!base->is_table()) {
    errors.push_back("base must be a table ([base.train], [base.analog])");
    return;
  }
  for (const auto& [name, node] : *base->as_table()) {
    const auto* table = node.as_table();
    const bool device = std::find(std::begin(kDeviceTables), std::end(kDeviceTables), name.str()) !=
                        std::end(kDeviceTables);
    if (!table || (name.str() != "train" && name.str() != "analog" &&
                   name.str() != "pcm-feedback" && name.str() != "drift" && name.str() != "cost" &&
                   !device)) {
      errors.push_back(fmt::format(
          "unexpected key 'base.{}' (the base run's keys belong in [base.train], [base.analog], "
          "[base.pcm-feedback], [base.drift], [base.cost] or a device model's table such as "
          "[base.memristor])",
          name.str()));
      continue;
    }
    for (const auto& [key, value] : *table) {
      const std::string dotted = fmt::format("{}.{}", name.str(), key.str());
      if (campaign_owned(dotted)) {
        errors.push_back(fmt::format("[base.{}] {}: the campaign sets this key itself; use "
                                     "[campaign] {}",
                                     name.str(), key.str(), key.str()));
        continue;
      }
      try {
        set_run_key(c.base, dotted, value, fmt::format("[base.{}]", name.str()));
      } catch (const InputError& e) {
        errors.push_back(e.what());
      }
    }
  }
}

// Each axis value against the base alone, then (if those pass) every point: the message says
// which point and which values fail.
void check_runs(const Campaign& c, std::vector<std::string>& errors) {
  for (const Axis& axis : c.axes) {
    for (const Value& v : axis.values) {
      RunConfig run = c.base;
      try {
        set_run_key(run, axis.key, *to_node(v), "axis");
        validate(run);
      } catch (const InputError& e) {
        errors.push_back(fmt::format("axis {} = {}: {}", axis.key, to_toml_text(v), e.what()));
      }
    }
  }
  if (!errors.empty()) return;
  std::int64_t failing = 0;
  for (std::int64_t p = 0; p < c.points(); ++p) {
    const Trial t = trial(c, p * c.replicas);
    try {
      validate(resolve(c, t));
    } catch (const InputError& e) {
      if (++failing <= 3)
        errors.push_back(fmt::format("point {} ({}): {}", p, describe_point(c, t), e.what()));
    }
  }
  if (failing > 3) errors.push_back(fmt::format("and {} more points fail", failing - 3));
}

std::uint64_t fnv1a(std::string_view text, std::uint64_t h = 0xcbf29ce484222325ULL) {
  for (char ch : text) {
    h ^= static_cast<unsigned char>(ch);
    h *= 0x100000001b3ULL;
  }
  return h;
}

}  // namespace

std::string to_toml_text(const Value& value) { return toml_value_text(*to_node(value)); }

std::int64_t Campaign::points() const {
  if (axes.empty()) return 1;
  if (combine == Combine::zip) return static_cast<std::int64_t>(axes.front().values.size());
  std::int64_t n = 1;
  for (const Axis& a : axes) {
    const auto size = static_cast<std::int64_t>(a.values.size());
    if (size == 0) return 0;
    if (n > kMaxTrials / size) return kMaxTrials + 1;  // saturate: refused by parse_campaign
    n *= size;
  }
  return n;
}

Campaign parse_campaign(const toml::table& file, const std::string& origin, std::string text) {
  Campaign c;
  c.origin = origin;
  c.text = std::move(text);
  std::vector<std::string> errors;
  for (const auto& [key, node] : file)
    if (key.str() != "campaign" && key.str() != "base" && key.str() != "axis")
      errors.push_back(fmt::format("unknown key '{}' (a campaign has [campaign], [base.TABLE] and "
                                   "[[axis]])",
                                   key.str()));
  parse_header(file, c, errors);
  // A campaign keeps curves and measurements, not every trial's weights, unless asked.
  c.base.train.save_weights = false;
  parse_base(file, c, errors);
  if (const toml::node* axes = file.get("axis")) {
    const auto* array = axes->as_array();
    if (!array || !array->is_array_of_tables()) {
      errors.push_back("axis must be an array of tables ([[axis]])");
    } else {
      for (std::size_t i = 0; i < array->size(); ++i) {
        Axis axis = parse_axis(*array->get(i)->as_table(), i, c, errors);
        const bool repeated = !axis.key.empty() &&
                              std::any_of(c.axes.begin(), c.axes.end(),
                                          [&](const Axis& a) { return a.key == axis.key; });
        if (repeated) errors.push_back(fmt::format("axis {} ({}): the key has an axis already", i + 1, axis.key));
        c.axes.push_back(std::move(axis));
      }
    }
  }
  if (errors.empty() && c.combine == Combine::zip && !c.axes.empty()) {
    std::vector<std::string> lengths;
    for (const Axis& a : c.axes) lengths.push_back(fmt::format("{} {}", a.key, a.values.size()));
    const auto n = c.axes.front().values.size();
    if (std::any_of(c.axes.begin(), c.axes.end(), [&](const Axis& a) { return a.values.size() != n; }))
      errors.push_back(fmt::format("combine = \"zip\" needs axes of one length, got {}",
                                   fmt::join(lengths, ", ")));
  }
  if (errors.empty() && c.trials() > kMaxTrials)
    errors.push_back(fmt::format("more than {} trials ({} points x {} replicas)", kMaxTrials,
                                 c.points(), c.replicas));
  if (errors.empty()) check_runs(c, errors);
  if (!errors.empty())
    throw InputError(fmt::format("{}: {} problem{}: {}", origin, errors.size(),
                                 errors.size() == 1 ? "" : "s", fmt::join(errors, "; ")));
  return c;
}

Campaign load_campaign(const std::string& path) {
  const toml::table file = load_toml_file(path);
  std::ostringstream text;
  text << file;  // the parsed file: the echo is what ran, whatever the file's formatting
  return parse_campaign(file, path, text.str());
}

Trial trial(const Campaign& c, std::int64_t id) {
  MC_VALIDATE(id >= 0 && id < c.trials(), "{}: trial {} does not exist ({} trials)", c.origin, id,
              c.trials());
  Trial t;
  t.id = id;
  t.point = id / c.replicas;
  t.replica = id % c.replicas;
  t.value_index.resize(c.axes.size());
  std::int64_t rest = t.point;
  for (std::size_t k = c.axes.size(); k-- > 0;) {
    if (c.combine == Combine::zip) {
      t.value_index[k] = static_cast<std::size_t>(t.point);
    } else {
      const auto n = static_cast<std::int64_t>(c.axes[k].values.size());
      t.value_index[k] = static_cast<std::size_t>(rest % n);
      rest /= n;
    }
  }
  return t;
}

std::int64_t replica_seed(const Campaign& c, std::int64_t replica) {
  // 63 bits: train.seed is a non-negative int64.
  return static_cast<std::int64_t>(
      derive_seed(c.seed, static_cast<std::uint64_t>(replica), stream_id("campaign_replica")) >> 1);
}

RunConfig resolve(const Campaign& c, const Trial& t) {
  RunConfig run = c.base;
  for (std::size_t k = 0; k < c.axes.size(); ++k)
    set_run_key(run, c.axes[k].key, *to_node(c.axes[k].values[t.value_index[k]]), c.origin);
  run.train.seed = replica_seed(c, t.replica);
  run.train.replicas = 1;
  return run;
}

std::string describe_point(const Campaign& c, const Trial& t) {
  std::vector<std::string> parts;
  for (std::size_t k = 0; k < c.axes.size(); ++k)
    parts.push_back(
        fmt::format("{} = {}", c.axes[k].key, to_toml_text(c.axes[k].values[t.value_index[k]])));
  return parts.empty() ? std::string("base") : fmt::format("{}", fmt::join(parts, ", "));
}

std::string config_hash(const Campaign& c) {
  // The base run, the axes in order and the seeds decide every trial's run.
  std::string text = fmt::format("memcarlo-campaign\nseed {}\nreplicas {}\ncombine {}\n", c.seed,
                                 c.replicas, c.combine == Combine::zip ? "zip" : "product");
  text += run_identity(c.base);
  for (const Axis& a : c.axes) {
    text += fmt::format("axis {}:", a.key);
    for (const Value& v : a.values) text += fmt::format(" {}", to_toml_text(v));
    text += '\n';
  }
  return fmt::format("{:016x}", fnv1a(text));
}

}  // namespace memcarlo::campaign
