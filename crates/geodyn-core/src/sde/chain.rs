//! Running chains: warm-up (with optional step-size adaptation), thinning, statistics,
//! and many chains in parallel with results independent of the thread count.

use super::adapt::DualAveraging;
use super::loss_graph_mala::LossGraphMala;
use super::noise::Noise;
use super::overdamped::Overdamped;
use super::problem::Gibbs;
use super::scheme::{Divergence, Kernel, Scheme};
use super::underdamped::{Splitting, Underdamped};
use crate::error::{Error, Result, check_dim, check_finite};
use crate::objective::Objective;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How long a chain runs and what it keeps.
///
/// The chain first takes `burn_in` warm-up steps (adapting h if `adapt` is set; those
/// states are discarded), then `steps` sampling steps with h frozen, keeping every
/// `thin`-th state: ⌊steps/thin⌋ samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChainConfig {
    /// Sampling steps after the warm-up.
    pub steps: usize,
    /// Warm-up steps (discarded).
    pub burn_in: usize,
    /// Keep every `thin`-th sampling state (≥ 1).
    pub thin: usize,
    /// The seed; chain c draws from the stream (seed, c) ([`Noise`]).
    pub seed: u64,
    /// Dual-averaging step-size adaptation during the warm-up (Metropolis-adjusted
    /// schemes only; with no warm-up it has nothing to adapt on); `None` keeps the
    /// scheme's step size.
    pub adapt: Option<DualAveraging>,
}

impl ChainConfig {
    /// `steps` sampling steps under `seed`, no warm-up, no thinning, no adaptation.
    pub fn new(steps: usize, seed: u64) -> Self {
        Self { steps, burn_in: 0, thin: 1, seed, adapt: None }
    }
    /// Sets the number of warm-up steps.
    pub fn burn_in(mut self, burn_in: usize) -> Self {
        self.burn_in = burn_in;
        self
    }
    /// Sets the thinning interval.
    pub fn thin(mut self, thin: usize) -> Self {
        self.thin = thin;
        self
    }
    /// Adapts h by dual averaging during the warm-up.
    pub fn adapt(mut self, adapt: DualAveraging) -> Self {
        self.adapt = Some(adapt);
        self
    }
}

/// The output of one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// The chain's index (its noise stream).
    pub chain: u64,
    /// The dimension K.
    pub dim: usize,
    /// The kept states, row-major: sample i is `samples[i*K..(i+1)*K]`.
    pub samples: Vec<f64>,
    /// The fraction of accepted proposals over the sampling steps (1 for unadjusted
    /// schemes).
    pub acceptance_rate: f64,
    /// The mean acceptance probability min{1, α} over the sampling steps.
    pub mean_accept_prob: f64,
    /// Gradient evaluations, warm-up included.
    pub gradient_evaluations: u64,
    /// Hessian-vector products, warm-up included (the loss-graph divergence term only).
    pub hvp_evaluations: u64,
    /// The step size of the sampling phase (after adaptation).
    pub step_size: f64,
    /// The state after the last step.
    pub final_state: Vec<f64>,
}

impl Chain {
    /// The number of kept samples.
    pub fn len(&self) -> usize {
        self.samples.len().checked_div(self.dim).unwrap_or(0)
    }
    /// Whether no sample was kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Sample i (panics if i ≥ [`len`](Self::len), like slice indexing).
    pub fn sample(&self, i: usize) -> &[f64] {
        &self.samples[i * self.dim..(i + 1) * self.dim]
    }
}

/// The kernel of `scheme` for `target`, with its buffers.
fn kernel<'a, O: Objective>(target: &'a Gibbs<O>, scheme: &'a Scheme) -> Box<dyn Kernel + 'a> {
    match scheme {
        Scheme::Ula { .. } => Box::new(Overdamped::new(target, None, false)),
        Scheme::Mala { .. } => Box::new(Overdamped::new(target, None, true)),
        Scheme::PreconditionedUla { preconditioner, .. } => {
            Box::new(Overdamped::new(target, Some(preconditioner), false))
        }
        Scheme::PreconditionedMala { preconditioner, .. } => {
            Box::new(Overdamped::new(target, Some(preconditioner), true))
        }
        Scheme::Baoab { friction, .. } => Box::new(Underdamped::new(target, Splitting::Baoab, *friction)),
        Scheme::Obabo { friction, .. } => Box::new(Underdamped::new(target, Splitting::Obabo, *friction)),
        Scheme::LossGraphMala { divergence, .. } => {
            Box::new(LossGraphMala::new(target, *divergence == Divergence::Exact, true))
        }
        Scheme::LossGraphLangevin { .. } => Box::new(LossGraphMala::new(target, true, false)),
    }
}

