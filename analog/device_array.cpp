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

double IdealArray::program(std::size_t i, double G_target_S) {
  next_program(i);
  return G_[i] = G_target_S;
}

// --- memristor --------------------------------------------------------------------------------

MemristorArray::MemristorArray(std::size_t devices, std::uint64_t seed, const MemristorModel& model)
    : DeviceArray(devices, seed), model_(model), nominal_(model.abstraction()) {
  devices_.reserve(devices);
  for (std::size_t i = 0; i < devices; ++i) devices_.push_back(model_.make_device(seed, i));
}

double MemristorArray::mean_step_S() const {
  // The nominal device's step is gain (1 - w) B up and gain w B down: averaged over w uniform
  // in [0, 1] and both polarities, B (gain_p + gain_d) / 4.
  const MemristorDevice nominal = [&] {
    MemristorConfig c = model_.config();
    c.sigma_area = c.sigma_range = c.sigma_k0_p = c.sigma_k0_d = 0;
    c.p_stuck_off = c.p_stuck_on = 0;
    return MemristorModel(c).make_device(0, 0);
  }();
  return nominal_.B_S() * (nominal.gain_p + nominal.gain_d) / 4.0;
}

double MemristorArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  MemristorDevice& d = devices_[i];
  for (std::uint32_t k = 0; k < n; ++k) {
    RngStream rng(seed(), i, memristor_stream::pulse, next_pulse(i));
    model_.apply_pulse(d, polarity, rng);
  }
  return model_.conductance(d);
}

double MemristorArray::program(std::size_t i, double G_target_S) {
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

double LutArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  for (std::uint32_t k = 0; k < n; ++k) {
    RngStream rng(seed(), i, lut_stream::pulse, next_pulse(i));
    G_[i] = model_->apply_pulse(G_[i], polarity, rng);
  }
  return G_[i];
}

double LutArray::program(std::size_t i, double G_target_S) {
  next_program(i);
  return G_[i] = std::clamp(G_target_S, model_->G_low_S(), model_->G_high_S());
}

// --- pcm --------------------------------------------------------------------------------------

namespace {
constexpr std::uint64_t kPcmPulseStream = stream_id("pulse");  // substream = pulse index
}  // namespace

PcmArray::PcmArray(std::size_t devices, std::uint64_t seed, std::shared_ptr<const StepTable> steps,
                   const PcmDriftModel& drift, double read_time_s)
    : DeviceArray(devices, seed),
      steps_(std::move(steps)),
      drift_(drift),
      read_time_s_(read_time_s),
      G_(devices, 0.0) {
  MC_VALIDATE(steps_->polarity() == Polarity::potentiation,
              "{}: a PCM step table must hold potentiation (partial-SET) steps", steps_->origin());
  for (std::size_t i = 0; i < devices; ++i) program(i, 0.0);
}

double PcmArray::mean_step_S() const {
  double sum = 0;
  for (std::size_t b = 0; b < steps_->bins(); ++b) sum += std::fabs(steps_->mean(b));
  return sum / static_cast<double>(steps_->bins());
}

double PcmArray::pulse(std::size_t i, Polarity polarity, std::uint32_t n) {
  MC_VALIDATE(polarity == Polarity::potentiation,
              "PCM devices take partial-SET (potentiation) pulses only");
  for (std::uint32_t k = 0; k < n; ++k) {
    RngStream rng(seed(), i, kPcmPulseStream, next_pulse(i));
    // Crystallization only adds: steps are >= 0, and a cell at the table's top stays there.
    // Below the first bin (amorphous, or programmed low) the first bin's steps apply.
    const double step = steps_->step_S(G_[i], rng.uniform());
    if (G_[i] < steps_->G_high_S()) G_[i] = std::min(G_[i] + std::max(step, 0.0), steps_->G_high_S());
  }
  return G_[i];
}

double PcmArray::program(std::size_t i, double G_target_S) {
  RngStream rng(seed(), i, kProgramStream, next_program(i));
  return G_[i] = drift_.program(G_target_S, rng).G0_S;
}

double PcmArray::read_sigma_S(std::size_t i) const {
  const PcmDriftState state{G_[i], G_[i], 0.0};
  return drift_.read_noise_sigma_S(state, G_[i], read_time_s_);
}

}  // namespace memcarlo::analog
