//! What an SDE scheme integrates: a general drift/diffusion problem ([`SdeProblem`]) and
//! the Gibbs target π ∝ exp(−U/T) of the Langevin samplers ([`Gibbs`]).

use crate::error::{Error, Result, check_dim};
use crate::objective::Objective;

/// An Itô SDE dX = b(t, X) dt + σ(t, X) dW in R^n with scalar or diagonal noise:
/// σ(t, x) = diag(σ_1, …, σ_n) and W an n-dimensional Brownian motion (scalar noise
/// σ I is the case of equal entries; additive noise, the case of constant entries).
///
/// Integrated by [`EulerMaruyama`](super::EulerMaruyama). Implementations must not
/// allocate in [`drift`](Self::drift) or [`diffusion`](Self::diffusion) and report
/// failures as typed errors. Noise that couples the components (a full matrix σ) is
/// not expressible here; the Langevin samplers handle their full preconditioners and
/// metrics themselves.
pub trait SdeProblem {
    /// The state dimension n.
    fn dim(&self) -> usize;
    /// Writes the drift b(t, x) (length n).
    fn drift(&self, t: f64, x: &[f64], out: &mut [f64]) -> Result<()>;
    /// Writes the diagonal of σ(t, x) (length n).
    fn diffusion(&self, t: f64, x: &[f64], out: &mut [f64]) -> Result<()>;
}

impl<P: SdeProblem + ?Sized> SdeProblem for &P {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn drift(&self, t: f64, x: &[f64], out: &mut [f64]) -> Result<()> {
        (**self).drift(t, x, out)
    }
    fn diffusion(&self, t: f64, x: &[f64], out: &mut [f64]) -> Result<()> {
        (**self).diffusion(t, x, out)
    }
}

/// The Gibbs measure π(θ) ∝ exp(−U(θ)/T) of a potential U (any [`Objective`]) at a
/// temperature T > 0; T = 1 with U the negative log posterior is Bayesian sampling.
///
/// As an [`SdeProblem`] it is overdamped Langevin dθ = −∇U dt + √(2T) dW (drift one
/// gradient, additive scalar noise), whose invariant measure is π; Euler–Maruyama on
/// it is the unadjusted Langevin algorithm.
#[derive(Debug, Clone)]
pub struct Gibbs<O> {
    potential: O,
    temperature: f64,
}

impl<O: Objective> Gibbs<O> {
    /// π ∝ exp(−U/T) with U = `potential`, T = `temperature`.
    ///
    /// Returns [`Error::InvalidParameter`] unless T is finite and > 0.
    pub fn new(potential: O, temperature: f64) -> Result<Self> {
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::InvalidParameter {
                name: "temperature",
                value: temperature,
                reason: "must be finite and > 0",
            });
        }
        Ok(Self { potential, temperature })
    }
    /// The potential U.
    pub fn potential(&self) -> &O {
        &self.potential
    }
    /// The temperature T.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }
    /// The dimension K of θ.
    pub fn dim(&self) -> usize {
        self.potential.dim()
    }
}

impl<O: Objective> SdeProblem for Gibbs<O> {
    fn dim(&self) -> usize {
        self.potential.dim()
    }
    fn drift(&self, _t: f64, x: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("drift", self.dim(), out.len())?;
        self.potential.gradient(x, out)?;
        out.iter_mut().for_each(|o| *o = -*o);
        Ok(())
    }
    fn diffusion(&self, _t: f64, _x: &[f64], out: &mut [f64]) -> Result<()> {
        check_dim("diffusion", self.dim(), out.len())?;
        out.fill((2.0 * self.temperature).sqrt());
        Ok(())
    }
}
