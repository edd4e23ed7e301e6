//! Elementwise activation functions with exact first and second derivatives.
//!
//! Backends need σ, σ' and σ'' at a point: σ' for the backward pass, σ'' for exact
//! Hessian-vector products (forward-over-reverse differentiates the backward pass).
//!
//! Two evaluation paths:
//!
//! - the scalar [`Activation::value`], [`eval2`](Activation::eval2),
//!   [`eval3`](Activation::eval3) (libm `erfc`, `exp`, `tanh`): the reference, and what
//!   per-element code such as dual-number backends calls;
//! - the slice kernels [`Activation::value_slice`], [`eval2_slice`](Activation::eval2_slice),
//!   [`eval3_slice`](Activation::eval3_slice) over whole rows of pre-activations,
//!   built on the vectorised [`fastmath`](crate::fastmath) functions (and implemented
//!   there): several times faster per element and more accurate (see that module for
//!   the bounds).
//!
//! This module depends on nothing in `fastmath`; the slice kernels depend on the enum.

use crate::error::NnError;
use crate::special::{normal_cdf, normal_pdf};
use std::fmt;
use std::str::FromStr;

/// An elementwise activation function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activation {
    /// GELU in PyTorch's exact (erf) form: σ(x) = x Φ(x), Φ the standard normal cdf
    /// (`torch.nn.GELU()` with `approximate='none'`).
    Gelu,
    /// SiLU / swish: σ(x) = x · sigmoid(x) (`torch.nn.SiLU`).
    Silu,
    /// Hyperbolic tangent (`torch.nn.Tanh`).
    Tanh,
    /// ReLU: σ(x) = max(x, 0), with σ'(0) = 0 as in PyTorch; σ'' = 0 everywhere it exists.
    /// NaN gives NaN (σ, σ', σ'').
    Relu,
    /// The identity (no activation).
    Identity,
}

/// The logistic sigmoid 1/(1+e^{−x}), evaluated without overflow.
#[inline]
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// (tanh x, sech² x = 1 − tanh² x), the latter without the cancellation of 1 − t²
/// for large |x|: with e = e^{−2|x|}, sech² x = 4e/(1 + e)².
#[inline]
fn tanh_sech2(x: f64) -> (f64, f64) {
    let e = (-2.0 * x.abs()).exp();
    (x.tanh(), 4.0 * e / ((1.0 + e) * (1.0 + e)))
}

impl Activation {
    /// All activations, in the order of their names in error messages.
    pub const ALL: [Activation; 5] =
        [Activation::Gelu, Activation::Silu, Activation::Tanh, Activation::Relu, Activation::Identity];

    /// The lower-case name used in model specs (`gelu`, `silu`, `tanh`, `relu`, `identity`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Gelu => "gelu",
            Activation::Silu => "silu",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Identity => "identity",
        }
    }

    /// σ(x).
    #[inline]
    pub fn value(self, x: f64) -> f64 {
        match self {
            Activation::Gelu => x * normal_cdf(x),
            Activation::Silu => x * sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => {
                if x <= 0.0 {
                    0.0
                } else {
                    x // x > 0 or NaN
                }
            }
            Activation::Identity => x,
        }
    }

    /// σ'(x).
    #[inline]
    pub fn derivative(self, x: f64) -> f64 {
        self.eval2(x).1
    }

    /// σ''(x).
    #[inline]
    pub fn second_derivative(self, x: f64) -> f64 {
        self.eval3(x).2
    }

    /// (σ(x), σ'(x)).
    #[inline]
    pub fn eval2(self, x: f64) -> (f64, f64) {
        match self {
            Activation::Gelu => {
                let cdf = normal_cdf(x);
                (x * cdf, cdf + x * normal_pdf(x))
            }
            Activation::Silu => {
                let s = sigmoid(x);
                let sm = sigmoid(-x); // 1 − s without cancellation
                (x * s, s * (1.0 + x * sm))
            }
            Activation::Tanh => {
                let (t, d) = tanh_sech2(x);
                (t, d)
            }
            Activation::Relu => {
                if x > 0.0 {
                    (x, 1.0)
                } else if x <= 0.0 {
                    (0.0, 0.0)
                } else {
                    (x, x) // NaN
                }
            }
            Activation::Identity => (x, 1.0),
        }
    }

    /// (σ(x), σ'(x), σ''(x)), sharing the expensive parts (erf, exp, tanh).
    ///
    /// - GELU: σ' = Φ + xφ, σ'' = φ (2 − x²).
    /// - SiLU (s = sigmoid): σ' = s (1 + x(1−s)), σ'' = s(1−s) (2 + x(1−2s)).
    /// - tanh (t = tanh x): σ' = 1 − t², σ'' = −2t (1 − t²).
    #[inline]
    pub fn eval3(self, x: f64) -> (f64, f64, f64) {
        match self {
            Activation::Gelu => {
                let cdf = normal_cdf(x);
                let pdf = normal_pdf(x);
                // φ(2 − x²) written so that x² cannot overflow where φ has underflowed.
                let xpdf = x * pdf;
                (x * cdf, cdf + xpdf, 2.0 * pdf - xpdf * x)
            }
            Activation::Silu => {
                let s = sigmoid(x);
                let sm = sigmoid(-x);
                (x * s, s * (1.0 + x * sm), s * sm * (2.0 + x * (sm - s)))
            }
            Activation::Tanh => {
                let (t, d) = tanh_sech2(x);
                (t, d, -2.0 * t * d)
            }
            Activation::Relu => {
                if x > 0.0 {
                    (x, 1.0, 0.0)
                } else if x <= 0.0 {
                    (0.0, 0.0, 0.0)
                } else {
                    (x, x, x) // NaN
                }
            }
            Activation::Identity => (x, 1.0, 0.0),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Activation {
    type Err = NnError;

    /// Parses a name case-insensitively; `swish` is accepted for SiLU and `linear` /
    /// `none` for the identity.
    fn from_str(s: &str) -> Result<Self, NnError> {
        match s.trim().to_ascii_lowercase().as_str() {
            "gelu" => Ok(Activation::Gelu),
            "silu" | "swish" => Ok(Activation::Silu),
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "identity" | "linear" | "none" => Ok(Activation::Identity),
            _ => Err(NnError::UnknownActivation { name: s.to_string() }),
        }
    }
}
