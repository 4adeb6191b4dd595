// Physical constants and unit conversions. Everything in memcarlo is SI (DESIGN.md §2);
// these are the only places where electron-volts or micro-siemens appear as numbers.
#pragma once

namespace memcarlo::units {

// CODATA 2018 exact values (SI redefinition of 2019).
inline constexpr double kBoltzmann_J_per_K = 1.380649e-23;
inline constexpr double kElementaryCharge_C = 1.602176634e-19;
inline constexpr double kBoltzmann_eV_per_K = kBoltzmann_J_per_K / kElementaryCharge_C;
inline constexpr double kPi = 3.141592653589793238462643383279502884;

inline constexpr double eV_to_J(double e_eV) { return e_eV * kElementaryCharge_C; }
inline constexpr double microsiemens(double g_uS) { return g_uS * 1e-6; }
inline constexpr double celsius_to_kelvin(double t_C) { return t_C + 273.15; }

}  // namespace memcarlo::units
