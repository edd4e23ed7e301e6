"""Function-space statistics of parameter samples on the Snelson data (issue 5): for each
set of samples ([S, K] .npy, e.g. geodyn's samples.npy or the stacked endpoints of
dims_diffrax.py --save-endpoint), the predictive std (over samples, 1/S) averaged over the
training inputs, the held-out gap inputs and a dense grid over the gap, the mixture NLL
-log(1/S sum_s N(y; f_s(x), sigma^2)) per point on train and gap (the definitions of
geodyn's summary.json), and the train-loss quantiles of the samples.

    python3 benches/jax/gap_spread.py --data ../shared/data/snelson_train.csv --arch 1-16-16-1 \
        --noise-std 0.285 --prior-precision 0.209 --map OUT/map.npy NAME=FILE.npy ...
"""
import argparse, json
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import read_snelson, widths_and_shapes
import numpy as np
from math import erf, sqrt

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True)
ap.add_argument("--arch", default="1-16-16-1")
ap.add_argument("--noise-std", type=float, required=True)
ap.add_argument("--prior-precision", type=float, required=True)
ap.add_argument("--map", required=True)
ap.add_argument("sets", nargs="+", help="NAME=FILE.npy with [S, K] samples")
a = ap.parse_args()

widths, _ = widths_and_shapes(a.arch)
tr_x, tr_y, gap_x, gap_y = read_snelson(a.data)
grid = np.linspace(1.5, 3.0, 61)
verf = np.vectorize(erf)
sigma, lam = a.noise_std, a.prior_precision

def forward(th, x):
    h, o = x.reshape(-1, 1), 0
    for l, (i, out) in enumerate(zip(widths[:-1], widths[1:])):
        w = th[o:o + out * i].reshape(out, i); o += out * i
        b = th[o:o + out]; o += out
        h = h @ w.T + b
        if l < len(widths) - 2:
            h = h * 0.5 * (1.0 + verf(h / sqrt(2.0)))
    return h[:, 0]

def loss(th):
    return np.sum((forward(th, tr_x) - tr_y) ** 2) / (2 * sigma ** 2) + 0.5 * lam * th @ th

def mixture_nll(p, y):
    logs = -0.5 * np.log(2 * np.pi) - np.log(sigma) - 0.5 * ((p - y[None, :]) / sigma) ** 2
    mx = logs.max(axis=0)
    return float(np.mean(-(mx + np.log(np.exp(logs - mx).sum(axis=0)) - np.log(p.shape[0]))))

map_loss = loss(np.load(a.map))
for spec in a.sets:
    name, path = spec.split("=", 1)
    s = np.load(path)
    s = s.reshape(1, -1) if s.ndim == 1 else s
    ptr = np.stack([forward(th, tr_x) for th in s])
    pgap = np.stack([forward(th, gap_x) for th in s])
    pgrid = np.stack([forward(th, grid) for th in s])
    rel = np.array([loss(th) / map_loss - 1.0 for th in s])
    print(json.dumps({
        "set": name, "samples": int(s.shape[0]),
        "mean_std_train": float(ptr.std(axis=0).mean()), "mean_std_gap_points": float(pgap.std(axis=0).mean()),
        "mean_std_gap_grid": float(pgrid.std(axis=0).mean()),
        "train_nll": mixture_nll(ptr, tr_y), "gap_nll": mixture_nll(pgap, gap_y),
        "loss_vs_map_median": float(np.median(rel)), "loss_vs_map_min": float(rel.min()), "loss_vs_map_max": float(rel.max()),
    }))
