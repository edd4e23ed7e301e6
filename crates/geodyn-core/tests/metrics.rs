//! Metric closed forms against dense formulas.
use geodyn_core::{Euclidean, LossGraph, Metric, Objective, Pullback, dot};
use geodyn_testkit::embeddings::*;
use geodyn_testkit::numerics::*;
use geodyn_testkit::objectives::*;
use geodyn_testkit::rng::uniform_vec;

/// Dense Christoffel contraction Γ(v,v)_k = Σ_ij Γ^k_ij v_i v_j of G = I + ggᵀ, from
/// the Levi-Civita formula Γ^k_ij = ½ G^{kl}(∂_i G_lj + ∂_j G_li − ∂_l G_ij) with
/// ∂_m G_ab = H_am g_b + g_a H_bm (DiMS eq. A.5 before simplification).
fn dense_christoffel(g: &[f64], h: &[f64], v: &[f64]) -> Vec<f64> {
    let k = g.len();
    let dg = |m: usize, a: usize, b: usize| h[a * k + m] * g[b] + g[a] * h[b * k + m];
    // c_l = Σ_ij ½(∂_i G_lj + ∂_j G_li − ∂_l G_ij) v_i v_j
    let mut c = vec![0.0; k];
    for (l, cl) in c.iter_mut().enumerate() {
        for i in 0..k {
            for j in 0..k {
                *cl += 0.5 * (dg(i, l, j) + dg(j, l, i) - dg(l, i, j)) * v[i] * v[j];
            }
        }
    }
    let gm = dense_metric(g);
    dense_solve(&gm, &c)
}

fn dense_metric(g: &[f64]) -> Vec<f64> {
    let k = g.len();
    let mut m = vec![0.0; k * k];
    for i in 0..k {
        for j in 0..k {
            m[i * k + j] = if i == j { 1.0 } else { 0.0 } + g[i] * g[j];
        }
    }
    m
}

fn matvec(a: &[f64], v: &[f64]) -> Vec<f64> {
    let k = v.len();
    (0..k).map(|i| dot(&a[i * k..(i + 1) * k], v)).collect()
}

/// LossGraph's O(K) closed forms (G v, G⁻¹w, grad_G L = g/(1+|g|²),
/// Γ(v,v) = (vᵀHv) g/(1+|g|²)) equal the dense formulas with G = I + ggᵀ.
#[test]
fn loss_graph_closed_forms_equal_dense_formulas() {
    let k = 6;
    let loss = Wiggly::new(k);
    let metric = LossGraph::new(&loss);
    for seed in 0..5 {
        let x = uniform_vec(k, seed);
        let v = uniform_vec(k, 100 + seed);
        let w = uniform_vec(k, 200 + seed);
        let g = loss.grad_vec(&x);
        let h = loss.hessian(&x);
        let gm = dense_metric(&g);
        let mut out = vec![0.0; k];

        metric.apply(&x, &v, &mut out).unwrap();
        assert!(rel_err(&out, &matvec(&gm, &v)) < 1e-13, "G v");

        metric.solve(&x, &w, &mut out).unwrap();
        assert!(rel_err(&out, &dense_solve(&gm, &w)) < 1e-12, "G⁻¹ w");

        metric.natural_gradient(&x, &mut out).unwrap();
        assert!(rel_err(&out, &dense_solve(&gm, &g)) < 1e-12, "grad_G L");

        metric.christoffel(&x, &v, &mut out).unwrap();
        let dense = dense_christoffel(&g, &h, &v);
        assert!(rel_err(&out, &dense) < 1e-11, "Γ(v,v): {out:?} vs {dense:?}");

        let t = metric.kinetic(&x, &v).unwrap();
        assert!((t - 0.5 * dot(&v, &matvec(&gm, &v))).abs() < 1e-12 * t.max(1.0), "T = ½vᵀGv");
    }
}

/// LossGraph equals the generic Pullback of E(θ) = (θ, L(θ)) (λ = 0), whose geodesic
/// acceleration comes from conjugate gradients on JᵀJ.
#[test]
fn loss_graph_equals_pullback_of_graph_embedding() {
    let k = 5;
    let loss = Wiggly::new(k);
    let lg = LossGraph::new(&loss);
    let pb = Pullback::new(GraphEmbedding(&loss), 0.0).unwrap();
    for seed in 0..5 {
        let x = uniform_vec(k, 10 + seed);
        let v = uniform_vec(k, 110 + seed);
        let (mut a, mut b) = (vec![0.0; k], vec![0.0; k]);
        lg.apply(&x, &v, &mut a).unwrap();
        pb.apply(&x, &v, &mut b).unwrap();
        assert!(rel_err(&a, &b) < 1e-13, "G v");
        lg.solve(&x, &v, &mut a).unwrap();
        pb.solve(&x, &v, &mut b).unwrap();
        assert!(rel_err(&a, &b) < 1e-10, "G⁻¹ v");
        lg.geodesic_acceleration(&x, &v, &mut a).unwrap();
        pb.geodesic_acceleration(&x, &v, &mut b).unwrap();
        assert!(rel_err(&a, &b) < 1e-10, "−Γ(v,v): {a:?} vs {b:?}");
        let (ta, tb) = (lg.kinetic(&x, &v).unwrap(), pb.kinetic(&x, &v).unwrap());
        assert!((ta - tb).abs() < 1e-13 * ta.max(1.0));
    }
}

