//! Fuzz properties: plain functions `check_*(data: &[u8])` that must never panic, abort
//! or hang on any input (they may, and mostly do, end in a typed error).
//!
//! They are shared by every harness, so one property runs the same way everywhere:
//!
//! - the libFuzzer targets in `fuzz/fuzz_targets/*.rs` (`cargo xtask fuzz`), each a
//!   one-line call of the matching check;
//! - the corpus replay test `crates/geodyn-cli/tests/fuzz_corpus.rs` (part of
//!   `cargo xtask test`), which replays `fuzz/corpus/<target>/` and
//!   `fuzz/artifacts/<target>/` and then runs deterministic mutations of the corpus
//!   ([`run_generated`]) for a time budget — also the stable fallback of
//!   `cargo xtask fuzz` when `cargo fuzz` is unavailable.
//!
//! The targets ([`TARGETS`]):
//!
//! | target        | property                                                           |
//! |---------------|--------------------------------------------------------------------|
//! | `safetensors` | `--arch` text → [`ModelSpec`]; safetensors bytes → `load_safetensors`; loaded weights round-trip |
//! | `csv`         | [`Table::parse`] + [`CsvSpec`] `apply` (regression, classification, Snelson) + standardisation |
//! | `npy`         | [`npy::read_npy`]; an accepted array round-trips through `write_npy` |
//! | `cli`         | argv (NUL/newline-separated) → [`Cli::try_parse_from`](clap::Parser::try_parse_from); a parsed `--arch` → [`ModelSpec`] |
//! | `integrate`   | [`geodyn_core::integrate()`] of small DiMS / geodesic / Euclidean systems from decoded states, parameters and options |
//!
//! Beyond "no panic", the checks assert the documented contracts of successful
//! results (lengths, finiteness, round trips), so a wrong `Ok` is a failure too.

use crate::Cli;
use clap::Parser;
use geodyn_core::error::{check_dim, check_finite, finite};
use geodyn_core::{
    Constant, EnergyMonitor, Euclidean, IntegrateOptions, LossGraph, Mechanics, Method, Objective, SecondOrderSystem,
    SpeedDependent, StopReason, integrate,
};
use geodyn_dual::{DualNum, DualObjective, ScalarFn};
use geodyn_nn::data::{CsvSpec, Table};
use geodyn_nn::weights::{FloatDtype, load_safetensors, load_safetensors_prefixed, save_safetensors};
use geodyn_nn::{ModelSpec, npy};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A fuzz property: must return normally for every input.
pub type Check = fn(&[u8]);

/// Every fuzz target: its name (the `fuzz/fuzz_targets/<name>.rs` file and the
/// `fuzz/corpus/<name>/` directory) and its property.
pub const TARGETS: &[(&str, Check)] = &[
    ("safetensors", check_safetensors),
    ("csv", check_csv),
    ("npy", check_npy),
    ("cli", check_cli),
    ("integrate", check_integrate),
];

/// The property of the target `name`, if there is one.
pub fn target(name: &str) -> Option<Check> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// Parses a `--arch` string as the CLI does (absurd widths must be a clean error:
/// corpus safetensors/regression-arch-width-overflow).
fn parse_arch(arch: &str) -> Option<Result<ModelSpec, geodyn_nn::NnError>> {
    let parsed = arch.parse::<ModelSpec>();
    if let Ok(spec) = &parsed {
        // A parsed spec is consistent: its string form parses back to itself.
        let again: ModelSpec = spec.to_string().parse().expect("a ModelSpec's Display parses back");
        assert_eq!(&again, spec, "ModelSpec Display/FromStr round trip of {arch:?}");
        assert_eq!(spec.layers().first().map(|l| l.input), Some(spec.input_dim()));
        let sum: usize = spec.layers().iter().map(|l| l.num_params()).sum();
        assert_eq!(sum, spec.num_params());
    }
    Some(parsed)
}

