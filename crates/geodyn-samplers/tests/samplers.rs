//! Laplace posterior, evidence tuning and the sampler plugins.
use geodyn_core::{Objective, Result as CoreResult, dot};
use geodyn_samplers::*;

/// L(θ) = (θ0² + θ1² − 1)² + ½ θ2² + ½ λ|θ|²-free: a ring of minima in (θ0, θ1) times a
/// quadratic in θ2 (hand-derived gradient and Hessian).
struct Ring;
impl Objective for Ring {
    fn dim(&self) -> usize {
        3
    }
    fn value(&self, x: &[f64]) -> CoreResult<f64> {
        let r = x[0] * x[0] + x[1] * x[1] - 1.0;
        Ok(r * r + 0.5 * x[2] * x[2])
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> CoreResult<f64> {
        let r = x[0] * x[0] + x[1] * x[1] - 1.0;
        g[0] = 4.0 * r * x[0];
        g[1] = 4.0 * r * x[1];
        g[2] = x[2];
        self.value(x)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> CoreResult<()> {
        let r = x[0] * x[0] + x[1] * x[1] - 1.0;
        let xv = x[0] * v[0] + x[1] * v[1];
        hv[0] = 4.0 * r * v[0] + 8.0 * x[0] * xv;
        hv[1] = 4.0 * r * v[1] + 8.0 * x[1] * xv;
        hv[2] = v[2];
        Ok(())
    }
}

const MAP: [f64; 3] = [1.0, 0.0, 0.0];

fn posterior() -> LaplacePosterior {
    // exact Hessian at the MAP plus a prior precision 0.5: diag(8, 0, 1) + 0.5 I
    let p = [8.5, 0.0, 0.0, 0.0, 0.5, 0.0, 0.0, 0.0, 1.5];
    LaplacePosterior::from_precision(3, &p).unwrap()
}

/// P⁻¹ from the eigendecomposition inverts P: P (P⁻¹ w) = w.
#[test]
fn covariance_inverts_precision() {
    let p = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
    let post = LaplacePosterior::from_precision(3, &p).unwrap();
    let w = [1.0, -2.0, 0.5];
    let mut c = [0.0; 3];
    post.apply_covariance(&w, &mut c);
    for i in 0..3 {
        let back = dot(&p[3 * i..3 * i + 3], &c);
        assert!((back - w[i]).abs() < 1e-13);
    }
    assert!((post.log_det_precision() - det3(&p).ln()).abs() < 1e-12, "log det P");
}

fn det3(a: &[f64]) -> f64 {
    a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) + a[2] * (a[3] * a[7] - a[4] * a[6])
}

/// Velocities v = U S^{-1/2} z have covariance P⁻¹: the empirical covariance of 40 000
/// draws matches P⁻¹ to a few percent (Monte Carlo error ~ 1/√n).
#[test]
fn velocity_covariance_is_inverse_precision() {
    let p = [4.0, 1.0, 0.5, 1.0, 3.0, 0.2, 0.5, 0.2, 2.0];
    let post = LaplacePosterior::from_precision(3, &p).unwrap();
    let n = 40_000;
    let mut cov = [0.0; 9];
    for i in 0..n {
        let v = initial_velocity(&post, 7, i, 1.0);
        for a in 0..3 {
            for b in 0..3 {
                cov[3 * a + b] += v[a] * v[b] / n as f64;
            }
        }
    }
    for j in 0..3 {
        let mut e = [0.0; 3];
        e[j] = 1.0;
        let mut col = [0.0; 3];
        post.apply_covariance(&e, &mut col);
        for i in 0..3 {
            assert!(
                (cov[3 * i + j] - col[i]).abs() < 0.03 * col[j].abs().max(col[i].abs()).max(0.1),
                "Σ[{i},{j}] = {} vs {}",
                cov[3 * i + j],
                col[i]
            );
        }
    }
}

/// Bayesian linear regression y = Φθ + ε: the Laplace evidence at the exact MAP is the
/// exact evidence log N(y; 0, σ²I + ΦΦᵀ/λ); at fixed θ* the tuner finds a stationary
/// maximum of the Laplace evidence.
#[test]
fn laplace_evidence_is_exact_for_linear_regression() {
    let n = 12;
    let k = 3;
    let xs: Vec<f64> = (0..n).map(|i| -1.0 + 2.0 * i as f64 / (n - 1) as f64).collect();
    let phi: Vec<f64> = xs.iter().flat_map(|&x| [1.0, x, x * x]).collect();
    let y: Vec<f64> =
        xs.iter().enumerate().map(|(i, &x)| 0.3 - 1.2 * x + 0.8 * x * x + 0.1 * ((i * 7 % 5) as f64 - 2.0)).collect();
    let spectrum = GgnSpectrum::from_jacobian(n, k, &phi, &vec![1.0; n]).unwrap();
    for &(lam, sig) in &[(0.5f64, 0.2f64), (2.0, 0.05), (0.1, 1.0)] {
        // exact MAP: (ΦᵀΦ/σ² + λI) θ = Φᵀy/σ²
        let mut a = vec![0.0; k * k];
        let mut b = vec![0.0; k];
        for r in 0..n {
            for i in 0..k {
                b[i] += phi[r * k + i] * y[r] / (sig * sig);
                for j in 0..k {
                    a[i * k + j] += phi[r * k + i] * phi[r * k + j] / (sig * sig);
                }
            }
        }
        for i in 0..k {
            a[i * k + i] += lam;
        }
        let theta = solve(&a, &b);
        let sse: f64 = (0..n).map(|r| (dot(&phi[r * k..r * k + k], &theta) - y[r]).powi(2)).sum();
        let inp = EvidenceInputs {
            n,
            data_term: sse,
            theta_sq: dot(&theta, &theta),
            ggn_eigenvalues: spectrum.eigenvalues(),
            regression: true,
        };
        let laplace = log_evidence(&inp, lam, sig);
        // exact: log N(y; 0, C), C = σ²I + ΦΦᵀ/λ
        let mut c = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..n {
                c[i * n + j] =
                    dot(&phi[i * k..i * k + k], &phi[j * k..j * k + k]) / lam + if i == j { sig * sig } else { 0.0 };
            }
        }
        let (logdet, cy) = logdet_and_solve(&c, &y);
        let exact = -0.5 * dot(&y, &cy) - 0.5 * logdet - 0.5 * n as f64 * (2.0 * std::f64::consts::PI).ln();
        assert!((laplace - exact).abs() < 1e-9 * exact.abs().max(1.0), "λ={lam} σ={sig}: {laplace} vs {exact}");
    }
    // tuning at a fixed θ*: a stationary point that beats its neighbours
    let theta = [0.3, -1.2, 0.8];
    let sse: f64 = (0..n).map(|r| (dot(&phi[r * k..r * k + k], &theta) - y[r]).powi(2)).sum();
    let inp = EvidenceInputs {
        n,
        data_term: sse,
        theta_sq: dot(&theta, &theta),
        ggn_eigenvalues: spectrum.eigenvalues(),
        regression: true,
    };
    let (lam, sig, best) = tune_hyperparameters(&inp, 1.0, 1.0, true, true).unwrap();
    for &(dl, ds) in &[(1.01, 1.0), (0.99, 1.0), (1.0, 1.01), (1.0, 0.99)] {
        assert!(log_evidence(&inp, lam * dl, sig * ds) < best, "not a maximum at λ={lam}, σ={sig}");
    }
    let h = 1e-5;
    let dl = (log_evidence(&inp, lam * (1.0 + h), sig) - log_evidence(&inp, lam * (1.0 - h), sig)) / (2.0 * h);
    let ds = (log_evidence(&inp, lam, sig * (1.0 + h)) - log_evidence(&inp, lam, sig * (1.0 - h))) / (2.0 * h);
    assert!(dl.abs() < 1e-4 && ds.abs() < 1e-4, "gradient in log space ({dl}, {ds})");
    // with σ fixed, only λ moves, and the result is a 1-D maximum at that σ
    let (lam1, sig1, best1) = tune_hyperparameters(&inp, 1.0, 0.3, true, false).unwrap();
    assert_eq!(sig1, 0.3);
    assert!(log_evidence(&inp, lam1 * 1.01, 0.3) < best1 && log_evidence(&inp, lam1 * 0.99, 0.3) < best1);
}

