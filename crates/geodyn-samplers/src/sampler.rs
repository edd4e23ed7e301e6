//! The [`Sampler`] plugin trait, its configuration and the built-in plugins.

use crate::error::{Result, SamplerError};
use geodyn_core::{
    IntegrateOptions, LossGraph, Mechanics, Method, Metric, Objective, SecondOrderSystem, SpeedDependent, StopReason,
    integrate,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// The union of the built-in samplers' settings, as the command line and `summary.json`
/// carry them and [`Registry::create`](crate::Registry::create) takes them; each plugin
/// has its own configuration type ([`DimsConfig`], [`RlaConfig`], [`LaplaceConfig`]),
/// obtained with [`SamplerConfig::dims`], [`rla`](SamplerConfig::rla) and
/// [`laplace`](SamplerConfig::laplace).
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
    /// Checks every field's range, whichever plugin reads it (the registry checks the
    /// union before building a plugin, so that a bad setting is reported for any sampler).
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

impl SamplerConfig {
    /// The DiMS settings of this union.
    pub fn dims(&self) -> DimsConfig {
        DimsConfig {
            kappa: self.kappa,
            eta0: self.eta0,
            t1: self.t1.unwrap_or(DimsConfig::DEFAULT_T1),
            stop_below_kinetic: self.stop_below_kinetic,
            integration: self.integration(),
        }
    }
    /// The RLA settings of this union (κ, η0 and the stop event do not apply).
    pub fn rla(&self) -> RlaConfig {
        RlaConfig { t1: self.t1.unwrap_or(RlaConfig::DEFAULT_T1), integration: self.integration() }
    }
    /// The Laplace settings of this union.
    pub fn laplace(&self) -> LaplaceConfig {
        LaplaceConfig { linearised: self.linearised }
    }
    fn integration(&self) -> Integration {
        Integration { atol: self.atol, rtol: self.rtol, max_steps: self.max_steps, method: self.integrator }
    }
}

/// How a trajectory sampler integrates: tolerances, step limit and [`Method`].
///
/// Defaults: the DiMS paper's atol 1e-6 and rtol 1e-7, 10 million steps,
/// [`Method::LossGraphRattle`] (its tolerance is the energy error per step, rtol/100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Integration {
    /// Absolute tolerance (> 0).
    pub atol: f64,
    /// Relative tolerance (> 0).
    pub rtol: f64,
    /// Step limit per trajectory.
    pub max_steps: usize,
    /// The integrator.
    pub method: Method,
}

impl Default for Integration {
    fn default() -> Self {
        Self { atol: 1e-6, rtol: 1e-7, max_steps: 10_000_000, method: Method::LossGraphRattle }
    }
}

impl Integration {
    fn validate(&self) -> Result<()> {
        if !(self.atol.is_finite() && self.atol > 0.0 && self.rtol.is_finite() && self.rtol > 0.0) {
            return Err(SamplerError::InvalidSetting(format!(
                "tolerances must be finite and > 0, got atol {} rtol {}",
                self.atol, self.rtol
            )));
        }
        Ok(())
    }

    fn options(&self, t1: f64, stop_below_kinetic: Option<f64>) -> IntegrateOptions {
        let mut o =
            IntegrateOptions::new(t1).tolerances(self.atol, self.rtol).max_steps(self.max_steps).method(self.method);
        o.stop_below_kinetic = stop_below_kinetic;
        o
    }
}

fn check_t1(t1: f64) -> Result<()> {
    if !(t1.is_finite() && t1 > 0.0) {
        return Err(SamplerError::InvalidSetting(format!("t1 must be finite and > 0, got {t1}")));
    }
    Ok(())
}

