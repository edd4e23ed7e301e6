//! `geodyn sample`: data → MAP → Laplace hyperparameters → posterior → samples → outputs.

use crate::args::{PrecisionKind, SampleArgs};
use crate::backend::{BackendArg, NetObjective};
use crate::error::CliError;
use crate::report::{self, Predictive, SampleReport, Summary};
use geodyn_core::{ModelObjective, Objective};
use geodyn_nn::data::{CsvSpec, SNELSON_LIKE_SEED, Split, snelson_like};
use geodyn_nn::{Adam, Dataset, Loss, ModelSpec, WeightDecay};
use geodyn_samplers::{
    EvidenceInputs, GgnSpectrum, LaplacePosterior, ModeReport, ModeSearch, Registry, SampleRecord, Sampler,
    SamplerConfig, find_mode, initial_velocity, regression_laplace_at, run_selected, tune_hyperparameters,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::SeedableRng;
use std::path::PathBuf;
use std::time::Instant;

/// Runs `geodyn sample`: writes samples.npy, summary.json and (for 1-D inputs)
/// function_space.svg into `args.out`, and returns the summary's path and contents.
///
/// The stages, each a function below: resolve the arguments (`--resume` reads them
/// back) → check the settings and load the data (`Run::prepare`) → the MAP
/// (`fit_map`) → the Laplace posterior at it (`laplace_stage`) → the initial
/// velocities (`draw_velocities`) → the samples (`run_sampler`) → the outputs
/// (`write_outputs`). faer runs sequentially for the duration of the call (results
/// must not depend on the core count); its global setting is restored afterwards.
pub fn sample(args: &SampleArgs) -> Result<(PathBuf, Summary), CliError> {
    let t_start = Instant::now();
    let _sequential = SequentialFaer::enter();
    let resumed = resolve_args(args)?;
    let args = resumed.as_ref().unwrap_or(args);
    let run = Run::prepare(args)?;
    if args.resume.is_none() {
        run.claim_out_dir()?;
    }
    let map = fit_map(&run)?;
    let laplace = laplace_stage(&run, &map)?;
    let velocities = draw_velocities(&run, &laplace.posterior)?;
    let (records, sampling_wall) = run_sampler(&run, &laplace.objective, &map.theta, &velocities)?;
    write_outputs(&run, &map, &laplace, &velocities, records, sampling_wall, t_start)
}

/// Sets faer's global parallelism to sequential and restores the previous setting when
/// dropped.
struct SequentialFaer(faer::Par);

impl SequentialFaer {
    fn enter() -> Self {
        let previous = faer::get_global_parallelism();
        faer::set_global_parallelism(faer::Par::Seq);
        Self(previous)
    }
}

impl Drop for SequentialFaer {
    fn drop(&mut self) {
        faer::set_global_parallelism(self.0);
    }
}

/// With `--resume DIR`: the original run's arguments from DIR/run.json (only the output
/// directory, `--threads` and `--no-progress` come from this invocation).
fn resolve_args(args: &SampleArgs) -> Result<Option<SampleArgs>, CliError> {
    let Some(dir) = &args.resume else { return Ok(None) };
    let path = dir.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| CliError::Io { path: path.clone(), source: e })?;
    let mut stored: SampleArgs = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{}: not a geodyn run file: {e}", path.display())))?;
    stored.out = dir.clone();
    stored.threads = args.threads;
    stored.no_progress = args.no_progress;
    Ok(Some(stored))
}

/// A checked run: its arguments, backend, sampler and data.
struct Run<'a> {
    args: &'a SampleArgs,
    backend: BackendArg,
    sampler_name: String,
    config: SamplerConfig,
    sampler: Box<dyn Sampler>,
    split: Split,
    data_source: String,
    standardization: Option<report::Standardization>,
    train: Dataset,
    spec: ModelSpec,
}

