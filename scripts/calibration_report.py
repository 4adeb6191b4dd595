#!/usr/bin/env python3
"""Regenerates docs/calibration.md and docs/calibration/<run>/ (PARAMS.toml, report.md,
report.json, SVG figures): every bundled measured data set, and simulated data with known
parameters, through `memcarlo calibrate`.

Usage: python3 scripts/calibration_report.py [--memcarlo build/apps/memcarlo] [--bootstrap 200]
Needs only the Python standard library; run from the repository root after a build.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

MEASURED = "data/measured"
TAOX = [3, 5, 7, 8, 10, 11, 12, 13, 14, 16, 19]

# (run name, kind, --in spec, what it is)
RUNS = (
    [("stanford_techB_relaxation", "drift", f"{MEASURED}/stanford_rram_relaxation.h5:techB_relaxation",
      "Stanford RRAM technology B, relaxation after programming (measured; RRAM, not PCM)"),
     ("stanford_techC_relaxation", "drift", f"{MEASURED}/stanford_rram_relaxation.h5:techC_relaxation",
      "Stanford RRAM technology C, relaxation after programming (measured; RRAM, not PCM)"),
     ("stanford_techA_bake", "drift", f"{MEASURED}/stanford_rram_relaxation.h5:techA_bake",
      "Stanford RRAM technology A, reads before and after bakes at 100-260 C (measured)"),
     ("stanford_techB_bake", "drift", f"{MEASURED}/stanford_rram_relaxation.h5:techB_bake",
      "Stanford RRAM technology B, reads before and after bakes at 100-260 C (measured)"),
     ("sandia_pulse", "pulse_train", f"{MEASURED}/sandia_crosssim_pulse.h5:pulse_train",
      "Sandia CrossSim pulse trains, one device, 79 ramps (measured)"),
     ("gong_hfo2", "pulse_train", f"{MEASURED}/gong_hfo2_reram.h5:pulse_train",
      "Gong et al. HfO2 ReRAM, 1000 + 1000 pulses, normalised units (measured, digitised)")]
    + [(f"taox_device_{n}", "dg_table", f"{MEASURED}/sandia_taox_lut.h5:device_{n}_potentiation",
        f"Sandia TaOx ReRAM device {n}, potentiation and depression lookup tables (measured)") for n in TAOX]
    + [("enode", "dg_table", f"{MEASURED}/sandia_enode_lut.h5:potentiation",
        "ENODe electrochemical synapse, potentiation and depression lookup tables (measured)")]
)

# Simulated data with known parameters: (run name, kind, model, devices, --set overrides, group, what)
SIMULATED = [
    ("simulated_pcm_drift", "drift", "pcm-drift", 16384, [], "drift",
     "pcm-drift preset pcm-ibm (IBM published fit), 16384 devices, 16 levels: truth known"),
    ("simulated_memristor", "pulse_train", "memristor", 16, ["cycles=20", "sigma_read=0.005"], "pulse_train",
     "memristor preset bulk, 16 devices x 20 cycles, read noise 0.5 %: truth known"),
    ("simulated_pcm_crystallization", "pcm-crystallization", "pcm-crystallization", 400, [], "pulses_to_set",
     "pcm-crystallization preset gst, 400 devices, pulses-to-SET: truth known"),
    ("simulated_pcm_crystallization_train", "pcm-crystallization", "pcm-crystallization", 400, [], "pulse_train",
     "pcm-crystallization preset gst, 400 devices, conductance after every pulse: truth known"),
]


def fmt(v):
    return "–" if v is None else f"{v:.4g}"


def p_cell(p):
    if p is None:
        return "–"
    return f"**{p:.2g}** (fails)" if p < 0.01 else f"{p:.3g}"


def section(run, what, rep, seconds, out_dir):
    lines = [f"### {run}", "", f"{what}. Source `{rep['source']}`; model `{rep['model']}`; "
             f"{rep['bootstrap_resamples']} bootstrap resamples; {seconds:.1f} s.", "",
             f"Files: [PARAMS.toml]({out_dir}/params.toml), [report]({out_dir}/report.md).", "",
             f"*Method.* {rep['method']}", "",
             "| quantity | estimate | 95 % interval | unit | in PARAMS |", "|---|---|---|---|---|"]
    for p in rep.get("parameters", []):
        interval = f"[{fmt(p['ci_low'])}, {fmt(p['ci_high'])}]" if p["identified"] else "not identified"
        lines.append(f"| `{p['key']}` | {fmt(p['estimate'])} | {interval} | {p['unit']} | "
                     f"{'yes' if p['in_params'] else ''} |")
    if rep.get("gof"):
        lines += ["", "| goodness of fit | KS D | KS p | AD A² | AD p | n |", "|---|---|---|---|---|---|"]
        for g in rep["gof"]:
            lines.append(f"| {g['what']} | {fmt(g['ks']['statistic'])} | {p_cell(g['ks']['p_value'])} | "
                         f"{fmt(g['ad']['statistic'])} | {p_cell(g['ad']['p_value'])} | {g['ks']['n']} |")
    if rep.get("round_trips"):
        lines += ["", "| round trip | KS D | p | n measured | n simulated |", "|---|---|---|---|---|"]
        for t in rep["round_trips"]:
            lines.append(f"| {t['what']} | {fmt(t['ks']['statistic'])} | {p_cell(t['ks']['p_value'])} | "
                         f"{t['n_measured']} | {t['n_simulated']} |")
    failing = [g["what"] for g in rep.get("gof", [])
               if (g["ks"]["p_value"] is not None and g["ks"]["p_value"] < 0.01)
               or (g["ad"]["p_value"] is not None and g["ad"]["p_value"] < 0.01)]
    lines.append("")
    if failing:
        lines.append(f"**The model does not fit these data** (p < 0.01): {'; '.join(failing)}.")
    else:
        lines.append("No goodness-of-fit test rejects the fit at the 1 % level.")
    for n in rep.get("notes", []):
        lines.append(f"* {n}")
    lines.append("")
    for f in rep.get("figures", []):
        lines += [f"![{f['caption']}]({out_dir}/{f['file']})", "", f"*{f['caption']}*", ""]
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memcarlo", default="build/apps/memcarlo")
    ap.add_argument("--bootstrap", default="200")
    ap.add_argument("--docs", default="docs")
    ap.add_argument("--only", nargs="*", help="run names to redo (the others are read back)")
    args = ap.parse_args()
    memcarlo = os.path.abspath(args.memcarlo)
    if not os.access(memcarlo, os.X_OK):
        sys.exit(f"calibration_report: {memcarlo} not found: build first (bash scripts/build.sh build)")
    root = os.path.join(args.docs, "calibration")
    os.makedirs(root, exist_ok=True)
    env = dict(os.environ, MEMCARLO_QUIET="1")
    tmp = os.path.join("build", "calibration-data")  # simulated inputs (named in the reports)
    os.makedirs(tmp, exist_ok=True)
    jobs = [(run, kind, spec, what) for run, kind, spec, what in RUNS]
    for run, kind, model, devices, sets, group, what in SIMULATED:
        data = os.path.join(tmp, run + ".h5")
        what += f" (`memcarlo device simulate {model} --devices {devices} --seed 7" + \
                "".join(f" --set {s}" for s in sets) + "`)"
        jobs.append((run, kind, (model, devices, sets, data, group), what))
    body = []
    for run, kind, spec, what in jobs:
        out_dir = os.path.join(root, run)
        if args.only and run not in args.only and os.path.exists(os.path.join(out_dir, "report.json")):
            with open(os.path.join(out_dir, "report.json")) as f:
                rep = json.load(f)
            body += section(run, what, rep, rep.get("seconds", 0.0), f"calibration/{run}")
            continue
        start = time.monotonic()
        if isinstance(spec, tuple):
            model, devices, sets, data, group = spec
            cmd = [memcarlo, "device", "simulate", model, "--devices", str(devices), "--seed", "7",
                   "--out", data] + sum((["--set", s] for s in sets), [])
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"calibration_report: {' '.join(cmd)} failed: {r.stderr.strip()}")
            spec = f"{data}:{group}"
        shutil.rmtree(out_dir, ignore_errors=True)
        cmd = [memcarlo, "calibrate", kind, "--in", spec, "--out", os.path.join(out_dir, "params.toml"),
               "--report", out_dir, "--bootstrap", args.bootstrap, "--seed", "1", "--quiet"]
        os.makedirs(out_dir, exist_ok=True)
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - start
        print(f"{run}: {'ok' if r.returncode == 0 else 'FAILED'} ({seconds:.1f} s)", file=sys.stderr)
        if r.returncode != 0:
            body += [f"### {run}", "", f"{what}.", "",
                     f"**Calibration failed:** `{r.stderr.strip()}`", ""]
            continue
        with open(os.path.join(out_dir, "report.json")) as f:
            rep = json.load(f)
        rep["seconds"] = seconds
        with open(os.path.join(out_dir, "report.json"), "w") as f:
            json.dump(rep, f, indent=1)
        body += section(run, what, rep, seconds, f"calibration/{run}")

    head = [
        "# Calibration results",
        "",
        "Generated by `python3 scripts/calibration_report.py` (after a build); do not edit by hand.",
        "Every bundled measured data set of `data/measured/` that a calibrator applies to, and",
        "simulated data whose true parameters are known, went through `memcarlo calibrate` with",
        f"{args.bootstrap} bootstrap resamples and seed 1. Each run's PARAMS.toml, report and figures",
        "are in `docs/calibration/<run>/`. p-values below 0.01 are marked **fails**; there the",
        "model does not describe the data and the document says so. Each run states its method.",
        "",
        "## How to read this",
        "",
        "* Intervals are percentile bootstrap intervals over the independent units of each data",
        "  set (devices, cycles, records, table bins): sampling uncertainty only, not model error.",
        "* KS and AD p-values compare data with a distribution whose parameters were fitted to",
        "  the same data, so they are conservative (Lilliefors); a rejection is still a rejection.",
        "* Round trip: the fitted PARAMS.toml is simulated with `memcarlo device simulate` and the",
        "  simulated data are analysed like the measured ones; the two-sample KS distance says how",
        "  close the simulator now comes to the measurement.",
        "* Not calibrated: `stanford_rram_relaxation.h5:techA_read_noise` (`time_series`, read noise",
        "  spectra): no calibrator fits read-noise spectra yet.",
        "",
        "## Runs",
        "",
    ]
    with open(os.path.join(args.docs, "calibration.md"), "w") as f:
        f.write("\n".join(head + body).rstrip() + "\n")
    print(f"wrote {os.path.join(args.docs, 'calibration.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