/// Checks a chain's inputs.
fn validate<O: Objective>(target: &Gibbs<O>, start: &[f64], scheme: &Scheme, config: &ChainConfig) -> Result<()> {
    check_dim("start", target.dim(), start.len())?;
    check_finite("start", start)?;
    scheme.validate(target.dim())?;
    if config.thin == 0 {
        return Err(Error::InvalidParameter { name: "thin", value: 0.0, reason: "must be >= 1" });
    }
    if let Some(a) = &config.adapt {
        a.validate()?;
        if !scheme.is_adjusted() {
            return Err(Error::Unsupported {
                method: scheme.name(),
                reason: "step-size adaptation needs a Metropolis-adjusted scheme (an acceptance rate)",
            });
        }
    }
    Ok(())
}

/// Runs chain `chain` of `scheme` on `target` from `start`.
///
/// Cost: burn_in + steps kernel steps (one gradient each, plus the scheme's extra
/// work, see [`Scheme`]); the kernel's buffers are allocated once, the samples once
/// (⌊steps/thin⌋·K values). The result depends only on (target, start, scheme,
/// config, chain), bit for bit. Errors: [`Error::DimensionMismatch`] /
/// [`Error::NonFinite`] for a bad start, [`Error::InvalidParameter`] for h ≤ 0, γ ≤ 0,
/// thin = 0 or bad adaptation constants, [`Error::Unsupported`] for adaptation of an
/// unadjusted scheme, [`Error::ChainDiverged`] when the state (or its potential or
/// gradient) becomes non-finite, and the objective's own errors.
pub fn run_chain<O: Objective>(
    target: &Gibbs<O>,
    start: &[f64],
    scheme: &Scheme,
    config: &ChainConfig,
    chain: u64,
) -> Result<Chain> {
    validate(target, start, scheme, config)?;
    let k = target.dim();
    let mut noise = Noise::new(config.seed, chain);
    let mut kern = kernel(target, scheme);
    let mut x = start.to_vec();
    kern.init(&x, &mut noise)?;
    let mut h = scheme.step();
    let mut adapt = config.adapt.map(|a| a.start(h));
    let mut samples = Vec::with_capacity(config.steps / config.thin * k);
    let (mut accepted, mut prob_sum) = (0u64, 0.0);
    for n in 0..config.burn_in + config.steps {
        let diverged = |e: Error| match e {
            Error::NonFinite { .. } => Error::ChainDiverged { chain, step: n },
            e => e,
        };
        let t = kern.step(h, &mut x, &mut noise).map_err(diverged)?;
        check_finite("state", &x).map_err(diverged)?;
        if n < config.burn_in {
            if let Some(a) = &mut adapt {
                h = a.update(t.accept_prob);
                if n + 1 == config.burn_in {
                    h = a.final_step().unwrap_or(h);
                }
            }
            continue;
        }
        accepted += u64::from(t.accepted);
        prob_sum += t.accept_prob;
        if (n - config.burn_in + 1).is_multiple_of(config.thin) {
            samples.extend_from_slice(&x);
        }
    }
    let (gradient_evaluations, hvp_evaluations) = kern.counts();
    let m = config.steps.max(1) as f64;
    Ok(Chain {
        chain,
        dim: k,
        samples,
        acceptance_rate: accepted as f64 / m,
        mean_accept_prob: prob_sum / m,
        gradient_evaluations,
        hvp_evaluations,
        step_size: h,
        final_state: x,
    })
}

/// Runs chain c = 0, 1, … from `starts[c]` on `threads` threads (0: the available
/// parallelism), with [`run_chain`] each.
///
/// Chain c uses the noise stream (config.seed, c), so every chain's result is
/// identical for any number of threads and whatever the other chains do. Returns one
/// result per chain, in chain order: a chain that fails (for instance
/// [`Error::ChainDiverged`]) does not discard the others. The threads are scoped
/// (`std::thread::scope`); a chain runs on one thread.
pub fn run_chains<O: Objective>(
    target: &Gibbs<O>,
    starts: &[Vec<f64>],
    scheme: &Scheme,
    config: &ChainConfig,
    threads: usize,
) -> Vec<Result<Chain>> {
    let threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        t => t,
    }
    .min(starts.len())
    .max(1);
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Chain>>>> = Mutex::new(vec![None; starts.len()]);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let c = next.fetch_add(1, Ordering::Relaxed);
                    let Some(start) = starts.get(c) else { break };
                    let r = run_chain(target, start, scheme, config, c as u64);
                    results.lock().unwrap_or_else(|p| p.into_inner())[c] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .map(|r| r.unwrap_or(Err(Error::Backend("chain did not run".into()))))
        .collect()
}