impl<'a> Run<'a> {
    /// Checks every setting before any training (the sampler name and its settings
    /// first), loads and optionally standardises the data and checks the architecture
    /// against it.
    fn prepare(args: &'a SampleArgs) -> Result<Self, CliError> {
        let backend = args.backend.check()?;
        let sampler_name = args.sampler.clone().ok_or_else(|| CliError::Input("a sampler name is required".into()))?;
        let config = SamplerConfig {
            kappa: args.kappa,
            eta0: args.eta0,
            t1: args.t1,
            stop_below_kinetic: args.stop_below_kinetic,
            atol: args.atol,
            rtol: args.rtol,
            max_steps: args.max_steps,
            linearised: args.linearised,
            integrator: args.integrator,
        };
        let sampler = Registry::with_builtin().create(&sampler_name, config.clone())?;
        for (name, v) in [("--noise-std", args.noise_std), ("--prior-precision", args.prior_precision)] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Err(CliError::Input(format!("{name} must be a positive number, got {v}")));
            }
        }
        if !(args.velocity_scale.is_finite() && args.velocity_scale > 0.0) {
            return Err(CliError::Input(format!(
                "--velocity-scale must be a positive number, got {}",
                args.velocity_scale
            )));
        }
        if args.samples == 0 && args.velocities.is_none() {
            return Err(CliError::Input("--samples must be at least 1".into()));
        }
        let (mut split, data_source) = load_data(args)?;
        let standardization = if args.standardize { Some(standardize(&mut split, args)?) } else { None };
        let train = split.train.clone();
        let spec: ModelSpec = args.arch.parse()?;
        if spec.input_dim() != train.input_dim() {
            return Err(CliError::Input(format!(
                "--arch {} takes {} inputs but the data have {} input columns",
                args.arch,
                spec.input_dim(),
                train.input_dim()
            )));
        }
        if spec.output_dim() != 1 {
            return Err(CliError::Input(format!(
                "--arch {}: regression needs one output, got {}",
                args.arch,
                spec.output_dim()
            )));
        }
        Ok(Self { args, backend, sampler_name, config, sampler, split, data_source, standardization, train, spec })
    }

    /// A fresh run writes its settings (for `--resume`) and owns the directory's
    /// per-sample files: any left by an earlier run (another sampler, other settings)
    /// would otherwise be taken as finished samples here, or by a later `--resume` of
    /// this run. Other files are left alone.
    fn claim_out_dir(&self) -> Result<(), CliError> {
        let out = &self.args.out;
        std::fs::create_dir_all(out).map_err(|e| CliError::Io { path: out.clone(), source: e })?;
        let json = serde_json::to_string_pretty(self.args).map_err(|e| CliError::Input(e.to_string()))?;
        report::write_atomic(&out.join("run.json"), json.as_bytes())?;
        remove_stored_samples(&out.join("samples"))
    }

    /// The regression targets of the training rows.
    fn targets(&self) -> Result<&[f64], CliError> {
        self.train.regression_targets().ok_or_else(|| CliError::Input("regression targets expected".into()))
    }

    /// Whether λ (respectively σ) is tuned by the evidence rather than given.
    fn tuned(&self) -> (bool, bool) {
        (self.args.prior_precision.is_none(), self.args.noise_std.is_none())
    }

    /// (λ, σ) re-tuned by the Laplace evidence at `theta`, from (λ, σ).
    fn tune(&self, theta: &[f64], lambda: f64, sigma: f64) -> Result<(f64, f64), CliError> {
        let (spectrum, sse) = laplace_at(self.backend, &self.spec, &self.train, theta)?;
        let (tune_prior, tune_noise) = self.tuned();
        let inputs = EvidenceInputs::regression(self.train.len(), &spectrum, sse, theta);
        let (l, s, _) = tune_hyperparameters(&inputs, lambda, sigma, tune_prior, tune_noise)?;
        Ok((l, s))
    }
}

/// The MAP θ* and the hyperparameters at it.
struct MapFit {
    theta: Vec<f64>,
    lambda: f64,
    sigma: f64,
    /// Adam epochs, for a network trained here.
    training: Option<usize>,
    map_search: Option<ModeReport>,
}

