#!/usr/bin/python3
"""Training throughput of memcarlo against PyTorch on the CPU, measured side by side.

For LeNet-5 on MNIST (batch 64, one thread) it runs ../shared/bench/torch_lenet.py, the
reference script; for the MLP 784-800-800-10 (tanh) and VGG-16 at width 1/4 on CIFAR-10 it runs
the same protocol in torch here (20 warm-up steps, then timed steps of forward, backward and
SGD with momentum). memcarlo's figure is replica_train_samples_per_s of `memcarlo train` (its
training steps only, batch assembly included, evaluation excluded). Runs alternate
torch/memcarlo `--repeats` times and the medians are compared, so a slow spell of this noisy
machine hits both. Finally two replicas on two threads against one on one thread.

Usage: /usr/bin/python3 bench/bench_training.py [--memcarlo build/apps/memcarlo]
         [--data-dir ~/.cache/memcarlo/datasets] [--repeats 3] [--batches 300] [--only lenet5 mlp vgg16 replicas]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_LENET = os.path.join(HERE, "..", "..", "shared", "bench", "torch_lenet.py")

# PyTorch side for the models torch_lenet.py does not have (same protocol as that script).
TORCH_OTHER = r"""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
model, batches = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(1); torch.manual_seed(0)
B = 64
if model == "mlp":
    m = nn.Sequential(nn.Flatten(), nn.Linear(784, 800), nn.Tanh(), nn.Linear(800, 800), nn.Tanh(),
                      nn.Linear(800, 10))
    X = torch.rand(60000 // 8, 1, 28, 28)
else:  # VGG-16 (configuration D, batch norm) at width 1/4 for 32x32, as memcarlo's vgg16 --width 0.25
    layers, c = [], 3
    for v in [16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 128, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
            c = v
    m = nn.Sequential(*layers, nn.Flatten(), nn.Linear(128, 10))
    X = torch.rand(50000 // 8, 3, 32, 32)
Y = torch.randint(0, 10, (X.shape[0],))
opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)
def step(i):
    j = (i * B) % (X.shape[0] - B)
    opt.zero_grad(); loss = F.cross_entropy(m(X[j:j + B]), Y[j:j + B]); loss.backward(); opt.step()
for i in range(20): step(i)
t = time.perf_counter()
for i in range(20, 20 + batches): step(i)
print(f"train_samples_per_s={batches * B / (time.perf_counter() - t):.0f}")
"""

MODELS = {
    "lenet5": (["--model", "lenet5", "--dataset", "mnist"], "LeNet-5, MNIST"),
    "mlp": (["--model", "mlp", "--widths", "800,800", "--dataset", "mnist"], "MLP 784-800-800-10 tanh, MNIST"),
    "vgg16": (["--model", "vgg16", "--width", "0.25", "--dataset", "cifar10"], "VGG-16 width 1/4, CIFAR-10"),
}


def torch_rate(model, args):
    if model == "lenet5":
        cmd = ["/usr/bin/python3", TORCH_LENET, os.path.join(args.data_dir, "mnist"), "1", "lenet5",
               str(args.batches)]
    else:
        batches = args.batches if model == "mlp" else max(20, args.batches // 10)
        cmd = ["/usr/bin/python3", "-c", TORCH_OTHER, model, str(batches)]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    for word in r.stdout.split():
        if word.startswith("train_samples_per_s="):
            return float(word.split("=")[1])
    sys.exit(f"bench_training: no throughput in the output of {' '.join(cmd)}: {r.stdout} {r.stderr}")


def memcarlo_rates(model, args, replicas=1, threads=1, batches=None):
    batches = batches or (args.batches if model != "vgg16" else max(20, args.batches // 10))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "bench.h5")
        cmd = [args.memcarlo, "train", *MODELS[model][0], "--epochs", "1", "--lr", "0.01",
               "--replicas", str(replicas), "--threads", str(threads), "--out", out, "--quiet",
               "--set", f"train_samples={64 * batches}", "--set", "test_samples=100",
               "--set", "save_weights=false", "--set", f"data_dir={args.data_dir}"]
        subprocess.run(cmd, capture_output=True, text=True, check=True)
        with h5py.File(out) as f:
            return list(f["summary/replica_train_samples_per_s"][()])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--memcarlo", default="build/apps/memcarlo")
    ap.add_argument("--data-dir", default=os.environ.get(
        "MEMCARLO_DATA_DIR", os.path.expanduser("~/.cache/memcarlo/datasets")))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batches", type=int, default=300)
    ap.add_argument("--only", nargs="*", default=["lenet5", "mlp", "vgg16", "replicas"])
    args = ap.parse_args()
    print(f"training throughput, batch 64, one thread, median of {args.repeats} alternating runs "
          f"({time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()[0]:.2f})")
    for model in [m for m in ("lenet5", "mlp", "vgg16") if m in args.only]:
        t, m = [], []
        for _ in range(args.repeats):
            t.append(torch_rate(model, args))
            m.append(memcarlo_rates(model, args)[0])
        tm, mm = statistics.median(t), statistics.median(m)
        print(f"  {MODELS[model][1]:<34} memcarlo {mm:8.0f}/s  PyTorch {tm:8.0f}/s  ratio {mm / tm:5.2f}x"
              f"  (target >= 1.5x; runs: memcarlo {', '.join(f'{v:.0f}' for v in m)};"
              f" torch {', '.join(f'{v:.0f}' for v in t)})")
    if "replicas" in args.only:
        one, two = [], []
        for _ in range(args.repeats):
            one.append(sum(memcarlo_rates("lenet5", args, 1, 1)))
            two.append(sum(memcarlo_rates("lenet5", args, 2, 2)))
        o, w = statistics.median(one), statistics.median(two)
        print(f"  LeNet-5 replicas: 2 on 2 threads {w:.0f}/s, 1 on 1 thread {o:.0f}/s, ratio {w / o:.2f}x"
              f" (target >= 1.8x)")


if __name__ == "__main__":
    main()
