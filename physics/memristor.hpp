// Bulk-switching (area-distributed, non-filamentary, forming-free) memristor: a compact model
// whose state w in [0, 1] moves by thermally activated ion hopping under each pulse, bounded
// by a window, so that its pulse response is exactly the NeuroSim form
// G(P) = B (1 - exp(-P/A)) + G_min used by training and calibration (DESIGN.md §4).
//
// Per pulse of amplitude V and width tau the hopping rate is
//   r = k0 sinh(|V|/V0) exp(-E_a / k T)      (Strukov & Williams, Appl. Phys. A 94, 515 (2009))
// with separate (k0, V0) for potentiation (SET, V > 0) and depression (RESET, V < 0). The
// window makes the kinetics linear in the distance to the bound it moves towards:
//   potentiation  dw/dt =  r_p (1 - w)  =>  1 - w' = (1 - w) exp(-r_p tau_p)
//   depression    dw/dt = -r_d w        =>      w' =  w      exp(-r_d tau_d)
// and the conductance is G = G_min + (G_max - G_min) w, with G_min and G_max proportional to
// the device area (bulk switching: the whole area conducts, e.g. Govoreanu et al., IEDM 2013,
// VMCO-RRAM). Hence, exactly, from G_min: G(P) = B (1 - exp(-P/A_p)) + G_min, and from G_max:
// G(P) = G_min + B exp(-P/A_d), with B = G_max - G_min, A_p = 1/(r_p tau_p), A_d = 1/(r_d tau_d).
//
// Convention. Here G_max is the asymptote of the window. NeuroSim instead truncates the curve
// at P_max pulses and sets B = (G_max - G_min)/(1 - exp(-P_max/A)) so that G(P_max) = G_max;
// the normalised shape (G(P) - G_min)/(G(P_max) - G_min) = (1 - e^(-P/A))/(1 - e^(-P_max/A)) is
// the same in both, so NeuroSim's A (pulses) carries over unchanged.
//
// Variation is split by where it comes from, each a separate named parameter: device-to-device
// (area, switching range, k0_p, k0_d: lognormal, drawn once per device), cycle-to-cycle
// (Gaussian on w per pulse), read noise (relative Gaussian per read) and stuck-at faults
// (per device). Random streams, keyed by (seed, device index): "device" for the per-device
// draws, "pulse" with substream = pulse index, "read" with substream = read index. A device's
// trajectory therefore does not depend on how many other devices are simulated, or by which
// thread.
#pragma once

#include <cstdint>
#include <span>

#include "core/config.hpp"
#include "core/ndarray.hpp"
#include "core/rng.hpp"