/// The MAP: the user's network, or Adam here. Training alternates Adam on the negative
/// log posterior at the current (λ, σ) with evidence re-tuning (online marginal
/// likelihood). Adam stops well short of a mode, so θ* is then taken to an exact mode of
/// the objective the samplers use (L-BFGS, then Newton: `geodyn_samplers::find_mode`),
/// re-tuning (λ, σ) at the mode until they settle. A user's network is moved only with
/// `--polish`.
fn fit_map(run: &Run<'_>) -> Result<MapFit, CliError> {
    let args = run.args;
    let mut lambda = args.prior_precision.unwrap_or(1.0);
    let mut sigma = args.noise_std.unwrap_or(1.0);
    let (tune_prior, tune_noise) = run.tuned();
    let tuning = tune_prior || tune_noise;
    let (mut theta, training) = match &args.model {
        Some(path) => (geodyn_nn::weights::load_safetensors_file(&run.spec, path)?, None),
        None => {
            let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(args.seed);
            let mut theta = run.spec.init_params(&mut rng);
            let rounds = 10usize;
            let per_round = args.epochs.div_ceil(rounds + 1).max(1);
            let mut epochs = 0;
            for round in 0..=rounds {
                let obj = run.backend.objective(&run.spec, &run.train, Loss::gaussian(sigma)?, lambda)?;
                let adam = Adam {
                    lr: args.lr,
                    weight_decay: args.weight_decay,
                    decay: WeightDecay::L2,
                    max_epochs: per_round,
                    ..Adam::default()
                };
                epochs += adam.minimize(&obj, &mut theta)?.epochs;
                if round < rounds && tuning {
                    (lambda, sigma) = run.tune(&theta, lambda, sigma)?;
                }
            }
            (theta, Some(epochs))
        }
    };
    geodyn_core::error::check_finite("MAP parameters", &theta)?;
    if args.model.is_some() && tuning {
        // a user's network: λ, σ by the evidence at their θ* (then at the mode with --polish)
        (lambda, sigma) = run.tune(&theta, lambda, sigma)?;
    }
    let map_search = if args.model.is_none() || args.polish {
        Some(polish_to_mode(run, &mut theta, &mut lambda, &mut sigma, tuning)?)
    } else {
        None
    };
    Ok(MapFit { theta, lambda, sigma, training, map_search })
}

/// Takes `theta` to an exact mode at (λ, σ), re-tuning (λ, σ) there up to three times
/// until they move by less than 0.1%; the report spans the whole search.
fn polish_to_mode(
    run: &Run<'_>,
    theta: &mut [f64],
    lambda: &mut f64,
    sigma: &mut f64,
    tuning: bool,
) -> Result<ModeReport, CliError> {
    let polish = |theta: &mut [f64], lambda: f64, sigma: f64| -> Result<ModeReport, CliError> {
        let obj = run.backend.objective(&run.spec, &run.train, Loss::gaussian(sigma)?, lambda)?;
        Ok(find_mode(&obj, theta, &ModeSearch::default())?)
    };
    let first = polish(theta, *lambda, *sigma)?;
    let mut report = first.clone();
    if tuning {
        for _ in 0..3 {
            let (l, s) = run.tune(theta, *lambda, *sigma)?;
            let moved = (l / *lambda - 1.0).abs() > 1e-3 || (s / *sigma - 1.0).abs() > 1e-3;
            (*lambda, *sigma) = (l, s);
            let next = polish(theta, *lambda, *sigma)?;
            report = ModeReport {
                lbfgs_iterations: report.lbfgs_iterations + next.lbfgs_iterations,
                newton_iterations: report.newton_iterations + next.newton_iterations,
                min_hessian_eigenvalue: next.min_hessian_eigenvalue.or(report.min_hessian_eigenvalue),
                ..next
            };
            if !moved {
                break;
            }
        }
    }
    // Where the search started (Adam's θ, or the user's) and where it ended.
    Ok(ModeReport { initial_value: first.initial_value, initial_grad_norm: first.initial_grad_norm, ..report })
}

