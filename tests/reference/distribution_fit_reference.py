#!/usr/bin/python3
"""Reference values for memcarlo's distribution fits and goodness-of-fit tests, computed with
Debian's numpy and scipy (1.10) independently of memcarlo's C++ code. The C++ tests
tests/calibration/test_distribution_fit.cpp and tests/calibration/test_goodness_of_fit.cpp
compare memcarlo against the three files this script writes beside itself:

distribution_fit_samples.csv   sample,value      seeded samples (numpy default_rng), repr()
distribution_fit_reference.csv sample,quantity,value   fits and statistics per sample
ks_distribution_reference.csv  n,d,kstwo_sf,durbin_sf,smirnov2_sf,scipy_method
                               P(D_n >= d) on a grid covering every branch of the C++ code

What the reference quantities are:
* <family>.<param>, <family>.loglik, <family>.aic: scipy.stats.<family>.fit with floc=0 for
  lognorm and weibull_min (loglik = sum of scipy's logpdf at the fitted parameters,
  aic = 2*2 - 2*loglik). scipy 1.10 fits norm and lognorm in closed form, but weibull_min with
  floc=0 by Nelder-Mead with its default tolerances (xtol = ftol = 1e-4), which stops 1e-6 to
  1e-5 (relative, in the parameters) short of the maximum. weibull_min.* therefore comes from the same scipy fit with a tight
  Nelder-Mead (xtol = ftol = 1e-14); weibull_min_default.* records the default fit, and
  weibull_min_profile.* an independent solution of the profile-likelihood equation for the
  shape with scipy.optimize.brentq (xtol 1e-15). The script checks that the tight and profile
  fits agree to 1e-7 (they do to ~1e-9: Nelder-Mead stops where the log-likelihood is flat to
  rounding) before writing anything.
* <family>.ks_d, <family>.ks_p: scipy.stats.kstest against the fitted distribution
  (method 'auto' = 'exact' = scipy.stats.kstwo.sf, which for n > 140 near the centre of the
  distribution uses the Pelz-Good asymptotic series, accurate to ~1e-5 relative).
  <family>.ks_p_durbin: 1 - scipy's Durbin matrix algorithm in the Marsaglia-Tsang-Wang form
  (scipy.stats._ksstats._kolmogn_DMTW, a private function), exact to rounding.
* <family>.ad: Anderson-Darling A^2 of the fully specified fitted distribution, by the textbook
  formula in numpy with scipy's logcdf and logsf; <family>.ad_gof and <family>.ad_gof_p: the
  statistic and Monte Carlo p-value (9999 samples) of scipy.stats.goodness_of_fit with all
  parameters known.
* norm.anderson: scipy.stats.anderson(x, 'norm').statistic (mean and ddof=1 standard
  deviation, case 3 of Stephens); norm.anderson_gof_p: Monte Carlo p-value of that statistic
  from scipy.stats.goodness_of_fit(norm, x, statistic='ad') with both parameters estimated.
* best_aic: the family with the lowest AIC among those fitted (0 norm, 1 lognorm, 2 weibull_min).
* two-sample rows (sample "<a>~<b>"): scipy.stats.ks_2samp(a, b, method='asymp') statistic
  and p-value (kstwo.sf(d, round(n1 n2 / (n1 + n2)))); ks2_p_durbin: the same probability by
  scipy's Durbin matrix algorithm (for d >= 0.5, where kstwo.sf is exact, ks2_p itself).

Rerun with: /usr/bin/python3 tests/reference/distribution_fit_reference.py
(takes ~20 s; the Monte Carlo p-values are seeded, so the files are reproducible).
"""
import math
import os

import numpy as np
import scipy
from scipy import optimize, special, stats
from scipy.stats._ksstats import _kolmogn_DMTW

HERE = os.path.dirname(os.path.abspath(__file__))

# --- samples ---------------------------------------------------------------------------------
samples = {}
samples["normal"] = np.random.default_rng(20240601).normal(1.0, 0.25, 200)
samples["lognormal"] = np.random.default_rng(20240602).lognormal(-1.0, 0.4, 500)
samples["weibull"] = 2.5 * np.random.default_rng(20240603).weibull(1.8, 300)
# Resistances read with 0.1 resolution: many ties.
samples["ties"] = np.round(np.random.default_rng(20240604).lognormal(0.0, 0.25, 150), 1)
samples["ties_b"] = np.round(np.random.default_rng(20240605).lognormal(0.05, 0.25, 90), 1)
samples["lognormal_b"] = np.random.default_rng(20240606).lognormal(-0.95, 0.4, 230)
two_sample_pairs = [("lognormal", "lognormal_b"), ("ties", "ties_b"), ("normal", "weibull")]
fitted_samples = ["normal", "lognormal", "weibull", "ties"]

