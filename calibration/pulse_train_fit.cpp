#include "calibration/pulse_train_fit.hpp"

#include "core/error.hpp"

namespace memcarlo {

CalibrationResult calibrate_pulse_train(const CalibrationInput& input, const CalibrationOptions&) {
  throw Error("calibrate pulse_train is not implemented yet (" + input.source() + ")");
}

}  // namespace memcarlo
