//! A 1-D finite-volume Fokker–Planck solver: Scharfetter–Gummel fluxes, no-flux walls, backward Euler.
//!
//! Solves ∂ρ/∂t = ∂ₓ(ρ ∂ₓV + β⁻¹ ∂ₓρ) on [lo, hi] with zero flux at both ends. The flux between
//! cells i and i+1 is J_{i+½} = (β⁻¹/Δx)[B(zᵢ)ρᵢ − B(−zᵢ)ρᵢ₊₁], zᵢ = β(Vᵢ₊₁ − Vᵢ),
//! B(z) = z/(eᶻ − 1), and each step solves (I + Δt A)ρⁿ⁺¹ = ρⁿ by the Thomas algorithm.

use crate::error::{Result, TransportError, check_finite};
use crate::measure::{GridDensity1d, check_interval};

/// The Bernoulli function B(z) = z/(eᶻ − 1), B(0) = 1, accurate to a few ulps for all z
/// (B(z) → 0 for z → +∞, B(z) ≈ −z for z → −∞). It satisfies B(−z) = eᶻ B(z).
pub fn bernoulli(z: f64) -> f64 {
    if z.abs() < 1e-10 { 1.0 - 0.5 * z } else { z / z.exp_m1() }
}

/// The Fokker–Planck operator of a potential V on a uniform grid of n cells, with its step scratch.
///
/// Guarantees of [`step`](Self::step) (exact in exact arithmetic; to rounding in f64): the mass
/// Σρᵢ Δx is conserved (the matrix has unit column sums); a non-negative density stays
/// non-negative and becomes strictly positive (the matrix is an irreducible M-matrix, so its inverse
/// is positive; the Thomas sweeps only add non-negative terms, so this holds in f64 as well, up
/// to underflow far out in the tails); the discrete Gibbs density πᵢ ∝ e^{−βVᵢ} is an exact steady state (B(−z) = eᶻB(z)
/// makes every flux vanish on it); the discrete free energy F_h(ρ) = Σᵢ (Vᵢρᵢ + β⁻¹ρᵢ log ρᵢ)Δx
/// = β⁻¹ KL_h(ρ‖π) + const never increases (the step is a stochastic matrix fixing π). The scheme
/// is unconditionally stable, first order in Δt and second order in Δx.
///
/// Cost: O(n) setup (n − 1 Bernoulli evaluations), O(n) time per step and no allocation after
/// construction. The grid should resolve the potential: the cell Péclet numbers |zᵢ|
/// ([`max_cell_peclet`](Self::max_cell_peclet)) well below ~1 keep the second-order accuracy; the
/// scheme stays positive and stable for large ones but becomes first order. Not for 2-D grids or
/// for potentials that depend on ρ (interaction energies); for particles use a sampler.
#[derive(Debug, Clone)]
pub struct FokkerPlanck1d {
    lo: f64,
    hi: f64,
    beta: f64,
    potential: Vec<f64>,
    /// B(zᵢ), i = 0..n−1.
    b_plus: Vec<f64>,
    /// B(−zᵢ), i = 0..n−1.
    b_minus: Vec<f64>,
    /// Thomas-algorithm scratch (the modified super-diagonal).
    scratch: Vec<f64>,
}

/// The record of [`FokkerPlanck1d::run`]: one entry per time, the initial one included.
#[derive(Debug, Clone, PartialEq)]
pub struct FokkerPlanckRun {
    /// The density at the final time.
    pub density: GridDensity1d,
    /// The times t₀ = 0, Δt, 2Δt, …
    pub times: Vec<f64>,
    /// The discrete free energy F_h(ρ) at each time (non-increasing).
    pub free_energy: Vec<f64>,
    /// The mass Σρᵢ Δx at each time (constant to rounding).
    pub mass: Vec<f64>,
    /// The mean of ρ at each time.
    pub mean: Vec<f64>,
    /// The variance of ρ at each time.
    pub variance: Vec<f64>,
    /// The smallest cell value over all steps (positive unless ρ₀ vanished identically).
    pub min_density: f64,
}

