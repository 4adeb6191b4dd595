#!/usr/bin/python3
"""Writes the input files of the hostile-input corpus into tests/hostile/files/ (emptied
first), and the inputs of the bugs listed in tests/hostile/found/README.md into found/.

Every file is made deterministically (fixed seeds, fixed contents) from the bundled measured
data (data/measured/gong_hfo2_reram.h5 and sandia_enode_lut.h5), from small files written here
with h5py, and from two tiny results files that memcarlo itself writes (a `memcarlo train` run
for --set init_weights and a two-trial campaign for `memcarlo analyze`; their timings are
zeroed and they are rewritten by h5py so that a regeneration gives the same bytes on the same
machine). The cases that use these files are listed in tests/hostile/cases.toml and run by
tests/python/test_hostile_corpus.py (ctest: python:hostile_corpus). See tests/hostile/README.md.

Usage: /usr/bin/python3 tests/hostile/make_corpus.py [--memcarlo PATH]
       (PATH defaults to build/apps/memcarlo; it is run only to make the two results files,
       on a few hundred MNIST images from the usual dataset cache)
"""
import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FILES = os.path.join(HERE, "files")
# inputs that memcarlo mishandles (found/README.md): kept out of cases.toml until fixed
FOUND = os.path.join(HERE, "found")
MEASURED = os.path.join(REPO, "data", "measured")
GONG = os.path.join(MEASURED, "gong_hfo2_reram.h5")
ENODE = os.path.join(MEASURED, "sandia_enode_lut.h5")
# wall-clock timings of results files, set to 0 in the corpus copies
TIMINGS = {"wall_time_s", "samples_per_s", "trial_time_s", "epoch_time_s", "replica_time_s",
           "replica_samples_per_s", "replica_train_samples_per_s"}


def out(name):
    return os.path.join(FILES, name)


def write_bytes(name, data):
    with open(out(name), "wb") as f:
        f.write(data)


