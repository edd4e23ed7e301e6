//! The [`Sampler`] plugin trait, its configuration and the built-in plugins.

use crate::error::{Result, SamplerError};
use geodyn_core::{
    IntegrateOptions, LossGraph, Mechanics, Method, Metric, Objective, SecondOrderSystem, SpeedDependent, StopReason,
    integrate,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Settings shared by the built-in samplers; each plugin reads the ones it uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplerConfig {
    /// Potential strength κ in V = κ(L − L*) (DiMS; paper: 1).
    pub kappa: f64,
    /// Friction coefficient η0 in η = η0·√T (DiMS; the authors' Snelson setting: 0.1).
    pub eta0: f64,
    /// Final time; `None` uses the plugin's default (DiMS 50, RLA 1).
    pub t1: Option<f64>,
    /// DiMS: stop when the kinetic energy first drops below this ε.
    pub stop_below_kinetic: Option<f64>,
    /// Absolute tolerance of the ODE solver (paper: 1e-6).
    pub atol: f64,
    /// Relative tolerance of the ODE solver (paper: 1e-7).
    pub rtol: f64,
    /// Step limit per trajectory.
    pub max_steps: usize,
    /// Laplace: report the linearised predictive f* + Jv instead of f(θ* + v).
    pub linearised: bool,
    /// The integrator of DiMS and RLA trajectories (default
    /// [`Method::LossGraphRattle`]: H never rises, T is conserved to rounding on geodesics,
    /// and a step costs about two loss gradients; see `geodyn_core::integrate` for when
    /// another method is cheaper).
    pub integrator: Method,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            kappa: 1.0,
            eta0: 0.1,
            t1: None,
            stop_below_kinetic: None,
            atol: 1e-6,
            rtol: 1e-7,
            max_steps: 10_000_000,
            linearised: false,
            integrator: Method::LossGraphRattle,
        }
    }
}

impl SamplerConfig {
    /// Checks ranges; every plugin calls it on construction.
    pub fn validate(&self) -> Result<()> {
        let bad = |s: String| Err(SamplerError::InvalidSetting(s));
        if !(self.kappa.is_finite() && self.kappa >= 0.0) {
            return bad(format!("kappa must be finite and >= 0, got {}", self.kappa));
        }
        if !(self.eta0.is_finite() && self.eta0 >= 0.0) {
            return bad(format!("eta0 must be finite and >= 0, got {}", self.eta0));
        }
        if let Some(t1) = self.t1
            && !(t1.is_finite() && t1 > 0.0)
        {
            return bad(format!("t1 must be finite and > 0, got {t1}"));
        }
        if let Some(e) = self.stop_below_kinetic
            && !(e.is_finite() && e > 0.0)
        {
            return bad(format!("the kinetic-energy threshold must be finite and > 0, got {e}"));
        }
        if !(self.atol.is_finite() && self.atol > 0.0 && self.rtol.is_finite() && self.rtol > 0.0) {
            return bad(format!("tolerances must be finite and > 0, got atol {} rtol {}", self.atol, self.rtol));
        }
        Ok(())
    }
}

/// One sample and how it was obtained.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    /// Sample index (the RNG stream it was drawn from).
    pub index: usize,
    /// The sampled parameters.
    #[serde(skip)]
    pub theta: Vec<f64>,
    /// The objective (negative log posterior) at the sample.
    pub final_loss: f64,
    /// Kinetic energy at the end of the trajectory (0 for samplers without dynamics).
    pub final_kinetic: f64,
    /// The time the trajectory ended (0 without dynamics).
    pub final_time: f64,
    /// Whether the kinetic-energy stop event ended the run (rather than t1).
    pub stopped_by_event: bool,
    /// Right-hand-side evaluations.
    pub rhs_evaluations: usize,
    /// Accepted ODE steps.
    pub accepted_steps: usize,
    /// Rejected ODE steps.
    pub rejected_steps: usize,
    /// Wall time of this sample in seconds.
    pub wall_time_s: f64,
    /// The largest step-to-step increase of the energy H over accepted steps (≤ 0 up to
    /// rounding for an honest dissipative run); `None` without dynamics.
    pub max_energy_increase: Option<f64>,
    /// For runs without dissipation (geodesics): max |H(t) − H(0)|/|H(0)|, the relative
    /// drift of the conserved kinetic energy.
    pub kinetic_drift: Option<f64>,
}

/// A sampler plugin: maps the MAP θ* and an initial velocity v ~ N(0, P⁻¹) to a sample.
///
/// Plugins are pure functions of (θ*, v): randomness lives in the velocities, which the
/// driver draws from (seed, sample index), so results do not depend on thread count.
pub trait Sampler: Send + Sync {
    /// The registry name.
    fn name(&self) -> &'static str;
    /// The settings in force.
    fn config(&self) -> &SamplerConfig;
    /// One sample from θ* with initial velocity `velocity`.
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord>;
}

