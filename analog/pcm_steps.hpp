// Partial-SET pulses of phase-change memory cells for arrays of 10^5-10^6 cells, tabulated from
// the crystallization model (physics/pcm_crystallization.hpp) so that a cell does not carry its
// grains: a library of simulated trajectories, conductance after every identical pulse since a
// RESET, which array cells walk along.
//
// Why trajectories, not a step table conditioned on G (the form of the measured Sandia tables,
// also built here for comparison). A G-conditioned table forgets the hidden state behind G: while
// a cell is amorphous (G = G_amorphous until its crystal percolates) the table cannot tell how
// close it is to percolating, so the wait becomes geometric, and late in a cycle it cannot tell
// a nearly crystalline cell from a slow one. Measured (bench/README.md, build/bench/bench_analog
// pcm): from RESET, the table's G after 10 pulses has mean 0.92 uS against the model's 0.13 uS
// (KS distance 0.35), after 60 pulses 22.2 against 24.5 uS (KS 0.86) for the gst preset. The
// trajectories are the model's own, so every pulse count has the model's distribution.
//
// The library. `devices` simulated devices (each with its device-to-device factors) times
// `cycles` RESET-then-pulses cycles times `pulses` noise-free conductances (read_noise 0: reads
// add their noise elsewhere). An array cell is tied to one library device for life (its
// device-to-device part persists) and takes one of that device's cycles, drawn at every RESET.
// Library devices are shared by the array's cells: with 512 of them a LeNet-5 tile of 96,000
// devices has ~190 cells per library device, each on its own cycles and positions.
#pragma once

#include <cstdint>
#include <vector>

#include "physics/lut_device.hpp"
#include "physics/pcm_crystallization.hpp"

namespace memcarlo::analog {

struct PcmLibrarySampling {
  std::int64_t devices = 512;  // simulated devices
  std::int64_t cycles = 8;     // cycles per device, each from RESET
  std::int64_t pulses = 100;   // pulses per cycle
  std::uint64_t seed = 1;
};

class PcmTrajectories {
 public:
  // Simulates the library under `protocol`'s pulse power and width (its pulse counts are
  // replaced by `sampling`): device d is device d of seed sampling.seed, as in `memcarlo device
  // simulate pcm-crystallization --seed S` with read_noise = 0. Parallel over devices.
  PcmTrajectories(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                  const PcmLibrarySampling& sampling);

  std::size_t devices() const { return devices_; }
  std::size_t cycles() const { return cycles_; }
  std::size_t pulses() const { return pulses_; }
  double G_amorphous_S() const { return G_amorphous_S_; }
  double G_crystalline_S() const { return G_crystalline_S_; }
  // Conductance after p pulses (0 <= p <= pulses(); p = 0 is the RESET state) of cycle c of
  // library device d.
  double G_S(std::size_t d, std::size_t c, std::size_t p) const {
    return p == 0 ? G_amorphous_S_ : G_[(d * cycles_ + c) * pulses_ + p - 1];
  }
  // Iterative programming from RESET: the fewest pulses p with G_S(d, c, p) >= target
  // (pulses() when the cycle never gets there).
  std::size_t pulses_to_reach(std::size_t d, std::size_t c, double target_S) const;
  // Mean conductance change of one pulse over the library's pulses that start below
  // G_amorphous + share (G_crystalline - G_amorphous), plateau pulses (dG = 0) included.
  double mean_step_S(double share) const;

 private:
  std::size_t devices_, cycles_, pulses_;
  double G_amorphous_S_, G_crystalline_S_;
  std::vector<double> G_;  // [device][cycle][pulse], S
};

// --- the G-conditioned step table, for comparison (bench_analog) ------------------------------

struct PcmStepSampling {
  std::int64_t cells = 2000;   // simulated cells (each one cycle from RESET)
  std::int64_t pulses = 100;   // pulses per cell
  std::int64_t bins = 24;      // conductance bins above the amorphous one
  std::int64_t levels = 101;   // probability levels 0, 1/(levels-1), ..., 1
  std::uint64_t seed = 1;
};

// The (G before, step) pairs of the model's pulses from RESET, noise-free.
StepSamples pcm_partial_set_steps(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                                  const PcmStepSampling& sampling);
// Their table (lut_device's build_dg_table): one bin for the amorphous plateau, then `bins`
// equal bins up to G_crystalline.
DgTableData pcm_step_table(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                           const PcmStepSampling& sampling);

}  // namespace memcarlo::analog