namespace memcarlo {

// Named random streams of this model (entity id = device index).
namespace memristor_stream {
inline constexpr std::uint64_t device = stream_id("device");  // substream 0
inline constexpr std::uint64_t pulse = stream_id("pulse");    // substream = pulse index
inline constexpr std::uint64_t read = stream_id("read");      // substream = read index
}  // namespace memristor_stream

// +1 potentiation (SET, conductance up), -1 depression (RESET, conductance down); the values
// are those of the `polarity` dataset of the measurement schema.
enum class Polarity : int { potentiation = 1, depression = -1 };

enum class StuckState : std::uint8_t { none, off, on };

// Defaults: DNN+NeuroSim V2.1 training defaults (Peng, Huang, Lu & Yu, IEEE TCAD 40, 2306
// (2021); github.com/neurosim/DNN_NeuroSim_V2.1, Training_pytorch/train.py): 32 levels,
// nonlinearity 1.75 (LTP) / 1.46 (LTD), cycle-to-cycle 0.003, device-to-device 0. NeuroSim maps
// NL to A through its table GetParamA (utee/wage_quantizer.py), A = GetParamA(NL) * max_level:
//   A_p = 0.702081 * 32 = 22.466592 pulses,  A_d = 0.848677 * 32 = 27.157664 pulses.
// k0_p and k0_d below are the values that give exactly these A at the default pulses, E_a and T
// (k0 = 1 / (A tau sinh(|V|/V0) exp(-E_a/kT))); they come out near the ~1e13 /s phonon
// attempt frequency, as they should for ion hopping. Geometry and kinetics other than A are
// memcarlo assumptions typical of bulk-switching oxide devices, pending calibration.
struct MemristorConfig {
  // Geometry and conductance window (assumption: 2 um x 2 um, G_min = 1 uS, G_max = 20 uS).
  double area_m2 = 4e-12;
  double g_min_per_area_S_per_m2 = 2.5e5;
  double g_max_per_area_S_per_m2 = 5e6;
  // Ion-hopping kinetics (Strukov & Williams 2009 form; values assumption except as noted).
  double k0_p_per_s = 1.9589211456563707e13;  // A_p = 22.466592 [DNN+NeuroSim V2.1]
  double V0_p_V = 0.25;
  double k0_d_per_s = 1.620547413048274e13;  // A_d = 27.157664 [DNN+NeuroSim V2.1]
  double V0_d_V = 0.25;
  double E_a_eV = 0.6;
  double temperature_K = 300.0;
  // The identical programming pulses of training and pulse trains (assumption).
  double V_p_V = 1.0;
  double tau_p_s = 1e-6;
  double V_d_V = -1.0;
  double tau_d_s = 1e-6;
  // Cycle-to-cycle: std of the random change of w per pulse, fraction of the range
  // (0.3 % of range [DNN+NeuroSim V2.1, c2cVari = 0.003]).
  double sigma_c2c = 0.003;
  // Device-to-device: lognormal sigmas (of the natural log; median = nominal)
  // [DNN+NeuroSim V2.1 default d2dVari = 0].
  double sigma_area = 0.0;
  double sigma_range = 0.0;
  double sigma_k0_p = 0.0;
  double sigma_k0_d = 0.0;
  // Read noise, relative std per read (assumption: 0, as in DNN+NeuroSim V2.1 training).
  double sigma_read = 0.0;
  // Stuck-at faults per device (assumption: none, as in DNN+NeuroSim V2.1 training).
  double p_stuck_off = 0.0;
  double p_stuck_on = 0.0;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"area", "m^2", "device area; G_min and G_max scale with it (assumption: 4 um^2)"}, area_m2);
    v(ParamInfo{"g_min_per_area", "S/m^2", "low-conductance bound per area, G_min = g_min_per_area*area (assumption: 1 uS at 4 um^2)"}, g_min_per_area_S_per_m2);
    v(ParamInfo{"g_max_per_area", "S/m^2", "high-conductance bound per area (window asymptote), G_max = g_max_per_area*area (assumption: 20 uS at 4 um^2)"}, g_max_per_area_S_per_m2);
    v(ParamInfo{"k0_p", "1/s", "ion-hopping attempt rate, potentiation; default gives A_p = 0.702081*32 pulses for NL 1.75 [DNN+NeuroSim V2.1]"}, k0_p_per_s);
    v(ParamInfo{"V0_p", "V", "field-enhancement voltage of sinh(|V|/V0), potentiation [Strukov & Williams 2009 form; value assumption]"}, V0_p_V);
    v(ParamInfo{"k0_d", "1/s", "ion-hopping attempt rate, depression; default gives A_d = 0.848677*32 pulses for NL 1.46 [DNN+NeuroSim V2.1]"}, k0_d_per_s);
    v(ParamInfo{"V0_d", "V", "field-enhancement voltage of sinh(|V|/V0), depression [Strukov & Williams 2009 form; value assumption]"}, V0_d_V);
    v(ParamInfo{"E_a", "eV", "ion-hopping activation energy in exp(-E_a/kT) (assumption: oxygen-vacancy hopping)"}, E_a_eV);
    v(ParamInfo{"temperature", "K", "device temperature during pulses (assumption: 300 K)"}, temperature_K);
    v(ParamInfo{"V_p", "V", "potentiation (SET) pulse amplitude, > 0 (assumption)"}, V_p_V);
    v(ParamInfo{"tau_p", "s", "potentiation pulse width (assumption)"}, tau_p_s);
    v(ParamInfo{"V_d", "V", "depression (RESET) pulse amplitude, < 0 (assumption)"}, V_d_V);
    v(ParamInfo{"tau_d", "s", "depression pulse width (assumption)"}, tau_d_s);
    v(ParamInfo{"sigma_c2c", "1", "cycle-to-cycle std of the change of w per pulse, fraction of range [DNN+NeuroSim V2.1: 0.003]"}, sigma_c2c);
    v(ParamInfo{"sigma_area", "1", "device-to-device lognormal sigma of area, scales G_min and G_max together [DNN+NeuroSim V2.1: d2d 0]"}, sigma_area);
    v(ParamInfo{"sigma_range", "1", "device-to-device lognormal sigma of the range G_max - G_min at fixed area [DNN+NeuroSim V2.1: d2d 0]"}, sigma_range);
    v(ParamInfo{"sigma_k0_p", "1", "device-to-device lognormal sigma of k0_p, hence of A_p [DNN+NeuroSim V2.1: d2d 0]"}, sigma_k0_p);
    v(ParamInfo{"sigma_k0_d", "1", "device-to-device lognormal sigma of k0_d, hence of A_d [DNN+NeuroSim V2.1: d2d 0]"}, sigma_k0_d);
    v(ParamInfo{"sigma_read", "1", "relative Gaussian read noise per read (assumption: 0, none in DNN+NeuroSim V2.1 training)"}, sigma_read);
    v(ParamInfo{"p_stuck_off", "1", "probability a device is stuck at G_min (assumption: 0)"}, p_stuck_off);
    v(ParamInfo{"p_stuck_on", "1", "probability a device is stuck at G_max (assumption: 0)"}, p_stuck_on);
  }
  // clang-format on
};

