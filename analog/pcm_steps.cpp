#include "analog/pcm_steps.hpp"

#include <algorithm>
#include <vector>

#include "core/error.hpp"
#include "core/parallel.hpp"

namespace memcarlo::analog {

namespace {

// The model with reads that return the percolation law's conductance exactly.
PcmCrystallizationModel noise_free(const PcmCrystallizationModel& model) {
  PcmCrystallizationConfig quiet = model.config();
  quiet.read_noise = 0.0;
  return PcmCrystallizationModel(quiet);
}

}  // namespace

PcmTrajectories::PcmTrajectories(const PcmCrystallizationModel& model,
                                 const PcmPulseTrain& protocol, const PcmLibrarySampling& sampling) {
  MC_VALIDATE(sampling.devices >= 1 && sampling.cycles >= 1 && sampling.pulses >= 1,
              "PCM trajectory library needs devices, cycles and pulses >= 1, got {}, {}, {}",
              sampling.devices, sampling.cycles, sampling.pulses);
  MC_VALIDATE(sampling.devices * sampling.cycles * sampling.pulses <= 100'000'000,
              "PCM trajectory library of {} x {} x {} conductances is too large",
              sampling.devices, sampling.cycles, sampling.pulses);
  const PcmCrystallizationModel quiet = noise_free(model);
  devices_ = static_cast<std::size_t>(sampling.devices);
  cycles_ = static_cast<std::size_t>(sampling.cycles);
  pulses_ = static_cast<std::size_t>(sampling.pulses);
  G_amorphous_S_ = quiet.conductance_S(0.0);
  G_crystalline_S_ = quiet.conductance_S(1.0);
  PcmPulseTrain train = protocol;
  train.cycles = sampling.cycles;
  train.pulses_per_cycle = sampling.pulses;
  G_.resize(devices_ * cycles_ * pulses_);
  parallel_for(sampling.devices, [&](std::int64_t d) {
    const auto G = simulate_pulse_train(quiet, train, sampling.seed, static_cast<std::uint64_t>(d));
    std::copy(G.begin(), G.end(), G_.begin() + static_cast<std::ptrdiff_t>(d) *
                                                    static_cast<std::ptrdiff_t>(cycles_ * pulses_));
  });
}

std::size_t PcmTrajectories::pulses_to_reach(std::size_t d, std::size_t c, double target_S) const {
  for (std::size_t p = 0; p <= pulses_; ++p)
    if (G_S(d, c, p) >= target_S) return p;
  return pulses_;
}

double PcmTrajectories::mean_step_S(double share) const {
  const double below = G_amorphous_S_ + share * (G_crystalline_S_ - G_amorphous_S_);
  double sum = 0;
  std::size_t n = 0;
  for (std::size_t d = 0; d < devices_; ++d)
    for (std::size_t c = 0; c < cycles_; ++c)
      for (std::size_t p = 0; p < pulses_; ++p) {
        const double G = G_S(d, c, p);
        if (G >= below) break;
        sum += G_S(d, c, p + 1) - G;
        ++n;
      }
  MC_VALIDATE(n > 0, "PCM trajectory library: no pulse starts below {} S", below);
  return sum / static_cast<double>(n);
}

StepSamples pcm_partial_set_steps(const PcmCrystallizationModel& model,
                                  const PcmPulseTrain& protocol, const PcmStepSampling& sampling) {
  MC_VALIDATE(sampling.cells >= 1 && sampling.pulses >= 1,
              "PCM step sampling needs cells >= 1 and pulses >= 1, got {} and {}", sampling.cells,
              sampling.pulses);
  const PcmCrystallizationModel quiet = noise_free(model);
  PcmPulseTrain train = protocol;
  train.cycles = 1;
  train.pulses_per_cycle = sampling.pulses;
  const auto cells = static_cast<std::size_t>(sampling.cells);
  const auto pulses = static_cast<std::size_t>(sampling.pulses);
  std::vector<double> G(cells * pulses);
  parallel_for(sampling.cells, [&](std::int64_t c) {
    const auto u = static_cast<std::size_t>(c);
    simulate_pulse_train(quiet, train, sampling.seed, u,
                         std::span<double>(G.data() + u * pulses, pulses));
  });
  const double G_amorphous = quiet.conductance_S(0.0);
  StepSamples s;
  s.G_before_S.reserve(G.size());
  s.dG_S.reserve(G.size());
  for (std::size_t c = 0; c < cells; ++c) {
    double before = G_amorphous;  // every cycle starts from a RESET
    for (std::size_t p = 0; p < pulses; ++p) {
      const double after = G[c * pulses + p];
      s.G_before_S.push_back(before);
      s.dG_S.push_back(after - before);
      before = after;
    }
  }
  return s;
}

namespace {

DgTableBinning pcm_step_binning(const PcmCrystallizationModel& model,
                                const PcmStepSampling& sampling) {
  MC_VALIDATE(sampling.bins >= 1 && sampling.levels >= 2,
              "PCM step table needs bins >= 1 and levels >= 2, got {} and {}", sampling.bins,
              sampling.levels);
  const double G_am = model.conductance_S(0.0), G_cr = model.conductance_S(1.0);
  MC_VALIDATE(G_cr > G_am, "pcm-crystallization: G_crystalline {} S must exceed G_amorphous {} S",
              G_cr, G_am);
  DgTableBinning binning;
  // The plateau's own bin, narrow around G_amorphous, then equal bins to G_crystalline.
  const double eps = 1e-9 * (G_cr - G_am);
  binning.edges_S.push_back(G_am - eps);
  for (std::int64_t b = 0; b <= sampling.bins; ++b)
    binning.edges_S.push_back(G_am + eps + (G_cr - G_am - eps) * static_cast<double>(b) /
                                               static_cast<double>(sampling.bins));
  for (std::int64_t i = 0; i < sampling.levels; ++i)
    binning.cdf.push_back(static_cast<double>(i) / static_cast<double>(sampling.levels - 1));
  binning.min_steps = 20;
  return binning;
}

}  // namespace

DgTableData pcm_step_table(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                           const PcmStepSampling& sampling) {
  return build_dg_table(pcm_partial_set_steps(model, protocol, sampling), Polarity::potentiation,
                        pcm_step_binning(model, sampling));
}

}  // namespace memcarlo::analog
