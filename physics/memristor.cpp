#include "physics/memristor.hpp"

#include <algorithm>
#include <cmath>

#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace memcarlo {

namespace {

bool finite_positive(double x) { return std::isfinite(x) && x > 0; }
bool finite_nonnegative(double x) { return std::isfinite(x) && x >= 0; }

// Fraction of the remaining distance covered by one pulse of rate r and width tau:
// 1 - exp(-r tau), via expm1 so that nearly linear devices (r tau ~ 1e-7) keep full precision.
double pulse_gain(double rate_per_s, double width_s) { return -std::expm1(-rate_per_s * width_s); }

// The window-bounded update with cycle-to-cycle noise, clipped to the window.
double step(double w, double gain, Polarity polarity, double sigma_c2c, RngStream& rng) {
  w = polarity == Polarity::potentiation ? w + (1.0 - w) * gain : w - w * gain;
  if (sigma_c2c > 0) w += sigma_c2c * NormalDistribution::standard(rng);
  return std::clamp(w, 0.0, 1.0);
}

}  // namespace

double MemristorAbstraction::G_after_potentiation_S(double P) const {
  return G_min_S + B_S() * -std::expm1(-P / A_p_pulses);
}

double MemristorAbstraction::G_after_depression_S(double P) const {
  return G_min_S + B_S() * std::exp(-P / A_d_pulses);
}

MemristorModel::MemristorModel(const MemristorConfig& c) : config_(c) {
  MC_VALIDATE(finite_positive(c.area_m2), "memristor area = {} m^2 must be positive", c.area_m2);
  MC_VALIDATE(finite_nonnegative(c.g_min_per_area_S_per_m2),
              "g_min_per_area = {} S/m^2 must be finite and >= 0", c.g_min_per_area_S_per_m2);
  MC_VALIDATE(std::isfinite(c.g_max_per_area_S_per_m2) &&
                  c.g_max_per_area_S_per_m2 > c.g_min_per_area_S_per_m2,
              "g_max_per_area = {} S/m^2 must be finite and exceed g_min_per_area = {} S/m^2",
              c.g_max_per_area_S_per_m2, c.g_min_per_area_S_per_m2);
  MC_VALIDATE(finite_positive(c.k0_p_per_s), "k0_p = {} /s must be positive", c.k0_p_per_s);
  MC_VALIDATE(finite_positive(c.k0_d_per_s), "k0_d = {} /s must be positive", c.k0_d_per_s);
  MC_VALIDATE(finite_positive(c.V0_p_V), "V0_p = {} V must be positive", c.V0_p_V);
  MC_VALIDATE(finite_positive(c.V0_d_V), "V0_d = {} V must be positive", c.V0_d_V);
  MC_VALIDATE(finite_nonnegative(c.E_a_eV), "E_a = {} eV must be finite and >= 0", c.E_a_eV);
  MC_VALIDATE(finite_positive(c.temperature_K), "temperature = {} K must be positive",
              c.temperature_K);
  MC_VALIDATE(std::isfinite(c.V_p_V) && c.V_p_V > 0,
              "V_p = {} V must be positive (potentiation is V > 0)", c.V_p_V);
  MC_VALIDATE(std::isfinite(c.V_d_V) && c.V_d_V < 0,
              "V_d = {} V must be negative (depression is V < 0)", c.V_d_V);
  MC_VALIDATE(finite_positive(c.tau_p_s), "tau_p = {} s must be positive", c.tau_p_s);
  MC_VALIDATE(finite_positive(c.tau_d_s), "tau_d = {} s must be positive", c.tau_d_s);
  MC_VALIDATE(finite_nonnegative(c.sigma_c2c) && c.sigma_c2c <= 1,
              "sigma_c2c = {} must be in [0, 1]", c.sigma_c2c);
  MC_VALIDATE(finite_nonnegative(c.sigma_area), "sigma_area = {} must be finite and >= 0",
              c.sigma_area);
  MC_VALIDATE(finite_nonnegative(c.sigma_range), "sigma_range = {} must be finite and >= 0",
              c.sigma_range);
  MC_VALIDATE(finite_nonnegative(c.sigma_k0_p), "sigma_k0_p = {} must be finite and >= 0",
              c.sigma_k0_p);
  MC_VALIDATE(finite_nonnegative(c.sigma_k0_d), "sigma_k0_d = {} must be finite and >= 0",
              c.sigma_k0_d);
  MC_VALIDATE(finite_nonnegative(c.sigma_read), "sigma_read = {} must be finite and >= 0",
              c.sigma_read);
  MC_VALIDATE(c.p_stuck_off >= 0 && c.p_stuck_off <= 1, "p_stuck_off = {} must be in [0, 1]",
              c.p_stuck_off);
  MC_VALIDATE(c.p_stuck_on >= 0 && c.p_stuck_on <= 1, "p_stuck_on = {} must be in [0, 1]",
              c.p_stuck_on);
  MC_VALIDATE(c.p_stuck_off + c.p_stuck_on <= 1, "p_stuck_off + p_stuck_on = {} exceeds 1",
              c.p_stuck_off + c.p_stuck_on);

  arrhenius_ = std::exp(-c.E_a_eV / (units::kBoltzmann_eV_per_K * c.temperature_K));
  sinh_p_ = std::sinh(c.V_p_V / c.V0_p_V);
  sinh_d_ = std::sinh(-c.V_d_V / c.V0_d_V);
  // The nominal device must move, but not overflow: A = 1/(r tau) finite and positive.
  const auto nominal = abstraction();
  MC_VALIDATE(finite_positive(nominal.A_p_pulses),
              "potentiation does not move the state: A_p = {} pulses (rate {} /s)",
              nominal.A_p_pulses, rate_per_s(c.V_p_V));
  MC_VALIDATE(finite_positive(nominal.A_d_pulses),
              "depression does not move the state: A_d = {} pulses (rate {} /s)",
              nominal.A_d_pulses, rate_per_s(c.V_d_V));
}

