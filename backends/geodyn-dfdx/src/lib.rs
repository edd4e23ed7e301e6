//! # geodyn-dfdx
//!
//! geodyn's reverse-mode backend on [dfdx](https://docs.rs/dfdx/0.13) 0.13: the MLP
//! negative log posterior of `geodyn-nn` ([`DfdxMlpObjective`]) on dfdx's [`Cpu`](dfdx::tensor::Cpu)
//! device in f64, and on its CUDA device behind the `cuda` feature
//! (`CudaMlpObjective`, f64 too; see the README for the toolkit it needs).
//!
//! It takes the same [`ModelSpec`](geodyn_nn::ModelSpec), flat parameter vector
//! (PyTorch's `parameters_to_vector` order), [`Dataset`](geodyn_nn::Dataset) and
//! [`Loss`](geodyn_nn::Loss) as `geodyn_dual::MlpObjective` and mirrors its public API:
//! [`Objective`](geodyn_core::Objective) (value, gradient, HVP, fused gradient +
//! curvature), `outputs`, `jvp`, `vjp`, `ggn_vp`, `predict` and the outputs as an
//! [`Embedding`](geodyn_core::Embedding). The tests check parity with the dual backend.
//!
//! Because the spec is a runtime value, the network is built from raw dfdx tensor ops on
//! dynamic shapes (`Tensor<(usize, usize), f64, D>`), feature-major: Z = W A + b is a
//! matmul plus a broadcast bias, followed by dfdx's activation ops (the erf GELU
//! `accurate_gelu`, `sigmoid` for SiLU = z·sigmoid(z), `tanh`, `relu`). Every pass is
//! generic over the device, so the CUDA objective runs the same code.
//!
//! ## Which operations are exact
//!
//! dfdx has reverse mode only. Second-order terms come from hand-written forward
//! tangent (R-operator) passes over dfdx tensor ops, except the full Hessian-vector
//! product:
//!
//! | operation | how | exact? |
//! |---|---|---|
//! | `value`, `outputs`, `predict` | dfdx forward pass | exact (rounding only) |
//! | `gradient`, `vjp` (Jᵀu) | dfdx reverse mode (one taped forward + backward) | exact |
//! | `jvp` (J v) | tangent pass Ż = W Ȧ + V A + v_b, Ȧ' = σ'(Z) Ż | exact |
//! | `grad_and_curvature` | one taped forward; vᵀHv = Σ ḟᵀΛḟ + ∇ℓ·f̈ + λ\|v\|² from the second-order tangent pass Z̈ = W Ä + 2 V Ȧ, Ä' = σ''(Z) Ż² + σ'(Z) Z̈; ∇f by dfdx's backward | exact |
//! | `ggn_vp` ((JᵀΛJ + λI) v) | J v by the tangent pass, Λ in closed form, Jᵀ by dfdx's reverse mode | exact |
//! | `second_directional` (E''[v, v]) | the second-order tangent pass | exact |
//! | `hvp` (H v) | central differences of dfdx gradients, (∇L(θ + hv) − ∇L(θ − hv))/2h, h = ε^{1/3}(1 + \|θ\|)/\|v\|; the prior's λv exactly | **differenced**: error O(h²) + O(ε/h), measured 3e-11 – 8e-10 relative to the exact H v (tests/hvp_error.rs, tests/parity.rs) |
//!
//! σ'(Z) in the tangent passes comes from dfdx's own reverse mode of the activation
//! (so it is exactly the derivative the gradient uses); σ''(Z) is written in closed
//! form with dfdx ops (GELU φ(z)(2 − z²), SiLU s(1−s)(2 + z(1−2s)), tanh −2 tanh σ').
//!
//! ## dfdx's GELU derivative
//!
//! dfdx 0.13's `accurate_gelu` computes the exact value ½z(1 + erf(z/√2)) (within 1e-16
//! of `geodyn-nn`'s GELU, tested), but its backward kernel (CPU and CUDA) returns
//! Φ(z) + √2·zφ(z) instead of Φ(z) + zφ(z): it drops the 1/√2 of d/dz erf(z/√2). This
//! crate measures the derivative once per objective and, when it is the wrong one, adds
//! a term of value exactly 0 whose derivative cancels the error, so gradients are exact
//! (tested against `geodyn-nn`'s σ' to 1e-15). Should dfdx fix the kernel, the probe sees
//! it and adds nothing; any other derivative is refused with
//! [`DfdxError::GeluDerivative`].
//!
//! ## Costs
//!
//! Each call copies θ (and v) to the device and allocates its tensors (dfdx's
//! `fast-alloc` cache reuses buffers); a `grad_and_curvature` call is one taped forward
//! pass, the tangent streams and one backward pass. The whole data set is one batch.
//! `cargo xtask bench` compares the per-RHS cost with the dual backend (BENCHMARKS.md).
//!
//! ## Toolchain
//!
//! dfdx 0.13 does not build on nightly Rust (its build script turns on
//! `generic_const_exprs` code there); build this crate with stable.
#![deny(missing_docs)]

