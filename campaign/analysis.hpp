// Reading a campaign's results back: every trial's metrics, grouped by axes into means with
// their standard deviation and a Student-t confidence interval of the mean, as tables (text,
// CSV, Markdown) and SVG figures (a metric against one axis with its confidence band, one
// series per value of a second axis; a heat map over two axes). `memcarlo analyze` prints and
// writes them; python/memcarlo_results.py reads the same file into a table for notebooks.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "campaign/campaign.hpp"

namespace memcarlo::campaign {

struct TrialMetrics {
  std::int64_t id = 0, point = 0, replica = 0;
  std::string status;                     // completed, diverged: ..., failed: ...
  std::vector<std::size_t> value_index;   // per axis of the campaign
  std::map<std::string, double> metrics;  // by name (metric_help lists them)
};

struct CampaignResults {
  std::string path;
  Campaign campaign;
  std::vector<TrialMetrics> trials;  // those in the file, by id
};

// Reads a results file (checked as --resume checks it: format, version, the echoed campaign).
CampaignResults read_results(const std::string& path);

// The metrics a trial can have, with their meaning, for --help and errors.
std::string metric_help();

// Names of the metrics present in at least one completed trial, sorted.
std::vector<std::string> metric_names(const CampaignResults& results);

struct GroupStats {
  std::vector<std::size_t> value_index;  // per grouping axis
  std::int64_t n = 0;                    // completed trials with a finite value of the metric
  std::int64_t diverged = 0, failed = 0, missing = 0;  // missing: not in the file (yet)
  double mean = 0, sd = 0, ci_low = 0, ci_high = 0;      // sd, CI: NaN for n < 2
};

struct Summary {
  std::string metric;
  std::vector<std::size_t> axes;  // the grouping axes (indices into the campaign's axes)
  double confidence = 0.95;
  std::vector<GroupStats> groups;  // every combination of the grouping axes' values, in order
};

// Groups the trials by the named axes (all axes if `by` is empty; none groups everything) and
// summarises `metric`. InputError naming the key or metric that the campaign does not have.
Summary summarize(const CampaignResults& results, const std::vector<std::string>& by,
                  const std::string& metric);

enum class TableFormat { text, csv, markdown };
std::string format_table(const CampaignResults& results, const Summary& summary, TableFormat format);

// The metric against the first grouping axis (mean and confidence band per series), one series
// per combination of the other grouping axes; "" when there is no grouping axis.
std::string summary_figure(const CampaignResults& results, const Summary& summary);
// Means over exactly two grouping axes as a heat map; "" otherwise.
std::string summary_heatmap(const CampaignResults& results, const Summary& summary);

// Two campaigns side by side, grouped alike: each one's mean and CI, and the difference of
// the means with Welch's confidence interval. Groups are matched by the values of the grouping
// axes (the campaigns need the same grouping axis keys).
std::string compare_table(const CampaignResults& a, const Summary& sa, const CampaignResults& b,
                          const Summary& sb, TableFormat format);

}  // namespace memcarlo::campaign
