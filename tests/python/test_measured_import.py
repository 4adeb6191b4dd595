#!/usr/bin/python3
"""The committed data/measured/*.h5 files hold exactly the values of the public source files.

The sources are parsed here with numpy/Python, independently of memcarlo's C++ importers,
and compared bit for bit (NaN where the source has an empty cell). Every file must also open
in h5py with the schema's root attributes and carry the source's licence.

Usage: /usr/bin/python3 test_measured_import.py MEASURED_H5_DIR SHARED_MEASURED_DIR
"""
import collections
import gzip
import json
import os
import re
import sys
import unittest

import h5py
import numpy as np

H5_DIR = sys.argv[1] if len(sys.argv) > 1 else "data/measured"
SRC = sys.argv[2] if len(sys.argv) > 2 else "../shared/measured"


def text(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        return f.read()


def ramps(path):
    lines = text(path).splitlines()
    cols = [[] for _ in lines[0].split(",")]
    for line in lines[1:]:
        for c, cell in enumerate(line.split(",")):
            if cell.strip():
                cols[c].append(float(cell))
    return cols


def dg_table(path):
    rows = [r for r in text(path).splitlines()[1:] if r.strip()]
    nums = [[float(t) for t in re.split(r"[,\s]+", r.strip()) if t] for r in rows]
    return np.array(nums[0]), np.array(nums[1]), np.array(nums[2:])


class MeasuredImport(unittest.TestCase):
    def open(self, name):
        f = h5py.File(os.path.join(H5_DIR, name), "r")
        self.addCleanup(f.close)
        self.assertEqual(f.attrs["format"], "memcarlo-measurements")
        self.assertEqual(int(f.attrs["format_version"]), 1)
        for key in ("created_by", "provenance", "source", "licence", "paper", "licence_text"):
            self.assertTrue(len(f.attrs[key]) > 0, key)
        return f

    def assert_same(self, got, want):
        got, want = np.asarray(got), np.asarray(want)
        self.assertEqual(got.shape, want.shape)
        self.assertTrue(np.array_equal(got, want, equal_nan=True))

    def test_sandia_pulse(self):
        f = self.open("sandia_crosssim_pulse.h5")
        cycles = [np.array(c) / 0.1 for c in ramps(os.path.join(SRC, "sandia_crosssim_example_pulse/set.csv"))]
        n_set = len(cycles)
        cycles += [np.array(c) / 0.1 for c in ramps(os.path.join(SRC, "sandia_crosssim_example_pulse/reset.csv"))]
        want = np.full((1, len(cycles), max(len(c) for c in cycles)), np.nan)
        for i, c in enumerate(cycles):
            want[0, i, : len(c)] = c
        g = f["pulse_train"]
        self.assertEqual(g.attrs["kind"], "pulse_train")
        self.assertEqual(g["G"].attrs["units"], "S")
        self.assert_same(g["G"][...], want)
        self.assert_same(g["polarity"][...], [1] * n_set + [-1] * (len(cycles) - n_set))
        self.assertIn("BSD", f.attrs["licence"])

    def test_sandia_taox(self):
        f = self.open("sandia_taox_lut.h5")
        devices = sorted(int(d) for d in os.listdir(os.path.join(SRC, "sandia_taox_lut")) if d.isdigit())
        self.assertEqual(len(devices), 11)
        for d in devices:
            for fname, label, pol in (("dG_increasing.txt.gz", "potentiation", 1), ("dG_decreasing.txt.gz", "depression", -1)):
                bins, cdf, dG = dg_table(os.path.join(SRC, "sandia_taox_lut", str(d), fname))
                g = f[f"device_{d}_{label}"]
                self.assertEqual(g.attrs["kind"], "dg_table")
                self.assertEqual(int(g.attrs["polarity"]), pol)
                self.assert_same(g["G_bins"][...], bins)
                self.assert_same(g["cdf"][...], cdf)
                self.assert_same(g["dG"][...], dG)

    def test_sandia_enode(self):
        f = self.open("sandia_enode_lut.h5")
        for fname, label in (("dG_increasing.txt", "potentiation"), ("dG_decreasing.txt", "depression")):
            bins, cdf, dG = dg_table(os.path.join(SRC, "sandia_enode_lut", fname))
            self.assertEqual(dG.shape, (122, 48))
            self.assert_same(f[label]["G_bins"][...], bins)
            self.assert_same(f[label]["cdf"][...], cdf)
            self.assert_same(f[label]["dG"][...], dG)

    def test_stanford_relaxation(self):
        f = self.open("stanford_rram_relaxation.h5")
        for tech, fname in (("techB", "relaxdata_10k.min.tsv.gz"), ("techC", "relaxdata.min.tsv.gz")):
            rows = np.loadtxt(os.path.join(SRC, "stanford_rram_relaxation", tech, fname), delimiter="\t")
            addrs = np.unique(rows[:, 0])
            times = np.unique(rows[:, 6])
            G = np.full((len(addrs), len(times)), np.nan)
            T = np.full_like(G, np.nan)
            i = np.searchsorted(addrs, rows[:, 0])
            j = np.searchsorted(times, rows[:, 6])
            G[i, j] = rows[:, 3]
            T[i, j] = rows[:, 1]
            level = np.zeros(len(addrs), dtype=np.int64)
            level[i] = rows[:, 5]
            g = f[f"{tech}_relaxation"]
            self.assertEqual(g.attrs["kind"], "drift")
            self.assert_same(g["t"][...], times)
            self.assert_same(g["G"][...], G)
            self.assert_same(g["t_read"][...], T)
            self.assert_same(g["level"][...], level)
        # techC/model.tsv holds the same measurements: check the import against it too.
        model = np.loadtxt(os.path.join(SRC, "stanford_rram_relaxation/techC/model.tsv"), skiprows=1)
        g = f["techC_relaxation"]
        addrs = np.unique(model[:, 0])
        i = np.searchsorted(addrs, model[:, 0])
        j = np.searchsorted(g["t"][...], model[:, 1])
        self.assert_same(g["G"][...][i, j], model[:, 2])

    def test_stanford_bake(self):
        f = self.open("stanford_rram_relaxation.h5")
        for tech in ("techA", "techB"):
            rows = np.loadtxt(os.path.join(SRC, "stanford_rram_relaxation", tech, "bake.tsv.gz"), delimiter="\t")
            before = collections.OrderedDict()
            after = {}
            for r in rows:
                key = (r[4], int(r[0]))
                if r[1] == 0.0:
                    before[key] = r
                else:
                    after[key] = r
            g = f[f"{tech}_bake"]
            keys = list(before)
            self.assertEqual(len(keys), 81920)
            self.assert_same(g["G_before"][...], [before[k][3] for k in keys])
            self.assert_same(g["G_after"][...], [after[k][3] for k in keys])
            self.assert_same(g["temperature_K"][...], [k[0] + 273.15 for k in keys])
            self.assert_same(g["duration_s"][...], [after[k][1] for k in keys])
            self.assert_same(g["device"][...], [k[1] for k in keys])

    def test_stanford_time_series(self):
        f = self.open("stanford_rram_relaxation.h5")
        rows = np.loadtxt(os.path.join(SRC, "stanford_rram_relaxation/techA/tsdata.min.tsv.gz"), delimiter="\t")
        g = f["techA_read_noise"]
        self.assert_same(g["G"][...], rows[:, 2:])
        self.assert_same(g["level"][...], rows[:, 0].astype(np.int64))
        settings = json.loads(text(os.path.join(SRC, "stanford_rram_relaxation/techA/settings.json")))
        self.assertEqual(float(g.attrs["sample_rate_Hz"]), float(settings["fs"]))

    def test_gong(self):
        f = self.open("gong_hfo2_reram.h5")
        rows = np.loadtxt(os.path.join(SRC, "aihwkit_gong_hfo2_reram/gong_et_al.csv"), delimiter=",")
        g = f["pulse_train"]
        self.assertEqual(g["G"].attrs["units"], "1")
        self.assert_same(g["G"][...], rows.T[np.newaxis, :, :])
        self.assert_same(g["polarity"][...], [1, -1])
        self.assertEqual(f.attrs["licence"], "MIT")


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
