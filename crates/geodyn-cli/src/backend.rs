//! `--backend`: which autodiff backend evaluates the network objective.
//!
//! [`NetObjective`] is the MLP negative log posterior on the chosen backend, a
//! [`ModelObjective`] (outputs, J v, Jᵀu, GGN products, predictions). Backends
//! are cargo features of this crate: `dual` is always built, `dfdx` by default, `cuda`
//! only with `--features cuda`. Choosing one that was not compiled in is a one-line
//! error.

use crate::error::CliError;
use geodyn_core::{GradientContext, ModelObjective, Objective, Result};
use geodyn_dual::MlpObjective;
use geodyn_nn::{Dataset, Loss, ModelSpec};

/// The `--backend` choices (all are accepted by the parser; one that was not compiled
/// into this binary is reported when the run starts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendArg {
    /// Dual numbers (num-dual) on the CPU: exact gradients, HVPs and curvature.
    #[default]
    Dual,
    /// dfdx reverse mode on the CPU (f64); HVPs by central differences of gradients.
    Dfdx,
    /// dfdx's CUDA device, kept on one worker thread (`geodyn_dfdx::ThreadConfined`: dfdx
    /// 0.13's CUDA device is not thread-safe); only in builds with `--features cuda`.
    Cuda,
}

impl BackendArg {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            BackendArg::Dual => "dual",
            BackendArg::Dfdx => "dfdx",
            BackendArg::Cuda => "cuda",
        }
    }

    /// Whether this binary was built with the backend.
    pub fn compiled_in(self) -> bool {
        match self {
            BackendArg::Dual => true,
            BackendArg::Dfdx => cfg!(feature = "dfdx"),
            BackendArg::Cuda => cfg!(feature = "cuda"),
        }
    }

    /// Errors with one clear line unless the backend was compiled in.
    pub fn check(self) -> Result<Self, CliError> {
        if self.compiled_in() {
            return Ok(self);
        }
        let how = match self {
            BackendArg::Cuda => {
                "rebuild with `cargo build --release -p geodyn-cli --features cuda` (needs the CUDA toolkit: nvcc, and nvidia-smi with a GPU at build time)"
            }
            _ => "rebuild with `cargo build --release -p geodyn-cli --features dfdx`",
        };
        Err(CliError::Input(format!("backend `{}` was not compiled into this geodyn; {how}", self.name())))
    }

    /// The MLP objective for `spec` on `data` with `loss` and prior precision λ.
    pub fn objective(
        self,
        spec: &ModelSpec,
        data: &Dataset,
        loss: Loss,
        lambda: f64,
    ) -> Result<NetObjective, CliError> {
        self.check()?;
        match self {
            BackendArg::Dual => Ok(NetObjective::Dual(MlpObjective::new(spec.clone(), data.clone(), loss, lambda)?)),
            #[cfg(feature = "dfdx")]
            BackendArg::Dfdx => Ok(NetObjective::Dfdx(Box::new(
                geodyn_dfdx::DfdxMlpObjective::new(spec.clone(), data.clone(), loss, lambda)
                    .map_err(geodyn_core::Error::from)?,
            ))),
            // dfdx 0.13's `Cuda` device holds raw CUDA stream pointers and is neither Send
            // nor Sync (found by `cargo xtask check-cuda`), so it lives on one worker thread
            // and the samplers' calls are forwarded there.
            #[cfg(feature = "cuda")]
            BackendArg::Cuda => Ok(NetObjective::Cuda(Box::new(
                geodyn_dfdx::ThreadConfined::cuda(0, spec.clone(), data.clone(), loss, lambda)
                    .map_err(geodyn_core::Error::from)?,
            ))),
            #[allow(unreachable_patterns)]
            other => Err(CliError::Input(format!("backend `{}` was not compiled into this geodyn", other.name()))),
        }
    }
}

/// The MLP negative log posterior on one backend.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per run; the CPU objective stays unboxed on the hot path")]
pub enum NetObjective {
    /// `geodyn_dual::MlpObjective`.
    Dual(MlpObjective),
    /// `geodyn_dfdx::DfdxMlpObjective` on the CPU.
    #[cfg(feature = "dfdx")]
    Dfdx(Box<geodyn_dfdx::DfdxMlpObjective>),
    /// `geodyn_dfdx::CudaMlpObjective` on its worker thread.
    #[cfg(feature = "cuda")]
    Cuda(Box<geodyn_dfdx::ThreadConfined>),
}

/// Calls `$body` with `$o` bound to the backend's objective.
macro_rules! each {
    ($self:expr, $o:ident => $body:expr) => {
        match $self {
            NetObjective::Dual($o) => $body,
            #[cfg(feature = "dfdx")]
            NetObjective::Dfdx($o) => $body,
            #[cfg(feature = "cuda")]
            NetObjective::Cuda($o) => $body,
        }
    };
}

impl ModelObjective for NetObjective {
    fn num_outputs(&self) -> usize {
        each!(self, o => o.num_outputs())
    }
    fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.outputs(x, out))
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.jvp(x, v, out))
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.vjp(x, u, out))
    }
    fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.ggn_vp(x, v, out))
    }
    fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.outputs_second_directional(x, v, out))
    }
    fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        each!(self, o => o.predict(param_sets, inputs, out))
    }
}

impl Objective for NetObjective {
    fn dim(&self) -> usize {
        each!(self, o => o.dim())
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        each!(self, o => o.value(x))
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        each!(self, o => o.gradient(x, g))
    }
    fn gradient_context(&self) -> Box<dyn GradientContext + '_> {
        each!(self, o => o.gradient_context())
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        each!(self, o => o.hvp(x, v, hv))
    }
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        each!(self, o => o.grad_and_curvature(x, v, g))
    }
}
