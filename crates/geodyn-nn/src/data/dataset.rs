//! [`Dataset`]: inputs `[N, d]` with regression targets `[N, m]` or class labels, and
//! its [`Split`] into training and held-out rows.
//!
//! Constructors validate shapes and finiteness, so every `Dataset` holds finite inputs
//! (and finite regression targets) of consistent lengths; selections and splits keep
//! targets aligned with their rows and keep the class count.

use super::Standardizer;
use crate::error::{NnError, Result, check_len};

/// The targets of a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub enum Targets {
    /// Real-valued targets, row-major `[N, dim]`.
    Regression {
        /// The values.
        values: Vec<f64>,
        /// Targets per sample (m).
        dim: usize,
    },
    /// Class labels in `0..num_classes`.
    Classes {
        /// One label per sample.
        labels: Vec<usize>,
        /// The number of classes C.
        num_classes: usize,
    },
}

/// One sample's target, borrowed from a [`Dataset`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target<'a> {
    /// A regression target (length m).
    Value(&'a [f64]),
    /// A class label.
    Class(usize),
}

/// A supervised data set: inputs row-major `[N, d]` and one target per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    inputs: Vec<f64>,
    input_dim: usize,
    targets: Targets,
}

/// A data set split into the rows used for training and the rows held out (e.g. the
/// Snelson "in-between" gap used as out-of-distribution data).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The training rows.
    pub train: Dataset,
    /// The held-out rows.
    pub held_out: Dataset,
}

