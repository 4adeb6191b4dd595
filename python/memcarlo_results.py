"""Read memcarlo campaign results (`memcarlo campaign run ... --out R.h5`) into tables for
notebooks and scripts. Needs h5py and numpy (Debian: python3-h5py, python3-numpy); pandas
(python3-pandas) is used when installed. The file format is docs/campaigns.md.

    import sys; sys.path.insert(0, "python")
    import memcarlo_results as mr
    trials = mr.load_trials("R.h5")          # one row per trial: axes, status, metrics
    curves = mr.load_curves("R.h5")          # trial id -> test accuracy per epoch
    groups = mr.group_means(trials, ["train.lr"], "final_test_accuracy")
    rows = mr.read_summary("report/summary.csv")   # of `memcarlo analyze R.h5 --out report`
    ax = mr.plot_summary(rows, "analog.epsilon", series="analog.device_config")  # matplotlib

Metric names are those of `memcarlo analyze` (final_test_accuracy, best_test_accuracy,
final_test_loss, final_train_loss, final_train_accuracy, trial_time_s, pulses,
pulses_per_device, refreshes, inference_accuracy_<T>s, inference_accuracy_compensated_<T>s);
the confidence intervals of `memcarlo analyze --out DIR` are in DIR/summary.csv
(read_summary reads it, plot_summary draws it with matplotlib, python3-matplotlib).
"""
import csv
import math

import h5py
import numpy as np

FORMAT = "memcarlo-campaign-results"
FORMAT_VERSION = 1


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _check(f, path):
    if _text(f.attrs.get("format", "")) != FORMAT:
        raise ValueError(f"{path}: not a campaign results file (format {FORMAT})")
    if int(f.attrs["format_version"]) != FORMAT_VERSION:
        raise ValueError(f"{path}: format_version {int(f.attrs['format_version'])}, "
                         f"this module reads {FORMAT_VERSION}")


def axes(path):
    """The campaign's axes in order: a list of (key, values as a list)."""
    out = []
    with h5py.File(path, "r") as f:
        _check(f, path)
        for name in sorted(f["axes"]):
            g = f["axes"][name]
            if "values" in g:
                values = list(g["values"][()])
            else:  # strings and booleans: the TOML array text
                values = [v.strip().strip("'\"") for v in _text(g.attrs["values"]).strip("[]").split(",")]
            out.append((_text(g.attrs["key"]), values))
    return out


def _metrics(g):
    """The metrics of one trial group, named as `memcarlo analyze` names them."""
    m = {}
    if "final_test_accuracy" in g.attrs:
        m["final_test_accuracy"] = float(g.attrs["final_test_accuracy"])
    if "trial_time_s" in g.attrs:
        m["trial_time_s"] = float(g.attrs["trial_time_s"])
    if "test_accuracy" in g:
        acc = g["test_accuracy"][()]
        finite = acc[np.isfinite(acc)]
        m["best_test_accuracy"] = float(finite.max()) if finite.size else math.nan
    for name, key in (("test_loss", "final_test_loss"), ("train_loss", "final_train_loss"),
                      ("train_accuracy", "final_train_accuracy")):
        if name in g:
            v = g[name][()]
            m[key] = float(v[-1]) if v.size else math.nan
    if "analog" in g:
        a = g["analog"]
        devices = sum(float(t.attrs["devices"]) for t in a.values() if "devices" in t.attrs)
        m["refreshes"] = sum(float(t.attrs["refreshes"]) for t in a.values() if "refreshes" in t.attrs)
        if "pulses" in a.attrs:
            m["pulses"] = float(a.attrs["pulses"])
            if devices > 0:
                m["pulses_per_device"] = m["pulses"] / devices
    if "inference" in g:
        inf = g["inference"]
        for t, acc, comp in zip(inf["time_s"][()], inf["test_accuracy"][()],
                                inf["test_accuracy_compensated"][()]):
            m[f"inference_accuracy_{t:.0f}s"] = float(acc)
            m[f"inference_accuracy_compensated_{t:.0f}s"] = float(comp)
    return m


