//! Mechanics from a Lagrangian L(x, v) with optional Rayleigh dissipation R(x, v).
//!
//! [`LagrangianSystem`] solves the Euler–Lagrange equations with dissipation,
//!
//! ```text
//! (∂²L/∂v²) ẍ = ∂L/∂x − (∂²L/∂v∂x) ẋ − ∂R/∂v,
//! ```
//!
//! forming the n×n velocity Hessian and solving it densely (LU with partial pivoting);
//! it is meant for small configuration spaces. The energy function
//! E = v·∂L/∂v − L is conserved without dissipation and decreases at the rate
//! v·∂R/∂v with it. A Finsler metric F enters as L = ½F², whose solutions are
//! constant-speed Finsler geodesics.

use crate::error::{Error, Result, check_dim, finite};
use crate::mechanics::{Energy, SecondOrderSystem};
use crate::objective::{Lagrangian, Rayleigh, dot};
use crate::scratch::with_buffers;

/// No Rayleigh dissipation (R = 0).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRayleigh;

impl Rayleigh for NoRayleigh {
    fn value(&self, _x: &[f64], _v: &[f64]) -> Result<f64> {
        Ok(0.0)
    }
    fn velocity_gradient(&self, _x: &[f64], _v: &[f64], rv: &mut [f64]) -> Result<()> {
        rv.fill(0.0);
        Ok(())
    }
}

/// The Euler–Lagrange dynamics of a [`Lagrangian`], optionally with a [`Rayleigh`]
/// dissipation function.
#[derive(Debug, Clone)]
pub struct LagrangianSystem<L, R = NoRayleigh> {
    lagrangian: L,
    rayleigh: R,
}

impl<L: Lagrangian> LagrangianSystem<L> {
    /// The conservative system of `lagrangian`.
    pub fn new(lagrangian: L) -> Self {
        Self { lagrangian, rayleigh: NoRayleigh }
    }
    /// Adds the Rayleigh dissipation `rayleigh` (friction force −∂R/∂v).
    pub fn with_rayleigh<R: Rayleigh>(self, rayleigh: R) -> LagrangianSystem<L, R> {
        LagrangianSystem { lagrangian: self.lagrangian, rayleigh }
    }
}

impl<L, R> LagrangianSystem<L, R> {
    /// The Lagrangian.
    pub fn lagrangian(&self) -> &L {
        &self.lagrangian
    }
}

impl<L: Lagrangian, R: Rayleigh> SecondOrderSystem for LagrangianSystem<L, R> {
    fn dim(&self) -> usize {
        self.lagrangian.dim()
    }

    /// Returns the quadratic kinetic part ½ vᵀ(∂²L/∂v²)v.
    fn acceleration(&self, _t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<f64> {
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        check_dim("a", n, a.len())?;
        with_buffers::<1, _>(n * n, |[lvv]| {
            with_buffers::<3, _>(n, |[lx, lvx_v, rv]| {
                self.lagrangian.euler_lagrange_terms(x, v, lx, lvv, lvx_v)?;
                self.rayleigh.velocity_gradient(x, v, rv)?;
                // kinetic part before the factorisation overwrites lvv
                let mut kin = 0.0;
                for i in 0..n {
                    kin += v[i] * dot(&lvv[i * n..(i + 1) * n], v);
                }
                for i in 0..n {
                    a[i] = lx[i] - lvx_v[i] - rv[i];
                }
                solve_dense_in_place(lvv, a, n)?;
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

    fn dissipated_power(&self, _t: f64, x: &[f64], v: &[f64]) -> Result<f64> {
        with_buffers::<1, _>(self.dim(), |[rv]| {
            self.rayleigh.velocity_gradient(x, v, rv)?;
            Ok(dot(v, rv))
        })
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
