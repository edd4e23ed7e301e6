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
