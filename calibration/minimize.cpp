#include "calibration/minimize.hpp"

#include <algorithm>
#include <cmath>
#include <exception>

#include <nlopt.hpp>

#include "core/error.hpp"

namespace memcarlo {
namespace {

struct Context {
  const Objective* f = nullptr;
  std::exception_ptr error;
  int evaluations = 0;
};

double trampoline(unsigned n, const double* x, double* /*grad*/, void* data) {
  auto* c = static_cast<Context*>(data);
  ++c->evaluations;
  if (c->error) return HUGE_VAL;
  try {
    const double v = (*c->f)(std::span<const double>(x, n));
    return std::isfinite(v) ? v : HUGE_VAL;
  } catch (...) {
    c->error = std::current_exception();
    return HUGE_VAL;
  }
}

nlopt::algorithm algorithm_of(MinimizeMethod m) {
  switch (m) {
    case MinimizeMethod::subplex: return nlopt::LN_SBPLX;
    case MinimizeMethod::bobyqa: return nlopt::LN_BOBYQA;
    case MinimizeMethod::nelder_mead: return nlopt::LN_NELDERMEAD;
  }
  return nlopt::LN_SBPLX;
}

}  // namespace

MinimizeResult minimize(const Objective& f, std::vector<double> x0, const std::vector<double>& lower,
                        const std::vector<double>& upper, const MinimizeOptions& options,
                        const std::string& what) {
  const std::size_t n = x0.size();
  MC_VALIDATE(n > 0 && lower.size() == n && upper.size() == n,
              "{}: {} start values but {} lower and {} upper bounds", what, n, lower.size(),
              upper.size());
  for (std::size_t i = 0; i < n; ++i) {
    MC_VALIDATE(lower[i] < upper[i], "{}: empty bounds [{}, {}] for parameter {}", what,
                lower[i], upper[i], i);
    if (!std::isfinite(x0[i])) x0[i] = 0.5 * (lower[i] + upper[i]);
    x0[i] = std::clamp(x0[i], lower[i], upper[i]);
  }
  nlopt::opt opt(algorithm_of(options.method), static_cast<unsigned>(n));
  Context context{&f, nullptr, 0};
  opt.set_min_objective(trampoline, &context);
  opt.set_lower_bounds(lower);
  opt.set_upper_bounds(upper);
  opt.set_xtol_rel(options.x_tol_rel);
  opt.set_ftol_rel(options.f_tol_rel);
  opt.set_maxeval(options.max_evaluations);
  if (!options.initial_step.empty()) opt.set_initial_step(options.initial_step);

  MinimizeResult r;
  nlopt::result status = nlopt::FAILURE;
  double value = HUGE_VAL;
  try {
    status = opt.optimize(x0, value);
  } catch (const nlopt::roundoff_limited&) {
    status = nlopt::ROUNDOFF_LIMITED;  // x0 holds the best point found: usable
  } catch (const std::exception& e) {
    if (context.error) std::rethrow_exception(context.error);
    throw Error(what + ": optimiser failed (" + e.what() + ")");
  }
  if (context.error) std::rethrow_exception(context.error);
  if (!std::isfinite(value) || value >= HUGE_VAL)
    throw Error(what + ": the objective is not finite anywhere the optimiser looked");
  r.x = std::move(x0);
  r.value = value;
  r.evaluations = context.evaluations;
  r.converged = status != nlopt::MAXEVAL_REACHED && status != nlopt::MAXTIME_REACHED;
  return r;
}

}  // namespace memcarlo
