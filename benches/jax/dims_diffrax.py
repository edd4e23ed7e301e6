"""Side-by-side reference for geodyn's DiMS and RLA samplers: the same sample with JAX +
diffrax, on the same inputs, on the same machine (issue 4).

Run geodyn first; it writes the MAP and the initial velocities it used:

    geodyn sample dims --data ../shared/data/snelson_train.csv --arch 1-16-16-1:gelu \
        --noise-std 0.285 --prior-precision 0.209 --threads 1 --out OUT ...
    python3 benches/jax/dims_diffrax.py --map OUT/map.npy --velocities OUT/velocities.npy \
        --data ../shared/data/snelson_train.csv --arch 1-16-16-1 \
        --noise-std 0.285 --prior-precision 0.209 --sampler dims --index 0

Dynamics exactly as geodyn's (DESIGN.md): loss L = sum (f - y)^2 / (2 sigma^2) +
lambda/2 |theta|^2 over the training rows (CSV columns x, y, holdout flag; flagged rows
dropped), loss-graph metric, a = -(v'Hv + kappa) g / (1 + |g|^2) - eta0 sqrt(T) v with
T = 1/2 (|v|^2 + (g.v)^2); DiMS kappa = 1 to t1 = 50, RLA kappa = eta0 = 0 to t1 = 1.
Solver: diffrax Dopri5 (or Tsit5) with its PID controller, atol 1e-6, rtol 1e-7, float64.
Prints one JSON line: wall time of the (compiled) solve, steps, RHS cost, final loss.
Needs: pip install jax diffrax numpy.
"""
import json, time
import os, sys
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import workload_parser, load_workload
from dims_jax import make_dynamics
import numpy as np
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import diffrax

ap = workload_parser(__doc__.splitlines()[0])
ap.add_argument("--method", choices=["dopri5", "tsit5"], default="dopri5")
ap.add_argument("--save-endpoint", help="write the final parameter vector to this .npy file")
ap.add_argument("--no-bare", action="store_true", help="skip the bare-RHS timing")
a = ap.parse_args()

w = load_workload(a)
t1 = w["t1"]
theta0, v0 = jnp.array(w["theta0"]), jnp.array(w["v0"])
sigma, lam = a.noise_std, a.prior_precision
loss, grad, acc = make_dynamics(w, sigma, lam)

def rhs(t, y, args):
    x, v = y
    return (v, acc(x, v))

solver = diffrax.Dopri5() if a.method == "dopri5" else diffrax.Tsit5()
ctrl = diffrax.PIDController(rtol=a.rtol, atol=a.atol)

@jax.jit
def solve(th, v):
    return diffrax.diffeqsolve(diffrax.ODETerm(rhs), solver, 0.0, t1, None, (th, v),
                               stepsize_controller=ctrl, max_steps=10**8,
                               saveat=diffrax.SaveAt(t1=True))

f_rhs = jax.jit(lambda y: rhs(0.0, y, None))
y0 = (theta0, v0)
jax.block_until_ready(f_rhs(y0))
reps = 0 if a.no_bare else 2000
t = time.perf_counter()
r = y0
for _ in range(reps):
    r = f_rhs(y0)
jax.block_until_ready(r)
rhs_us = (time.perf_counter() - t) / max(reps, 1) * 1e6
compiled = solve.lower(theta0, v0).compile()  # compile ahead of time, so one solve is timed
t = time.perf_counter()
sol = compiled(theta0, v0)
jax.block_until_ready(sol.ys)
wall = time.perf_counter() - t
xe, ve = sol.ys[0][-1], sol.ys[1][-1]
if a.save_endpoint:
    np.save(a.save_endpoint, np.asarray(xe, dtype=np.float64))
ge = grad(xe)
g0 = grad(theta0)
kin0 = 0.5 * (jnp.dot(v0, v0) + jnp.dot(g0, v0) ** 2)
kin_e = 0.5 * (jnp.dot(ve, ve) + jnp.dot(ge, ve) ** 2)
st = sol.stats
steps = int(st["num_steps"])
print(json.dumps({
    "sampler": a.sampler, "method": a.method, "t1": t1, "index": a.index, "wall_s": round(wall, 3),
    "steps": steps, "accepted": int(st["num_accepted_steps"]), "rejected": int(st["num_rejected_steps"]),
    "rhs_evaluations": 6 * steps + 1, "us_per_rhs_in_solve": round(wall / (6 * steps + 1) * 1e6, 1),
    "us_per_rhs_bare_jit": round(rhs_us, 1) if reps else None, "map_loss": float(loss(theta0)), "final_loss": float(loss(xe)),
    "initial_kinetic": float(kin0), "final_kinetic": float(kin_e),
    "kinetic_drift": float(abs(kin_e / kin0 - 1.0)),
}))