/// `--arch` + safetensors loading. The input is `ARCH\nPAYLOAD` (without a newline:
/// arch `2-3-1:tanh` and the whole input as payload). The arch is parsed as a
/// [`ModelSpec`]; the payload is loaded with and without a `model.` prefix. Loaded
/// weights must have the spec's length, be finite and round-trip through
/// `save_safetensors` (F64 exactly, F32 up to f32 rounding).
pub fn check_safetensors(data: &[u8]) {
    let (arch, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("2-3-1:tanh".to_string(), data),
    };
    let Some(Ok(spec)) = parse_arch(&arch) else { return };
    // A huge spec with a small file must be refused before allocating (corpus:
    // safetensors/regression-huge-arch-alloc).
    for prefix in ["", "model."] {
        let loaded = if prefix.is_empty() {
            load_safetensors(&spec, payload)
        } else {
            load_safetensors_prefixed(&spec, payload, prefix)
        };
        let Ok(theta) = loaded else { continue };
        assert_eq!(theta.len(), spec.num_params(), "loaded parameter count");
        assert!(theta.iter().all(|t| t.is_finite()), "loaded weights must be finite");
        if prefix.is_empty() {
            let bytes = save_safetensors(&spec, &theta, FloatDtype::F64).expect("saving loaded weights");
            let back = load_safetensors(&spec, &bytes).expect("reloading saved weights");
            assert!(same_bits(&back, &theta), "F64 safetensors round trip");
            // F32: loaded values may exceed f32's range, and then saving gives ±inf, which
            // loading rejects; within range the round trip is f32 rounding.
            if theta.iter().all(|t| t.abs() <= f32::MAX as f64) {
                let bytes = save_safetensors(&spec, &theta, FloatDtype::F32).expect("saving F32");
                let back = load_safetensors(&spec, &bytes).expect("reloading F32 weights");
                assert!(back.iter().zip(&theta).all(|(b, t)| *b == (*t as f32) as f64), "F32 round trip");
            }
        }
    }
}

/// CSV loading: [`Table::parse`] of the (lossily decoded) text, then [`CsvSpec::apply`]
/// for regression on `y`, classification on `y`, the Snelson spec and an explicit
/// input list; successful splits are checked for consistent sizes and standardised.
pub fn check_csv(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(table) = Table::parse(&text, "fuzz") else { return };
    let ncol = table.columns.len();
    assert!(ncol >= 1, "a parsed table has a header");
    assert_eq!(table.data.len(), table.rows() * ncol, "table data is rows × columns");
    let first = table.columns[0].clone();
    let specs = [
        CsvSpec::regression("y"),
        CsvSpec::classification("y"),
        CsvSpec::snelson(),
        CsvSpec::regression(&first).with_inputs(&[first.as_str()]),
    ];
    for spec in specs {
        let Ok(split) = spec.apply(&table) else { continue };
        assert_eq!(split.train.len() + split.held_out.len(), table.rows(), "split keeps every row");
        for set in [&split.train, &split.held_out] {
            assert_eq!(set.inputs().len(), set.len() * set.input_dim());
            assert!(set.inputs().iter().all(|v| v.is_finite()));
            if !set.is_empty() {
                let mut set = set.clone();
                if let Ok(s) = set.input_standardizer() {
                    let _ = set.standardize_inputs(&s);
                }
                if let Ok(s) = set.target_standardizer() {
                    let _ = set.standardize_targets(&s);
                }
            }
        }
    }
}

/// `.npy` loading: [`npy::read_npy`]; an accepted array has `product(shape)` values
/// and round-trips bit-exactly through [`npy::write_npy`].
pub fn check_npy(data: &[u8]) {
    let Ok(arr) = npy::read_npy(data) else { return };
    let count = arr.shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    assert_eq!(count, Some(arr.data.len()), "npy data length is the product of the shape");
    let bytes = npy::write_npy(&arr.shape, &arr.data).expect("writing an array that was read");
    let back = npy::read_npy(&bytes).expect("reading back a written array");
    assert_eq!(back.shape, arr.shape, "npy shape round trip");
    assert!(same_bits(&back.data, &arr.data), "npy data round trip");
}

/// Command-line parsing: the input split on NUL and newline bytes is the argv after
/// the program name, parsed by `Cli::try_parse_from` (errors, `--help` and `--version`
/// included, are fine). A parsed `sample` command's `--arch` goes through
/// [`ModelSpec`] parsing, as the pipeline's first step does.
pub fn check_cli(data: &[u8]) {
    let mut argv: Vec<std::ffi::OsString> = vec!["geodyn".into()];
    if !data.is_empty() {
        argv.extend(data.split(|&b| b == 0 || b == b'\n').map(os_string));
    }
    if let Ok(cli) = Cli::try_parse_from(argv)
        && let crate::Command::Sample(args) = cli.command
    {
        let _ = parse_arch(&args.arch);
    }
}

