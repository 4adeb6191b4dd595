#include "campaign/analysis.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include <boost/math/distributions/students_t.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "campaign/runner.hpp"
#include "core/error.hpp"
#include "core/svg_plot.hpp"
#include "data/hdf5.hpp"

namespace memcarlo::campaign {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double last_of(const NdArray<double>& a) { return a.data.empty() ? kNaN : a.data.back(); }

double max_of(const NdArray<double>& a) {
  double m = kNaN;
  for (double v : a.data)
    if (std::isfinite(v) && !(m >= v)) m = v;
  return m;
}

// What a trial group holds, as named numbers.
std::map<std::string, double> read_metrics(const h5::Group& g) {
  std::map<std::string, double> m;
  if (g.has_attr("final_test_accuracy")) m["final_test_accuracy"] = g.read_attr_double("final_test_accuracy");
  if (g.has_attr("trial_time_s")) m["trial_time_s"] = g.read_attr_double("trial_time_s");
  if (g.has("test_accuracy")) m["best_test_accuracy"] = max_of(g.read_double("test_accuracy"));
  if (g.has("test_loss")) m["final_test_loss"] = last_of(g.read_double("test_loss"));
  if (g.has("train_loss")) m["final_train_loss"] = last_of(g.read_double("train_loss"));
  if (g.has("train_accuracy")) m["final_train_accuracy"] = last_of(g.read_double("train_accuracy"));
  if (g.has("analog")) {
    const h5::Group a = g.open_group("analog");
    double devices = 0, refreshes = 0;
    for (const std::string& name : a.children()) {
      const h5::Group tile = a.open_group(name);
      if (tile.has_attr("devices")) devices += tile.read_attr_double("devices");
      if (tile.has_attr("refreshes")) refreshes += tile.read_attr_double("refreshes");
    }
    if (a.has_attr("pulses")) {
      m["pulses"] = a.read_attr_double("pulses");
      if (devices > 0) m["pulses_per_device"] = m["pulses"] / devices;
    }
    m["refreshes"] = refreshes;
  }
  if (g.has("inference")) {
    const h5::Group inf = g.open_group("inference");
    const auto t = inf.read_double("time_s");
    const auto acc = inf.read_double("test_accuracy");
    const auto comp = inf.read_double("test_accuracy_compensated");
    for (std::size_t k = 0; k < t.data.size(); ++k) {
      const std::string at = fmt::format("{:.0f}s", t.data[k]);
      if (k < acc.data.size()) m["inference_accuracy_" + at] = acc.data[k];
      if (k < comp.data.size()) m["inference_accuracy_compensated_" + at] = comp.data[k];
    }
  }
  return m;
}

bool is_completed(const TrialMetrics& t) { return t.status == "completed"; }

// Student-t quantile for a two-sided interval of `confidence` with `dof` degrees of freedom.
double t_quantile(double confidence, double dof) {
  return boost::math::quantile(boost::math::students_t(dof), 0.5 + confidence / 2);
}

std::string axis_value_text(const Axis& axis, std::size_t i) {
  std::string s = to_toml_text(axis.values[i]);
  if (s.size() > 2 && (s.front() == '\'' || s.front() == '"')) s = s.substr(1, s.size() - 2);
  return s;  // an empty string stays '' (visible in a table)
}

// A value as figures show it: a file path by its name without folder and extension, an empty
// string as "(default)" (an unset key takes its default). Tables keep the full text.
std::string display_value(const Axis& axis, std::size_t i) {
  std::string s = axis_value_text(axis, i);
  if (s == "''") return "(default)";
  if (std::holds_alternative<std::string>(axis.values[i]) && s.find('/') != std::string::npos) {
    s = s.substr(s.rfind('/') + 1);
    if (const auto dot = s.rfind('.'); dot != std::string::npos && dot > 0) s = s.substr(0, dot);
  }
  return s;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : std::string("nan"); }

// Rows of cells -> aligned text, CSV or Markdown.
std::string render(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows,
                   TableFormat format) {
  std::string out;
  if (format == TableFormat::csv) {
    std::vector<std::string> h;
    for (const auto& c : header) h.push_back(csv_field(c));
    out += fmt::format("{}\n", fmt::join(h, ","));
    for (const auto& row : rows) {
      std::vector<std::string> r;
      for (const auto& c : row) r.push_back(csv_field(c));
      out += fmt::format("{}\n", fmt::join(r, ","));
    }
    return out;
  }
  if (format == TableFormat::markdown) {
    out += fmt::format("| {} |\n|", fmt::join(header, " | "));
    for (std::size_t i = 0; i < header.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& row : rows) out += fmt::format("| {} |\n", fmt::join(row, " | "));
    return out;
  }
  std::vector<std::size_t> width(header.size());
  for (std::size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  const auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (std::size_t c = 0; c < cells.size(); ++c)
      l += fmt::format("{}{:<{}}", c ? "  " : "", cells[c], width[c]);
    while (!l.empty() && l.back() == ' ') l.pop_back();
    return l + "\n";
  };
  out += line(header);
  for (const auto& row : rows) out += line(row);
  return out;
}

// Which campaign axis each named key is; InputError for a key the campaign has no axis of.
std::vector<std::size_t> axis_indices(const Campaign& c, const std::vector<std::string>& keys,
                                      const std::string& origin) {
  std::vector<std::size_t> out;
  for (const std::string& key : keys) {
    std::size_t found = c.axes.size();
    for (std::size_t k = 0; k < c.axes.size(); ++k)
      if (c.axes[k].key == key) found = k;
    std::vector<std::string> names;
    for (const Axis& a : c.axes) names.push_back(a.key);
    MC_VALIDATE(found < c.axes.size(), "--by {}: {} has no axis '{}' (its axes: {})", fmt::join(keys, ","),
                origin, key, names.empty() ? std::string("none") : fmt::format("{}", fmt::join(names, ", ")));
    MC_VALIDATE(std::find(out.begin(), out.end(), found) == out.end(), "--by: axis '{}' given twice", key);
    out.push_back(found);
  }
  return out;
}

std::string group_label(const Campaign& c, const Summary& s, const GroupStats& g, std::size_t from) {
  std::vector<std::string> parts;
  for (std::size_t j = from; j < s.axes.size(); ++j)
    parts.push_back(fmt::format("{} = {}", c.axes[s.axes[j]].key, display_value(c.axes[s.axes[j]], g.value_index[j])));
  return fmt::format("{}", fmt::join(parts, ", "));
}

bool numeric_axis(const Axis& a) {
  return std::all_of(a.values.begin(), a.values.end(), [](const Value& v) {
    return std::holds_alternative<double>(v) || std::holds_alternative<std::int64_t>(v);
  });
}

double as_number(const Value& v) {
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return static_cast<double>(std::get<std::int64_t>(v));
}

CampaignResults read_results_unchecked(const std::string& path) {
  CampaignResults r;
  r.path = path;
  r.campaign = campaign_of_results(path);
  const h5::Group root = h5::open_file(path);
  const h5::Group trials = root.open_group("trials");
  for (const std::string& name : trials.children()) {
    const h5::Group g = trials.open_group(name);
    TrialMetrics t;
    t.id = g.read_attr_int("id");
    if (t.id < 0 || t.id >= r.campaign.trials())
      throw FileError(path, g.path(), fmt::format("trial id {} is outside the campaign's {} trials", t.id,
                                                  r.campaign.trials()));
    const Trial grid = trial(r.campaign, t.id);
    t.point = grid.point;
    t.replica = grid.replica;
    t.value_index = grid.value_index;
    t.status = g.read_attr_string("status");
    t.metrics = read_metrics(g);
    r.trials.push_back(std::move(t));
  }
  std::sort(r.trials.begin(), r.trials.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return r;
}

}  // namespace

CampaignResults read_results(const std::string& path) {
  return h5::read_guarded(path, [&] { return read_results_unchecked(path); });
}

std::string metric_help() {
  return "final_test_accuracy (default), best_test_accuracy, final_test_loss, final_train_loss,\n"
         "final_train_accuracy, trial_time_s; with devices: pulses, pulses_per_device, refreshes;\n"
         "with an inference chip: inference_accuracy_<T>s and inference_accuracy_compensated_<T>s\n"
         "(T: each test time in seconds, e.g. inference_accuracy_compensated_86400s)";
}

std::vector<std::string> metric_names(const CampaignResults& results) {
  std::set<std::string> names;
  for (const auto& t : results.trials)
    if (is_completed(t))
      for (const auto& [name, value] : t.metrics) names.insert(name);
  return {names.begin(), names.end()};
}

Summary summarize(const CampaignResults& results, const std::vector<std::string>& by,
                  const std::string& metric) {
  const Campaign& c = results.campaign;
  Summary s;
  s.metric = metric;
  if (by.empty()) {
    for (std::size_t k = 0; k < c.axes.size(); ++k) s.axes.push_back(k);
  } else if (!(by.size() == 1 && by[0] == "none")) {
    s.axes = axis_indices(c, by, results.path);
  }
  const auto names = metric_names(results);
  MC_VALIDATE(results.trials.empty() || std::find(names.begin(), names.end(), metric) != names.end(),
              "--metric {}: no completed trial of {} has it (it has: {})", metric, results.path,
              names.empty() ? std::string("no completed trial") : fmt::format("{}", fmt::join(names, ", ")));
  // Every combination of the grouping axes' values that some point has (with combine = zip,
  // only the zipped ones), in the order of the values.
  std::set<std::vector<std::size_t>> keys;
  for (std::int64_t p = 0; p < c.points(); ++p) {
    const Trial t = trial(c, p * c.replicas);
    std::vector<std::size_t> key;
    for (std::size_t k : s.axes) key.push_back(t.value_index[k]);
    keys.insert(key);
  }
  std::map<std::vector<std::size_t>, std::size_t> index;
  for (const auto& key : keys) {
    index[key] = s.groups.size();
    GroupStats g;
    g.value_index = key;
    s.groups.push_back(g);
  }
  // planned trials per group, and the values of the completed ones
  std::vector<std::vector<double>> values(s.groups.size());
  std::vector<std::int64_t> planned(s.groups.size(), 0), present(s.groups.size(), 0);
  const auto key_of = [&](const std::vector<std::size_t>& value_index) {
    std::vector<std::size_t> key;
    for (std::size_t k : s.axes) key.push_back(value_index[k]);
    return index.at(key);
  };
  for (std::int64_t p = 0; p < c.points(); ++p) planned[key_of(trial(c, p * c.replicas).value_index)] += c.replicas;
  for (const auto& t : results.trials) {
    const std::size_t g = key_of(t.value_index);
    ++present[g];
    if (is_completed(t)) {
      const auto it = t.metrics.find(metric);
      if (it != t.metrics.end() && std::isfinite(it->second)) values[g].push_back(it->second);
    } else if (t.status.rfind("diverged", 0) == 0) {
      ++s.groups[g].diverged;
    } else {
      ++s.groups[g].failed;
    }
  }
  for (std::size_t i = 0; i < s.groups.size(); ++i) {
    GroupStats& g = s.groups[i];
    g.missing = planned[i] - present[i];
    const auto& v = values[i];
    g.n = static_cast<std::int64_t>(v.size());
    g.mean = g.sd = g.ci_low = g.ci_high = kNaN;
    if (v.empty()) continue;
    double sum = 0;
    for (double x : v) sum += x;  // in trial-id order: the same sums for any file order
    g.mean = sum / static_cast<double>(v.size());
    if (v.size() < 2) continue;
    double ss = 0;
    for (double x : v) ss += (x - g.mean) * (x - g.mean);
    g.sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
    const double half = t_quantile(s.confidence, static_cast<double>(v.size() - 1)) * g.sd /
                        std::sqrt(static_cast<double>(v.size()));
    g.ci_low = g.mean - half;
    g.ci_high = g.mean + half;
  }
  return s;
}

std::string format_table(const CampaignResults& results, const Summary& s, TableFormat format) {
  const Campaign& c = results.campaign;
  std::vector<std::string> header;
  for (std::size_t k : s.axes) header.push_back(c.axes[k].key);
  const std::string ci = fmt::format("{:.0f}", 100 * s.confidence);
  for (const std::string& h : std::vector<std::string>{"n", "mean", "sd", "ci" + ci + "_low", "ci" + ci + "_high", "diverged",
                              "failed", "missing"})
    header.push_back(h);
  std::vector<std::vector<std::string>> rows;
  for (const GroupStats& g : s.groups) {
    std::vector<std::string> row;
    for (std::size_t j = 0; j < s.axes.size(); ++j) row.push_back(axis_value_text(c.axes[s.axes[j]], g.value_index[j]));
    row.push_back(fmt::format("{}", g.n));
    for (double v : {g.mean, g.sd, g.ci_low, g.ci_high}) row.push_back(number(v));
    for (std::int64_t v : {g.diverged, g.failed, g.missing}) row.push_back(fmt::format("{}", v));
    rows.push_back(std::move(row));
  }
  return render(header, rows, format);
}

std::string summary_figure(const CampaignResults& results, const Summary& s) {
  if (s.axes.empty()) return "";
  const Campaign& c = results.campaign;
  const Axis& x_axis = c.axes[s.axes.front()];
  const bool numeric = numeric_axis(x_axis);
  const std::string ci = fmt::format("{:.0f}% CI", 100 * s.confidence);
  Plot plot(fmt::format("{}: {} versus {}", c.name, s.metric, x_axis.key), x_axis.key, s.metric);
  if (numeric) {
    bool positive = true;
    double lo = std::numeric_limits<double>::infinity(), hi = 0;
    for (const Value& v : x_axis.values) {
      const double x = as_number(v);
      positive = positive && x > 0;
      lo = std::min(lo, x), hi = std::max(hi, x);
    }
    if (positive && (x_axis.source.find("log") != std::string::npos || hi / lo >= 100))
      plot.x_scale(PlotScale::log);
  } else {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < x_axis.values.size(); ++i) names.push_back(display_value(x_axis, i));
    plot.x_categories(names);
  }
  // one series per combination of the other grouping axes, in group order
  std::map<std::vector<std::size_t>, std::vector<const GroupStats*>> series;
  std::vector<std::vector<std::size_t>> order;
  for (const GroupStats& g : s.groups) {
    std::vector<std::size_t> rest(g.value_index.begin() + 1, g.value_index.end());
    if (!series.count(rest)) order.push_back(rest);
    series[rest].push_back(&g);
  }
  int colour = 0;
  for (const auto& rest : order) {
    std::vector<const GroupStats*> gs = series[rest];
    std::vector<double> x, mean, lo, hi;
    for (const GroupStats* g : gs) {
      const std::size_t i = g->value_index.front();
      x.push_back(numeric ? as_number(x_axis.values[i]) : static_cast<double>(i));
      mean.push_back(g->mean);
      lo.push_back(g->ci_low);
      hi.push_back(g->ci_high);
    }
    const std::string name = s.axes.size() > 1 ? group_label(c, s, *gs.front(), 1) : std::string("mean");
    plot.band(fmt::format("{} ({})", name, ci), x, lo, hi).colour(colour);
    if (numeric)
      plot.line(name, x, mean).colour(colour);
    plot.points(numeric ? std::string() : name, x, mean).colour(colour);
    ++colour;
  }
  return plot.svg();
}

