//! # geodyn-nn
//!
//! Backend-neutral neural-network pieces of geodyn:
//!
//! - [`ModelSpec`]: MLPs (dense layers with [`Activation`]s), parsed from strings such as
//!   `"1-16-16-16-1:gelu"`, with PyTorch's flat parameter layout
//!   (`parameters_to_vector`: per layer the weight row-major `[out, in]`, then the
//!   bias) and a batched f64 forward pass for predictions.
//! - [`Activation`]s with exact first and second derivatives (GELU in its exact erf
//!   form, SiLU, tanh, ReLU, identity) and the [`special`] functions behind them;
//!   vectorised slice kernels for whole layers ([`Activation::eval3_slice`]) on the
//!   [`fastmath`] exp and normal cdf / pdf.
//! - [`Loss`]es (Gaussian NLL with noise σ, softmax cross-entropy with label
//!   smoothing) with their output gradients and Hessians, the [`GaussianPrior`]
//!   ½λ|θ|², and the [`negative_log_posterior`] of DiMS eq. 1.
//! - [`Dataset`]s: the synthetic [`data::snelson_like`] and [`data::two_moons`] sets,
//!   CSV loading ([`data::CsvSpec`]), [`npy`] arrays and [`data::Standardizer`].
//! - [`Adam`], full batch, driving any [`geodyn_core::Objective`] to a MAP estimate.
//! - [`weights`]: safetensors files of PyTorch `nn.Sequential` MLPs.
//!
//! Derivatives of networks come from backends (e.g. `geodyn-dual`); this crate knows
//! no autodiff library.
#![deny(missing_docs)]

pub mod activation;
pub mod adam;
pub mod data;
pub mod error;
pub mod fastmath;
pub mod loss;
pub mod npy;
pub mod spec;
pub mod special;
pub mod weights;

pub use activation::Activation;
pub use adam::{Adam, AdamReport, WeightDecay};
pub use data::{CsvSpec, Dataset, Split, Standardizer, Table, Target, TargetKind, Targets};
pub use error::{NnError, Result};
pub use loss::{GaussianPrior, Loss, gaussian_nll_constant, negative_log_posterior};
pub use spec::{Dense, ModelSpec};