/// The settings of [`Dims`], built argmin-style:
///
/// ```
/// use geodyn_samplers::{Dims, DimsConfig};
/// let dims = Dims::new(DimsConfig::default().eta0(0.5).t1(100.0)).unwrap();
/// assert_eq!(dims.config().eta0, 0.5);
/// assert!(Dims::new(DimsConfig::default().eta0(-1.0)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DimsConfig {
    /// Potential strength κ in V = κ(L − L*) (paper: 1).
    pub kappa: f64,
    /// Friction coefficient η0 in η = η0·√T (the authors' Snelson setting: 0.1).
    pub eta0: f64,
    /// Final time (default [`DimsConfig::DEFAULT_T1`]).
    pub t1: f64,
    /// Stop when the kinetic energy first drops below this ε.
    pub stop_below_kinetic: Option<f64>,
    /// Tolerances, step limit and integrator.
    pub integration: Integration,
}

impl DimsConfig {
    /// The default final time, 50.
    pub const DEFAULT_T1: f64 = 50.0;
    /// Sets κ.
    pub fn kappa(mut self, kappa: f64) -> Self {
        self.kappa = kappa;
        self
    }
    /// Sets η0.
    pub fn eta0(mut self, eta0: f64) -> Self {
        self.eta0 = eta0;
        self
    }
    /// Sets the final time.
    pub fn t1(mut self, t1: f64) -> Self {
        self.t1 = t1;
        self
    }
    /// Stops each trajectory when T first drops below `eps`.
    pub fn stop_below_kinetic(mut self, eps: f64) -> Self {
        self.stop_below_kinetic = Some(eps);
        self
    }
    /// Sets the integration settings.
    pub fn integration(mut self, integration: Integration) -> Self {
        self.integration = integration;
        self
    }
    fn validate(&self) -> Result<()> {
        let bad = |s: String| Err(SamplerError::InvalidSetting(s));
        if !(self.kappa.is_finite() && self.kappa >= 0.0) {
            return bad(format!("kappa must be finite and >= 0, got {}", self.kappa));
        }
        if !(self.eta0.is_finite() && self.eta0 >= 0.0) {
            return bad(format!("eta0 must be finite and >= 0, got {}", self.eta0));
        }
        check_t1(self.t1)?;
        if let Some(e) = self.stop_below_kinetic
            && !(e.is_finite() && e > 0.0)
        {
            return bad(format!("the kinetic-energy threshold must be finite and > 0, got {e}"));
        }
        self.integration.validate()
    }
}

impl Default for DimsConfig {
    fn default() -> Self {
        SamplerConfig::default().dims()
    }
}

/// The settings of [`Rla`]: the geodesic's end time (the exponential map at t = 1) and
/// the integration settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RlaConfig {
    /// Final time (default [`RlaConfig::DEFAULT_T1`]).
    pub t1: f64,
    /// Tolerances, step limit and integrator.
    pub integration: Integration,
}

impl RlaConfig {
    /// The default final time, 1 (Exp_θ*(v)).
    pub const DEFAULT_T1: f64 = 1.0;
    /// Sets the final time.
    pub fn t1(mut self, t1: f64) -> Self {
        self.t1 = t1;
        self
    }
    /// Sets the integration settings.
    pub fn integration(mut self, integration: Integration) -> Self {
        self.integration = integration;
        self
    }
    fn validate(&self) -> Result<()> {
        check_t1(self.t1)?;
        self.integration.validate()
    }
}

impl Default for RlaConfig {
    fn default() -> Self {
        SamplerConfig::default().rla()
    }
}

/// The settings of [`Laplace`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaplaceConfig {
    /// Report the linearised predictive f* + J v instead of f(θ* + v) (read by the
    /// caller that forms the predictive; the samples are θ* + v either way).
    pub linearised: bool,
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

impl SampleRecord {
    /// The record of a sample obtained without integrating dynamics (a Laplace draw, a
    /// Markov-chain state): no end time, no stop event, no ODE work counts, no energy
    /// diagnostics; `final_kinetic` is whatever kinetic energy the plugin reports (0 if
    /// none).
    pub fn without_dynamics(
        index: usize,
        theta: Vec<f64>,
        final_loss: f64,
        final_kinetic: f64,
        wall_time_s: f64,
    ) -> Self {
        Self {
            index,
            theta,
            final_loss,
            final_kinetic,
            final_time: 0.0,
            stopped_by_event: false,
            rhs_evaluations: 0,
            accepted_steps: 0,
            rejected_steps: 0,
            wall_time_s,
            max_energy_increase: None,
            kinetic_drift: None,
        }
    }
}