pub mod mlp;
mod ops;
pub mod threaded;

pub use mlp::{DfdxMlpObjective, hvp_step};
pub use threaded::ThreadConfined;

/// The dfdx crate this backend uses (0.13), re-exported so callers can name its
/// devices (`geodyn_dfdx::dfdx::tensor::Cpu`).
pub use dfdx;

/// The MLP objective on dfdx's CUDA device (feature `cuda`), in f64.
///
/// Type-checked only (`cargo xtask check-cuda`), never run: no GPU was available. dfdx
/// 0.13's `Cuda` device holds raw CUDA stream pointers and is neither `Send` nor `Sync`,
/// so this type does not implement [`Objective`](geodyn_core::Objective) (which samplers
/// share across threads) itself: [`ThreadConfined::cuda`] builds it on a worker thread
/// and implements `Objective` by forwarding every call there.
#[cfg(feature = "cuda")]
pub type CudaMlpObjective = DfdxMlpObjective<dfdx::tensor::Cuda>;

#[cfg(feature = "cuda")]
impl CudaMlpObjective {
    /// The objective on CUDA device `ordinal` (0 for the first GPU).
    ///
    /// Errors if the device cannot be opened, and as
    /// [`DfdxMlpObjective::new_on`].
    pub fn new_cuda(
        ordinal: usize,
        spec: geodyn_nn::ModelSpec,
        data: geodyn_nn::Dataset,
        loss: geodyn_nn::Loss,
        prior_precision: f64,
    ) -> Result<Self, DfdxError> {
        let dev = dfdx::tensor::Cuda::try_build(ordinal, 0).map_err(|e| DfdxError::Device(format!("{e:?}")))?;
        Self::new_on(dev, spec, data, loss, prior_precision)
    }
}

/// Errors of this backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DfdxError {
    /// A model, data or loss problem (shapes, settings).
    #[error(transparent)]
    Nn(#[from] geodyn_nn::NnError),
    /// The dfdx device failed (allocation, a CUDA error).
    #[error("dfdx device error: {0}")]
    Device(String),
    /// dfdx's `accurate_gelu` derivative is neither the exact one nor dfdx 0.13's known
    /// variant, so exact gradients cannot be guaranteed.
    #[error(
        "dfdx's accurate_gelu derivative is Φ(z) + c·zφ(z) with c = {measured}, neither 1 (exact) nor √2 (dfdx 0.13); refusing to compute inexact gradients"
    )]
    GeluDerivative {
        /// The measured c.
        measured: f64,
    },
}

impl From<DfdxError> for geodyn_core::Error {
    fn from(e: DfdxError) -> Self {
        match e {
            DfdxError::Nn(e) => e.into(),
            other => geodyn_core::Error::Backend(other.to_string()),
        }
    }
}
