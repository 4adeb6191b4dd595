#include "physics/pcm_crystallization.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace memcarlo {

namespace {

using units::kBoltzmann_J_per_K;
using units::kPi;

constexpr double kLn10 = 2.302585092994045684;
// Guard against a Poisson mean that would exhaust memory: at this many nuclei in one pulse the
// extended volume is far beyond full crystallization anyway.
constexpr double kMaxNucleiPerPulse = 1e8;

bool positive(double x) { return std::isfinite(x) && x > 0; }
bool non_negative(double x) { return std::isfinite(x) && x >= 0; }

}  // namespace

PcmCrystallizationConfig preset_pcm_crystallization(std::string_view name) {
  PcmCrystallizationConfig c;  // `gst`
  if (name == "gst") return c;
  if (name == "cgst") {
    // Carbon-doped GST. Zhou et al., ACS Appl. Mater. Interfaces 6, 14207 (2014): C–C chains
    // stabilise the amorphous phase (higher crystallization temperature), the transition is
    // sluggish and the grains are confined, and RESET needs less power. There is no complete
    // published parameter set of this model for C-GST, so every number below is an assumption
    // of memcarlo that reproduces those trends qualitatively:
    c.E_a_eV = 3.0;       // higher activation energy of the frozen glass (assumption)
    c.T_g_K = 492.0;      // glass transition raised by 20 K (assumption)
    c.T_glass_K = 554.0;  // MYEGA/Arrhenius crossover raised by 20 K (assumption)
    c.r_max_m = 10e-9;    // grains confined to ~20 nm diameter (assumption)
    // Lower RESET power is a property of the RESET pulse, which this model idealises as a
    // melt-quench (reset()); the partial-SET thermal resistance is left unchanged.
    // Consequences (tests/physics/test_pcm_crystallization.cpp): under the gst default pulse
    // (0.15 mW, 50 ns) C-GST needs ~25x more pulses; 0.16 mW, 1 us pulses SET it in ~35 pulses,
    // with a smaller relative spread than gst because its many small grains average out.
    return c;
  }
  throw InputError(fmt::format("unknown PCM crystallization preset '{}' (known: gst, cgst)", name));
}

