#include "calibration/crystallization_fit.hpp"

#include "core/error.hpp"

namespace memcarlo {

CalibrationResult calibrate_crystallization(const CalibrationInput& input, const CalibrationOptions&) {
  throw Error("calibrate pcm-crystallization is not implemented yet (" + input.source() + ")");
}

}  // namespace memcarlo
