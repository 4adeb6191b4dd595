#include "analog/device_array.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace memcarlo::analog {

// --- ideal ------------------------------------------------------------------------------------

IdealArray::IdealArray(std::size_t devices, std::uint64_t seed, double range_S, double step_S)
    : DeviceArray(devices, seed), range_S_(range_S), step_S_(step_S), G_(devices, 0.0) {
  MC_VALIDATE(range_S > 0 && std::isfinite(range_S), "ideal device range {} S must be positive",
              range_S);
  MC_VALIDATE(step_S > 0 && std::isfinite(step_S), "ideal device step {} S must be positive",
              step_S);
}

double IdealArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  for (std::uint32_t k = 0; k < n; ++k) next_pulse(i);
  const double change = static_cast<double>(n) * step_S_;
  G_[i] += polarity == Polarity::potentiation ? change : -change;
  return G_[i];
}

double IdealArray::program_device(std::size_t i, double G_target_S, double /*G_ceiling_S*/) {
  next_program(i);
  return G_[i] = G_target_S;
}

// --- memristor --------------------------------------------------------------------------------

MemristorArray::MemristorArray(std::size_t devices, std::uint64_t seed, const MemristorModel& model)
    : DeviceArray(devices, seed), model_(model), nominal_(model.abstraction()) {
  devices_.reserve(devices);
  for (std::size_t i = 0; i < devices; ++i) devices_.push_back(model_.make_device(seed, i));
}

namespace {

MemristorDevice nominal_device(const MemristorModel& model) {
  MemristorConfig c = model.config();
  c.sigma_area = c.sigma_range = c.sigma_k0_p = c.sigma_k0_d = 0;
  c.p_stuck_off = c.p_stuck_on = 0;
  return MemristorModel(c).make_device(0, 0);
}

}  // namespace

double MemristorArray::mean_step_S() const {
  // The nominal device's step is gain (1 - w) B up and gain w B down: averaged over w uniform
  // in [0, 1] and both polarities, B (gain_p + gain_d) / 4.
  const MemristorDevice nominal = nominal_device(model_);
  return nominal_.B_S() * (nominal.gain_p + nominal.gain_d) / 4.0;
}

double MemristorArray::mean_potentiation_step_S(double share) const {
  // gain_p (1 - w) B averaged over w uniform in [0, share].
  return nominal_.B_S() * nominal_device(model_).gain_p * (1.0 - share / 2.0);
}

double MemristorArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  MemristorDevice& d = devices_[i];
  for (std::uint32_t k = 0; k < n; ++k) {
    RngStream rng(seed(), i, memristor_stream::pulse, next_pulse(i));
    model_.apply_pulse(d, polarity, rng);
  }
  return model_.conductance(d);
}

void MemristorArray::prefetch(std::size_t first, std::size_t count) const {
  DeviceArray::prefetch(first, count);
  // A device is 88 bytes: a pair straddles up to four cache lines.
  const auto* begin = reinterpret_cast<const char*>(devices_.data() + first);
  const auto* end = reinterpret_cast<const char*>(devices_.data() + first + count);
  for (const char* at = begin; at < end; at += 64) __builtin_prefetch(at, 1);
  __builtin_prefetch(end - 1, 1);
}

double MemristorArray::program_device(std::size_t i, double G_target_S, double /*G_ceiling_S*/) {
  next_program(i);
  MemristorDevice& d = devices_[i];
  const double w = (G_target_S - d.G_min_S) / (d.G_max_S - d.G_min_S);
  model_.set_state(d, std::clamp(w, 0.0, 1.0));
  return model_.conductance(d);
}

// --- lut --------------------------------------------------------------------------------------

LutArray::LutArray(std::size_t devices, std::uint64_t seed, std::shared_ptr<const LutModel> model)
    : DeviceArray(devices, seed), model_(std::move(model)), G_(devices, model_->G_low_S()) {}

