//! Empirical weighted measures in R^d and densities on uniform 1-D grids.

use crate::error::{Result, TransportError, check_dim, check_finite, check_weights};

/// A finite weighted measure μ = Σᵢ wᵢ δ_{xᵢ} in R^d.
///
/// Points are stored row-major (`points[i * dim + k]` is coordinate k of point i) together with one
/// weight per point. Construction guarantees: `dim ≥ 1`, at least one point, every coordinate finite,
/// every weight finite and non-negative, and a positive finite total mass. The weights are kept as
/// given; [`probability`](Self::probability) gives the normalised weight wᵢ/Σw, which is what the
/// transport routines use (they compare shapes, not total masses).
///
/// Memory is O(n·d). Not meant for densities on a grid: use [`GridDensity1d`] for those.
#[derive(Debug, Clone, PartialEq)]
pub struct EmpiricalMeasure {
    dim: usize,
    points: Vec<f64>,
    weights: Vec<f64>,
    mass: f64,
}

impl EmpiricalMeasure {
    /// The measure with the given row-major `points` (n·dim values) and `weights` (n values).
    ///
    /// Errors: `dim = 0` ([`TransportError::InvalidParameter`]), no points ([`TransportError::Empty`]),
    /// `points.len()` not a multiple of `dim` or `weights.len() ≠ n` ([`TransportError::DimensionMismatch`]),
    /// a non-finite coordinate or weight ([`TransportError::NonFinite`]), a negative weight
    /// ([`TransportError::Negative`]), zero total mass ([`TransportError::ZeroMass`]). Cost O(n·d).
    pub fn new(dim: usize, points: Vec<f64>, weights: Vec<f64>) -> Result<Self> {
        if dim == 0 {
            return Err(TransportError::InvalidParameter { name: "dim", value: 0.0, reason: "must be at least 1" });
        }
        if points.is_empty() {
            return Err(TransportError::Empty { what: "points" });
        }
        if !points.len().is_multiple_of(dim) {
            return Err(TransportError::DimensionMismatch {
                what: "points (length not a multiple of dim)",
                expected: (points.len() / dim + 1) * dim,
                got: points.len(),
            });
        }
        check_dim("weights", points.len() / dim, weights.len())?;
        check_finite("points", &points)?;
        let mass = check_weights("weights", &weights)?;
        Ok(EmpiricalMeasure { dim, points, weights, mass })
    }

    /// The empirical measure (1/n) Σᵢ δ_{xᵢ} of n samples, row-major in `points`.
    ///
    /// Same validation as [`new`](Self::new). Cost O(n·d).
    pub fn uniform(dim: usize, points: Vec<f64>) -> Result<Self> {
        if dim == 0 {
            return Err(TransportError::InvalidParameter { name: "dim", value: 0.0, reason: "must be at least 1" });
        }
        let n = points.len() / dim;
        let w = if n == 0 { Vec::new() } else { vec![1.0 / n as f64; n] };
        Self::new(dim, points, w)
    }

    /// The uniform empirical measure of scalar samples (dimension 1).
    pub fn from_samples_1d(samples: &[f64]) -> Result<Self> {
        Self::uniform(1, samples.to_vec())
    }

    /// The uniform empirical measure of samples given as rows (for instance a sampler's output).
    ///
    /// Errors as [`new`](Self::new), plus [`TransportError::DimensionMismatch`] if the rows differ in
    /// length. Cost O(n·d) (one copy).
    pub fn from_rows<R: AsRef<[f64]>>(rows: &[R]) -> Result<Self> {
        let first = rows.first().ok_or(TransportError::Empty { what: "points" })?;
        let dim = first.as_ref().len();
        let mut points = Vec::with_capacity(dim * rows.len());
        for r in rows {
            check_dim("sample row", dim, r.as_ref().len())?;
            points.extend_from_slice(r.as_ref());
        }
        Self::uniform(dim, points)
    }

    /// The dimension d of the ambient space.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number n of points (atoms), counting those of zero weight.
    pub fn len(&self) -> usize {
        self.weights.len()
    }

    /// Always `false`: a measure has at least one point. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// The row-major points (n·d values).
    pub fn points(&self) -> &[f64] {
        &self.points
    }