/// A sampler plugin: maps the MAP θ* and an initial velocity v ~ N(0, P⁻¹) to sample
/// `index`.
///
/// Plugins are pure functions of (θ*, v, index): the driver draws the velocities from
/// (seed, sample index), so results do not depend on the thread count. A plugin that
/// draws noise of its own (a Markov chain such as a Langevin sampler) keys its stream by
/// its configured seed and `index` (the chain), and may use `velocity` as its initial
/// momentum or ignore it; the record reports what it did.
pub trait Sampler: Send + Sync {
    /// The registry name.
    fn name(&self) -> &'static str;
    /// One sample from θ* with initial velocity `velocity`.
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord>;

    /// The kept states of chain `index`, in chain order, one record each: what a
    /// Markov-chain plugin (Langevin, MALA, SGLD) returns after its burn-in and thinning,
    /// keying its noise by its configured seed and `index`, as
    /// [`geodyn_core::sde::run_chain`] does. [`run_chains`](crate::driver::run_chains)
    /// calls it. The default is the one record of [`sample_one`](Sampler::sample_one),
    /// so trajectory plugins (one sample per index) need not implement it.
    fn sample_chain(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<Vec<SampleRecord>> {
        Ok(vec![self.sample_one(objective, theta_map, velocity, index)?])
    }
}

/// DiMS: the dissipative minima sampler. Integrates ẍ = −(ẋᵀHẋ + κ) g/(1+|g|²) − η0√T ẋ
/// on the loss-graph metric from (θ*, v) to t1 (default 50), or until T < ε.
#[derive(Debug, Clone)]
pub struct Dims {
    config: DimsConfig,
}

impl Dims {
    /// A DiMS sampler with `config` (checked).
    pub fn new(config: DimsConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
    /// The settings in force.
    pub fn config(&self) -> &DimsConfig {
        &self.config
    }
}

/// RLA: the Riemannian Laplace approximation. The geodesic (κ = η = 0) of the
/// loss-graph metric from (θ*, v) to t = 1 — the exponential map Exp_θ*(v).
#[derive(Debug, Clone)]
pub struct Rla {
    config: RlaConfig,
}

impl Rla {
    /// An RLA sampler with `config` (checked).
    pub fn new(config: RlaConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self { config })
    }
    /// The settings in force.
    pub fn config(&self) -> &RlaConfig {
        &self.config
    }
}

/// The sampled Laplace approximation: θ = θ* + v.
#[derive(Debug, Clone)]
pub struct Laplace {
    config: LaplaceConfig,
}

impl Laplace {
    /// A Laplace sampler with `config` (`linearised` selects the linearised predictive).
    pub fn new(config: LaplaceConfig) -> Result<Self> {
        Ok(Self { config })
    }
    /// The settings in force.
    pub fn config(&self) -> &LaplaceConfig {
        &self.config
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

impl Sampler for Dims {
    fn name(&self) -> &'static str {
        "dims"
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
        let c = &self.config;
        run_dynamics(&sys, objective, theta_map, velocity, index, &c.integration.options(c.t1, c.stop_below_kinetic))
    }
}

impl Sampler for Rla {
    fn name(&self) -> &'static str {
        "rla"
    }
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord> {
        let sys = Mechanics::geodesic(LossGraph::new(objective));
        let opts = self.config.integration.options(self.config.t1, None);
        run_dynamics(&sys, objective, theta_map, velocity, index, &opts)
    }
}

impl Sampler for Laplace {
    fn name(&self) -> &'static str {
        "laplace"
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
        Ok(SampleRecord::without_dynamics(index, theta, final_loss, final_kinetic, start.elapsed().as_secs_f64()))
    }
}
