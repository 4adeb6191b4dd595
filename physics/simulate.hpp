// `memcarlo device simulate`: runs a device model on many devices and returns the result in
// the measured-data schema, so simulated and measured data go through the same calibration.
// Devices are simulated in parallel; each device draws only from its own random streams,
// so the output is bitwise identical for any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "core/config.hpp"
#include "data/measurements.hpp"
#include "physics/lut_device.hpp"
#include "physics/memristor.hpp"
#include "physics/pcm_crystallization.hpp"
#include "physics/pcm_drift.hpp"

namespace memcarlo {

struct SimulationModelInfo {
  std::string name;
  std::string summary;   // one line: what it simulates and which kinds it writes
  std::vector<std::string> presets;  // first one is the default
  std::vector<ParamDescription> params;  // every key, with the default preset's values
};

std::vector<SimulationModelInfo> simulation_models();

// The type of a key of a model (its device's or its protocol's); ParamType::none when the
// model has no such key or there is no such model.
ParamType model_param_type(std::string_view model, std::string_view key);

struct SimulationRequest {
  std::string model;
  std::int64_t devices = 0;
  std::uint64_t seed = 0;
  std::string preset;                    // "" = the model's default preset
  const toml::table* config = nullptr;   // parsed --config file, if any
  std::string config_origin;             // its file name, for error messages
  // Tables named by model ([memristor], ...), applied after the config file and before the
  // assignments (a run's own device keys over its device_config file); tables of other
  // models are checked against their own keys.
  const toml::table* overrides = nullptr;
  std::string overrides_origin;
  std::vector<std::string> assignments;  // --set key=value, applied last
  bool show_progress = true;
};

// Validates the whole request (model, preset, keys, values, device count) before simulating.
MeasurementFile simulate_measurements(const SimulationRequest& request);

// The configs a model would simulate with, resolved exactly as simulate_measurements resolves
// them (preset, the config file's top-level keys, its [MODEL] table, then the assignments; the
// protocol's keys beside the device's), for callers that use the devices without simulating a
// pulse train (analog/ tiles). request.model names the model; request.devices is not used.
// Unknown presets and keys, and wrong types, throw InputError naming the file or assignment.
struct MemristorSetup {
  MemristorConfig device;
  MemristorPulseTrain protocol;
};
MemristorSetup resolve_memristor(const SimulationRequest& request);
struct PcmCrystallizationSetup {
  PcmCrystallizationConfig device;
  PcmPulseTrain protocol;
};
PcmCrystallizationSetup resolve_pcm_crystallization(const SimulationRequest& request);
PcmDriftConfig resolve_pcm_drift(const SimulationRequest& request);
LutDeviceConfig resolve_lut(const SimulationRequest& request);

}  // namespace memcarlo
