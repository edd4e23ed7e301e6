"""Probe (issues 4 and 5): near rest, does a linearly implicit step whose Jacobian comes
from the Hessian's eigendecomposition take far fewer right-hand sides than Dopri5?

w_probe.py answered "no" for t in [5, 15], where the particle is still fast (T ~ 6). Most
of a t1 = 1000 DiMS run's steps come later, near rest (T ~ 1e-3), where Dopri5's steps are
held at h*omega ~ 0.7 by the stiffest Hessian mode (omega ~ 1400). This script takes the
state at T0 (Dopri5 at --state-tol from t = 0, cached in --state-cache), then integrates
[T0, T0 + DT] with

- Dopri5 at 1e-11 (reference) and at the given tolerances (diffrax, PID controller);
- ROS34PW2 (Rang & Angermann 2005: 4 stages, order 3 with any Jacobian, L-stable), with
  the Jacobian approximated as J = [[0, I], [-c H, -eta I]] where H = Q diag(lam) Q^T is
  the loss Hessian (eigendecomposed when refreshed), c = (v'Hv + kappa)/(1+|g|^2) and
  eta = eta0 sqrt(T) at the refresh point. Each stage's solve (I - h gamma J) k = r is
  then diagonal in H's eigenbasis: O(K^2) per stage, no LU.

A W-method keeps its order for any J; J only has to carry the stiff spectrum for
stability. L-stability damps the unresolved stiff oscillation (numerical dissipation),
so H can fall faster than the exact dH/dt = -2 eta T; the script counts steps at which H
rises. With --project 1 it adds geodyn's energy projection after each accepted W-step
(v scaled so that H drops by the trapezoidal dissipated energy; the step is rejected if
that correction exceeds 10x the tolerance).

--ranks keeps only the k largest eigenpairs in J (H set to 0 on their complement).
Cost model printed: RHS (4 per attempted step) and refreshes, each counted as k
Hessian-vector products (k = K for the full Hessian), i.e. what a warm-started subspace
iteration would need at least; the probe itself forms the full Hessian with jacfwd.

    python3 benches/jax/rest_probe.py --map OUT/map.npy --velocities OUT/velocities.npy \
        --data ../shared/data/snelson_train.csv --arch 1-16-16-1 --noise-std 0.285 \
        --prior-precision 0.209 --index 0 --t0 100 --dt 10 --state-cache state100.npz \
        --tols 1e-7,1e-5 --refresh 20,100 [--ranks 8,16,32] [--no-dp5]

Needs jax, diffrax, numpy, scipy.
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

ap = workload_parser("rest_probe")
ap.add_argument("--t0", type=float, default=100.0)
ap.add_argument("--dt", type=float, default=10.0)
ap.add_argument("--state-tol", type=float, default=1e-9)
ap.add_argument("--state-cache")
ap.add_argument("--refresh", default="20,100", help="accepted steps between Hessian refreshes")
ap.add_argument("--tols", default="1e-7,1e-5", help="rtol values (atol = 10 rtol)")
ap.add_argument("--ranks", default="0", help="eigenpairs of H kept in J, largest first (0 = all K)")
ap.add_argument("--jac", default="hess", help="comma list of: hess (Hessian eigenpairs), hess1 (plus the "
                "velocity Jacobian's rank-one term), full (jacfwd of the RHS, dense LU; --ranks ignored)")
ap.add_argument("--no-dp5", action="store_true", help="skip the Dopri5 runs at --tols")
ap.add_argument("--project", default="0", help="comma list of 0/1: 1 adds geodyn's energy projection to the "
                "W-step (v scaled so that H drops by the trapezoidal dissipated energy; rejected if the "
                "correction exceeds 10x the tolerance)")
a = ap.parse_args()
w = load_workload(a)
kappa, eta0 = w["kappa"], w["eta0"]
K = w["theta0"].shape[0]
loss, grad, acc = make_dynamics(w, a.noise_std, a.prior_precision)


@jax.jit
def f_j(y):
    return jnp.concatenate([y[K:], acc(y[:K], y[K:])])


hess_j = jax.jit(jax.jacfwd(grad))


energy = make_energy(loss, grad, kappa)
dp5 = make_dopri5(acc)
GAM, A, G = ROS34PW2.GAM, np.array(ROS34PW2.A), np.array(ROS34PW2.G)
B, BH = np.array(ROS34PW2.B), np.array(ROS34PW2.BH)


class HessJ:
    """J = [[0, I], [-c H, -eta I - u w^T]] with H = Q diag(lam) Q^T (negative lam
    clipped to 0) and, with `rank_one`, the velocity Jacobian's rank-one term
    u w^T = 2 g (Hv)^T / (1 + |g|^2) (else u w^T = 0)."""

    def __init__(self, y, rank=0, rank_one=False):
        x, v = jnp.array(y[:K]), jnp.array(y[K:])
        H = np.asarray(hess_j(x))
        H = 0.5 * (H + H.T)
        lam, self.Q = np.linalg.eigh(H)
        self.lam = np.maximum(lam, 0.0)
        if rank:
            self.lam, self.Q = self.lam[-rank:], self.Q[:, -rank:]
        g = np.asarray(grad(x))
        vn = np.asarray(v)
        self.c = (vn @ H @ vn + kappa) / (1.0 + g @ g)
        T = 0.5 * (vn @ vn + (g @ vn) ** 2)
        self.eta = eta0 * np.sqrt(T)
        self.u = 2.0 * g / (1.0 + g @ g) if rank_one else np.zeros(K)
        self.w = H @ vn

    def apply(self, z):
        zx, zv = z[:K], z[K:]
        Hzx = self.Q @ (self.lam * (self.Q.T @ zx))
        return np.concatenate([zv, -self.c * Hzx - self.eta * zv - self.u * (self.w @ zv)])

    def solve(self, h, r):
        """(I - h gamma J) k = r: k_x = r_x + h gamma k_v and
        (M + h gamma u w^T) k_v = r_v - h gamma c H r_x with M = (1 + h gamma eta) I + (h gamma)^2 c H,
        diagonal in H's eigenbasis (on the complement of a rank-k Q, M = (1 + h gamma eta) I);
        the rank-one term by Sherman-Morrison."""
        hg = h * GAM
        d0 = 1.0 + hg * self.eta
        dq = d0 + hg * hg * self.c * self.lam

        def minv(b):
            qb = self.Q.T @ b
            return b / d0 + self.Q @ (qb / dq - qb / d0)

        rx, rv = r[:K], r[K:]
        Hrx = self.Q @ (self.lam * (self.Q.T @ rx))
        kv = minv(rv - hg * self.c * Hrx)
        if self.u.any():
            mu = minv(self.u)
            kv = kv - hg * mu * (self.w @ kv) / (1.0 + hg * (self.w @ mu))
        return np.concatenate([rx + hg * kv, kv])


jac_full_j = jax.jit(jax.jacfwd(f_j))


class FullJ:
    """The exact Jacobian of the right-hand side (jacfwd), dense LU per solve."""

    def __init__(self, y):
        self.J = np.asarray(jac_full_j(jnp.array(y)))
        self.h, self.lu = None, None

    def apply(self, z):
        return self.J @ z

    def solve(self, h, r):
        if h != self.h:
            self.h, self.lu = h, sla.lu_factor(np.eye(2 * K) - h * GAM * self.J)
        return sla.lu_solve(self.lu, r)


def make_j(y, jac, rank):
    if jac == "full":
        return FullJ(y)
    return HessJ(y, rank, rank_one=(jac == "hess1"))


def power_and_parts(y):
    """(H, T, kappa L, dissipated power 2 eta0 T^{3/2}) at y."""
    H, T, L, _ = map(float, energy(jnp.array(y)))
    return H, T, kappa * L, 2.0 * eta0 * T ** 1.5


def ros(y0, t0, t1, rtol, atol, refresh, rank, jac, project=False, h0=1e-3):
    f = lambda y: np.asarray(f_j(jnp.array(y)))
    y, t, h = y0.copy(), t0, h0
    J = make_j(y, jac, rank)
    nj, nf, acc_, rej, rises = 1, 0, 0, 0, 0
    H_prev = float(energy(jnp.array(y))[0])
    P_prev = power_and_parts(y)[3]
    max_rise = 0.0
    hs = []
    while t < t1 - 1e-14:
        h = min(h, t1 - t)
        ks = []
        for i in range(4):
            yi = y + sum((A[i, j] * ks[j] for j in range(i)), np.zeros(2 * K))
            r = h * f(yi)
            if i:
                r = r + h * J.apply(sum((G[i, j] * ks[j] for j in range(i)), np.zeros(2 * K)))
            nf += 1
            ks.append(J.solve(h, r))
        yn = y + sum(B[i] * ks[i] for i in range(4))
        ye = sum((B[i] - BH[i]) * ks[i] for i in range(4))
        sc = atol + rtol * np.maximum(np.abs(y), np.abs(yn))
        err = np.sqrt(np.mean((ye / sc) ** 2))
        if project and err <= 1.0 and np.all(np.isfinite(yn)):
            _, Tn, Vn, Pn = power_and_parts(yn)
            target = H_prev - max(0.0, 0.5 * h * (P_prev + Pn))
            if target <= Vn or Tn <= 0.0:
                err = 2.0  # no velocity reaches the target: reject
            else:
                alpha = np.sqrt((target - Vn) / Tn)
                dv = (alpha - 1.0) * yn[K:]
                err = max(err, 0.1 * np.sqrt(np.mean((dv / sc[K:]) ** 2) / 2.0))
                if err <= 1.0:
                    yn = np.concatenate([yn[:K], alpha * yn[K:]])
        if err <= 1.0 and np.all(np.isfinite(yn)):
            y, t = yn, t + h
            acc_ += 1
            hs.append(h)
            Hn, _, _, P_prev = power_and_parts(y)
            rises += Hn > H_prev
            max_rise = max(max_rise, Hn - H_prev)
            H_prev = Hn
            if refresh and acc_ % refresh == 0:
                J = make_j(y, jac, rank)
                nj += 1
        else:
            rej += 1
        h *= min(5.0, max(0.2, 0.9 * max(err, 1e-10) ** (-1 / 3)))
    return y, acc_, rej, nf, nj, np.array(hs), rises, max_rise


th0, v0 = w["theta0"], w["v0"]
y00 = np.concatenate([th0, v0])
tt = time.perf_counter()
if a.state_cache and os.path.exists(a.state_cache):
    y5 = np.load(a.state_cache)["y"]
    s5 = -1
else:
    y5, s5, _ = dp5(y00, 0.0, a.t0, a.state_tol, a.state_tol)
    if a.state_cache:
        np.savez(a.state_cache, y=y5)
print(f"state at t0={a.t0}: {s5} DP5 steps at {a.state_tol}, {time.perf_counter() - tt:.1f} s", flush=True)
t1 = a.t0 + a.dt
H5, T5, L5, gg5 = map(float, energy(jnp.array(y5)))
Hm = np.asarray(hess_j(jnp.array(y5[:K])))
lam5 = np.linalg.eigvalsh(0.5 * (Hm + Hm.T))
out = {"t0": a.t0, "t1": t1, "H0": H5, "T0": T5, "L0": L5, "g2": gg5, "hess_max": float(lam5[-1]),
       "hess_min": float(lam5[0]), "hess_neg": int((lam5 < 0).sum())}
print(out, flush=True)
tt = time.perf_counter()
yref, sref, _ = dp5(y5, a.t0, t1, 1e-11, 1e-11)
Href, Tref, Lref, _ = map(float, energy(jnp.array(yref)))
out["ref"] = {"steps": sref, "H": Href, "T": Tref, "L": Lref, "s": round(time.perf_counter() - tt, 1)}
print("reference", out["ref"], flush=True)
tols = [float(s) for s in a.tols.split(",")]
for rt in [] if a.no_dp5 else tols:
    at = 10 * rt
    tt = time.perf_counter()
    yd, sd, rj = dp5(y5, a.t0, t1, rt, at)
    H, T, L, _ = map(float, energy(jnp.array(yd)))
    out[f"dp5_{rt:g}"] = {"steps": sd, "rejected": rj, "rhs": 6 * sd, "dtheta": float(np.abs(yd[:K] - yref[:K]).max()),
                          "H": H, "T": T, "L": L, "s": round(time.perf_counter() - tt, 1)}
    print(f"dp5_{rt:g}", out[f"dp5_{rt:g}"], flush=True)
runs = [(rt, refresh, rank, jac, pr) for rt in tols for refresh in [int(s) for s in a.refresh.split(",")]
        for jac in a.jac.split(",") for rank in ([0] if jac == "full" else [int(s) for s in a.ranks.split(",")])
        for pr in [int(s) for s in a.project.split(",")]]
for rt, refresh, rank, jac, pr in runs:
    tt = time.perf_counter()
    yw, acc_, rej, nf, nj, hs, rises, max_rise = ros(y5, a.t0, t1, rt, 10 * rt, refresh, rank, jac, bool(pr))
    H, T, L, _ = map(float, energy(jnp.array(yw)))
    key = f"ros_{jac}_{rt:g}_refresh{refresh}_rank{rank}" + ("_projected" if pr else "")
    out[key] = {"accepted": acc_, "rejected": rej, "rhs": nf, "hessians": nj, "rhs_equiv": nf + nj * (rank or K) * (1 if jac != "full" else 2),
                "H_rises": int(rises), "max_H_rise": max_rise, "dtheta": float(np.abs(yw[:K] - yref[:K]).max()), "H": H, "T": T,
                "L": L, "h_median": float(np.median(hs)) if len(hs) else None,
                "s": round(time.perf_counter() - tt, 1)}
    print(key, out[key], flush=True)
print(json.dumps(out))