families = {"norm": stats.norm, "lognorm": stats.lognorm, "weibull_min": stats.weibull_min}
family_index = {"norm": 0, "lognorm": 1, "weibull_min": 2}


def tight_nelder_mead(func, x0, args=(), disp=0):
    return optimize.fmin(func, x0, args=args, xtol=1e-14, ftol=1e-14, maxiter=100000,
                         maxfun=200000, disp=0)


def weibull_profile_fit(x):
    """Shape c solves sum(x^c ln x)/sum(x^c) - 1/c - mean(ln x) = 0; scale = mean(x^c)^(1/c)."""
    z = np.log(x) - np.mean(np.log(x))
    zmax = z.max()

    def g(c):
        w = np.exp(c * (z - zmax))
        return np.sum(w * z) / np.sum(w) - 1.0 / c

    c = optimize.brentq(g, 1.0 / zmax, (1.0 + (len(x) - 1) / math.e) / zmax, xtol=1e-15,
                        rtol=4 * np.finfo(float).eps, maxiter=500)
    lx = np.log(x)
    lmax = lx.max()
    scale = math.exp(lmax + math.log(np.mean(np.exp(c * (lx - lmax)))) / c)
    return c, scale


def ad_statistic(frozen, x):
    """A^2 of the fully specified distribution, textbook formula with log cdf and log sf."""
    x = np.sort(x)
    n = len(x)
    i = np.arange(1, n + 1)
    return -n - np.sum((2 * i - 1) / n * (frozen.logcdf(x) + frozen.logsf(x[::-1])))


def durbin_sf(n, d):
    return 1.0 - _kolmogn_DMTW(n, d, cdf=True)


rows = []


def put(sample, quantity, value):
    rows.append((sample, quantity, float(value)))


for name in fitted_samples:
    x = samples[name]
    n = len(x)
    aic = {}
    for fam, dist in families.items():
        if fam != "norm" and np.any(x <= 0):
            continue
        if fam == "norm":
            params = dist.fit(x)
            names = ["loc", "scale"]
            shown = params
        elif fam == "lognorm":
            params = dist.fit(x, floc=0)
            names = ["s", "scale"]
            shown = (params[0], params[2])
        else:
            default = dist.fit(x, floc=0)
            params = dist.fit(x, floc=0, optimizer=tight_nelder_mead)
            c_prof, scale_prof = weibull_profile_fit(x)
            # Nelder-Mead stops where the log-likelihood is flat to rounding, which leaves the
            # parameters ~1e-9 relative from the root of the profile equation.
            print(f"{name}: weibull tight NM vs profile: c {params[0] / c_prof - 1:.1e}, "
                  f"scale {params[2] / scale_prof - 1:.1e}; default NM: c "
                  f"{default[0] / c_prof - 1:.1e}, scale {default[2] / scale_prof - 1:.1e}")
            assert abs(params[0] / c_prof - 1) < 1e-7, (params, c_prof)
            assert abs(params[2] / scale_prof - 1) < 1e-7, (params, scale_prof)
            names = ["c", "scale"]
            shown = (params[0], params[2])
            put(name, "weibull_min_default.c", default[0])
            put(name, "weibull_min_default.scale", default[2])
            put(name, "weibull_min_default.loglik", np.sum(dist.logpdf(x, *default)))
            put(name, "weibull_min_profile.c", c_prof)
            put(name, "weibull_min_profile.scale", scale_prof)
            put(name, "weibull_min_profile.loglik",
                np.sum(dist.logpdf(x, c_prof, 0.0, scale_prof)))
        frozen = dist(*params)
        loglik = np.sum(frozen.logpdf(x))
        aic[fam] = 2 * 2 - 2 * loglik
        for pname, value in zip(names, shown):
            put(name, f"{fam}.{pname}", value)
        put(name, f"{fam}.loglik", loglik)
        put(name, f"{fam}.aic", aic[fam])
        ks = stats.kstest(x, frozen.cdf)
        put(name, f"{fam}.ks_d", ks.statistic)
        put(name, f"{fam}.ks_p", ks.pvalue)
        put(name, f"{fam}.ks_p_durbin", durbin_sf(n, ks.statistic))
        put(name, f"{fam}.ad", ad_statistic(frozen, x))
        known = dict(zip(dist.shapes.split(",") if dist.shapes else [], params[:-2]))
        known.update(loc=params[-2], scale=params[-1])
        gof = stats.goodness_of_fit(dist, x, known_params=known, statistic="ad",
                                    n_mc_samples=9999, random_state=7)
        put(name, f"{fam}.ad_gof", gof.statistic)
        put(name, f"{fam}.ad_gof_p", gof.pvalue)
        if fam == "norm":
            put(name, "norm.anderson", stats.anderson(x, "norm").statistic)
            gof3 = stats.goodness_of_fit(stats.norm, x, statistic="ad", n_mc_samples=9999,
                                         random_state=11)
            put(name, "norm.anderson_gof", gof3.statistic)
            put(name, "norm.anderson_gof_p", gof3.pvalue)
    put(name, "best_aic", family_index[min(aic, key=aic.get)])