#[cfg(unix)]
fn os_string(b: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(b.to_vec())
}

#[cfg(not(unix))]
fn os_string(b: &[u8]) -> std::ffi::OsString {
    String::from_utf8_lossy(b).into_owned().into()
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

// ---------------------------------------------------------------------------------
// The integrator
// ---------------------------------------------------------------------------------

/// The step limit of [`check_integrate`]'s runs.
pub const FUZZ_MAX_STEPS: usize = 20_000;

/// Reads fuzz bytes as numbers; past the end every read gives zeros.
struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Decoder<'_> {
    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn unit(&mut self) -> f64 {
        u16::from_le_bytes([self.byte(), self.byte()]) as f64 / u16::MAX as f64
    }
    /// Uniform in [lo, hi].
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    /// Log-uniform in [lo, hi] (both > 0).
    fn log_range(&mut self, lo: f64, hi: f64) -> f64 {
        (lo.ln() + (hi.ln() - lo.ln()) * self.unit()).exp().clamp(lo, hi)
    }
    /// Any f64 bit pattern: NaN, infinities, subnormals, 1e308, …
    fn raw(&mut self) -> f64 {
        f64::from_le_bytes(std::array::from_fn(|_| self.byte()))
    }
    /// `range(lo, hi)`, or a raw f64 when `raw` is set.
    fn value(&mut self, raw: bool, lo: f64, hi: f64) -> f64 {
        if raw { self.raw() } else { self.range(lo, hi) }
    }
}

/// f(x) = Σ ½aᵢxᵢ² + ¼bᵢxᵢ⁴ + c Σ xᵢxᵢ₊₁, with hand-written gradient and Hv; b < 0 makes
/// it unbounded below (trajectories may blow up — a typed error, not a panic).
#[derive(Debug, Clone)]
struct Poly {
    a: Vec<f64>,
    b: Vec<f64>,
    c: f64,
}

