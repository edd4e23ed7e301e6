//! Scalar functions f: R^K → R as [`Objective`]s: [`ScalarFn`] and [`DualObjective`].

use crate::chunk::{self, Pass, for_each_chunk};
use geodyn_core::error::{check_dim, check_finite, finite};
use geodyn_core::scratch::with_filled_buffers;
use geodyn_core::{Objective, Result};
use num_dual::{Dual2_64, DualNum, DualSVec64, HyperDualSVec64};
use std::sync::Arc;

/// A scalar function f: R^K → R written once, generically over the dual scalar.
///
/// `eval` is called with `D = f64` for plain values and with several Copy dual types
/// (`Dual2_64`, `DualSVec64<N>`, `HyperDualSVec64<N, 1>`) for derivatives. It receives a
/// slice of length exactly [`dim`](ScalarFn::dim). Write constants as `D::from(c)` or
/// combine them on the right (`x * 2.0`, `x + 1.0`).
pub trait ScalarFn: Sync {
    /// The input dimension K.
    fn dim(&self) -> usize;
    /// f(x); `x.len() == self.dim()`.
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D;
}

macro_rules! forward_scalar_fn {
    ($($ty:ty $(: $extra:ident)?),*) => {$(
        impl<T: ScalarFn $(+ $extra)?> ScalarFn for $ty {
            fn dim(&self) -> usize { (**self).dim() }
            fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D { (**self).eval(x) }
        }
    )*};
}
forward_scalar_fn!(&T, Box<T>, Arc<T>: Send);

/// A [`ScalarFn`] as a geodyn [`Objective`], with exact derivatives from dual numbers.
///
/// - `value`: one `f64` evaluation.
/// - `gradient`: ⌈K/8⌉ chunked forward passes (`DualSVec64<N>`).
/// - `hvp`: exact forward-over-forward H v, ⌈K/8⌉ passes (`HyperDualSVec64<N, 1>`).
/// - `grad_and_curvature`: the gradient plus ONE `Dual2_64` pass for vᵀHv.
///
/// No allocation per call after warm-up; inputs are checked for length and finiteness.
///
/// ```
/// use geodyn_core::Objective;
/// use geodyn_dual::{DualNum, DualObjective, ScalarFn};
///
/// /// Rosenbrock: f(x) = Σ_i 100 (x_{i+1} − x_i²)² + (1 − x_i)².
/// struct Rosenbrock(usize);
///
/// impl ScalarFn for Rosenbrock {
///     fn dim(&self) -> usize { self.0 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
///         x.windows(2)
///             .map(|w| {
///                 let a = w[1] - w[0] * w[0];
///                 let b = -w[0] + 1.0;
///                 a * a * 100.0 + b * b
///             })
///             .sum()
///     }
/// }
///
/// let f = DualObjective::new(Rosenbrock(2));
/// let x = [1.0, 2.0];
/// let mut g = [0.0; 2];
/// let fx = f.gradient(&x, &mut g).unwrap();
/// // f = 100, ∇f = (−400 x0 (x1 − x0²) − 2 (1 − x0), 200 (x1 − x0²)) = (−400, 200).
/// assert_eq!(fx, 100.0);
/// assert_eq!(g, [-400.0, 200.0]);
///
/// // H = [[1200 x0² − 400 x1 + 2, −400 x0], [−400 x0, 200]] = [[402, −400], [−400, 200]].
/// let v = [1.0, 1.0];
/// let mut hv = [0.0; 2];
/// f.hvp(&x, &v, &mut hv).unwrap();
/// assert_eq!(hv, [2.0, -200.0]);
///
/// // The fused hot path: f, ∇f and vᵀHv = v·(Hv) = −198.
/// let (fx, vhv) = f.grad_and_curvature(&x, &v, &mut g).unwrap();
/// assert_eq!((fx, vhv), (100.0, -198.0));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DualObjective<F> {
    f: F,
}

impl<F: ScalarFn> DualObjective<F> {
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

    /// Checks `x` (length K, finite) and `out` (length K); returns K.
    fn check_x(&self, x: &[f64], out_name: &'static str, out_len: usize) -> Result<usize> {
        let k = self.f.dim();
        check_dim("x", k, x.len())?;
        check_dim(out_name, k, out_len)?;
        check_finite("x", x)?;
        Ok(k)
    }
}

/// ∇f by chunked forward mode.
struct GradPass<'a, F> {
    f: &'a F,
    x: &'a [f64],
    g: &'a mut [f64],
    value: f64,
}

impl<F: ScalarFn> Pass for GradPass<'_, F> {
    fn run<const N: usize>(&mut self, start: usize) -> Result<()> {
        let k = self.x.len();
        let zero = DualSVec64::<N>::from_re(0.0);
        let r = with_filled_buffers([k], zero, |[xd]| {
            chunk::seeded(self.x, start, xd);
            self.f.eval(xd)
        });
        self.value = r.re;
        for (a, g) in self.g.iter_mut().skip(start).take(N).enumerate() {
            *g = chunk::lane(&r, a);
        }
        Ok(())
    }
}

/// H v by chunked forward-over-forward mode.
struct HvpPass<'a, F> {
    f: &'a F,
    x: &'a [f64],
    v: &'a [f64],
    hv: &'a mut [f64],
}

impl<F: ScalarFn> Pass for HvpPass<'_, F> {
    fn run<const N: usize>(&mut self, start: usize) -> Result<()> {
        let k = self.x.len();
        let zero = HyperDualSVec64::<N, 1>::from_re(0.0);
        let r = with_filled_buffers([k], zero, |[xd]| {
            chunk::seeded_with_direction(self.x, self.v, start, xd);
            self.f.eval(xd)
        });
        for (a, h) in self.hv.iter_mut().skip(start).take(N).enumerate() {
            *h = chunk::mixed_lane(&r, a);
        }
        Ok(())
    }
}

impl<F: ScalarFn> Objective for DualObjective<F> {
    fn dim(&self) -> usize {
        self.f.dim()
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        check_dim("x", self.f.dim(), x.len())?;
        check_finite("x", x)?;
        finite("objective value", self.f.eval(x))
    }

    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        let k = self.check_x(x, "g", g.len())?;
        if k == 0 {
            return finite("objective value", self.f.eval(x));
        }
        let mut pass = GradPass { f: &self.f, x, g, value: 0.0 };
        for_each_chunk(k, &mut pass)?;
        let value = pass.value;
        check_finite("gradient", g)?;
        finite("objective value", value)
    }

    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        let k = self.check_x(x, "hv", hv.len())?;
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        let mut pass = HvpPass { f: &self.f, x, v, hv };
        for_each_chunk(k, &mut pass)?;
        check_finite("Hessian-vector product", hv)
    }

    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        let k = self.f.dim();
        check_dim("v", k, v.len())?;
        check_finite("v", v)?;
        let value = self.gradient(x, g)?;
        // One Dual2 pass seeded (x, v, 0): v2 = d²/dt² f(x + t v) = vᵀ H v.
        let r = with_filled_buffers([k], Dual2_64::from_re(0.0), |[xd]| {
            for ((d, &xi), &vi) in xd.iter_mut().zip(x).zip(v) {
                *d = Dual2_64::new(xi, vi, 0.0);
            }
            self.f.eval(xd)
        });
        Ok((value, finite("curvature vᵀHv", r.v2)?))
    }
}