    /// Point i as a slice of length d. Panics if `i ≥ len()` (an index error, like slice indexing).
    pub fn point(&self, i: usize) -> &[f64] {
        &self.points[i * self.dim..(i + 1) * self.dim]
    }

    /// The weights as given at construction.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }

    /// The total mass Σᵢ wᵢ (positive and finite).
    pub fn total_mass(&self) -> f64 {
        self.mass
    }

    /// The normalised weight wᵢ / Σw of point i. Panics if `i ≥ len()`.
    pub fn probability(&self, i: usize) -> f64 {
        self.weights[i] / self.mass
    }

    /// The normalised weights wᵢ / Σw (a probability vector). Allocates n values.
    pub fn probabilities(&self) -> Vec<f64> {
        self.weights.iter().map(|w| w / self.mass).collect()
    }

    /// Rescales the weights in place so that they sum to one. Cost O(n).
    pub fn normalize(&mut self) {
        let m = self.mass;
        self.weights.iter_mut().for_each(|w| *w /= m);
        self.mass = self.weights.iter().sum();
    }

    /// True if all weights are equal (to a relative 1e-12), as exact assignment needs.
    pub fn has_uniform_weights(&self) -> bool {
        let w0 = self.weights[0];
        self.weights.iter().all(|w| (w - w0).abs() <= 1e-12 * w0.abs().max(f64::MIN_POSITIVE))
    }

    /// The mean Σᵢ pᵢ xᵢ under the normalised weights (d values). Cost O(n·d).
    pub fn mean(&self) -> Vec<f64> {
        let d = self.dim;
        let mut m = vec![0.0; d];
        for (x, w) in self.points.chunks_exact(d).zip(&self.weights) {
            m.iter_mut().zip(x).for_each(|(mk, xk)| *mk += w * xk);
        }
        m.iter_mut().for_each(|v| *v /= self.mass);
        m
    }

    /// The covariance Σᵢ pᵢ (xᵢ − m)(xᵢ − m)ᵀ under the normalised weights, row-major d×d (the
    /// population, not the unbiased, estimate). Cost O(n·d²).
    pub fn covariance(&self) -> Vec<f64> {
        let d = self.dim;
        let m = self.mean();
        let mut c = vec![0.0; d * d];
        let mut y = vec![0.0; d];
        for (x, w) in self.points.chunks_exact(d).zip(&self.weights) {
            y.iter_mut().zip(x.iter().zip(&m)).for_each(|(yk, (xk, mk))| *yk = xk - mk);
            for (crow, yr) in c.chunks_exact_mut(d).zip(&y) {
                crow.iter_mut().zip(&y).for_each(|(c, ys)| *c += w * yr * ys);
            }
        }
        c.iter_mut().for_each(|v| *v /= self.mass);
        c
    }
}

/// A density on a uniform grid of n cells covering [lo, hi]: value ρᵢ on cell i, whose centre is
/// xᵢ = lo + (i + ½)Δx with Δx = (hi − lo)/n.
///
/// Guarantees: lo < hi finite, n ≥ 1, every value finite and non-negative. The total mass Σρᵢ Δx is
/// whatever the values give (use [`normalize`](Self::normalize) for a probability density). Moments
/// are those of the piecewise-constant-at-centres (midpoint-rule) measure Σᵢ ρᵢ Δx δ_{xᵢ}; they differ
/// from the continuous density's by O(Δx²). Memory O(n). For particles use [`EmpiricalMeasure`].
#[derive(Debug, Clone, PartialEq)]
pub struct GridDensity1d {
    lo: f64,
    hi: f64,
    values: Vec<f64>,
}

