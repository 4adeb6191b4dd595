#!/usr/bin/python3
"""End-to-end tests of `memcarlo calibrate`: the loop simulate -> calibrate -> simulate with the
fitted PARAMS.toml, identical output for one and two threads, a report that opens as JSON and
SVG, and one-line errors that leave nothing behind for the bad inputs of issue 3 (an empty group,
all-NaN devices, time not increasing, the wrong kind, too few points).

Usage: /usr/bin/python3 test_calibrate_cli.py PATH_TO_MEMCARLO
"""
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import unittest
import xml.dom.minidom

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"


def run(args, threads=None):
    env = dict(os.environ, MEMCARLO_QUIET="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([MEMCARLO] + args, env=env, capture_output=True, text=True)


class Calibrate(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def simulate(self, name, model="pcm-drift", devices=400, extra=()):
        out = self.path(name)
        r = run(["device", "simulate", model, "--devices", str(devices), "--out", out, "--quiet", *extra])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def calibrate(self, kind, spec, out, *extra, threads=None):
        r = run(["calibrate", kind, "--in", spec, "--out", out, "--quiet", "--bootstrap", "40", *extra],
                threads=threads)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def assert_fails(self, args, expect_in, outputs=()):
        r = run(args)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("memcarlo: error:"), lines[0])
        self.assertIn(expect_in, lines[0])
        for out in outputs:
            self.assertFalse(os.path.exists(out), f"{out} left behind")
        self.assertEqual([f for f in os.listdir(self.dir) if ".tmp-" in f], [])

    def test_loop_measure_fit_simulate_and_report(self):
        data = self.simulate("drift.h5")
        params, report = self.path("p.toml"), self.path("report")
        self.calibrate("drift", data, params, "--report", report)
        with open(params, "rb") as f:
            table = tomllib.load(f)["pcm-drift"]
        for key in ["mu_nu_a", "mu_nu_b", "sigma_nu_a", "sigma_nu_b", "g_max", "t0", "levels"]:
            self.assertIn(key, table)
        again = self.simulate("again.h5", extra=["--config", params])
        with h5py.File(again, "r") as f:
            self.assertIn("mu_nu_a", f.attrs["provenance"])
        self.calibrate("drift", again + ":drift", self.path("p2.toml"))
        with open(os.path.join(report, "report.json")) as f:
            rep = json.load(f)
        self.assertEqual(rep["kind"], "drift")
        self.assertEqual(rep["model"], "pcm-drift")
        keys = [p["key"] for p in rep["parameters"]]
        self.assertIn("mu_nu_a", keys)
        self.assertTrue(all(set(g["ks"]) == {"statistic", "p_value", "n"} for g in rep["gof"]))
        self.assertEqual(len(rep["round_trips"]), 1)
        for fig in rep["figures"]:
            xml.dom.minidom.parse(os.path.join(report, fig["file"]))  # well-formed SVG
        self.assertTrue(os.path.exists(os.path.join(report, "report.md")))

    def test_same_seed_same_parameters_for_one_and_two_threads(self):
        data = self.simulate("drift.h5")
        one, two = self.path("one.toml"), self.path("two.toml")
        self.calibrate("drift", data, one, "--seed", "5", threads=1)
        self.calibrate("drift", data, two, "--seed", "5", threads=2)
        with open(one) as a, open(two) as b:
            self.assertEqual(a.read().replace("one.toml", "two.toml"), b.read())

    def test_help_lists_every_kind(self):
        r = run(["calibrate", "--help"])
        self.assertEqual(r.returncode, 0)
        for kind in ["drift", "pulse_train", "dg_table", "pcm-crystallization"]:
            self.assertIn(kind, r.stdout)

    def mutated(self, name, mutate):
        out = self.simulate(name, devices=40)
        with h5py.File(out, "r+") as f:
            mutate(f)
        return out

    def test_bad_input_writes_nothing(self):
        out, report = self.path("p.toml"), self.path("rep")
        base = ["--out", out, "--report", report]

        def all_nan(f):
            f["drift/G"][...] = np.nan

        def empty_group(f):
            f.create_group("empty")

        def one_time(f):
            g = f["drift"]
            G = g["G"][:, :1]
            t = g["t"][:1]
            del g["G"], g["t"]
            g.create_dataset("G", data=G).attrs["units"] = "S"
            g.create_dataset("t", data=t).attrs["units"] = "s"

        def time_backwards(f):
            t = f["drift/t"][...]
            t[3], t[4] = t[4], t[3]
            f["drift/t"][...] = t

        cases = [
            (all_nan, "drift", ":drift", "no device has two positive reads"),
            (one_time, "drift", ":drift", "no device has two positive reads"),
            (time_backwards, "drift", ":drift", "t is not strictly increasing"),
            (empty_group, "drift", ":empty", "/empty: missing attribute 'kind'"),
        ]
        for i, (mutate, kind, group, message) in enumerate(cases):
            with self.subTest(message=message):
                data = self.mutated(f"bad{i}.h5", mutate)
                self.assert_fails(["calibrate", kind, "--in", data + group] + base, message, [out, report])
        memristor = self.simulate("mem.h5", model="memristor", devices=4)
        self.assert_fails(["calibrate", "drift", "--in", memristor + ":pulse_train"] + base,
                          "is kind 'pulse_train', but calibrate drift needs kind drift or bake", [out, report])
        self.assert_fails(["calibrate", "drift", "--in", memristor] + base,
                          "holds no data set of kind drift or bake", [out, report])
        data = self.simulate("good.h5", devices=40)
        self.assert_fails(["calibrate", "drift", "--in", data, "--bootstrap", "5"] + base, "at least 20", [out, report])
        self.assert_fails(["calibrate", "drift", "--in", data, "--out", self.path("no/dir/p.toml")],
                          "does not exist")
        self.assert_fails(["calibrate", "wiggle", "--in", data] + base, "unknown calibration kind 'wiggle'", [out, report])
        self.assert_fails(["calibrate", "drift", "--in", self.path("missing.h5")] + base, "missing.h5", [out, report])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=1)
