//! Data losses (negative log-likelihoods), the Gaussian prior and the negative log
//! posterior of DiMS eq. 1.
//!
//! A loss is a sum over samples of ℓ(f(xₙ), yₙ) with f the network output (length m).
//! Backends need, per sample, the value, the gradient ∂ℓ/∂f and products with the
//! output Hessian Λ = ∂²ℓ/∂f² (for exact Hessian-vector products and for the
//! generalised Gauss–Newton JᵀΛJ). All are given here in closed form.

use crate::data::{Dataset, Target};
use crate::error::{NnError, Result};
use crate::special::HALF_LN_2PI;

/// A per-sample negative log-likelihood, summed over the data (reduction `sum`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// Gaussian likelihood with fixed noise σ, without its constant:
    /// ℓ(f, y) = |f − y|²/(2σ²); ∂ℓ/∂f = (f − y)/σ²; Λ = I/σ².
    /// The constant (m ln σ + m/2 ln 2π per sample) is [`gaussian_nll_constant`].
    GaussianNll {
        /// The noise standard deviation σ > 0.
        sigma: f64,
    },
    /// Softmax cross-entropy on logits f (length C) with label smoothing ε ∈ [0, 1),
    /// as PyTorch's `cross_entropy(label_smoothing=ε)`: the target distribution is
    /// q = (1−ε)·onehot(y) + ε/C, ℓ = logsumexp(f) − q·f; ∂ℓ/∂f = p − q with
    /// p = softmax(f); Λ = diag(p) − p pᵀ.
    CrossEntropy {
        /// Label smoothing ε (0 for none).
        label_smoothing: f64,
    },
}

/// The constant of the Gaussian negative log-likelihood of `n` samples with `m`
/// outputs each: n·m·(ln σ + ½ ln 2π). Add it to [`Loss::GaussianNll`]'s value for
/// the full −log p(D|θ).
pub fn gaussian_nll_constant(n: usize, m: usize, sigma: f64) -> f64 {
    (n * m) as f64 * (sigma.ln() + HALF_LN_2PI)
}

impl Loss {
    /// A Gaussian likelihood with noise σ; errors unless σ is finite and positive.
    pub fn gaussian(sigma: f64) -> Result<Self> {
        let l = Loss::GaussianNll { sigma };
        l.validate()?;
        Ok(l)
    }

    /// Softmax cross-entropy with label smoothing ε ∈ [0, 1).
    pub fn cross_entropy(label_smoothing: f64) -> Result<Self> {
        let l = Loss::CrossEntropy { label_smoothing };
        l.validate()?;
        Ok(l)
    }

    /// Checks the loss's own settings.
    pub fn validate(&self) -> Result<()> {
        match *self {
            Loss::GaussianNll { sigma } if !(sigma.is_finite() && sigma > 0.0) => {
                Err(NnError::InvalidParameter { name: "sigma", value: sigma, reason: "must be finite and > 0" })
            }
            Loss::CrossEntropy { label_smoothing: e } if !(0.0..1.0).contains(&e) => {
                Err(NnError::InvalidParameter { name: "label_smoothing", value: e, reason: "must lie in [0, 1)" })
            }
            _ => Ok(()),
        }
    }

    /// Checks that the loss fits a network with `output_dim` outputs and the data's
    /// targets: regression targets of width m for the Gaussian, class labels below
    /// C = m for the cross-entropy.
    pub fn check_compatible(&self, output_dim: usize, data: &Dataset) -> Result<()> {
        self.validate()?;
        match self {
            Loss::GaussianNll { .. } => match data.target_dim() {
                Some(m) if m == output_dim => Ok(()),
                Some(m) => Err(NnError::shape("regression targets per sample (= network outputs)", output_dim, m)),
                None => Err(NnError::shape("targets", "regression targets", "class labels")),
            },
            Loss::CrossEntropy { .. } => match data.num_classes() {
                Some(c) if c <= output_dim => Ok(()),
                Some(c) => Err(NnError::shape("classes (= network outputs)", output_dim, c)),
                None => Err(NnError::shape("targets", "class labels", "regression targets")),
            },
        }
    }

