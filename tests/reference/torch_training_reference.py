#!/usr/bin/python3
"""PyTorch reference for memcarlo's training engine: LeNet-5 and VGG-16 at width 0.125 built in
torch.nn exactly as memcarlo's built-in models, with their logits, loss, running statistics and
gradients written to torch_training_reference.h5 for tests/training/test_torch_reference.cpp.

Three cases, one HDF5 group each:
  lenet5     LeNet-5 (`memcarlo train --print-model lenet5`), input (4, 1, 28, 28), train mode.
  vgg_train  VGG-16 with batch norm at width 0.125 (channels 8-16-32-64-64, last dense layer
             unscaled), input (4, 3, 32, 32), train mode: batch statistics, and the running
             mean and variance after the pass (momentum 0.1, from mean 0 and variance 1).
  vgg_eval   the same network and parameters (hard links to vgg_train's) in eval mode with
             non-trivial running statistics, on a new input. To keep the file small, the
             gradients of its six largest conv weights (18432 and 36864 elements) are left
             out: the weight gradient of a convolution does not depend on the mode and is
             checked in full by vgg_train, while the mode-dependent path (batch norm backward
             with the running statistics) is checked by every bias, gamma and beta gradient and
             by the input gradient, which passes through every layer. The group attribute
             omitted_gradients names them.

Each group holds input, labels, logits, loss, input_grad, parameters/ and gradients/ (one
dataset per parameter, vgg_eval: see above; named "layerII_NAME" with II memcarlo's 0-based
layer index and NAME weight, bias, gamma or beta, in memcarlo's order) and, for VGG, running/
(layerII_running_mean, layerII_running_var): for vgg_train after the pass, for vgg_eval the
statistics used.

Parameters and inputs are drawn with a fixed seed (weights and biases from torch's default
U(-1/sqrt(fan_in), 1/sqrt(fan_in))) on a power-of-two grid of about 8 bits, so they are exact
in float16 and stored as float16, about half the space they take as float32. Logits and
gradients are computed in float64 from those exact float32 values and then stored as float32,
so the reference carries only the final rounding; the script also prints how far torch's own
float32 computation lands from it, under the test's measure.

Rerun with: /usr/bin/python3 tests/reference/torch_training_reference.py
"""
import copy
import os

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 20240604
BATCH = 4
CLASSES = 10
VGG_WIDTH = 0.125
VGG_STAGES = [(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, CLASSES))


def scaled(c):
    # memcarlo's build_network: round(c * width), at least 1 (C++ std::round: halves away from 0,
    # which no channel count here meets).
    return max(1, int(round(c * VGG_WIDTH)))


def vgg16_small():
    layers, ch = [], 3
    for channels, convs in VGG_STAGES:
        for _ in range(convs):
            out = scaled(channels)
            layers += [nn.Conv2d(ch, out, 3, padding=1), nn.BatchNorm2d(out), nn.ReLU()]
            ch = out
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(ch, CLASSES)]  # 32x32 -> 1x1 after five poolings
    return nn.Sequential(*layers)


def on_grid(t, step):
    """t rounded to multiples of `step` (a power of two): few significant bits, exact in
    float16, so stored as float16 the parameters and inputs take little space."""
    return (torch.round(t / step) * step).to(torch.float32)


def grid_step(bound):
    # The power of two nearest bound / 128: about 8 bits over [-bound, bound].
    return 2.0 ** round(float(np.log2(bound / 128)))


def randomize(net, gen):
    """Weights and biases as torch's default init draws them, batch-norm gamma in [0.5, 1.5] and
    beta in [-0.5, 0.5] (not 1 and 0, so that their role is tested); all float16-exact."""
    with torch.no_grad():
        for m in net:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                bound = 1.0 / np.sqrt(m.weight[0].numel())
                step = grid_step(bound)
                m.weight.copy_(on_grid((torch.rand(m.weight.shape, generator=gen) * 2 - 1) * bound, step))
                m.bias.copy_(on_grid((torch.rand(m.bias.shape, generator=gen) * 2 - 1) * bound, step))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(on_grid(torch.rand(m.weight.shape, generator=gen) + 0.5, 2.0**-8))
                m.bias.copy_(on_grid(torch.rand(m.bias.shape, generator=gen) - 0.5, 2.0**-8))


