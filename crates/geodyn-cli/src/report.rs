//! summary.json contents, predictive statistics and atomic file writes.

use crate::args::PrecisionKind;
use crate::error::CliError;
use geodyn_samplers::{ModeReport, SampleRecord, SamplerConfig};
use serde::Serialize;
use std::io::Write;
use std::path::Path;

/// Everything `geodyn sample` reports.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Sampler name.
    pub sampler: String,
    /// Autodiff backend (`--backend`).
    pub backend: String,
    /// Sampler settings.
    pub config: SamplerConfig,
    /// Number of samples.
    pub samples: usize,
    /// Velocity seed.
    pub seed: u64,
    /// Worker threads (0: all cores).
    pub threads: usize,
    /// Architecture string.
    pub arch: String,
    /// Parameter count K.
    pub num_params: usize,
    /// Where the data came from.
    pub data: String,
    /// Training points N.
    pub train_points: usize,
    /// Held-out points.
    pub held_out_points: usize,
    /// Posterior precision used for the velocities.
    pub precision: PrecisionKind,
    /// Velocity scale factor.
    pub velocity_scale: f64,
    /// The velocities file, if given.
    pub velocities_from: Option<String>,
    /// The safetensors file, if given.
    pub model_from: Option<String>,
    /// Adam epochs run (when trained here).
    pub training_epochs: Option<usize>,
    /// ‖∇L(θ*)‖ of the negative log posterior at the MAP (0 at an exact minimum).
    pub map_grad_norm: f64,
    /// How θ* was taken to an exact mode (L-BFGS, then Newton), when it was: always for a
    /// network trained here, with --polish for a loaded one. With (λ, σ) tuned, the search
    /// is repeated after each re-tuning: `initial_*` are at the starting θ under the (λ, σ)
    /// of that moment, the iteration counts are summed, the smallest Hessian eigenvalue is the last one
    /// computed, the rest is the final search's.
    pub map_search: Option<ModeReport>,
    /// Prior precision λ in force.
    pub prior_precision: f64,
    /// Noise σ in force.
    pub noise_std: f64,
    /// Whether λ or σ were tuned by the Laplace evidence.
    pub hyperparameters_tuned: bool,
    /// Laplace log marginal likelihood at (λ, σ).
    pub log_evidence: f64,
    /// Negative log posterior Σ(f−y)²/(2σ²) + ½λ|θ|² at the MAP.
    pub map_train_loss: f64,
    /// Its data term Σ(f−y)²/(2σ²) at the MAP: the fit to the training points, without
    /// the prior's ½λ|θ|² (compare with each sample's `final_data_loss`). Both losses are
    /// in the units the network was fitted in (standardised ones with `--standardize`).
    pub map_data_loss: f64,
    /// Per-sample records.
    pub per_sample: Vec<SampleReport>,
    /// Predictive mean and standard deviation on a grid.
    pub predictive: Predictive,
    /// Mean over training points of −log (1/S Σ_s N(y; f_s(x), σ²)).
    pub train_nll: f64,
    /// The same over the held-out (gap) points.
    pub gap_nll: Option<f64>,
    /// Mean predictive std at the training inputs.
    pub mean_std_train: f64,
    /// Mean predictive std at the held-out inputs.
    pub mean_std_gap: Option<f64>,
    /// With `--standardize`: the training statistics every reported quantity was
    /// standardised with (x = x_s·scale + mean for inputs, f = f_s·scale + mean for
    /// outputs; an NLL in original units is the standardised one plus ln(target scale)).
    pub standardization: Option<Standardization>,
    /// Wall time of the sampling stage.
    pub sampling_wall_time_s: f64,
    /// Wall time of the whole command.
    pub total_wall_time_s: f64,
}

/// One sample as summary.json reports it: the sampler's record, and the data term of its
/// final loss.
///
/// A DiMS particle can come to rest at a lower negative log posterior than the MAP's by
/// shrinking |θ| (the prior's ½λ|θ|²) at an unchanged fit to the data; the two terms
/// tell that apart from a worse or better fit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SampleReport {
    /// What the sampler recorded; its fields appear at the top level of the JSON object.
    #[serde(flatten)]
    pub record: SampleRecord,
    /// The data term of `final_loss`, Σ(f−y)²/(2σ²) over the training points:
    /// `final_loss` − ½λ|θ|² up to rounding. Like `final_loss`, in the units the network
    /// was fitted in (standardised ones with `--standardize`).
    pub final_data_loss: f64,
}