PcmCrystallizationModel::PcmCrystallizationModel(const PcmCrystallizationConfig& c) : config_(c) {
  MC_VALIDATE(positive(c.E_a_eV), "E_a = {} eV must be positive", c.E_a_eV);
  MC_VALIDATE(positive(c.sigma_J_m2), "sigma = {} J/m^2 must be positive", c.sigma_J_m2);
  MC_VALIDATE(positive(c.v_m_m3), "v_m = {} m^3 must be positive", c.v_m_m3);
  MC_VALIDATE(positive(c.lambda_m), "lambda = {} m must be positive", c.lambda_m);
  MC_VALIDATE(positive(c.T_m_K), "T_m = {} K must be positive", c.T_m_K);
  MC_VALIDATE(positive(c.dH_f_J_m3), "dH_f = {} J/m^3 must be positive", c.dH_f_J_m3);
  MC_VALIDATE(positive(c.eta_inf_Pa_s) && c.eta_inf_Pa_s < 1e12,
              "eta_inf = {} Pa s must be positive and below 1e12 Pa s", c.eta_inf_Pa_s);
  MC_VALIDATE(positive(c.T_g_K) && c.T_g_K < c.T_m_K, "need 0 < T_g < T_m, got T_g = {} K",
              c.T_g_K);
  // MYEGA's strong-liquid limit: m >= 12 - log10(eta_inf) (Mauro et al., PNAS 106, 19780
  // (2009)); below it the viscosity would fall on cooling.
  const double m_min = 12.0 - std::log10(c.eta_inf_Pa_s);
  MC_VALIDATE(std::isfinite(c.fragility) && c.fragility >= m_min,
              "fragility = {} must be at least 12 - log10(eta_inf) = {}", c.fragility, m_min);
  MC_VALIDATE(positive(c.T_glass_K) && c.T_glass_K < c.T_m_K,
              "need 0 < T_glass < T_m, got T_glass = {} K", c.T_glass_K);
  MC_VALIDATE(positive(c.theta_deg) && c.theta_deg <= 180.0, "theta = {} deg must be in (0, 180]",
              c.theta_deg);
  MC_VALIDATE(positive(c.T_amb_K), "T_amb = {} K must be positive", c.T_amb_K);
  MC_VALIDATE(non_negative(c.R_th_K_per_W), "R_th = {} K/W must be >= 0", c.R_th_K_per_W);
  MC_VALIDATE(positive(c.radius_m), "radius = {} m must be positive", c.radius_m);
  MC_VALIDATE(non_negative(c.G_amorphous_S), "G_amorphous = {} S must be >= 0", c.G_amorphous_S);
  MC_VALIDATE(std::isfinite(c.G_crystalline_S) && c.G_crystalline_S > c.G_amorphous_S,
              "G_crystalline = {} S must exceed G_amorphous = {} S", c.G_crystalline_S,
              c.G_amorphous_S);
  MC_VALIDATE(non_negative(c.X_c) && c.X_c < 1, "X_c = {} must be in [0, 1)", c.X_c);
  MC_VALIDATE(positive(c.t_perc), "t_perc = {} must be positive", c.t_perc);
  MC_VALIDATE(non_negative(c.r_max_m), "r_max = {} m must be >= 0 (0 = unlimited)", c.r_max_m);
  MC_VALIDATE(non_negative(c.read_noise), "read_noise = {} must be >= 0", c.read_noise);
  MC_VALIDATE(non_negative(c.R_th_d2d), "R_th_d2d = {} must be >= 0", c.R_th_d2d);
  MC_VALIDATE(non_negative(c.radius_d2d), "radius_d2d = {} must be >= 0", c.radius_d2d);
  MC_VALIDATE(non_negative(c.power_c2c), "power_c2c = {} must be >= 0", c.power_c2c);

  const double cos_t = std::cos(c.theta_deg * kPi / 180.0);
  f_theta_ = (2.0 - 3.0 * cos_t + cos_t * cos_t * cos_t) / 4.0;
  nucleation_geometry_ =
      f_theta_ * c.v_m_m3 * c.v_m_m3 * c.sigma_J_m2 * c.sigma_J_m2 * c.sigma_J_m2;
  log10_eta_inf_ = std::log10(c.eta_inf_Pa_s);
  myega_exponent_ = c.fragility / (12.0 - log10_eta_inf_) - 1.0;
  E_a_over_k_K_ = units::eV_to_J(c.E_a_eV) / kBoltzmann_J_per_K;
  // Anchor of the Arrhenius branch: the MYEGA viscosity at T_glass, so η is continuous there.
  eta_T_glass_ = viscosity_Pa_s(c.T_glass_K);
}

// Thompson–Spaepen: ΔG_v = ΔH_f (T_m − T)/T_m · 2T/(T_m + T); zero at and above T_m.
double PcmCrystallizationModel::driving_force_J_m3(double T_K) const {
  const double Tm = config_.T_m_K;
  if (T_K >= Tm) return 0.0;
  return config_.dH_f_J_m3 * (Tm - T_K) / Tm * 2.0 * T_K / (Tm + T_K);
}

// n_c = f(θ)(32π/3) v_m² σ³ / Δg³ with Δg = v_m ΔG_v (free energy gained per formula unit).
double PcmCrystallizationModel::critical_size(double T_K) const {
  const double dg = config_.v_m_m3 * driving_force_J_m3(T_K);
  if (dg <= 0) return std::numeric_limits<double>::infinity();
  return 32.0 * kPi / 3.0 * nucleation_geometry_ / (dg * dg * dg);
}

// ΔG_c = f(θ)(16π/3) v_m² σ³ / Δg².
double PcmCrystallizationModel::barrier_J(double T_K) const {
  const double dg = config_.v_m_m3 * driving_force_J_m3(T_K);
  if (dg <= 0) return std::numeric_limits<double>::infinity();
  return 16.0 * kPi / 3.0 * nucleation_geometry_ / (dg * dg);
}

double PcmCrystallizationModel::critical_radius_m(double T_K) const {
  const double dGv = driving_force_J_m3(T_K);
  if (dGv <= 0) return std::numeric_limits<double>::infinity();
  return 2.0 * config_.sigma_J_m2 / dGv;
}