def write_text(name, text):
    with open(out(name), "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ---- byte-level damage --------------------------------------------------------------------

def bit_flipped(src, seed, trial):
    """Trial `trial` of the bit-flip fuzzer: 40 random single-bit flips of the file, drawn from
    random.Random(seed) after the draws of the trials before it (reproduces byte for byte the
    inputs that once crashed, aborted or hung memcarlo)."""
    with open(src, "rb") as f:
        data = f.read()
    rng = random.Random(seed)
    for _ in range(trial + 1):
        b = bytearray(data)
        for _ in range(40):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


BIT_FLIPS = [  # (file name, source, seed, trial): what it once did to memcarlo
    ("flip_gong_s1_t33.h5", GONG, 1, 33),     # segfault in the HDF5 global heap
    ("flip_gong_s1_t29.h5", GONG, 1, 29),     # a dataset claiming 2 GB
    ("flip_gong_s2_t231.h5", GONG, 2, 231),   # abort at file close
    ("flip_gong_s2_t260.h5", GONG, 2, 260),   # garbage bytes in a 'kind' string
    ("flip_gong_s2_t18.h5", GONG, 2, 18),     # HDF5 hangs
    ("flip_enode_s3_t182.h5", ENODE, 3, 182),  # segfault listing a group
    ("flip_enode_s3_t70.h5", ENODE, 3, 70),   # HDF5 hangs
]


def make_byte_damage():
    for name, src, seed, trial in BIT_FLIPS:
        write_bytes(name, bit_flipped(src, seed, trial))
    gong = open(GONG, "rb").read()
    enode = open(ENODE, "rb").read()
    write_bytes("trunc_gong_half.h5", gong[: len(gong) // 2])
    write_bytes("trunc_gong_1k.h5", gong[:1024])
    write_bytes("trunc_enode_half.h5", enode[: len(enode) // 2])
    write_bytes("trunc_signature_only.h5", gong[:8])  # the HDF5 signature and nothing else
    write_bytes("empty.h5", b"")
    write_bytes("noise.h5", random.Random(7).randbytes(4096))
    write_text("text_file.h5", "G,t\n1e-6,20\n2e-6,40\n")
    os.makedirs(out("directory.h5"))
    write_text(os.path.join("directory.h5", "keep.txt"), "a directory named .h5 (git keeps no empty folder)\n")
    write_text("plain.txt", "a regular file: an output path under it has a parent that is no folder\n")


# ---- semantic damage of measurement files -----------------------------------------------

def copy_attrs(src, dst):
    for k in src.attrs:
        dst.attrs.create(k, src.attrs[k], dtype=src.attrs.get_id(k).dtype)


def copy_tree(s, d):
    """Copy the groups and datasets under h5py group `s` into `d`, object by object (values,
    dtypes and attributes kept, small datasets stored contiguous; no modification times, which
    H5Ocopy would carry over from memcarlo's files)."""
    copy_attrs(s, d)
    for name, obj in s.items():
        if isinstance(obj, h5py.Group):
            copy_tree(obj, d.create_group(name))
            continue
        if obj.size * obj.dtype.itemsize <= 10_000_000:
            kw = dict(data=obj[()], dtype=obj.dtype)  # contiguous: small files
        else:  # a huge chunked dataset that holds only its fill value stays unwritten
            kw = dict(shape=obj.shape, dtype=obj.dtype, chunks=obj.chunks, fillvalue=obj.fillvalue)
        copy_attrs(obj, d.create_dataset(name, **kw))


def repack(src, dst, zero_timings=False):
    """Copy every object of the HDF5 file `src` into a fresh file `dst` (the free space that
    in-place changes leave behind is dropped); with zero_timings, the wall-clock timings of a
    results file are set to 0. A regeneration thus gives the same bytes."""
    with h5py.File(src, "r") as s, h5py.File(dst, "w") as d:
        copy_tree(s, d)
        if zero_timings:
            def zero(name, obj):
                for k in list(obj.attrs):
                    if k in TIMINGS:
                        obj.attrs.modify(k, 0.0)
                if isinstance(obj, h5py.Dataset) and name.split("/")[-1] in TIMINGS:
                    obj[...] = 0.0
            for k in list(d.attrs):
                if k in TIMINGS:
                    d.attrs.modify(k, 0.0)
            d.visititems(zero)


def variant(name, base, change, folder=FILES):
    """A copy of `base` changed by change(f) on the h5py file, then repacked into `folder`."""
    dst = os.path.join(folder, name)
    tmp = dst + ".tmp"
    shutil.copyfile(base, tmp)
    with h5py.File(tmp, "r+") as f:
        change(f)
    repack(tmp, dst)
    os.remove(tmp)


def replace(group, name, data, units, dtype=None):
    """Replace (or add) dataset `name` of `group` with `data`, units attribute `units`."""
    if name in group:
        del group[name]
    d = group.create_dataset(name, data=data, dtype=dtype)
    if units is not None:
        d.attrs["units"] = units
    return d


def set_item(path, index, value):
    def change(f):
        a = f[path][()]
        a[index] = value
        f[path][...] = a
    return change


def make_mini():
    """A small measurement file with one data set of each other kind (drift, bake, samples,
    time_series), made up from fixed-seed draws; memcarlo accepts it as it is."""
    rng = np.random.default_rng(20240601)
    with h5py.File(out("mini_ok.h5"), "w") as f:
        f.attrs["format"] = "memcarlo-measurements"
        f.attrs["format_version"] = np.int64(1)
        f.attrs["created_by"] = "tests/hostile/make_corpus.py"
        f.attrs["source"] = "generated: tests/hostile/make_corpus.py"
        f.attrs["licence"] = "generated"
        f.attrs["paper"] = "none"
        f.attrs["provenance"] = "fixed-seed draws for the hostile-input corpus"
        g = f.create_group("relax")
        g.attrs["kind"] = "drift"
        g.attrs["description"] = "made-up drift of 24 devices at 6 levels"
        g.attrs["t0_s"] = 20.0
        t = np.array([20.0, 100.0, 1e3, 1e4, 1e5])
        level = np.arange(24, dtype=np.int64) % 6
        G0 = (2e-6 + 4e-6 * level)[:, None] * rng.uniform(0.9, 1.1, (24, 1))
        nu = rng.normal(0.05, 0.01, (24, 1))
        replace(g, "t", t, "s")
        replace(g, "G", G0 * (t / 20.0) ** (-nu), "S")
        replace(g, "level", level, "1")
        b = f.create_group("bake")
        b.attrs["kind"] = "bake"
        b.attrs["description"] = "made-up bakes at three temperatures"
        n = 30
        Gb = rng.uniform(5e-6, 50e-6, n)
        T = np.repeat([373.15, 423.15, 473.15], n // 3)
        replace(b, "G_before", Gb, "S")
        replace(b, "G_after", Gb * (1 - 0.02 * (T / 373.15) ** 4 * rng.uniform(0.5, 1.5, n)), "S")
        replace(b, "temperature_K", T, "K")
        replace(b, "duration_s", np.full(n, 3600.0), "s")
        s = f.create_group("pts")
        s.attrs["kind"] = "samples"
        s.attrs["description"] = "made-up pulses-to-SET counts"
        s.attrs["quantity"] = "pulses_to_set"
        s.attrs["unit"] = "1"
        replace(s, "value", rng.integers(5, 40, 50).astype(np.float64), "1")
        ts = f.create_group("noise")
        ts.attrs["kind"] = "time_series"
        ts.attrs["description"] = "made-up read noise of 3 devices"
        ts.attrs["sample_rate_Hz"] = 400.0
        replace(ts, "G", 20e-6 + 1e-7 * rng.standard_normal((3, 64)), "S")


def make_small_bases():
    """Small copies of the two bundled files, the bases of the semantic damage: every 16th
    pulses of each Gong cycle, and every 10th quantile and 4th bin of the ENODe tables (with
    the source's root attributes, licence text included). memcarlo accepts both as they are."""
    with h5py.File(GONG, "r") as s, h5py.File(out("gong_small_ok.h5"), "w") as d:
        copy_attrs(s, d)
        d.attrs["provenance"] = "tests/hostile/make_corpus.py: every 16th pulse of each cycle of " + \
            s.attrs["provenance"]
        g = d.create_group("pulse_train")
        copy_attrs(s["pulse_train"], g)
        for name, data in (("G", s["pulse_train/G"][:, :, ::16]), ("polarity", s["pulse_train/polarity"][()])):
            copy_attrs(s["pulse_train"][name], g.create_dataset(name, data=data))
    with h5py.File(ENODE, "r") as s, h5py.File(out("enode_small_ok.h5"), "w") as d:
        copy_attrs(s, d)
        d.attrs["provenance"] = "tests/hostile/make_corpus.py: every 10th quantile and 4th bin of " + \
            s.attrs["provenance"]
        rows = np.unique(np.round(np.linspace(0, 121, 13)).astype(int))
        cols = np.arange(0, 48, 4)
        for name in ("potentiation", "depression"):
            g = d.create_group(name)
            copy_attrs(s[name], g)
            src = s[name]
            for ds, data in (("G_bins", src["G_bins"][()][cols]), ("cdf", src["cdf"][()][rows]),
                             ("dG", src["dG"][()][rows][:, cols])):
                copy_attrs(src[ds], g.create_dataset(ds, data=data))


def make_semantic_damage():
    make_small_bases()
    GONG_S, ENODE_S = out("gong_small_ok.h5"), out("enode_small_ok.h5")
    make_mini()
    MINI = out("mini_ok.h5")
    pt, dg = "pulse_train", "potentiation"
    G = h5py.File(GONG_S, "r")["pulse_train/G"][()]
    strings = np.array([[[b"1e-6"] * 4] * 2], dtype="S8")

    def kind_of(path, kind):
        def change(f):
            f[path].attrs["kind"] = kind
        return change

    # root attributes
    variant("format_wrong.h5", GONG_S, lambda f: f.attrs.__setitem__("format", "memcarlo-train"))
    variant("format_missing.h5", GONG_S, lambda f: f.attrs.__delitem__("format"))
    variant("format_version_99.h5", GONG_S, lambda f: f.attrs.__setitem__("format_version", np.int64(99)))
    variant("format_version_string.h5", GONG_S, lambda f: f.attrs.__setitem__("format_version", "1"))
    variant("no_data_set.h5", GONG_S, lambda f: f.__delitem__(pt))
    variant("dataset_at_root.h5", GONG_S, lambda f: f.create_dataset("stray", data=np.zeros(3)))
    # kinds
    variant("kind_unknown.h5", GONG_S, kind_of(pt, "spectrum"))
    variant("kind_missing.h5", GONG_S, lambda f: f[pt].attrs.__delitem__("kind"))
    variant("kind_integer.h5", GONG_S, lambda f: f[pt].attrs.__setitem__("kind", np.int64(3)))
    variant("kind_lies_drift.h5", GONG_S, kind_of(pt, "drift"))  # a pulse train that claims drift
    # pulse_train
    variant("pt_missing_G.h5", GONG_S, lambda f: f[pt].__delitem__("G"))
    variant("pt_missing_polarity.h5", GONG_S, lambda f: f[pt].__delitem__("polarity"))
    variant("pt_units_furlong.h5", GONG_S, lambda f: f[pt + "/G"].attrs.__setitem__("units", "furlong"))
    variant("pt_units_missing.h5", GONG_S, lambda f: f[pt + "/G"].attrs.__delitem__("units"))
    variant("pt_nan_first.h5", GONG_S, set_item(pt + "/G", (0, 1, 0), np.nan))
    variant("pt_nan_inside.h5", GONG_S, set_item(pt + "/G", (0, 0, 30), np.nan))
    variant("pt_inf.h5", GONG_S, set_item(pt + "/G", (0, 1, 7), np.inf))
    variant("pt_empty_dim.h5", GONG_S, lambda f: replace(f[pt], "G", np.zeros((1, 2, 0)), "1"))
    variant("pt_rank2.h5", GONG_S, lambda f: replace(f[pt], "G", G[0], "1"))
    variant("pt_strings.h5", GONG_S, lambda f: replace(f[pt], "G", strings, "1"))
    variant("pt_polarity_length.h5", GONG_S,
            lambda f: replace(f[pt], "polarity", np.array([1, -1, 1], np.int64), "1"))
    variant("pt_polarity_zero.h5", GONG_S,
            lambda f: replace(f[pt], "polarity", np.array([1, 0], np.int64), "1"))
    variant("pt_polarity_float.h5", GONG_S,
            lambda f: replace(f[pt], "polarity", np.array([0.5, -1.0]), "1"))
    variant("pt_width_negative.h5", GONG_S, lambda f: f[pt].attrs.__setitem__("pulse_width_s", -1e-6))
    variant("pt_power_nan.h5", GONG_S, lambda f: f[pt].attrs.__setitem__("pulse_power_W", np.nan))
    # a chunked dataset of 1 x 2 x 2^31 values: a few hundred bytes on disk, 32 GB in memory
    variant("pt_huge_dim.h5", GONG_S, lambda f: (
        f[pt].__delitem__("G"),
        f[pt].create_dataset("G", shape=(1, 2, 2**31), dtype="f8", chunks=(1, 1, 1024),
                             fillvalue=1.0).attrs.__setitem__("units", "1")))
    # dg_table
    variant("dg_units_furlong.h5", ENODE_S, lambda f: f[dg + "/G_bins"].attrs.__setitem__("units", "furlong"))
    variant("dg_cdf_units_S.h5", ENODE_S, lambda f: f[dg + "/cdf"].attrs.__setitem__("units", "S"))
    variant("dg_nan_dG.h5", ENODE_S, set_item(dg + "/dG", (3, 4), np.nan))
    variant("dg_inf_bins.h5", ENODE_S, set_item(dg + "/G_bins", 10, np.inf))
    variant("dg_bins_decreasing.h5", ENODE_S, set_item(dg + "/G_bins", 6, 0.0))
    variant("dg_cdf_above_one.h5", ENODE_S, set_item(dg + "/cdf", -1, 1.5))
    variant("dg_cdf_length.h5", ENODE_S, lambda f: replace(f[dg], "cdf", f[dg + "/cdf"][:-1], "1"))
    variant("dg_bins_length.h5", ENODE_S, lambda f: replace(f[dg], "G_bins", f[dg + "/G_bins"][:-1], "S"))
    variant("dg_one_bin.h5", ENODE_S, lambda f: (
        replace(f[dg], "G_bins", f[dg + "/G_bins"][:1], "S"),
        replace(f[dg], "dG", f[dg + "/dG"][:, :1], "S")))
    variant("dg_polarity_missing.h5", ENODE_S, lambda f: f[dg].attrs.__delitem__("polarity"))
    variant("dg_polarity_zero.h5", ENODE_S, lambda f: f[dg].attrs.__setitem__("polarity", np.int64(0)))
    variant("dg_polarity_float.h5", ENODE_S, lambda f: f[dg].attrs.__setitem__("polarity", 0.5))
    variant("dg_dG_rank3.h5", ENODE_S, lambda f: replace(f[dg], "dG", f[dg + "/dG"][()][None], "S"))
    variant("dg_dG_strings.h5", ENODE_S,
            lambda f: replace(f[dg], "dG", np.full((13, 12), b"x", dtype="S1"), "S"))
    # drift
    variant("drift_t_furlong.h5", MINI, lambda f: f["relax/t"].attrs.__setitem__("units", "furlong"))
    variant("drift_t_negative.h5", MINI, set_item("relax/t", 0, -20.0))
    variant("drift_t_nan.h5", MINI, set_item("relax/t", 2, np.nan))
    variant("drift_t_not_increasing.h5", MINI, set_item("relax/t", 3, 100.0))
    variant("drift_t_empty.h5", MINI, lambda f: (replace(f["relax"], "t", np.zeros(0), "s"),
                                                   replace(f["relax"], "G", np.zeros((24, 0)), "S")))
    variant("drift_G_inf.h5", MINI, set_item("relax/G", (5, 2), -np.inf))
    variant("drift_G_columns.h5", MINI, lambda f: replace(f["relax"], "G", f["relax/G"][:, :4], "S"))
    variant("drift_G_no_devices.h5", MINI, lambda f: replace(f["relax"], "G", np.zeros((0, 5)), "S"))
    variant("drift_t0_missing.h5", MINI, lambda f: f["relax"].attrs.__delitem__("t0_s"))
    variant("drift_t0_negative.h5", MINI, lambda f: f["relax"].attrs.__setitem__("t0_s", -20.0))
    variant("drift_t0_string.h5", MINI, lambda f: f["relax"].attrs.__setitem__("t0_s", "twenty"))
    variant("drift_temperature_zero.h5", MINI, lambda f: f["relax"].attrs.__setitem__("temperature_K", 0.0))
    variant("drift_level_length.h5", MINI,
            lambda f: replace(f["relax"], "level", np.arange(23, dtype=np.int64), "1"))
    variant("drift_t_read_shape.h5", MINI, lambda f: replace(f["relax"], "t_read", np.zeros((24, 4)), "s"))
    # bake, samples, time_series
    variant("bake_temperature_negative.h5", MINI, set_item("bake/temperature_K", 7, -300.0))
    variant("bake_duration_negative.h5", MINI, set_item("bake/duration_s", 11, -1.0))
    variant("bake_length.h5", MINI, lambda f: replace(f["bake"], "G_after", f["bake/G_after"][:-1], "S"))
    variant("bake_units_celsius.h5", MINI, lambda f: f["bake/temperature_K"].attrs.__setitem__("units", "degC"))
    variant("samples_nan.h5", MINI, set_item("pts/value", 9, np.nan))
    variant("samples_unit_mismatch.h5", MINI, lambda f: f["pts/value"].attrs.__setitem__("units", "s"))
    variant("samples_empty.h5", MINI, lambda f: replace(f["pts"], "value", np.zeros(0), "1"))
    # was found/ (ignored, not refused) until fixed
    variant("samples_censored_no_limit.h5", MINI,
            lambda f: f["pts"].attrs.__setitem__("n_censored", np.int64(4)))
    variant("time_series_nan.h5", MINI, set_item("noise/G", (1, 50), np.nan))
    variant("time_series_rate_zero.h5", MINI, lambda f: f["noise"].attrs.__setitem__("sample_rate_Hz", 0.0))


# ---- results files of memcarlo train and campaign run -------------------------------------


CAMPAIGN = """\
# A two-trial campaign of a tiny MLP (the base of the damaged campaign results files).
[campaign]
name = "hostile-base"
seed = 1
replicas = 1

[base.train]
model = "mlp"
widths = "8"
dataset = "mnist"
epochs = 1
train_samples = 256
test_samples = 100

[[axis]]
key = "train.lr"
values = [0.01, 0.05]
"""


def make_results(memcarlo):
    tmp = tempfile.mkdtemp(prefix="memcarlo-hostile-")
    try:
        def run(*args):
            r = subprocess.run([memcarlo, *args], cwd=tmp, capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"make_corpus.py: {' '.join(args)} failed: {r.stderr.strip()}")
        run("train", "--model", "mlp", "--widths", "8", "--dataset", "mnist", "--epochs", "1",
            "--set", "train_samples=256", "--set", "test_samples=100", "--threads", "1", "--quiet",
            "--out", "train.h5")
        with open(os.path.join(tmp, "campaign.toml"), "w") as f:
            f.write(CAMPAIGN)
        write_text("campaign_base.toml", CAMPAIGN)
        run("campaign", "run", "campaign.toml", "--out", "campaign.h5", "--threads", "1", "--quiet")
        repack(os.path.join(tmp, "train.h5"), out("train_ok.h5"), zero_timings=True)
        repack(os.path.join(tmp, "campaign.h5"), out("campaign_ok.h5"), zero_timings=True)
    finally:
        shutil.rmtree(tmp)

    TRAIN = out("train_ok.h5")
    W = "replicas/000/weights"
    w1 = W + "/layer02_dense.weight"
    variant("train_format_wrong.h5", TRAIN, lambda f: f.attrs.__setitem__("format", "memcarlo-measurements"))
    variant("train_no_replica.h5", TRAIN, lambda f: f["replicas"].__delitem__("000"))
    variant("train_no_weights.h5", TRAIN, lambda f: f["replicas/000"].__delitem__("weights"))
    variant("train_weight_shape.h5", TRAIN, lambda f: replace(f[W], "layer02_dense.weight",
                                                               f[w1][:, :783], "1"))
    variant("train_weight_missing.h5", TRAIN, lambda f: f[W].__delitem__("layer04_dense.bias"))
    variant("train_weight_extra.h5", TRAIN, lambda f: replace(f[W], "layer09_dense.weight",
                                                               np.zeros((3, 3), np.float32), "1"))
    variant("train_weight_strings.h5", TRAIN, lambda f: replace(f[W], "layer04_dense.bias",
                                                                 np.full(10, b"0.5", "S3"), "1"))
    # were found/ (loaded; the run diverged and left its file) until fixed
    variant("train_weight_nan.h5", TRAIN, set_item(w1, (3, 100), np.nan))
    variant("train_weight_inf.h5", TRAIN, set_item(w1, (0, 0), np.inf))
    data = open(TRAIN, "rb").read()
    write_bytes("train_truncated.h5", data[: len(data) // 2])

    CAMP = out("campaign_ok.h5")
    variant("campaign_format_wrong.h5", CAMP, lambda f: f.attrs.__setitem__("format", "memcarlo-train"))
    variant("campaign_version_7.h5", CAMP, lambda f: f.attrs.__setitem__("format_version", np.int64(7)))
    variant("campaign_no_trials.h5", CAMP, lambda f: f.__delitem__("trials"))
    variant("campaign_toml_broken.h5", CAMP,
            lambda f: f.attrs.__setitem__("campaign", "[campaign\nname = 'hostile-base'\n"))
    variant("campaign_trial_id.h5", CAMP, lambda f: f["trials/000001"].attrs.__setitem__("id", np.int64(99)))
    variant("campaign_no_status.h5", CAMP, lambda f: f["trials/000000"].attrs.__delitem__("status"))
    data = open(CAMP, "rb").read()
    write_bytes("campaign_truncated.h5", data[: len(data) // 2])


# ---- TOML, CSV and other text inputs ------------------------------------------------------

TEXT = {
    # memcarlo device simulate --config
    "device_malformed.toml": "[memristor]\nsigma_c2c = 0.003\narea = [4e-12\n",
    "device_unknown_key.toml": "[memristor]\nsigma_c2c = 0.003\nsigma_cycle = 0.01\n",
    "device_unknown_table.toml": "[memristorr]\nsigma_c2c = 0.003\n",
    "device_wrong_type.toml": "[memristor]\narea = \"four square microns\"\n",
    "device_bool_type.toml": "[pcm-drift]\nread_noise = \"yes\"\n",
    "device_negative_sigma.toml": "[memristor]\nsigma_c2c = -0.003\n",
    "device_probability.toml": "[memristor]\np_stuck_on = 1.5\n",
    "device_nan.toml": "[pcm-drift]\nt0 = nan\n",
    "device_inf.toml": "[pcm-drift]\nt_last = inf\n",
    "device_g_range.toml": "[pcm-drift]\ng_lo = 0.9\ng_hi = 0.1\n",
    "device_zero_levels.toml": "[pcm-drift]\nlevels = 0\n",
    "device_duplicate_key.toml": "[memristor]\ncycles = 2\ncycles = 4\n",
    "device_lut_missing.toml": "[lut]\npotentiation_table = \"no_such_file.h5:potentiation\"\n"
                               "depression_table = \"no_such_file.h5:depression\"\n",
    "device_binary.toml": "\x00\x01\x02[memristor]\x00\n",
    # memcarlo train --config
    "run_malformed.toml": "[train]\nmodel = \"mlp\nepochs = 1\n",
    "run_unknown_key.toml": "[train]\nmodel = \"mlp\"\nlearning_rate = 0.1\n",
    "run_unknown_table.toml": "[trian]\nmodel = \"mlp\"\n",
    "run_wrong_type.toml": "[train]\nepochs = \"three\"\n",
    "run_batch_zero.toml": "[train]\nbatch = 0\n",
    "run_lr_negative.toml": "[train]\nlr = -0.5\n",
    "run_lr_nan.toml": "[train]\nlr = nan\n",
    "run_unknown_model.toml": "[train]\nmodel = \"resnet152\"\n",
    "run_unknown_dataset.toml": "[train]\ndataset = \"imagenet\"\n",
    "run_unknown_device.toml": "[train]\nmodel = \"mlp\"\n[analog]\ndevice = \"flux-capacitor\"\n",
    "run_huge_epochs.toml": "[train]\nepochs = 99999999999999999999\n",
    "run_array_value.toml": "[train]\nwidths = [800, 800]\n",
    "model_unknown_layer.toml": "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"transformer\"\n",
    "model_malformed.toml": "[[layers]\ntype = \"dense\"\n",
    "model_zero_width.toml": "[[layers]]\ntype = \"flatten\"\n[[layers]]\ntype = \"dense\"\nout_features = 0\n",
    # memcarlo campaign run
    "campaign_malformed.toml": "[campaign]\nname = \"broken\"\n[[axis]]\nkey = \"train.lr\"\nvalues = [0.01, 0.05\n",
    "campaign_no_name.toml": "[campaign]\nseed = 1\n[base.train]\nmodel = \"mlp\"\n",
    "campaign_unknown_axis.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                  "[[axis]]\nkey = \"train.learning_rate\"\nvalues = [0.01, 0.05]\n",
    "campaign_empty_values.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                  "[[axis]]\nkey = \"train.lr\"\nvalues = []\n",
    "campaign_zero_replicas.toml": "[campaign]\nname = \"x\"\nreplicas = 0\n[base.train]\nmodel = \"mlp\"\n",
    "campaign_seed_in_base.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\nseed = 5\n",
    "campaign_log_range_zero.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                    "[[axis]]\nkey = \"train.lr\"\nrange = { from = 0, to = 1, count = 3, scale = \"log\" }\n",
    "campaign_values_and_range.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                      "[[axis]]\nkey = \"train.lr\"\nvalues = [0.1]\n"
                                      "range = { from = 0.1, to = 1, count = 3 }\n",
    "campaign_axis_wrong_type.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                     "[[axis]]\nkey = \"train.epochs\"\nvalues = [1, \"two\"]\n",
    "campaign_axis_out_of_range.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                       "[[axis]]\nkey = \"train.batch\"\nvalues = [64, -1]\n",
    "campaign_zip_lengths.toml": "[campaign]\nname = \"x\"\ncombine = \"zip\"\n[base.train]\nmodel = \"mlp\"\n"
                                 "[[axis]]\nkey = \"train.lr\"\nvalues = [0.01, 0.05]\n"
                                 "[[axis]]\nkey = \"train.epochs\"\nvalues = [1, 2, 3]\n",
    "campaign_too_many_trials.toml": "[campaign]\nname = \"x\"\nreplicas = 1000\n[base.train]\nmodel = \"mlp\"\n"
                                     "[[axis]]\nkey = \"train.lr\"\nrange = { from = 0.001, to = 1, count = 2000 }\n",
    "campaign_unknown_table.toml": "[campaign]\nname = \"x\"\n[base.training]\nmodel = \"mlp\"\n",
    "campaign_combine_unknown.toml": "[campaign]\nname = \"x\"\ncombine = \"shuffle\"\n[base.train]\nmodel = \"mlp\"\n",
    "campaign_bad_device_config.toml": "[campaign]\nname = \"x\"\n[base.train]\nmodel = \"mlp\"\n"
                                       "[base.analog]\ndevice = \"memristor\"\n"
                                       "[[axis]]\nkey = \"analog.device_config\"\nvalues = [\"no_such_params.toml\"]\n",
}


def make_text():
    for name, text in TEXT.items():
        write_text(name, text)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memcarlo", default=os.path.join(REPO, "build", "apps", "memcarlo"))
    a = p.parse_args()
    if os.path.isdir(FILES):
        shutil.rmtree(FILES)
    os.makedirs(FILES)
    os.makedirs(FOUND, exist_ok=True)  # holds a hand-written README.md too: not emptied
    make_byte_damage()
    make_semantic_damage()
    make_results(os.path.abspath(a.memcarlo))
    make_text()
    sizes = {os.path.relpath(os.path.join(folder, n), HERE): os.path.getsize(os.path.join(folder, n))
             for root in (FILES, FOUND) for folder, _, names in os.walk(root) for n in names}
    total = sum(sizes.values())
    big = [n for n, size in sizes.items() if size >= 100_000]
    if big or total >= 2_000_000:
        sys.exit(f"make_corpus.py: files too large ({total} bytes in all; >= 100 kB: {big})")
    print(f"{len(sizes)} files, {total} bytes, in {os.path.relpath(FILES, REPO)} and {os.path.relpath(FOUND, REPO)}")

if __name__ == "__main__":
    main()