impl Objective for Poly {
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn value(&self, x: &[f64]) -> geodyn_core::Result<f64> {
        check_dim("x", self.dim(), x.len())?;
        let mut f = 0.0;
        for i in 0..x.len() {
            f += 0.5 * self.a[i] * x[i] * x[i] + 0.25 * self.b[i] * x[i].powi(4);
            if i + 1 < x.len() {
                f += self.c * x[i] * x[i + 1];
            }
        }
        finite("poly value", f)
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> geodyn_core::Result<f64> {
        check_dim("g", self.dim(), g.len())?;
        let f = self.value(x)?;
        let n = x.len();
        for i in 0..n {
            let left = if i > 0 { x[i - 1] } else { 0.0 };
            let right = if i + 1 < n { x[i + 1] } else { 0.0 };
            g[i] = self.a[i] * x[i] + self.b[i] * x[i].powi(3) + self.c * (left + right);
        }
        check_finite("poly gradient", g)?;
        Ok(f)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> geodyn_core::Result<()> {
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        check_dim("hv", n, hv.len())?;
        for i in 0..n {
            let left = if i > 0 { v[i - 1] } else { 0.0 };
            let right = if i + 1 < n { v[i + 1] } else { 0.0 };
            hv[i] = (self.a[i] + 3.0 * self.b[i] * x[i] * x[i]) * v[i] + self.c * (left + right);
        }
        check_finite("poly hvp", hv)
    }
}

/// f(x) = Σ ½aᵢxᵢ² + bᵢ ln(1 + xᵢ²) + eᵢ tanh(xᵢ) + c Σ sin(xᵢxᵢ₊₁), through dual numbers.
#[derive(Debug, Clone)]
struct Smooth {
    a: Vec<f64>,
    b: Vec<f64>,
    e: Vec<f64>,
    c: f64,
}

impl ScalarFn for Smooth {
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        let mut f = D::from(0.0);
        for i in 0..x.len() {
            let xi = x[i];
            f += xi * xi * (0.5 * self.a[i]) + (xi * xi + 1.0).ln() * self.b[i] + xi.tanh() * self.e[i];
            if i + 1 < x.len() {
                f += (xi * x[i + 1]).sin() * self.c;
            }
        }
        f
    }
}

/// Runs one decoded system under `opts` and checks the contract of a successful result.
fn run_system<S: SecondOrderSystem>(sys: &S, x0: &[f64], v0: &[f64], opts: &IntegrateOptions) {
    let Ok(sol) = integrate(sys, x0, v0, opts) else { return };
    let n = x0.len();
    assert_eq!((sol.x.len(), sol.v.len()), (n, n), "solution dimensions");
    assert!(sol.x.iter().chain(&sol.v).all(|v| v.is_finite()), "a successful solution is finite");
    // A run that reaches its final time ends exactly at t1 (corpus:
    // integrate/regression-final-time-overshoots-t1).
    assert!(
        sol.t.is_finite() && sol.t >= opts.t0 && sol.t <= opts.t1,
        "solution time {} outside [{}, {}]",
        sol.t,
        opts.t0,
        opts.t1
    );
    match sol.stop {
        StopReason::FinalTime => assert_eq!(sol.t, opts.t1, "FinalTime stops at t1"),
        StopReason::KineticBelow { threshold } => assert_eq!(Some(threshold), opts.stop_below_kinetic),
    }
    assert!(sol.stats.accepted_steps <= opts.max_steps, "step limit exceeded");
    assert!(sol.outputs.len() <= opts.output_times.len());
    for (p, &t) in sol.outputs.iter().zip(&opts.output_times) {
        assert_eq!(p.t, t, "outputs at the requested times");
        assert_eq!((p.x.len(), p.v.len()), (n, n));
    }
    if matches!(sol.stop, StopReason::FinalTime) {
        // Every requested output is reported when the run reaches t1 (corpus:
        // integrate/regression-output-at-t1-dropped).
        assert!(
            sol.outputs.len() == opts.output_times.len(),
            "every output time is reported when the run reaches t1 = {:e} (ended at t = {:e}, steps {}; requested {:?})",
            opts.t1,
            sol.t,
            sol.stats.accepted_steps,
            opts.output_times
        );
    }
    if let Some(tr) = &sol.trajectory {
        assert!(!tr.is_empty() && tr[0].t == opts.t0, "trajectory starts at t0");
        assert!(tr.windows(2).all(|w| w[0].t <= w[1].t), "trajectory times are non-decreasing");
    }
}

/// The integrator on small systems. The input decodes (missing bytes read as zero):
///
/// 1. a flags byte: system (DiMS on the loss graph with η0·√T friction; the loss-graph
///    geodesic; Euclidean with constant friction and an external potential; the loss
///    graph with constant friction and the intrinsic potential), objective (a
///    hand-written quadratic + quartic, or a dual-number [`ScalarFn`]), method (Tsit45
///    or energy-projected), a kinetic stop event, output times, a trajectory, and "raw"
///    mode; a second byte: the energy monitor and, for energy-projected runs, the method
///    (Tsitouras or Dormand–Prince pair, or RATTLE on the loss graph, which returns a
///    typed error on the Euclidean system);
/// 2. the dimension 1..=4, the objective's coefficients, x0, v0, κ, L*, η0, atol, rtol,
///    t1, ε, output times.
///
/// Normally values are clamped to sane ranges (|x0|, |v0| ≤ 10, κ ∈ [0, 10], η0 ∈
/// [0, 5], tolerances in [1e-10, 1e-2], t1 ∈ (0, 10]); in raw mode x0, v0, κ, η0,
/// tolerances and t1 are arbitrary f64 bit patterns (NaN, ±inf, 1e308, negative), which
/// must give typed errors. Every run has `max_steps` = [`FUZZ_MAX_STEPS`].
pub fn check_integrate(data: &[u8]) {
    let mut d = Decoder { data, pos: 0 };
    let flags = d.byte();
    let flags2 = d.byte();
    let system = flags & 3;
    let dual = flags & 4 != 0;
    let projected = flags & 8 != 0;
    let stop_event = flags & 16 != 0;
    let with_outputs = flags & 32 != 0;
    let trajectory = flags & 64 != 0;
    let raw = flags & 128 != 0;
    let monitor = match flags2 % 3 {
        0 => EnergyMonitor::WhenFree,
        1 => EnergyMonitor::Always,
        _ => EnergyMonitor::Off,
    };
    let n = 1 + (d.byte() % 4) as usize;
    let a: Vec<f64> = (0..n).map(|_| d.range(-5.0, 10.0)).collect();
    let b: Vec<f64> = (0..n).map(|_| d.range(-1.0, 2.0)).collect();
    let e: Vec<f64> = (0..n).map(|_| d.range(-3.0, 3.0)).collect();
    let c = d.range(-2.0, 2.0);
    let x0: Vec<f64> = (0..n).map(|_| d.value(raw, -10.0, 10.0)).collect();
    let v0: Vec<f64> = (0..n).map(|_| d.value(raw, -10.0, 10.0)).collect();
    let kappa = d.value(raw, 0.0, 10.0);
    let l_star = d.range(-10.0, 10.0);
    let eta = d.value(raw, 0.0, 5.0);
    let (atol, rtol, t1) = if raw {
        (d.raw(), d.raw(), d.raw())
    } else {
        (d.log_range(1e-10, 1e-2), d.log_range(1e-10, 1e-2), d.log_range(1e-6, 10.0))
    };
    let mut opts = IntegrateOptions::new(t1)
        .tolerances(atol, rtol)
        .max_steps(FUZZ_MAX_STEPS)
        .method(match (projected, (flags2 / 3) % 3) {
            (false, _) => Method::Tsit5,
            (true, 0) => Method::ProjectedTsit5,
            (true, 1) => Method::ProjectedDopri5,
            (true, _) => Method::LossGraphRattle,
        })
        .energy_monitor(monitor);
    if stop_event {
        opts = opts.stop_below_kinetic(d.log_range(1e-8, 1.0));
    }
    if with_outputs && t1.is_finite() && t1 > 0.0 {
        let mut ts: Vec<f64> = (0..d.byte() % 5).map(|_| t1 * d.unit()).collect();
        ts.sort_by(f64::total_cmp);
        opts = opts.output_times(ts);
    }
    if trajectory {
        opts = opts.with_trajectory();
    }
    let poly = Poly { a: a.clone(), b: b.clone(), c };
    let smooth = DualObjective::new(Smooth { a, b, e, c });
    macro_rules! with_objective {
        ($obj:ident => $body:expr) => {
            if dual {
                let $obj = &smooth;
                $body
            } else {
                let $obj = &poly;
                $body
            }
        };
    }
    with_objective!(obj => match system {
        0 => {
            if let Ok(sys) = Mechanics::dims(obj, kappa, l_star, SpeedDependent(eta)) {
                run_system(&sys, &x0, &v0, &opts);
            }
        }
        1 => run_system(&Mechanics::geodesic(LossGraph::new(obj)), &x0, &v0, &opts),
        2 => {
            if let Ok(sys) = Mechanics::new(Euclidean::new(n), Constant(eta)).with_potential(obj, kappa, l_star) {
                run_system(&sys, &x0, &v0, &opts);
            }
        }
        _ => {
            if let Ok(sys) = Mechanics::new(LossGraph::new(obj), Constant(eta)).with_intrinsic_potential(kappa, l_star) {
                run_system(&sys, &x0, &v0, &opts);
            }
        }
    });
}

// ---------------------------------------------------------------------------------
// A stable harness: corpus replay and deterministic mutation
// ---------------------------------------------------------------------------------

/// xorshift64*: a small deterministic generator for input mutations.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// Tokens the mutator inserts: separators, numbers and keywords of the formats under test.
#[rustfmt::skip]
const TOKENS: &[&[u8]] = &[
    b"\n", b"\0", b",", b"-", b":", b"\"", b"'", b"(", b")", b"{", b"}", b"0", b"1", b"-1",
    b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"1e-320", b"18446744073709551615",
    b"4294967296", b"65536", b"gelu", b"tanh", b"relu", b"silu", b"identity", b"y", b"x",
    b"in_gap_1p5_3", b"sample", b"list", b"dims", b"rla", b"laplace", b"--arch", b"--t1",
    b"--atol", b"--seed", b"--samples", b"--help", b"--version", b"--precision", b"hessian",
    b"--integrator", b"--resume", b"'descr'", b"'<f8'", b"'>f4'", b"'fortran_order'", b"True",
    b"False", b"'shape'", b"\x93NUMPY", b"\"dtype\"", b"\"F64\"", b"\"F32\"", b"\"I64\"",
    b"\"shape\"", b"\"data_offsets\"", b"\"__metadata__\"", b"0.weight", b"0.bias", b"2.weight",
    b"2.bias",
];

/// Largest generated input.
const MAX_LEN: usize = 1 << 14;

/// Writes into `out` a mutation of a random corpus entry (or of nothing): one to four
/// byte flips, overwrites, insertions, deletions, duplications, token insertions,
/// little-endian integer tweaks or splices with another entry.
pub fn mutate(rng: &mut XorShift, corpus: &[Vec<u8>], out: &mut Vec<u8>) {
    out.clear();
    if !corpus.is_empty() && rng.below(16) != 0 {
        out.extend_from_slice(&corpus[rng.below(corpus.len())]);
    }
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next_u64() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                out.insert(i, rng.next_u64() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let k = 1 + rng.below((len - i).min(16));
                out.drain(i..i + k);
            }
            4 if len > 0 => {
                let i = rng.below(len);
                let k = 1 + rng.below((len - i).min(64));
                let chunk = out[i..i + k].to_vec();
                let j = rng.below(len + 1);
                out.splice(j..j, chunk);
            }
            5 | 6 => {
                let tok = TOKENS[rng.below(TOKENS.len())];
                let i = rng.below(len + 1);
                out.splice(i..i, tok.iter().copied());
            }
            7 if len >= 8 => {
                // Treat 8 bytes as a little-endian integer and nudge or replace it
                // (safetensors header lengths, offsets, raw f64 bit patterns).
                let i = rng.below(len - 7);
                let mut w = [0u8; 8];
                w.copy_from_slice(&out[i..i + 8]);
                let v = u64::from_le_bytes(w);
                let v = match rng.below(4) {
                    0 => v.wrapping_add(1 + rng.below(16) as u64),
                    1 => v.wrapping_sub(1 + rng.below(16) as u64),
                    2 => [
                        0,
                        u64::MAX,
                        u32::MAX as u64,
                        1 << 40,
                        f64::NAN.to_bits(),
                        f64::INFINITY.to_bits(),
                        1e300f64.to_bits(),
                    ][rng.below(7)],
                    _ => rng.next_u64(),
                };
                out[i..i + 8].copy_from_slice(&v.to_le_bytes());
            }
            8 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let i = rng.below(len + 1);
                let j = rng.below(other.len() + 1);
                out.truncate(i);
                out.extend_from_slice(&other[j..]);
            }
            _ => {
                let n = 1 + rng.below(8);
                out.extend((0..n).map(|_| rng.next_u64() as u8));
            }
        }
    }
    out.truncate(MAX_LEN);
}