impl GridDensity1d {
    /// The density with the given cell `values` on [lo, hi].
    ///
    /// Errors: lo, hi not finite or lo ≥ hi ([`TransportError::InvalidParameter`]), no cells
    /// ([`TransportError::Empty`]), a non-finite or negative value. Cost O(n).
    pub fn new(lo: f64, hi: f64, values: Vec<f64>) -> Result<Self> {
        check_interval(lo, hi)?;
        if values.is_empty() {
            return Err(TransportError::Empty { what: "grid values" });
        }
        check_finite("grid values", &values)?;
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| **v < 0.0) {
            return Err(TransportError::Negative { what: "grid values", index, value });
        }
        Ok(GridDensity1d { lo, hi, values })
    }

    /// For values the caller has already validated (finite, non-negative, non-empty; lo < hi).
    pub(crate) fn from_parts(lo: f64, hi: f64, values: Vec<f64>) -> Self {
        GridDensity1d { lo, hi, values }
    }

    /// The density with values f(xᵢ) at the n cell centres. Errors as [`new`](Self::new) (a
    /// non-finite or negative f(xᵢ) included). Cost: n evaluations of f.
    pub fn from_fn(lo: f64, hi: f64, n: usize, f: impl Fn(f64) -> f64) -> Result<Self> {
        check_interval(lo, hi)?;
        let dx = (hi - lo) / n as f64;
        Self::new(lo, hi, (0..n).map(|i| f(lo + (i as f64 + 0.5) * dx)).collect())
    }

    /// The number of cells.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Always `false` (a grid has at least one cell). Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The left end of the grid.
    pub fn lo(&self) -> f64 {
        self.lo
    }

    /// The right end of the grid.
    pub fn hi(&self) -> f64 {
        self.hi
    }

    /// The cell width Δx = (hi − lo)/n.
    pub fn dx(&self) -> f64 {
        (self.hi - self.lo) / self.values.len() as f64
    }

    /// The centre xᵢ = lo + (i + ½)Δx of cell i (not checked against `len()`).
    pub fn center(&self, i: usize) -> f64 {
        self.lo + (i as f64 + 0.5) * self.dx()
    }

    /// The cell values ρᵢ.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The cell values, mutable. The caller keeps them finite and non-negative (not re-checked).
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// The total mass Σᵢ ρᵢ Δx. Cost O(n).
    pub fn mass(&self) -> f64 {
        self.values.iter().sum::<f64>() * self.dx()
    }

    /// The mean Σ xᵢ ρᵢ / Σ ρᵢ. Errors with [`TransportError::ZeroMass`] if all values are zero.
    pub fn mean(&self) -> Result<f64> {
        let s: f64 = self.values.iter().sum();
        if s <= 0.0 {
            return Err(TransportError::ZeroMass { what: "grid density" });
        }
        Ok(self.values.iter().enumerate().map(|(i, r)| self.center(i) * r).sum::<f64>() / s)
    }

    /// The variance Σ (xᵢ − m)² ρᵢ / Σ ρᵢ (two passes, no cancellation). Errors as [`mean`](Self::mean).
    pub fn variance(&self) -> Result<f64> {
        let m = self.mean()?;
        let s: f64 = self.values.iter().sum();
        Ok(self.values.iter().enumerate().map(|(i, r)| (self.center(i) - m).powi(2) * r).sum::<f64>() / s)
    }

    /// Rescales the values in place so that the mass is one. Errors with [`TransportError::ZeroMass`]
    /// if all values are zero. Cost O(n).
    pub fn normalize(&mut self) -> Result<()> {
        let m = self.mass();
        if m <= 0.0 {
            return Err(TransportError::ZeroMass { what: "grid density" });
        }
        self.values.iter_mut().for_each(|v| *v /= m);
        Ok(())
    }

    /// The atoms of this density as an [`EmpiricalMeasure`] at the cell centres with weights ρᵢΔx.
    /// Errors with [`TransportError::ZeroMass`] if all values are zero. Cost O(n).
    pub fn to_empirical(&self) -> Result<EmpiricalMeasure> {
        let dx = self.dx();
        let pts = (0..self.len()).map(|i| self.center(i)).collect();
        EmpiricalMeasure::new(1, pts, self.values.iter().map(|v| v * dx).collect())
    }
}

pub(crate) fn check_interval(lo: f64, hi: f64) -> Result<()> {
    if !lo.is_finite() || !hi.is_finite() {
        return Err(TransportError::NonFinite { what: "grid interval" });
    }
    if lo >= hi {
        return Err(TransportError::InvalidParameter { name: "hi", value: hi, reason: "must exceed lo" });
    }
    Ok(())
}
