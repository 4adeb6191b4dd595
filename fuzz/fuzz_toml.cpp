// Every TOML entry point: device configs and calibrated PARAMS.toml for each device model, run
// configs (RUN.toml), model TOML and campaign files; the first byte picks the entry point.
#include <string>

#include "campaign/campaign.hpp"
#include "campaign/run_config.hpp"
#include "core/config.hpp"
#include "fuzz/fuzz_support.hpp"
#include "physics/simulate.hpp"
#include "training/model.hpp"

namespace {

void device_config(const std::string& model, const std::string& path) {
  const toml::table table = memcarlo::load_toml_file(path);
  memcarlo::SimulationRequest request;
  request.model = model;
  request.config = &table;
  request.config_origin = path;
  if (model == "memristor") memcarlo::resolve_memristor(request);
  else if (model == "pcm-crystallization") memcarlo::resolve_pcm_crystallization(request);
  else if (model == "pcm-drift") memcarlo::resolve_pcm_drift(request);
  else memcarlo::resolve_lut(request);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::uint8_t which = data[0] % 7;
  const memcarlo::fuzz::InputFile file(data + 1, size - 1, ".toml");
  const std::string& path = file.path();
  memcarlo::fuzz::expect_clean([&] {
    switch (which) {
      case 0: device_config("memristor", path); break;
      case 1: device_config("pcm-crystallization", path); break;
      case 2: device_config("pcm-drift", path); break;
      case 3: device_config("lut", path); break;
      case 4: {
        memcarlo::campaign::RunConfig run;
        memcarlo::campaign::apply_run_tables(run, memcarlo::load_toml_file(path), path);
        memcarlo::campaign::validate(run);
        break;
      }
      case 5: memcarlo::training::load_model_file(path); break;
      default: memcarlo::campaign::load_campaign(path); break;
    }
  });
  return 0;
}
