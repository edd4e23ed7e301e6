//! Riemannian MALA on the loss-graph metric G = I + ∇U∇Uᵀ, in O(K) closed forms.

use super::noise::Noise;
use super::problem::Gibbs;
use super::scheme::{Kernel, Transition, finite_state};
use crate::error::{Error, Result, check_dim, check_finite};
use crate::objective::{Objective, dot};

/// What the kernel keeps of one point: U, g = ∇U, s = 1 + |g|² and the drift
/// a = −g/s + T∇·G⁻¹ (the proposal mean is θ + h a).
struct Point {
    u: f64,
    g: Vec<f64>,
    s: f64,
    a: Vec<f64>,
}

impl Point {
    fn new(k: usize) -> Self {
        Self { u: 0.0, g: vec![0.0; k], s: 1.0, a: vec![0.0; k] }
    }
}

/// Hessian-vector scratch for the divergence term.
struct DivergenceScratch {
    hg: Vec<f64>,
    e: Vec<f64>,
    hv: Vec<f64>,
}

/// Writes ∇·G⁻¹ = −Hg/s − g tr(H)/s + 2g(gᵀHg)/s² at x (g = ∇U(x) given,
/// s = 1 + |g|²) into `out`: K + 1 Hessian-vector products.
fn divergence_into<O: Objective + ?Sized>(
    potential: &O,
    x: &[f64],
    g: &[f64],
    w: &mut DivergenceScratch,
    out: &mut [f64],
) -> Result<()> {
    let s = 1.0 + dot(g, g);
    potential.hvp(x, g, &mut w.hg)?;
    let mut trace = 0.0;
    w.e.fill(0.0);
    for i in 0..x.len() {
        w.e[i] = 1.0;
        potential.hvp(x, &w.e, &mut w.hv)?;
        trace += w.hv[i];
        w.e[i] = 0.0;
    }
    let ghg = dot(g, &w.hg);
    let c = -trace / s + 2.0 * ghg / (s * s);
    for i in 0..x.len() {
        out[i] = -w.hg[i] / s + c * g[i];
    }
    Ok(())
}

/// The divergence (∇·G⁻¹)_i = Σ_j ∂_j(G⁻¹)_ij of the inverse loss-graph metric
/// G = I + ggᵀ, g = ∇U, at x: −Hg/s − g tr(H)/s + 2g(gᵀHg)/s² with H = ∇²U and
/// s = 1 + |g|².
///
/// It is the correction T∇·G⁻¹ that makes dθ = (−G⁻¹∇U + T∇·G⁻¹)dt + √(2T)G^{−1/2}dW
/// leave π ∝ exp(−U/T) invariant. Cost: one gradient and K + 1 exact Hessian-vector
/// products ([`Objective::hvp`]; tr H needs K of them), so O(K) HVPs, not O(K) work —
/// too expensive for large networks, where [`Divergence::Dropped`](super::Divergence::Dropped)
/// with the Metropolis test is the exact alternative. Allocates its scratch (a
/// diagnostic and test entry point; the sampler keeps its own buffers).
pub fn loss_graph_divergence<O: Objective + ?Sized>(potential: &O, x: &[f64], out: &mut [f64]) -> Result<()> {
    let k = potential.dim();
    check_dim("x", k, x.len())?;
    check_dim("out", k, out.len())?;
    check_finite("x", x)?;
    let mut g = vec![0.0; k];
    potential.gradient(x, &mut g)?;
    let mut w = DivergenceScratch { hg: vec![0.0; k], e: vec![0.0; k], hv: vec![0.0; k] };
    divergence_into(potential, x, &g, &mut w, out)
}

/// The loss-graph MALA kernel (or, unadjusted, the Riemannian Langevin Euler step).
pub(crate) struct LossGraphMala<'a, O> {
    target: &'a Gibbs<O>,
    adjusted: bool,
    scratch: Option<DivergenceScratch>,
    x: Point,
    y: Point,
    yv: Vec<f64>,
    z: Vec<f64>,
    d: Vec<f64>,
    gradients: u64,
    hvps: u64,
}