def named_parameters(net):
    """(memcarlo name, torch parameter) in memcarlo's order: layer by layer, weight before bias,
    gamma before beta."""
    out = []
    for i, m in enumerate(net):
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            out += [(f"layer{i:02d}_weight", m.weight), (f"layer{i:02d}_bias", m.bias)]
        elif isinstance(m, nn.BatchNorm2d):
            out += [(f"layer{i:02d}_gamma", m.weight), (f"layer{i:02d}_beta", m.bias)]
    return out


def running_stats(net):
    out = []
    for i, m in enumerate(net):
        if isinstance(m, nn.BatchNorm2d):
            out += [(f"layer{i:02d}_running_mean", m.running_mean),
                    (f"layer{i:02d}_running_var", m.running_var)]
    return out


def run(net, x, labels, train, dtype):
    """Forward, mean cross-entropy and backward in `dtype` on a copy of net (so the running
    statistics of net itself are untouched). Returns logits, loss, input gradient, parameter
    gradients and running statistics after the pass, as float64 numpy arrays."""
    net = copy.deepcopy(net).to(dtype)
    net.train(train)
    xin = x.to(dtype).clone().requires_grad_(True)
    logits = net(xin)
    loss = F.cross_entropy(logits, labels)
    net.zero_grad()
    loss.backward()
    to_np = lambda t: t.detach().to(torch.float64).numpy()
    return dict(logits=to_np(logits), loss=float(loss), input_grad=to_np(xin.grad),
                grads=[(n, to_np(p.grad)) for n, p in named_parameters(net)],
                running=[(n, to_np(b)) for n, b in running_stats(net)])


def deviation(a, b):
    """The test's measure of a against the reference b: max |a - b| / max |b| (it requires
    <= 1e-4)."""
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def by_layer(named):
    """Gradients concatenated per layer ("layerII"), the unit the test compares: the bias of a
    conv in front of a train-mode batch norm has an exact gradient of 0, so it is measured
    against its layer's weight gradient."""
    layers = {}
    for n, a in named:
        layers.setdefault(n.split("_")[0], []).append(a.ravel())
    return {k: np.concatenate(v) for k, v in layers.items()}


