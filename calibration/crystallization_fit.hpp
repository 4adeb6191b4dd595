// `memcarlo calibrate pcm-crystallization`: fits the stochastic crystallization model
// (physics/pcm_crystallization.hpp) to partial-SET data by the simulated method of moments with
// common random numbers (McFadden, Econometrica 57, 995 (1989); Pakes & Pollard, ibid. 1027;
// Gourieroux & Monfort, Simulation-Based Econometric Methods (1996), ch. 2). The model has no
// likelihood in closed form, but it is cheap to simulate, and with every simulated device drawing
// from its own fixed streams the simulated moments are a deterministic function of the
// parameters, which a derivative-free optimiser (NLopt) can minimise.
//
// Fitted by default: the thermal resistance R_th (it sets the pulse temperature and through it
// the growth velocity) and nucleation_scale (a factor on the nucleation rate, which sets how
// many grains start and so the shape and spread of the pulse counts); with several cycles per
// device also the device-to-device spread R_th_d2d (from the correlation of a device's cycles).
// E_a, radius_d2d and power_c2c are not identified by data at one pulse power and are held at
// their assumed values (see the method text). Moments: mean and standard deviation of ln G at
// the pulses where 10 ... 90 % of the records have switched (pulse trains), or the mean of
// ln N and the ECDF of N at its quantiles, and the censored fraction (pulses to SET).
#pragma once

#include <cstdint>
#include <vector>

#include "calibration/calibration.hpp"

namespace memcarlo {

// Accepts a `pulse_train` set (conductance after each partial-SET pulse, polarity +1, in S)
// or a `samples` set of quantity pulses_to_set (right-censored at censor_limit). The protocol
// (power, width, G_threshold, max_pulses, cycles) and the model keys that are not fitted come
// from the file's provenance when memcarlo simulated it, otherwise from the data's attributes
// and the `gst` defaults (said in the notes).
CalibrationResult calibrate_crystallization(const CalibrationInput& input,
                                            const CalibrationOptions& options);

// One parameter-recovery trial: simulates 400 `gst` devices (one cycle, 60 pulses) with R_th =
// 2.05e6 K/W and nucleation_scale = 0.5 under seed `seed`, calibrates the pulse_train set and
// the pulses_to_set set (bootstrap resamples as given, no round trip), and returns the checks
// of R_th and nucleation_scale from each; the keys of the pulses_to_set fit end in
// " (pulses_to_set)".
std::vector<RecoveryCheck> recovery_trial_crystallization(std::uint64_t seed,
                                                          std::int64_t bootstrap);

}  // namespace memcarlo