// Above T_glass the supercooled liquid follows MYEGA (Mauro et al., PNAS 106, 19780 (2009)):
//   log10 η = log10 η_∞ + (12 − log10 η_∞)(T_g/T) exp[(m/(12 − log10 η_∞) − 1)(T_g/T − 1)].
// Below T_glass the structure is frozen and η is Arrhenius with E_a, continuous at T_glass.
double PcmCrystallizationModel::viscosity_Pa_s(double T_K) const {
  const auto& c = config_;
  if (T_K >= c.T_glass_K) {
    const double L = log10_eta_inf_;
    const double x = c.T_g_K / T_K;
    return std::exp(kLn10 * (L + (12.0 - L) * x * std::exp(myega_exponent_ * (x - 1.0))));
  }
  return eta_T_glass_ * std::exp(E_a_over_k_K_ * (1.0 / T_K - 1.0 / c.T_glass_K));
}

// Stokes–Einstein attachment frequency γ = kT / (3π λ³ η).
double PcmCrystallizationModel::jump_frequency_per_s(double T_K) const {
  const double l = config_.lambda_m;
  return kBoltzmann_J_per_K * T_K / (3.0 * kPi * l * l * l * viscosity_Pa_s(T_K));
}

// Z = sqrt(Δg / (6π kT n_c)).
double PcmCrystallizationModel::zeldovich(double T_K) const {
  const double dg = config_.v_m_m3 * driving_force_J_m3(T_K);
  if (dg <= 0) return 0.0;
  return std::sqrt(dg / (6.0 * kPi * kBoltzmann_J_per_K * T_K * critical_size(T_K)));
}

double PcmCrystallizationModel::nucleation_rate_per_m3_s(double T_K) const {
  return rates(T_K).I_per_m3_s;
}

double PcmCrystallizationModel::growth_velocity_m_s(double T_K) const {
  return rates(T_K).u_m_per_s;
}

// Steady-state classical nucleation, one site per formula unit: I = (γ Z / v_m) exp(−ΔG_c/kT)
// (the attachment-site factor O_n ~ 4 n_c^(2/3) of the full CNT prefactor is taken as one; n_c
// is only 3–6 formula units here). Wilson–Frenkel growth: u = λ γ (1 − exp(−Δg/kT)).
// One pass that shares the subexpressions: this runs once per pulse.
PcmRates PcmCrystallizationModel::rates(double T_K) const {
  PcmRates r;
  r.T_K = T_K;
  const double dGv = driving_force_J_m3(T_K);
  if (!(dGv > 0) || !(T_K > 0)) return r;
  const auto& c = config_;
  const double kT = kBoltzmann_J_per_K * T_K;
  const double dg = c.v_m_m3 * dGv;
  const double n_c = 32.0 * kPi / 3.0 * nucleation_geometry_ / (dg * dg * dg);
  const double barrier = 16.0 * kPi / 3.0 * nucleation_geometry_ / (dg * dg);
  const double gamma = jump_frequency_per_s(T_K);
  const double Z = std::sqrt(dg / (6.0 * kPi * kT * n_c));
  r.I_per_m3_s = gamma * Z / c.v_m_m3 * std::exp(-barrier / kT);
  r.u_m_per_s = c.lambda_m * gamma * -std::expm1(-dg / kT);
  r.r_c_m = 2.0 * c.sigma_J_m2 / dGv;
  return r;
}

PcmCellState PcmCrystallizationModel::make_cell(RngStream& rng) const {
  PcmCellState s = nominal_cell();
  // Log-normal factors with median one: R_th first, then the dome radius.
  s.R_th_K_per_W *= std::exp(config_.R_th_d2d * NormalDistribution::standard(rng));
  s.radius_m *= std::exp(config_.radius_d2d * NormalDistribution::standard(rng));
  s.volume_m3 = 2.0 * kPi / 3.0 * s.radius_m * s.radius_m * s.radius_m;
  return s;
}