for a, b in two_sample_pairs:
    res = stats.ks_2samp(samples[a], samples[b], method="asymp")
    put(f"{a}~{b}", "ks2_d", res.statistic)
    put(f"{a}~{b}", "ks2_p", res.pvalue)
    n1, n2 = len(samples[a]), len(samples[b])
    n_eff = int(np.round(n1 * n2 / (n1 + n2)))
    put(f"{a}~{b}", "ks2_p_durbin",
        durbin_sf(n_eff, res.statistic) if res.statistic < 0.5 else res.pvalue)

# --- grid of the one-sample KS distribution ----------------------------------------------------
grid = []
for n in [1, 2, 3, 5, 10, 20, 50, 100, 140, 141, 200, 500, 1000, 3000, 20000]:
    ds = {0.4 / n, 0.75 / n, 1.0 / n}
    for z in [0.3, 0.45, 0.6, 0.75, 0.87, 1.0, 1.2, 1.36, 1.5, 1.63, 1.8, 2.0, 2.3, 2.8, 3.5]:
        ds.add(z / math.sqrt(n))
    ds.update([0.3, 0.5, 0.55, 0.8, 1.0 - 0.5 / n])
    for d in sorted(ds):
        if not 0 < d < 1:
            continue
        t = n * d
        k = math.ceil(t)
        # scipy's branch in scipy.stats._ksstats._kolmogn for the survival function
        if t <= 1.0 or t >= n - 1 or d >= 0.5:
            method = "exact_closed"
        elif n <= 140:
            method = "durbin" if t * d <= 0.754693 else ("pomeranz" if t * d <= 4 else "smirnov2")
        elif t * d >= 370.0:
            method = "zero"
        elif t * d >= 2.2:
            method = "smirnov2"
        elif n <= 100000 and n * d**1.5 <= 1.4:
            method = "durbin"
        else:
            method = "pelzgood"
        dur = durbin_sf(n, d) if (t > 0.5 and k <= 150) else float("nan")
        grid.append((n, d, stats.kstwo.sf(d, n), dur, 2 * special.smirnov(n, d), method))

# --- write -------------------------------------------------------------------------------------
with open(os.path.join(HERE, "distribution_fit_samples.csv"), "w") as f:
    f.write("sample,value\n")
    for name, x in samples.items():
        for v in x:
            f.write(f"{name},{float(v)!r}\n")
with open(os.path.join(HERE, "distribution_fit_reference.csv"), "w") as f:
    f.write(f"# scipy {scipy.__version__}, numpy {np.__version__}; "
            "written by distribution_fit_reference.py\n")
    f.write("sample,quantity,value\n")
    for sample, quantity, value in rows:
        f.write(f"{sample},{quantity},{value!r}\n")
with open(os.path.join(HERE, "ks_distribution_reference.csv"), "w") as f:
    f.write(f"# scipy {scipy.__version__}; written by distribution_fit_reference.py\n")
    f.write("n,d,kstwo_sf,durbin_sf,smirnov2_sf,scipy_method\n")
    for n, d, sf, dur, sm, method in grid:
        f.write(f"{n},{d!r},{float(sf)!r},{float(dur)!r},{float(sm)!r},{method}\n")
print(f"wrote {sum(len(x) for x in samples.values())} sample values, {len(rows)} reference "
      f"values, {len(grid)} KS grid points")
