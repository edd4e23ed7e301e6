//! Lagrangians L(x, v) and Rayleigh dissipation functions R(x, v) from dual numbers:
//! [`LagrangianFn`] / [`DualLagrangian`] and [`RayleighFn`] / [`DualRayleigh`].

use crate::chunk::{self, Pass, for_each_chunk};
use geodyn_core::error::{check_dim, check_finite, finite};
use geodyn_core::scratch::with_filled_buffers;
use geodyn_core::{Lagrangian, Rayleigh, Result};
use num_dual::{DualNum, DualSVec64, HyperDualSVec64};
use std::sync::Arc;

/// A Lagrangian L(x, v) on the tangent bundle of R^n, written once, generically over
/// the dual scalar. `x` and `v` both have length [`dim`](LagrangianFn::dim).
///
/// A Finsler metric F enters as L = ½F².
pub trait LagrangianFn: Sync {
    /// The configuration dimension n.
    fn dim(&self) -> usize;
    /// L(x, v).
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D;
}

/// A Rayleigh dissipation function R(x, v) (friction force −∂R/∂v), written once,
/// generically over the dual scalar. `x` and `v` both have length
/// [`dim`](RayleighFn::dim).
pub trait RayleighFn: Sync {
    /// The configuration dimension n.
    fn dim(&self) -> usize;
    /// R(x, v).
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D;
}

macro_rules! forward_xv_fn {
    ($tr:ident: $($ty:ty $(: $extra:ident)?),*) => {$(
        impl<T: $tr $(+ $extra)?> $tr for $ty {
            fn dim(&self) -> usize { (**self).dim() }
            fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
                (**self).eval(x, v)
            }
        }
    )*};
}
forward_xv_fn!(LagrangianFn: &T, Box<T>, Arc<T>: Send);
forward_xv_fn!(RayleighFn: &T, Box<T>, Arc<T>: Send);

/// A [`LagrangianFn`] as a geodyn [`Lagrangian`], with exact derivatives.
///
/// - `velocity_gradient` (∂L/∂v) and ∂L/∂x: ⌈n/8⌉ chunked forward passes each.
/// - ∂²L/∂v² and the mixed term Σ_j ∂²L/∂v_i∂x_j v_j: block passes of
///   `HyperDualSVec64<N, N>` (`eps1` on a block of v_i, `eps2` on a block of the n + 1
///   directions {e_j in v} ∪ {ẋ = v}); one pass for n ≤ 7.
///
/// ```
/// use geodyn_core::Lagrangian;
/// use geodyn_dual::{DualLagrangian, DualNum, LagrangianFn};
///
/// /// L = ½ (1 + x²) v² − ½ x²: a position-dependent mass.
/// struct L;
///
/// impl LagrangianFn for L {
///     fn dim(&self) -> usize { 1 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
///         ((x[0] * x[0] + 1.0) * v[0] * v[0] - x[0] * x[0]) * 0.5
///     }
/// }
///
/// let l = DualLagrangian::new(L);
/// let (x, v) = ([2.0], [3.0]);
/// let (mut lx, mut lvv, mut lvx_v) = ([0.0], [0.0], [0.0]);
/// l.euler_lagrange_terms(&x, &v, &mut lx, &mut lvv, &mut lvx_v).unwrap();
/// // ∂L/∂x = x v² − x = 16, ∂²L/∂v² = 1 + x² = 5, ∂²L/∂v∂x · v = 2 x v · v = 36.
/// assert_eq!((lx[0], lvv[0], lvx_v[0]), (16.0, 5.0, 36.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DualLagrangian<F> {
    f: F,
}

/// A [`RayleighFn`] as a geodyn [`Rayleigh`] dissipation function; ∂R/∂v by chunked
/// forward mode.
///
/// ```
/// use geodyn_core::Rayleigh;
/// use geodyn_dual::{DualNum, DualRayleigh, RayleighFn};
///
/// /// R = ½ γ |v|²: linear friction, force −γ v.
/// struct Friction(f64);
///
/// impl RayleighFn for Friction {
///     fn dim(&self) -> usize { 2 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _x: &[D], v: &[D]) -> D {
///         v.iter().map(|&vi| vi * vi).sum::<D>() * (0.5 * self.0)
///     }
/// }
///
/// let r = DualRayleigh::new(Friction(0.5));
/// let mut rv = [0.0; 2];
/// r.velocity_gradient(&[0.0, 0.0], &[2.0, -4.0], &mut rv).unwrap();
/// assert_eq!(rv, [1.0, -2.0]);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DualRayleigh<F> {
    f: F,
}