fn solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let p = LaplacePosterior::from_precision(n, a).unwrap();
    let mut x = vec![0.0; n];
    p.apply_covariance(b, &mut x);
    x
}

fn logdet_and_solve(c: &[f64], y: &[f64]) -> (f64, Vec<f64>) {
    let n = y.len();
    let p = LaplacePosterior::from_precision(n, c).unwrap();
    let mut x = vec![0.0; n];
    p.apply_covariance(y, &mut x);
    (p.log_det_precision(), x)
}

/// The exact-Hessian posterior keeps only positive eigenpairs: on the ring the
/// tangent direction (eigenvalue 0) is dropped.
#[test]
fn hessian_posterior_drops_non_positive_curvature() {
    let post = LaplacePosterior::from_hessian(&Ring, &MAP, 1e-12).unwrap();
    assert_eq!(post.eigenvalues().len(), 2);
    assert!((post.eigenvalues()[0] - 1.0).abs() < 1e-12 && (post.eigenvalues()[1] - 8.0).abs() < 1e-12);
}

/// Memorisation paper Theorem 4.2: on the loss graph G ⪰ I and g(θ*) = 0, so the RLA
/// endpoint Exp_θ*(v) is no farther from θ* than the straight Laplace sample θ* + v.
#[test]
fn rla_endpoint_no_farther_than_laplace_sample() {
    let post = posterior();
    let rla = Rla::new(RlaConfig::default().integration(Integration { atol: 1e-9, rtol: 1e-9, ..Default::default() }))
        .unwrap();
    for i in 0..8 {
        let v = initial_velocity(&post, 3, i, 1.0);
        let r = rla.sample_one(&Ring, &MAP, &v, i).unwrap();
        let d_rla: f64 = r.theta.iter().zip(MAP).map(|(a, b)| (a - b) * (a - b)).sum::<f64>().sqrt();
        let d_la = dot(&v, &v).sqrt();
        assert!(d_rla <= d_la * (1.0 + 1e-9), "sample {i}: RLA {d_rla} > Laplace {d_la}");
        assert_eq!(r.final_time, 1.0);
    }
}

