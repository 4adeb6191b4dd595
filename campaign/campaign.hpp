// A Monte Carlo campaign: a base run of `memcarlo train` and axes over its keys, expanded into
// trials (point, replica). The file format is a contract (docs/campaigns.md):
//
//   [campaign]  name, seed, replicas, combine ("product" or "zip")
//   [base.train], [base.analog], [base.memristor] ...   exactly a RUN.toml's tables
//               (save_weights defaults to false)
//   [[axis]]    key = "table.key" (train., analog. or a device model's: memristor.sigma_area)
//               and one of
//               values = [...]
//               range  = { from, to, count, scale = "linear" | "log" }
//               random = { distribution = "uniform" | "log-uniform" | "normal",
//                          from, to | mean, std, count }
//
// Trial ids run point-major: trial = point * replicas + replica; with `product` the last axis
// varies fastest. Replica r of every point trains from the seed derive_seed(campaign seed, r,
// "campaign_replica"), so points are compared on common random numbers and no trial's result
// depends on the order, thread, shard or rank that runs it.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include <toml++/toml.h>

#include "campaign/run_config.hpp"

namespace memcarlo::campaign {

// One value of an axis: a TOML boolean, integer, float or string.
using Value = std::variant<bool, std::int64_t, double, std::string>;

// The value as TOML text (strings quoted), as it would appear in a RUN.toml.
std::string to_toml_text(const Value& value);

enum class Combine { product, zip };

struct Axis {
  std::string key;            // "table.key"
  std::vector<Value> values;  // in the order the trials take them
  std::string source;         // "values", "range (log)", "random (normal)": for people
};

struct Campaign {
  std::string origin;  // the file it came from, for messages
  std::string text;    // the file as given, echoed into the results
  std::string name;
  std::uint64_t seed = 1;
  std::int64_t replicas = 1;
  Combine combine = Combine::product;
  RunConfig base;  // [base] resolved over the defaults
  std::vector<Axis> axes;

  std::int64_t points() const;
  std::int64_t trials() const { return points() * replicas; }
};

// Reads and checks a campaign: every key of every table, every axis value against its key, and
// every point's resolved run. All problems are collected and thrown as one InputError naming
// the file ("C.toml: 2 problems: ...; ...").
Campaign parse_campaign(const toml::table& file, const std::string& origin, std::string text = "");
Campaign load_campaign(const std::string& path);

// Trials beyond this many are refused (a typo in a range count should not plan a year of work).
inline constexpr std::int64_t kMaxTrials = 1'000'000;

struct Trial {
  std::int64_t id = 0, point = 0, replica = 0;
  std::vector<std::size_t> value_index;  // per axis: which of its values
};

Trial trial(const Campaign& campaign, std::int64_t id);

// The seed of replica r (train.seed of each of its trials).
std::int64_t replica_seed(const Campaign& campaign, std::int64_t replica);

// The run of a trial: base, then each axis' value, then seed = replica_seed and replicas = 1.
RunConfig resolve(const Campaign& campaign, const Trial& trial);

// "train.lr = 0.01, train.rule = \"dfa\"": the point's values, for listings and messages.
std::string describe_point(const Campaign& campaign, const Trial& trial);

// A hash of everything that decides the trials' results (the resolved run of every trial), as
// 16 hex digits: a results file records it, and --resume and merge refuse another campaign's.
std::string config_hash(const Campaign& campaign);

}  // namespace memcarlo::campaign