def new_group(parent, name):
    """A group that records no creation time, so that a rerun gives the same bytes."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def write(group, name, array, dtype=np.float32):
    """One chunk per dataset (h5py's automatic chunks pad 3x3 kernels to 4x4 and cost a third
    more space), shuffle + deflate."""
    a = np.asarray(array)
    assert dtype == np.float32 or np.array_equal(a.astype(dtype).astype(a.dtype), a)
    group.create_dataset(name, data=a.astype(dtype), compression="gzip", compression_opts=9,
                         shuffle=True, chunks=a.shape if a.ndim else None,
                         track_times=False)  # same bytes on every run


def write_case(f, name, net, x, labels, train, description, share_parameters_with=None,
               max_gradient_size=None):
    ref = run(net, x, labels, train, torch.float64)
    f32 = run(net, x, labels, train, torch.float32)
    worst = max([deviation(f32[k], ref[k]) for k in ("logits", "input_grad", "loss")] +
                [deviation(by_layer(f32["grads"])[k], v) for k, v in by_layer(ref["grads"]).items()] +
                [deviation(a[1], b[1]) for a, b in zip(f32["running"], ref["running"])])
    print(f"{name}: loss {ref['loss']:.6f}; torch float32 deviates from float64 by at most "
          f"{worst:.2e} (max |diff| / max |ref|, as the test measures)")
    g = new_group(f, name)
    g.attrs["description"] = description
    g.attrs["mode"] = "train" if train else "eval"
    write(g, "input", x.numpy(), np.float16)
    g.create_dataset("labels", data=labels.numpy().astype(np.int64), track_times=False)
    write(g, "logits", ref["logits"])
    g.create_dataset("loss", data=np.float64(ref["loss"]), track_times=False)
    write(g, "input_grad", ref["input_grad"])
    if share_parameters_with is None:
        params = new_group(g, "parameters")
        for n, p in named_parameters(net):
            write(params, n, p.detach().numpy(), np.float16)
    else:
        g["parameters"] = f[share_parameters_with + "/parameters"]  # hard link, stored once
    grads = new_group(g, "gradients")
    omitted = []
    for n, a in ref["grads"]:
        if max_gradient_size is not None and a.size > max_gradient_size:
            omitted.append(n)
        else:
            write(grads, n, a)
    # The test requires every parameter's gradient unless it is named here.
    g.attrs["omitted_gradients"] = " ".join(omitted)
    if ref["running"]:
        running = new_group(g, "running")
        # Train mode: the statistics after the pass; eval mode: those used (unchanged).
        for n, a in ref["running"]:
            write(running, n, a)


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_training_reference.h5")
    # The v110 format (compact indexes for single-chunk datasets) and no object times, so that a
    # rerun gives the same bytes.
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V110, h5py.h5f.LIBVER_LATEST)
    with h5py.File(h5py.h5f.create(out.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)) as f:
        f.attrs["filetype"] = "memcarlo torch training reference"
        f.attrs["format_version"] = 1
        f.attrs["torch_version"] = str(torch.__version__)
        f.attrs["numpy_version"] = np.__version__
        f.attrs["script"] = "tests/reference/torch_training_reference.py"
        f.attrs["seed"] = SEED
        f.attrs["precision"] = ("parameters and inputs float16-exact float32; outputs computed "
                                "in float64 and stored as float32")

        lenet = lenet5()
        randomize(lenet, gen)
        x = on_grid(torch.rand((BATCH, 1, 28, 28), generator=gen), 2.0**-8)
        labels = torch.randint(0, CLASSES, (BATCH,), generator=gen)
        write_case(f, "lenet5", lenet, x, labels, True,
                   "memcarlo builtin lenet5, train mode, F.cross_entropy (mean)")

        vgg = vgg16_small()
        randomize(vgg, gen)
        x = on_grid(torch.randn((BATCH, 3, 32, 32), generator=gen), 2.0**-6)
        labels = torch.randint(0, CLASSES, (BATCH,), generator=gen)
        write_case(f, "vgg_train", vgg, x, labels, True,
                   "memcarlo builtin vgg16 at width 0.125, train mode (batch statistics, "
                   "running statistics from mean 0 and variance 1 with momentum 0.1)")

        # Running statistics of the right scale for every layer: one train-mode pass with
        # momentum 1 over another batch sets them to that batch's statistics, then the means are
        # shifted and the variances scaled at random, so that eval mode differs from train mode.
        with torch.no_grad():
            for m in vgg:
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 1.0
            vgg.train()
            vgg(torch.randn((8, 3, 32, 32), generator=gen))
            for m in vgg:
                if isinstance(m, nn.BatchNorm2d):
                    m.momentum = 0.1
                    std = m.running_var.sqrt()
                    m.running_mean.copy_(
                        m.running_mean + 0.3 * std * torch.randn(m.running_mean.shape, generator=gen))
                    m.running_var.copy_(
                        m.running_var * (0.6 + 0.8 * torch.rand(m.running_var.shape, generator=gen)))
        x = on_grid(torch.randn((BATCH, 3, 32, 32), generator=gen), 2.0**-6)
        labels = torch.randint(0, CLASSES, (BATCH,), generator=gen)
        write_case(f, "vgg_eval", vgg, x, labels, False,
                   "memcarlo builtin vgg16 at width 0.125, eval mode with the running statistics "
                   "in running/; parameters are those of vgg_train",
                   share_parameters_with="/vgg_train", max_gradient_size=10000)
    print(f"wrote {out} ({os.path.getsize(out) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