/// The Laplace posterior at θ* and what the report needs from it.
struct LaplaceStage {
    log_evidence: f64,
    /// The negative log posterior at the final (λ, σ): the samplers' objective.
    objective: NetObjective,
    map_grad_norm: f64,
    posterior: LaplacePosterior,
}

/// Laplace at θ*: the GGN spectrum and the evidence at the final (λ, σ), and the
/// posterior precision `--precision` asks for.
fn laplace_stage(run: &Run<'_>, map: &MapFit) -> Result<LaplaceStage, CliError> {
    let (theta, lambda, sigma) = (&map.theta, map.lambda, map.sigma);
    let (spectrum, sse) = laplace_at(run.backend, &run.spec, &run.train, theta)?;
    let inputs = EvidenceInputs::regression(run.train.len(), &spectrum, sse, theta);
    let log_evidence = geodyn_samplers::log_evidence(&inputs, lambda, sigma);
    let objective = run.backend.objective(&run.spec, &run.train, Loss::gaussian(sigma)?, lambda)?;
    let mut map_grad = vec![0.0; run.spec.num_params()];
    objective.gradient(theta, &mut map_grad)?;
    let map_grad_norm = map_grad.iter().map(|g| g * g).sum::<f64>().sqrt();
    let posterior = match run.args.precision {
        PrecisionKind::Ggn => LaplacePosterior::from_ggn(&spectrum, 1.0 / (sigma * sigma), lambda)?,
        PrecisionKind::Hessian => LaplacePosterior::from_hessian(&objective, theta, 1e-10)?,
    };
    Ok(LaplaceStage { log_evidence, objective, map_grad_norm, posterior })
}

/// The initial velocities: `--velocities`, or `--samples` draws from the posterior keyed
/// by (seed, index).
fn draw_velocities(run: &Run<'_>, posterior: &LaplacePosterior) -> Result<Vec<Vec<f64>>, CliError> {
    let (args, k) = (run.args, run.spec.num_params());
    let Some(path) = &args.velocities else {
        return Ok((0..args.samples).map(|i| initial_velocity(posterior, args.seed, i, args.velocity_scale)).collect());
    };
    let arr = geodyn_nn::npy::read_npy_file(path)?;
    let rows = match arr.shape.as_slice() {
        [kk] if *kk == k => 1,
        [s, kk] if *kk == k => *s,
        shape => {
            return Err(CliError::Input(format!(
                "{}: velocities must have shape [S, {k}] or [{k}] for --arch {}, got {shape:?}",
                path.display(),
                args.arch
            )));
        }
    };
    if !arr.data.iter().all(|v| v.is_finite()) {
        return Err(CliError::Input(format!("{}: velocities contain non-finite values", path.display())));
    }
    Ok((0..rows).map(|i| arr.data[i * k..(i + 1) * k].to_vec()).collect())
}

