//! Vector functions E: R^K → R^m as [`Embedding`]s: [`VectorFn`] and [`DualEmbedding`].

use crate::chunk::{self, Pass, for_each_chunk};
use geodyn_core::error::{check_dim, check_finite};
use geodyn_core::scratch::with_filled_buffers;
use geodyn_core::{Embedding, Result};
use num_dual::{Dual2_64, Dual64, DualNum, DualSVec64};
use std::sync::Arc;

/// A vector function E: R^K → R^m written once, generically over the dual scalar.
///
/// `eval` receives `x` of length [`input_dim`](VectorFn::input_dim) and must write all
/// [`output_dim`](VectorFn::output_dim) entries of `out` (which arrives zeroed).
pub trait VectorFn: Sync {
    /// The input dimension K.
    fn input_dim(&self) -> usize;
    /// The output dimension m.
    fn output_dim(&self) -> usize;
    /// Writes E(x) into `out`; `x.len() == input_dim()`, `out.len() == output_dim()`.
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]);
}

macro_rules! forward_vector_fn {
    ($($ty:ty $(: $extra:ident)?),*) => {$(
        impl<T: VectorFn $(+ $extra)?> VectorFn for $ty {
            fn input_dim(&self) -> usize { (**self).input_dim() }
            fn output_dim(&self) -> usize { (**self).output_dim() }
            fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]) {
                (**self).eval(x, out)
            }
        }
    )*};
}
forward_vector_fn!(&T, Box<T>, Arc<T>: Send);

/// A [`VectorFn`] as a geodyn [`Embedding`], with exact derivatives from dual numbers.
///
/// - `jvp` (J v): one `Dual64` pass seeded (x, v).
/// - `vjp` (Jᵀ u = ∇_x ⟨u, E(x)⟩): ⌈K/8⌉ chunked forward passes (`DualSVec64<N>`).
/// - `second_directional` (E''[v, v] = d²/dt² E(x + t v), not halved): one `Dual2_64`
///   pass seeded (x, v, 0).
///
/// No allocation per call after warm-up; inputs are checked for length and finiteness.
///
/// ```
/// use geodyn_core::Embedding;
/// use geodyn_dual::{DualEmbedding, DualNum, VectorFn};
///
/// /// The unit-sphere chart (θ, φ) ↦ (sin θ cos φ, sin θ sin φ, cos θ).
/// struct Sphere;
///
/// impl VectorFn for Sphere {
///     fn input_dim(&self) -> usize { 2 }
///     fn output_dim(&self) -> usize { 3 }
///     fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]) {
///         let (st, ct) = x[0].sin_cos();
///         let (sp, cp) = x[1].sin_cos();
///         out.copy_from_slice(&[st * cp, st * sp, ct]);
///     }
/// }
///
/// let e = DualEmbedding::new(Sphere);
/// let x = [std::f64::consts::FRAC_PI_2, 0.0]; // the point (1, 0, 0)
/// let mut jv = [0.0; 3];
/// e.jvp(&x, &[0.0, 1.0], &mut jv).unwrap(); // ∂/∂φ = (0, 1, 0)
/// assert!((jv[1] - 1.0).abs() < 1e-15 && jv[0].abs() < 1e-15);
/// let mut acc = [0.0; 3];
/// e.second_directional(&x, &[0.0, 1.0], &mut acc).unwrap(); // the equator's −x̂
/// assert!((acc[0] + 1.0).abs() < 1e-15);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DualEmbedding<F> {
    f: F,
}

impl<F: VectorFn> DualEmbedding<F> {
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

    /// Checks `x` (length K, finite), a direction (length `dir_len_expected`, finite) and
    /// the output buffer; returns (K, m).
    fn check(
        &self,
        x: &[f64],
        dir: (&'static str, &[f64], usize),
        out: (&'static str, usize, usize),
    ) -> Result<(usize, usize)> {
        let (k, m) = (self.f.input_dim(), self.f.output_dim());
        check_dim("x", k, x.len())?;
        check_dim(dir.0, dir.2, dir.1.len())?;
        check_dim(out.0, out.2, out.1)?;
        check_finite("x", x)?;
        check_finite(dir.0, dir.1)?;
        Ok((k, m))
    }
}

/// Jᵀu = ∇_x ⟨u, E(x)⟩ by chunked forward mode.
struct VjpPass<'a, F> {
    f: &'a F,
    x: &'a [f64],
    u: &'a [f64],
    out: &'a mut [f64],
}

impl<F: VectorFn> Pass for VjpPass<'_, F> {
    fn run<const N: usize>(&mut self, start: usize) -> Result<()> {
        let (k, m) = (self.x.len(), self.u.len());
        let zero = DualSVec64::<N>::from_re(0.0);
        let (f, x, u, out) = (self.f, self.x, self.u, &mut *self.out);
        with_filled_buffers([k, m], zero, |[xd, ed]| {
            chunk::seeded(x, start, xd);
            f.eval(xd, ed);
            for (a, o) in out.iter_mut().skip(start).take(N).enumerate() {
                *o = ed.iter().zip(u).map(|(e, &ui)| ui * chunk::lane(e, a)).sum();
            }
        });
        Ok(())
    }
}

impl<F: VectorFn> Embedding for DualEmbedding<F> {
    fn input_dim(&self) -> usize {
        self.f.input_dim()
    }

    fn output_dim(&self) -> usize {
        self.f.output_dim()
    }

    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        let (k, m) = (self.f.input_dim(), self.f.output_dim());
        check_dim("x", k, x.len())?;
        check_dim("out", m, out.len())?;
        check_finite("x", x)?;
        out.fill(0.0);
        self.f.eval(x, out);
        check_finite("embedding value", out)
    }

    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.f.input_dim();
        let (k, m) = self.check(x, ("v", v, k), ("out", out.len(), self.f.output_dim()))?;
        with_filled_buffers([k, m], Dual64::from_re(0.0), |[xd, ed]| {
            for ((d, &xi), &vi) in xd.iter_mut().zip(x).zip(v) {
                *d = Dual64::new(xi, vi);
            }
            self.f.eval(xd, ed);
            for (o, e) in out.iter_mut().zip(ed.iter()) {
                *o = e.eps;
            }
        });
        check_finite("Jacobian-vector product", out)
    }

    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        let m = self.f.output_dim();
        let (k, _) = self.check(x, ("u", u, m), ("out", out.len(), self.f.input_dim()))?;
        let mut pass = VjpPass { f: &self.f, x, u, out };
        for_each_chunk(k, &mut pass)?;
        check_finite("vector-Jacobian product", out)
    }

    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = self.f.input_dim();
        let (k, m) = self.check(x, ("v", v, k), ("out", out.len(), self.f.output_dim()))?;
        with_filled_buffers([k, m], Dual2_64::from_re(0.0), |[xd, ed]| {
            for ((d, &xi), &vi) in xd.iter_mut().zip(x).zip(v) {
                *d = Dual2_64::new(xi, vi, 0.0);
            }
            self.f.eval(xd, ed);
            for (o, e) in out.iter_mut().zip(ed.iter()) {
                *o = e.v2;
            }
        });
        check_finite("second directional derivative", out)
    }
}
