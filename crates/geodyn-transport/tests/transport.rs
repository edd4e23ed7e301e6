//! Closed-form oracles for the transport routines.

use geodyn_transport::*;
use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

fn normals(r: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| r.sample(StandardNormal)).collect()
}

fn uniforms(r: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    (0..n).map(|_| r.random::<f64>()).collect()
}

#[test]
fn one_d_equals_sorted_matching_for_several_p() {
    let mut r = rng(1);
    let x = normals(&mut r, 57);
    let y: Vec<f64> = normals(&mut r, 57).iter().map(|v| 2.0 * v + 0.3).collect();
    let mu = EmpiricalMeasure::from_samples_1d(&x).unwrap();
    let nu = EmpiricalMeasure::from_samples_1d(&y).unwrap();
    for p in [1.0, 1.5, 2.0, 3.0] {
        let sweep = wasserstein_1d_pow(&mu, &nu, p).unwrap();
        let sorted = wasserstein_1d_samples_pow(&x, &y, p).unwrap();
        assert!((sweep - sorted).abs() <= 1e-13 * sorted, "p = {p}: {sweep} vs {sorted}");
    }
}

#[test]
fn one_d_weighted_against_a_point_mass_and_duplicated_atoms() {
    // W_p^p(δ_a, Σ w_j δ_{y_j}) = Σ w_j |a − y_j|^p.
    let y = vec![-1.0, 0.5, 2.0, 4.0];
    let w = vec![0.1, 0.4, 0.3, 0.2];
    let nu = EmpiricalMeasure::new(1, y.clone(), w.clone()).unwrap();
    let delta = EmpiricalMeasure::new(1, vec![0.7], vec![3.0]).unwrap(); // mass 3: normalised away
    let want: f64 = y.iter().zip(&w).map(|(y, w)| w * (0.7 - y).abs().powi(3)).sum();
    assert!((wasserstein_1d_pow(&delta, &nu, 3.0).unwrap() - want).abs() < 1e-14);
    // Weights 1/4, 3/4 equal the uniform measure on {0, 1, 1, 1}.
    let a = EmpiricalMeasure::new(1, vec![1.0, 0.0], vec![3.0, 1.0]).unwrap();
    let b = EmpiricalMeasure::from_samples_1d(&[0.0, 1.0, 1.0, 1.0]).unwrap();
    let c = EmpiricalMeasure::from_samples_1d(&[0.2, 0.9, 1.4, 3.0]).unwrap();
    let (ac, bc) = (wasserstein_1d_pow(&a, &c, 2.0).unwrap(), wasserstein_1d_pow(&b, &c, 2.0).unwrap());
    assert!((ac - bc).abs() < 1e-15, "{ac} vs {bc}");
}

#[test]
fn one_d_gaussian_samples_approach_the_closed_form() {
    // W2²(N(m1, s1²), N(m2, s2²)) = (m1 − m2)² + (s1 − s2)² = 1.5² + 1.5² = 4.5.
    let (m1, s1, m2, s2) = (1.0f64, 2.0f64, -0.5f64, 0.5f64);
    let exact = (m1 - m2).powi(2) + (s1 - s2).powi(2);
    let bures = bures_w2_squared(&[m1], &[s1 * s1], &[m2], &[s2 * s2]).unwrap();
    assert!((bures - exact).abs() < 1e-14);
    let mut r = rng(2);
    let mut errs = Vec::new();
    for n in [1_000, 100_000] {
        let x: Vec<f64> = normals(&mut r, n).iter().map(|z| m1 + s1 * z).collect();
        let y: Vec<f64> = normals(&mut r, n).iter().map(|z| m2 + s2 * z).collect();
        let w = wasserstein_1d_pow(
            &EmpiricalMeasure::from_samples_1d(&x).unwrap(),
            &EmpiricalMeasure::from_samples_1d(&y).unwrap(),
            2.0,
        )
        .unwrap();
        errs.push((w - exact).abs() / exact);
    }
    println!("relative error of empirical W2² at n = 1e3, 1e5: {errs:?}");
    assert!(errs[1] < 0.01, "{errs:?}");
}