PcmCellState PcmCrystallizationModel::nominal_cell() const {
  PcmCellState s;
  s.R_th_K_per_W = config_.R_th_K_per_W;
  s.radius_m = config_.radius_m;
  s.volume_m3 = 2.0 * kPi / 3.0 * s.radius_m * s.radius_m * s.radius_m;
  s.grain_radii_m.reserve(64);
  s.X = 0;
  return s;
}

// Melt-quench: every RESET leaves a new amorphous configuration (Le Gallo et al., ESSDERC 2016),
// so no grain and no memory of earlier nuclei survive. Capacity is kept for the next cycle.
void PcmCrystallizationModel::reset(PcmCellState& state) const {
  state.grain_radii_m.clear();
  state.X = 0;
}

void PcmCrystallizationModel::apply_pulse(PcmCellState& state, double power_W, double width_s,
                                          RngStream& rng) const {
  MC_VALIDATE(non_negative(power_W), "pulse power {} W must be finite and >= 0", power_W);
  MC_VALIDATE(non_negative(width_s), "pulse width {} s must be finite and >= 0", width_s);
  double P = power_W;
  if (config_.power_c2c > 0) P *= std::exp(config_.power_c2c * NormalDistribution::standard(rng));
  const double T = config_.T_amb_K + state.R_th_K_per_W * P;
  if (T >= config_.T_m_K) {
    // The dome melts; a rectangular pulse ends abruptly, so it quenches amorphous.
    reset(state);
    return;
  }
  anneal(state, rates(T), width_s, rng);
}

// Nucleation and growth during an isothermal interval of length w, without time stepping.
//
// Nuclei are placed in the *extended* volume: a Poisson process of rate I·V over the whole dome,
// as if no crystal were there. A nucleus that lands in already-crystalline material is a
// 'phantom': it is covered by a real grain that is older, hence (same u) at least as large, and
// its extended volume lies inside real crystal. Thinning the Poisson process by the amorphous
// fraction leaves the real nuclei a Poisson process in the remaining amorphous volume, which is
// the physics; keeping the phantoms instead lets Avrami's relation X = 1 − exp(−V_ext/V) turn
// extended volume into real volume, and in the large-volume isothermal limit this is exactly
// JMAK, X = 1 − exp(−K tⁿ) (n = 4 for constant I and u, slightly less while r_c matters).
// In a small dome the relation is a mean-field treatment of impingement and of grains reaching
// the dome boundary.
//
// The count is Poisson(I V w); each birth time is uniform in the pulse, so a new nucleus has
// radius r_c + u (w − t_i) = r_c + u w U. Existing grains grow by u w. Grains stop at r_max.
void PcmCrystallizationModel::anneal(PcmCellState& state, const PcmRates& rates, double duration_s,
                                     RngStream& rng) const {
  MC_VALIDATE(non_negative(duration_s), "anneal duration {} s must be finite and >= 0", duration_s);
  const double r_max =
      config_.r_max_m > 0 ? config_.r_max_m : std::numeric_limits<double>::infinity();
  const double grow = rates.u_m_per_s * duration_s;
  auto& grains = state.grain_radii_m;
  double sum_r3 = 0;
  for (double& r : grains) {
    r = std::min(r + grow, r_max);
    sum_r3 += r * r * r;
  }
  const double mean = rates.I_per_m3_s * state.volume_m3 * duration_s;
  MC_VALIDATE(mean <= kMaxNucleiPerPulse,
              "{} nuclei expected in one pulse at {} K: use shorter pulses or a smaller volume",
              mean, rates.T_K);
  const auto n = PoissonDistribution(mean)(rng);
  for (std::uint64_t i = 0; i < n; ++i) {
    const double r = std::min(rates.r_c_m + grow * rng.uniform(), r_max);
    grains.push_back(r);
    sum_r3 += r * r * r;
  }
  const double extended_fraction = 4.0 * kPi / 3.0 * sum_r3 / state.volume_m3;
  state.X = -std::expm1(-extended_fraction);
}

// Percolation: G = G_a + (G_c − G_a) max(0, (X − X_c)/(1 − X_c))^t.
double PcmCrystallizationModel::conductance_S(double X) const {
  const auto& c = config_;
  const double p = std::max(0.0, (X - c.X_c) / (1.0 - c.X_c));
  return c.G_amorphous_S + (c.G_crystalline_S - c.G_amorphous_S) * std::pow(p, c.t_perc);
}