def load_trials(path, as_pandas=None):
    """One row per trial in the file, sorted by id: id, point, replica, seed, status, one column
    per axis key (its value), and the trial's metrics (NaN where a trial lacks one). A pandas
    DataFrame when pandas is installed (or as_pandas=True), else a dict of numpy arrays."""
    rows = []
    with h5py.File(path, "r") as f:
        _check(f, path)
        keys = [_text(f["axes"][n].attrs["key"]) for n in sorted(f["axes"])]
        for g in f["trials"].values():
            row = {"id": int(g.attrs["id"]), "point": int(g.attrs["point"]),
                   "replica": int(g.attrs["replica"]), "seed": int(g.attrs["seed"]),
                   "status": _text(g.attrs["status"])}
            for k in keys:
                v = g.attrs[k]
                row[k] = _text(v) if isinstance(v, (bytes, str)) else v.item()
            row.update(_metrics(g))
            rows.append(row)
    rows.sort(key=lambda r: r["id"])
    columns = []
    for r in rows:
        columns += [c for c in r if c not in columns]
    if as_pandas is None:
        try:
            import pandas  # noqa: F401
            as_pandas = True
        except ImportError:
            as_pandas = False
    table = {c: [r.get(c, math.nan) for r in rows] for c in columns}
    if as_pandas:
        import pandas
        return pandas.DataFrame(table)
    return {c: np.array(v) for c, v in table.items()}


def load_curves(path, name="test_accuracy"):
    """Trial id -> the per-epoch dataset `name` (test_accuracy, test_loss, train_loss,
    train_accuracy, lr, epoch_time_s) of every trial that has it."""
    out = {}
    with h5py.File(path, "r") as f:
        _check(f, path)
        for g in f["trials"].values():
            if name in g:
                out[int(g.attrs["id"])] = g[name][()]
    return out


def group_means(trials, by, metric="final_test_accuracy"):
    """Completed trials grouped by the columns `by`: a list of dicts with the group's values,
    n, mean, sd (ddof 1) and sem. Confidence intervals: `memcarlo analyze` (read_summary)."""
    columns = trials if isinstance(trials, dict) else {c: trials[c].to_numpy() for c in trials.columns}
    done = np.array([s == "completed" for s in columns["status"]])
    values = np.asarray(columns[metric], dtype=float)
    keep = done & np.isfinite(values)
    groups = {}
    for i in np.flatnonzero(keep):
        groups.setdefault(tuple(columns[c][i] for c in by), []).append(values[i])
    out = []
    for key in sorted(groups):
        v = np.array(groups[key])
        sd = float(v.std(ddof=1)) if v.size > 1 else math.nan
        row = dict(zip(by, key))
        row.update(n=int(v.size), mean=float(v.mean()), sd=sd, sem=sd / math.sqrt(v.size))
        out.append(row)
    return out


def read_summary(path):
    """The summary.csv of `memcarlo analyze --out DIR` as a list of dicts (numbers as float)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        for k, v in r.items():
            try:
                r[k] = float(v)
            except ValueError:
                pass
    return rows


def plot_summary(rows, x, series=None, ax=None, ylabel=None, yunit=None, logx=None):
    """Draws the rows of read_summary with matplotlib: the group means against the axis `x`,
    one line per value of the axis `series` (or one line), each with its confidence band in the
    line's colour; the legend sits outside the plot, right of it, so it never covers data.
    logx: log scale on x (default: when every x is positive and they span a decade or more);
    yunit: a unit for SI prefixes on y ("S" gives 2.4 mS, not 0.0024). Returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import EngFormatter

    if ax is None:
        _, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    low = next(k for k in rows[0] if k.startswith("ci") and k.endswith("_low"))
    high = low[:-len("_low")] + "_high"
    keys = sorted({r[series] for r in rows}, key=str) if series else [None]
    for i, key in enumerate(keys):
        part = sorted((r for r in rows if series is None or r[series] == key), key=lambda r: r[x])
        xs = [r[x] for r in part]
        colour = f"C{i % 10}"
        label = None if series is None else f"{series} = {key}"
        ax.plot(xs, [r["mean"] for r in part], "o-", color=colour, label=label)
        ax.fill_between(xs, [r[low] for r in part], [r[high] for r in part], color=colour,
                        alpha=0.2, linewidth=0)
    numeric = all(isinstance(r[x], float) for r in rows)
    if logx is None:
        xs = [r[x] for r in rows] if numeric else [0.0]
        logx = min(xs) > 0 and math.log10(max(xs) / min(xs)) >= 1 - 1e-9
    if logx:
        ax.set_xscale("log")
    if yunit:
        ax.yaxis.set_major_formatter(EngFormatter(unit=yunit))
    ax.set_xlabel(x)
    ax.set_ylabel(ylabel or f"mean, {low[2:-4]} % CI band")
    if series is not None:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    ax.grid(True, alpha=0.3)
    return ax