std::string summary_heatmap(const CampaignResults& results, const Summary& s) {
  if (s.axes.size() != 2) return "";
  const Campaign& c = results.campaign;
  const Axis& ra = c.axes[s.axes[0]];
  const Axis& ca = c.axes[s.axes[1]];
  std::vector<std::string> rows, cols;
  for (std::size_t i = 0; i < ra.values.size(); ++i) rows.push_back(display_value(ra, i));
  for (std::size_t i = 0; i < ca.values.size(); ++i) cols.push_back(display_value(ca, i));
  std::vector<std::vector<double>> v(rows.size(), std::vector<double>(cols.size(), kNaN));
  for (const GroupStats& g : s.groups) v[g.value_index[0]][g.value_index[1]] = g.mean;
  return heatmap_svg(fmt::format("{}: mean {}", c.name, s.metric), ra.key, rows, ca.key, cols, v,
                     "mean " + s.metric);
}

std::string compare_table(const CampaignResults& a, const Summary& sa, const CampaignResults& b,
                          const Summary& sb, TableFormat format) {
  std::vector<std::string> keys_a, keys_b;
  for (std::size_t k : sa.axes) keys_a.push_back(a.campaign.axes[k].key);
  for (std::size_t k : sb.axes) keys_b.push_back(b.campaign.axes[k].key);
  MC_VALIDATE(keys_a == keys_b, "--compare: {} groups by [{}] but {} by [{}]: choose common axes with --by",
              a.path, fmt::join(keys_a, ", "), b.path, fmt::join(keys_b, ", "));
  const std::string ci = fmt::format("{:.0f}", 100 * sa.confidence);
  std::vector<std::string> header = keys_a;
  for (const std::string& h : std::vector<std::string>{"n_a", "mean_a", "n_b", "mean_b", "b_minus_a", "ci" + ci + "_low",
                              "ci" + ci + "_high"})
    header.push_back(h);
  // match groups by the text of their values
  const auto texts = [](const CampaignResults& r, const Summary& s, const GroupStats& g) {
    std::vector<std::string> t;
    for (std::size_t j = 0; j < s.axes.size(); ++j) t.push_back(axis_value_text(r.campaign.axes[s.axes[j]], g.value_index[j]));
    return t;
  };
  std::map<std::vector<std::string>, const GroupStats*> in_b;
  for (const GroupStats& g : sb.groups) in_b[texts(b, sb, g)] = &g;
  std::vector<std::vector<std::string>> rows;
  for (const GroupStats& ga : sa.groups) {
    const auto t = texts(a, sa, ga);
    const auto it = in_b.find(t);
    if (it == in_b.end()) continue;
    const GroupStats& gb = *it->second;
    std::vector<std::string> row = t;
    // Welch: difference of means, its standard error and Welch-Satterthwaite degrees of freedom
    double diff = gb.mean - ga.mean, lo = kNaN, hi = kNaN;
    if (ga.n >= 2 && gb.n >= 2) {
      const double va = ga.sd * ga.sd / static_cast<double>(ga.n), vb = gb.sd * gb.sd / static_cast<double>(gb.n);
      const double se = std::sqrt(va + vb);
      if (se > 0) {
        const double dof = (va + vb) * (va + vb) /
                           (va * va / static_cast<double>(ga.n - 1) + vb * vb / static_cast<double>(gb.n - 1));
        const double half = t_quantile(sa.confidence, dof) * se;
        lo = diff - half, hi = diff + half;
      } else {
        lo = hi = diff;
      }
    }
    row.push_back(fmt::format("{}", ga.n));
    row.push_back(number(ga.mean));
    row.push_back(fmt::format("{}", gb.n));
    row.push_back(number(gb.mean));
    for (double v : {diff, lo, hi}) row.push_back(number(v));
    rows.push_back(std::move(row));
  }
  MC_VALIDATE(!rows.empty(), "--compare: {} and {} have no group with the same values of [{}]", a.path,
              b.path, fmt::join(keys_a, ", "));
  return render(header, rows, format);
}

}  // namespace memcarlo::campaign