MemristorModel MemristorModel::from_abstraction(const MemristorAbstraction& a,
                                                const MemristorConfig& base) {
  MC_VALIDATE(finite_nonnegative(a.G_min_S) && std::isfinite(a.G_max_S) && a.G_max_S > a.G_min_S,
              "abstraction needs 0 <= G_min < G_max, got G_min = {} S, G_max = {} S", a.G_min_S,
              a.G_max_S);
  MC_VALIDATE(finite_positive(a.A_p_pulses) && finite_positive(a.A_d_pulses),
              "abstraction needs A_p, A_d > 0 pulses, got {} and {}", a.A_p_pulses, a.A_d_pulses);
  MemristorConfig c = base;
  c.g_min_per_area_S_per_m2 = a.G_min_S / base.area_m2;
  c.g_max_per_area_S_per_m2 = a.G_max_S / base.area_m2;
  // Validates everything the abstraction does not replace (area, pulses, V0, E_a, T, ...),
  // with placeholder attempt rates.
  c.k0_p_per_s = 1.0;
  c.k0_d_per_s = 1.0;
  const MemristorModel reference(c);
  // A = 1 / (k0 sinh(|V|/V0) exp(-E_a/kT) tau)  =>  k0 = 1 / (A tau sinh exp).
  c.k0_p_per_s = 1.0 / (a.A_p_pulses * c.tau_p_s * reference.sinh_p_ * reference.arrhenius_);
  c.k0_d_per_s = 1.0 / (a.A_d_pulses * c.tau_d_s * reference.sinh_d_ * reference.arrhenius_);
  return MemristorModel(c);
}

double MemristorModel::rate_per_s(double V) const {
  const auto& c = config_;
  if (V > 0) return c.k0_p_per_s * std::sinh(V / c.V0_p_V) * arrhenius_;
  if (V < 0) return c.k0_d_per_s * std::sinh(-V / c.V0_d_V) * arrhenius_;
  return 0.0;
}

MemristorAbstraction MemristorModel::abstraction() const {
  const auto& c = config_;
  MemristorAbstraction a;
  a.G_min_S = c.g_min_per_area_S_per_m2 * c.area_m2;
  a.G_max_S = c.g_max_per_area_S_per_m2 * c.area_m2;
  a.A_p_pulses = 1.0 / (c.k0_p_per_s * sinh_p_ * arrhenius_ * c.tau_p_s);
  a.A_d_pulses = 1.0 / (c.k0_d_per_s * sinh_d_ * arrhenius_ * c.tau_d_s);
  return a;
}

MemristorAbstraction MemristorModel::abstraction(const MemristorDevice& d) const {
  MemristorAbstraction a;
  a.G_min_S = d.G_min_S;
  a.G_max_S = d.G_max_S;
  a.A_p_pulses = 1.0 / (d.r_p_per_s * config_.tau_p_s);
  a.A_d_pulses = 1.0 / (d.r_d_per_s * config_.tau_d_s);
  return a;
}

MemristorDevice MemristorModel::make_device(std::uint64_t seed, std::uint64_t device_index) const {
  RngStream rng(seed, device_index, memristor_stream::device);
  return make_device(rng);
}

MemristorDevice MemristorModel::make_device(RngStream& rng) const {
  const auto& c = config_;
  // Fixed draw order and count (see the header).
  const double u_stuck = rng.uniform();
  const double z_area = NormalDistribution::standard(rng);
  const double z_range = NormalDistribution::standard(rng);
  const double z_k0_p = NormalDistribution::standard(rng);
  const double z_k0_d = NormalDistribution::standard(rng);

  MemristorDevice d;
  // Area scales both bounds; the range G_max - G_min is multiplied by exp(sigma_range z) > 0,
  // so G_max > G_min for any draw. Without range spread G_max = g_max_per_area * area exactly.
  const double area = c.area_m2 * std::exp(c.sigma_area * z_area);
  d.G_min_S = c.g_min_per_area_S_per_m2 * area;
  d.G_max_S = c.sigma_range == 0
                  ? c.g_max_per_area_S_per_m2 * area
                  : d.G_min_S + (c.g_max_per_area_S_per_m2 - c.g_min_per_area_S_per_m2) * area *
                                    std::exp(c.sigma_range * z_range);
  d.k0_p_per_s = c.k0_p_per_s * std::exp(c.sigma_k0_p * z_k0_p);
  d.k0_d_per_s = c.k0_d_per_s * std::exp(c.sigma_k0_d * z_k0_d);
  d.r_p_per_s = d.k0_p_per_s * sinh_p_ * arrhenius_;
  d.r_d_per_s = d.k0_d_per_s * sinh_d_ * arrhenius_;
  d.gain_p = pulse_gain(d.r_p_per_s, c.tau_p_s);
  d.gain_d = pulse_gain(d.r_d_per_s, c.tau_d_s);
  if (u_stuck < c.p_stuck_off) {
    d.stuck = StuckState::off;
  } else if (u_stuck < c.p_stuck_off + c.p_stuck_on) {
    d.stuck = StuckState::on;
    d.w = 1.0;
  }
  return d;
}

