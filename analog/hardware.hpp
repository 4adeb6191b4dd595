// Training on simulated device arrays: the [analog] table of a run, and the hardware it builds
// for `memcarlo train` (training::Hardware): the chosen dense and conv2d layers on tiles of the
// chosen devices, their update rule, per-tile pulse statistics, and inference after training on a
// freshly programmed PCM chip as it drifts.
//
// Random keys. Replica r of a run with master seed S draws its tile of layer l (1-based) from
// device arrays of seed derive_seed(S, r, l), its periphery noise from fields of seed
// derive_seed(S, r, "periphery_noise") (entity l), and the devices of its inference chip from
// derive_seed(derive_seed(S, r, "inference_chip"), 0, l): nothing depends on threads or on other
// replicas.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analog/device_array.hpp"
#include "analog/drift.hpp"
#include "analog/periphery.hpp"
#include "analog/pcm_steps.hpp"
#include "analog/tile.hpp"
#include "analog/update.hpp"
#include "core/config.hpp"
#include "training/trainer.hpp"

namespace memcarlo::analog {

struct AnalogConfig {
  // devices
  std::string device = "none";  // none, ideal, memristor, lut, pcm
  std::string preset;           // memristor: bulk, neurosim; pcm: gst, cgst (crystallization)
  std::string device_config;    // TOML with the model's table ([memristor], [lut], [pcm-drift], [pcm-crystallization])
  std::string encoding = "differential";
  std::string pair_update = "auto";  // auto, alternate or potentiation
  double w_max = 0.0;           // 0: w_max_factor times the layer's largest initial |weight|
  double w_max_factor = 2.0;
  std::string layers = "all";
  // update
  std::string update = "mixed";
  double epsilon = 1.0;
  std::string epsilon_unit = "step";  // step (mean device steps) or weight
  std::int64_t max_pulses = 0;
  // periphery
  std::string periphery = "realistic";  // or ideal
  std::int64_t dac_bits = 7;
  std::int64_t adc_bits = 9;
  double out_bound = 12.0;
  double out_noise = 0.06;
  std::int64_t bound_management = 10;
  bool read_noise = true;
  // device kinds
  double ideal_step = 1e-3;
  double refresh = 0.9;
  std::int64_t pcm_devices = 512;
  std::int64_t pcm_cycles = 8;
  std::int64_t pcm_pulses = 100;
  // inference after training
  std::string inference_device = "none";  // none or pcm
  std::string inference_config;
  std::string inference_times = "1,3600,86400,2592000,31536000";