impl<'a, O: Objective> LossGraphMala<'a, O> {
    pub(crate) fn new(target: &'a Gibbs<O>, divergence: bool, adjusted: bool) -> Self {
        let k = target.dim();
        let v = || vec![0.0; k];
        Self {
            target,
            adjusted,
            scratch: divergence.then(|| DivergenceScratch { hg: v(), e: v(), hv: v() }),
            x: Point::new(k),
            y: Point::new(k),
            yv: v(),
            z: v(),
            d: v(),
            gradients: 0,
            hvps: 0,
        }
    }

    /// Fills `point` at θ: U, g, s and the drift a.
    fn evaluate(&mut self, theta: &[f64], which_y: bool) -> Result<()> {
        let pot = self.target.potential();
        let temperature = self.target.temperature();
        let point = if which_y { &mut self.y } else { &mut self.x };
        self.gradients += 1;
        point.u = pot.gradient(theta, &mut point.g)?;
        finite_state(point.u, &point.g)?;
        point.s = 1.0 + dot(&point.g, &point.g);
        match &mut self.scratch {
            Some(w) => {
                self.hvps += theta.len() as u64 + 1;
                divergence_into(pot, theta, &point.g, w, &mut point.a)?;
                for (a, g) in point.a.iter_mut().zip(&point.g) {
                    *a = temperature * *a - g / point.s;
                }
            }
            None => {
                for (a, g) in point.a.iter_mut().zip(&point.g) {
                    *a = -g / point.s;
                }
            }
        }
        finite_state(0.0, &point.a)
    }
}

/// log q(to | from) up to a constant: ½ log s − (|d|² + (g·d)²)/(4hT), d = to − from − h a.
fn log_q(from: &[f64], p: &Point, to: &[f64], h: f64, temperature: f64, d: &mut [f64]) -> f64 {
    for i in 0..from.len() {
        d[i] = to[i] - from[i] - h * p.a[i];
    }
    let gd = dot(&p.g, d);
    0.5 * p.s.ln() - (dot(d, d) + gd * gd) / (4.0 * h * temperature)
}

impl<O: Objective> Kernel for LossGraphMala<'_, O> {
    fn init(&mut self, x: &[f64], _noise: &mut Noise) -> Result<()> {
        self.evaluate(x, false)
    }

    fn step(&mut self, h: f64, x: &mut [f64], noise: &mut Noise) -> Result<Transition> {
        let temperature = self.target.temperature();
        noise.normals(&mut self.z);
        let u = if self.adjusted { noise.uniform() } else { 1.0 };
        // G^{-1/2} z = z − c g (g·z), c = (1 − s^{-1/2})/|g|² = 1/(√s(1 + √s)).
        let rs = self.x.s.sqrt();
        let c = 1.0 / (rs * (1.0 + rs));
        let gz = dot(&self.x.g, &self.z);
        let scale = (2.0 * h * temperature).sqrt();
        for (i, (y, xi)) in self.yv.iter_mut().zip(x.iter()).enumerate() {
            *y = xi + h * self.x.a[i] + scale * (self.z[i] - c * self.x.g[i] * gz);
        }
        let yv = std::mem::take(&mut self.yv);
        let evaluated = self.evaluate(&yv, true);
        self.yv = yv;
        if !self.adjusted {
            evaluated?;
            x.copy_from_slice(&self.yv);
            std::mem::swap(&mut self.x, &mut self.y);
            return Ok(Transition::MOVE);
        }
        match evaluated {
            Ok(()) => {}
            Err(Error::NonFinite { .. }) => return Ok(Transition::REJECT),
            Err(e) => return Err(e),
        }
        let forward = log_q(x, &self.x, &self.yv, h, temperature, &mut self.d);
        let backward = log_q(&self.yv, &self.y, x, h, temperature, &mut self.d);
        let log_alpha = -(self.y.u - self.x.u) / temperature + backward - forward;
        let t = Transition::metropolis(log_alpha, u);
        if t.accepted {
            x.copy_from_slice(&self.yv);
            std::mem::swap(&mut self.x, &mut self.y);
        }
        Ok(t)
    }

    fn counts(&self) -> (u64, u64) {
        (self.gradients, self.hvps)
    }
}