#[test]
fn one_d_equals_exact_assignment() {
    let mut r = rng(3);
    let x = normals(&mut r, 30);
    let y = uniforms(&mut r, 30);
    let mu = EmpiricalMeasure::from_samples_1d(&x).unwrap();
    let nu = EmpiricalMeasure::from_samples_1d(&y).unwrap();
    let q = wasserstein_1d_pow(&mu, &nu, 2.0).unwrap();
    let e = exact_ot(&mu, &nu).unwrap().cost;
    assert!((q - e).abs() <= 1e-13 * q, "{q} vs {e}");
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for k in 0..n {
            let mut q = p.clone();
            q.insert(k, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn assignment_matches_brute_force_with_negative_costs() {
    let mut r = rng(4);
    for trial in 0..5 {
        let n = 6;
        let c: Vec<f64> = (0..n * n).map(|_| r.random::<f64>() * 10.0 - 3.0).collect();
        let best = permutations(n)
            .iter()
            .map(|p| p.iter().enumerate().map(|(i, &j)| c[i * n + j]).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        let a = solve_assignment(&c, n).unwrap();
        let mut seen = a.perm.clone();
        seen.sort();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        assert!((a.total_cost - best).abs() < 1e-12, "trial {trial}: {} vs {best}", a.total_cost);
    }
}

/// Random SPD matrix L Lᵀ + 0.1 I, row-major d×d.
fn spd(r: &mut ChaCha8Rng, d: usize) -> Vec<f64> {
    let l = normals(r, d * d);
    let mut s = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            s[i * d + j] = (0..d).map(|k| l[i * d + k] * l[j * d + k]).sum::<f64>() + if i == j { 0.1 } else { 0.0 };
        }
    }
    s
}

/// A rotation of R³ (product of three Givens rotations), row-major.
fn rotation(t: [f64; 3]) -> Vec<f64> {
    let mul = |a: &[f64], b: &[f64]| -> Vec<f64> {
        (0..9).map(|k| (0..3).map(|l| a[(k / 3) * 3 + l] * b[l * 3 + k % 3]).sum()).collect()
    };
    let (c0, s0, c1, s1, c2, s2) = (t[0].cos(), t[0].sin(), t[1].cos(), t[1].sin(), t[2].cos(), t[2].sin());
    let rx = [1.0, 0.0, 0.0, 0.0, c0, -s0, 0.0, s0, c0];
    let ry = [c1, 0.0, s1, 0.0, 1.0, 0.0, -s1, 0.0, c1];
    let rz = [c2, -s2, 0.0, s2, c2, 0.0, 0.0, 0.0, 1.0];
    mul(&mul(&rx, &ry), &rz)
}

#[test]
fn bures_commuting_case_is_the_closed_form() {
    // S1 = Q diag(a) Qᵀ, S2 = Q diag(b) Qᵀ commute: W2² = |m1 − m2|² + Σ (√aᵢ − √bᵢ)².
    let a = [1.0f64, 4.0, 9.0];
    let b = [4.0f64, 1.0, 0.25];
    let q = rotation([0.3, -1.1, 2.0]);
    let conj = |e: &[f64; 3]| -> Vec<f64> {
        (0..9).map(|k| (0..3).map(|l| q[(k / 3) * 3 + l] * e[l] * q[(k % 3) * 3 + l]).sum()).collect()
    };
    let (m1, m2) = ([1.0, 2.0, 3.0], [0.0, 2.5, -1.0]);
    let want: f64 = m1.iter().zip(&m2).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()
        + a.iter().zip(&b).map(|(x, y)| (x.sqrt() - y.sqrt()).powi(2)).sum::<f64>();
    let got = bures_w2_squared(&m1, &conj(&a), &m2, &conj(&b)).unwrap();
    println!("Bures commuting case: error {:e}", (got - want).abs());
    assert!((got - want).abs() < 1e-12 * want, "{got} vs {want}");
    // The PSD square root squares back.
    let s = conj(&a);
    let h = psd_sqrt(&s, 3).unwrap();
    let hh: Vec<f64> = (0..9).map(|k| (0..3).map(|l| h[(k / 3) * 3 + l] * h[l * 3 + k % 3]).sum()).collect();
    assert!(hh.iter().zip(&s).all(|(x, y)| (x - y).abs() < 1e-12 * 9.0));
}

#[test]
fn bures_is_a_metric_on_random_spd() {
    let mut r = rng(5);
    let d = 4;
    let mut worst_sym = 0.0f64;
    let mut worst_tri = f64::NEG_INFINITY;
    for _ in 0..20 {
        let (s1, s2, s3) = (spd(&mut r, d), spd(&mut r, d), spd(&mut r, d));
        let (m1, m2, m3) = (normals(&mut r, d), normals(&mut r, d), normals(&mut r, d));
        let w12 = bures_w2(&m1, &s1, &m2, &s2).unwrap();
        let w21 = bures_w2(&m2, &s2, &m1, &s1).unwrap();
        let w23 = bures_w2(&m2, &s2, &m3, &s3).unwrap();
        let w13 = bures_w2(&m1, &s1, &m3, &s3).unwrap();
        worst_sym = worst_sym.max((w12 - w21).abs() / w12);
        worst_tri = worst_tri.max(w13 - w12 - w23);
        let tr: f64 = (0..d).map(|i| s1[i * d + i]).sum();
        assert!(bures_w2_squared(&m1, &s1, &m1, &s1).unwrap() < 1e-12 * tr);
    }
    println!("Bures: worst relative asymmetry {worst_sym:e}, worst triangle excess {worst_tri:e}");
    assert!(worst_sym < 1e-10);
    assert!(worst_tri <= 1e-12);
}

fn cloud(r: &mut ChaCha8Rng, n: usize, d: usize, shift: f64) -> Vec<f64> {
    uniforms(r, n * d).iter().map(|v| v + shift).collect()
}

fn lse(v: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = v.clone().fold(f64::NEG_INFINITY, f64::max);
    m + v.map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn sinkhorn_marginals_and_schrodinger_fixed_point() {
    let mut r = rng(6);
    let (n, m, d) = (40, 30, 2);
    let wa: Vec<f64> = (0..n).map(|_| 0.5 + r.random::<f64>()).collect();
    let wb: Vec<f64> = (0..m).map(|_| 0.5 + r.random::<f64>()).collect();
    let mu = EmpiricalMeasure::new(d, cloud(&mut r, n, d, 0.0), wa).unwrap();
    let nu = EmpiricalMeasure::new(d, cloud(&mut r, m, d, 0.5), wb).unwrap();
    let eps = 0.05;
    let tol = 1e-9;
    let sol = sinkhorn(&mu, &nu, &SinkhornOptions::new(eps).with_tol(tol)).unwrap();
    let (a, b) = (mu.probabilities(), nu.probabilities());
    let row_err: f64 = (0..n).map(|i| (sol.plan[i * m..(i + 1) * m].iter().sum::<f64>() - a[i]).abs()).sum();
    let col_err: f64 = (0..m).map(|j| ((0..n).map(|i| sol.plan[i * m + j]).sum::<f64>() - b[j]).abs()).sum();
    println!("sinkhorn: {} iterations, row error {row_err:e}, column error {col_err:e}", sol.iterations);
    assert!(row_err <= tol && (row_err - sol.marginal_error).abs() < 1e-12);
    assert!(col_err < 1e-13);
    // Schrödinger system: f = −ε LSE_j[(g − C)/ε + log b], g = −ε LSE_i[(f − C)/ε + log a].
    let c = squared_euclidean_cost(&mu, &nu).unwrap();
    let rf = (0..n)
        .map(|i| (sol.f[i] + eps * lse((0..m).map(|j| (sol.g[j] - c[i * m + j]) / eps + b[j].ln()))).abs())
        .fold(0.0, f64::max);
    let rg = (0..m)
        .map(|j| (sol.g[j] + eps * lse((0..n).map(|i| (sol.f[i] - c[i * m + j]) / eps + a[i].ln()))).abs())
        .fold(0.0, f64::max);
    println!("Schrödinger residuals: f {rf:e}, g {rg:e}");
    assert!(rf < 1e-8 && rg < 1e-13, "{rf:e} {rg:e}");
    // The dual value equals the primal ⟨C,π⟩ + ε KL(π‖a⊗b) to the marginal error.
    let kl: f64 = (0..n * m)
        .filter(|&k| sol.plan[k] > 0.0)
        .map(|k| sol.plan[k] * (sol.plan[k] / (a[k / m] * b[k % m])).ln())
        .sum();
    assert!((sol.transport_cost + eps * kl - sol.cost).abs() < 1e-8);
}

#[test]
fn sinkhorn_cost_tends_to_the_exact_cost_within_eps_log_n() {
    // Uniform weights, n points each: 0 ≤ OT_ε − OT_0 ≤ ε log n, since KL(π‖a⊗b) ∈ [0, log n] on
    // couplings of uniform marginals and the optimal permutation has KL = log n.
    // (Sinkhorn slows down like 1 − O(e^{−Δ/ε}) as the plan approaches a permutation with cost
    // margin Δ, so the smallest ε here is 5e-3 at a 1e-8 marginal tolerance.)
    let mut r = rng(7);
    let (n, d) = (12, 2);
    let mu = EmpiricalMeasure::uniform(d, cloud(&mut r, n, d, 0.0)).unwrap();
    let nu = EmpiricalMeasure::uniform(d, cloud(&mut r, n, d, 0.3)).unwrap();
    let exact = exact_ot(&mu, &nu).unwrap().cost;
    let mut last_gap = f64::INFINITY;
    for eps in [0.1, 0.03, 0.01, 0.005] {
        let sol = sinkhorn(&mu, &nu, &SinkhornOptions::new(eps).with_tol(1e-8)).unwrap();
        let gap = sol.cost - exact;
        let bound = eps * (n as f64).ln();
        println!("eps {eps}: OT_eps − OT_0 = {gap:e} (bound {bound:e}), {} iterations", sol.iterations);
        // Slack: the dual value is within max|f| · 1e-8 of the plan's primal value.
        assert!(gap >= -1e-7 && gap <= bound + 1e-7, "eps {eps}: gap {gap} bound {bound}");
        assert!(sol.transport_cost >= exact - 1e-7);
        assert!(gap <= last_gap + 1e-7);
        last_gap = gap;
    }
}

#[test]
fn sinkhorn_divergence_is_nonnegative_and_zero_on_equal_measures() {
    let mut r = rng(8);
    let d = 3;
    let opts = SinkhornOptions::new(0.05);
    for shift in [0.0, 0.05, 0.5] {
        let mu = EmpiricalMeasure::uniform(d, cloud(&mut r, 25, d, 0.0)).unwrap();
        let nu = EmpiricalMeasure::uniform(d, cloud(&mut r, 20, d, shift)).unwrap();
        let s = sinkhorn_divergence(&mu, &nu, &opts).unwrap();
        assert!(s >= 0.0, "shift {shift}: S = {s}");
    }
    // The same measure with its points listed in another order.
    let pts = cloud(&mut r, 25, d, 0.0);
    let mu = EmpiricalMeasure::uniform(d, pts.clone()).unwrap();
    let rev: Vec<f64> = pts.chunks(d).rev().flatten().copied().collect();
    let nu = EmpiricalMeasure::uniform(d, rev).unwrap();
    let s = sinkhorn_divergence(&mu, &nu, &opts).unwrap();
    println!("S_eps of a measure and its reordering: {s:e}");
    assert!(s.abs() < 1e-9, "{s}");
}

#[test]
fn barycentric_projection_of_exact_and_entropic_plans() {
    let mut r = rng(9);
    let (n, d) = (10, 2);
    let mu = EmpiricalMeasure::uniform(d, cloud(&mut r, n, d, 0.0)).unwrap();
    let nu = EmpiricalMeasure::uniform(d, cloud(&mut r, n, d, 1.0)).unwrap();
    let ex = exact_ot(&mu, &nu).unwrap();
    let map = barycentric_projection(&ex.plan(), n, &nu).unwrap();
    for i in 0..n {
        for (a, b) in map[i * d..(i + 1) * d].iter().zip(nu.point(ex.perm[i])) {
            assert!((a - b).abs() <= 1e-15 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
    // A small-ε entropic plan gives nearly the same map (a loose marginal tolerance suffices).
    let sol = sinkhorn(&mu, &nu, &SinkhornOptions::new(5e-3).with_tol(1e-6)).unwrap();
    let smooth = barycentric_projection(&sol.plan, n, &nu).unwrap();
    let dev = smooth.iter().zip(&map).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    println!("entropic (eps 5e-3) vs exact barycentric map: max deviation {dev:e}");
    assert!(dev < 0.1, "{dev}");
}

#[test]
fn normal_quantile_reference_values() {
    // Φ(1), Φ(2), Φ(−3) and two textbook quantiles.
    let cases = [
        (0.841_344_746_068_542_9, 1.0),
        (0.977_249_868_051_820_8, 2.0),
        (0.001_349_898_031_630_094_6, -3.0),
        (0.975, 1.959_963_984_540_054),
        (1e-10, -6.361_340_902_404_056),
        (0.5, 0.0),
    ];
    for (p, z) in cases {
        let got = normal_quantile(p);
        assert!((got - z).abs() <= 1e-14 * z.abs().max(1.0), "Φ⁻¹({p}) = {got}, want {z}");
    }
    for p in [0.01, 0.2, 0.4] {
        assert!((normal_quantile(p) + normal_quantile(1.0 - p)).abs() < 1e-12 * normal_quantile(p).abs().max(1.0));
    }
    assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    assert_eq!(normal_quantile(1.0), f64::INFINITY);
    assert!(normal_quantile(1.5).is_nan() && normal_quantile(f64::NAN).is_nan());
}

#[test]
fn one_d_w2_to_a_gaussian_in_closed_form() {
    let (m, s) = (0.4, 1.7);
    // A point mass: W2² = (a − m)² + s².
    let delta = EmpiricalMeasure::from_samples_1d(&[-1.0]).unwrap();
    let w = wasserstein2_squared_to_gaussian_1d(&delta, m, s).unwrap();
    assert!((w - (1.4f64.powi(2) + s * s)).abs() < 1e-14, "{w}");
    // Two symmetric atoms m ± c: W2² = c² − 4csφ(0) + s².
    let c = 0.9;
    let two = EmpiricalMeasure::from_samples_1d(&[m - c, m + c]).unwrap();
    let phi0 = 1.0 / (2.0 * std::f64::consts::PI).sqrt();
    let want = c * c - 4.0 * c * s * phi0 + s * s;
    let got = wasserstein2_squared_to_gaussian_1d(&two, m, s).unwrap();
    assert!((got - want).abs() < 1e-14, "{got} vs {want}");
    // Samples of the same Gaussian: W2² → 0; and against a point mass (s = 0), W2² = E(x − m)².
    let mut r = rng(10);
    let x: Vec<f64> = normals(&mut r, 20_000).iter().map(|z| m + s * z).collect();
    let mu = EmpiricalMeasure::from_samples_1d(&x).unwrap();
    let w_same = wasserstein2_squared_to_gaussian_1d(&mu, m, s).unwrap();
    println!("W2² between 2·10⁴ samples and their Gaussian: {w_same:e}");
    assert!(w_same < 5e-3 * s * s, "{w_same}");
    let second_moment = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64;
    let w_point = wasserstein2_squared_to_gaussian_1d(&mu, m, 0.0).unwrap();
    assert!((w_point - second_moment).abs() < 1e-12 * second_moment, "{w_point} vs {second_moment}");
}

#[test]
fn sinkhorn_divergence_tends_to_w2_squared_and_zero_weights_are_allowed() {
    // On the line the exact W2² is known; S_ε → W2² as ε → 0 (the bias of OT_ε cancels).
    let mut r = rng(11);
    let x = normals(&mut r, 15);
    let y: Vec<f64> = normals(&mut r, 15).iter().map(|v| 0.5 * v + 1.0).collect();
    let mu = EmpiricalMeasure::from_samples_1d(&x).unwrap();
    let nu = EmpiricalMeasure::from_samples_1d(&y).unwrap();
    let w2 = wasserstein_1d_pow(&mu, &nu, 2.0).unwrap();
    let mut errs = Vec::new();
    for eps in [0.1, 0.03, 0.01] {
        let s = sinkhorn_divergence(&mu, &nu, &SinkhornOptions::new(eps).with_tol(1e-8)).unwrap();
        errs.push((s - w2).abs() / w2);
    }
    println!("|S_eps − W2²| / W2² at eps = 0.1, 0.03, 0.01: {errs:?}");
    // (For discrete measures S_ε − W2² need not be monotone in ε; all three are within 0.1 %.)
    assert!(errs.iter().all(|&e| e < 2e-3), "{errs:?}");
    // An atom of zero weight changes nothing (and its plan row is zero).
    let mut pts = x.clone();
    pts.push(50.0);
    let mut w = vec![1.0; 15];
    w.push(0.0);
    let padded = EmpiricalMeasure::new(1, pts, w).unwrap();
    let opts = SinkhornOptions::new(0.05);
    let (a, b) = (sinkhorn(&mu, &nu, &opts).unwrap(), sinkhorn(&padded, &nu, &opts).unwrap());
    assert!((a.cost - b.cost).abs() < 1e-9 * a.cost.abs().max(1.0), "{} vs {}", a.cost, b.cost);
    assert!(b.plan[15 * 15..].iter().all(|&p| p == 0.0));
}

#[test]
fn parallel_sweeps_give_bitwise_the_sequential_result() {
    let mut r = rng(12);
    let (n, m, d) = (300, 280, 2);
    assert!(n * m >= PARALLEL_MIN_ENTRIES);
    let mu = EmpiricalMeasure::uniform(d, cloud(&mut r, n, d, 0.0)).unwrap();
    let nu = EmpiricalMeasure::uniform(d, cloud(&mut r, m, d, 0.2)).unwrap();
    let opts = SinkhornOptions::new(0.05).with_tol(1e-8);
    let par = sinkhorn(&mu, &nu, &opts).unwrap();
    let seq = sinkhorn(&mu, &nu, &opts.clone().with_parallel(false)).unwrap();
    assert_eq!(par, seq);
    let row_err: f64 = (0..n).map(|i| (par.plan[i * m..(i + 1) * m].iter().sum::<f64>() - 1.0 / n as f64).abs()).sum();
    assert!(row_err <= 1e-8, "{row_err}");
}