    /// ℓ(f, y) for one sample; writes ∂ℓ/∂f into `grad` (length m).
    ///
    /// Panics if the target kind does not match the loss (checked up front by
    /// [`Loss::check_compatible`]).
    #[inline]
    pub fn value_grad(&self, f: &[f64], y: Target<'_>, grad: &mut [f64]) -> f64 {
        match (*self, y) {
            (Loss::GaussianNll { sigma }, Target::Value(y)) => {
                let prec = 1.0 / (sigma * sigma);
                let mut s = 0.0;
                for ((g, f), y) in grad.iter_mut().zip(f).zip(y) {
                    let r = f - y;
                    s += r * r;
                    *g = prec * r;
                }
                0.5 * prec * s
            }
            (Loss::CrossEntropy { label_smoothing: eps }, Target::Class(c)) => {
                let n = f.len() as f64;
                let fmax = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut z = 0.0;
                for (g, f) in grad.iter_mut().zip(f) {
                    let e = (f - fmax).exp();
                    *g = e;
                    z += e;
                }
                let lse = fmax + z.ln();
                let mut qf = 0.0;
                for (j, (g, f)) in grad.iter_mut().zip(f).enumerate() {
                    let q = eps / n + if j == c { 1.0 - eps } else { 0.0 };
                    qf += q * f;
                    *g = *g / z - q;
                }
                lse - qf
            }
            _ => panic!("loss / target kind mismatch (call Loss::check_compatible first)"),
        }
    }

    /// Writes Λu = (∂²ℓ/∂f²) u for one sample (u, out of length m).
    #[inline]
    pub fn hess_vec(&self, f: &[f64], u: &[f64], out: &mut [f64]) {
        match *self {
            Loss::GaussianNll { sigma } => {
                let prec = 1.0 / (sigma * sigma);
                for (o, u) in out.iter_mut().zip(u) {
                    *o = prec * u;
                }
            }
            Loss::CrossEntropy { .. } => {
                // p = softmax(f) into out, then Λu = p ⊙ u − p (p·u).
                let fmax = f.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mut z = 0.0;
                for (o, f) in out.iter_mut().zip(f) {
                    *o = (f - fmax).exp();
                    z += *o;
                }
                let mut pu = 0.0;
                for (o, u) in out.iter_mut().zip(u) {
                    *o /= z;
                    pu += *o * u;
                }
                for (o, u) in out.iter_mut().zip(u) {
                    *o *= u - pu;
                }
            }
        }
    }
}

/// The isotropic Gaussian prior N(0, λ⁻¹I) as a penalty: ½λ|θ|² (its normalising
/// constant, −K/2 ln(λ/2π), is [`GaussianPrior::log_normalizer`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GaussianPrior {
    /// The prior precision λ ≥ 0.
    pub precision: f64,
}

impl GaussianPrior {
    /// A prior with precision λ; errors unless λ is finite and ≥ 0.
    pub fn new(precision: f64) -> Result<Self> {
        if precision.is_finite() && precision >= 0.0 {
            Ok(Self { precision })
        } else {
            Err(NnError::InvalidParameter {
                name: "prior precision",
                value: precision,
                reason: "must be finite and >= 0",
            })
        }
    }

    /// ½λ|θ|².
    pub fn value(&self, theta: &[f64]) -> f64 {
        // `dot`'s eight partial sums: no serial chain of K additions on the hot path.
        0.5 * self.precision * geodyn_core::dot(theta, theta)
    }

    /// Adds ∇(½λ|θ|²) = λθ to `grad`.
    pub fn add_gradient(&self, theta: &[f64], grad: &mut [f64]) {
        for (g, t) in grad.iter_mut().zip(theta) {
            *g += self.precision * t;
        }
    }

    /// −log of the prior's normalising constant for K parameters, K/2 ln(2π/λ), so that
    /// −log p(θ) = value(θ) + log_normalizer(K). Infinite for λ = 0.
    pub fn log_normalizer(&self, k: usize) -> f64 {
        0.5 * k as f64 * (2.0 * std::f64::consts::PI / self.precision).ln()
    }
}

/// The negative log posterior of DiMS eq. 1, up to constants:
/// L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|², evaluated in plain f64 by a forward pass.
///
/// Backends compute the same quantity with derivatives; this is the reference value.
pub fn negative_log_posterior(
    spec: &crate::ModelSpec,
    data: &Dataset,
    loss: &Loss,
    prior: &GaussianPrior,
    theta: &[f64],
) -> Result<f64> {
    loss.check_compatible(spec.output_dim(), data)?;
    crate::error::check_len("inputs per sample (= network inputs)", spec.input_dim(), data.input_dim())?;
    let m = spec.output_dim();
    let mut out = vec![0.0; data.len() * m];
    let mut scratch = Vec::new();
    spec.forward(theta, data.inputs(), &mut out, &mut scratch)?;
    let mut g = vec![0.0; m];
    let mut total = 0.0;
    for (i, f) in out.chunks_exact(m).enumerate() {
        total += loss.value_grad(f, data.target(i), &mut g);
    }
    Ok(total + prior.value(theta))
}
