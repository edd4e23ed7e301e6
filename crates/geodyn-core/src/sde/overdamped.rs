//! Overdamped Langevin kernels: ULA and MALA, plain or with a constant preconditioner.

use super::noise::Noise;
use super::preconditioner::Preconditioner;
use super::problem::Gibbs;
use super::scheme::{Kernel, Transition, finite_state};
use crate::error::{Error, Result, check_dim, check_finite};
use crate::objective::{Objective, dot};

/// ULA / MALA with an optional preconditioner D: the proposal
/// y = x − hD∇U(x) + √(2hT) L z (D = LLᵀ; L = I without a preconditioner).
pub(crate) struct Overdamped<'a, O> {
    target: &'a Gibbs<O>,
    precond: Option<&'a Preconditioner>,
    adjusted: bool,
    u_x: f64,
    g_x: Vec<f64>,
    dg_x: Vec<f64>,
    y: Vec<f64>,
    g_y: Vec<f64>,
    dg_y: Vec<f64>,
    z: Vec<f64>,
    r: Vec<f64>,
    tmp: Vec<f64>,
    gradients: u64,
}

impl<'a, O: Objective> Overdamped<'a, O> {
    pub(crate) fn new(target: &'a Gibbs<O>, precond: Option<&'a Preconditioner>, adjusted: bool) -> Self {
        let k = target.dim();
        let v = || vec![0.0; k];
        Self {
            target,
            precond,
            adjusted,
            u_x: 0.0,
            g_x: v(),
            dg_x: v(),
            y: v(),
            g_y: v(),
            dg_y: v(),
            z: v(),
            r: v(),
            tmp: v(),
            gradients: 0,
        }
    }
}

/// out = D g (out = g without a preconditioner).
fn precondition(p: Option<&Preconditioner>, g: &[f64], tmp: &mut [f64], out: &mut [f64]) {
    match p {
        Some(p) => p.apply(g, tmp, out),
        None => out.copy_from_slice(g),
    }
}

/// rᵀD⁻¹r (|r|² without a preconditioner).
fn norm2(p: Option<&Preconditioner>, r: &[f64], tmp: &mut [f64]) -> f64 {
    match p {
        Some(p) => p.inverse_norm2(r, tmp),
        None => dot(r, r),
    }
}

/// The MALA log ratio log[π(y)q(x|y) / (π(x)q(y|x))] =
/// −(U(y) − U(x))/T − (|x − y + hD∇U(y)|²_{D⁻¹} − |y − x + hD∇U(x)|²_{D⁻¹})/(4hT).
fn log_ratio(
    p: Option<&Preconditioner>,
    temperature: f64,
    h: f64,
    (x, u_x, dg_x): (&[f64], f64, &[f64]),
    (y, u_y, dg_y): (&[f64], f64, &[f64]),
    r: &mut [f64],
    tmp: &mut [f64],
) -> f64 {
    for i in 0..x.len() {
        r[i] = y[i] - x[i] + h * dg_x[i];
    }
    let forward = norm2(p, r, tmp);
    for i in 0..x.len() {
        r[i] = x[i] - y[i] + h * dg_y[i];
    }
    let backward = norm2(p, r, tmp);
    -(u_y - u_x) / temperature - (backward - forward) / (4.0 * h * temperature)
}

impl<O: Objective> Kernel for Overdamped<'_, O> {
    fn init(&mut self, x: &[f64], _noise: &mut Noise) -> Result<()> {
        self.u_x = self.target.potential().gradient(x, &mut self.g_x)?;
        self.gradients += 1;
        finite_state(self.u_x, &self.g_x)?;
        precondition(self.precond, &self.g_x, &mut self.tmp, &mut self.dg_x);
        Ok(())
    }

    fn step(&mut self, h: f64, x: &mut [f64], noise: &mut Noise) -> Result<Transition> {
        let temperature = self.target.temperature();
        noise.normals(&mut self.z);
        match self.precond {
            Some(p) => p.sqrt_apply(&self.z, &mut self.r),
            None => self.r.copy_from_slice(&self.z),
        }
        let scale = (2.0 * h * temperature).sqrt();
        for (i, (y, xi)) in self.y.iter_mut().zip(x.iter()).enumerate() {
            *y = xi - h * self.dg_x[i] + scale * self.r[i];
        }
        if !self.adjusted {
            x.copy_from_slice(&self.y);
            self.init(x, noise)?;
            return Ok(Transition::MOVE);
        }
        let u = noise.uniform();
        self.gradients += 1;
        let u_y = match self.target.potential().gradient(&self.y, &mut self.g_y) {
            Ok(u_y) if finite_state(u_y, &self.g_y).is_ok() => u_y,
            Ok(_) | Err(Error::NonFinite { .. }) => return Ok(Transition::REJECT),
            Err(e) => return Err(e),
        };
        precondition(self.precond, &self.g_y, &mut self.tmp, &mut self.dg_y);
        let log_alpha = log_ratio(
            self.precond,
            temperature,
            h,
            (x, self.u_x, &self.dg_x),
            (&self.y, u_y, &self.dg_y),
            &mut self.r,
            &mut self.tmp,
        );
        let t = Transition::metropolis(log_alpha, u);
        if t.accepted {
            x.copy_from_slice(&self.y);
            std::mem::swap(&mut self.g_x, &mut self.g_y);
            std::mem::swap(&mut self.dg_x, &mut self.dg_y);
            self.u_x = u_y;
        }
        Ok(t)
    }

    fn counts(&self) -> (u64, u64) {
        (self.gradients, 0)
    }
}

/// The (unclamped) MALA log acceptance ratio log[π(y)q(x|y) / (π(x)q(y|x))] of a move
/// x → y with step size h and optional constant preconditioner D:
/// −(U(y) − U(x))/T − (|x − y + hD∇U(y)|²_{D⁻¹} − |y − x + hD∇U(x)|²_{D⁻¹})/(4hT).
///
/// Detailed balance makes it antisymmetric: swapping x and y negates it. Two gradient
/// evaluations and O(K) (O(K²) with D) work; allocates its buffers, so it is meant for
/// tests and diagnostics, not for inner loops (the MALA kernel computes the same
/// ratio allocation-free from cached gradients). Returns typed errors for dimension
/// mismatches, non-finite points, h ≤ 0 and failed evaluations.
pub fn mala_log_ratio<O: Objective>(
    target: &Gibbs<O>,
    preconditioner: Option<&Preconditioner>,
    h: f64,
    x: &[f64],
    y: &[f64],
) -> Result<f64> {
    let k = target.dim();
    super::euler_maruyama::check_step(h)?;
    check_dim("x", k, x.len())?;
    check_dim("y", k, y.len())?;
    check_finite("x", x)?;
    check_finite("y", y)?;
    if let Some(p) = preconditioner {
        check_dim("preconditioner", k, p.dim())?;
    }
    let v = || vec![0.0; k];
    let (mut g, mut dg_x, mut dg_y, mut r, mut tmp) = (v(), v(), v(), v(), v());
    let u_x = target.potential().gradient(x, &mut g)?;
    precondition(preconditioner, &g, &mut tmp, &mut dg_x);
    let u_y = target.potential().gradient(y, &mut g)?;
    precondition(preconditioner, &g, &mut tmp, &mut dg_y);
    let t = target.temperature();
    Ok(log_ratio(preconditioner, t, h, (x, u_x, &dg_x), (y, u_y, &dg_y), &mut r, &mut tmp))
}
