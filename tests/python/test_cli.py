#!/usr/bin/python3
"""End-to-end tests of the memcarlo executable: reproducibility across thread counts (h5diff),
one-line errors with a non-zero exit and no output left behind, and outputs that open in h5py.

Usage: /usr/bin/python3 test_cli.py PATH_TO_MEMCARLO
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
MODELS = ["pcm-crystallization", "pcm-drift", "memristor"]


def run(args, threads=None, cwd=None):
    env = dict(os.environ, MEMCARLO_QUIET="1")
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([MEMCARLO] + args, env=env, cwd=cwd, capture_output=True, text=True)


class Cli(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.dir = self.tmp.name

    def path(self, name):
        return os.path.join(self.dir, name)

    def assert_fails(self, args, expect_in, out=None):
        r = run(args)
        self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("memcarlo: error:") or lines[0].startswith("memcarlo: "), lines[0])
        self.assertIn(expect_in, lines[0])
        if out:
            self.assertFalse(os.path.exists(out), f"{out} left behind")
        self.assertEqual([f for f in os.listdir(self.dir) if ".tmp-" in f], [])

    def test_same_seed_same_file_for_one_and_two_threads(self):
        for model in MODELS:
            with self.subTest(model=model):
                a, b = self.path(f"{model}-1.h5"), self.path(f"{model}-2.h5")
                for out, threads in ((a, 1), (b, 2)):
                    r = run(["device", "simulate", model, "--devices", "300", "--seed", "17", "--out", out], threads)
                    self.assertEqual(r.returncode, 0, r.stderr)
                d = subprocess.run(["h5diff", a, b], capture_output=True, text=True)
                self.assertEqual(d.returncode, 0, d.stdout + d.stderr)
                c = self.path(f"{model}-other-seed.h5")
                run(["device", "simulate", model, "--devices", "300", "--seed", "18", "--out", c])
                self.assertEqual(subprocess.run(["h5diff", "-q", a, c]).returncode, 1)

    def test_outputs_open_in_h5py_with_units(self):
        for model in MODELS:
            with self.subTest(model=model):
                out = self.path(f"{model}.h5")
                r = run(["device", "simulate", model, "--devices", "50", "--out", out])
                self.assertEqual(r.returncode, 0, r.stderr)
                with h5py.File(out, "r") as f:
                    self.assertEqual(f.attrs["format"], "memcarlo-measurements")
                    self.assertEqual(int(f.attrs["format_version"]), 1)
                    self.assertIn(model, f.attrs["provenance"])
                    for name, group in f.items():
                        self.assertIn(group.attrs["kind"], ("drift", "pulse_train", "samples"))
                        for ds in group.values():
                            self.assertIn("units", ds.attrs, f"{name}/{ds.name}")
                        if "G" in group and group["G"].attrs["units"] == "S":
                            G = group["G"][...]
                            self.assertTrue(np.all(G[np.isfinite(G)] >= 0))
                r = run(["summary", out])
                self.assertEqual(r.returncode, 0, r.stderr)

    def test_config_file_and_set_are_applied_and_echoed(self):
        cfg = self.path("params.toml")
        with open(cfg, "w") as f:
            f.write("[pcm-drift]\nn_times = 4\nt_last = 2000.0\n")
        out = self.path("drift.h5")
        r = run(["device", "simulate", "pcm-drift", "--devices", "10", "--config", cfg, "--set", "levels=2", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(out, "r") as f:
            self.assertEqual(f["drift/t"].shape, (4,))
            self.assertEqual(f["drift/t"][-1], 2000.0)
            self.assertIn("levels = 2", f.attrs["provenance"])
            self.assertEqual(sorted(set(f["drift/level"][...])), [0, 1])

    def test_help_lists_every_model_and_key(self):
        r = run(["device", "simulate", "--help"])
        self.assertEqual(r.returncode, 0)
        for model in MODELS:
            self.assertIn(model, r.stdout)
        for key in ("g_max", "E_a", "R_th", "t0", "levels"):
            self.assertIn(key, r.stdout)

    def test_bad_simulation_input(self):
        out = self.path("x.h5")
        base = ["device", "simulate"]
        self.assert_fails(base + ["no-such-model", "--devices", "5", "--out", out], "unknown model 'no-such-model'", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "-5", "--out", out], "-5", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "0", "--out", out], "--devices must be positive", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "bogus=1"], "unknown key 'bogus'", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "g_max=-1"], "g_max", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--set", "t0=abc"], "needs a number", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--config", self.path("missing.toml")], "missing.toml: no such file", out)
        bad = self.path("bad.toml")
        with open(bad, "w") as f:
            f.write("t0 = = 3\n")
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--config", bad], "bad.toml: line 1", out)
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", self.path("no/dir/x.h5")], "does not exist")
        self.assert_fails(base + ["pcm-drift", "--devices", "5", "--out", out, "--preset", "nope"], "unknown preset 'nope'", out)

    def make_drift_file(self, name, mutate):
        out = self.path(name)
        r = run(["device", "simulate", "pcm-drift", "--devices", "6", "--out", out])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(out, "r+") as f:
            mutate(f)
        return out

    def test_bad_measurement_files(self):
        self.assert_fails(["summary", self.path("missing.h5")], "missing.h5: no such file")
        text = self.path("text.h5")
        with open(text, "w") as f:
            f.write("not hdf5\n")
        self.assert_fails(["summary", text], "text.h5: not an HDF5 file")
        cases = {
            "format.h5": (lambda f: f.attrs.__setitem__("format", "something-else"), "format is 'something-else'"),
            "version.h5": (lambda f: f.attrs.__setitem__("format_version", 2), "format_version 2 is not supported"),
            "kind.h5": (lambda f: f["drift"].attrs.__setitem__("kind", "weird"), "unknown kind 'weird'"),
        }

        def nan_in_t(f):
            t = f["drift/t"][...]
            t[1] = np.nan
            del f["drift/t"]
            f["drift"].create_dataset("t", data=t).attrs["units"] = "s"

        def wrong_shape(f):
            del f["drift/G"]
            f["drift"].create_dataset("G", data=np.ones((6, 3))).attrs["units"] = "S"

        def wrong_units(f):
            f["drift/G"].attrs["units"] = "uS"

        cases["nan.h5"] = (nan_in_t, "t[1] = nan is not finite")
        cases["shape.h5"] = (wrong_shape, "G columns has 3 values, expected 11")
        cases["units.h5"] = (wrong_units, "units 'uS' not allowed")
        for name, (mutate, message) in cases.items():
            with self.subTest(name=name):
                self.assert_fails(["summary", self.make_drift_file(name, mutate)], message)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
