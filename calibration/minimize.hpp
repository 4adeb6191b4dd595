// Bound-constrained minimisation for the multi-parameter fits, through NLopt (S. G. Johnson,
// The NLopt nonlinear-optimization package, https://github.com/stevengj/nlopt). A thin layer
// that takes a std::function objective, turns NLopt's failures into memcarlo errors naming the
// fit, and never lets an exception escape through NLopt's C code.
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

namespace memcarlo {

enum class MinimizeMethod {
  subplex,      // NLopt LN_SBPLX: derivative-free, robust on non-smooth objectives (clips)
  bobyqa,       // NLopt LN_BOBYQA: derivative-free, quadratic models, for smooth objectives
  nelder_mead,  // NLopt LN_NELDERMEAD
};

struct MinimizeOptions {
  MinimizeMethod method = MinimizeMethod::subplex;
  double x_tol_rel = 1e-10;
  double f_tol_rel = 1e-14;
  int max_evaluations = 20000;
  std::vector<double> initial_step;  // empty: NLopt's default from the bounds
};

struct MinimizeResult {
  std::vector<double> x;
  double value = 0;
  int evaluations = 0;
  bool converged = false;  // stopped by a tolerance (not by max_evaluations)
};

using Objective = std::function<double(std::span<const double>)>;

// Minimises f over the box [lower, upper] from x0 (clamped into the box). A non-finite objective
// value is passed to NLopt as +huge so the optimiser steps away from it. An exception thrown by
// f is rethrown after NLopt returns. NLopt's own failures (invalid arguments, out of memory,
// roundoff-limited with no progress) throw Error naming `what`.
MinimizeResult minimize(const Objective& f, std::vector<double> x0, const std::vector<double>& lower,
                        const std::vector<double>& upper, const MinimizeOptions& options,
                        const std::string& what);

}  // namespace memcarlo
