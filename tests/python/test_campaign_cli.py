#!/usr/bin/python3
"""End-to-end tests of `memcarlo campaign` on the real MNIST cache: a campaign run with one and
two threads, as two shards merged, and killed with SIGKILL at 20 random moments and resumed
each time gives the same results file (timings excluded); every trial is a `memcarlo train`
run with its point's values and its replica's seed; bad input names the key or file and
leaves nothing behind or overwritten.

Usage: /usr/bin/python3 test_campaign_cli.py PATH_TO_MEMCARLO
"""
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import csv
import math

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import memcarlo_results  # noqa: E402

# 3 x 2 points x 3 replicas of a small MLP on 1,000 MNIST images: 18 trials of a fraction of a
# second each.
CAMPAIGN = """
[campaign]
name = "test"
seed = 11
replicas = 3
[base.train]
model = "mlp"
widths = "16"
dataset = "mnist"
epochs = 2
train_samples = 1000
test_samples = 300
[[axis]]
key = "train.lr"
range = { from = 0.01, to = 0.1, count = 3, scale = "log" }
[[axis]]
key = "train.rule"
values = ["bp", "dfa"]
"""

# Differ from run to run by nature; everything else must be identical.
# mpi_rank says where a trial ran (MPI runs only).
TIMINGS = {"trial_time_s", "epoch_time_s", "command", "provenance", "mpi_rank"}

# mpirun of an MPI build (-DMEMCARLO_MPI=ON; set by CTest), or None.
MPIEXEC = os.environ.get("MEMCARLO_MPIEXEC") or None
MPI_ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def run(args, **kw):
    return subprocess.run([MEMCARLO] + args, capture_output=True, text=True, **kw)