/// Checks x and v (length n, finite) and one output length; returns n.
fn check_xv(n: usize, x: &[f64], v: &[f64], out: (&'static str, usize, usize)) -> Result<usize> {
    check_dim("x", n, x.len())?;
    check_dim("v", n, v.len())?;
    check_dim(out.0, out.2, out.1)?;
    check_finite("x", x)?;
    check_finite("v", v)?;
    Ok(n)
}

/// Which argument of g(x, v) a first-order pass differentiates.
#[derive(Clone, Copy)]
enum Wrt {
    X,
    V,
}

/// ∂g/∂x or ∂g/∂v by chunked forward mode, for g = L or R (through `eval`).
struct PartialPass<'a, G> {
    eval: &'a G,
    x: &'a [f64],
    v: &'a [f64],
    wrt: Wrt,
    out: &'a mut [f64],
}

/// A user function of (x, v), evaluated with a first-order chunk type.
trait XvEval {
    fn eval_chunk<const N: usize>(&self, x: &[DualSVec64<N>], v: &[DualSVec64<N>]) -> DualSVec64<N>;
}

/// Adapter: a [`LagrangianFn`] as an [`XvEval`].
struct AsL<'a, F>(&'a F);
/// Adapter: a [`RayleighFn`] as an [`XvEval`].
struct AsR<'a, F>(&'a F);

impl<F: LagrangianFn> XvEval for AsL<'_, F> {
    fn eval_chunk<const N: usize>(&self, x: &[DualSVec64<N>], v: &[DualSVec64<N>]) -> DualSVec64<N> {
        self.0.eval(x, v)
    }
}

impl<F: RayleighFn> XvEval for AsR<'_, F> {
    fn eval_chunk<const N: usize>(&self, x: &[DualSVec64<N>], v: &[DualSVec64<N>]) -> DualSVec64<N> {
        self.0.eval(x, v)
    }
}

impl<G: XvEval> Pass for PartialPass<'_, G> {
    fn run<const N: usize>(&mut self, start: usize) -> Result<()> {
        let n = self.x.len();
        let zero = DualSVec64::<N>::from_re(0.0);
        let r = with_filled_buffers([n, n], zero, |[xd, vd]| {
            match self.wrt {
                Wrt::X => {
                    chunk::seeded(self.x, start, xd);
                    chunk::constants(self.v, vd);
                }
                Wrt::V => {
                    chunk::constants(self.x, xd);
                    chunk::seeded(self.v, start, vd);
                }
            }
            self.eval.eval_chunk(xd, vd)
        });
        for (a, o) in self.out.iter_mut().skip(start).take(N).enumerate() {
            *o = chunk::lane(&r, a);
        }
        Ok(())
    }
}

/// Writes the upper block triangle of ∂²L/∂v² (row-major n×n) and the mixed term
/// Σ_j ∂²L/∂v_i∂x_j v_j, then mirrors ∂²L/∂v² into the lower block triangle.
///
/// Pass (row block rb, column block cb ≥ rb) seeds `eps1` lane a on v_{rb·N+a} and
/// `eps2` lane b on direction cb·N+b of the n + 1 directions: e_j in v for j < n, and
/// (ẋ = v, v̇ = 0) for j = n; then eps1eps2[a, b] is the second derivative along the two.
fn velocity_hessian_blocks<F: LagrangianFn, const N: usize>(
    f: &F,
    x: &[f64],
    v: &[f64],
    lvv: &mut [f64],
    lvx_v: &mut [f64],
) {
    let n = x.len();
    let ndir = n + 1;
    let zero = HyperDualSVec64::<N, N>::from_re(0.0);
    with_filled_buffers([n, n], zero, |[xd, vd]| {
        for rb in (0..n).step_by(N) {
            for cb in (rb..ndir).step_by(N) {
                for (d, &xi) in xd.iter_mut().zip(x) {
                    *d = HyperDualSVec64::from_re(xi);
                }
                for (d, &vi) in vd.iter_mut().zip(v) {
                    *d = HyperDualSVec64::from_re(vi);
                }
                for (a, d) in vd.iter_mut().skip(rb).take(N).enumerate() {
                    *d = d.derivative1(a);
                }
                for b in 0..N.min(ndir - cb) {
                    let j = cb + b;
                    if j < n {
                        vd[j] = vd[j].derivative2(b);
                    } else {
                        // The direction ẋ = v: x_i + v_i ε2_b.
                        let e = HyperDualSVec64::<N, N>::from_re(0.0).derivative2(b);
                        for (d, &vi) in xd.iter_mut().zip(v) {
                            *d += e * vi;
                        }
                    }
                }
                let r = f.eval(xd, vd);
                let m = r.eps1eps2.0.as_ref();
                for a in 0..N.min(n - rb) {
                    let i = rb + a;
                    for b in 0..N.min(ndir - cb) {
                        let j = cb + b;
                        let h = m.map_or(0.0, |m| m[(a, b)]);
                        if j < n {
                            lvv[i * n + j] = h;
                        } else {
                            lvx_v[i] = h;
                        }
                    }
                }
            }
        }
    });
    // Lower block triangle from symmetry: entries (i, j) with j below i's block start.
    for i in 0..n {
        for j in 0..(i / N) * N {
            lvv[i * n + j] = lvv[j * n + i];
        }
    }
}

