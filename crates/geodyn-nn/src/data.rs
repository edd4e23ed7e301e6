//! Data sets: inputs `[N, d]` with regression targets `[N, m]` or class labels, the
//! built-in synthetic sets, CSV loading and standardisation.

use crate::error::{NnError, Result, check_len};
use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand_distr::StandardNormal;
use std::path::Path;

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

// ---------------------------------------------------------------------------------
// Synthetic data sets
// ---------------------------------------------------------------------------------

/// The default seed of [`snelson_like`] (the CLI's embedded data set).
pub const SNELSON_LIKE_SEED: u64 = 2006;
/// Number of points of [`snelson_like`].
pub const SNELSON_LIKE_N: usize = 200;
/// Input range of [`snelson_like`].
pub const SNELSON_LIKE_RANGE: (f64, f64) = (-0.5, 6.5);
/// The "in-between" gap of [`snelson_like`]: points with 1.5 ≤ x ≤ 3 are held out.
pub const SNELSON_LIKE_GAP: (f64, f64) = (1.5, 3.0);
/// Noise standard deviation of [`snelson_like`].
pub const SNELSON_LIKE_NOISE: f64 = 0.25;

/// The noise-free function of [`snelson_like`]:
/// f(x) = sin(2.2x − 0.3) · (1 − 0.05x) + 0.6 cos(0.9x + 0.5) − 0.3.
pub fn snelson_like_mean(x: f64) -> f64 {
    (2.2 * x - 0.3).sin() * (1.0 - 0.05 * x) + 0.6 * (0.9 * x + 0.5).cos() - 0.3
}

/// A deterministic Snelson-like 1-D regression set of [`SNELSON_LIKE_N`] points:
/// x ~ U(−0.5, 6.5), y = f(x) + N(0, 0.25²) with f = [`snelson_like_mean`], drawn from
/// `ChaCha8Rng::seed_from_u64(seed)` (x and ε alternate per point). Returns the full
/// set and the gap flags (1.5 ≤ x ≤ 3).
pub fn snelson_like_full(seed: u64) -> (Dataset, Vec<bool>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (lo, hi) = SNELSON_LIKE_RANGE;
    let mut xs = Vec::with_capacity(SNELSON_LIKE_N);
    let mut ys = Vec::with_capacity(SNELSON_LIKE_N);
    for _ in 0..SNELSON_LIKE_N {
        let u: f64 = rng.random();
        let x = lo + (hi - lo) * u;
        let e: f64 = rng.sample(StandardNormal);
        xs.push(x);
        ys.push(snelson_like_mean(x) + SNELSON_LIKE_NOISE * e);
    }
    let gap = xs.iter().map(|&x| (SNELSON_LIKE_GAP.0..=SNELSON_LIKE_GAP.1).contains(&x)).collect();
    (Dataset::regression(xs, 1, ys, 1).expect("finite synthetic data"), gap)
}

/// [`snelson_like_full`] split into training points and the held-out gap.
///
/// ```
/// let s = geodyn_nn::data::snelson_like(geodyn_nn::data::SNELSON_LIKE_SEED);
/// assert_eq!(s.train.len() + s.held_out.len(), 200);
/// assert!(s.held_out.inputs().iter().all(|&x| (1.5..=3.0).contains(&x)));
/// ```
pub fn snelson_like(seed: u64) -> Split {
    let (all, gap) = snelson_like_full(seed);
    all.split(&gap).expect("mask has the set's length")
}

/// A 2-D two-class "two moons" set of `n` points (classes alternate, n/2 each up to
/// one): class 0 on the upper half circle (cos t, sin t), class 1 on the shifted lower
/// one (1 − cos t, ½ − sin t), t ~ U(0, π), plus isotropic N(0, noise²) jitter, from
/// `ChaCha8Rng::seed_from_u64(seed)`.
pub fn two_moons(n: usize, noise: f64, seed: u64) -> Dataset {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut inputs = Vec::with_capacity(2 * n);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let t = std::f64::consts::PI * rng.random::<f64>();
        let (x, y) = if i % 2 == 0 { (t.cos(), t.sin()) } else { (1.0 - t.cos(), 0.5 - t.sin()) };
        let ex: f64 = rng.sample(StandardNormal);
        let ey: f64 = rng.sample(StandardNormal);
        inputs.push(x + noise * ex);
        inputs.push(y + noise * ey);
        labels.push(i % 2);
    }
    Dataset::classification(inputs, 2, labels, Some(2)).expect("finite synthetic data")
}