  // clang-format off
  template <class V>
  void visit(V&& v) {
    v(ParamInfo{"device", "", "devices of the analog tiles: none (digital training), ideal, memristor, lut or pcm"}, device);
    v(ParamInfo{"preset", "", "memristor: bulk or neurosim (default bulk); pcm: gst or cgst crystallization (default gst)"}, preset);
    v(ParamInfo{"device_config", "", "TOML with the device model's table: a PARAMS.toml of `memcarlo calibrate` ([memristor]), [lut] potentiation_table/depression_table, [pcm-drift] and [pcm-crystallization]"}, device_config);
    v(ParamInfo{"encoding", "", "differential (W = alpha (G+ - G-)) or reference (W = alpha (G - G_ref), bidirectional devices only)"}, encoding);
    v(ParamInfo{"pair_update", "", "pulses of a differential pair: alternate (each pulse to the other device, up on one and down on the other), potentiation (potentiation only, refresh past analog.refresh; Nandakumar 2020), or auto (potentiation for pcm, alternate otherwise)"}, pair_update);
    v(ParamInfo{"w_max", "1", "weight of a full-range device difference, every tile; 0 = w_max_factor times the layer's largest initial |weight|"}, w_max);
    v(ParamInfo{"w_max_factor", "1", "w_max as a multiple of the layer's largest initial |weight| (assumption: 2, room for weights to grow)"}, w_max_factor);
    v(ParamInfo{"layers", "", "analog layers: all (every dense and conv2d layer) or 1-based layer numbers, e.g. \"1,3\""}, layers);
    v(ParamInfo{"update", "", "digital (float update, the reference), sgd (pulses every step, stochastic rounding) or mixed (mixed precision: pulse when the accumulated update passes epsilon)"}, update);
    v(ParamInfo{"epsilon", "1", "mixed-precision threshold, in epsilon_unit (Nandakumar 2020: one mean device step)"}, epsilon);
    v(ParamInfo{"epsilon_unit", "", "step (the device's mean weight change per pulse) or weight (absolute)"}, epsilon_unit);
    v(ParamInfo{"max_pulses", "1", "cap on pulses per weight and step, 0 = none"}, max_pulses);
    v(ParamInfo{"periphery", "", "realistic (the converters and noise below) or ideal (digital products, bit for bit)"}, periphery);
    v(ParamInfo{"dac_bits", "1", "input DAC resolution, 1-16 bits [aihwkit IOParameters: 7]"}, dac_bits);
    v(ParamInfo{"adc_bits", "1", "output ADC resolution, 1-16 bits [aihwkit IOParameters: 9]"}, adc_bits);
    v(ParamInfo{"out_bound", "1", "ADC range, +-out_bound in units of a full-scale weight times a full-scale input [aihwkit: 12]"}, out_bound);
    v(ParamInfo{"out_noise", "1", "Gaussian noise of each output, same units [aihwkit: 0.06]"}, out_noise);
    v(ParamInfo{"bound_management", "1", "halvings of the input allowed to a sample whose output saturates the ADC, 0 = none [aihwkit IOParameters: iterative, max_bm_factor 1000]"}, bound_management);
    v(ParamInfo{"read_noise", "", "device read noise of the model in every array read (memristor sigma_read, PCM 1/f)"}, read_noise);
    v(ParamInfo{"ideal_step", "1", "ideal devices: the exact step of one pulse, fraction of the range (assumption)"}, ideal_step);
    v(ParamInfo{"refresh", "1", "pair_update = potentiation: refresh a pair when a device passes this fraction of its range [Nandakumar 2020 refresh scheme; threshold assumption]"}, refresh);
    v(ParamInfo{"pcm_devices", "1", "pcm: crystallization devices simulated for the trajectory library (array cells share them)"}, pcm_devices);
    v(ParamInfo{"pcm_cycles", "1", "pcm: RESET-then-pulses cycles per library device"}, pcm_cycles);
    v(ParamInfo{"pcm_pulses", "1", "pcm: partial-SET pulses per library cycle (a cell at the end stays there)"}, pcm_pulses);
    v(ParamInfo{"inference_device", "", "after training, program the weights onto a fresh chip of these devices and test as it drifts: none or pcm (IBM statistical model)"}, inference_device);
    v(ParamInfo{"inference_config", "", "TOML with a [pcm-drift] table for the inference chip (default: preset pcm-ibm)"}, inference_config);
    v(ParamInfo{"inference_times", "s", "times after programming at which the inference chip is tested, comma separated"}, inference_times);
  }
  // clang-format on
};

// Every value and combination; errors name the key (`analog.KEY`) and the value.
void validate(const AnalogConfig& config);

// Whether a run with this config needs hardware at all (a device, or an inference chip).
bool uses_hardware(const AnalogConfig& config);

// The device models whose tables analog.device reads (memristor: memristor; lut: lut; pcm:
// pcm-crystallization and pcm-drift; otherwise none).
std::vector<std::string> device_models(const AnalogConfig& config);

// The hardware of a run: built once (device models read and checked, the PCM step table
// generated), shared read-only by every replica.
class AnalogHardware final : public training::Hardware {
 public:
  // `seed` is the run's master seed (the PCM step table is drawn from it). `device_tables`
  // holds the run's own device keys by model ([memristor], [lut], [pcm-crystallization],
  // [pcm-drift]), applied over analog.device_config; a table the device does not read is an
  // error.
  // `drift`: the run's [drift] table (null: nothing drifts); PCM weight devices then drift by
  // the [pcm-drift] model of the device and are read through its protocol.
  AnalogHardware(const AnalogConfig& config, std::uint64_t seed,
                 const toml::table* device_tables = nullptr, const DriftConfig* drift = nullptr);
  ~AnalogHardware() override;

  std::unique_ptr<training::ReplicaHardware> attach(training::Network& net, std::uint64_t seed,
                                                    std::uint64_t replica,
                                                    const training::OptimizerConfig& optimizer) const override;
  std::string config_toml() const override;
  void check(training::Network& net) const override { analog_layers(net); }

  const AnalogConfig& config() const { return config_; }
  // The 1-based numbers of the network's analog layers; InputError for a number that is not a
  // dense or conv2d layer of the network.
  std::vector<std::size_t> analog_layers(training::Network& net) const;
  // A fresh device array of the configured kind.
  std::unique_ptr<DeviceArray> make_devices(std::size_t count, std::uint64_t seed) const;
  // The PCM trajectory library (null unless device = pcm).
  const PcmTrajectories* pcm_library() const;
  // The inference chip's model (null unless inference_device = pcm) and test times.
  const PcmDriftModel* inference_model() const;
  // The drift of the weight devices (null unless device = pcm and the run has a [drift] table).
  const CellDrift* cell_drift() const;
  const std::vector<double>& inference_times() const { return inference_times_; }
  const PeripheryConfig& periphery() const { return periphery_; }

 private:
  struct Models;
  AnalogConfig config_;
  toml::table device_tables_;  // the run's own device keys, echoed by config_toml()
  PeripheryConfig periphery_;
  UpdateConfig update_;
  std::vector<double> inference_times_;
  std::unique_ptr<Models> models_;
};

}  // namespace memcarlo::analog