impl<F: LagrangianFn> DualLagrangian<F> {
    /// Wraps a user function.
    pub fn new(f: F) -> Self {
        Self { f }
    }

    /// The wrapped function.
    pub fn function(&self) -> &F {
        &self.f
    }

    /// Unwraps the user function.
    pub fn into_inner(self) -> F {
        self.f
    }
}

impl<F: LagrangianFn> Lagrangian for DualLagrangian<F> {
    fn dim(&self) -> usize {
        self.f.dim()
    }

    fn value(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        let n = self.f.dim();
        check_xv(n, x, v, ("v", v.len(), n))?;
        finite("Lagrangian value", self.f.eval(x, v))
    }

    fn velocity_gradient(&self, x: &[f64], v: &[f64], lv: &mut [f64]) -> Result<()> {
        let n = check_xv(self.f.dim(), x, v, ("lv", lv.len(), self.f.dim()))?;
        let mut pass = PartialPass { eval: &AsL(&self.f), x, v, wrt: Wrt::V, out: lv };
        for_each_chunk(n, &mut pass)?;
        check_finite("∂L/∂v", lv)
    }

    fn euler_lagrange_terms(
        &self,
        x: &[f64],
        v: &[f64],
        lx: &mut [f64],
        lvv: &mut [f64],
        lvx_v: &mut [f64],
    ) -> Result<()> {
        let n = check_xv(self.f.dim(), x, v, ("lx", lx.len(), self.f.dim()))?;
        check_dim("lvv", n * n, lvv.len())?;
        check_dim("lvx_v", n, lvx_v.len())?;
        let mut pass = PartialPass { eval: &AsL(&self.f), x, v, wrt: Wrt::X, out: &mut *lx };
        for_each_chunk(n, &mut pass)?;
        match n {
            0 => {}
            1 => velocity_hessian_blocks::<F, 2>(&self.f, x, v, lvv, lvx_v),
            2 | 3 => velocity_hessian_blocks::<F, 4>(&self.f, x, v, lvv, lvx_v),
            _ => velocity_hessian_blocks::<F, 8>(&self.f, x, v, lvv, lvx_v),
        }
        check_finite("∂L/∂x", lx)?;
        check_finite("∂²L/∂v²", lvv)?;
        check_finite("(∂²L/∂v∂x) v", lvx_v)
    }
}

impl<F: RayleighFn> DualRayleigh<F> {
    /// Wraps a user function.
    pub fn new(f: F) -> Self {
        Self { f }
    }

    /// The wrapped function.
    pub fn function(&self) -> &F {
        &self.f
    }

    /// Unwraps the user function.
    pub fn into_inner(self) -> F {
        self.f
    }

    /// The configuration dimension n.
    pub fn dim(&self) -> usize {
        self.f.dim()
    }
}

impl<F: RayleighFn> Rayleigh for DualRayleigh<F> {
    fn value(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        let n = self.f.dim();
        check_xv(n, x, v, ("v", v.len(), n))?;
        finite("Rayleigh value", self.f.eval(x, v))
    }

    fn velocity_gradient(&self, x: &[f64], v: &[f64], rv: &mut [f64]) -> Result<()> {
        let n = check_xv(self.f.dim(), x, v, ("rv", rv.len(), self.f.dim()))?;
        let mut pass = PartialPass { eval: &AsR(&self.f), x, v, wrt: Wrt::V, out: rv };
        for_each_chunk(n, &mut pass)?;
        check_finite("∂R/∂v", rv)
    }
}