def contents(path):
    """Every attribute and dataset of a results file, timings excluded, by path."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for key, value in obj.attrs.items():
                if key not in TIMINGS:
                    out[f"{name}@{key}"] = value
            if isinstance(obj, h5py.Dataset) and name.rsplit("/", 1)[-1] not in TIMINGS:
                out[name] = obj[()]
        for key, value in f.attrs.items():
            if key not in TIMINGS:
                out[f"/@{key}"] = value
        f.visititems(visit)
    return out


class Campaign(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.campaign = self.path("c.toml")
        with open(self.campaign, "w") as f:
            f.write(CAMPAIGN)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def campaign_run(self, out, *extra):
        r = run(["campaign", "run", self.campaign, "--out", out, "--quiet", *extra])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def assert_same(self, a, b):
        ca, cb = contents(a), contents(b)
        self.assertEqual(sorted(ca), sorted(cb))
        for key in ca:
            va, vb = ca[key], cb[key]
            if isinstance(va, np.ndarray):
                np.testing.assert_array_equal(va, vb, err_msg=key)
            else:
                self.assertEqual(va, vb, key)

    def assert_fails(self, args, expect_in, untouched=(), absent=()):
        def read(p):
            with open(p, "rb") as f:
                return f.read()
        before = {p: read(p) for p in untouched}
        r = run(args)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("memcarlo: error:"), lines[0])
        self.assertIn(expect_in, lines[0])
        for p in untouched:
            self.assertEqual(read(p), before[p], f"{p} changed")
        for p in absent:
            self.assertFalse(os.path.exists(p), f"{p} left behind")

    def test_results_do_not_depend_on_threads_or_shards(self):
        one = self.campaign_run(self.path("one.h5"), "--threads", "1")
        two = self.campaign_run(self.path("two.h5"), "--threads", "2")
        self.assert_same(one, two)
        s0 = self.campaign_run(self.path("s0.h5"), "--shard", "0/2")
        s1 = self.campaign_run(self.path("s1.h5"), "--shard", "1/2")
        with h5py.File(s0) as f:
            self.assertEqual(sorted(int(g.attrs["id"]) for g in f["trials"].values()),
                             list(range(0, 18, 2)))
        merged = self.path("merged.h5")
        r = run(["campaign", "merge", s1, s0, "--out", merged])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("18 of 18 trials", r.stdout)
        self.assert_same(one, merged)

    @unittest.skipUnless(MPIEXEC, "memcarlo built without MPI (-DMEMCARLO_MPI=ON)")
    def test_results_do_not_depend_on_mpi_ranks(self):
        one = self.campaign_run(self.path("one.h5"), "--threads", "1")
        mpirun = [MPIEXEC, "--oversubscribe", "-np"]
        two = self.path("ranks.h5")
        r = subprocess.run(mpirun + ["2", MEMCARLO, "campaign", "run", self.campaign, "--out", two],
                           capture_output=True, text=True, env=MPI_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("18 trials: 18 run now (18 completed", r.stdout)  # printed once, by rank 0
        self.assertEqual(r.stdout.count("18 trials"), 1, r.stdout)
        self.assert_same(one, two)
        with h5py.File(two) as f:
            ranks = [int(g.attrs["mpi_rank"]) for g in f["trials"].values()]
        self.assertEqual(len(ranks), 18)
        self.assertTrue(set(ranks) <= {0, 1}, ranks)

        # 3 ranks of 2 threads resume a file that lacks 7 trials, as shard 1/2 lacks its half
        partial = self.path("partial.h5")
        with h5py.File(one) as src, h5py.File(partial, "w") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            src.copy("axes", dst)
            trials = dst.create_group("trials")
            for name in list(src["trials"])[7:]:
                src.copy(f"trials/{name}", trials)
        r = subprocess.run(mpirun + ["3", MEMCARLO, "campaign", "run", self.campaign, "--out", partial,
                                     "--resume", "--threads", "2"],
                           capture_output=True, text=True, env=MPI_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("7 run now (7 completed, 0 diverged, 0 failed), 11 already in the file", r.stdout)
        self.assert_same(one, partial)
        half = self.path("half.h5")
        r = subprocess.run(mpirun + ["2", MEMCARLO, "campaign", "run", self.campaign, "--out", half,
                                     "--shard", "1/2", "--quiet"], capture_output=True, text=True, env=MPI_ENV)
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(half) as f:
            self.assertEqual(sorted(int(g.attrs["id"]) for g in f["trials"].values()),
                             list(range(1, 18, 2)))

        # a rank that reads another campaign takes no trial and says so; rank 0 runs them all
        other = self.write("other.toml", CAMPAIGN.replace("seed = 11", "seed = 12"))
        mixed = self.path("mixed.h5")
        r = subprocess.run([MPIEXEC, "--oversubscribe", "-np", "1", MEMCARLO, "campaign", "run",
                            self.campaign, "--out", mixed, "--quiet", ":", "-np", "1", MEMCARLO,
                            "campaign", "run", other, "--out", mixed, "--quiet"],
                           capture_output=True, text=True, env=MPI_ENV)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("MPI rank 1: campaign", r.stderr)
        self.assertIn("every rank must read the same campaign file", r.stderr)
        self.assert_same(one, mixed)
        with h5py.File(mixed) as f:
            self.assertEqual({int(g.attrs["mpi_rank"]) for g in f["trials"].values()}, {0})

        # an error every rank meets is printed once; nothing is overwritten
        r = subprocess.run(mpirun + ["2", MEMCARLO, "campaign", "run", self.campaign, "--out", two],
                           capture_output=True, text=True, env=MPI_ENV)
        self.assertNotEqual(r.returncode, 0)
        self.assertEqual(r.stderr.count("memcarlo: error:"), 1, r.stderr)
        self.assertIn("exists: --resume", r.stderr)
        self.assert_same(one, two)

    def test_launched_by_mpirun(self):
        # Other commands do not spread over ranks: refused before they do anything (the
        # launcher's environment is enough to tell; no MPI starts).
        env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0")
        out = self.path("x.h5")
        r = subprocess.run([MEMCARLO, "train", "--model", "mlp", "--epochs", "1", "--out", out],
                           capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("only `memcarlo campaign run` spreads over MPI ranks", r.stderr)
        self.assertFalse(os.path.exists(out))
        # rank 1 of such a launch leaves the message to rank 0
        env["OMPI_COMM_WORLD_RANK"] = "1"
        r = subprocess.run([MEMCARLO, "train", "--out", out], capture_output=True, text=True, env=env)
        self.assertEqual((r.returncode, r.stderr), (1, ""))
        if not MPIEXEC:  # a build without MPI refuses to run a campaign as two copies
            env["OMPI_COMM_WORLD_RANK"] = "0"
            r = subprocess.run([MEMCARLO, "campaign", "run", self.campaign, "--out", out],
                               capture_output=True, text=True, env=env)
            self.assertEqual(r.returncode, 1)
            self.assertIn("built without MPI: configure with -DMEMCARLO_MPI=ON", r.stderr)
            self.assertFalse(os.path.exists(out))

    def test_file_layout_and_trials_equal_train_runs(self):
        out = self.campaign_run(self.path("r.h5"))
        with h5py.File(out) as f:
            self.assertEqual(f.attrs["format"], "memcarlo-campaign-results")
            self.assertEqual(f.attrs["format_version"], 1)
            self.assertEqual((f.attrs["points"], f.attrs["trials"]), (6, 18))
            self.assertEqual(f["axes/00"].attrs["key"], "train.lr")
            np.testing.assert_allclose(f["axes/00/values"][()], [0.01, 0.1 ** 1.5, 0.1],
                                       rtol=1e-15)
            self.assertEqual(f["axes/01"].attrs["values"], "['bp', 'dfa']")
            self.assertEqual(len(f["trials"]), 18)
            seeds = {}
            for name, g in f["trials"].items():
                self.assertEqual(g.attrs["status"], "completed")
                self.assertEqual(int(name), g.attrs["id"])
                self.assertEqual(g.attrs["id"], 3 * g.attrs["point"] + g.attrs["replica"])
                self.assertEqual(g["test_accuracy"].attrs["units"], "1")
                seeds.setdefault(int(g.attrs["replica"]), set()).add(int(g.attrs["seed"]))
            # one seed per replica, common to every point, different between replicas
            self.assertEqual([len(s) for s in seeds.values()], [1, 1, 1])
            self.assertEqual(len(set.union(*seeds.values())), 3)
            # trial 9 = point 3 (lr index 1, dfa), replica 0
            t = f["trials/000009"]
            self.assertEqual(t.attrs["train.rule"], "dfa")
            self.assertEqual(t.attrs["train.lr"], f["axes/00/values"][1])
            lr, seed = t.attrs["train.lr"], int(t.attrs["seed"])
            curve = t["test_accuracy"][()]
        # the same run by `memcarlo train`: the same curve, bit for bit
        single = self.path("single.h5")
        r = run(["train", "--model", "mlp", "--widths", "16", "--dataset", "mnist", "--epochs",
                 "2", "--set", "train_samples=1000", "--set", "test_samples=300", "--rule", "dfa",
                 "--lr", repr(float(lr)), "--seed", str(seed), "--quiet", "--out", single])
        self.assertEqual(r.returncode, 0, r.stderr)
        with h5py.File(single) as f:
            np.testing.assert_array_equal(f["replicas/000/test_accuracy"][()], curve)

    def test_sigkill_at_random_moments_then_resume(self):
        start = time.monotonic()
        reference = self.campaign_run(self.path("reference.h5"))
        # Kill moments spread over the time a whole run takes here (so a fast machine is not
        # left with runs that finish before the kill), from start-up to the last trial.
        whole = time.monotonic() - start
        out = self.path("killed.h5")
        rng = random.Random(2026)
        kills = 0
        for attempt in range(80):
            if kills >= 20:
                break
            p = subprocess.Popen([MEMCARLO, "campaign", "run", self.campaign, "--out", out,
                                  "--resume", "--quiet", "--threads", "2"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.02, 0.9) * whole)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                kills += 1
            p.wait()
            if os.path.exists(out):  # whatever the moment, the file reads
                with h5py.File(out) as f:
                    ids = [int(g.attrs["id"]) for g in f["trials"].values()]
                    self.assertEqual(len(ids), len(set(ids)))
            if p.returncode == 0:
                # finished before the kill: start over to keep killing
                os.remove(out)
        self.assertGreaterEqual(kills, 20)
        r = run(["campaign", "run", self.campaign, "--out", out, "--resume", "--quiet"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_same(reference, out)
        leftovers = [n for n in os.listdir(self.tmp.name) if ".tmp-" in n]
        self.assertEqual(leftovers, [])

    def test_analyze_against_numpy(self):
        out = self.campaign_run(self.path("r.h5"))
        report = self.path("report")
        r = run(["analyze", out, "--out", report])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"train\.lr +train\.rule +n +mean +sd +ci95_low")
        self.assertEqual(sorted(os.listdir(report)),
                         ["figure.svg", "heatmap.svg", "summary.csv", "summary.md"])
        with open(os.path.join(report, "summary.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 6)
        # the same statistics from the file with numpy; t quantile of 2 degrees of freedom in
        # closed form: t = (2p - 1) / sqrt(2 p (1 - p)), p = 0.975
        p = 0.975
        t2 = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
        groups = {}
        with h5py.File(out) as f:
            lr_text = f["axes/00"].attrs["values"].strip("[]").split(", ")
            for g in f["trials"].values():
                key = (lr_text[list(f["axes/00/values"][()]).index(g.attrs["train.lr"])],
                       g.attrs["train.rule"])
                groups.setdefault(key, []).append(g.attrs["final_test_accuracy"])
        for row in rows:
            v = np.array(groups[(row["train.lr"], row["train.rule"])])
            self.assertEqual(int(row["n"]), 3)
            mean, sd = v.mean(), v.std(ddof=1)
            self.assertAlmostEqual(float(row["mean"]), mean, delta=1e-6 * abs(mean))
            self.assertAlmostEqual(float(row["sd"]), sd, delta=1e-5 * sd + 1e-12)
            half = t2 * sd / math.sqrt(3)
            self.assertAlmostEqual(float(row["ci95_low"]), mean - half, delta=1e-5)
            self.assertAlmostEqual(float(row["ci95_high"]), mean + half, delta=1e-5)
            self.assertEqual(row["missing"], "0")
        # the Python module reads the same trials and finds the same group means
        trials = memcarlo_results.load_trials(out, as_pandas=False)
        self.assertEqual(list(trials["id"]), list(range(18)))
        self.assertEqual(len(memcarlo_results.load_curves(out)[9]), 2)
        means = memcarlo_results.group_means(trials, ["train.lr", "train.rule"])
        summary = memcarlo_results.read_summary(os.path.join(report, "summary.csv"))
        self.assertEqual(len(means), 6)
        for m in means:
            row = [r for r in summary if r["train.lr"] == m["train.lr"] and r["train.rule"] == m["train.rule"]]
            self.assertEqual(len(row), 1, m)
            self.assertAlmostEqual(row[0]["mean"], m["mean"], delta=1e-6)
            self.assertAlmostEqual(row[0]["sd"], m["sd"], delta=1e-6)
        self.assertEqual(memcarlo_results.axes(out)[1], ("train.rule", ["bp", "dfa"]))
        self.check_plot(summary)
        # comparing a campaign with itself: difference 0, Welch interval of 2 (n - 1) = 4
        # degrees of freedom around it; t of 4 degrees of freedom in closed form
        a = 4 * p * (1 - p)
        t4 = 2 * math.sqrt(math.cos(math.acos(math.sqrt(a)) / 3) / math.sqrt(a) - 1)
        r = run(["analyze", out, "--compare", out, "--out", report])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(report, "compare.csv")) as f:
            rows = list(csv.DictReader(f))
        self.assertEqual(len(rows), 6)
        for row in rows:
            v = np.array(groups[(row["train.lr"], row["train.rule"])])
            self.assertEqual(float(row["b_minus_a"]), 0.0)
            half = t4 * math.sqrt(2 * v.var(ddof=1) / 3)
            self.assertAlmostEqual(float(row["ci95_high"]), half, delta=1e-5 * half + 1e-12)
            self.assertAlmostEqual(float(row["ci95_low"]), -half, delta=1e-5 * half + 1e-12)
        # a heat map over the two axes, and errors naming the bad axis or metric
        with open(os.path.join(report, "heatmap.svg")) as f:
            self.assertIn("mean final_test_accuracy", f.read())
        self.assert_fails(["analyze", out, "--by", "train.epochs"], "has no axis 'train.epochs'")
        self.assert_fails(["analyze", out, "--metric", "pulses"], "--metric pulses: no completed trial")

    def check_plot(self, summary):
        """plot_summary: a line and a band per series, one colour each, legend outside."""
        try:
            import matplotlib
            matplotlib.use("Agg")
        except ImportError:
            self.skipTest("python3-matplotlib is not installed")
        import matplotlib.colors
        ax = memcarlo_results.plot_summary(summary, "train.lr", series="train.rule")
        self.assertEqual(ax.get_xscale(), "log")  # 0.01 .. 0.1
        lines, bands = ax.get_lines(), ax.collections
        self.assertEqual([l.get_label() for l in lines], ["train.rule = bp", "train.rule = dfa"])
        self.assertEqual(len(bands), 2)
        for line, band, rule in zip(lines, bands, ["bp", "dfa"]):
            rows = sorted((r for r in summary if r["train.rule"] == rule), key=lambda r: r["train.lr"])
            np.testing.assert_allclose(line.get_ydata(), [r["mean"] for r in rows])
            np.testing.assert_allclose(band.get_paths()[0].get_extents().intervaly,
                                       [min(r["ci95_low"] for r in rows), max(r["ci95_high"] for r in rows)])
            self.assertEqual(matplotlib.colors.to_hex(line.get_color()),
                             matplotlib.colors.to_hex(band.get_facecolor()[0][:3]))
        self.assertNotEqual(lines[0].get_color(), lines[1].get_color())
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        legend = ax.get_legend().get_window_extent(renderer)
        self.assertGreaterEqual(legend.x0, ax.get_window_extent(renderer).x1)  # right of the plot
        fig.savefig(self.path("plot.svg"))

    def test_device_keys_of_a_run(self):
        # a RUN.toml [memristor] table and --set memristor.KEY act alike, over the preset, and
        # change the result; the results file echoes them
        base = ["train", "--model", "mlp", "--widths", "16", "--dataset", "mnist", "--epochs", "1",
                "--set", "train_samples=1000", "--set", "test_samples=300", "--quiet",
                "--set", "analog.device=memristor"]
        runs = {}
        for name, extra in (("default", []),
                            ("set", ["--set", "memristor.sigma_read=0.3"]),
                            ("file", ["--config", self.write("run.toml", "[memristor]\nsigma_read = 0.3\n")])):
            out = self.path(f"{name}.h5")
            r = run(base + extra + ["--out", out])
            self.assertEqual(r.returncode, 0, r.stderr)
            with h5py.File(out) as f:
                runs[name] = (f["replicas/000/test_loss"][()], f.attrs["config"])
        np.testing.assert_array_equal(runs["set"][0], runs["file"][0])
        self.assertFalse(np.array_equal(runs["set"][0], runs["default"][0]))
        self.assertIn("[memristor]\nsigma_read = 0.3", runs["set"][1])
        self.assert_fails(base + ["--set", "memristor.sigma=1", "--out", self.path("x.h5")],
                          "unknown key 'sigma' of model memristor", absent=[self.path("x.h5")])

    def test_dry_run_lists_points_and_estimates(self):
        r = run(["campaign", "run", self.campaign, "--dry-run"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("6 points x 3 replicas = 18 trials", r.stdout)
        self.assertIn("trials 9..11", r.stdout)
        self.assertIn("train.lr = 0.1, train.rule = 'dfa'", r.stdout)
        self.assertIn("estimate:", r.stdout)

    def test_bad_input(self):
        mc = ["campaign", "run"]
        out = self.path("bad.h5")
        bad_key = self.write("k.toml", '[campaign]\nname = "k"\n[[axis]]\nkey = "train.learning_rate"\nvalues = [1]\n')
        self.assert_fails(mc + [bad_key, "--out", out], "axis 1 (train.learning_rate): unknown key",
                          absent=[out])
        empty = self.write("e.toml", '[campaign]\nname = "e"\n[[axis]]\nkey = "train.lr"\nvalues = []\n')
        self.assert_fails(mc + [empty, "--out", out], "axis 1 (train.lr): values is empty", absent=[out])
        negative = self.write("n.toml", '[campaign]\nname = "n"\n[[axis]]\nkey = "analog.epsilon"\nvalues = [1, -2]\n')
        self.assert_fails(mc + [negative, "--out", out], "analog.epsilon = -2", absent=[out])
        self.assert_fails(mc + [self.campaign, "--out", out, "--shard", "3/2"], "--shard 3/2",
                          absent=[out])
        self.assert_fails(mc + [self.path("missing.toml"), "--out", out], "missing.toml", absent=[out])

        # a finished campaign is neither overwritten nor resumed by another campaign
        done = self.campaign_run(self.path("done.h5"))
        self.assert_fails(mc + [self.campaign, "--out", done, "--quiet"], "exists: --resume",
                          untouched=[done])
        other = self.write("other.toml", CAMPAIGN.replace("seed = 11", "seed = 12"))
        self.assert_fails(mc + [other, "--out", done, "--resume", "--quiet"],
                          "not this campaign", untouched=[done])
        # shards of different campaigns do not merge
        s_other = self.path("s_other.h5")
        r = run(mc + [other, "--out", s_other, "--shard", "1/2", "--quiet"])
        self.assertEqual(r.returncode, 0, r.stderr)
        s0 = self.campaign_run(self.path("s0.h5"), "--shard", "0/2")
        merged = self.path("merged.h5")
        self.assert_fails(["campaign", "merge", s0, s_other, "--out", merged],
                          "shards of different campaigns do not merge", absent=[merged])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:])
