#!/usr/bin/python3
"""Reference values of the IBM statistical PCM model, computed with numpy straight from the
published formulas (Nandakumar et al. 2019, as written in DESIGN.md §4), independently of
memcarlo's C++ code. Writes pcm_ibm_reference.csv beside this script; the C++ test
tests/physics/test_pcm_drift.cpp compares memcarlo against it to 1e-12 relative.

Rerun with: /usr/bin/python3 tests/reference/pcm_ibm_reference.py
"""
import os
import numpy as np

g = np.concatenate([np.geomspace(1e-4, 1.0, 40), np.linspace(0.02, 1.5, 25)])
ln_g = np.log(g)
mu_nu = np.clip(-0.0155 * ln_g + 0.0244, 0.049, 0.1)
sigma_nu = np.clip(-0.0125 * ln_g - 0.0059, 0.008, 0.045)
g_max_uS = 25.0
sigma_prog_S = np.maximum(-1.1731 * g**2 + 1.9650 * g + 0.2635, 0.0) * (g_max_uS / 25.0) * 1e-6
q_s = np.minimum(0.0088 / g**0.65, 0.2)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pcm_ibm_reference.csv")
with open(out, "w") as f:
    f.write("g,mu_nu,sigma_nu,sigma_prog_S,q_s\n")
    for row in zip(g, mu_nu, sigma_nu, sigma_prog_S, q_s):
        f.write(",".join(repr(float(x)) for x in row) + "\n")
print(f"wrote {out} ({len(g)} rows)")