/// Pullback with λ > 0: G = JᵀJ + λI, checked as G (G⁻¹ w) = w.
#[test]
fn pullback_solve_inverts_apply_with_regularisation() {
    let pb = Pullback::new(SphericalCoordinates, 0.1).unwrap();
    let x = [0.7, 0.3];
    let w = [0.4, -1.3];
    let (mut z, mut back) = ([0.0; 2], [0.0; 2]);
    pb.solve(&x, &w, &mut z).unwrap();
    pb.apply(&x, &z, &mut back).unwrap();
    assert!(rel_err(&back, &w) < 1e-12);
}

/// Euclidean metric: G = I, no curvature, T = ½|v|².
#[test]
fn euclidean_is_identity() {
    let e = Euclidean::new(3);
    let v = [1.0, -2.0, 0.5];
    let mut out = [9.0; 3];
    e.apply(&[0.0; 3], &v, &mut out).unwrap();
    assert_eq!(out, v);
    e.geodesic_acceleration(&[0.0; 3], &v, &mut out).unwrap();
    assert_eq!(out, [0.0; 3]);
    assert_eq!(e.kinetic(&[0.0; 3], &v).unwrap(), 0.5 * 5.25);
}

/// A negative or NaN regularisation is rejected.
#[test]
fn pullback_rejects_bad_lambda() {
    assert!(Pullback::new(SphericalCoordinates, -1.0).is_err());
    assert!(Pullback::new(SphericalCoordinates, f64::NAN).is_err());
}

/// The default fused grad_and_curvature equals gradient + v·Hv.
#[test]
fn default_grad_and_curvature_is_consistent() {
    let loss = Wiggly::new(4);
    let x = uniform_vec(4, 3);
    let v = uniform_vec(4, 4);
    let mut g = vec![0.0; 4];
    let (f, vhv) = loss.grad_and_curvature(&x, &v, &mut g).unwrap();
    let h = loss.hessian(&x);
    assert!((f - loss.value(&x).unwrap()).abs() < 1e-15);
    assert!((vhv - dot(&v, &matvec(&h, &v))).abs() < 1e-12);
    assert!(rel_err(&g, &loss.grad_vec(&x)) < 1e-15);
}

/// Counts the derivative calls an objective receives.
struct Counting<O> {
    inner: O,
    gradients: std::sync::atomic::AtomicUsize,
    curvatures: std::sync::atomic::AtomicUsize,
}

impl<O: Objective> Objective for Counting<O> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn value(&self, x: &[f64]) -> geodyn_core::Result<f64> {
        self.inner.value(x)
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> geodyn_core::Result<f64> {
        self.gradients.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.gradient(x, g)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> geodyn_core::Result<()> {
        self.inner.hvp(x, v, hv)
    }
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> geodyn_core::Result<(f64, f64)> {
        self.curvatures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.grad_and_curvature(x, v, g)
    }
}

/// The fused geodesic evaluation of the loss graph equals the two separate calls
/// (−Γ[v,v] and T = ½(|v|² + (∇L·v)²)), and a geodesic right-hand side through
/// `Mechanics` costs exactly one `grad_and_curvature` and no separate gradient: the
/// RLA sampler's cost per step depends on it.
#[test]
fn loss_graph_geodesic_rhs_is_one_derivative_call() {
    use geodyn_core::{Mechanics, SecondOrderSystem};
    let k = 6;
    let x = uniform_vec(k, 11);
    let v = uniform_vec(k, 12);
    let metric = LossGraph::new(Wiggly::new(k));
    let (mut a1, mut a2) = (vec![0.0; k], vec![0.0; k]);
    metric.geodesic_acceleration(&x, &v, &mut a1).unwrap();
    let t1 = metric.kinetic(&x, &v).unwrap();
    let t2 = metric.geodesic_acceleration_kinetic(&x, &v, &mut a2).unwrap();
    assert_eq!(a1, a2);
    assert!((t1 - t2).abs() <= 1e-14 * t1.abs());

    let counting = Counting { inner: Wiggly::new(k), gradients: 0.into(), curvatures: 0.into() };
    let sys = Mechanics::geodesic(LossGraph::new(&counting));
    let ev = sys.evaluate(0.0, &x, &v, &mut a2).unwrap();
    assert_eq!(a1, a2);
    assert!((ev.kinetic - t1).abs() <= 1e-14 * t1.abs());
    assert_eq!(counting.curvatures.load(std::sync::atomic::Ordering::Relaxed), 1);
    assert_eq!(counting.gradients.load(std::sync::atomic::Ordering::Relaxed), 0);
}
