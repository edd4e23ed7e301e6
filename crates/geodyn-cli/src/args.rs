//! Command-line arguments.

pub use crate::backend::BackendArg;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use geodyn_core::Method;
use std::path::PathBuf;

/// Geometric samplers for neural networks: DiMS, the Riemannian Laplace approximation
/// and Laplace, on the embedded Snelson-like data or your own network and data.
#[derive(Debug, Parser)]
#[command(name = "geodyn", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant, reason = "parsed once per process")]
pub enum Command {
    /// List the registered samplers, one line each.
    List,
    /// Draw samples of a trained network's parameters with a registered sampler.
    Sample(SampleArgs),
}

/// Which matrix is the Laplace posterior precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionKind {
    /// Generalised Gauss–Newton JᵀJ/σ² + λI (what the DiMS authors use).
    Ggn,
    /// Exact Hessian of the negative log posterior, positive eigenpairs only.
    Hessian,
}

/// The `--integrator` parser: the canonical names of [`Method`] with its older spellings
/// as aliases, each listed with its one-line summary in `--help`.
fn method_parser() -> impl clap::builder::TypedValueParser<Value = Method> {
    let values =
        Method::ALL.map(|m| PossibleValue::new(m.name()).help(m.summary()).aliases(m.aliases().iter().copied()));
    PossibleValuesParser::new(values).try_map(|s| s.parse::<Method>())
}

/// `geodyn sample` arguments.
#[derive(Debug, Args, Clone, serde::Serialize, serde::Deserialize)]
pub struct SampleArgs {
    /// Sampler name (see `geodyn list`): dims, rla or laplace.
    #[arg(required_unless_present = "resume")]
    pub sampler: Option<String>,

    /// Continue the interrupted run in DIR with its original settings (from DIR/run.json);
    /// finished samples are kept, the rest are computed. Only --threads and --no-progress may change.
    #[arg(long, value_name = "DIR", conflicts_with = "sampler")]
    #[serde(skip)]
    pub resume: Option<PathBuf>,

    /// Output directory for samples.npy, summary.json and function_space.svg.
    #[arg(long, default_value = "geodyn-out")]
    pub out: PathBuf,
    /// Number of samples (ignored when --velocities gives them).
    #[arg(long, default_value_t = 16)]
    pub samples: usize,
    /// Seed of the initial velocities (sample i uses stream i) and of the network initialisation.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads; 0 uses every core. Results do not depend on it.
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// Training data CSV with a header row; without it the embedded Snelson-like set is used.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Target column of --data.
    #[arg(long, default_value = "y")]
    pub target: String,
    /// Input columns of --data, comma-separated [default: every other column].
    #[arg(long, value_delimiter = ',')]
    pub inputs: Vec<String>,
    /// Flag column of --data: rows where it is nonzero are held out of training (e.g. in_gap_1p5_3).
    #[arg(long)]
    pub holdout: Option<String>,
    /// Standardise inputs and targets to zero mean and unit variance with the training rows'
    /// statistics. Training, σ (--noise-std), the predictive, the NLLs and the plot are then
    /// in standardised units; summary.json records the means and scales to convert back.
    #[arg(long)]
    #[serde(default)]
    pub standardize: bool,

    /// Autodiff backend: dual (num-dual, CPU), dfdx (dfdx reverse mode, CPU) or cuda (dfdx's CUDA
    /// device on the worker thread of geodyn_dfdx::ThreadConfined; only in builds with --features cuda, never run on a GPU here).
    #[arg(long, value_enum, default_value_t = BackendArg::Dual)]
    #[serde(default)]
    pub backend: BackendArg,

    /// Network architecture: layer widths and hidden activation (gelu, silu, tanh, relu, identity).
    #[arg(long, default_value = "1-16-16-16-1:gelu")]
    pub arch: String,
    /// A trained PyTorch nn.Sequential MLP in safetensors (0.weight, 0.bias, 2.weight, …); skips training.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Move the --model network to the nearest exact mode of the negative log posterior
    /// (L-BFGS, then Newton) before sampling, as is always done for a network trained here.
    #[arg(long, requires = "model")]
    #[serde(default)]
    pub polish: bool,
    /// Adam epochs (full batch) when training the MAP here.
    #[arg(long, default_value_t = 20_000)]
    pub epochs: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// Adam weight decay (PyTorch's L2 form).
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f64,

    /// Observation noise σ of the Gaussian likelihood [default: tuned by the Laplace evidence].
    #[arg(long)]
    pub noise_std: Option<f64>,
    /// Prior precision λ [default: tuned by the Laplace evidence].
    #[arg(long)]
    pub prior_precision: Option<f64>,
    /// Posterior precision for the initial velocities v ~ N(0, P⁻¹).
    #[arg(long, value_enum, default_value_t = PrecisionKind::Ggn)]
    pub precision: PrecisionKind,
    /// Scale factor of the initial velocities (v ~ N(0, s² P⁻¹)).
    #[arg(long, default_value_t = 1.0)]
    pub velocity_scale: f64,
    /// Initial velocities as .npy, shape (S, K) or (K,); replaces drawing them.
    #[arg(long)]
    pub velocities: Option<PathBuf>,

    /// Potential strength κ (dims).
    #[arg(long, default_value_t = 1.0)]
    pub kappa: f64,
    /// Friction η0 in η = η0·√T (dims).
    #[arg(long, default_value_t = 0.1)]
    pub eta0: f64,
    /// Final time [default: 50 for dims, 1 for rla].
    #[arg(long)]
    pub t1: Option<f64>,
    /// dims: stop when the kinetic energy drops below this ε.
    #[arg(long)]
    pub stop_below_kinetic: Option<f64>,
    /// Absolute tolerance of the ODE solver.
    #[arg(long, default_value_t = 1e-6)]
    pub atol: f64,
    /// Relative tolerance of the ODE solver.
    #[arg(long, default_value_t = 1e-7)]
    pub rtol: f64,
    /// Step limit per trajectory.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_steps: usize,
    /// ODE integrator of dims and rla trajectories: loss-graph-rattle integrates the
    /// particle on the graph of the loss (RATTLE, exact friction, about two loss gradients
    /// and no curvature term per step), with rtol/100 as its energy tolerance per step;
    /// the energy never rises and geodesics conserve T. projected-tsit5 keeps the same
    /// invariants around Tsitouras 5(4) (cheaper when user velocities put much energy into
    /// stiff directions); projected-dopri5 does so around Dormand–Prince 5(4); tsit5 is
    /// the plain Runge–Kutta 5(4) pair. The older spellings graph-rattle,
    /// energy-projected, energy-projected-dopri5 and tsit45 are accepted.
    #[arg(long, default_value = "loss-graph-rattle", value_parser = method_parser())]
    pub integrator: Method,
    /// laplace: use the linearised predictive f* + J v.
    #[arg(long)]
    pub linearised: bool,
    /// Do not show the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}
