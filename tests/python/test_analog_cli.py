#!/usr/bin/python3
"""End-to-end tests of `memcarlo train` on simulated device arrays (the [analog] table), on the
real MNIST cache: identical weights, accuracies, pulse statistics and inference accuracies with
one and two threads; the results file's analog and inference groups with units; [analog] from
RUN.toml and --set analog.key; and one-line errors that leave nothing behind for bad keys.

Usage: /usr/bin/python3 test_analog_cli.py PATH_TO_MEMCARLO SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
SOURCE = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else "."
SMALL = ["--model", "lenet5", "--epochs", "1", "--lr", "0.02", "--set", "train_samples=1024",
         "--set", "test_samples=300", "--quiet"]


def run(args):
    return subprocess.run([MEMCARLO] + args, capture_output=True, text=True)


class AnalogTrain(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def train(self, out, *extra):
        r = run(["train", "--out", out, *SMALL, *extra])
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def assert_fails(self, extra, expect_in):
        out = self.path("never.h5")
        r = run(["train", "--out", out, *SMALL, *extra])
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertTrue(lines[0].startswith("memcarlo: error:"), lines[0])
        self.assertIn(expect_in, lines[0])
        self.assertFalse(os.path.exists(out), "output left behind")
        self.assertEqual(os.listdir(self.tmp.name), [], "temporary file left behind")

    def test_threads_do_not_change_results(self):
        for device in (("memristor", "mixed"), ("pcm", "mixed"), ("memristor", "sgd")):
            args = ("--set", f"analog.device={device[0]}", "--set", f"analog.update={device[1]}",
                    "--set", "analog.inference_device=pcm", "--set", "analog.inference_times=1,86400",
                    "--set", "analog.pcm_devices=64", "--replicas", "2")
            a = self.train(self.path("a.h5"), *args, "--threads", "1")
            b = self.train(self.path("b.h5"), *args, "--threads", "2")
            with h5py.File(a) as fa, h5py.File(b) as fb:
                for rep in ("000", "001"):
                    ga, gb = fa[f"replicas/{rep}"], fb[f"replicas/{rep}"]
                    for name in ga["weights"]:
                        self.assertTrue(np.array_equal(ga["weights"][name][()], gb["weights"][name][()]),
                                        f"{device} {name}")
                    self.assertTrue(np.array_equal(ga["test_accuracy"][()], gb["test_accuracy"][()]))
                    for tile in ga["analog"]:
                        self.assertEqual(ga["analog"][tile].attrs["pulses"], gb["analog"][tile].attrs["pulses"])
                        self.assertTrue(np.array_equal(ga["analog"][tile]["pulse_histogram_counts"][()],
                                                       gb["analog"][tile]["pulse_histogram_counts"][()]))
                    for curve in ("test_accuracy", "test_accuracy_compensated"):
                        self.assertTrue(np.array_equal(ga["inference"][curve][()], gb["inference"][curve][()]))
                # Replicas are different devices and seeds.
                self.assertNotEqual(fa["replicas/000/analog"].attrs["pulses"],
                                    fa["replicas/001/analog"].attrs["pulses"])
            os.remove(a)
            os.remove(b)

    def test_results_file(self):
        run_toml = self.path("run.toml")
        with open(run_toml, "w") as f:
            f.write('[train]\nmodel = "lenet5"\n[analog]\ndevice = "memristor"\nupdate = "mixed"\n'
                    'epsilon = 2.0\nlayers = "1,8"\ninference_device = "pcm"\n')
        out = self.train(self.path("r.h5"), "--config", run_toml, "--set", "analog.inference_times=1,3600")
        with h5py.File(out) as f:
            self.assertEqual(f.attrs["format_version"], 2)
            config = f.attrs["config"]
            self.assertIn("[analog]", config)
            self.assertIn("device = 'memristor'", config)
            self.assertIn("epsilon = 2", config)
            g = f["replicas/000/analog"]
            self.assertEqual(sorted(g), ["layer01_conv2d", "layer08_dense"])
            for tile in g.values():
                counts = tile["pulse_histogram_counts"][()]
                edges = tile["pulse_histogram_edges"][()]
                self.assertEqual(len(edges), len(counts) + 1)
                self.assertEqual(counts.sum(), tile.attrs["devices"])
                self.assertEqual(tile.attrs["devices"], 2 * tile.attrs["rows"] * tile.attrs["cols"])
                self.assertAlmostEqual(tile.attrs["epsilon_weight"], 2 * tile.attrs["mean_step_weight"])
            self.assertEqual(g.attrs["pulses"], sum(t.attrs["pulses"] for t in g.values()))
            self.assertGreater(g.attrs["pulses"], 0)
            inf = f["replicas/000/inference"]
            self.assertEqual(list(inf["time_s"][()]), [1.0, 3600.0])
            self.assertEqual(inf["time_s"].attrs["units"], "s")
            for curve in ("test_accuracy", "test_accuracy_compensated"):
                acc = inf[curve][()]
                self.assertTrue(np.all((acc >= 0) & (acc <= 1)), acc)
            self.assertEqual(inf["compensation_factor"].shape, (2, 2))
            # Drift lowers conductances: the compensation raises the outputs, more later.
            c = inf["compensation_factor"][()]
            self.assertTrue(np.all(c[:, 1] > c[:, 0]), c)

    def test_digitally_trained_network_on_an_inference_chip(self):
        out = self.train(self.path("d.h5"), "--set", "analog.inference_device=pcm",
                         "--set", "analog.inference_times=1,31536000")
        with h5py.File(out) as f:
            self.assertNotIn("analog", f["replicas/000"])
            acc = f["replicas/000/inference/test_accuracy"][()]
            self.assertEqual(acc.shape, (2,))

    def test_bad_input(self):
        drift_params = os.path.join(SOURCE, "docs/calibration/stanford_techB_relaxation/params.toml")
        self.assert_fails(["--set", "analog.device=flash"], "unknown analog.device 'flash'")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.update=adam"],
                          "unknown update rule 'adam'")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.epsilon=0"],
                          "analog.epsilon = 0 must be positive")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.epsilon=-1"],
                          "analog.epsilon = -1 must be positive")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.dac_bits=0"],
                          "analog.dac_bits = 0 must be in 1-16")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.adc_bits=17"],
                          "analog.adc_bits = 17 must be in 1-16")
        self.assert_fails(["--set", "analog.device=memristor", "--set", f"analog.device_config={drift_params}"],
                          "holds [pcm-drift], not [memristor]")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.layers=42"],
                          "layer 42 does not exist (the model has 12)")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.layers=2"],
                          "layer 2 is relu")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.colour=red"],
                          "unknown key 'colour'")
        self.assert_fails(["--set", "analog.device=lut"], "needs analog.device_config")
        self.assert_fails(["--set", "analog.device=pcm", "--set", "analog.encoding=reference"],
                          "pcm takes potentiation pulses only")
        self.assert_fails(["--set", "analog.device=pcm", "--set", "analog.pair_update=alternate"],
                          "analog.pair_update = alternate needs bidirectional devices")
        self.assert_fails(["--set", "analog.device=memristor", "--set", "analog.pair_update=both"],
                          "analog.pair_update = 'both': use auto, alternate or potentiation")

    def test_help_lists_analog_keys(self):
        r = run(["train", "--help"])
        self.assertEqual(r.returncode, 0)
        for key in ("device_config", "epsilon", "dac_bits", "adc_bits", "layers", "update",
                    "inference_times", "out_noise", "pair_update"):
            self.assertIn(key, r.stdout)
        self.assertIn("aihwkit", r.stdout)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
