"""Probe (issues 4 and 5): does a linearly implicit (Rosenbrock-W) step with a frozen Jacobian take far
fewer steps than explicit Dopri5 on DiMS once the fast transient is over?

Same workload as benches/jax/dims_diffrax.py. State at t = T0 from a tight Dopri5 run,
then [T0, T0 + DT] with: tight Dopri5 (reference), Dopri5 at the paper's tolerance,
ROS34PW2 (Rang & Angermann 2005; order 3, embedded 2, W-method, L-stable) with the
Jacobian of the RHS frozen at T0, and with the Jacobian refreshed every REFRESH accepted
steps. Prints steps, RHS, Jacobians, |dtheta| vs reference, H and T at the end.

    python3 benches/jax/w_probe.py --map OUT/map.npy --velocities OUT/velocities.npy \
        --data ../shared/data/snelson_train.csv --arch 1-16-16-1 --noise-std 0.285 \
        --prior-precision 0.209 --index 0 --t0 5 --dt 10 --refresh 50

Needs jax, diffrax, numpy, scipy. Slow (dense LU per step, jacfwd Jacobians): ~1 h.
"""
import json, os, sys, time
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from workload import workload_parser, load_workload
from dims_jax import make_dynamics, make_energy, make_dopri5, ROS34PW2
import numpy as np
import scipy.linalg as sla
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp

ap = workload_parser("wprobe")
ap.add_argument("--t0", type=float, default=5.0)
ap.add_argument("--dt", type=float, default=10.0)
ap.add_argument("--refresh", type=int, default=0)
a = ap.parse_args()
w = load_workload(a)
kappa = w["kappa"]
sigma, lam = a.noise_std, a.prior_precision
K = w["theta0"].shape[0]
loss, grad, acc = make_dynamics(w, sigma, lam)


def fflat(y):
    return jnp.concatenate([y[K:], acc(y[:K], y[K:])])


f_j = jax.jit(fflat)
jac_j = jax.jit(jax.jacfwd(fflat))


energy = make_energy(loss, grad, kappa)
dp5 = make_dopri5(acc)
g_, A, G = ROS34PW2.GAM, np.array(ROS34PW2.A), np.array(ROS34PW2.G)
B, BH = np.array(ROS34PW2.B), np.array(ROS34PW2.BH)


def ros(f, jac, y0, t0, t1, rtol, atol, refresh, h0=1e-3):
    y, t, h = y0.copy(), t0, h0
    J = jac(y)
    nj, nf, acc_, rej = 1, 0, 0, 0
    n = y.size
    I = np.eye(n)
    hs = []
    while t < t1 - 1e-14:
        h = min(h, t1 - t)
        lu = sla.lu_factor(I - h * g_ * J)
        ks = []
        for i in range(4):
            yi = y + sum(A[i, j] * ks[j] for j in range(i))
            r = h * f(yi) + h * (J @ sum((G[i, j] * ks[j] for j in range(i)), np.zeros(n)))
            nf += 1
            ks.append(sla.lu_solve(lu, r))
        yn = y + sum(B[i] * ks[i] for i in range(4))
        ye = sum((B[i] - BH[i]) * ks[i] for i in range(4))
        sc = atol + rtol * np.maximum(np.abs(y), np.abs(yn))
        err = np.sqrt(np.mean((ye / sc) ** 2))
        if err <= 1.0 and np.all(np.isfinite(yn)):
            y, t = yn, t + h
            acc_ += 1
            hs.append(h)
            if refresh and acc_ % refresh == 0:
                J = jac(y); nj += 1
        else:
            rej += 1
        h *= min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** (-1 / 3)))
    return y, acc_, rej, nf, nj, np.array(hs)


th0, v0 = w["theta0"], w["v0"]
y00 = np.concatenate([th0, v0])
tt = time.perf_counter()
y5, s5, _ = dp5(y00, 0.0, a.t0, 1e-11, 1e-11)
print(f"state at t0={a.t0}: {s5} tight DP5 steps, {time.perf_counter() - tt:.1f} s", flush=True)
t1 = a.t0 + a.dt
tt = time.perf_counter()
yref, sref, _ = dp5(y5, a.t0, t1, 1e-11, 1e-11)
print(f"reference: {sref} steps, {time.perf_counter() - tt:.1f} s", flush=True)
Href, Tref, Lref, _ = map(float, energy(yref))
H5, T5, L5, _ = map(float, energy(y5))
out = {"t0": a.t0, "t1": t1, "H0": H5, "T0": T5, "ref": {"steps": sref, "H": Href, "T": Tref, "L": Lref}}
fnp = lambda y: np.asarray(f_j(jnp.array(y)))
jnp_ = lambda y: np.asarray(jac_j(jnp.array(y)))
ev = np.linalg.eigvals(jnp_(y5))
out["jac_spectral_radius"] = float(np.abs(ev).max())
for rt in [1e-7, 1e-8, 1e-9]:
    at = 10 * rt
    tt = time.perf_counter()
    yd, sd, rj = dp5(y5, a.t0, t1, rt, at)
    H, T, L, _ = map(float, energy(yd))
    out[f"dp5_{rt:g}"] = {"steps": sd, "rejected": rj, "rhs": 6 * sd, "dtheta": float(np.abs(yd[:K] - yref[:K]).max()),
                          "dv": float(np.abs(yd[K:] - yref[K:]).max()), "H": H, "T": T, "L": L,
                          "s": round(time.perf_counter() - tt, 1)}
    print(rt, out[f"dp5_{rt:g}"], flush=True)
for rt in [1e-7, 1e-8, 1e-9]:
    at = 10 * rt
    for refresh in [0, a.refresh] if a.refresh else [0]:
        tt = time.perf_counter()
        yw, acc_, rej, nf, nj, hs = ros(fnp, jnp_, y5, a.t0, t1, rt, at, refresh)
        H, T, L, _ = map(float, energy(yw))
        key = f"ros34pw2_{rt:g}_refresh{refresh}"
        out[key] = {"accepted": acc_, "rejected": rej, "rhs": nf, "jacobians": nj,
                    "dtheta": float(np.abs(yw[:K] - yref[:K]).max()), "dv": float(np.abs(yw[K:] - yref[K:]).max()),
                    "H": H, "T": T, "L": L, "h_median": float(np.median(hs)) if len(hs) else None,
                    "s": round(time.perf_counter() - tt, 1)}
        print(key, out[key], flush=True)
print(json.dumps(out))