double PcmCrystallizationModel::read(const PcmCellState& state, RngStream& rng) const {
  const double G = conductance_S(state.X);
  if (config_.read_noise <= 0) return G;
  return G * (1.0 + config_.read_noise * NormalDistribution::standard(rng));
}

void PcmPulseTrain::validate() const {
  MC_VALIDATE(non_negative(power_W), "pulse power = {} W must be finite and >= 0", power_W);
  MC_VALIDATE(non_negative(width_s), "pulse width = {} s must be finite and >= 0", width_s);
  MC_VALIDATE(pulses_per_cycle >= 1 && pulses_per_cycle < (std::int64_t{1} << 32),
              "pulses_per_cycle = {} must be in [1, 2^32)", pulses_per_cycle);
  MC_VALIDATE(cycles >= 1 && cycles < (std::int64_t{1} << 31), "cycles = {} must be in [1, 2^31)",
              cycles);
  MC_VALIDATE(std::isfinite(G_threshold_S) && G_threshold_S > 0,
              "G_threshold = {} S must be positive", G_threshold_S);
  MC_VALIDATE(max_pulses >= 1 && max_pulses < (std::int64_t{1} << 32),
              "max_pulses = {} must be in [1, 2^32)", max_pulses);
}

namespace {
constexpr std::uint64_t kDeviceStream = stream_id("device");
constexpr std::uint64_t kPulseStream = stream_id("pulse");
constexpr std::uint64_t kReadStream = stream_id("read");

// One pulse and the read after it, each from its own substream.
double pulse_and_read(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                      PcmCellState& cell, std::uint64_t seed, std::uint64_t device,
                      std::int64_t cycle, std::int64_t pulse) {
  const std::uint64_t sub = pcm_pulse_substream(cycle, pulse);
  RngStream pulse_rng(seed, device, kPulseStream, sub);
  model.apply_pulse(cell, protocol.power_W, protocol.width_s, pulse_rng);
  RngStream read_rng(seed, device, kReadStream, sub);
  return model.read(cell, read_rng);
}
}  // namespace

void simulate_pulse_train(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                          std::uint64_t seed, std::uint64_t device, std::span<double> out) {
  protocol.validate();
  const auto n = static_cast<std::size_t>(protocol.cycles * protocol.pulses_per_cycle);
  MC_VALIDATE(out.size() == n, "pulse-train output holds {} values, the protocol makes {}",
              out.size(), n);
  RngStream device_rng(seed, device, kDeviceStream);
  PcmCellState cell = model.make_cell(device_rng);
  std::size_t k = 0;
  for (std::int64_t c = 0; c < protocol.cycles; ++c) {
    model.reset(cell);
    for (std::int64_t p = 0; p < protocol.pulses_per_cycle; ++p)
      out[k++] = pulse_and_read(model, protocol, cell, seed, device, c, p);
  }
}

std::vector<double> simulate_pulse_train(const PcmCrystallizationModel& model,
                                         const PcmPulseTrain& protocol, std::uint64_t seed,
                                         std::uint64_t device) {
  protocol.validate();
  std::vector<double> out(static_cast<std::size_t>(protocol.cycles * protocol.pulses_per_cycle));
  simulate_pulse_train(model, protocol, seed, device, out);
  return out;
}

std::int64_t pulses_to_set(const PcmCrystallizationModel& model, const PcmPulseTrain& protocol,
                           std::uint64_t seed, std::uint64_t device, std::int64_t cycle) {
  protocol.validate();
  MC_VALIDATE(cycle >= 0 && cycle < (std::int64_t{1} << 31), "cycle = {} must be in [0, 2^31)",
              cycle);
  RngStream device_rng(seed, device, kDeviceStream);
  PcmCellState cell = model.make_cell(device_rng);
  model.reset(cell);
  for (std::int64_t p = 0; p < protocol.max_pulses; ++p) {
    if (pulse_and_read(model, protocol, cell, seed, device, cycle, p) >= protocol.G_threshold_S)
      return p + 1;
  }
  return kPulsesToSetNotReached;
}

}  // namespace memcarlo
