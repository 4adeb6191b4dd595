// Stochastic crystallization of the amorphous dome of a mushroom phase-change memory cell under
// partial-SET pulses: classical nucleation and growth (DESIGN.md §4) with Poisson nucleation,
// grain growth, impingement (Avrami's extended volume for unlimited growth, explicit grains in a
// periodic cube for grains capped at r_max) and a percolation law from crystalline fraction to
// conductance. Presets `gst` (Ge2Sb2Te5) and `cgst` (carbon-doped GST).
//
// Variation is split by where it comes from: thermal resistance and dome size are drawn once per
// device (device-to-device), the effective pulse power once per pulse (cycle-to-cycle), the
// nuclei (count, birth time, and with r_max > 0 position) per pulse (intrinsic), a new amorphous
// configuration per RESET, and read noise per read.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/rng.hpp"

namespace memcarlo {

// Defaults are preset `gst`. Material constants are the Ge2Sb2Te5 set of the multiphysics
// Gillespie-cellular-automata model, arXiv:2107.02035 (2021). Cell and variation numbers are
// assumptions of memcarlo, tuned together with the PcmPulseTrain defaults (0.15 mW -> 600 K, near
// the maximum of the nucleation rate at 602 K; 50 ns pulses): a device then needs about 30 pulses
// to reach 10 uS, with a relative spread of about 0.34 over devices and cycles, of whose variance
// about 60 % is cycle-to-cycle within a device, close to the ~67 % Gong et al. (Nat. Commun. 9,
// 2018, doi:10.1038/s41467-018-04485-1) found intrinsic to each GST device.
//
// What the numbers imply: with GST kinetics the grain spacing (u/I)^(1/4) grows with temperature
// (14 nm at 450 K, 28 nm at 600 K, 64 nm at 650 K, 302 nm at 700 K), so at the default 600 K a
// dome of a few tens of nm holds only a few grains and partial SET is nucleation limited and
// strongly stochastic. That intrinsic spread alone *grows* with pulse power (fewer, larger
// grains); the thermal part (R_th_d2d, power_c2c) shrinks with power, because the temperature
// sensitivity of the rates falls towards their maxima (I peaks at 602 K, the JMAK speed
// (I u^3)^(1/4) at 653 K), and with the defaults it wins, so the total relative spread falls
// with power from 560 to 600 K.
struct PcmCrystallizationConfig {
  // Material (GST) [GCA 2021].
  double E_a_eV = 2.45;         // viscosity activation energy below T_glass
  double sigma_J_m2 = 0.06;     // crystal–amorphous interface energy
  double v_m_m3 = 2.9e-28;      // volume of one formula unit (monomer)
  double lambda_m = 2.99e-10;   // jump distance
  double T_m_K = 900.0;         // melting temperature
  double dH_f_J_m3 = 625e6;     // heat of fusion per volume
  double eta_inf_Pa_s = 0.012;  // MYEGA high-temperature viscosity limit
  double T_g_K = 472.0;         // MYEGA glass transition (eta(T_g) = 1e12 Pa s)
  double fragility = 140.0;     // MYEGA fragility index m
  double T_glass_K = 534.0;     // below it the glass is Arrhenius with E_a
  double theta_deg = 130.0;     // wetting angle of heterogeneous nucleation
  // Dimensionless factor on the nucleation rate I; 1 = classical nucleation theory as published.
  // A calibration knob (calibration/crystallization_fit.hpp): the CNT prefactor is uncertain by
  // orders of magnitude (attachment sites, the O_n ~ 4 n_c^(2/3) factor taken as one below).
  double nucleation_scale = 1.0;
  // Cell and thermal model: the dome is isothermal at T = T_amb + R_th P during a pulse.
  double T_amb_K = 300.0;          // ambient temperature (assumption)
  double R_th_K_per_W = 2.0e6;     // thermal resistance (assumption: 0.15 mW -> 600 K)
  double radius_m = 35e-9;         // radius of the hemispherical amorphous dome (assumption)
  double G_amorphous_S = 0.1e-6;   // conductance with no percolating crystal (assumption)
  double G_crystalline_S = 25e-6;  // fully crystalline dome (assumption; g_max of pcm_drift)
  double X_c = 0.16;               // percolation threshold [Scher & Zallen 1970]
  double t_perc = 2.0;             // 3D conductivity exponent [Stauffer & Aharony 1994]
  double r_max_m = 0.0;            // largest grain radius, 0 = unlimited (C-GST confinement)
  double read_noise = 0.01;        // relative std of one read (assumption)
  // Variation (assumptions): log-normal sigma of per-device factors, and of the per-pulse factor
  // on the power.
  double R_th_d2d = 0.02;
  double radius_d2d = 0.05;
  double power_c2c = 0.02;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"E_a", "eV", "viscosity activation energy below T_glass [arXiv:2107.02035]"}, E_a_eV);
    v(ParamInfo{"sigma", "J/m^2", "crystal-amorphous interface energy [arXiv:2107.02035]"}, sigma_J_m2);
    v(ParamInfo{"v_m", "m^3", "volume of one formula unit [arXiv:2107.02035]"}, v_m_m3);
    v(ParamInfo{"lambda", "m", "jump distance [arXiv:2107.02035]"}, lambda_m);
    v(ParamInfo{"T_m", "K", "melting temperature [arXiv:2107.02035]"}, T_m_K);
    v(ParamInfo{"dH_f", "J/m^3", "heat of fusion per volume [arXiv:2107.02035]"}, dH_f_J_m3);
    v(ParamInfo{"eta_inf", "Pa s", "MYEGA high-temperature viscosity limit [arXiv:2107.02035]"}, eta_inf_Pa_s);
    v(ParamInfo{"T_g", "K", "MYEGA glass transition, eta(T_g) = 1e12 Pa s [arXiv:2107.02035]"}, T_g_K);
    v(ParamInfo{"fragility", "1", "MYEGA fragility index m [arXiv:2107.02035]"}, fragility);
    v(ParamInfo{"T_glass", "K", "MYEGA viscosity above, Arrhenius (E_a) below [arXiv:2107.02035]"}, T_glass_K);
    v(ParamInfo{"theta", "deg", "wetting angle of heterogeneous nucleation [arXiv:2107.02035]"}, theta_deg);
    v(ParamInfo{"nucleation_scale", "1", "factor on the nucleation rate I, 1 = classical nucleation theory as published [arXiv:2107.02035]; a calibration knob"}, nucleation_scale);
    v(ParamInfo{"T_amb", "K", "ambient temperature (assumption)"}, T_amb_K);
    v(ParamInfo{"R_th", "K/W", "thermal resistance, T = T_amb + R_th P (assumption: 0.15 mW gives 600 K)"}, R_th_K_per_W);
    v(ParamInfo{"radius", "m", "radius of the hemispherical amorphous dome (assumption)"}, radius_m);
    v(ParamInfo{"G_amorphous", "S", "conductance below the percolation threshold (assumption)"}, G_amorphous_S);
    v(ParamInfo{"G_crystalline", "S", "conductance of the crystalline cell (assumption; g_max of [Nandakumar 2019])"}, G_crystalline_S);
    v(ParamInfo{"X_c", "1", "percolation threshold of the crystalline fraction [Scher & Zallen, J. Chem. Phys. 53, 3759 (1970)]"}, X_c);
    v(ParamInfo{"t_perc", "1", "percolation conductivity exponent in 3D [Stauffer & Aharony, Introduction to Percolation Theory (1994)]"}, t_perc);
    v(ParamInfo{"r_max", "m", "largest grain radius, 0 = unlimited (assumption)"}, r_max_m);
    v(ParamInfo{"read_noise", "1", "relative standard deviation of one read (assumption)"}, read_noise);
    v(ParamInfo{"R_th_d2d", "1", "device-to-device log-normal sigma of R_th (assumption)"}, R_th_d2d);
    v(ParamInfo{"radius_d2d", "1", "device-to-device log-normal sigma of the dome radius (assumption)"}, radius_d2d);
    v(ParamInfo{"power_c2c", "1", "pulse-to-pulse log-normal sigma of the pulse power (assumption)"}, power_c2c);
  }
  // clang-format on
};