/// DiMS: the dissipative minima sampler. Integrates ẍ = −(ẋᵀHẋ + κ) g/(1+|g|²) − η0√T ẋ
/// on the loss-graph metric from (θ*, v) to t1 (default 50), or until T < ε.
#[derive(Debug, Clone)]
pub struct Dims {
    config: SamplerConfig,
}

impl Dims {
    /// A DiMS sampler with `config`.
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
}

/// RLA: the Riemannian Laplace approximation. The geodesic (κ = η = 0) of the
/// loss-graph metric from (θ*, v) to t = 1 — the exponential map Exp_θ*(v).
#[derive(Debug, Clone)]
pub struct Rla {
    config: SamplerConfig,
}

impl Rla {
    /// An RLA sampler with `config` (κ and η0 are ignored).
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
}

/// The sampled Laplace approximation: θ = θ* + v.
#[derive(Debug, Clone)]
pub struct Laplace {
    config: SamplerConfig,
}

impl Laplace {
    /// A Laplace sampler with `config` (`linearised` selects the linearised predictive).
    pub fn new(config: SamplerConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
}

fn run_dynamics<S: SecondOrderSystem>(
    sys: &S,
    objective: &dyn Objective,
    theta_map: &[f64],
    velocity: &[f64],
    index: usize,
    opts: &IntegrateOptions,
) -> Result<SampleRecord> {
    let start = Instant::now();
    let sol = integrate(sys, theta_map, velocity, opts)
        .map_err(|e| SamplerError::Sample { index, source: Box::new(e.into()) })?;
    let final_loss = objective.value(&sol.x)?;
    let final_kinetic = sys.energy(&sol.x, &sol.v)?.kinetic;
    Ok(SampleRecord {
        index,
        final_loss,
        final_kinetic,
        final_time: sol.t,
        stopped_by_event: matches!(sol.stop, StopReason::KineticBelow { .. }),
        rhs_evaluations: sol.stats.rhs_evaluations,
        accepted_steps: sol.stats.accepted_steps,
        rejected_steps: sol.stats.rejected_steps,
        wall_time_s: start.elapsed().as_secs_f64(),
        max_energy_increase: sol.energy.map(|e| e.max_increase),
        kinetic_drift: sol.energy.and_then(|e| e.relative_drift),
        theta: sol.x,
    })
}

fn options(c: &SamplerConfig, default_t1: f64) -> IntegrateOptions {
    let mut o = IntegrateOptions::new(c.t1.unwrap_or(default_t1))
        .tolerances(c.atol, c.rtol)
        .max_steps(c.max_steps)
        .method(c.integrator);
    o.stop_below_kinetic = c.stop_below_kinetic;
    o
}

impl Sampler for Dims {
    fn name(&self) -> &'static str {
        "dims"
    }
    fn config(&self) -> &SamplerConfig {
        &self.config
    }
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord> {
        let l_star = objective.value(theta_map)?;
        let sys = Mechanics::dims(objective, self.config.kappa, l_star, SpeedDependent(self.config.eta0))?;
        run_dynamics(&sys, objective, theta_map, velocity, index, &options(&self.config, 50.0))
    }
}

impl Sampler for Rla {
    fn name(&self) -> &'static str {
        "rla"
    }
    fn config(&self) -> &SamplerConfig {
        &self.config
    }
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord> {
        let sys = Mechanics::geodesic(LossGraph::new(objective));
        let mut opts = options(&self.config, 1.0);
        opts.stop_below_kinetic = None;
        run_dynamics(&sys, objective, theta_map, velocity, index, &opts)
    }
}

impl Sampler for Laplace {
    fn name(&self) -> &'static str {
        "laplace"
    }
    fn config(&self) -> &SamplerConfig {
        &self.config
    }
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord> {
        let start = Instant::now();
        geodyn_core::error::check_dim("velocity", theta_map.len(), velocity.len())?;
        let theta: Vec<f64> = theta_map.iter().zip(velocity).map(|(a, b)| a + b).collect();
        let final_loss = objective.value(&theta)?;
        let final_kinetic = LossGraph::new(objective).kinetic(theta_map, velocity)?;
        Ok(SampleRecord {
            index,
            theta,
            final_loss,
            final_kinetic,
            final_time: 0.0,
            stopped_by_event: false,
            rhs_evaluations: 0,
            accepted_steps: 0,
            rejected_steps: 0,
            wall_time_s: start.elapsed().as_secs_f64(),
            max_energy_increase: None,
            kinetic_drift: None,
        })
    }
}
