//! The `integrate` property: [`geodyn_core::integrate()`] of small decoded systems, with
//! two synthetic objectives (a hand-written polynomial and a dual-number function).

use geodyn_core::error::{check_dim, check_finite, finite};
use geodyn_core::integrate::loss_graph_rattle::integrate_particle;
use geodyn_core::{
    Constant, EnergyMonitor, Euclidean, IntegrateOptions, LossGraph, Mechanics, Method, Objective, SecondOrderSystem,
    SpeedDependent, StopReason, integrate,
};
use geodyn_dual::{DualNum, DualObjective, ScalarFn};

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
    let result = integrate(sys, x0, v0, opts);
    // The typed entry point gives the runtime-selected method's result, bit for bit
    // (compared as text: an error may carry a NaN).
    if matches!(opts.method, Method::LossGraphRattle)
        && let Some(particle) = sys.as_loss_graph_particle()
    {
        let typed = integrate_particle(&particle, x0, v0, opts);
        assert_eq!(format!("{typed:?}"), format!("{result:?}"), "integrate_particle and integrate differ");
    }
    let Ok(sol) = result else { return };
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
        StopReason::StopFunction => panic!("a second-order run has no stop function"),
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
///    hand-written quadratic + quartic, or a dual-number [`ScalarFn`]), method (Tsit5
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
