//! [`Standardizer`]: per-column standardisation x ↦ (x − μ)/s, fitted on one data set
//! and applied to others, and its inverse.

use crate::error::{NnError, Result};

/// Per-column standardisation x ↦ (x − μ)/s, fitted on training data and applied to
/// any other data; invertible, so predictions of standardised targets map back.
///
/// The scale is the population standard deviation (ddof = 0, as scikit-learn's
/// `StandardScaler`); columns with zero spread get s = 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    /// Column means μ.
    pub mean: Vec<f64>,
    /// Column scales s.
    pub scale: Vec<f64>,
}

impl Standardizer {
    /// Fits means and scales to row-major `data` with `dim` columns.
    pub fn fit(data: &[f64], dim: usize) -> Result<Self> {
        if dim == 0 || !data.len().is_multiple_of(dim) || data.is_empty() {
            return Err(NnError::shape("data to standardise", format!("a non-empty multiple of {dim}"), data.len()));
        }
        let n = (data.len() / dim) as f64;
        let mut mean = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; dim];
        for row in data.chunks_exact(dim) {
            for ((v, x), m) in var.iter_mut().zip(row).zip(&mean) {
                *v += (x - m) * (x - m);
            }
        }
        let scale = var.iter().map(|v| if *v > 0.0 { (v / n).sqrt() } else { 1.0 }).collect();
        Ok(Self { mean, scale })
    }

    /// The identity transform on `dim` columns.
    pub fn identity(dim: usize) -> Self {
        Self { mean: vec![0.0; dim], scale: vec![1.0; dim] }
    }

    /// The number of columns.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    fn check(&self, data: &[f64]) -> Result<()> {
        if !data.len().is_multiple_of(self.dim()) {
            return Err(NnError::shape("data to (un)standardise", format!("a multiple of {}", self.dim()), data.len()));
        }
        Ok(())
    }

    /// x ← (x − μ)/s, row-major with [`dim`](Standardizer::dim) columns.
    pub fn transform(&self, data: &mut [f64]) -> Result<()> {
        self.check(data)?;
        for row in data.chunks_exact_mut(self.dim()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = (*x - m) / s;
            }
        }
        Ok(())
    }

    /// x ← s x + μ, the inverse of [`transform`](Standardizer::transform).
    pub fn inverse_transform(&self, data: &mut [f64]) -> Result<()> {
        self.check(data)?;
        for row in data.chunks_exact_mut(self.dim()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.scale) {
                *x = s * *x + m;
            }
        }
        Ok(())
    }

    /// σ ← s σ: maps standard deviations (or noise levels) from standardised to
    /// original units.
    pub fn inverse_scale(&self, stds: &mut [f64]) -> Result<()> {
        self.check(stds)?;
        for row in stds.chunks_exact_mut(self.dim()) {
            for (x, s) in row.iter_mut().zip(&self.scale) {
                *x *= s;
            }
        }
        Ok(())
    }
}