// `gst` (the defaults) or `cgst`; anything else throws InputError.
PcmCrystallizationConfig preset_pcm_crystallization(std::string_view name);

// Kinetics at one temperature; all zero at and above T_m.
struct PcmRates {
  double T_K = 0;
  double I_per_m3_s = 0;  // steady-state nucleation rate
  double u_m_per_s = 0;   // growth velocity of a crystal front
  double r_c_m = 0;       // critical radius: size at which a nucleus is born
};

// Unlimited growth (r_max = 0): the grains enter the crystalline fraction only through Σ r³, and
// growth by g maps the first four moments of the radii onto themselves exactly
// (Σ(r+g)³ = Σr³ + 3gΣr² + 3g²Σr + Ng³), so they are all that is kept, phantoms included.
struct PcmRadiusMoments {
  std::int64_t count = 0;  // N, every nucleus of the extended volume
  double sum_r_m = 0;      // Σ r
  double sum_r2_m2 = 0;    // Σ r²
  double sum_r3_m3 = 0;    // Σ r³

  void add(double r_m) {
    ++count;
    sum_r_m += r_m;
    sum_r2_m2 += r_m * r_m;
    sum_r3_m3 += r_m * r_m * r_m;
  }
  void grow(double g_m) {
    const double n = static_cast<double>(count);
    sum_r3_m3 += g_m * (3.0 * sum_r2_m2 + g_m * (3.0 * sum_r_m + n * g_m));
    sum_r2_m2 += g_m * (2.0 * sum_r_m + n * g_m);
    sum_r_m += n * g_m;
  }
};