// ---------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------

/// A numeric CSV table: a header row of column names and row-major f64 data.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The column names from the header row.
    pub columns: Vec<String>,
    /// The values, row-major `[rows, columns.len()]`.
    pub data: Vec<f64>,
    /// The 1-based file line of each data row (the header is line 1).
    pub lines: Vec<usize>,
    /// Where the table was read from (a path, or `<string>`).
    pub source_name: String,
}

impl Table {
    /// Parses CSV text: a header row, then rows of numbers separated by commas (blank
    /// lines and lines starting with `#` are skipped; fields may be quoted and padded).
    /// Errors name the 1-based line.
    pub fn parse(text: &str, source_name: &str) -> Result<Self> {
        let csv_err = |line: usize, reason: String| NnError::Csv { source_name: source_name.to_string(), line, reason };
        let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
        let mut header = None;
        for (no, l) in lines.by_ref() {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            header = Some((no, l));
            break;
        }
        let Some((hline, header)) = header else {
            return Err(csv_err(1, "empty file: expected a header row".into()));
        };
        let unquote = |f: &str| f.trim().trim_matches('"').trim().to_string();
        let columns: Vec<String> = header.split(',').map(unquote).collect();
        if let Some(i) = columns.iter().position(|c| c.is_empty()) {
            return Err(csv_err(hline, format!("header column #{} has an empty name", i + 1)));
        }
        let ncol = columns.len();
        let mut data = Vec::new();
        let mut rows = Vec::new();
        for (no, l) in lines {
            if l.trim().is_empty() || l.trim_start().starts_with('#') {
                continue;
            }
            let mut count = 0;
            for (j, field) in l.split(',').enumerate() {
                if j >= ncol {
                    return Err(csv_err(
                        no,
                        format!("{} fields, but the header has {ncol} columns", l.split(',').count()),
                    ));
                }
                let f = unquote(field);
                let v: f64 = f.parse().map_err(|_| {
                    csv_err(no, format!("column {:?} (#{}): cannot parse {f:?} as a number", columns[j], j + 1))
                })?;
                data.push(v);
                count += 1;
            }
            if count != ncol {
                return Err(csv_err(no, format!("{count} fields, but the header has {ncol} columns")));
            }
            rows.push(no);
        }
        Ok(Self { columns, data, lines: rows, source_name: source_name.to_string() })
    }

    /// Reads and parses a CSV file.
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| NnError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The number of data rows.
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The index of column `name`.
    pub fn column_index(&self, name: &str) -> Result<usize> {
        self.columns.iter().position(|c| c == name).ok_or_else(|| NnError::MissingColumn {
            source_name: self.source_name.clone(),
            column: name.to_string(),
            header: self.columns.join(","),
        })
    }

    /// The values of column `name`.
    pub fn column(&self, name: &str) -> Result<Vec<f64>> {
        let j = self.column_index(name)?;
        Ok(self.data.chunks_exact(self.columns.len()).map(|r| r[j]).collect())
    }

    /// The columns `names`, row-major `[rows, names.len()]`.
    pub fn select(&self, names: &[&str]) -> Result<Vec<f64>> {
        let idx = names.iter().map(|n| self.column_index(n)).collect::<Result<Vec<_>>>()?;
        let mut out = Vec::with_capacity(self.rows() * idx.len());
        for r in self.data.chunks_exact(self.columns.len()) {
            out.extend(idx.iter().map(|&j| r[j]));
        }
        Ok(out)
    }
}

/// What kind of target a CSV column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    /// Real-valued regression targets.
    Regression,
    /// Integer class labels 0, 1, …
    Classes,
}