/// The samples, in parallel, with a progress bar. Finished samples are on disk (one file
/// each, written atomically as it completes), so an interrupted run resumes with the
/// missing ones. Returns the records in index order and the sampling wall time.
fn run_sampler(
    run: &Run<'_>,
    objective: &NetObjective,
    theta: &[f64],
    velocities: &[Vec<f64>],
) -> Result<(Vec<SampleRecord>, f64), CliError> {
    let (args, k) = (run.args, run.spec.num_params());
    let pb = progress_bar(args.no_progress, velocities.len(), &run.sampler_name)?;
    pb.tick();
    let t_samples = Instant::now();
    let samples_dir = args.out.join("samples");
    std::fs::create_dir_all(&samples_dir).map_err(|e| CliError::Io { path: samples_dir.clone(), source: e })?;
    let sample_path = |i: usize| samples_dir.join(format!("sample-{i:05}.json"));
    let mut done: Vec<Option<SampleRecord>> = vec![None; velocities.len()];
    for (i, slot) in done.iter_mut().enumerate() {
        if let Ok(text) = std::fs::read_to_string(sample_path(i))
            && let Ok(stored) = serde_json::from_str::<StoredSample>(&text)
            && stored.record.index == i
            && stored.theta.len() == k
        {
            let mut r = stored.record;
            r.theta = stored.theta;
            *slot = Some(r);
        }
    }
    let pending: Vec<usize> = (0..velocities.len()).filter(|&i| done[i].is_none()).collect();
    pb.set_position((velocities.len() - pending.len()) as u64);
    let save = |r: &SampleRecord| -> Result<(), String> {
        let stored = StoredSample { record: r.clone(), theta: r.theta.clone() };
        let json = serde_json::to_string(&stored).map_err(|e| e.to_string())?;
        report::write_atomic(&sample_path(r.index), json.as_bytes()).map_err(|e| e.to_string())?;
        pb.inc(1);
        Ok(())
    };
    let fresh = run_selected(run.sampler.as_ref(), objective, theta, velocities, &pending, args.threads, &save)?;
    pb.finish_and_clear();
    for r in fresh {
        let i = r.index;
        done[i] = Some(r);
    }
    Ok((done.into_iter().flatten().collect(), t_samples.elapsed().as_secs_f64()))
}

/// A progress bar over `len` samples on stderr (hidden with `--no-progress`).
fn progress_bar(hidden: bool, len: usize, message: &str) -> Result<ProgressBar, CliError> {
    if hidden {
        return Ok(ProgressBar::hidden());
    }
    let pb = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} samples, elapsed {elapsed}, ETA {eta}")
            .map_err(|e| CliError::Input(e.to_string()))?
            .progress_chars("=> "),
    );
    pb.set_message(message.to_owned());
    Ok(pb)
}