// The common training/calibration abstraction of one device (or of the nominal device):
// from G_min, G(P) = G_min + B (1 - exp(-P/A_p)); from G_max, G(P) = G_min + B exp(-P/A_d);
// B = G_max - G_min. Pulse counts in pulses, conductances in siemens.
struct MemristorAbstraction {
  double G_min_S = 0;
  double G_max_S = 0;
  double A_p_pulses = 0;
  double A_d_pulses = 0;

  double B_S() const { return G_max_S - G_min_S; }
  // Conductance after P potentiation pulses from G_min, and after P depression pulses from
  // G_max (P may be fractional).
  double G_after_potentiation_S(double P) const;
  double G_after_depression_S(double P) const;
};

// One device: its drawn parameters (by MemristorModel::make_device; treat as read-only) and
// its state w (change it through pulses or MemristorModel::set_state).
struct MemristorDevice {
  double G_min_S = 0;
  double G_max_S = 0;
  double k0_p_per_s = 0;  // this device's attempt rates (device-to-device spread applied)
  double k0_d_per_s = 0;
  double r_p_per_s = 0;  // hopping rates under the configured pulses
  double r_d_per_s = 0;
  double gain_p = 0;  // 1 - exp(-r_p tau_p): fraction of (1 - w) gained per SET pulse
  double gain_d = 0;  // 1 - exp(-r_d tau_d): fraction of w lost per RESET pulse
  StuckState stuck = StuckState::none;
  double w = 0;  // state in [0, 1]; stuck devices hold 0 (off) or 1 (on)
};

class MemristorModel {
 public:
  explicit MemristorModel(const MemristorConfig& config);
  // The model whose nominal device has exactly `abstraction` under `base`'s pulses, V0, E_a,
  // T and area: g_min/g_max_per_area and k0_p/k0_d of `base` are replaced, the rest kept.
  static MemristorModel from_abstraction(const MemristorAbstraction& abstraction,
                                         const MemristorConfig& base = {});
  const MemristorConfig& config() const { return config_; }

  // Hopping rate k0 sinh(|V|/V0) exp(-E_a/kT) of the nominal device at amplitude V
  // (V > 0 uses the potentiation parameters, V < 0 the depression ones, V = 0 gives 0).
  double rate_per_s(double V_volts) const;
  // exp(-E_a / k T) at the configured temperature.
  double arrhenius() const { return arrhenius_; }
  // The nominal device in the abstraction, and one drawn device.
  MemristorAbstraction abstraction() const;
  MemristorAbstraction abstraction(const MemristorDevice& device) const;

