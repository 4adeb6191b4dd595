// `memcarlo calibrate pcm-crystallization` (see calibration.hpp).
#pragma once

#include "calibration/calibration.hpp"

namespace memcarlo {

CalibrationResult calibrate_crystallization(const CalibrationInput& input, const CalibrationOptions& options);

}  // namespace memcarlo
