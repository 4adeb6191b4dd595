#include "calibration/drift_fit.hpp"

#include "core/error.hpp"

namespace memcarlo {

CalibrationResult calibrate_drift(const CalibrationInput& input, const CalibrationOptions&) {
  throw Error("calibrate drift is not implemented yet (" + input.source() + ")");
}

}  // namespace memcarlo