  // Draws one device from stream "device" of (seed, device_index), in state w = 0 (stuck-on
  // devices at w = 1). Always five variates (nine 64-bit values), in this order: stuck-at
  // uniform, then normals for area, range, k0_p, k0_d (a zero sigma still consumes its
  // normal), so turning one kind of variation on does not change the others.
  MemristorDevice make_device(std::uint64_t seed, std::uint64_t device_index) const;
  MemristorDevice make_device(RngStream& rng) const;

  // Sets w in [0, 1]; stuck devices keep their state.
  void set_state(MemristorDevice& device, double w) const;

  // One configured pulse. Draws one normal from rng for cycle-to-cycle noise if sigma_c2c > 0
  // and the device is not stuck (use stream "pulse", substream = pulse index).
  void apply_pulse(MemristorDevice& device, Polarity polarity, RngStream& rng) const;
  // One pulse of any amplitude and width (V > 0 potentiates, V < 0 depresses, V = 0 does
  // nothing and draws nothing). Same noise as above.
  void apply_pulse(MemristorDevice& device, double amplitude_V, double width_s,
                   RngStream& rng) const;

  // Noise-free conductance G_min + (G_max - G_min) w, written so that it is exactly G_min at
  // w = 0 and exactly G_max at w = 1.
  double conductance(const MemristorDevice& device) const {
    return device.G_min_S * (1.0 - device.w) + device.G_max_S * device.w;
  }
  // One read: conductance (1 + sigma_read N(0,1)); one normal if sigma_read > 0 (use stream
  // "read", substream = read index).
  double read(const MemristorDevice& device, RngStream& rng) const;
  // The standard deviation of that read, sigma_read G, for callers that draw their normals in
  // bulk (analog/; they skip the clamp at 0 S, which matters only for sigma_read near 1).
  double read_sigma_S(const MemristorDevice& device) const {
    return config_.sigma_read * conductance(device);
  }

 private:
  MemristorConfig config_;
  double arrhenius_ = 0;
  double sinh_p_ = 0;  // sinh(|V_p|/V0_p) of the configured pulses
  double sinh_d_ = 0;
};

// Potentiation/depression cycling of one device: `cycles` cycles of `pulses_per_cycle`
// identical pulses, alternating potentiation and depression, starting with potentiation,
// from state w0 (what `memcarlo device simulate memristor` writes as kind `pulse_train`).
struct MemristorPulseTrain {
  std::int64_t pulses_per_cycle = 32;  // 32 levels [DNN+NeuroSim V2.1]
  std::int64_t cycles = 2;
  double w0 = 0.0;
  bool noisy_reads = true;

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"pulses_per_cycle", "1", "identical pulses per potentiation or depression cycle (32 levels [DNN+NeuroSim V2.1])"}, pulses_per_cycle);
    v(ParamInfo{"cycles", "1", "number of cycles, alternating potentiation/depression, starting with potentiation"}, cycles);
    v(ParamInfo{"w0", "1", "starting state in [0, 1] (0 = G_min)"}, w0);
    v(ParamInfo{"noisy_reads", "", "record reads with read noise rather than noise-free conductance"}, noisy_reads);
  }
  // clang-format on
  void validate() const;
  Polarity polarity(std::int64_t cycle) const {
    return cycle % 2 == 0 ? Polarity::potentiation : Polarity::depression;
  }
};

// Conductance of device `device_index` after every pulse of `train`, [cycle][pulse], in S.
// Pulse k (counted from 0 over the whole train) draws from stream "pulse" substream k and
// is read from stream "read" substream k. Single-threaded and allocation-free per pulse; the
// caller parallelises over devices. G_out_S must hold cycles * pulses_per_cycle values.
void run_pulse_train(const MemristorModel& model, const MemristorPulseTrain& train,
                     std::uint64_t seed, std::uint64_t device_index, std::span<double> G_out_S);
NdArray<double> run_pulse_train(const MemristorModel& model, const MemristorPulseTrain& train,
                                std::uint64_t seed, std::uint64_t device_index);

}  // namespace memcarlo