/// The predictive on a grid and at the data, and the files: samples.npy, map.npy,
/// velocities.npy, summary.json and (1-D inputs) function_space.svg.
#[allow(clippy::too_many_arguments)]
fn write_outputs(
    run: &Run<'_>,
    map: &MapFit,
    laplace: &LaplaceStage,
    velocities: &[Vec<f64>],
    records: Vec<SampleRecord>,
    sampling_wall: f64,
    t_start: Instant,
) -> Result<(PathBuf, Summary), CliError> {
    let (args, spec, train, split) = (run.args, &run.spec, &run.train, &run.split);
    let (theta, sigma, k) = (&map.theta, map.sigma, spec.num_params());
    let objective = &laplace.objective;
    let s = records.len();
    let mut thetas = Vec::with_capacity(s * k);
    for r in &records {
        thetas.extend_from_slice(&r.theta);
    }
    let linearised = run.sampler_name == "laplace" && args.linearised;
    let predict = |inputs: &[f64]| -> Result<Vec<f64>, CliError> {
        predict_samples(run.backend, spec, theta, &thetas, velocities, inputs, linearised)
    };
    let map_loss = objective.value(theta)?;
    // The data term alone: the same backend and loss with λ = 0.
    let data_term = run.backend.objective(spec, train, Loss::gaussian(sigma)?, 0.0)?;
    let map_data_loss = data_term.value(theta)?;
    let per_sample = records
        .into_iter()
        .map(|r| Ok(SampleReport { final_data_loss: data_term.value(&r.theta)?, record: r }))
        .collect::<Result<Vec<_>, CliError>>()?;
    let (lo, hi) = split_range(split);
    let margin = 0.25 * (hi - lo).max(1e-9);
    let g = 201;
    let grid: Vec<f64> = if train.input_dim() == 1 {
        (0..g).map(|i| lo - margin + (hi - lo + 2.0 * margin) * i as f64 / (g - 1) as f64).collect()
    } else {
        Vec::new()
    };
    let grid_preds = if grid.is_empty() { Vec::new() } else { predict(&grid)? };
    let train_preds = predict(train.inputs())?;
    let gap_preds = if split.held_out.is_empty() { Vec::new() } else { predict(split.held_out.inputs())? };
    let map_grid = if grid.is_empty() { Vec::new() } else { predict_map(spec, theta, &grid)? };

    let predictive = Predictive::from_samples(&grid, &grid_preds, s);
    let train_nll = report::mixture_nll(&train_preds, s, run.targets()?, sigma);
    let gap_nll = split
        .held_out
        .regression_targets()
        .filter(|t| !t.is_empty())
        .map(|t| report::mixture_nll(&gap_preds, s, t, sigma));
    let train_std = report::mean_std(&train_preds, s);
    let gap_std = if gap_preds.is_empty() { None } else { Some(report::mean_std(&gap_preds, s)) };

    std::fs::create_dir_all(&args.out).map_err(|e| CliError::Io { path: args.out.clone(), source: e })?;
    report::write_atomic(&args.out.join("samples.npy"), &geodyn_nn::npy::write_npy(&[s, k], &thetas)?)?;
    report::write_atomic(&args.out.join("map.npy"), &geodyn_nn::npy::write_npy(&[k], theta)?)?;
    let flat_v: Vec<f64> = velocities.iter().flatten().copied().collect();
    report::write_atomic(
        &args.out.join("velocities.npy"),
        &geodyn_nn::npy::write_npy(&[velocities.len(), k], &flat_v)?,
    )?;
    let summary = Summary {
        sampler: run.sampler_name.clone(),
        backend: run.backend.name().to_string(),
        config: run.config.clone(),
        samples: s,
        seed: args.seed,
        threads: args.threads,
        arch: args.arch.clone(),
        num_params: k,
        data: run.data_source.clone(),
        train_points: train.len(),
        held_out_points: split.held_out.len(),
        precision: args.precision,
        velocity_scale: args.velocity_scale,
        velocities_from: args.velocities.as_ref().map(|p| p.display().to_string()),
        model_from: args.model.as_ref().map(|p| p.display().to_string()),
        training_epochs: map.training,
        map_grad_norm: laplace.map_grad_norm,
        map_search: map.map_search.clone(),
        prior_precision: map.lambda,
        noise_std: sigma,
        hyperparameters_tuned: args.prior_precision.is_none() || args.noise_std.is_none(),
        log_evidence: laplace.log_evidence,
        map_train_loss: map_loss,
        map_data_loss,
        per_sample,
        predictive,
        train_nll,
        gap_nll,
        mean_std_train: train_std,
        mean_std_gap: gap_std,
        standardization: run.standardization.clone(),
        sampling_wall_time_s: sampling_wall,
        total_wall_time_s: t_start.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&summary).map_err(|e| CliError::Input(e.to_string()))?;
    let summary_path = args.out.join("summary.json");
    report::write_atomic(&summary_path, json.as_bytes())?;
    if !grid.is_empty() {
        let svg = crate::svg::function_space(split, &grid, &map_grid, &grid_preds, s, &summary);
        report::write_atomic(&args.out.join("function_space.svg"), svg.as_bytes())?;
    }
    Ok((summary_path, summary))
}

/// What the Laplace evidence needs from the model at θ*: the spectrum of JᵀJ and the
/// sum of squared residuals (`geodyn_samplers::regression_laplace_at` on the backend's
/// objective with a unit-σ Gaussian likelihood and no prior).
fn laplace_at(
    backend: BackendArg,
    spec: &ModelSpec,
    train: &Dataset,
    theta: &[f64],
) -> Result<(GgnSpectrum, f64), CliError> {
    let probe = backend.objective(spec, train, Loss::gaussian(1.0)?, 0.0)?;
    let y = train.regression_targets().ok_or_else(|| CliError::Input("regression targets expected".into()))?;
    Ok(regression_laplace_at(&probe, theta, y)?)
}

/// One finished sample on disk.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSample {
    record: SampleRecord,
    theta: Vec<f64>,
}

