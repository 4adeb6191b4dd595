// Tests of the IBM statistical PCM model (physics/pcm_drift): the state dependences against
// an independent numpy implementation, and the statistics of simulated devices against the
// configured distributions.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/units.hpp"
#include "physics/pcm_drift.hpp"

using namespace memcarlo;

namespace {

struct Moments {
  double n = 0, mean = 0, m2 = 0;
  void add(double x) {
    n += 1;
    const double d = x - mean;
    mean += d / n;
    m2 += d * (x - mean);
  }
  double var() const { return m2 / (n - 1); }
  double sd() const { return std::sqrt(var()); }
};

}  // namespace

TEST_CASE("pcm-ibm state dependences equal the published formulas (numpy reference)") {
  // tests/reference/pcm_ibm_reference.py computes the formulas of DESIGN.md §4 with numpy.
  std::ifstream in(std::string(MEMCARLO_SOURCE_DIR) + "/tests/reference/pcm_ibm_reference.csv");
  REQUIRE(in.good());
  std::string line;
  std::getline(in, line);
  const PcmDriftModel model{PcmDriftConfig{}};
  int rows = 0;
  auto close = [](double a, double b) { return std::fabs(a - b) <= 1e-12 * std::fabs(b); };
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::vector<double> v;
    for (std::string cell; std::getline(ss, cell, ',');) v.push_back(std::stod(cell));
    REQUIRE(v.size() == 5);
    const double g = v[0];
    CAPTURE(g);
    CHECK(close(model.mu_nu(g), v[1]));
    CHECK(close(model.sigma_nu(g), v[2]));
    CHECK(close(model.sigma_prog_S(g), v[3]));
    CHECK(close(model.q_s(g), v[4]));
    ++rows;
  }
  CHECK(rows == 65);
}

TEST_CASE("simulated drift of 1e5 devices recovers the configured nu distribution") {
  // Programming noise on, read noise off: a per-device log-log regression over 11 read times
  // measures nu exactly up to rounding, so the sample mean must lie within 3 standard errors
  // of mu_nu(g) and the sample std within 3 standard errors (sigma/sqrt(2(n-1))) of sigma_nu.
  PcmDriftConfig config;
  config.read_noise = false;
  const PcmDriftModel model(config);
  for (double g : {0.05, 0.3, 1.0}) {
    CAPTURE(g);
    const int n = 100000;
    Moments nu;
    std::vector<double> t;
    for (int k = 0; k <= 10; ++k) t.push_back(20.0 * std::pow(10.0, 0.5 * k));
    for (int i = 0; i < n; ++i) {
      RngStream rng(7, static_cast<std::uint64_t>(i), stream_id("programming"));
      const auto state = model.program(g * config.g_max_S, rng);
      // Programming noise can reach zero conductance (clamped) at low g; nu is drawn
      // independently of G0, so leaving those devices out does not bias the sample of nu.
      if (state.G0_S <= 0) continue;
      double sx = 0, sy = 0, sxx = 0, sxy = 0;
      for (double ti : t) {
        const double x = std::log(ti), y = std::log(model.read(state, ti, rng));
        sx += x, sy += y, sxx += x * x, sxy += x * y;
      }
      const double m = static_cast<double>(t.size());
      nu.add(-(m * sxy - sx * sy) / (m * sxx - sx * sx));
    }
    const double mu = model.mu_nu(g), sigma = model.sigma_nu(g);
    CHECK(std::fabs(nu.mean - mu) < 3 * sigma / std::sqrt(nu.n));
    CHECK(std::fabs(nu.sd() - sigma) < 3 * sigma / std::sqrt(2 * (nu.n - 1)));
  }
}

TEST_CASE("programming noise and 1/f read noise have the configured spread") {
  const PcmDriftModel model{PcmDriftConfig{}};
  const double g = 0.4, G_target = g * 25e-6;
  const int n = 200000;
  Moments prog;
  Moments read_rel;
  const double t = 1e4;
  for (int i = 0; i < n; ++i) {
    RngStream rng(11, static_cast<std::uint64_t>(i), stream_id("programming"));
    const auto s = model.program(G_target, rng);
    prog.add(s.G0_S - G_target);
    RngStream read_rng(11, static_cast<std::uint64_t>(i), stream_id("read_noise"));
    read_rel.add(model.read(s, t, read_rng) / model.drifted(s, t) - 1.0);
  }
  // Standard error of a sample std: sigma / sqrt(2(n-1)); 3 of them.
  const double sp = model.sigma_prog_S(g);
  CHECK(std::fabs(prog.mean) < 3 * sp / std::sqrt(n));
  CHECK(std::fabs(prog.sd() - sp) < 3 * sp / std::sqrt(2.0 * (n - 1)));
  const double sr = model.q_s(g) * std::sqrt(std::log((t + 250e-9) / (2 * 250e-9)));
  CHECK(std::fabs(read_rel.sd() - sr) < 3 * sr / std::sqrt(2.0 * (n - 1)));
}