void MemristorModel::set_state(MemristorDevice& device, double w) const {
  MC_VALIDATE(w >= 0 && w <= 1, "memristor state w = {} must be in [0, 1]", w);
  if (device.stuck == StuckState::none) device.w = w;
}

void MemristorModel::apply_pulse(MemristorDevice& device, Polarity polarity, RngStream& rng) const {
  if (device.stuck != StuckState::none) return;
  const double gain = polarity == Polarity::potentiation ? device.gain_p : device.gain_d;
  device.w = step(device.w, gain, polarity, config_.sigma_c2c, rng);
}

void MemristorModel::apply_pulse(MemristorDevice& device, double V, double width_s,
                                 RngStream& rng) const {
  MC_VALIDATE(std::isfinite(V), "pulse amplitude {} V must be finite", V);
  MC_VALIDATE(finite_positive(width_s), "pulse width {} s must be positive", width_s);
  if (device.stuck != StuckState::none || V == 0) return;
  const auto& c = config_;
  const Polarity polarity = V > 0 ? Polarity::potentiation : Polarity::depression;
  const double rate = V > 0 ? device.k0_p_per_s * std::sinh(V / c.V0_p_V) * arrhenius_
                            : device.k0_d_per_s * std::sinh(-V / c.V0_d_V) * arrhenius_;
  device.w = step(device.w, pulse_gain(rate, width_s), polarity, c.sigma_c2c, rng);
}

double MemristorModel::read(const MemristorDevice& device, RngStream& rng) const {
  const double G = conductance(device);
  if (config_.sigma_read == 0) return G;
  // A conductance cannot be negative: large read noise is clamped at 0 S.
  return std::max(G * (1.0 + config_.sigma_read * NormalDistribution::standard(rng)), 0.0);
}

void MemristorPulseTrain::validate() const {
  MC_VALIDATE(pulses_per_cycle >= 1 && pulses_per_cycle <= 100'000'000,
              "pulses_per_cycle = {} must be in [1, 1e8]", pulses_per_cycle);
  MC_VALIDATE(cycles >= 1 && cycles <= 100'000'000, "cycles = {} must be in [1, 1e8]", cycles);
  MC_VALIDATE(w0 >= 0 && w0 <= 1, "w0 = {} must be in [0, 1]", w0);
}

void run_pulse_train(const MemristorModel& model, const MemristorPulseTrain& train,
                     std::uint64_t seed, std::uint64_t device_index, std::span<double> G_out_S) {
  train.validate();
  const auto n_pulse = static_cast<std::size_t>(train.pulses_per_cycle);
  const auto n_cycle = static_cast<std::size_t>(train.cycles);
  MC_VALIDATE(G_out_S.size() == n_cycle * n_pulse,
              "pulse-train output holds {} values, the train has {} cycles x {} pulses",
              G_out_S.size(), n_cycle, n_pulse);
  MemristorDevice device = model.make_device(seed, device_index);
  model.set_state(device, train.w0);
  std::uint64_t k = 0;  // pulse index over the whole train
  for (std::size_t cycle = 0; cycle < n_cycle; ++cycle) {
    const Polarity polarity = train.polarity(static_cast<std::int64_t>(cycle));
    for (std::size_t p = 0; p < n_pulse; ++p, ++k) {
      RngStream pulse_rng(seed, device_index, memristor_stream::pulse, k);
      model.apply_pulse(device, polarity, pulse_rng);
      double G;
      if (train.noisy_reads) {
        RngStream read_rng(seed, device_index, memristor_stream::read, k);
        G = model.read(device, read_rng);
      } else {
        G = model.conductance(device);
      }
      G_out_S[cycle * n_pulse + p] = G;
    }
  }
}

NdArray<double> run_pulse_train(const MemristorModel& model, const MemristorPulseTrain& train,
                                std::uint64_t seed, std::uint64_t device_index) {
  train.validate();
  NdArray<double> G(
      {static_cast<std::size_t>(train.cycles), static_cast<std::size_t>(train.pulses_per_cycle)});
  run_pulse_train(model, train, seed, device_index, G.data);
  return G;
}

}  // namespace memcarlo