fn load_data(args: &SampleArgs) -> Result<(Split, String), CliError> {
    match &args.data {
        None => Ok((
            snelson_like(SNELSON_LIKE_SEED),
            format!("embedded snelson-like (seed {SNELSON_LIKE_SEED}), gap 1.5 <= x <= 3 held out"),
        )),
        Some(path) => {
            let mut spec = CsvSpec::regression(&args.target);
            if !args.inputs.is_empty() {
                let names: Vec<&str> = args.inputs.iter().map(String::as_str).collect();
                spec = spec.with_inputs(&names);
            }
            if let Some(h) = &args.holdout {
                spec = spec.with_holdout(h);
            }
            let split = spec.load(path)?;
            if split.train.is_empty() {
                return Err(CliError::Input(format!("{}: no training rows", path.display())));
            }
            Ok((split, path.display().to_string()))
        }
    }
}

/// Standardises inputs and targets of both parts of `split` with the training rows'
/// means and scales (`--standardize`).
fn standardize(split: &mut Split, args: &SampleArgs) -> Result<report::Standardization, CliError> {
    if args.model.is_some() {
        return Err(CliError::Input(
            "--standardize cannot be combined with --model: the network was trained on unstandardised data".into(),
        ));
    }
    let sx = split.train.input_standardizer()?;
    let sy = split.train.target_standardizer()?;
    for part in [&mut split.train, &mut split.held_out] {
        if !part.is_empty() {
            part.standardize_inputs(&sx)?;
            part.standardize_targets(&sy)?;
        }
    }
    Ok(report::Standardization {
        input_mean: sx.mean,
        input_scale: sx.scale,
        target_mean: sy.mean,
        target_scale: sy.scale,
    })
}

/// The input range covered by training and held-out points (1-D inputs).
fn split_range(split: &Split) -> (f64, f64) {
    let all = split.train.inputs().iter().chain(split.held_out.inputs());
    all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)))
}

fn predict_map(spec: &ModelSpec, theta: &[f64], inputs: &[f64]) -> Result<Vec<f64>, CliError> {
    let m = inputs.len() / spec.input_dim();
    let mut out = vec![0.0; m];
    spec.predict(theta, inputs, &mut out)?;
    Ok(out)
}

/// Predictions [S, M] of every sample at `inputs` (row-major [M, d]); the linearised
/// Laplace predictive is f*(x) + J(x) v.
fn predict_samples(
    backend: BackendArg,
    spec: &ModelSpec,
    theta_map: &[f64],
    thetas: &[f64],
    velocities: &[Vec<f64>],
    inputs: &[f64],
    linearised: bool,
) -> Result<Vec<f64>, CliError> {
    let m = inputs.len() / spec.input_dim();
    let s = thetas.len() / spec.num_params();
    let mut out = vec![0.0; s * m];
    if linearised {
        let data = Dataset::regression(inputs.to_vec(), spec.input_dim(), vec![0.0; m], 1)?;
        let lin = backend.objective(spec, &data, Loss::gaussian(1.0)?, 0.0)?;
        let mut f0 = vec![0.0; m];
        lin.outputs(theta_map, &mut f0)?;
        for (i, v) in velocities.iter().enumerate() {
            let row = &mut out[i * m..(i + 1) * m];
            lin.jvp(theta_map, v, row)?;
            for (r, f) in row.iter_mut().zip(&f0) {
                *r += f;
            }
        }
    } else {
        spec.predict(thetas, inputs, &mut out)?;
    }
    Ok(out)
}

/// Deletes the per-sample files (`sample-NNNNN.json`) an earlier run left in `dir`; a
/// missing directory is fine, other files are left alone.
fn remove_stored_samples(dir: &std::path::Path) -> Result<(), CliError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CliError::Io { path: dir.to_path_buf(), source: e }),
    };
    for entry in entries {
        let entry = entry.map_err(|e| CliError::Io { path: dir.to_path_buf(), source: e })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("sample-") && name.ends_with(".json") {
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|e| CliError::Io { path, source: e })?;
        }
    }
    Ok(())
}