/// The files of `dirs` (missing directories are skipped), sorted by path.
pub fn read_inputs(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b))).collect()
}

/// The outcome of [`run_generated`].
#[derive(Debug, Clone, Default)]
pub struct GeneratedRun {
    /// Inputs executed.
    pub executions: usize,
    /// The slowest single execution.
    pub slowest: Duration,
    /// A panicking input, if one was found (the run stops at the first).
    pub crash: Option<(Vec<u8>, String)>,
}

/// Runs `check` on deterministic mutations of `corpus` (seeded by `seed`) until `budget`
/// has passed or an input panics. Panics are caught (the panic message is still printed
/// by the hook) and returned with the input.
pub fn run_generated(check: Check, corpus: &[Vec<u8>], seed: u64, budget: Duration) -> GeneratedRun {
    let mut rng = XorShift::new(seed);
    let mut input = Vec::new();
    let mut run = GeneratedRun::default();
    let start = Instant::now();
    while start.elapsed() < budget {
        mutate(&mut rng, corpus, &mut input);
        let t = Instant::now();
        let res = std::panic::catch_unwind(|| check(&input));
        run.slowest = run.slowest.max(t.elapsed());
        run.executions += 1;
        if let Err(p) = res {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            run.crash = Some((input, msg));
            break;
        }
    }
    run
}