/// DiMS brings the particle back to the minimum set: from the MAP, after t1 = 100 with
/// η0 = 1, every sample's loss is near the minimum (0) and its kinetic energy small.
#[test]
fn dims_samples_return_to_minimum_set() {
    let post = posterior();
    let dims = Dims::new(DimsConfig::default().eta0(1.0).t1(100.0)).unwrap();
    for i in 0..6 {
        let v = initial_velocity(&post, 11, i, 1.0);
        let r = dims.sample_one(&Ring, &MAP, &v, i).unwrap();
        assert!(r.final_loss < 1e-2, "sample {i}: loss {}", r.final_loss);
        assert!(r.final_kinetic < 1e-2, "sample {i}: T {}", r.final_kinetic);
        let radius = (r.theta[0] * r.theta[0] + r.theta[1] * r.theta[1]).sqrt();
        assert!((radius - 1.0).abs() < 0.05, "sample {i} off the ring: r = {radius}");
    }
}

/// Every field of a record but the wall time, floats as bit patterns: what must not
/// depend on the thread count. The destructuring is exhaustive, so a new field of
/// `SampleRecord` must be classified here.
type Deterministic = (usize, Vec<u64>, u64, u64, u64, bool, usize, usize, usize, Option<u64>, Option<u64>);

fn deterministic_fields(r: &SampleRecord) -> Deterministic {
    let SampleRecord {
        index,
        theta,
        final_loss,
        final_kinetic,
        final_time,
        stopped_by_event,
        rhs_evaluations,
        accepted_steps,
        rejected_steps,
        wall_time_s: _,
        max_energy_increase,
        kinetic_drift,
    } = r;
    (
        *index,
        theta.iter().map(|t| t.to_bits()).collect(),
        final_loss.to_bits(),
        final_kinetic.to_bits(),
        final_time.to_bits(),
        *stopped_by_event,
        *rhs_evaluations,
        *accepted_steps,
        *rejected_steps,
        max_energy_increase.map(f64::to_bits),
        kinetic_drift.map(f64::to_bits),
    )
}

/// Samples depend only on (seed, index), not on the scheduling: 7 DiMS samples with 2, 3,
/// 6 and 8 worker threads (uneven splits, and more threads than samples) give the same
/// number of records as with 1 thread, in the same order, with every field but the wall
/// time bit-identical (θ, loss, kinetic energy, end time, stop reason, work counts and
/// energy diagnostics).
#[test]
fn samples_are_identical_for_any_thread_count() {
    let post = posterior();
    let dims = Dims::new(DimsConfig::default().t1(5.0)).unwrap();
    let vs: Vec<Vec<f64>> = (0..7).map(|i| initial_velocity(&post, 42, i, 1.0)).collect();
    let run = |threads| run_samples(&dims, &Ring, &MAP, &vs, threads, &|_| Ok(())).unwrap();
    let one: Vec<Deterministic> = run(1).iter().map(deterministic_fields).collect();
    assert_eq!(one.len(), vs.len(), "one thread: one sample per velocity");
    assert!(one.iter().enumerate().all(|(i, r)| r.0 == i), "records follow the velocities' order");
    for threads in [2, 3, 6, 8] {
        let many: Vec<Deterministic> = run(threads).iter().map(deterministic_fields).collect();
        assert_eq!(many.len(), one.len(), "{threads} threads: one sample per velocity");
        assert_eq!(many, one, "{threads} threads vs 1 thread");
    }
}

/// The registry knows the built-in plugins and names the known ones on a miss.
#[test]
fn registry_lists_and_rejects() {
    let reg = Registry::with_builtin();
    assert_eq!(reg.names(), ["dims", "laplace", "rla"]);
    let e = reg.create("hmc", SamplerConfig::default()).err().unwrap();
    assert_eq!(e.to_string(), "unknown sampler `hmc` (registered: dims, laplace, rla)");
    let bad = SamplerConfig { eta0: -1.0, ..Default::default() };
    assert!(matches!(reg.create("dims", bad.clone()), Err(SamplerError::InvalidSetting(_))));
    // The union is checked whichever plugin is built from it.
    assert!(matches!(reg.create("laplace", bad), Err(SamplerError::InvalidSetting(_))));
}