impl FokkerPlanck1d {
    /// The solver for the potential V sampled at the n cell centres of [lo, hi], inverse temperature β.
    ///
    /// Errors: an invalid interval, n = 0 ([`TransportError::Empty`]), β not finite and > 0, a
    /// non-finite V(xᵢ) ([`TransportError::NonFinite`]). Cost: n evaluations of V plus O(n).
    pub fn new(lo: f64, hi: f64, n: usize, beta: f64, potential: impl Fn(f64) -> f64) -> Result<Self> {
        check_interval(lo, hi)?;
        let dx = (hi - lo) / n as f64;
        Self::from_values(lo, hi, beta, (0..n).map(|i| potential(lo + (i as f64 + 0.5) * dx)).collect())
    }

    /// The solver for given potential values Vᵢ at the cell centres (n = `potential.len()` cells).
    /// Errors as [`new`](Self::new).
    pub fn from_values(lo: f64, hi: f64, beta: f64, potential: Vec<f64>) -> Result<Self> {
        check_interval(lo, hi)?;
        if potential.is_empty() {
            return Err(TransportError::Empty { what: "potential" });
        }
        if !(beta.is_finite() && beta > 0.0) {
            return Err(TransportError::InvalidParameter {
                name: "beta",
                value: beta,
                reason: "must be finite and > 0",
            });
        }
        check_finite("potential", &potential)?;
        let z: Vec<f64> = potential.windows(2).map(|w| beta * (w[1] - w[0])).collect();
        let b_plus = z.iter().map(|&z| bernoulli(z)).collect();
        let b_minus = z.iter().map(|&z| bernoulli(-z)).collect();
        let scratch = vec![0.0; potential.len()];
        Ok(FokkerPlanck1d { lo, hi, beta, potential, b_plus, b_minus, scratch })
    }

    /// The number of cells n.
    pub fn len(&self) -> usize {
        self.potential.len()
    }

