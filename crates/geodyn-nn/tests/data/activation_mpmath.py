"""Generates activation_mpmath.txt, the reference table of tests/fastmath_kernels.rs.

mpmath 1.3.0 at 60 significant digits, at the exact binary value of every f64 input;
each column is the exact value rounded to the nearest f64 (Python repr, which
round-trips). Columns:

    x  Phi(x)  phi(x)  sigmoid(x)  sigmoid(-x)
       gelu gelu' gelu''   silu silu' silu''   tanh tanh' tanh''

with gelu = x Phi(x), silu = x sigmoid(x) and the derivatives in closed form
(gelu' = Phi + x phi, gelu'' = (2 - x^2) phi, silu' = s (1 + x (1 - s)),
silu'' = s (1 - s) (2 + x (1 - 2 s)), tanh' = sech^2, tanh'' = -2 tanh sech^2).

Run: python3 activation_mpmath.py > activation_mpmath.txt
"""
import random
from mpmath import mp, mpf, ncdf, npdf, exp, tanh, cosh

mp.dps = 60

xs = [k / 2 for k in range(-80, 81)]  # -40, -39.5, ..., 40
rng = random.Random(20240601)
xs += [rng.uniform(-40.0, 40.0) for _ in range(120)]
xs += [rng.uniform(-8.0, 8.0) for _ in range(160)]
xs += [
    # Cody's interval ends for Phi (0.67448975, sqrt(32)) and their neighbours
    0.67448975, 0.6744897499999999, 0.6744897500000001,
    5.656854249492380, 5.656854249492381, 5.656854249492379,
    # zeros of the derivatives: gelu' (-0.7517915...), gelu'' (sqrt 2),
    # silu' (-1.2784645...), silu'' (2.3994...), and points near them
    -0.75179150, -0.7517915, 1.4142135623730951, -1.2784645427610738,
    2.3993572805154676, -2.3993572805154676,
    # tiny, subnormal and lower-tail points where Phi is (almost) subnormal
    1e-8, 1e-300, 5e-324, 2.2250738585072014e-308, -37.5, -37.0, -36.0, 37.5,
    0.1, 0.3, 0.6, 1.0, 2.0, 3.0,
]
xs += [-x for x in xs[-20:] if x != 0.0]

def r(v):
    return repr(float(v))

print("# x Phi phi sigmoid(x) sigmoid(-x) gelu gelu' gelu'' silu silu' silu'' tanh tanh' tanh''")
for x in xs:
    X = mpf(x)
    P, p = ncdf(X), npdf(X)
    s, sm = 1 / (1 + exp(-X)), 1 / (1 + exp(X))
    t, sech2 = tanh(X), 1 / cosh(X) ** 2
    row = [x, P, p, s, sm,
           X * P, P + X * p, (2 - X * X) * p,
           X * s, s * (1 + X * sm), s * sm * (2 + X * (sm - s)),
           t, sech2, -2 * t * sech2]
    print(" ".join(r(v) for v in row))
