"""Side-by-side reference for geodyn's DiMS and RLA samplers on the DiMS paper's own stack:
PyTorch + torchdiffeq, on the same inputs as geodyn and benches/jax/dims_diffrax.py.

Run geodyn first; it writes the MAP and the initial velocities it used:

    geodyn sample dims --data ../shared/data/snelson_train.csv --arch 1-16-16-1:gelu \
        --noise-std 0.285 --prior-precision 0.209 --threads 1 --out OUT ...
    python3 benches/torch/dims_torchdiffeq.py --map OUT/map.npy --velocities OUT/velocities.npy \
        --data ../shared/data/snelson_train.csv --arch 1-16-16-1 \
        --noise-std 0.285 --prior-precision 0.209 --sampler dims --index 0

Dynamics exactly as geodyn's and the JAX script's: loss L = sum (f - y)^2 / (2 sigma^2) +
lambda/2 |theta|^2 over the training rows (CSV columns x, y, holdout flag; flagged rows
dropped), MLP with exact (erf) GELU and theta in parameters_to_vector order (weight
[out, in] then bias, per layer), loss-graph metric,
a = -(v'Hv + kappa) g / (1 + |g|^2) - eta0 sqrt(T) v with T = 1/2 (|v|^2 + (g.v)^2);
DiMS kappa = 1, eta0 = 0.1 to t1 = 50, RLA kappa = eta0 = 0 to t1 = 1.

The RHS is built as in the authors' stack: g = dL/dtheta by torch.autograd.grad with
create_graph=True, then v'Hv from a second (double) backward of g.v, i.e. one
Hessian-vector product per RHS. Solver: torchdiffeq.odeint, dopri5 with its default
controller (RMS norm over the concatenated state (theta, v)), atol 1e-6, rtol 1e-7,
float64. Note that torchdiffeq steps past t1 and returns the dense-output interpolant at
t1 (diffrax clips the last step to t1).

Prints one JSON line: wall time of the solve, steps (accepted / rejected, counted by
torchdiffeq's step callbacks), RHS evaluations (counted in the RHS), us per RHS, final
loss, initial and final kinetic energy T and the relative T drift.
--bare N instead times N RHS calls at (theta*, v0) and prints us per call.
Needs: pip install torch torchdiffeq numpy.
"""
import json, time
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import workload_parser, load_workload
import numpy as np
import torch
import torchdiffeq

ap = workload_parser(__doc__.splitlines()[0])
ap.add_argument("--method", default="dopri5", help="any torchdiffeq adaptive method; dopri5 default")
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--bare", type=int, default=0, metavar="N",
                help="only time N bare RHS calls at (theta*, v0) and print us per call")
a = ap.parse_args()

torch.set_num_threads(a.threads)
torch.set_default_dtype(torch.float64)
dt = torch.float64

w = load_workload(a)
widths, shapes, kappa, eta0, t1 = w["widths"], w["shapes"], w["kappa"], w["eta0"], w["t1"]
theta0, v0 = torch.tensor(w["theta0"], dtype=dt), torch.tensor(w["v0"], dtype=dt)
X, Y = torch.tensor(w["X"], dtype=dt), torch.tensor(w["Y"], dtype=dt)
sigma, lam = a.noise_std, a.prior_precision
K = theta0.shape[0]


def loss(th):
    """Gaussian NLL + Gaussian prior; th flat in parameters_to_vector order."""
    o, h = 0, X
    for l in range(len(widths) - 1):
        (wo, wi), n = shapes[2 * l], shapes[2 * l][0] * shapes[2 * l][1]
        w = th[o:o + n].view(wo, wi); o += n
        b = th[o:o + wo]; o += wo
        h = torch.nn.functional.linear(h, w, b)
        if l < len(widths) - 2:
            h = torch.nn.functional.gelu(h)  # approximate='none': exact erf GELU
    return torch.sum((h[:, 0] - Y) ** 2) / (2 * sigma ** 2) + 0.5 * lam * torch.dot(th, th)


def grad(th):
    with torch.enable_grad():
        x = th.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(loss(x), x)
    return g




class RHS(torch.nn.Module):
    """d/dt (theta, v) = (v, a); counts evaluations and (through torchdiffeq's step
    callbacks) accepted and rejected steps."""

    def __init__(self):
        super().__init__()
        self.nfe = 0
        self.accepted = 0
        self.rejected = 0

    def forward(self, t, y):
        self.nfe += 1
        x, v = y[:K], y[K:]
        with torch.enable_grad():
            x = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(loss(x), x, create_graph=True)
            gv = torch.dot(g, v)
            (hv,) = torch.autograd.grad(gv, x)  # double backward: H v
        g = g.detach()
        gv = gv.detach()
        T = 0.5 * (torch.dot(v, v) + gv * gv)
        acc = -(torch.dot(v, hv) + kappa) * g / (1.0 + torch.dot(g, g)) - eta0 * torch.sqrt(T) * v
        return torch.cat([v, acc])

    def callback_accept_step(self, t0, y0, dt):
        self.accepted += 1

    def callback_reject_step(self, t0, y0, dt):
        self.rejected += 1


f = RHS()
y0 = torch.cat([theta0, v0])

if a.bare:
    with torch.no_grad():
        for _ in range(min(50, a.bare)):  # warm-up
            f(torch.tensor(0.0), y0)
        t = time.perf_counter()
        for _ in range(a.bare):
            r = f(torch.tensor(0.0), y0)
        us = (time.perf_counter() - t) / a.bare * 1e6
    print(json.dumps({"stack": "torch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                      "index": a.index, "bare_calls": a.bare, "us_per_rhs_bare": round(us, 1)}))
    raise SystemExit

with torch.no_grad():
    f(torch.tensor(0.0), y0)  # warm-up outside the timed solve
    f.nfe = 0
    ts = torch.tensor([0.0, t1], dtype=dt)
    t = time.perf_counter()
    ys_ = torchdiffeq.odeint(f, y0, ts, method=a.method, rtol=a.rtol, atol=a.atol)
    wall = time.perf_counter() - t
ye = ys_[-1]
xe, ve = ye[:K], ye[K:]
ge, g0 = grad(xe), grad(theta0)
kin0 = 0.5 * (torch.dot(v0, v0) + torch.dot(g0, v0) ** 2)
kin_e = 0.5 * (torch.dot(ve, ve) + torch.dot(ge, ve) ** 2)
steps = f.accepted + f.rejected
print(json.dumps({
    "stack": "torch+torchdiffeq", "sampler": a.sampler, "method": a.method, "t1": t1, "index": a.index,
    "atol": a.atol, "rtol": a.rtol, "threads": torch.get_num_threads(), "wall_s": round(wall, 3),
    "steps": steps, "accepted": f.accepted, "rejected": f.rejected,
    "rhs_evaluations": f.nfe, "us_per_rhs_in_solve": round(wall / max(f.nfe, 1) * 1e6, 1),
    "map_loss": float(loss(theta0)), "final_loss": float(loss(xe)),
    "initial_kinetic": float(kin0), "final_kinetic": float(kin_e),
    "kinetic_drift": float(abs(kin_e / kin0 - 1.0)),
}))