impl Dataset {
    /// A regression set from row-major inputs `[N, input_dim]` and targets
    /// `[N, target_dim]`; errors on inconsistent lengths or non-finite values.
    pub fn regression(inputs: Vec<f64>, input_dim: usize, targets: Vec<f64>, target_dim: usize) -> Result<Self> {
        let n = Self::rows(&inputs, input_dim)?;
        if target_dim == 0 {
            return Err(NnError::shape("targets per sample", ">= 1", 0));
        }
        check_len("targets (N · m)", n * target_dim, targets.len())?;
        if !targets.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite { what: "targets".into() });
        }
        Ok(Self { inputs, input_dim, targets: Targets::Regression { values: targets, dim: target_dim } })
    }

    /// A classification set from row-major inputs `[N, input_dim]` and labels. The
    /// number of classes is `num_classes`, or `max(label) + 1` if `None`.
    pub fn classification(
        inputs: Vec<f64>,
        input_dim: usize,
        labels: Vec<usize>,
        num_classes: Option<usize>,
    ) -> Result<Self> {
        let n = Self::rows(&inputs, input_dim)?;
        check_len("labels", n, labels.len())?;
        let max = labels.iter().copied().max().map_or(0, |m| m + 1);
        let c = num_classes.unwrap_or(max);
        if max > c {
            return Err(NnError::shape("class labels (< num_classes)", c, max));
        }
        Ok(Self { inputs, input_dim, targets: Targets::Classes { labels, num_classes: c } })
    }

    fn rows(inputs: &[f64], d: usize) -> Result<usize> {
        if d == 0 {
            return Err(NnError::shape("input dimension", ">= 1", 0));
        }
        if !inputs.len().is_multiple_of(d) {
            return Err(NnError::shape("inputs", format!("a multiple of d = {d}"), inputs.len()));
        }
        if !inputs.iter().all(|v| v.is_finite()) {
            return Err(NnError::NonFinite { what: "inputs".into() });
        }
        Ok(inputs.len() / d)
    }

    /// The number of samples N.
    pub fn len(&self) -> usize {
        self.inputs.len() / self.input_dim
    }

    /// Whether the set has no samples.
    pub fn is_empty(&self) -> bool {
        self.inputs.is_empty()
    }

    /// The input dimension d.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// All inputs, row-major `[N, d]`.
    pub fn inputs(&self) -> &[f64] {
        &self.inputs
    }

    /// Sample `i`'s input (length d).
    pub fn input(&self, i: usize) -> &[f64] {
        &self.inputs[i * self.input_dim..(i + 1) * self.input_dim]
    }

    /// Sample `i`'s target.
    pub fn target(&self, i: usize) -> Target<'_> {
        match &self.targets {
            Targets::Regression { values, dim } => Target::Value(&values[i * dim..(i + 1) * dim]),
            Targets::Classes { labels, .. } => Target::Class(labels[i]),
        }
    }

    /// The targets.
    pub fn targets(&self) -> &Targets {
        &self.targets
    }

    /// Targets per sample m for regression sets, `None` for classification.
    pub fn target_dim(&self) -> Option<usize> {
        match self.targets {
            Targets::Regression { dim, .. } => Some(dim),
            Targets::Classes { .. } => None,
        }
    }

    /// The number of classes for classification sets, `None` for regression.
    pub fn num_classes(&self) -> Option<usize> {
        match self.targets {
            Targets::Classes { num_classes, .. } => Some(num_classes),
            Targets::Regression { .. } => None,
        }
    }

    /// The regression targets `[N, m]`, if any.
    pub fn regression_targets(&self) -> Option<&[f64]> {
        match &self.targets {
            Targets::Regression { values, .. } => Some(values),
            Targets::Classes { .. } => None,
        }
    }

    /// The class labels, if any.
    pub fn labels(&self) -> Option<&[usize]> {
        match &self.targets {
            Targets::Classes { labels, .. } => Some(labels),
            Targets::Regression { .. } => None,
        }
    }

    /// The rows `indices`, in that order (indices may repeat).
    pub fn select(&self, indices: &[usize]) -> Result<Dataset> {
        let n = self.len();
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(NnError::shape("row index (< N)", n, bad));
        }
        let d = self.input_dim;
        let inputs = indices.iter().flat_map(|&i| self.input(i).iter().copied()).collect();
        let targets = match &self.targets {
            Targets::Regression { values, dim } => Targets::Regression {
                values: indices.iter().flat_map(|&i| values[i * dim..(i + 1) * dim].iter().copied()).collect(),
                dim: *dim,
            },
            Targets::Classes { labels, num_classes } => {
                Targets::Classes { labels: indices.iter().map(|&i| labels[i]).collect(), num_classes: *num_classes }
            }
        };
        Ok(Dataset { inputs, input_dim: d, targets })
    }

    /// Splits off the rows where `held_out[i]` is true; the others form the training set.
    pub fn split(&self, held_out: &[bool]) -> Result<Split> {
        check_len("hold-out mask", self.len(), held_out.len())?;
        let (out, keep): (Vec<usize>, Vec<usize>) = (0..self.len()).partition(|&i| held_out[i]);
        Ok(Split { train: self.select(&keep)?, held_out: self.select(&out)? })
    }

    /// Fits a [`Standardizer`] to the inputs.
    pub fn input_standardizer(&self) -> Result<Standardizer> {
        Standardizer::fit(&self.inputs, self.input_dim)
    }

    /// Fits a [`Standardizer`] to the regression targets; errors for classification sets.
    pub fn target_standardizer(&self) -> Result<Standardizer> {
        match &self.targets {
            Targets::Regression { values, dim } => Standardizer::fit(values, *dim),
            Targets::Classes { .. } => Err(NnError::shape("targets", "regression targets", "class labels")),
        }
    }

    /// Applies `s` to the inputs in place (x ← (x − μ)/s).
    pub fn standardize_inputs(&mut self, s: &Standardizer) -> Result<()> {
        s.transform(&mut self.inputs)
    }

    /// Applies `s` to the regression targets in place; errors for classification sets.
    pub fn standardize_targets(&mut self, s: &Standardizer) -> Result<()> {
        match &mut self.targets {
            Targets::Regression { values, .. } => s.transform(values),
            Targets::Classes { .. } => Err(NnError::shape("targets", "regression targets", "class labels")),
        }
    }
}