/// The affine maps of `--standardize`, per input column and per target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Standardization {
    /// Training-input means.
    pub input_mean: Vec<f64>,
    /// Training-input standard deviations (1 for a constant column).
    pub input_scale: Vec<f64>,
    /// Training-target means.
    pub target_mean: Vec<f64>,
    /// Training-target standard deviations (1 for a constant target).
    pub target_scale: Vec<f64>,
}

/// Predictive mean and std of the sampled functions on a grid of inputs.
#[derive(Debug, Serialize)]
pub struct Predictive {
    /// Grid inputs.
    pub x: Vec<f64>,
    /// Mean over samples.
    pub mean: Vec<f64>,
    /// Standard deviation over samples (population, divisor S).
    pub std: Vec<f64>,
}

impl Predictive {
    /// From predictions [S, M].
    pub fn from_samples(x: &[f64], preds: &[f64], s: usize) -> Self {
        let m = x.len();
        let (mean, std) = moments(preds, s, m);
        Self { x: x.to_vec(), mean, std }
    }
}

/// Per-point mean and std of predictions [S, M].
pub fn moments(preds: &[f64], s: usize, m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mean = vec![0.0; m];
    let mut var = vec![0.0; m];
    if s == 0 || m == 0 {
        return (mean, var);
    }
    for i in 0..s {
        for j in 0..m {
            mean[j] += preds[i * m + j] / s as f64;
        }
    }
    for i in 0..s {
        for j in 0..m {
            let d = preds[i * m + j] - mean[j];
            var[j] += d * d / s as f64;
        }
    }
    (mean, var.into_iter().map(f64::sqrt).collect())
}

/// Mean predictive std over the points of predictions [S, M].
pub fn mean_std(preds: &[f64], s: usize) -> f64 {
    let m = preds.len().checked_div(s).unwrap_or(0);
    let (_, std) = moments(preds, s, m);
    if m == 0 { 0.0 } else { std.iter().sum::<f64>() / m as f64 }
}

/// Mean over points of the mixture negative log-likelihood
/// −log (1/S Σ_s N(y_j; f_s(x_j), σ²)), computed with log-sum-exp.
pub fn mixture_nll(preds: &[f64], s: usize, y: &[f64], sigma: f64) -> f64 {
    let m = y.len();
    if m == 0 || s == 0 {
        return f64::NAN;
    }
    let c = -0.5 * (2.0 * std::f64::consts::PI).ln() - sigma.ln();
    let mut total = 0.0;
    for (j, yj) in y.iter().enumerate() {
        let logs: Vec<f64> = (0..s).map(|i| c - 0.5 * ((preds[i * m + j] - yj) / sigma).powi(2)).collect();
        let mx = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lse = mx + logs.iter().map(|l| (l - mx).exp()).sum::<f64>().ln() - (s as f64).ln();
        total -= lse;
    }
    total / m as f64
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`, so a
/// reader never sees a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let io = |e| CliError::Io { path: path.to_path_buf(), source: e };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let unique = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.{}.{unique}.tmp", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With one sample the mixture NLL is the Gaussian NLL: ½ log 2πσ² + (y−f)²/2σ².
    #[test]
    fn mixture_nll_single_sample_is_gaussian_nll() {
        let nll = mixture_nll(&[1.0, 2.0], 1, &[1.5, 2.0], 0.5);
        let g = |r: f64| 0.5 * (2.0 * std::f64::consts::PI * 0.25).ln() + r * r / (2.0 * 0.25);
        assert!((nll - 0.5 * (g(0.5) + g(0.0))).abs() < 1e-14);
    }

    /// Population std of {1, 3} is 1.
    #[test]
    fn moments_of_two_samples() {
        let (m, s) = moments(&[1.0, 3.0], 2, 1);
        assert_eq!((m[0], s[0]), (2.0, 1.0));
    }
}