    /// Always `false` (at least one cell). Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.potential.is_empty()
    }

    /// The cell width Δx.
    pub fn dx(&self) -> f64 {
        (self.hi - self.lo) / self.len() as f64
    }

    /// The inverse temperature β.
    pub fn beta(&self) -> f64 {
        self.beta
    }

    /// The potential values Vᵢ at the cell centres.
    pub fn potential(&self) -> &[f64] {
        &self.potential
    }

    /// max |zᵢ| = β max |Vᵢ₊₁ − Vᵢ|, the largest cell Péclet number (0 for one cell); see the type's
    /// documentation for what it means for accuracy.
    pub fn max_cell_peclet(&self) -> f64 {
        self.potential.windows(2).map(|w| self.beta * (w[1] - w[0]).abs()).fold(0.0, f64::max)
    }

    /// The discrete Gibbs density πᵢ = e^{−βVᵢ}/Z with Σπᵢ Δx = 1, the exact steady state of the
    /// scheme (computed with V shifted by its minimum, so it does not underflow at its peak). Cost O(n).
    pub fn gibbs(&self) -> GridDensity1d {
        let vmin = self.potential.iter().copied().fold(f64::INFINITY, f64::min);
        let mut vals: Vec<f64> = self.potential.iter().map(|v| (-self.beta * (v - vmin)).exp()).collect();
        let z: f64 = vals.iter().sum::<f64>() * self.dx();
        vals.iter_mut().for_each(|v| *v /= z);
        GridDensity1d::from_parts(self.lo, self.hi, vals)
    }

    /// The discrete free energy F_h(ρ) = Σᵢ (Vᵢρᵢ + β⁻¹ρᵢ log ρᵢ) Δx (0 log 0 = 0). Errors if ρ is on
    /// another grid ([`TransportError::DimensionMismatch`], [`TransportError::InvalidParameter`]). Cost O(n).
    pub fn free_energy(&self, rho: &GridDensity1d) -> Result<f64> {
        self.check_grid(rho)?;
        let kt = 1.0 / self.beta;
        let s: f64 = self
            .potential
            .iter()
            .zip(rho.values())
            .map(|(v, &r)| v * r + if r > 0.0 { kt * r * r.ln() } else { 0.0 })
            .sum();
        Ok(s * self.dx())
    }

    /// One backward-Euler step of length `dt`, in place: solves (I + Δt A)ρⁿ⁺¹ = ρⁿ.
    ///
    /// Errors: `dt` not finite and > 0, ρ on another grid, a non-finite result (only possible for
    /// overflowing inputs). Guarantees as listed on the type. Cost O(n), no allocation.
    pub fn step(&mut self, rho: &mut GridDensity1d, dt: f64) -> Result<()> {
        if !(dt.is_finite() && dt > 0.0) {
            return Err(TransportError::InvalidParameter { name: "dt", value: dt, reason: "must be finite and > 0" });
        }
        self.check_grid(rho)?;
        let n = self.len();
        let dx = self.dx();
        let r = dt / (self.beta * dx * dx);
        let (bp, bm) = (&self.b_plus, &self.b_minus);
        let d = rho.values_mut();
        let cp = &mut self.scratch;
        // Row i: −r bp[i−1] ρ_{i−1} + (1 + r(bp[i] + bm[i−1])) ρ_i − r bm[i] ρ_{i+1} = ρⁿ_i.
        let diag = |i: usize| 1.0 + r * (if i + 1 < n { bp[i] } else { 0.0 } + if i > 0 { bm[i - 1] } else { 0.0 });
        let sup = |i: usize| if i + 1 < n { -r * bm[i] } else { 0.0 };
        let mut den = diag(0);
        cp[0] = sup(0) / den;
        d[0] /= den;
        for i in 1..n {
            let sub = -r * bp[i - 1];
            den = diag(i) - sub * cp[i - 1];
            cp[i] = sup(i) / den;
            d[i] = (d[i] - sub * d[i - 1]) / den;
        }
        for i in (0..n.saturating_sub(1)).rev() {
            d[i] -= cp[i] * d[i + 1];
        }
        // The off-diagonals are ≤ 0 and the pivots > 0 (an M-matrix), so both sweeps only add
        // non-negative terms: positivity holds in floating point too, with no clamping.
        check_finite("density after a Fokker–Planck step", d)
    }

    /// `n_steps` backward-Euler steps of length `dt` from ρ₀, recording time, free energy, mass, mean
    /// and variance after each step (and at t = 0).
    ///
    /// Errors as [`step`](Self::step), plus [`TransportError::ZeroMass`] if ρ₀ is identically zero.
    /// Cost O(n) per step; O(n_steps) memory for the record.
    pub fn run(&mut self, rho0: &GridDensity1d, dt: f64, n_steps: usize) -> Result<FokkerPlanckRun> {
        let mut rho = rho0.clone();
        let cap = n_steps + 1;
        let mut out = FokkerPlanckRun {
            density: rho0.clone(),
            times: Vec::with_capacity(cap),
            free_energy: Vec::with_capacity(cap),
            mass: Vec::with_capacity(cap),
            mean: Vec::with_capacity(cap),
            variance: Vec::with_capacity(cap),
            min_density: f64::INFINITY,
        };
        for k in 0..=n_steps {
            if k > 0 {
                self.step(&mut rho, dt)?;
                out.min_density = out.min_density.min(rho.values().iter().copied().fold(f64::INFINITY, f64::min));
            }
            out.times.push(k as f64 * dt);
            out.free_energy.push(self.free_energy(&rho)?);
            out.mass.push(rho.mass());
            out.mean.push(rho.mean()?);
            out.variance.push(rho.variance()?);
        }
        out.density = rho;
        Ok(out)
    }

    fn check_grid(&self, rho: &GridDensity1d) -> Result<()> {
        crate::error::check_dim("density cells", self.len(), rho.len())?;
        if rho.lo() != self.lo || rho.hi() != self.hi {
            return Err(TransportError::InvalidParameter {
                name: "density interval",
                value: rho.lo(),
                reason: "the density must live on the solver's grid [lo, hi]",
            });
        }
        Ok(())
    }
}
