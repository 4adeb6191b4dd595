#!/usr/bin/python3
"""Runs memcarlo on the committed corpus of hostile inputs (tests/hostile/cases.toml, input
files in tests/hostile/files, made by tests/hostile/make_corpus.py): truncated and bit-flipped
HDF5 files, wrong kinds, units and dtypes, NaN/Inf where forbidden, empty and huge dimensions,
damaged results files, malformed TOML, unknown keys, out-of-range values, contradictory flags,
and missing or unwritable paths.

Every case must exit with a positive status (1, memcarlo's error exit, unless the case says
`code = N`; never a signal), print exactly one line on stderr, starting with
"memcarlo: error:" and holding the case's `expect` (the file, key or value it names), print no
sanitizer report, and leave its fresh output directory `{out}` empty (no output file, no
.tmp- leftover). No file of the corpus may change. Damaged HDF5 files that hang HDF5 are cut
off by memcarlo after MEMCARLO_HDF5_TIMEOUT = 2 s.

In a case's args and expect, {files} is the absolute path of tests/hostile/files and {out} a fresh empty
temporary directory, which is also the working directory of the run (so an output written to
a relative path would be found there). The MNIST cache is the usual one ($MEMCARLO_DATA_DIR or
~/.cache/memcarlo/datasets, fetched by scripts/setup.sh).

Usage: /usr/bin/python3 test_hostile_corpus.py PATH_TO_MEMCARLO
"""
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest

MEMCARLO = os.path.abspath(sys.argv[1]) if len(sys.argv) > 1 else "build/apps/memcarlo"
HOSTILE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "hostile")
FILES = os.path.join(HOSTILE, "files")
CASES = os.path.join(HOSTILE, "cases.toml")
TIMEOUT_S = 60


def load_cases():
    with open(CASES, "rb") as f:
        return tomllib.load(f)["case"]


def tree_hashes(root):
    """{relative path: sha256} of every file under root, and every folder (as 'dir')."""
    out = {}
    for folder, dirs, files in os.walk(root):
        for d in dirs:
            out[os.path.relpath(os.path.join(folder, d), root)] = "dir"
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def leftovers(root):
    found = []
    for folder, dirs, files in os.walk(root):
        found += [os.path.relpath(os.path.join(folder, n), root) for n in dirs + files]
    return sorted(found)


class HostileCorpus(unittest.TestCase):
    def test_manifest(self):
        cases = load_cases()
        self.assertGreaterEqual(len(cases), 70)
        names = [c["name"] for c in cases]
        self.assertEqual(len(names), len(set(names)), "case names repeat")
        for c in cases:
            self.assertLessEqual(set(c), {"name", "args", "expect", "stdin", "code"}, c["name"])
            self.assertTrue(c["expect"].strip(), c["name"])
            for arg in c["args"]:
                if "{files}/" in arg:
                    # every named corpus file exists (missing inputs are named no_such_*)
                    rel = arg.split("{files}/", 1)[1].split(":")[0].split("/")[0]
                    if not rel.startswith("no_such"):
                        self.assertTrue(os.path.exists(os.path.join(FILES, rel)), f"{c['name']}: {rel}")

    def test_every_case_fails_cleanly(self):
        cases = load_cases()
        before = tree_hashes(FILES)
        env = dict(os.environ, MEMCARLO_HDF5_TIMEOUT="2")
        start = time.monotonic()
        for case in cases:
            with self.subTest(case["name"]), tempfile.TemporaryDirectory(prefix="hostile-") as out:
                expand = lambda s: s.replace("{files}", FILES).replace("{out}", out)
                args = [expand(a) for a in case["args"]]
                stdin = case.get("stdin")
                try:
                    r = subprocess.run([MEMCARLO] + args, cwd=out, env=env, timeout=TIMEOUT_S,
                                       input=stdin.encode() if stdin is not None else None,
                                       stdin=subprocess.DEVNULL if stdin is None else None,
                                       capture_output=True)
                except subprocess.TimeoutExpired:
                    self.fail(f"no exit within {TIMEOUT_S} s: memcarlo {' '.join(args)}")
                stderr = r.stderr.decode("utf-8", "backslashreplace")
                where = f"\nmemcarlo {' '.join(args)}\nexit {r.returncode}; stderr:\n{stderr}"
                self.assertGreater(r.returncode, 0, "exit 0, or killed by a signal" + where)
                self.assertEqual(r.returncode, case.get("code", 1), where)
                for line in stderr.splitlines():
                    self.assertNotIn("Sanitizer", line, where)
                    self.assertNotIn("runtime error", line, where)
                lines = stderr.splitlines()
                self.assertEqual(len(lines), 1, "not exactly one line on stderr" + where)
                self.assertTrue(lines[0].startswith("memcarlo: error:"), where)
                self.assertIn(expand(case["expect"]), lines[0], where)
                self.assertEqual(leftovers(out), [], "left behind in {out}" + where)
        elapsed = time.monotonic() - start
        after = tree_hashes(FILES)
        changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        self.assertEqual(changed, [], "files of tests/hostile/files changed, appeared or vanished")
        print(f"\n{len(cases)} hostile cases in {elapsed:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
