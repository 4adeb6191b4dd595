// `memcarlo calibrate dg_table` (see calibration.hpp).
#pragma once

#include "calibration/calibration.hpp"

namespace memcarlo {

CalibrationResult calibrate_dg_table(const CalibrationInput& input, const CalibrationOptions& options);

}  // namespace memcarlo