// One real grain of confined growth: a sphere in the periodic cube that stands for the dome.
struct PcmGrain {
  std::array<double, 3> centre_m{};
  double r_m = 0;  // radius at the end of the last pulse (at most r_max)
};

// Confined growth (r_max > 0), where extended volume does not turn into real volume (see
// PcmCrystallizationModel::anneal): the real grains with their positions in a periodic cube of
// the dome's volume, a cell list to find the grains near a point, and a fixed grid of points
// whose covered share is the crystalline fraction. Maintained by the model; read-only for others.
struct PcmConfinedGrains {
  double box_m = 0;                    // cube side, volume_m3^(1/3)
  int cells_per_side = 1;              // cell list: cells of side >= r_max
  int points_per_side = 0;             // grid measuring X
  std::vector<PcmGrain> grains;        // every real grain of this configuration
  std::vector<std::uint32_t> growing;  // indices of grains still below r_max
  // For growing[i]: its grid points not yet covered, farthest first (by bins of distance), each
  // packed as (float (d/r_max)² bits << 32) | grid index.
  std::vector<std::vector<std::uint64_t>> pending;
  std::vector<std::uint8_t> walking;  // growing[i] has no list and walks the grid each pulse
  std::int64_t pending_points = 0;    // total length of the lists
  std::vector<std::vector<std::uint64_t>> spare;  // capacity kept for the next grains
  std::vector<std::uint64_t> scratch;             // working space of the model
  std::int64_t at_r_max = 0;                      // grains that reached r_max
  std::vector<std::vector<std::uint32_t>> cells;  // grain indices by cell of their centre
  std::vector<std::uint8_t> covered;              // grid point inside a grain (1) or amorphous (0)
  std::int64_t covered_points = 0;
};

// One device: its device-to-device factors (fixed for life) and the grains of the current
// amorphous configuration (`moments` if r_max = 0, `confined` otherwise).
struct PcmCellState {
  double R_th_K_per_W = 0;     // this device's thermal resistance
  double radius_m = 0;         // this device's dome radius
  double volume_m3 = 0;        // (2 pi / 3) radius^3
  PcmRadiusMoments moments;    // r_max = 0
  PcmConfinedGrains confined;  // r_max > 0
  double X = 0;                // crystalline fraction
  // Fully crystalline: pulses below T_m change nothing until the next RESET.
  bool saturated() const { return X >= 1.0; }
};

class PcmCrystallizationModel {
 public:
  explicit PcmCrystallizationModel(const PcmCrystallizationConfig& config);
  const PcmCrystallizationConfig& config() const { return config_; }

  // Closed forms of DESIGN.md §4, per temperature.
  double f_theta() const { return f_theta_; }
  double driving_force_J_m3(double T_K) const;        // ΔG_v, Thompson–Spaepen
  double critical_size(double T_K) const;             // n_c, formula units
  double barrier_J(double T_K) const;                 // ΔG_c
  double critical_radius_m(double T_K) const;         // r_c = 2 sigma / ΔG_v
  double viscosity_Pa_s(double T_K) const;            // η: MYEGA / Arrhenius
  double jump_frequency_per_s(double T_K) const;      // γ = kT / (3 pi λ³ η)
  double zeldovich(double T_K) const;                 // Z
  double nucleation_rate_per_m3_s(double T_K) const;  // I
  double growth_velocity_m_s(double T_K) const;       // u
  PcmRates rates(double T_K) const;

  // Cell temperature during a pulse of power P without cycle-to-cycle jitter.
  double temperature_K(const PcmCellState& state, double power_W) const {
    return config_.T_amb_K + state.R_th_K_per_W * power_W;
  }

