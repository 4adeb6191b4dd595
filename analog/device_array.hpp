// The devices of one analog tile as one population: a conductance per device, identical
// programming pulses of either polarity, write-verify programming to a target, and the read
// noise of one read. One interface over every device model memcarlo simulates, so tiles, update
// rules and campaigns do not care which physics sits underneath; each kind calls its physics/
// model and copies no equation of it.
//
// Keys. An array of seed S holds devices 0 .. n-1; device i draws only from streams keyed by
// (S, i), named as in its physics model ("device", "pulse" with substream = the device's pulse
// count, ...), so a memristor or lut device of an array behaves exactly as device i of
// `memcarlo device simulate MODEL --seed S` under the same pulses, and nothing depends on other
// devices or on the thread count. Programming draws from stream "program", substream = the
// device's programming count.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "analog/drift.hpp"
#include "analog/pcm_steps.hpp"
#include "physics/lut_device.hpp"
#include "physics/memristor.hpp"
#include "physics/pcm_drift.hpp"

namespace memcarlo::analog {

inline constexpr std::uint64_t kProgramStream = stream_id("program");

class DeviceArray {
 public:
  explicit DeviceArray(std::size_t devices, std::uint64_t seed)
      : seed_(seed), pulses_(devices, 0), programs_(devices, 0) {}
  virtual ~DeviceArray() = default;

  virtual std::string kind() const = 0;  // "ideal", "memristor", "lut", "pcm"
  std::size_t size() const { return pulses_.size(); }
  std::uint64_t seed() const { return seed_; }

  // The conductance span a weight maps onto (nominal device), S: G_low is where a device of a
  // differential pair rests for a zero weight of a unidirectional kind, G_high - G_low the
  // range that stands for the largest weight.
  virtual double G_low_S() const = 0;
  virtual double G_high_S() const = 0;
  // Mean |dG| of one pulse over the range and the polarities the kind uses, S: the unit of the
  // mixed-precision threshold epsilon ("mean steps").
  virtual double mean_step_S() const = 0;
  // Mean |dG| of one potentiation pulse over the lowest `share` of the range, S: the unit of
  // epsilon for pairs updated by potentiation only (refreshed past that share).
  virtual double mean_potentiation_step_S(double share) const = 0;
  // False when pulses can only raise the conductance (PCM partial SET): a decrease goes to the
  // other device of the pair, and a saturated pair is refreshed by programming.
  virtual bool bidirectional() const = 0;

  // Noise-free conductance of device i, S.
  virtual double conductance(std::size_t i) const = 0;
  // n identical pulses of one polarity on device i; returns its new conductance.
  virtual double pulse(std::size_t i, Polarity polarity, std::uint32_t n) = 0;
  // Write-verify programming of device i to G_target (with the programming noise of the model,
  // where it has one); returns the conductance reached. Kinds that program by pulses stop
  // below G_ceiling even when that leaves them under the target (a unidirectional pair is not
  // programmed into its refresh zone).
  double program(std::size_t i, double G_target_S,
                 double G_ceiling_S = std::numeric_limits<double>::infinity()) {
    return program_device(i, G_target_S, G_ceiling_S);
  }
  // Standard deviation of one read of device i, S (0 without read noise).
  virtual double read_sigma_S(std::size_t i) const = 0;

  // Drift (analog/drift.hpp), for kinds that drift and were given a CellDrift: the clock of the
  // array (writes from now on happen at t_s); evaluate_drift() computes every device's drift
  // factor at the present time, and drifted_S(i) is device i's conductance with the factor of
  // the last evaluation (1 after a write: a written device does not drift before t0). Kinds
  // that do not drift ignore the clock and read conductance(i).
  virtual bool drifts() const { return false; }
  virtual void set_time(double /*t_s*/) {}
  virtual void evaluate_drift() {}
  virtual double drifted_S(std::size_t i) const { return conductance(i); }
  // A hint that devices first .. first + count - 1 are about to be pulsed: starts loading their
  // state into the cache. Changes no result.
  virtual void prefetch(std::size_t first, std::size_t count) const {
    __builtin_prefetch(pulses_.data() + first, 1);
    (void)count;
  }

  // Pulses and programming operations each device has received.
  std::span<const std::uint32_t> pulse_counts() const { return pulses_; }
  std::span<const std::uint32_t> program_counts() const { return programs_; }

 protected:
  // The substream of device i's next pulse, counting it.
  std::uint64_t next_pulse(std::size_t i) { return pulses_[i]++; }
  std::uint64_t next_program(std::size_t i) { return programs_[i]++; }
  virtual double program_device(std::size_t i, double G_target_S, double G_ceiling_S) = 0;

 private:
  std::uint64_t seed_;
  std::vector<std::uint32_t> pulses_, programs_;
};

// No noise, no bounds, unlimited levels: a pulse moves the conductance by exactly `step_S`,
// programming lands exactly. For tests and baselines. The span [0, range_S] only sets the
// mapping.
class IdealArray final : public DeviceArray {
 public:
  IdealArray(std::size_t devices, std::uint64_t seed, double range_S, double step_S);
  std::string kind() const override { return "ideal"; }
  double G_low_S() const override { return 0.0; }
  double G_high_S() const override { return range_S_; }
  double mean_step_S() const override { return step_S_; }
  double mean_potentiation_step_S(double /*share*/) const override { return step_S_; }
  bool bidirectional() const override { return true; }
  double conductance(std::size_t i) const override { return G_[i]; }
  double pulse(std::size_t i, Polarity polarity, std::uint32_t n) override;
  double program_device(std::size_t i, double G_target_S, double G_ceiling_S) override;
  double read_sigma_S(std::size_t) const override { return 0.0; }

