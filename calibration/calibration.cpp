#include "calibration/calibration.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "calibration/crystallization_fit.hpp"
#include "calibration/dg_table_fit.hpp"
#include "calibration/drift_fit.hpp"
#include "calibration/pulse_train_fit.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "core/version.hpp"

namespace memcarlo {

const EstimatedParameter& CalibrationResult::parameter(const std::string& key) const {
  std::vector<std::string> keys;
  for (const auto& p : parameters) {
    if (p.key == key) return p;
    keys.push_back(p.key);
  }
  throw InputError(fmt::format("calibration of {} has no parameter '{}' (has: {})", source, key,
                               fmt::join(keys, ", ")));
}

RecoveryCheck recovery_check(const CalibrationResult& result, const std::string& key, double truth) {
  const auto& p = result.parameter(key);
  return {key, truth, p.estimate, p.ci_low, p.ci_high};
}

std::vector<CalibrationKindInfo> calibration_kinds() {
  return {
      {"drift",
       "drift exponent per device, its distribution (normal/lognormal by AIC) and state "
       "dependence mu_nu(G), sigma_nu(G) [drift]; activation energy of relaxation [bake]; "
       "writes a pcm-drift config",
       {"drift", "bake"}},
      {"pulse_train",
       "memristor G_min, G_max and nonlinearities per cycle, their spread over cycles and "
       "devices, per-pulse noise and its growth; writes a memristor config",
       {"pulse_train"}},
      {"dg_table",
       "memristor mean step and step spread versus G from conditional CDF tables, and the "
       "empirical lut model; writes a memristor config",
       {"dg_table"}},
      {"pcm-crystallization",
       "crystallization kinetics (R_th, nucleation, variation) by the simulated method of "
       "moments with common random numbers; writes a pcm-crystallization config",
       {"samples", "pulse_train"}},
  };
}

namespace {

const CalibrationKindInfo& kind_info(const std::string& kind) {
  static const auto kinds = calibration_kinds();
  std::vector<std::string> names;
  for (const auto& k : kinds) {
    if (k.name == kind) return k;
    names.push_back(k.name);
  }
  throw InputError(fmt::format("unknown calibration kind '{}' (known: {})", kind,
                               fmt::join(names, ", ")));
}

bool accepts(const CalibrationKindInfo& info, const char* data_kind) {
  for (const auto& a : info.accepts)
    if (a == data_kind) return true;
  return false;
}

}  // namespace

CalibrationInput select_calibration_input(const std::string& kind, const std::string& in_spec) {
  const auto& info = kind_info(kind);
  MC_VALIDATE(!in_spec.empty(), "--in is empty: give FILE.h5 or FILE.h5:GROUP");
  CalibrationInput input;
  input.file = in_spec;
  std::error_code ec;
  const auto colon = in_spec.rfind(':');
  if (!std::filesystem::exists(in_spec, ec) && colon != std::string::npos) {
    input.file = in_spec.substr(0, colon);
    input.group = in_spec.substr(colon + 1);
    MC_VALIDATE(!input.group.empty(), "--in {}: empty group name after ':'", in_spec);
    while (input.group.front() == '/') input.group.erase(0, 1);
  }
  input.contents = read_measurements(input.file);
  if (!input.group.empty()) {
    std::vector<std::string> names;
    for (const auto& s : input.contents.sets) {
      names.push_back(s.name);
      if (s.name == input.group) input.set = &s;
    }
    if (!input.set)
      throw FileError(input.file, fmt::format("no data set '{}' (the file holds: {})", input.group,
                                              fmt::join(names, ", ")));
    const char* data_kind = kind_name(input.set->body);
    if (!accepts(info, data_kind))
      throw InputError(fmt::format("{}:{} is kind '{}', but calibrate {} needs kind {}", input.file,
                                   input.group, data_kind, kind, fmt::join(info.accepts, " or ")));
    return input;
  }
  std::vector<std::string> candidates;
  for (const auto& s : input.contents.sets)
    if (accepts(info, kind_name(s.body))) {
      candidates.push_back(s.name);
      input.set = &s;
    }
  if (candidates.empty())
    throw InputError(fmt::format("{} holds no data set of kind {} for calibrate {}", input.file,
                                 fmt::join(info.accepts, " or "), kind));
  if (candidates.size() > 1)
    throw InputError(fmt::format("{} holds {} data sets calibrate {} can fit ({}): choose one "
                                 "with --in {}:GROUP",
                                 input.file, candidates.size(), kind, fmt::join(candidates, ", "),
                                 input.file));
  input.group = candidates.front();
  return input;
}

CalibrationInput calibration_input(MeasurementFile contents, const std::string& group,
                                   const std::string& file) {
  CalibrationInput input;
  input.file = file;
  input.contents = std::move(contents);
  MC_VALIDATE(!input.contents.sets.empty(), "{}: no data sets", file);
  for (const auto& s : input.contents.sets)
    if (group.empty() || s.name == group) {
      input.set = &s;
      break;
    }
  MC_VALIDATE(input.set != nullptr, "{}: no data set '{}'", file, group);
  input.group = input.set->name;
  return input;
}

CalibrationResult calibrate(const std::string& kind, const CalibrationInput& input,
                            const CalibrationOptions& options) {
  kind_info(kind);
  MC_VALIDATE(input.set != nullptr, "calibrate {}: no data set selected", kind);
  MC_VALIDATE(options.confidence > 0 && options.confidence < 1,
              "confidence level {} must be in (0, 1)", options.confidence);
  if (kind == "drift") return calibrate_drift(input, options);
  if (kind == "pulse_train") return calibrate_pulse_train(input, options);
  if (kind == "dg_table") return calibrate_dg_table(input, options);
  return calibrate_crystallization(input, options);
}

void add_params_from_estimates(CalibrationResult& r) {
  for (const auto& p : r.parameters) {
    if (!p.in_params) continue;
    std::string comment =
        p.identified && std::isfinite(p.ci_low)
            ? fmt::format("{:g}% CI [{:.6g}, {:.6g}] {}", 100 * r.confidence, p.ci_low, p.ci_high, p.unit)
            : (p.identified ? fmt::format("{} (no interval)", p.unit)
                            : fmt::format("{} (not identified by the data: {})", p.unit, p.note));
    r.params.push_back({p.key, detail::format_value(p.estimate), comment});
  }
}

ParamsEntry params_entry(const std::string& key, double value, const std::string& comment) {
  return {key, detail::format_value(value), comment};
}
ParamsEntry params_entry(const std::string& key, std::int64_t value, const std::string& comment) {
  return {key, detail::format_value(value), comment};
}
ParamsEntry params_entry(const std::string& key, const std::string& value, const std::string& comment) {
  return {key, detail::format_value(value), comment};
}

std::string params_toml(const CalibrationResult& r, const std::string& command_line) {
  std::string o;
  o += fmt::format("# {} calibration of model '{}' from {}\n", r.kind, r.model, r.source);
  o += fmt::format("# written by {}: {}\n", kCreatedBy, command_line);
  o += fmt::format("# use: memcarlo device simulate {} --config THIS_FILE --devices N --out F.h5\n",
                   r.model);
  o += fmt::format("# intervals: {:g}% percentile bootstrap, {} resamples\n", 100 * r.confidence,
                   r.bootstrap_resamples);
  for (const auto& n : r.notes) o += fmt::format("# note: {}\n", n);
  o += fmt::format("\n[{}]\n", r.model);
  for (const auto& e : r.params) {
    o += fmt::format("{} = {}", e.key, e.value);
    if (!e.comment.empty()) o += fmt::format("  # {}", e.comment);
    o += '\n';
  }
  return o;
}

namespace {

nlohmann::json gof_json(const GofResult& g) {
  return {{"statistic", g.statistic}, {"p_value", g.p_value}, {"n", g.n}};
}

std::string cell(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "–"; }

std::string p_cell(double p) {
  if (!std::isfinite(p)) return "–";
  return p < 0.01 ? fmt::format("**{:.2g}** (fails)", p) : fmt::format("{:.3g}", p);
}

}  // namespace

std::string report_json(const CalibrationResult& r, const std::string& command_line) {
  nlohmann::json j;
  j["kind"] = r.kind;
  j["source"] = r.source;
  j["model"] = r.model;
  j["method"] = r.method;
  j["command"] = command_line;
  j["created_by"] = kCreatedBy;
  j["confidence"] = r.confidence;
  j["bootstrap_resamples"] = r.bootstrap_resamples;
  j["bootstrap_failures"] = r.bootstrap_failures;
  for (const auto& p : r.parameters)
    j["parameters"].push_back({{"key", p.key}, {"unit", p.unit}, {"description", p.description},
                               {"estimate", p.estimate}, {"ci_low", p.ci_low},
                               {"ci_high", p.ci_high}, {"standard_error", p.standard_error},
                               {"identified", p.identified}, {"in_params", p.in_params},
                               {"note", p.note}});
  for (const auto& g : r.gof)
    j["gof"].push_back({{"what", g.what}, {"ks", gof_json(g.ks)}, {"ad", gof_json(g.ad)},
                        {"note", g.note}});
  for (const auto& t : r.round_trips)
    j["round_trips"].push_back({{"what", t.what}, {"ks", gof_json(t.ks)},
                                {"n_measured", t.n_measured}, {"n_simulated", t.n_simulated},
                                {"note", t.note}});
  for (const auto& f : r.figures)
    j["figures"].push_back({{"file", f.name + ".svg"}, {"caption", f.caption}});
  j["notes"] = r.notes;
  return j.dump(1);
}

void write_report(const std::string& directory, const CalibrationResult& r,
                  const std::string& command_line) {
  std::error_code ec;
  std::filesystem::create_directories(directory, ec);
  if (ec || !std::filesystem::is_directory(directory))
    throw FileError(directory, "cannot create the report directory" +
                                   (ec ? " (" + ec.message() + ")" : std::string()));
  std::string md = fmt::format("# {} calibration: {}\n\nModel `{}`. Command: `{}`\n\n{}\n\n",
                               r.kind, r.source, r.model, command_line, r.method);
  md += fmt::format("## Parameters\n\n{:g}% percentile bootstrap intervals, {} resamples.\n\n",
                    100 * r.confidence, r.bootstrap_resamples);
  md += "| quantity | estimate | interval | unit | note |\n|---|---|---|---|---|\n";
  for (const auto& p : r.parameters)
    md += fmt::format("| `{}` | {} | {} | {} | {}{} |\n", p.key, cell(p.estimate),
                      p.identified ? fmt::format("[{}, {}]", cell(p.ci_low), cell(p.ci_high))
                                   : std::string("not identified"),
                      p.unit, p.description, p.note.empty() ? "" : "; " + p.note);
  if (!r.gof.empty()) {
    md += "\n## Goodness of fit\n\n| what | KS D | KS p | AD A² | AD p | n | note |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const auto& g : r.gof)
      md += fmt::format("| {} | {} | {} | {} | {} | {} | {} |\n", g.what, cell(g.ks.statistic),
                        p_cell(g.ks.p_value), cell(g.ad.statistic), p_cell(g.ad.p_value), g.ks.n,
                        g.note);
  }
  if (!r.round_trips.empty()) {
    md += "\n## Round trip (simulate with the fitted parameters, compare)\n\n"
          "| what | KS D | p | n measured | n simulated | note |\n|---|---|---|---|---|---|\n";
    for (const auto& t : r.round_trips)
      md += fmt::format("| {} | {} | {} | {} | {} | {} |\n", t.what, cell(t.ks.statistic),
                        p_cell(t.ks.p_value), t.n_measured, t.n_simulated, t.note);
  }
  if (!r.notes.empty()) {
    md += "\n## Notes\n\n";
    for (const auto& n : r.notes) md += "* " + n + "\n";
  }
  if (!r.figures.empty()) {
    md += "\n## Figures\n\n";
    for (const auto& f : r.figures) md += fmt::format("![{0}]({1}.svg)\n\n{0}\n\n", f.caption, f.name);
  }
  for (const auto& f : r.figures) write_text_file(directory + "/" + f.name + ".svg", f.svg);
  write_text_file(directory + "/report.json", report_json(r, command_line) + "\n");
  write_text_file(directory + "/report.md", md);
}

}  // namespace memcarlo