  // A new device, amorphous. Draws two normals (R_th, then radius) from rng.
  PcmCellState make_cell(RngStream& rng) const;
  // The nominal device (no device-to-device variation), amorphous; draws nothing.
  PcmCellState nominal_cell() const;
  // Melt-quench: a new amorphous configuration with no crystal left.
  void reset(PcmCellState& state) const;
  // One rectangular isothermal pulse. Always draws one normal first (the power jitter, drawn
  // even if power_c2c = 0 so that later draws line up whichever noise sources are on), then
  // what anneal() draws. A pulse that heats the dome to T_m or above melts it (the cell ends
  // amorphous, as after reset); otherwise a saturated cell (X = 1) is left alone.
  void apply_pulse(PcmCellState& state, double power_W, double width_s, RngStream& rng) const;
  // Crystallization at a given temperature for a given time (the isothermal core of
  // apply_pulse, without power jitter or melting). Draws one Poisson count, then per nucleus one
  // uniform (its birth time), and with r_max > 0 three more (its position). Does nothing, and
  // draws nothing, once the cell is saturated.
  void anneal(PcmCellState& state, const PcmRates& rates, double duration_s, RngStream& rng) const;
  // Noise-free conductance of crystalline fraction X (percolation law).
  double conductance_S(double X) const;
  // One read: max(0, conductance × (1 + read_noise N(0,1))). Always draws one normal (also
  // when read_noise = 0).
  double read(const PcmCellState& state, RngStream& rng) const;

 private:
  PcmCellState cell_with(double R_th_K_per_W, double radius_m) const;

  PcmCrystallizationConfig config_;
  double f_theta_;
  double nucleation_geometry_;  // f(θ) v_m² σ³, shared by n_c and ΔG_c
  double log10_eta_inf_;        // MYEGA constants, hoisted out of the per-pulse path
  double myega_exponent_;       // m / (12 − log10 η_∞) − 1
  double eta_T_glass_;          // viscosity at T_glass (MYEGA), the Arrhenius anchor
  double E_a_over_k_K_;         // E_a / k
};

// The partial-SET protocol: every cycle starts with a RESET and applies identical pulses.
// Defaults (assumptions) put the nominal `gst` cell at 600 K for 50 ns, so it needs ~30 pulses to
// reach G_threshold (X ≈ 0.69 with the default percolation law), with a visible device spread.
struct PcmPulseTrain {
  double power_W = 0.15e-3;
  double width_s = 50e-9;
  std::int64_t pulses_per_cycle = 100;
  std::int64_t cycles = 1;
  double G_threshold_S = 10e-6;
  std::int64_t max_pulses = 1000;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"power", "W", "power of every partial-SET pulse (assumption: 600 K in the nominal gst cell)"}, power_W);
    v(ParamInfo{"width", "s", "width of every partial-SET pulse (assumption)"}, width_s);
    v(ParamInfo{"pulses_per_cycle", "1", "pulses after each RESET in a trajectory"}, pulses_per_cycle);
    v(ParamInfo{"cycles", "1", "RESET-then-pulses cycles in a trajectory"}, cycles);
    v(ParamInfo{"G_threshold", "S", "read conductance that counts as SET for pulses-to-SET"}, G_threshold_S);
    v(ParamInfo{"max_pulses", "1", "give up pulses-to-SET after this many pulses"}, max_pulses);
  }
  // clang-format on
  // The protocol on its own (counts, signs); throws InputError.
  void validate() const;
  // validate(), and that the protocol makes sense for this device: G_threshold must lie below
  // G_crystalline, or no read could reach it without noise. Throws InputError.
  void validate_against(const PcmCrystallizationModel& model) const;
};

// pulses_to_set's answer when the threshold was not reached within max_pulses.
inline constexpr std::int64_t kPulsesToSetNotReached = -1;

// Random streams of device `device` under master seed `seed` (entity = device): "device" for
// its device-to-device factors, "pulse" and "read" with substream (cycle << 32) + pulse for
// each pulse and the read after it. A device's numbers therefore do not depend on any other
// device, nor on the number of pulses per cycle.
inline std::uint64_t pcm_pulse_substream(std::int64_t cycle, std::int64_t pulse) {
  return (static_cast<std::uint64_t>(cycle) << 32) + static_cast<std::uint64_t>(pulse);
}

// Read conductance after every pulse, cycle-major: out[c * pulses_per_cycle + p]. `out` must
// hold cycles * pulses_per_cycle values. Single-threaded; parallelise over devices.
void simulate_pulse_train(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                          std::uint64_t seed, std::uint64_t device, std::span<double> out);
std::vector<double> simulate_pulse_train(const PcmCrystallizationModel& model,
                                         const PcmPulseTrain& protocol, std::uint64_t seed,
                                         std::uint64_t device);
// Pulses after the RESET that starts cycle `cycle` until a read reaches G_threshold (1 = the
// first pulse), or kPulsesToSetNotReached. Uses the same streams as simulate_pulse_train, so it
// equals the first crossing in that cycle of the trajectory.
std::int64_t pulses_to_set(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                           std::uint64_t seed, std::uint64_t device, std::int64_t cycle = 0);

}  // namespace memcarlo
