"""The DiMS / RLA dynamics in JAX, shared by benches/jax/dims_diffrax.py and
benches/jax/w_probe.py: the negative log posterior of the workload's MLP (exact GELU) and
the loss-graph acceleration, exactly as geodyn's (DESIGN.md). Needs jax with x64 enabled
by the caller."""
import jax
import jax.numpy as jnp


def make_dynamics(w, sigma, lam):
    """(loss, grad, acc) for a workload dict from `workload.load_workload`:
    L = sum (f - y)^2 / (2 sigma^2) + lambda/2 |theta|^2 over the training rows, and
    a(x, v) = -(v'Hv + kappa) g / (1 + |g|^2) - eta0 sqrt(T) v with T = 1/2 (|v|^2 + (g.v)^2)."""
    widths, shapes, kappa, eta0 = w["widths"], w["shapes"], w["kappa"], w["eta0"]
    X, Y = jnp.array(w["X"]), jnp.array(w["Y"])

    def loss(th):
        o, h = 0, X
        for l in range(len(widths) - 1):
            (wo, wi), n = shapes[2 * l], shapes[2 * l][0] * shapes[2 * l][1]
            W = th[o:o + n].reshape(wo, wi); o += n
            b = th[o:o + wo]; o += wo
            h = h @ W.T + b
            if l < len(widths) - 2:
                h = jax.nn.gelu(h, approximate=False)
        return jnp.sum((h[:, 0] - Y) ** 2) / (2 * sigma ** 2) + 0.5 * lam * jnp.dot(th, th)

    grad = jax.grad(loss)

    def acc(x, v):
        g, hv = jax.jvp(grad, (x,), (v,))
        gv = jnp.dot(g, v)
        T = 0.5 * (jnp.dot(v, v) + gv * gv)
        return -(jnp.dot(v, hv) + kappa) * g / (1.0 + jnp.dot(g, g)) - eta0 * jnp.sqrt(T) * v

    return loss, grad, acc


def make_energy(loss, grad, kappa):
    """A jitted energy(y) -> (H, T, L, |g|^2) at the flat state y = (x, v), with
    H = T + kappa L and T = 1/2 (|v|^2 + (g.v)^2) (the loss graph's metric)."""

    @jax.jit
    def energy(y):
        k = y.shape[0] // 2
        x, v = y[:k], y[k:]
        g = grad(x)
        T = 0.5 * (jnp.dot(v, v) + jnp.dot(g, v) ** 2)
        L = loss(x)
        return T + kappa * L, T, L, jnp.dot(g, g)

    return energy


def make_dopri5(acc):
    """dp5(y0, t0, t1, rtol, atol) -> (y(t1), steps, rejected steps): diffrax's Dopri5 with
    its PID controller on x' = v, v' = acc(x, v), for flat numpy states y = (x, v). Needs
    diffrax."""
    import diffrax
    import numpy as np

    def rhs(t, y, args):
        x, v = y
        return (v, acc(x, v))

    term = diffrax.ODETerm(rhs)

    def dp5(y0, t0, t1, rtol, atol):
        k = y0.shape[0] // 2
        sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), t0, t1, None, (y0[:k], y0[k:]),
                                  stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=10**8,
                                  saveat=diffrax.SaveAt(t1=True))
        return np.concatenate([np.asarray(sol.ys[0][-1]), np.asarray(sol.ys[1][-1])]), \
            int(sol.stats["num_steps"]), int(sol.stats["num_rejected_steps"])

    return dp5


class ROS34PW2:
    """Rang & Angermann (2005): 4 stages, order 3 with any Jacobian, L-stable;
    (I - h GAM J) k_i = h f(y + sum A_ij k_j) + h J sum G_ij k_j, y_{n+1} = y + sum B_i k_i,
    embedded solution with BH."""
    GAM = 0.435866521508459
    A = [[0, 0, 0, 0], [0.87173304301691801, 0, 0, 0], [0.84457060015369423, -0.11299064236484185, 0, 0],
         [0, 0, 1, 0]]
    G = [[0, 0, 0, 0], [-0.87173304301691801, 0, 0, 0], [-0.90338057013044082, 0.054180672388095326, 0, 0],
         [0.24212380706095346, -1.2232505839045147, 0.54526025533510214, 0]]
    B = [0.24212380706095346, -1.2232505839045147, 1.5452602553351020, 0.435866521508459]
    BH = [0.37810903145819369, -0.096042292212423178, 0.5, 0.2179332607542295]