/// Writes `input` as `dir/crash-<fnv1a hex>` (as libFuzzer names its artifacts) and
/// returns the path.
pub fn save_artifact(dir: &Path, input: &[u8]) -> std::io::Result<PathBuf> {
    let h = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("crash-{h:016x}"));
    std::fs::write(&path, input)?;
    Ok(path)
}

// ---------------------------------------------------------------------------------
// Seed inputs
// ---------------------------------------------------------------------------------

/// The first lines of the Snelson training CSV of the DiMS/RLA experiments.
const SNELSON_HEAD: &str = "x,y,in_gap_1p5_3
5.7007757,-0.4536778,0
1.3868311,-1.7468796,0
3.6410555,0.11564607,0
2.9158948,0.17028679,1
5.3477938,-1.0809944,0
4.572581,0.24939631,0
2.738806,0.62081363,1
0.11102186,-0.38931265,0
";

/// A safetensors file written by hand: an 8-byte little-endian header length, the JSON
/// header, then the data.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.npy` file written by hand (format 1.0, header padded to 64 bytes).
fn raw_npy(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut h = header.to_string();
    let total = (prefix + h.len() + 1).div_ceil(64) * 64;
    h.push_str(&" ".repeat(total - prefix - h.len() - 1));
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Seed inputs of the target `name`, valid and invalid, as (file name, bytes): the
/// committed `fuzz/corpus/<name>/seed-*` files are these (rewrite them with
/// `GEODYN_FUZZ_WRITE_SEEDS=1 cargo test -p geodyn-cli --test fuzz_corpus`).
pub fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |file: &str, bytes: Vec<u8>| out.push((format!("seed-{file}"), bytes));
    match name {
        "safetensors" => {
            let with_arch = |arch: &str, payload: &[u8]| {
                let mut v = arch.as_bytes().to_vec();
                v.push(b'\n');
                v.extend_from_slice(payload);
                v
            };
            let small: ModelSpec = "2-3-1:tanh".parse().expect("spec");
            let theta: Vec<f64> = (0..small.num_params()).map(|i| (i as f64 - 6.0) / 7.0).collect();
            let f64_file = save_safetensors(&small, &theta, FloatDtype::F64).expect("save");
            let f32_file = save_safetensors(&small, &theta, FloatDtype::F32).expect("save");
            let gelu: ModelSpec = "1-4-4-1:gelu".parse().expect("spec");
            let theta_g: Vec<f64> = (0..gelu.num_params()).map(|i| (i as f64).sin()).collect();
            let gelu_file = save_safetensors(&gelu, &theta_g, FloatDtype::F64).expect("save");
            add("f64-2-3-1-tanh", with_arch("2-3-1:tanh", &f64_file));
            add("f32-2-3-1-tanh", with_arch("2-3-1:tanh", &f32_file));
            add("f64-1-4-4-1-gelu", with_arch("1-4-4-1:gelu", &gelu_file));
            add("no-arch-line", f64_file.clone());
            add("shape-mismatch", with_arch("1-4-4-1:gelu", &f64_file));
            add("truncated", with_arch("2-3-1:tanh", &f64_file[..f64_file.len() / 2]));
            add("empty-header", with_arch("2-3-1:tanh", &raw_safetensors("{}", &[])));
            add(
                "i64-dtype",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"0.weight":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]},"0.bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#,
                        &[0; 16],
                    ),
                ),
            );
            let mut nan = f64::NAN.to_le_bytes().to_vec();
            nan.extend_from_slice(&1.0f64.to_le_bytes());
            add(
                "nan-weight",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"__metadata__":{"format":"pt"},"0.weight":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]},"0.bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#,
                        &nan,
                    ),
                ),
            );
            add(
                "extra-tensor",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"9.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                        &[0; 12],
                    ),
                ),
            );
            add("bad-arch", with_arch("1-x-1:gelu", &f64_file));
            add("missing-activation", with_arch("2-3-1", &f64_file));
            add("huge-header-len", with_arch("1-1", &u64::MAX.to_le_bytes()));
        }
        "csv" => {
            add("snelson-head", SNELSON_HEAD.as_bytes().to_vec());
            add("xy", b"x,y\n1,2\n3,4\n-0.5,1e-3\n".to_vec());
            add("quoted-crlf-comments", b"# a comment\r\n\"x\" , \"y\"\r\n\r\n 1 , 2 \r\n# mid\r\n3,4\r\n".to_vec());
            add("classes", b"x1,x2,y\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,2\n".to_vec());
            add("bad-label", b"x,y\n0.1,-1\n0.2,0.5\n".to_vec());
            add("nan-input", b"x,y,in_gap_1p5_3\nnan,1,0\n2,inf,1\n".to_vec());
            add("ragged", b"x,y\n1,2,3\n4\n".to_vec());
            add("no-inputs", b"y\n1\n2\n".to_vec());
            add("header-only", b"x,y,in_gap_1p5_3\n".to_vec());
            add("empty-column-name", b"x,,y\n1,2,3\n".to_vec());
            add("duplicate-columns", b"y,y,x\n1,2,3\n".to_vec());
        }
        "npy" => {
            let w = |shape: &[usize], data: &[f64]| npy::write_npy(shape, data).expect("write_npy");
            add("f8-2x3", w(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
            add("f8-vector", w(&[4], &[0.5, -1.0, f64::MAX, f64::MIN_POSITIVE]));
            add("f8-scalar", w(&[], &[42.0]));
            add("f8-empty", w(&[0, 3], &[]));
            let be: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_be_bytes()).collect();
            add("f4-be-fortran", raw_npy(1, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }", &be));
            let le: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
            add("v2-header", raw_npy(2, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2L,), }", &le));
            add("truncated-data", raw_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", &le));
            add("int-dtype", raw_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", &le));
            add(
                "overflow-shape",
                raw_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }", &[]),
            );
            add("bad-magic", b"\x93NUMPX\x01\x00\x10\x00{}".to_vec());
            add("bad-version", b"\x93NUMPY\x07\x00\x00\x00".to_vec());
        }
        "cli" => {
            let argv: &[(&str, &str)] = &[
                ("list", "list"),
                ("sample-dims", "sample\x00dims"),
                ("sample-dims-t1", "sample\x00dims\x00--t1\x0050"),
                ("sample-rla", "sample\x00rla\x00--arch\x002-8-1:tanh\x00--samples\x004\x00--seed\x007"),
                ("sample-laplace", "sample\x00laplace\x00--precision\x00hessian\x00--linearised\x00--no-progress"),
                ("newline-separated", "sample\ndims\n--kappa\n2.5\n--eta0\n0.3\n--stop-below-kinetic\n1e-4"),
                (
                    "data-options",
                    "sample\x00dims\x00--data\x00train.csv\x00--target\x00y\x00--inputs\x00x1,x2\x00--holdout\x00in_gap_1p5_3",
                ),
                (
                    "model-options",
                    "sample\x00dims\x00--model\x00m.safetensors\x00--velocities\x00v.npy\x00--out\x00out",
                ),
                ("bad-numbers", "sample\x00dims\x00--atol\x00nan\x00--rtol\x00-1\x00--max-steps\x00-5"),
                ("bad-arch", "sample\x00dims\x00--arch\x001-0-1"),
                ("help", "--help"),
                ("sample-help", "sample\x00--help"),
                ("version", "--version"),
                ("unknown", "bogus\x00--flag"),
                ("equals-syntax", "sample\x00dims\x00--arch=1-16-1:silu\x00--samples=0\x00--threads=1"),
            ];
            for (file, a) in argv {
                add(file, a.as_bytes().to_vec());
            }
        }
        "integrate" => {
            // flags: bits 0-1 system, 2 dual objective, 3 energy-projected, 4 stop event,
            // 5 outputs, 6 trajectory, 7 raw values; then the monitor and the pair (the
            // case's index: i % 3 the monitor, i / 3 odd Dormand–Prince) and the rest.
            let cases: &[(&str, u8)] = &[
                ("dims-poly", 0),
                ("geodesic-poly", 1),
                ("euclid-poly", 2),
                ("lossgraph-const-poly", 3),
                ("dims-dual", 4),
                ("geodesic-dual-projected", 1 | 4 | 8),
                ("dims-stop-event", 16),
                ("euclid-outputs-trajectory", 2 | 32 | 64),
                ("dims-projected-stop-outputs", 8 | 16 | 32),
                ("raw-dims", 128),
                ("raw-euclid-dual", 128 | 4 | 2),
                ("dims-projected-dopri5-stop", 8 | 16),
                ("geodesic-projected-tsit5-trajectory", 1 | 8 | 64),
            ];
            for (i, (file, flags)) in cases.iter().enumerate() {
                let mut rng = XorShift::new(i as u64 + 1);
                let mut bytes = vec![*flags, i as u8];
                bytes.extend((0..96).map(|_| rng.next_u64() as u8));
                add(file, bytes);
            }
            add("zeros", vec![0; 64]);
            add("ones", vec![0xff; 64]);
        }
        _ => {}
    }
    out
}
