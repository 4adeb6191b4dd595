#include "analog/feedback_drift.hpp"

#include <cmath>

#include "core/distributions.hpp"
#include "core/error.hpp"

namespace memcarlo::analog {

namespace {
constexpr std::uint64_t kReferenceStream = stream_id("reference_cells");
constexpr std::uint64_t kRefreshStream = stream_id("refresh");

double mean_abs(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += std::fabs(x);
  return v.empty() ? 0.0 : s / static_cast<double>(v.size());
}

double sum(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s;
}
}  // namespace

PcmFeedbackCells::PcmFeedbackCells(std::shared_ptr<const PcmFeedback> library, const CellDrift& drift,
                                   std::size_t rows, std::size_t cols, std::vector<double> cells_S,
                                   std::uint64_t seed)
    : library_(std::move(library)),
      drift_(&drift),
      schedule_(drift, false),
      cols_(cols),
      per_entry_(library_->devices_per_entry()),
      seed_(seed),
      target_S_(std::move(cells_S)),
      gain_(cols, 1.0) {
  MC_VALIDATE(target_S_.size() == rows * cols * per_entry_,
              "PCM feedback drift: {} cells for a {} x {} array of {} cells per entry",
              target_S_.size(), rows, cols, per_entry_);
  G_S_ = target_S_;
  mean_S_ = sum(G_S_) / static_cast<double>(G_S_.size());
  z_ = CellDrift::draw_z(seed, G_S_.size());
  if (drift.compensation() == Compensation::reference_cells) {
    const auto n = static_cast<std::size_t>(drift.config().reference_cells);
    RngStream rng(seed, 0, kReferenceStream);
    reference_S_.resize(n);
    for (double& g : reference_S_) g = library_->quantile_S(rng.uniform());
    reference_z_ = CellDrift::draw_z(derive_seed(seed, 0, kReferenceStream), n);
  }
}

void PcmFeedbackCells::refresh(std::uint64_t k) {
  RngStream rng(seed_, k, kRefreshStream);
  const PcmDriftModel& model = drift_->model();
  const bool noise = model.config().programming_noise;
  if (drift_->config().refresh_mode == "pulses") {
    // The same pulses from RESET: every cell a new draw of the distribution.
    for (double& g : G_S_) g = library_->quantile_S(rng.uniform());
    mean_S_ = sum(G_S_) / static_cast<double>(G_S_.size());
  } else {
    const auto reprogram = [&](double target) {
      const double z = NormalDistribution::standard(rng);
      const double sigma = noise ? model.sigma_prog_S(model.normalised(target)) : 0.0;
      return std::max(target + sigma * z, 0.0);
    };
    for (std::size_t i = 0; i < G_S_.size(); ++i) G_S_[i] = reprogram(target_S_[i]);
  }
  refreshes_ = k;
  t_programmed_s_ = drift_->refresh_time_s(k);
}

bool PcmFeedbackCells::update(double t_s, training::Tensor& entries) {
  MC_VALIDATE(entries.size() * per_entry_ == G_S_.size(),
              "PCM feedback drift: an array of {} entries for {} cells", entries.size(), G_S_.size());
  if (programmed_abs_ == 0) programmed_abs_ = mean_abs(entries.data);
  if (!schedule_.due(t_s)) return false;
  const std::uint64_t k = drift_->refreshes_by(t_s);
  if (k != refreshes_) refresh(k);
  const double age = t_s - t_programmed_s_;
  std::vector<double> now(G_S_.size());
  for (std::size_t i = 0; i < now.size(); ++i)
    now[i] = G_S_[i] * drift_->factor(G_S_[i], z_[i], age);

  std::fill(gain_.begin(), gain_.end(), 1.0);
  const auto ratio = [](double programmed, double read) { return read > 0 ? programmed / read : 1.0; };
  switch (drift_->compensation()) {
    case Compensation::gdc:
      std::fill(gain_.begin(), gain_.end(), ratio(sum(G_S_), sum(now)));
      break;
    case Compensation::per_column: {
      std::vector<double> programmed(cols_, 0.0), read(cols_, 0.0);
      for (std::size_t i = 0; i < now.size(); ++i) {
        const std::size_t column = (i / per_entry_) % cols_;
        programmed[column] += G_S_[i];
        read[column] += now[i];
      }
      for (std::size_t j = 0; j < cols_; ++j) gain_[j] = ratio(programmed[j], read[j]);
      break;
    }
    case Compensation::reference_cells: {
      double read = 0;
      for (std::size_t i = 0; i < reference_S_.size(); ++i)
        read += reference_S_[i] * drift_->factor(reference_S_[i], reference_z_[i], age);
      std::fill(gain_.begin(), gain_.end(), ratio(sum(reference_S_), read));
      break;
    }
    case Compensation::none:
    case Compensation::refresh:
    case Compensation::differential:
      break;
  }

  const double scale = library_->entry_scale_S();
  for (std::size_t k2 = 0; k2 < entries.size(); ++k2) {
    const double g = gain_[k2 % cols_];
    // The programmed entries' expressions, so that unit factors and gains give them bit for bit.
    entries.data[k2] = per_entry_ == 2
                           ? static_cast<float>(g * (now[2 * k2] - now[2 * k2 + 1]) / scale)
                           : static_cast<float>((g * now[k2] - mean_S_) / scale);
  }
  last_abs_ = mean_abs(entries.data);
  return true;
}

training::FeedbackDrift::Stats PcmFeedbackCells::stats() const {
  Stats s;
  s.compensation = drift_->config().compensation;
  s.evaluations = schedule_.evaluations();
  s.refreshes = refreshes_;
  s.last_time_s = schedule_.last_s();
  s.signal = programmed_abs_ > 0 ? last_abs_ / programmed_abs_ : 1.0;
  return s;
}

DriftingPcmFeedback::DriftingPcmFeedback(std::shared_ptr<const PcmFeedback> library,
                                         const DriftConfig& drift)
    : library_(std::move(library)), drift_(PcmDriftModel(PcmDriftConfig{}), drift) {
  MC_VALIDATE(library_, "DriftingPcmFeedback: no library");
  MC_VALIDATE(library_->differential() || drift_.compensation() != Compensation::differential,
              "drift.compensation = 'differential' reads a pair's G+ - G-, but "
              "pcm-feedback.form = 'mean_subtracted' has one cell per entry: use form = "
              "'differential' or another protocol");
}

training::FeedbackArray DriftingPcmFeedback::program(std::size_t rows, std::size_t cols,
                                                     RngStream& rng) const {
  std::vector<double> cells;
  training::FeedbackArray array = library_->program_cells(rows, cols, rng, &cells);
  const std::uint64_t seed = rng.next_u64();
  array.drift = std::make_unique<PcmFeedbackCells>(library_, drift_, rows, cols, std::move(cells), seed);
  return array;
}

}  // namespace memcarlo::analog
