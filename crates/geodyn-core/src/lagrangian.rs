//! Mechanics from a Lagrangian L(x, v) with any [`Friction`] law.
//!
//! [`LagrangianSystem`] solves the Euler–Lagrange equations with a dissipative force F,
//!
//! ```text
//! (∂²L/∂v²) ẍ = ∂L/∂x − (∂²L/∂v∂x) ẋ + F(t, x, ẋ),
//! ```
//!
//! forming the n×n velocity Hessian and solving it densely (LU with partial pivoting);
//! it is meant for small configuration spaces. The energy function
//! E = v·∂L/∂v − L is conserved without friction and changes at the rate F·v with it.
//! For a [`Rayleigh`] function R, F = −∂R/∂v; for a scalar law
//! ([`Constant`](crate::Constant), [`SpeedDependent`](crate::SpeedDependent), …)
//! F = −η(∂²L/∂v²)v, so ẍ gains −ηẋ and the power is 2ηT with T = ½vᵀ(∂²L/∂v²)v — the
//! same as [`Mechanics`](crate::Mechanics) on the metric G = ∂²L/∂v². A Finsler metric F
//! enters as L = ½F², whose solutions are constant-speed Finsler geodesics.

use crate::error::{Error, Result, check_dim, finite};
use crate::friction::{Friction, FrictionFlow, Frictionless, linear_power, resistance_power, subtract_linear};
use crate::mechanics::{Energy, SecondOrderSystem};
use crate::objective::{Lagrangian, Rayleigh, dot};
use crate::scratch::with_buffers;

/// The pre-0.2 "no Rayleigh dissipation" (R = 0): now the friction law [`Frictionless`].
#[deprecated(note = "use `Frictionless`, the friction law with η = 0")]
pub type NoRayleigh = Frictionless;

/// The Euler–Lagrange dynamics of a [`Lagrangian`] with a [`Friction`] law (default
/// [`Frictionless`]); any law works, a [`Rayleigh`] function included.
///
/// Each evaluation forms and factors the n×n velocity Hessian: O(n³), for small n.
#[derive(Debug, Clone)]
pub struct LagrangianSystem<L, F = Frictionless> {
    lagrangian: L,
    friction: F,
}

impl<L: Lagrangian> LagrangianSystem<L> {
    /// The conservative system of `lagrangian`.
    pub fn new(lagrangian: L) -> Self {
        Self { lagrangian, friction: Frictionless }
    }
    /// Replaces the friction by the law `friction` (a [`Rayleigh`] function, a scalar law
    /// such as [`Constant`](crate::Constant), or a law of your own).
    pub fn with_friction<F: Friction>(self, friction: F) -> LagrangianSystem<L, F> {
        LagrangianSystem { lagrangian: self.lagrangian, friction }
    }
    /// Adds the Rayleigh dissipation `rayleigh` (friction force −∂R/∂v).
    #[deprecated(note = "use `with_friction`: a Rayleigh function is a `Friction` law")]
    pub fn with_rayleigh<R: Rayleigh>(self, rayleigh: R) -> LagrangianSystem<L, R> {
        self.with_friction(rayleigh)
    }
}

impl<L, F> LagrangianSystem<L, F> {
    /// The Lagrangian.
    pub fn lagrangian(&self) -> &L {
        &self.lagrangian
    }
    /// The friction law.
    pub fn friction(&self) -> &F {
        &self.friction
    }
}

impl<L: Lagrangian, F: Friction> LagrangianSystem<L, F> {
    /// T = ½vᵀ(∂²L/∂v²)v alone (one Euler–Lagrange evaluation).
    fn quadratic_kinetic_part(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        let n = self.dim();
        with_buffers::<1, _>(n * n, |[lvv]| {
            with_buffers::<2, _>(n, |[lx, lvx_v]| {
                self.lagrangian.euler_lagrange_terms(x, v, lx, lvv, lvx_v)?;
                let mut kin = 0.0;
                for i in 0..n {
                    kin += v[i] * dot(&lvv[i * n..(i + 1) * n], v);
                }
                Ok(0.5 * kin)
            })
        })
    }
}

impl<L: Lagrangian, F: Friction> SecondOrderSystem for LagrangianSystem<L, F> {
    fn dim(&self) -> usize {
        self.lagrangian.dim()
    }

