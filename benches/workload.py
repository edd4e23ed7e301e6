"""The side-by-side workload shared by benches/jax/dims_diffrax.py,
benches/torch/dims_torchdiffeq.py and benches/jax/gap_spread.py: the command-line options,
the Snelson CSV (columns x, y, holdout flag) and the MLP layout, defined once so that the
JAX and PyTorch scripts integrate exactly the same inputs. numpy only; each script converts
to its framework's arrays.
"""
import argparse, csv
import numpy as np


def workload_parser(description):
    """Options common to the ODE scripts (MAP, velocities, data, network, DiMS/RLA settings
    and tolerances); scripts add their own."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--map", required=True)
    ap.add_argument("--velocities", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--arch", default="1-16-16-1")
    ap.add_argument("--noise-std", type=float, required=True)
    ap.add_argument("--prior-precision", type=float, required=True)
    ap.add_argument("--sampler", choices=["dims", "rla"], default="dims")
    ap.add_argument("--index", type=int, default=0)
    ap.add_argument("--t1", type=float)
    ap.add_argument("--eta0", type=float, default=0.1)
    ap.add_argument("--kappa", type=float, default=1.0)
    ap.add_argument("--atol", type=float, default=1e-6)
    ap.add_argument("--rtol", type=float, default=1e-7)
    return ap


def read_snelson(path):
    """(train_x, train_y, gap_x, gap_y) as numpy arrays; rows with a non-zero third column
    are the held-out gap."""
    tr_x, tr_y, gap_x, gap_y = [], [], [], []
    with open(path) as f:
        rows = csv.reader(f)
        next(rows)
        for r in rows:
            held_out = len(r) > 2 and float(r[2]) != 0.0
            (gap_x if held_out else tr_x).append(float(r[0]))
            (gap_y if held_out else tr_y).append(float(r[1]))
    return tuple(map(np.array, (tr_x, tr_y, gap_x, gap_y)))


def widths_and_shapes(arch):
    """Layer widths of "1-16-16-1[:act]" and the parameter shapes in PyTorch's
    parameters_to_vector order (weight [out, in], then bias, per layer)."""
    widths = [int(w) for w in arch.split(":")[0].split("-")]
    shapes = []
    for i, o in zip(widths[:-1], widths[1:]):
        shapes += [(o, i), (o,)]
    return widths, shapes


def load_workload(a):
    """From parsed workload options: widths, shapes, θ*, v0 (row `a.index`), training X
    ([N, 1]) and Y, and the sampler's (κ, η0, t1) — DiMS κ, η0 to t1 = 50 by default, RLA
    κ = η0 = 0 to t1 = 1."""
    widths, shapes = widths_and_shapes(a.arch)
    theta0 = np.load(a.map)
    vel = np.load(a.velocities)
    v0 = vel[a.index] if vel.ndim == 2 else vel
    assert sum(int(np.prod(s)) for s in shapes) == theta0.shape[0], "arch does not match the MAP"
    tr_x, tr_y, _, _ = read_snelson(a.data)
    kappa, eta0 = (a.kappa, a.eta0) if a.sampler == "dims" else (0.0, 0.0)
    t1 = a.t1 if a.t1 is not None else (50.0 if a.sampler == "dims" else 1.0)
    return dict(widths=widths, shapes=shapes, theta0=theta0, v0=v0, X=tr_x.reshape(-1, 1), Y=tr_y,
                kappa=kappa, eta0=eta0, t1=t1)
