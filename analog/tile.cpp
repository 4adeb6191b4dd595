#include "analog/tile.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.hpp"

namespace memcarlo::analog {

Tile::Tile(const TileLayout& layout, std::unique_ptr<DeviceArray> devices, std::span<float> weights)
    : layout_(layout), devices_(std::move(devices)), weights_(weights) {
  const bool pair = layout_.encoding == Encoding::differential;
  MC_VALIDATE(weights_.size() == layout_.rows * layout_.cols,
              "tile of {} x {} given {} weights", layout_.rows, layout_.cols, weights_.size());
  MC_VALIDATE(devices_ && devices_->size() == weights_.size() * (pair ? 2 : 1),
              "tile of {} weights needs {} devices", weights_.size(), weights_.size() * (pair ? 2 : 1));
  MC_VALIDATE(pair || devices_->bidirectional(),
              "{} devices take potentiation pulses only: they need the differential encoding",
              devices_->kind());
  potentiation_only_ = layout_.potentiation_only || !devices_->bidirectional();
  MC_VALIDATE(pair || !potentiation_only_, "potentiation-only updates need the differential encoding");
  MC_VALIDATE(std::isfinite(layout_.w_max) && layout_.w_max > 0, "tile w_max = {} must be positive",
              layout_.w_max);
  MC_VALIDATE(layout_.refresh_fraction > 0 && layout_.refresh_fraction <= 1,
              "refresh fraction {} must be in (0, 1]", layout_.refresh_fraction);
  const double G_low = devices_->G_low_S(), G_high = devices_->G_high_S();
  MC_VALIDATE(G_high > G_low, "{} devices span no conductance range ({} to {} S)", devices_->kind(),
              G_low, G_high);
  alpha_ = (pair ? 1.0 : 2.0) * layout_.w_max / (G_high - G_low);
  G_ref_ = 0.5 * (G_low + G_high);
  G_refresh_ = G_low + layout_.refresh_fraction * (G_high - G_low);
  read_sigma_.assign(weights_.size(), 0.0f);
  for (std::size_t k = 0; k < weights_.size(); ++k) program(k, weights_[k]);
  read_noise_ = std::any_of(read_sigma_.begin(), read_sigma_.end(), [](float s) { return s > 0; });
}

double Tile::weight_of(std::size_t k, bool drifted) const {
  if (drift_ && drifted) {
    const double g = gain_[k / layout_.cols];
    if (layout_.encoding == Encoding::reference) return alpha_ * (g * devices_->drifted_S(k) - G_ref_);
    return alpha_ * g * (devices_->drifted_S(2 * k) - devices_->drifted_S(2 * k + 1));
  }
  if (layout_.encoding == Encoding::reference) return alpha_ * (devices_->conductance(k) - G_ref_);
  return alpha_ * (devices_->conductance(2 * k) - devices_->conductance(2 * k + 1));
}

void Tile::set_drift(const CellDrift& drift, std::unique_ptr<DeviceArray> reference) {
  MC_VALIDATE(devices_->drifts(), "{} devices of this tile do not drift", devices_->kind());
  drift_ = &drift;
  schedule_.emplace(drift, true);
  gain_.assign(layout_.rows, 1.0);
  reference_ = std::move(reference);
  MC_VALIDATE(drift.compensation() != Compensation::reference_cells || (reference_ && reference_->size() > 0),
              "drift.compensation = reference_cells: the tile has no reference cells");
  if (reference_)
    for (std::size_t i = 0; i < reference_->size(); ++i) reference_->program(i, G_ref_);
}

void Tile::drift_gains() {
  const auto ratio = [](double programmed, double read) { return read > 0 ? programmed / read : 1.0; };
  const std::size_t per_weight = layout_.encoding == Encoding::differential ? 2 : 1;
  std::fill(gain_.begin(), gain_.end(), 1.0);
  switch (drift_->compensation()) {
    case Compensation::gdc: {
      double programmed = 0, read = 0;
      for (std::size_t i = 0; i < devices_->size(); ++i) {
        programmed += devices_->conductance(i);
        read += devices_->drifted_S(i);
      }
      std::fill(gain_.begin(), gain_.end(), ratio(programmed, read));
      break;
    }
    case Compensation::per_column: {
      const std::size_t per_row = layout_.cols * per_weight;
      for (std::size_t r = 0; r < layout_.rows; ++r) {
        double programmed = 0, read = 0;
        for (std::size_t i = r * per_row; i < (r + 1) * per_row; ++i) {
          programmed += devices_->conductance(i);
          read += devices_->drifted_S(i);
        }
        gain_[r] = ratio(programmed, read);
      }
      break;
    }
    case Compensation::reference_cells: {
      double programmed = 0, read = 0;
      for (std::size_t i = 0; i < reference_->size(); ++i) {
        programmed += reference_->conductance(i);
        read += reference_->drifted_S(i);
      }
      std::fill(gain_.begin(), gain_.end(), ratio(programmed, read));
      break;
    }
    case Compensation::none:
    case Compensation::refresh:
    case Compensation::differential:
      break;
  }
}

void Tile::at_time(double t_s) {
  if (!drift_) return;
  const std::uint64_t k = drift_->refreshes_by(t_s);
  if (k != drift_refreshes_) {
    // Every weight back to what its devices hold undrifted, written at the refresh time.
    devices_->set_time(drift_->refresh_time_s(k));
    std::fill(gain_.begin(), gain_.end(), 1.0);
    std::vector<double> targets(weights_.size());
    for (std::size_t w = 0; w < targets.size(); ++w) targets[w] = weight_of(w, false);
    for (std::size_t w = 0; w < targets.size(); ++w) program(w, targets[w]);
    drift_refreshes_ = k;
  }
  devices_->set_time(t_s);
  if (reference_) reference_->set_time(t_s);
  const bool evaluate = schedule_->due(t_s);
  if (evaluate) {
    devices_->evaluate_drift();
    if (reference_) reference_->evaluate_drift();
  }
  // gdc and per_column measure their sums again at every read: writes since the last evaluation
  // change them (a written device reads undrifted), so a gain kept from then would over-amplify
  // freshly written weights. The reference column is never written: its gain changes only at
  // evaluations.
  const bool every_read = drift_->compensation() == Compensation::gdc ||
                          drift_->compensation() == Compensation::per_column;
  if (!evaluate && !every_read) return;
  const std::vector<double> before = gain_;
  drift_gains();
  if (evaluate) {
    for (std::size_t w = 0; w < weights_.size(); ++w) update_cell(w);
  } else if (gain_ != before) {
    for (std::size_t w = 0; w < weights_.size(); ++w) weights_[w] = static_cast<float>(weight_of(w));
  }
}

double Tile::mean_gain() const {
  if (gain_.empty()) return 1.0;
  double s = 0;
  for (double g : gain_) s += g;
  return s / static_cast<double>(gain_.size());
}

void Tile::update_cell(std::size_t k) {
  weights_[k] = static_cast<float>(weight_of(k));
  if (!layout_.read_noise) return;
  if (layout_.encoding == Encoding::reference) {
    read_sigma_[k] = static_cast<float>(alpha_ * devices_->read_sigma_S(k));
  } else {
    const double plus = devices_->read_sigma_S(2 * k), minus = devices_->read_sigma_S(2 * k + 1);
    read_sigma_[k] = static_cast<float>(alpha_ * std::sqrt(plus * plus + minus * minus));
  }
}

void Tile::program(std::size_t k, double w) {
  MC_VALIDATE(std::isfinite(w), "weight {} of a tile is not finite", k);
  w = std::clamp(w, -layout_.w_max, layout_.w_max);
  const double G_low = devices_->G_low_S();
  if (layout_.encoding == Encoding::reference) {
    devices_->program(k, G_ref_ + w / alpha_);
  } else if (!potentiation_only_) {
    devices_->program(2 * k, G_ref_ + 0.5 * w / alpha_);
    devices_->program(2 * k + 1, G_ref_ - 0.5 * w / alpha_);
  } else {
    // Never into the refresh zone: a weight beyond it is clipped where the device stops.
    // Kinds that program exactly (bidirectional ones updated by potentiation only) are held
    // below the refresh threshold by the target itself.
    const double top = devices_->bidirectional() ? G_refresh_ : std::numeric_limits<double>::infinity();
    devices_->program(2 * k, std::min(G_low + std::max(w, 0.0) / alpha_, top), G_refresh_);
    devices_->program(2 * k + 1, std::min(G_low + std::max(-w, 0.0) / alpha_, top), G_refresh_);
  }
  update_cell(k);
}

void Tile::pulse(std::size_t k, std::int64_t p) {
  if (p == 0) return;
  const bool up = p > 0;
  const auto n = static_cast<std::uint32_t>(std::min<std::int64_t>(up ? p : -p, UINT32_MAX));
  const Polarity raise = Polarity::potentiation, lower = Polarity::depression;
  if (layout_.encoding == Encoding::reference) {
    devices_->pulse(k, up ? raise : lower, n);
  } else if (!potentiation_only_) {
    const auto counts = devices_->pulse_counts();
    const bool first_to_plus = (counts[2 * k] + counts[2 * k + 1]) % 2 == 0;
    const std::uint32_t n_plus = first_to_plus ? (n + 1) / 2 : n / 2;
    if (n_plus) devices_->pulse(2 * k, up ? raise : lower, n_plus);
    if (n - n_plus) devices_->pulse(2 * k + 1, up ? lower : raise, n - n_plus);
  } else {
    devices_->pulse(up ? 2 * k : 2 * k + 1, raise, n);
  }
  update_cell(k);
  if (potentiation_only_) refresh_if_needed(k);
}

void Tile::prefetch(std::size_t k) const {
  if (layout_.encoding == Encoding::reference) {
    devices_->prefetch(k, 1);
  } else {
    devices_->prefetch(2 * k, 2);
  }
}

void Tile::refresh_if_needed(std::size_t k) {
  if (std::max(devices_->conductance(2 * k), devices_->conductance(2 * k + 1)) < G_refresh_) return;
  // The weight as read (drifted, through the gain) goes onto fresh devices, which the gain will
  // multiply again: program it divided by the gain, so that the read weight stays.
  program(k, drift_ ? weight_of(k) / gain_[k / layout_.cols] : weight_of(k));
  ++refreshes_;
}

}  // namespace memcarlo::analog
