#include "analog/drift.hpp"

#include <cmath>

#include <fmt/format.h>

#include "core/error.hpp"
#include "core/noise.hpp"

namespace memcarlo::analog {

namespace {
constexpr std::uint64_t kDriftStream = stream_id("drift");
}  // namespace

void validate(const DriftConfig& c) {
  // Upper bounds: a century, well past any retention question, and inside double's exact range.
  constexpr double kCentury = 3.2e9;
  MC_VALIDATE(std::isfinite(c.t_wait) && c.t_wait >= 0 && c.t_wait <= kCentury,
              "drift.t_wait = {} s must be in [0, 3.2e9]", c.t_wait);
  MC_VALIDATE(std::isfinite(c.time_per_batch) && c.time_per_batch >= 0 && c.time_per_batch <= 1e6,
              "drift.time_per_batch = {} s must be in [0, 1e6]", c.time_per_batch);
  parse_compensation(c.compensation);
  MC_VALIDATE(std::isfinite(c.refresh_interval) && c.refresh_interval >= 1,
              "drift.refresh_interval = {} s must be >= 1", c.refresh_interval);
  MC_VALIDATE(c.refresh_mode == "pulses" || c.refresh_mode == "targets",
              "drift.refresh_mode = '{}': use pulses or targets", c.refresh_mode);
  MC_VALIDATE(std::isfinite(c.resolution) && c.resolution > 0 && c.resolution <= 1,
              "drift.resolution = {} must be in (0, 1]", c.resolution);
  MC_VALIDATE(c.reference_cells >= 1 && c.reference_cells <= 1'000'000,
              "drift.reference_cells = {} must be in [1, 1000000]", c.reference_cells);
}

Compensation parse_compensation(const std::string& name) {
  if (name == "none") return Compensation::none;
  if (name == "gdc") return Compensation::gdc;
  if (name == "per_column") return Compensation::per_column;
  if (name == "reference_cells") return Compensation::reference_cells;
  if (name == "refresh") return Compensation::refresh;
  if (name == "differential") return Compensation::differential;
  throw InputError(fmt::format(
      "drift.compensation = '{}': use none, gdc, per_column, reference_cells, refresh or differential",
      name));
}

CellDrift::CellDrift(const PcmDriftModel& model, const DriftConfig& config)
    : model_(model), config_(config), compensation_(parse_compensation(config.compensation)) {
  validate(config_);
}

double CellDrift::nu(double G_w_S, double z) const {
  const double g = std::max(model_.normalised(G_w_S), 1e-12);
  return model_.mu_nu(g) + model_.sigma_nu(g) * z;
}

double CellDrift::factor(double G_w_S, double z, double age_s) const {
  const double t0 = model_.config().t0_s;
  if (!(age_s > t0) || G_w_S <= 0) return 1.0;
  return std::pow(model_.ageing_time_s(age_s) / t0, -nu(G_w_S, z));
}

std::vector<float> CellDrift::draw_z(std::uint64_t seed, std::size_t cells) {
  std::vector<float> z(cells);
  fill_standard_normal(z, seed, 0, kDriftStream, 0);
  return z;
}

std::uint64_t CellDrift::refreshes_by(double t_s) const {
  if (compensation_ != Compensation::refresh) return 0;
  return static_cast<std::uint64_t>(std::floor(t_s / config_.refresh_interval));
}

bool DriftSchedule::due(double t_s) {
  const std::uint64_t refreshes = drift_->refreshes_by(t_s);
  const bool first = evaluations_ == 0;
  const double t0 = drift_->model().config().t0_s;
  const double res = drift_->config().resolution;
  // Ages since the bulk write (programming at 0 or the last refresh): nothing written after it
  // has drifted before its age passes t0.
  const double t_ref = drift_->refresh_time_s(refreshes);
  const double age = t_s - t_ref, last_age = last_s_ - t_ref;
  const bool moved = age > t0 && (age >= last_age * (1.0 + res) ||
                                  (single_writes_ && t_s - last_s_ >= res * t0));
  if (!first && refreshes == refreshes_ && !moved) return false;
  last_s_ = t_s;
  refreshes_ = refreshes;
  ++evaluations_;
  return true;
}

}  // namespace memcarlo::analog