/// Which CSV columns make a [`Dataset`].
#[derive(Debug, Clone, PartialEq)]
pub struct CsvSpec {
    /// Input columns; empty means every column except the target and the flag.
    pub inputs: Vec<String>,
    /// The target column.
    pub target: String,
    /// Regression values or class labels.
    pub kind: TargetKind,
    /// Optional flag column: rows where it is nonzero are held out of training.
    pub holdout_flag: Option<String>,
}

impl CsvSpec {
    /// Regression on column `target` with all other columns as inputs.
    pub fn regression(target: &str) -> Self {
        Self { inputs: Vec::new(), target: target.into(), kind: TargetKind::Regression, holdout_flag: None }
    }

    /// Classification on label column `target` with all other columns as inputs.
    pub fn classification(target: &str) -> Self {
        Self { inputs: Vec::new(), target: target.into(), kind: TargetKind::Classes, holdout_flag: None }
    }

    /// Uses only the given input columns.
    pub fn with_inputs(mut self, inputs: &[&str]) -> Self {
        self.inputs = inputs.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Holds out the rows where column `flag` is nonzero.
    pub fn with_holdout(mut self, flag: &str) -> Self {
        self.holdout_flag = Some(flag.into());
        self
    }

    /// The Snelson CSV of the DiMS/RLA experiments (`x,y,in_gap_1p5_3`): regress `y`
    /// on `x`, holding out the gap rows.
    pub fn snelson() -> Self {
        Self::regression("y").with_inputs(&["x"]).with_holdout("in_gap_1p5_3")
    }

    /// Builds the split from a parsed table. Class labels must be non-negative
    /// integers; errors name the offending line.
    pub fn apply(&self, table: &Table) -> Result<Split> {
        let ncol = table.columns.len();
        let tj = table.column_index(&self.target)?;
        let fj = self.holdout_flag.as_deref().map(|f| table.column_index(f)).transpose()?;
        let input_idx: Vec<usize> = if self.inputs.is_empty() {
            (0..ncol).filter(|&j| j != tj && Some(j) != fj).collect()
        } else {
            self.inputs.iter().map(|n| table.column_index(n)).collect::<Result<_>>()?
        };
        if input_idx.is_empty() {
            return Err(NnError::shape("input columns", ">= 1", 0));
        }
        let rows = table.data.chunks_exact(ncol);
        let inputs: Vec<f64> = rows.clone().flat_map(|r| input_idx.iter().map(move |&j| r[j])).collect();
        let d = input_idx.len();
        let csv_err =
            |line: usize, reason: String| NnError::Csv { source_name: table.source_name.clone(), line, reason };
        for (r, &line) in rows.clone().zip(&table.lines) {
            if let Some(j) = input_idx.iter().find(|&&j| !r[j].is_finite()) {
                return Err(csv_err(line, format!("column {:?} is not finite", table.columns[*j])));
            }
            if !r[tj].is_finite() {
                return Err(csv_err(line, format!("target column {:?} is not finite", self.target)));
            }
        }
        let all = match self.kind {
            TargetKind::Regression => Dataset::regression(inputs, d, rows.clone().map(|r| r[tj]).collect(), 1)?,
            TargetKind::Classes => {
                let mut labels = Vec::with_capacity(table.rows());
                for (r, &line) in rows.clone().zip(&table.lines) {
                    let v = r[tj];
                    if v < 0.0 || v.fract() != 0.0 || v > u32::MAX as f64 {
                        return Err(csv_err(
                            line,
                            format!("class label {v} in column {:?} is not a non-negative integer", self.target),
                        ));
                    }
                    labels.push(v as usize);
                }
                Dataset::classification(inputs, d, labels, None)?
            }
        };
        let mask: Vec<bool> = match fj {
            Some(j) => rows.map(|r| r[j] != 0.0).collect(),
            None => vec![false; table.rows()],
        };
        all.split(&mask)
    }

    /// Parses CSV text and builds the split ([`Table::parse`] + [`CsvSpec::apply`]).
    pub fn parse(&self, text: &str, source_name: &str) -> Result<Split> {
        self.apply(&Table::parse(text, source_name)?)
    }

    /// Reads a CSV file and builds the split.
    pub fn load(&self, path: impl AsRef<Path>) -> Result<Split> {
        self.apply(&Table::read(path)?)
    }
}
