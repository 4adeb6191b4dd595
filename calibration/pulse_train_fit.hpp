// `memcarlo calibrate pulse_train` (see calibration.hpp).
#pragma once

#include "calibration/calibration.hpp"

namespace memcarlo {

CalibrationResult calibrate_pulse_train(const CalibrationInput& input, const CalibrationOptions& options);

}  // namespace memcarlo