/// Each plugin's configuration is the union's fields it reads, with the plugin's own
/// default final time, and a plugin checks its own configuration.
#[test]
fn plugin_configurations_come_from_the_union() {
    let u = SamplerConfig { eta0: 0.3, t1: None, atol: 1e-8, linearised: true, ..Default::default() };
    let d = u.dims();
    assert_eq!((d.eta0, d.t1, d.integration.atol), (0.3, DimsConfig::DEFAULT_T1, 1e-8));
    assert_eq!(u.rla().t1, RlaConfig::DEFAULT_T1);
    assert!(u.laplace().linearised);
    assert_eq!(DimsConfig::default().integration.method, geodyn_core::Method::LossGraphRattle);
    assert!(Dims::new(DimsConfig::default().t1(f64::NAN)).is_err());
    assert!(Rla::new(RlaConfig::default().t1(-1.0)).is_err());
}

/// A Markov-chain plugin on the sampler seam: MALA on π ∝ exp(−L) from θ*, its noise keyed
/// by (seed, chain index) through `geodyn_core::sde::run_chain`; every kept state is one
/// record. The initial velocity is ignored, as the seam allows.
struct MalaChains {
    seed: u64,
}

impl Sampler for MalaChains {
    fn name(&self) -> &'static str {
        "mala-chains"
    }
    fn sample_one(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        velocity: &[f64],
        index: usize,
    ) -> Result<SampleRecord> {
        let mut all = self.sample_chain(objective, theta_map, velocity, index)?;
        all.pop().ok_or_else(|| SamplerError::InvalidSetting("the chain kept no state".into()))
    }
    fn sample_chain(
        &self,
        objective: &dyn Objective,
        theta_map: &[f64],
        _velocity: &[f64],
        index: usize,
    ) -> Result<Vec<SampleRecord>> {
        use geodyn_core::sde::{ChainConfig, Gibbs, Scheme, run_chain};
        let target = Gibbs::new(objective, 1.0)?;
        let config = ChainConfig::new(40, self.seed).burn_in(10).thin(4);
        let chain = run_chain(&target, theta_map, &Scheme::Mala { step: 0.05 }, &config, index as u64)?;
        (0..chain.len())
            .map(|i| {
                let theta = chain.sample(i).to_vec();
                let final_loss = objective.value(&theta)?;
                Ok(SampleRecord::without_dynamics(index, theta, final_loss, 0.0, 0.0))
            })
            .collect()
    }
}

/// `run_chains` returns each chain's kept states (burn-in 10, 40 steps, thinning 4: 10
/// states per chain) in chain order; chains depend only on (seed, chain), not on the
/// thread count (1 thread against 2 and 5, every field bit for bit), and two chains with
/// the same start differ (their noise streams do). Trajectory plugins keep one record per
/// index through the default `sample_chain`.
#[test]
fn chains_run_through_the_sampler_seam_independent_of_the_thread_count() {
    let post = posterior();
    let vs: Vec<Vec<f64>> = (0..4).map(|i| initial_velocity(&post, 7, i, 1.0)).collect();
    let mala = MalaChains { seed: 11 };
    let run = |threads| {
        run_chains(&mala, &Ring, &MAP, &vs, threads)
            .unwrap()
            .iter()
            .map(|c| c.iter().map(deterministic_fields).collect::<Vec<_>>())
            .collect::<Vec<_>>()
    };
    let one = run(1);
    assert_eq!(one.len(), 4, "one chain per velocity");
    for (i, c) in one.iter().enumerate() {
        assert_eq!(c.len(), 10, "chain {i}: ⌊40/4⌋ kept states");
        assert!(c.iter().all(|r| r.0 == i), "chain {i}: records carry their chain index");
    }
    assert_ne!(one[0], one[1], "different chains draw different noise");
    for threads in [2, 5] {
        assert_eq!(run(threads), one, "{threads} threads vs 1 thread");
    }
    let dims = Dims::new(DimsConfig::default().t1(2.0)).unwrap();
    let trajectories = run_chains(&dims, &Ring, &MAP, &vs[..2], 1).unwrap();
    let samples = run_samples(&dims, &Ring, &MAP, &vs[..2], 1, &|_| Ok(())).unwrap();
    assert_eq!(trajectories.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    let flat: Vec<Deterministic> = trajectories.iter().flatten().map(deterministic_fields).collect();
    assert_eq!(flat, samples.iter().map(deterministic_fields).collect::<Vec<_>>());
}