TEST_CASE("drift follows the power law and accelerates with temperature as configured") {
  PcmDriftConfig config;
  config.programming_noise = false;
  config.read_noise = false;
  PcmDriftState s{10e-6, 10e-6, 0.06};
  const PcmDriftModel cold(config);
  // Relative comparisons: doctest::Approx adds an absolute scale of 1, useless for 1e-5 S.
  auto rel = [](double a, double b) { return std::fabs(a - b) / std::fabs(b); };
  CHECK(rel(cold.acceleration(), 1.0) < 1e-15);
  CHECK(rel(cold.drifted(s, 20.0), 10e-6) < 1e-14);
  CHECK(rel(cold.drifted(s, 2000.0), 10e-6 * std::pow(100.0, -0.06)) < 1e-13);
  config.temperature_K = 358.0;
  const PcmDriftModel hot(config);
  // a(T) = exp(E_a/k (1/T_ref - 1/T)), computed here from CODATA k in eV/K.
  const double a = std::exp(0.3 / 8.617333262e-5 * (1.0 / 300.0 - 1.0 / 358.0));
  CHECK(rel(hot.acceleration(), a) < 1e-9);
  CHECK(hot.drifted(s, 2000.0) < cold.drifted(s, 2000.0));
  // Ageing time tau = t0 + a (t - t0); a carries the 1e-10 rounding of k above.
  CHECK(rel(hot.drifted(s, 2000.0), 10e-6 * std::pow((20.0 + a * 1980.0) / 20.0, -0.06)) < 1e-9);
  CHECK(hot.drifted(s, 20.0) == 10e-6);  // G(t0) = G0 at any temperature
}

TEST_CASE("same seed gives the same device, and draws are frozen") {
  const PcmDriftModel model{PcmDriftConfig{}};
  RngStream a(5, 42, stream_id("programming")), b(5, 42, stream_id("programming"));
  const auto sa = model.program(12e-6, a), sb = model.program(12e-6, b);
  CHECK(sa.G0_S == sb.G0_S);
  CHECK(sa.nu == sb.nu);
  // Two normals, two uniforms each: programming noise and drift exponent, always drawn.
  CHECK(a.draws() == 4);
  PcmDriftConfig quiet;
  quiet.programming_noise = false;
  RngStream q(5, 42, stream_id("programming"));
  const auto sq = PcmDriftModel(quiet).program(12e-6, q);
  CHECK(q.draws() == 4);
  CHECK(sq.nu == sa.nu);  // switching programming noise off leaves nu unchanged
  CHECK(sq.G0_S == 12e-6);
  RngStream c(6, 42, stream_id("programming"));
  CHECK(model.program(12e-6, c).nu != sa.nu);
}

TEST_CASE("temperature acts after t0 only, and reads before t_read have no 1/f noise yet") {
  PcmDriftConfig config;
  config.programming_noise = false;
  config.temperature_K = 250.0;  // colder than T_ref: slower drift, never above G(t0)
  const PcmDriftModel cold(config);
  const PcmDriftState s{10e-6, 10e-6, 0.06};
  CHECK(cold.drifted(s, 20.0) == 10e-6);
  CHECK(cold.drifted(s, 2000.0) < 10e-6);
  const double a = cold.acceleration();
  CHECK(std::fabs(cold.ageing_time_s(2000.0) - (20.0 + a * 1980.0)) < 1e-12 * 2000.0);
  CHECK(cold.ageing_time_s(5.0) == 5.0);
  RngStream rng(3, 0, stream_id("read_noise"));
  const double early = cold.read(s, 100e-9, rng);  // t < t_read: noise-free
  CHECK(std::isfinite(early));
  CHECK(early == cold.drifted(s, 100e-9));
}

TEST_CASE("invalid configuration and input are rejected") {
  PcmDriftConfig bad;
  bad.g_max_S = -1;
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  bad = PcmDriftConfig{};
  bad.temperature_K = 0;
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  bad = PcmDriftConfig{};
  bad.sigma_nu_lo = -0.1;
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  bad = PcmDriftConfig{};
  bad.q_s_p = std::nan("");
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  bad = PcmDriftConfig{};
  bad.E_a_drift_eV = INFINITY;
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  bad = PcmDriftConfig{};
  bad.temperature_K = 1e-5;  // acceleration underflows to 0
  CHECK_THROWS_AS(PcmDriftModel{bad}, InputError);
  const PcmDriftModel model{PcmDriftConfig{}};
  RngStream rng(1, 1, 1);
  CHECK_THROWS_AS(model.program(std::nan(""), rng), InputError);
  const auto s = model.program(5e-6, rng);
  CHECK_THROWS_AS(model.read(s, -1.0, rng), InputError);
}
