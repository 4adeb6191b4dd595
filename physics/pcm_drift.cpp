#include "physics/pcm_drift.hpp"

#include "core/distributions.hpp"
#include "core/error.hpp"
#include "core/units.hpp"

namespace memcarlo {

namespace {
double clip(double x, double lo, double hi) { return std::min(std::max(x, lo), hi); }
// Smallest normalised conductance used in ln g and g^-p: keeps a zero target finite.
constexpr double kMinG = 1e-12;
}  // namespace

PcmDriftModel::PcmDriftModel(const PcmDriftConfig& c) : config_(c) {
  MC_VALIDATE(c.g_max_S > 0 && std::isfinite(c.g_max_S), "g_max = {} S must be positive", c.g_max_S);
  MC_VALIDATE(c.t0_s > 0 && std::isfinite(c.t0_s), "t0 = {} s must be positive", c.t0_s);
  MC_VALIDATE(c.t_read_s > 0 && std::isfinite(c.t_read_s), "t_read = {} s must be positive", c.t_read_s);
  MC_VALIDATE(c.mu_nu_lo <= c.mu_nu_hi, "mu_nu_lo = {} exceeds mu_nu_hi = {}", c.mu_nu_lo, c.mu_nu_hi);
  MC_VALIDATE(c.sigma_nu_lo >= 0 && c.sigma_nu_lo <= c.sigma_nu_hi,
              "need 0 <= sigma_nu_lo <= sigma_nu_hi, got {} and {}", c.sigma_nu_lo, c.sigma_nu_hi);
  MC_VALIDATE(c.q_s_max >= 0 && c.q_s_a >= 0, "q_s_a and q_s_max must be >= 0");
  MC_VALIDATE(c.temperature_K > 0 && c.T_ref_K > 0, "temperatures must be positive, got {} K and {} K",
              c.temperature_K, c.T_ref_K);
  MC_VALIDATE(std::isfinite(c.E_a_drift_eV) && c.E_a_drift_eV >= 0,
              "E_a_drift = {} eV must be finite and >= 0", c.E_a_drift_eV);
  for (const auto& [name, value] :
       {std::pair{"prog_c0", c.prog_c0_S}, {"prog_c1", c.prog_c1_S}, {"prog_c2", c.prog_c2_S},
        {"mu_nu_a", c.mu_nu_a}, {"mu_nu_b", c.mu_nu_b}, {"mu_nu_lo", c.mu_nu_lo},
        {"mu_nu_hi", c.mu_nu_hi}, {"sigma_nu_a", c.sigma_nu_a}, {"sigma_nu_b", c.sigma_nu_b},
        {"sigma_nu_hi", c.sigma_nu_hi}, {"q_s_a", c.q_s_a}, {"q_s_p", c.q_s_p},
        {"q_s_max", c.q_s_max}})
    MC_VALIDATE(std::isfinite(value), "{} = {} must be finite", name, value);
  acceleration_ = std::exp(c.E_a_drift_eV / units::kBoltzmann_eV_per_K *
                           (1.0 / c.T_ref_K - 1.0 / c.temperature_K));
  MC_VALIDATE(std::isfinite(acceleration_) && acceleration_ > 0,
              "drift acceleration exp(E_a/k (1/T_ref - 1/T)) = {} is not a usable number for "
              "E_a_drift = {} eV, T = {} K, T_ref = {} K",
              acceleration_, c.E_a_drift_eV, c.temperature_K, c.T_ref_K);
}

double PcmDriftModel::normalised(double G_target_S) const {
  return std::max(std::fabs(G_target_S) / config_.g_max_S, kMinG);
}

double PcmDriftModel::mu_nu(double g) const {
  const auto& c = config_;
  return clip(c.mu_nu_a * std::log(std::max(g, kMinG)) + c.mu_nu_b, c.mu_nu_lo, c.mu_nu_hi);
}

double PcmDriftModel::sigma_nu(double g) const {
  const auto& c = config_;
  return clip(c.sigma_nu_a * std::log(std::max(g, kMinG)) + c.sigma_nu_b, c.sigma_nu_lo,
              c.sigma_nu_hi);
}

double PcmDriftModel::sigma_prog_S(double g) const {
  const auto& c = config_;
  // The polynomial holds for g_max = 25 µS; it scales with g_max.
  return std::max(c.prog_c2_S * g * g + c.prog_c1_S * g + c.prog_c0_S, 0.0) * (c.g_max_S / 25e-6);
}

double PcmDriftModel::q_s(double g) const {
  const auto& c = config_;
  return std::min(c.q_s_a / std::pow(std::max(g, kMinG), c.q_s_p), c.q_s_max);
}

PcmDriftState PcmDriftModel::program(double G_target_S, RngStream& rng) const {
  MC_VALIDATE(std::isfinite(G_target_S) && G_target_S >= 0,
              "target conductance {} S must be finite and >= 0", G_target_S);
  const double g = normalised(G_target_S);
  PcmDriftState s;
  s.G_target_S = G_target_S;
  // Both normals are always drawn, so switching programming noise off leaves every device's
  // drift exponent unchanged (paired comparisons).
  const double z_prog = NormalDistribution::standard(rng);
  const double z_nu = NormalDistribution::standard(rng);
  // A conductance cannot be negative: the noisy result is clamped at 0 (as IBM aihwkit does).
  s.G0_S = config_.programming_noise ? std::max(G_target_S + sigma_prog_S(g) * z_prog, 0.0)
                                     : G_target_S;
  s.nu = mu_nu(g) + sigma_nu(g) * z_nu;
  return s;
}

double PcmDriftModel::ageing_time_s(double t_s) const {
  const double t0 = config_.t0_s;
  return t_s <= t0 ? t_s : t0 + acceleration_ * (t_s - t0);
}

double PcmDriftModel::drifted(const PcmDriftState& s, double t_s) const {
  return s.G0_S * std::pow(ageing_time_s(t_s) / config_.t0_s, -s.nu);
}

double PcmDriftModel::read(const PcmDriftState& s, double t_s, RngStream& rng) const {
  MC_VALIDATE(std::isfinite(t_s) && t_s > 0, "read time {} s must be positive and finite", t_s);
  const double G = drifted(s, t_s);
  const double z = NormalDistribution::standard(rng);  // drawn even without noise: see program()
  if (!config_.read_noise) return G;
  return std::max(G + read_noise_sigma_S(s, G, t_s) * z, 0.0);
}

double PcmDriftModel::read_noise_sigma_S(const PcmDriftState& s, double G_S, double t_s) const {
  if (!config_.read_noise) return 0.0;
  // 1/f noise accumulated since programming; none yet for reads before t_read.
  const double tr = config_.t_read_s;
  return std::fabs(G_S) * q_s(normalised(s.G_target_S)) *
         std::sqrt(std::max(std::log((t_s + tr) / (2.0 * tr)), 0.0));
}

void PcmDriftProtocol::validate() const {
  MC_VALIDATE(g_lo > 0 && g_hi >= g_lo && g_hi <= 10, "need 0 < g_lo <= g_hi, got {} and {}", g_lo, g_hi);
  MC_VALIDATE(levels >= 1, "levels = {} must be >= 1", levels);
  MC_VALIDATE(n_times >= 1 && n_times <= 100000, "n_times = {} must be in [1, 100000]", n_times);
  MC_VALIDATE(t_first_s > 0 && std::isfinite(t_last_s) && t_last_s >= t_first_s,
              "need 0 < t_first <= t_last < inf, got {} s and {} s", t_first_s, t_last_s);
  MC_VALIDATE(n_times == 1 || t_last_s > t_first_s, "n_times > 1 needs t_last > t_first");
}

std::vector<double> PcmDriftProtocol::read_times_s() const {
  std::vector<double> t(static_cast<std::size_t>(n_times));
  const double span = std::log(t_last_s / t_first_s);
  for (std::int64_t i = 0; i < n_times; ++i)
    t[static_cast<std::size_t>(i)] =
        n_times == 1 ? t_first_s
                     : t_first_s * std::exp(span * static_cast<double>(i) / static_cast<double>(n_times - 1));
  t.back() = t_last_s;
  return t;
}

double PcmDriftProtocol::target_S(std::int64_t device, double g_max_S) const {
  const std::int64_t level = device % levels;
  const double frac = levels == 1 ? 0.0 : static_cast<double>(level) / static_cast<double>(levels - 1);
  return (g_lo + (g_hi - g_lo) * frac) * g_max_S;
}

}  // namespace memcarlo