 private:
  double range_S_, step_S_;
  std::vector<double> G_;
};

// Bulk-switching memristors (physics/memristor.hpp): device i is MemristorModel::make_device
// (seed, i), with its device-to-device spread and stuck-at fault; pulse k of device i draws its
// cycle-to-cycle noise from stream "pulse" substream k. Programming sets the state exactly
// (the model has no programming noise); stuck devices keep theirs.
class MemristorArray final : public DeviceArray {
 public:
  MemristorArray(std::size_t devices, std::uint64_t seed, const MemristorModel& model);
  std::string kind() const override { return "memristor"; }
  double G_low_S() const override { return nominal_.G_min_S; }
  double G_high_S() const override { return nominal_.G_max_S; }
  double mean_step_S() const override;
  double mean_potentiation_step_S(double share) const override;
  bool bidirectional() const override { return true; }
  double conductance(std::size_t i) const override { return model_.conductance(devices_[i]); }
  double pulse(std::size_t i, Polarity polarity, std::uint32_t n) override;
  double program_device(std::size_t i, double G_target_S, double G_ceiling_S) override;
  double read_sigma_S(std::size_t i) const override { return model_.read_sigma_S(devices_[i]); }
  void prefetch(std::size_t first, std::size_t count) const override;

  const MemristorDevice& device(std::size_t i) const { return devices_[i]; }

 private:
  MemristorModel model_;
  MemristorAbstraction nominal_;
  std::vector<MemristorDevice> devices_;
};

// The empirical device (physics/lut_device.hpp): every step drawn from measured conditional
// step tables; pulse k of device i from stream "pulse" substream k, as `device simulate lut`.
// Devices start at the lower end of the tables; programming sets the conductance exactly
// (clamped to the tables' span). The tables already hold the measured read noise, so reads
// add none.
class LutArray final : public DeviceArray {
 public:
  LutArray(std::size_t devices, std::uint64_t seed, std::shared_ptr<const LutModel> model);
  std::string kind() const override { return "lut"; }
  double G_low_S() const override { return model_->G_low_S(); }
  double G_high_S() const override { return model_->G_high_S(); }
  double mean_step_S() const override;
  double mean_potentiation_step_S(double share) const override;
  bool bidirectional() const override { return true; }
  double conductance(std::size_t i) const override { return G_[i]; }
  double pulse(std::size_t i, Polarity polarity, std::uint32_t n) override;
  double program_device(std::size_t i, double G_target_S, double G_ceiling_S) override;
  double read_sigma_S(std::size_t) const override { return 0.0; }

 private:
  std::shared_ptr<const LutModel> model_;
  std::vector<double> G_;
};

// Phase-change memory: partial-SET pulses (potentiation only) walk a crystallization trajectory
// of the library (analog/pcm_steps.hpp). Device i is tied to library device L(i) = (first value
// of stream "device" of (seed, i)) mod devices for life; programming is a RESET and iterative
// partial-SET programming to the target (write-verify: the first pulse count whose conductance
// reaches it, so a device lands at or above its target by up to one step, or the last one below
// the ceiling when that comes first), on a cycle of L(i)
// drawn from stream "program"; each pulse then moves it one step along that cycle, and a cell at
// the end of its cycle stays there. A read carries the IBM statistical model's 1/f noise
// (physics/pcm_drift.hpp), accumulated over `read_time_s` since programming, at the device's
// present conductance. Devices start amorphous. With a CellDrift (analog/drift.hpp) the devices
// drift on the array's clock: every pulse or programming of device i resets its clock to the
// array's present time, and drifted_S(i) is its conductance at that time (the device's own
// normal z from stream "drift" of (seed, i)).
class PcmArray final : public DeviceArray {
 public:
  PcmArray(std::size_t devices, std::uint64_t seed, std::shared_ptr<const PcmTrajectories> library,
           const PcmDriftModel& drift, double read_time_s, double refresh_share,
           const CellDrift* cell_drift = nullptr);
  std::string kind() const override { return "pcm"; }
  double G_low_S() const override { return library_->G_amorphous_S(); }
  double G_high_S() const override { return library_->G_crystalline_S(); }
  double mean_step_S() const override { return mean_step_S_; }
  double mean_potentiation_step_S(double /*share*/) const override { return mean_step_S_; }
  bool bidirectional() const override { return false; }
  double conductance(std::size_t i) const override {
    return library_->G_S(device_[i], cycle_[i], position_[i]);
  }
  double pulse(std::size_t i, Polarity polarity, std::uint32_t n) override;
  double program_device(std::size_t i, double G_target_S, double G_ceiling_S) override;
  double read_sigma_S(std::size_t i) const override;
  bool drifts() const override { return cell_drift_ != nullptr; }
  void set_time(double t_s) override { now_s_ = t_s; }
  void evaluate_drift() override;
  double drifted_S(std::size_t i) const override {
    return cell_drift_ ? conductance(i) * factor_[i] : conductance(i);
  }

 private:
  void written(std::size_t i) {
    if (!cell_drift_) return;
    written_s_[i] = now_s_;
    factor_[i] = 1.0f;
  }
  std::shared_ptr<const PcmTrajectories> library_;
  PcmDriftModel drift_;
  const CellDrift* cell_drift_;
  double now_s_ = 0;
  std::vector<float> z_;           // with drift: each device's normal
  std::vector<double> written_s_;  // with drift: time of each device's last write
  std::vector<float> factor_;      // with drift: G(t)/G_w at the last evaluation
  double read_time_s_, mean_step_S_;
  std::vector<std::uint32_t> device_;             // library device of each array device
  std::vector<std::uint16_t> cycle_, position_;   // its cycle and pulses since RESET
};

}  // namespace memcarlo::analog