double LutArray::mean_step_S() const {
  // Mean |mean step| over the bins of both tables, each table weighted equally.
  double total = 0;
  for (Polarity p : {Polarity::potentiation, Polarity::depression}) {
    const StepTable& t = model_->table(p);
    double sum = 0;
    for (std::size_t b = 0; b < t.bins(); ++b) sum += std::fabs(t.mean(b));
    total += sum / static_cast<double>(t.bins());
  }
  return total / 2.0;
}

double LutArray::mean_potentiation_step_S(double /*share*/) const {
  // Mean |mean step| over the bins of the potentiation table (it spans the range).
  const StepTable& t = model_->table(Polarity::potentiation);
  double sum = 0;
  for (std::size_t b = 0; b < t.bins(); ++b) sum += std::fabs(t.mean(b));
  return sum / static_cast<double>(t.bins());
}

double LutArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  for (std::uint32_t k = 0; k < n; ++k) {
    RngStream rng(seed(), i, lut_stream::pulse, next_pulse(i));
    G_[i] = model_->apply_pulse(G_[i], polarity, rng);
  }
  return G_[i];
}

double LutArray::program_device(std::size_t i, double G_target_S, double /*G_ceiling_S*/) {
  next_program(i);
  return G_[i] = std::clamp(G_target_S, model_->G_low_S(), model_->G_high_S());
}

// --- pcm --------------------------------------------------------------------------------------

PcmArray::PcmArray(std::size_t devices, std::uint64_t seed,
                   std::shared_ptr<const PcmTrajectories> library, const PcmDriftModel& drift,
                   double read_time_s, double refresh_share, const CellDrift* cell_drift)
    : DeviceArray(devices, seed),
      library_(std::move(library)),
      drift_(drift),
      cell_drift_(cell_drift),
      read_time_s_(read_time_s),
      mean_step_S_(library_->mean_step_S(refresh_share)),
      device_(devices),
      cycle_(devices, 0),
      position_(devices, 0) {
  MC_VALIDATE(library_->cycles() <= 65535 && library_->pulses() <= 65535,
              "PCM trajectory library: at most 65535 cycles and pulses");
  if (cell_drift_) {
    z_ = CellDrift::draw_z(seed, devices);
    written_s_.assign(devices, 0.0);
    factor_.assign(devices, 1.0f);
  }
  for (std::size_t i = 0; i < devices; ++i) {
    RngStream rng(seed, i, stream_id("device"));
    device_[i] = static_cast<std::uint32_t>(rng.next_u64() % library_->devices());
    program(i, 0.0, std::numeric_limits<double>::infinity());
  }
}

double PcmArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  MC_VALIDATE(polarity == Polarity::potentiation,
              "PCM devices take partial-SET (potentiation) pulses only");
  for (std::uint32_t k = 0; k < n; ++k) next_pulse(i);
  position_[i] = static_cast<std::uint16_t>(
      std::min<std::size_t>(position_[i] + static_cast<std::size_t>(n), library_->pulses()));
  written(i);
  return conductance(i);
}

double PcmArray::program_device(std::size_t i, double G_target_S, double G_ceiling_S) {
  RngStream rng(seed(), i, kProgramStream, next_program(i));
  cycle_[i] = static_cast<std::uint16_t>(rng.next_u64() % library_->cycles());
  std::size_t p = library_->pulses_to_reach(device_[i], cycle_[i], G_target_S);
  while (p > 0 && library_->G_S(device_[i], cycle_[i], p) >= G_ceiling_S) --p;
  position_[i] = static_cast<std::uint16_t>(p);
  written(i);
  return conductance(i);
}

void PcmArray::evaluate_drift() {
  if (!cell_drift_) return;
  for (std::size_t i = 0; i < size(); ++i)
    factor_[i] = static_cast<float>(cell_drift_->factor(conductance(i), z_[i], now_s_ - written_s_[i]));
}

double PcmArray::read_sigma_S(std::size_t i) const {
  const double G = conductance(i);
  return drift_.read_noise_sigma_S(PcmDriftState{G, G, 0.0}, G, read_time_s_);
}

}  // namespace memcarlo::analog
