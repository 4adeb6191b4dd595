// `memcarlo calibrate drift` (see calibration.hpp).
#pragma once

#include "calibration/calibration.hpp"

namespace memcarlo {

CalibrationResult calibrate_drift(const CalibrationInput& input, const CalibrationOptions& options);

}  // namespace memcarlo
