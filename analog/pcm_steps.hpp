// Partial-SET increments of phase-change memory cells, tabulated from the crystallization model
// (physics/pcm_crystallization.hpp) so that arrays of 10^5-10^6 cells can pulse without carrying
// each cell's grains. Cells of the model (its device-to-device spread included) are RESET and
// given identical pulses of the protocol's power and width; every pulse's (G before, step),
// with noise-free conductances (read_noise 0; reads add their noise elsewhere), goes into a
// conditional step table (physics/lut_device.hpp's build_dg_table, the form of the measured
// Sandia tables), which PcmArray samples by the same bilinear rule as the lut device.
//
// What the table keeps and loses. It keeps, at every conductance, the distribution of the next
// step over devices, cycles and nucleation events. It forgets the hidden state behind G: the
// grains and, while the cell is amorphous (G at G_amorphous until the crystal percolates), how
// close it is to percolating, so the number of pulses a cell waits at G_amorphous becomes
// geometric in the table instead of the model's. bench/README.md and docs/analog.md report how
// far multi-pulse trajectories of the table drift from the model's.
#pragma once

#include <cstdint>

#include "physics/lut_device.hpp"
#include "physics/pcm_crystallization.hpp"

namespace memcarlo::analog {

struct PcmStepSampling {
  std::int64_t cells = 2000;   // simulated cells (each one cycle from RESET)
  std::int64_t pulses = 100;   // pulses per cell
  std::int64_t bins = 24;      // conductance bins above the amorphous one
  std::int64_t levels = 101;   // probability levels 0, 1/(levels-1), ..., 1
  std::uint64_t seed = 1;
};

// The steps of the model under `protocol`'s pulses (its power and width; its pulse counts are
// replaced by `sampling`): cell c is device c of seed sampling.seed, as in `device simulate
// pcm-crystallization` with read_noise = 0. Parallel over cells; bitwise reproducible.
StepSamples pcm_partial_set_steps(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                                  const PcmStepSampling& sampling);

// The bins of the table: one holding the amorphous plateau (G = G_amorphous exactly), then
// `bins` equal bins up to G_crystalline; probability levels 0 ... 1; at least 20 steps a bin.
DgTableBinning pcm_step_binning(const PcmCrystallizationModel& model, const PcmStepSampling& sampling);

// The table of those steps in those bins (bins with fewer than 20 steps are left out).
DgTableData pcm_step_table(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                           const PcmStepSampling& sampling);

}  // namespace memcarlo::analog
