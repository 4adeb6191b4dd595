#include "calibration/dg_table_fit.hpp"

#include "core/error.hpp"

namespace memcarlo {

CalibrationResult calibrate_dg_table(const CalibrationInput& input, const CalibrationOptions&) {
  throw Error("calibrate dg_table is not implemented yet (" + input.source() + ")");
}

}  // namespace memcarlo