    /// Returns the quadratic kinetic part ½ vᵀ(∂²L/∂v²)v.
    fn acceleration(&self, t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<f64> {
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        check_dim("a", n, a.len())?;
        with_buffers::<1, _>(n * n, |[lvv]| {
            with_buffers::<3, _>(n, |[lx, lvx_v, rv]| {
                self.lagrangian.euler_lagrange_terms(x, v, lx, lvv, lvx_v)?;
                // kinetic part before the factorisation overwrites lvv
                let mut kin = 0.0;
                for i in 0..n {
                    kin += v[i] * dot(&lvv[i * n..(i + 1) * n], v);
                }
                match self.friction.coefficient(t, x, v, 0.5 * kin) {
                    // F = −η(∂²L/∂v²)v: solve without it, then ẍ −= ηv
                    Some(eta) => {
                        for i in 0..n {
                            a[i] = lx[i] - lvx_v[i];
                        }
                        solve_dense_in_place(lvv, a, n)?;
                        subtract_linear(eta, v, a);
                    }
                    None => {
                        self.friction.resistance(t, x, v, rv)?;
                        for i in 0..n {
                            a[i] = lx[i] - lvx_v[i] - rv[i];
                        }
                        solve_dense_in_place(lvv, a, n)?;
                    }
                }
                finite("kinetic energy", 0.5 * kin)
            })
        })
    }

    /// Kinetic part ½vᵀ(∂²L/∂v²)v; the potential part is the rest of the energy
    /// function E = v·∂L/∂v − L. The split is the usual T + V when L is quadratic in v
    /// (L = ½vᵀA(x)v + b(x)·v − V(x)); for other Lagrangians only the total E is
    /// meaningful (for L = ½F², E = ½F² and the "potential" part is zero).
    fn energy(&self, x: &[f64], v: &[f64]) -> Result<Energy> {
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        with_buffers::<1, _>(n * n, |[lvv]| {
            with_buffers::<3, _>(n, |[lx, lvx_v, lv]| {
                self.lagrangian.euler_lagrange_terms(x, v, lx, lvv, lvx_v)?;
                self.lagrangian.velocity_gradient(x, v, lv)?;
                let l = self.lagrangian.value(x, v)?;
                let mut kin = 0.0;
                for i in 0..n {
                    kin += v[i] * dot(&lvv[i * n..(i + 1) * n], v);
                }
                let kinetic = 0.5 * kin;
                let total = dot(v, lv) - l;
                Ok(Energy { kinetic, potential: total - kinetic })
            })
        })
    }

    /// −F·v: r·v for a resistance law, 2ηT for a scalar law (0 without friction, at no
    /// cost; otherwise T costs one Euler–Lagrange evaluation).
    fn dissipated_power(&self, t: f64, x: &[f64], v: &[f64]) -> Result<f64> {
        if self.friction.exact_flow() == Some(FrictionFlow::None) {
            return Ok(0.0);
        }
        if self.friction.coefficient(t, x, v, 0.0).is_none() {
            return with_buffers::<1, _>(self.dim(), |[rv]| {
                self.friction.resistance(t, x, v, rv)?;
                Ok(resistance_power(v, rv))
            });
        }
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        let kin = self.quadratic_kinetic_part(x, v)?;
        let eta = self.friction.coefficient(t, x, v, kin).unwrap_or(0.0);
        Ok(linear_power(eta, kin))
    }
}

/// Solves A z = b in place (A row-major n×n, overwritten; b becomes z) by Gaussian
/// elimination with partial pivoting.
pub(crate) fn solve_dense_in_place(a: &mut [f64], b: &mut [f64], n: usize) -> Result<()> {
    let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for col in 0..n {
        let (mut piv, mut best) = (col, a[col * n + col].abs());
        for r in col + 1..n {
            let val = a[r * n + col].abs();
            if val > best {
                piv = r;
                best = val;
            }
        }
        // NaN-safe: a NaN pivot or matrix entry also counts as singular
        if best.is_nan() || best <= 1e-14 * scale {
            return Err(Error::LinearSolve {
                what: "Lagrangian velocity Hessian ∂²L/∂v²",
                detail: format!(
                    "singular or not finite (pivot {best:e} in column {col}); the Lagrangian must be regular"
                ),
            });
        }
        if piv != col {
            for c in 0..n {
                a.swap(col * n + c, piv * n + c);
            }
            b.swap(col, piv);
        }
        let d = a[col * n + col];
        for r in col + 1..n {
            let f = a[r * n + col] / d;
            if f != 0.0 {
                for c in col..n {
                    a[r * n + c] -= f * a[col * n + c];
                }
                b[r] -= f * b[col];
            }
        }
    }
    for row in (0..n).rev() {
        let mut s = b[row];
        for c in row + 1..n {
            s -= a[row * n + c] * b[c];
        }
        b[row] = s / a[row * n + row];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A z = b with a pivot-requiring 3×3 matrix: the solution satisfies A z = b.
    #[test]
    fn dense_solve_satisfies_system() {
        let a0 = [0.0, 2.0, 1.0, 1.0, 1.0, 0.0, 3.0, 0.0, 1.0];
        let b0 = [3.0, 2.0, 4.0];
        let (mut a, mut b) = (a0, b0);
        solve_dense_in_place(&mut a, &mut b, 3).unwrap();
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| a0[i * 3 + j] * b[j]).sum();
            assert!((r - b0[i]).abs() < 1e-14);
        }
    }

    /// A singular matrix is a typed error, not a panic or a NaN.
    #[test]
    fn dense_solve_singular_is_error() {
        let mut a = [1.0, 2.0, 2.0, 4.0];
        let mut b = [1.0, 1.0];
        assert!(matches!(solve_dense_in_place(&mut a, &mut b, 2), Err(Error::LinearSolve { .. })));
    }
}
