//! Exactness tests of the num-dual backend: each test names the identity, closed form
//! or finite-difference reference it checks.

use geodyn_core::{Embedding, Error, Lagrangian, Objective, Rayleigh, dot};
use geodyn_dual::num_dual::{Dual2SVec64, hessian};
use geodyn_dual::{
    DualEmbedding, DualLagrangian, DualNum, DualObjective, DualRayleigh, LagrangianFn, RayleighFn, ScalarFn, VectorFn,
};
use geodyn_testkit::rng::{normals, seeded, uniforms};
use nalgebra::SVector;
use rand::RngExt;

// ---------------------------------------------------------------- helpers

fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

/// max_i |a_i − b_i| / max(‖b‖_∞, tiny): a relative error in the sup norm.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0.0_f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter().zip(b).fold(0.0_f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

fn axpy(x: &[f64], t: f64, v: &[f64]) -> Vec<f64> {
    x.iter().zip(v).map(|(a, b)| a + t * b).collect()
}

// ---------------------------------------------------------------- Rosenbrock

/// Rosenbrock f(x) = Σ_{i<K−1} 100 (x_{i+1} − x_i²)² + (1 − x_i)², generic over any
/// `DualNum` (so the non-Copy-free Dual2SVec reference and the backend share it).
fn rosenbrock<D: DualNum<Primitive = f64>>(x: &[D]) -> D {
    let mut f = D::zero();
    for i in 0..x.len() - 1 {
        let a = x[i + 1].clone() - x[i].clone() * x[i].clone();
        let b = -x[i].clone() + 1.0;
        f += a.clone() * a * 100.0 + b.clone() * b;
    }
    f
}

struct Rosenbrock<const K: usize>;

impl<const K: usize> ScalarFn for Rosenbrock<K> {
    fn dim(&self) -> usize {
        K
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        rosenbrock(x)
    }
}

/// Closed-form Rosenbrock gradient:
/// ∂f/∂x_i = −400 x_i (x_{i+1} − x_i²) − 2 (1 − x_i) + 200 (x_i − x_{i−1}²).
fn rosenbrock_gradient(x: &[f64]) -> Vec<f64> {
    let k = x.len();
    let mut g = vec![0.0; k];
    for i in 0..k - 1 {
        g[i] += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
        g[i + 1] += 200.0 * (x[i + 1] - x[i] * x[i]);
    }
    g
}

/// The dense 10×10 Rosenbrock Hessian from num-dual's one-pass `hessian` (Dual2SVec64),
/// an independent code path from the backend's forward-over-forward HVP.
fn rosenbrock_dense_hessian(x: &[f64]) -> [[f64; 10]; 10] {
    let x = SVector::<f64, 10>::from_column_slice(x);
    let (_, _, h) = hessian(|x: SVector<Dual2SVec64<10>, 10>| rosenbrock(x.as_slice()), &x);
    std::array::from_fn(|i| std::array::from_fn(|j| h[(i, j)]))
}

/// Hv (exact, forward-over-forward) = H·v with H the dense Hessian, to 1e-10 relative,
/// for the 10-D Rosenbrock function at random points and directions.
#[test]
fn rosenbrock10_hvp_equals_dense_hessian_times_v() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let mut r = seeded(1);
    for _ in 0..20 {
        let x = uniforms(&mut r, 10, -2.0, 2.0);
        let v = normals(&mut r, 10, 1.0);
        let mut hv = [0.0; 10];
        f.hvp(&x, &v, &mut hv).unwrap();
        let h = rosenbrock_dense_hessian(&x);
        let dense: Vec<f64> = h.iter().map(|row| dot(row, &v)).collect();
        assert!(rel_err(&hv, &dense) < 1e-10, "{hv:?} vs {dense:?}");
    }
}

/// Hv = (∇f(x + εv) − ∇f(x − εv)) / 2ε + O(ε²): central differences of the exact
/// gradient with ε = 1e-5 agree with the exact HVP to 1e-6 relative.
#[test]
fn rosenbrock10_hvp_equals_central_difference_of_gradient() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let mut r = seeded(2);
    let eps = 1e-5;
    for _ in 0..20 {
        let x = uniforms(&mut r, 10, -2.0, 2.0);
        let v = normals(&mut r, 10, 1.0);
        let mut hv = [0.0; 10];
        f.hvp(&x, &v, &mut hv).unwrap();
        let (mut gp, mut gm) = ([0.0; 10], [0.0; 10]);
        f.gradient(&axpy(&x, eps, &v), &mut gp).unwrap();
        f.gradient(&axpy(&x, -eps, &v), &mut gm).unwrap();
        let fd: Vec<f64> = gp.iter().zip(&gm).map(|(p, m)| (p - m) / (2.0 * eps)).collect();
        assert!(rel_err(&hv, &fd) < 1e-6, "{hv:?} vs {fd:?}");
    }
}

/// ∇f (chunked forward mode) equals the closed-form Rosenbrock gradient, and the returned
/// value equals f(x), for K = 10 (a chunk of 8 plus a chunk of width 2).
#[test]
fn rosenbrock10_gradient_equals_closed_form() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let mut r = seeded(3);
    for _ in 0..20 {
        let x = uniforms(&mut r, 10, -2.0, 2.0);
        let mut g = [0.0; 10];
        let fx = f.gradient(&x, &mut g).unwrap();
        assert!((fx - rosenbrock(&x)).abs() <= 1e-14 * fx.abs());
        assert_eq!(fx, f.value(&x).unwrap());
        assert!(rel_err(&g, &rosenbrock_gradient(&x)) < 1e-13);
    }
}

/// The gradient is correct for every chunk layout: K = 1..=20 covers remainders of
/// width 1, 2, 4 (3, 4) and 8 (5..7) after full chunks of 8.
#[test]
fn rosenbrock_gradient_and_hvp_all_chunk_widths() {
    struct Rosen(usize);
    impl ScalarFn for Rosen {
        fn dim(&self) -> usize {
            self.0
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
            // Rosenbrock plus ½|x|² so that K = 1 is nontrivial too.
            let q = x.iter().map(|&xi| xi * xi).sum::<D>() * 0.5;
            if x.len() > 1 { rosenbrock(x) + q } else { q }
        }
    }
    let mut r = seeded(4);
    for k in 1..=20 {
        let f = DualObjective::new(Rosen(k));
        let x = uniforms(&mut r, k, -1.5, 1.5);
        let v = normals(&mut r, k, 1.0);
        let mut g = vec![0.0; k];
        f.gradient(&x, &mut g).unwrap();
        let mut expect = if k > 1 { rosenbrock_gradient(&x) } else { vec![0.0] };
        for (e, xi) in expect.iter_mut().zip(&x) {
            *e += xi;
        }
        assert!(rel_err(&g, &expect) < 1e-13, "k = {k}");
        // HVP against central differences of the gradient.
        let mut hv = vec![0.0; k];
        f.hvp(&x, &v, &mut hv).unwrap();
        let (mut gp, mut gm) = (vec![0.0; k], vec![0.0; k]);
        f.gradient(&axpy(&x, 1e-5, &v), &mut gp).unwrap();
        f.gradient(&axpy(&x, -1e-5, &v), &mut gm).unwrap();
        let fd: Vec<f64> = gp.iter().zip(&gm).map(|(p, m)| (p - m) / 2e-5).collect();
        assert!(rel_err(&hv, &fd) < 1e-6, "k = {k}");
    }
}

/// grad_and_curvature returns (f, ∇f, vᵀHv) with vᵀHv (one Dual2 pass) = v·(Hv) (HVP),
/// and f, ∇f equal to `gradient`'s.
#[test]
fn rosenbrock10_curvature_equals_v_dot_hvp() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let mut r = seeded(5);
    for _ in 0..20 {
        let x = uniforms(&mut r, 10, -2.0, 2.0);
        let v = normals(&mut r, 10, 1.0);
        let (mut g, mut g2, mut hv) = ([0.0; 10], [0.0; 10], [0.0; 10]);
        let (fx, vhv) = f.grad_and_curvature(&x, &v, &mut g).unwrap();
        let fx2 = f.gradient(&x, &mut g2).unwrap();
        f.hvp(&x, &v, &mut hv).unwrap();
        let expect = dot(&v, &hv);
        assert_eq!((fx, g), (fx2, g2));
        assert!((vhv - expect).abs() <= 1e-12 * expect.abs().max(norm(&v).powi(2)), "{vhv} vs {expect}");
    }
}

// ---------------------------------------------------------------- embedding

/// A nonlinear map E: R³ → R⁴,
/// E(x) = (sin x0 · x1, exp(x1 x2), x0² + cos x2, x0 x1 x2 / (1 + x0²)).
struct Curvy;

impl VectorFn for Curvy {
    fn input_dim(&self) -> usize {
        3
    }
    fn output_dim(&self) -> usize {
        4
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]) {
        out[0] = x[0].sin() * x[1];
        out[1] = (x[1] * x[2]).exp();
        out[2] = x[0] * x[0] + x[2].cos();
        out[3] = x[0] * x[1] * x[2] / (x[0] * x[0] + 1.0);
    }
}

fn embed(x: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; 4];
    DualEmbedding::new(Curvy).value(x, &mut out).unwrap();
    out
}

/// Adjoint identity ⟨u, J v⟩ = ⟨Jᵀu, v⟩ for random x, u, v (jvp one Dual64 pass, vjp
/// chunked forward mode — independent code paths).
#[test]
fn embedding_vjp_is_adjoint_of_jvp() {
    let e = DualEmbedding::new(Curvy);
    let mut r = seeded(6);
    for _ in 0..50 {
        let x = uniforms(&mut r, 3, -1.0, 1.0);
        let v = normals(&mut r, 3, 1.0);
        let u = normals(&mut r, 4, 1.0);
        let (mut jv, mut jtu) = ([0.0; 4], [0.0; 3]);
        e.jvp(&x, &v, &mut jv).unwrap();
        e.vjp(&x, &u, &mut jtu).unwrap();
        let (lhs, rhs) = (dot(&u, &jv), dot(&jtu, &v));
        let scale = norm(&u) * norm(&jv) + norm(&jtu) * norm(&v);
        assert!((lhs - rhs).abs() <= 1e-13 * scale, "{lhs} vs {rhs}");
    }
}

/// J v = (E(x + εv) − E(x − εv)) / 2ε + O(ε²), ε = 1e-5, to 1e-8 relative.
#[test]
fn embedding_jvp_equals_central_difference() {
    let e = DualEmbedding::new(Curvy);
    let mut r = seeded(7);
    let eps = 1e-5;
    for _ in 0..20 {
        let x = uniforms(&mut r, 3, -1.0, 1.0);
        let v = normals(&mut r, 3, 1.0);
        let mut jv = [0.0; 4];
        e.jvp(&x, &v, &mut jv).unwrap();
        let (p, m) = (embed(&axpy(&x, eps, &v)), embed(&axpy(&x, -eps, &v)));
        let fd: Vec<f64> = p.iter().zip(&m).map(|(p, m)| (p - m) / (2.0 * eps)).collect();
        assert!(rel_err(&jv, &fd) < 1e-8, "{jv:?} vs {fd:?}");
    }
}

/// E''[v, v] = (E(x + εv) − 2E(x) + E(x − εv)) / ε² + O(ε²), ε = 1e-4, to 1e-5 relative
/// (the second difference loses ~8 digits to cancellation).
#[test]
fn embedding_second_directional_equals_second_central_difference() {
    let e = DualEmbedding::new(Curvy);
    let mut r = seeded(8);
    let eps = 1e-4;
    for _ in 0..20 {
        let x = uniforms(&mut r, 3, -1.0, 1.0);
        let v = normals(&mut r, 3, 1.0);
        let mut acc = [0.0; 4];
        e.second_directional(&x, &v, &mut acc).unwrap();
        let (p, c, m) = (embed(&axpy(&x, eps, &v)), embed(&x), embed(&axpy(&x, -eps, &v)));
        let fd: Vec<f64> = (0..4).map(|i| (p[i] - 2.0 * c[i] + m[i]) / (eps * eps)).collect();
        assert!(rel_err(&acc, &fd) < 1e-5, "{acc:?} vs {fd:?}");
    }
}

/// Jᵀu via vjp equals Σ_k u_k ∇E_k with ∇E_k the exact gradient of each component
/// (DualObjective of x ↦ E_k(x)), in a dimension (K = 11) needing two chunks.
#[test]
fn embedding_vjp_equals_componentwise_gradients_k11() {
    struct Wide;
    impl VectorFn for Wide {
        fn input_dim(&self) -> usize {
            11
        }
        fn output_dim(&self) -> usize {
            2
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]) {
            out[0] = x.iter().enumerate().map(|(i, &xi)| (xi * (i as f64 + 1.0)).sin()).sum();
            out[1] = x.windows(2).map(|w| w[0] * w[1]).sum::<D>().tanh();
        }
    }
    struct Component(usize);
    impl ScalarFn for Component {
        fn dim(&self) -> usize {
            11
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
            let mut out = [D::zero(); 2];
            Wide.eval(x, &mut out);
            out[self.0]
        }
    }
    let e = DualEmbedding::new(Wide);
    let mut r = seeded(9);
    let x = uniforms(&mut r, 11, -1.0, 1.0);
    let u = normals(&mut r, 2, 1.0);
    let mut jtu = [0.0; 11];
    e.vjp(&x, &u, &mut jtu).unwrap();
    let (mut g0, mut g1) = ([0.0; 11], [0.0; 11]);
    DualObjective::new(Component(0)).gradient(&x, &mut g0).unwrap();
    DualObjective::new(Component(1)).gradient(&x, &mut g1).unwrap();
    let expect: Vec<f64> = (0..11).map(|j| u[0] * g0[j] + u[1] * g1[j]).collect();
    assert!(rel_err(&jtu, &expect) < 1e-14);
}

// ---------------------------------------------------------------- Lagrangians

/// L = ½ m |v|² − V(x), V(x) = Σ_i x_i⁴/4 + x_i x_{i+1} (quartic, coupled).
struct Mechanical {
    n: usize,
    mass: f64,
}

impl LagrangianFn for Mechanical {
    fn dim(&self) -> usize {
        self.n
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
        let t = v.iter().map(|&vi| vi * vi).sum::<D>() * (0.5 * self.mass);
        let mut pot = x.iter().map(|&xi| xi.powi(4) * 0.25).sum::<D>();
        for w in x.windows(2) {
            pot += w[0] * w[1];
        }
        t - pot
    }
}

/// ∇V for the quartic potential above: x_i³ + x_{i−1} + x_{i+1}.
fn quartic_grad(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = x[i].powi(3);
            if i > 0 {
                g += x[i - 1];
            }
            if i + 1 < n {
                g += x[i + 1];
            }
            g
        })
        .collect()
}

/// For L = ½ m|v|² − V(x): ∂L/∂x = −∇V, ∂²L/∂v² = m I, (∂²L/∂v∂x) v = 0, ∂L/∂v = m v,
/// in every block layout (n = 1..=12: one pass of width 2, 4, 8 and 2×2 blocks of 8).
#[test]
fn mechanical_lagrangian_terms_equal_closed_form() {
    let mut r = seeded(10);
    for n in 1..=12 {
        let l = DualLagrangian::new(Mechanical { n, mass: 2.5 });
        let x = uniforms(&mut r, n, -1.5, 1.5);
        let v = normals(&mut r, n, 1.0);
        let (mut lx, mut lvv, mut lvx_v, mut lv) =
            (vec![0.0; n], vec![f64::NAN; n * n], vec![f64::NAN; n], vec![0.0; n]);
        l.euler_lagrange_terms(&x, &v, &mut lx, &mut lvv, &mut lvx_v).unwrap();
        l.velocity_gradient(&x, &v, &mut lv).unwrap();
        let minus_grad_v: Vec<f64> = quartic_grad(&x).iter().map(|g| -g).collect();
        assert!(rel_err(&lx, &minus_grad_v) < 1e-14, "n = {n}");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(lvv[i * n + j], if i == j { 2.5 } else { 0.0 }, "n = {n}, ({i},{j})");
            }
            assert_eq!(lvx_v[i], 0.0);
            assert!((lv[i] - 2.5 * v[i]).abs() <= 1e-15 * v[i].abs());
        }
        let expect = 0.5 * 2.5 * dot(&v, &v)
            - (x.iter().map(|xi| xi.powi(4) / 4.0).sum::<f64>() + x.windows(2).map(|w| w[0] * w[1]).sum::<f64>());
        assert!((l.value(&x, &v).unwrap() - expect).abs() <= 1e-14 * expect.abs().max(1.0));
    }
}

/// L = ½ vᵀA(x)v + b(x)·v with A(x) = diag(1 + x_i²) + c (s sᵀ), s = sin x, and b(x) = (x_{i+1}², …):
/// a velocity-position coupled Lagrangian.
struct Coupled {
    n: usize,
    c: f64,
}

impl LagrangianFn for Coupled {
    fn dim(&self) -> usize {
        self.n
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
        let n = self.n;
        let diag = (0..n).map(|i| (x[i] * x[i] + 1.0) * v[i] * v[i]).sum::<D>() * 0.5;
        let sv = (0..n).map(|i| x[i].sin() * v[i]).sum::<D>();
        let gyro = (0..n).map(|i| x[(i + 1) % n] * x[(i + 1) % n] * v[i]).sum::<D>();
        diag + sv * sv * (0.5 * self.c) + gyro
    }
}

/// Hand-derived closed forms for the coupled L above, with s = sin x, σ = s·v:
/// ∂L/∂x_k = x_k v_k² + c σ cos x_k v_k + 2 x_k v_{k−1}
/// ∂²L/∂v_i∂v_j = (1 + x_i²) δ_ij + c s_i s_j
/// Σ_j ∂²L/∂v_i∂x_j v_j = 2 x_i v_i² + c (cos x_i v_i σ + s_i Σ_j cos x_j v_j²) + 2 x_{i+1} v_{i+1}
/// (indices mod n).
fn coupled_closed_form(x: &[f64], v: &[f64], c: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = x.len();
    let s: Vec<f64> = x.iter().map(|xi| xi.sin()).collect();
    let co: Vec<f64> = x.iter().map(|xi| xi.cos()).collect();
    let sigma = dot(&s, v);
    let cv2: f64 = (0..n).map(|j| co[j] * v[j] * v[j]).sum();
    let lx = (0..n).map(|k| x[k] * v[k] * v[k] + c * sigma * co[k] * v[k] + 2.0 * x[k] * v[(k + n - 1) % n]).collect();
    let mut lvv = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..n {
            lvv[i * n + j] = c * s[i] * s[j] + if i == j { 1.0 + x[i] * x[i] } else { 0.0 };
        }
    }
    let lvx_v = (0..n)
        .map(|i| {
            2.0 * x[i] * v[i] * v[i] + c * (co[i] * v[i] * sigma + s[i] * cv2) + 2.0 * x[(i + 1) % n] * v[(i + 1) % n]
        })
        .collect();
    (lx, lvv, lvx_v)
}

/// For the velocity-position coupled L = ½ vᵀA(x)v + b(x)·v the Euler–Lagrange terms
/// equal their hand-derived closed forms (n = 2..=12, all block layouts, incl. the
/// mirrored lower block triangle of ∂²L/∂v² for n ≥ 8).
#[test]
fn coupled_lagrangian_terms_equal_hand_derived_closed_form() {
    let mut r = seeded(11);
    for n in 2..=12 {
        let l = DualLagrangian::new(Coupled { n, c: 0.7 });
        let x = uniforms(&mut r, n, -1.5, 1.5);
        let v = normals(&mut r, n, 1.0);
        let (mut lx, mut lvv, mut lvx_v) = (vec![0.0; n], vec![f64::NAN; n * n], vec![f64::NAN; n]);
        l.euler_lagrange_terms(&x, &v, &mut lx, &mut lvv, &mut lvx_v).unwrap();
        let (ex, evv, evx) = coupled_closed_form(&x, &v, 0.7);
        assert!(rel_err(&lx, &ex) < 1e-13, "lx, n = {n}: {lx:?} vs {ex:?}");
        assert!(rel_err(&lvv, &evv) < 1e-13, "lvv, n = {n}: {lvv:?} vs {evv:?}");
        assert!(rel_err(&lvx_v, &evx) < 1e-13, "lvx_v, n = {n}: {lvx_v:?} vs {evx:?}");
    }
}

/// The brief's example L = ½ vᵀA(x)v, A(x) = diag(1 + x_i²):
/// ∂L/∂x_i = x_i v_i², ∂²L/∂v² = A(x), (∂²L/∂v∂x) v = 2 x_i v_i², ∂L/∂v = A(x) v.
#[test]
fn diagonal_metric_lagrangian_terms_equal_closed_form() {
    struct DiagMetric;
    impl LagrangianFn for DiagMetric {
        fn dim(&self) -> usize {
            3
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
            x.iter().zip(v).map(|(&xi, &vi)| (xi * xi + 1.0) * vi * vi).sum::<D>() * 0.5
        }
    }
    let l = DualLagrangian::new(DiagMetric);
    let (x, v) = ([0.5, -1.0, 2.0], [1.0, 3.0, -0.5]);
    let (mut lx, mut lvv, mut lvx_v, mut lv) = ([0.0; 3], [0.0; 9], [0.0; 3], [0.0; 3]);
    l.euler_lagrange_terms(&x, &v, &mut lx, &mut lvv, &mut lvx_v).unwrap();
    l.velocity_gradient(&x, &v, &mut lv).unwrap();
    for i in 0..3 {
        assert_eq!(lx[i], x[i] * v[i] * v[i]);
        assert_eq!(lvx_v[i], 2.0 * x[i] * v[i] * v[i]);
        assert_eq!(lv[i], (1.0 + x[i] * x[i]) * v[i]);
        for j in 0..3 {
            assert_eq!(lvv[i * 3 + j], if i == j { 1.0 + x[i] * x[i] } else { 0.0 });
        }
    }
}

/// Rayleigh R = ½ γ(x) |v|² · (1 + |v|²/2), γ(x) = 1 + x·x: ∂R/∂v = γ(x) v (1 + |v|²).
#[test]
fn rayleigh_velocity_gradient_equals_closed_form() {
    struct R(usize);
    impl RayleighFn for R {
        fn dim(&self) -> usize {
            self.0
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
            let gamma = x.iter().map(|&xi| xi * xi).sum::<D>() + 1.0;
            let v2 = v.iter().map(|&vi| vi * vi).sum::<D>();
            gamma * v2 * (v2 * 0.25 + 0.5)
        }
    }
    let mut r = seeded(12);
    for n in [1, 3, 9] {
        let ray = DualRayleigh::new(R(n));
        let x = normals(&mut r, n, 1.0);
        let v = normals(&mut r, n, 1.0);
        let mut rv = vec![0.0; n];
        ray.velocity_gradient(&x, &v, &mut rv).unwrap();
        let (gamma, v2) = (1.0 + dot(&x, &x), dot(&v, &v));
        let expect: Vec<f64> = v.iter().map(|vi| gamma * vi * (1.0 + v2)).collect();
        assert!(rel_err(&rv, &expect) < 1e-14);
        let rval = ray.value(&x, &v).unwrap();
        assert!((rval - gamma * v2 * (0.25 * v2 + 0.5)).abs() <= 1e-14 * rval.abs());
    }
}

// ---------------------------------------------------------------- bad input

fn is_dim_mismatch(e: Error, what: &str) -> bool {
    matches!(e, Error::DimensionMismatch { what: w, .. } if w == what)
}

fn is_non_finite(e: Error) -> bool {
    matches!(e, Error::NonFinite { .. })
}

/// Wrong slice lengths give Error::DimensionMismatch (naming the argument), never a panic.
#[test]
fn dimension_mismatch_is_a_typed_error() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let (x9, x10, mut g9, mut g10) = ([0.5; 9], [0.5; 10], [0.0; 9], [0.0; 10]);
    assert!(is_dim_mismatch(f.value(&x9).unwrap_err(), "x"));
    assert!(is_dim_mismatch(f.gradient(&x9, &mut g10).unwrap_err(), "x"));
    assert!(is_dim_mismatch(f.gradient(&x10, &mut g9).unwrap_err(), "g"));
    assert!(is_dim_mismatch(f.hvp(&x10, &x9, &mut g10).unwrap_err(), "v"));
    assert!(is_dim_mismatch(f.hvp(&x10, &x10, &mut g9).unwrap_err(), "hv"));
    assert!(is_dim_mismatch(f.grad_and_curvature(&x10, &x9, &mut g10).unwrap_err(), "v"));

    let e = DualEmbedding::new(Curvy);
    let (mut o3, mut o4) = ([0.0; 3], [0.0; 4]);
    assert!(is_dim_mismatch(e.value(&[0.0; 4], &mut o4).unwrap_err(), "x"));
    assert!(is_dim_mismatch(e.value(&[0.0; 3], &mut o3).unwrap_err(), "out"));
    assert!(is_dim_mismatch(e.jvp(&[0.0; 3], &[0.0; 4], &mut o4).unwrap_err(), "v"));
    assert!(is_dim_mismatch(e.vjp(&[0.0; 3], &[0.0; 3], &mut o3).unwrap_err(), "u"));
    assert!(is_dim_mismatch(e.vjp(&[0.0; 3], &[0.0; 4], &mut o4).unwrap_err(), "out"));
    assert!(is_dim_mismatch(e.second_directional(&[0.0; 3], &[0.0; 3], &mut o3).unwrap_err(), "out"));

    let l = DualLagrangian::new(Mechanical { n: 2, mass: 1.0 });
    let (mut a2, mut a4, mut b2) = ([0.0; 2], [0.0; 4], [0.0; 2]);
    assert!(is_dim_mismatch(l.value(&[0.0; 2], &[0.0; 3]).unwrap_err(), "v"));
    assert!(is_dim_mismatch(l.velocity_gradient(&[0.0; 2], &[0.0; 2], &mut o3).unwrap_err(), "lv"));
    let err = l.euler_lagrange_terms(&[0.0; 2], &[0.0; 2], &mut a2, &mut o3, &mut b2).unwrap_err();
    assert!(is_dim_mismatch(err, "lvv"));
    let err = l.euler_lagrange_terms(&[0.0; 2], &[0.0; 2], &mut a2, &mut a4, &mut o3).unwrap_err();
    assert!(is_dim_mismatch(err, "lvx_v"));
}

/// NaN / infinite inputs give Error::NonFinite; so do non-finite results
/// (√x at x = 0 has an infinite derivative), never a panic.
#[test]
fn non_finite_input_and_output_are_typed_errors() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let mut x = [0.5; 10];
    x[3] = f64::NAN;
    let (mut g, ok) = ([0.0; 10], [0.5; 10]);
    assert!(is_non_finite(f.value(&x).unwrap_err()));
    assert!(is_non_finite(f.gradient(&x, &mut g).unwrap_err()));
    assert!(is_non_finite(f.hvp(&ok, &x, &mut g).unwrap_err()));
    assert!(is_non_finite(f.grad_and_curvature(&ok, &x, &mut g).unwrap_err()));
    let mut inf = ok;
    inf[9] = f64::INFINITY;
    assert!(is_non_finite(f.hvp(&inf, &ok, &mut g).unwrap_err()));

    struct Sqrt;
    impl ScalarFn for Sqrt {
        fn dim(&self) -> usize {
            1
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
            x[0].sqrt()
        }
    }
    let s = DualObjective::new(Sqrt);
    let mut g1 = [0.0];
    assert_eq!(s.value(&[0.0]).unwrap(), 0.0);
    assert!(is_non_finite(s.gradient(&[0.0], &mut g1).unwrap_err()));
    assert!(is_non_finite(s.hvp(&[0.0], &[1.0], &mut g1).unwrap_err()));
    assert!(is_non_finite(s.value(&[-1.0]).unwrap_err()));

    let e = DualEmbedding::new(Curvy);
    let mut o4 = [0.0; 4];
    assert!(is_non_finite(e.jvp(&[0.0, f64::NAN, 0.0], &[1.0; 3], &mut o4).unwrap_err()));
    assert!(is_non_finite(e.vjp(&[0.0; 3], &[1.0, 1.0, f64::NAN, 1.0], &mut [0.0; 3]).unwrap_err()));

    let l = DualLagrangian::new(Mechanical { n: 2, mass: 1.0 });
    let (mut a, mut b, mut c) = ([0.0; 2], [0.0; 4], [0.0; 2]);
    let err = l.euler_lagrange_terms(&[0.0, 0.0], &[f64::NAN, 0.0], &mut a, &mut b, &mut c);
    assert!(is_non_finite(err.unwrap_err()));
}

/// Objects are Send + Sync and usable through &/Box/Arc, and calls from several threads
/// agree (thread-local scratch pools do not interfere).
#[test]
fn parallel_calls_agree() {
    let f = std::sync::Arc::new(DualObjective::new(Rosenbrock::<10>));
    let x: Vec<f64> = (0..10).map(|i| 0.1 * i as f64 - 0.3).collect();
    let mut g0 = [0.0; 10];
    f.gradient(&x, &mut g0).unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..100 {
                    let mut g = [0.0; 10];
                    f.gradient(&x, &mut g).unwrap();
                    assert_eq!(g, g0);
                }
            });
        }
    });
    // A user function that itself calls another backend object (re-entrant pools).
    struct Nested<'a>(&'a DualObjective<Rosenbrock<10>>);
    impl ScalarFn for Nested<'_> {
        fn dim(&self) -> usize {
            10
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
            let mut g = [0.0; 10];
            let re: Vec<f64> = x.iter().map(|d| d.re()).collect();
            let _ = self.0.gradient(&re, &mut g);
            rosenbrock(x) + D::from(g[0] * 0.0)
        }
    }
    let nested = DualObjective::new(Nested(&f));
    let mut g = [0.0; 10];
    nested.gradient(&x, &mut g).unwrap();
    assert_eq!(g, g0);
}

// ---------------------------------------------------------------- through the core seam

/// Through geodyn-core's LagrangianSystem: for L = ½ Σ (1 + x_i²) v_i² and R = ½ γ |v|²,
/// the Euler–Lagrange equation (1 + x_i²) a_i = x_i v_i² − 2 x_i v_i² − γ v_i gives
/// a_i = −(x_i v_i² + γ v_i) / (1 + x_i²).
#[test]
fn lagrangian_system_acceleration_equals_closed_form() {
    use geodyn_core::{LagrangianSystem, SecondOrderSystem};
    struct DiagMetric;
    impl LagrangianFn for DiagMetric {
        fn dim(&self) -> usize {
            3
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], v: &[D]) -> D {
            x.iter().zip(v).map(|(&xi, &vi)| (xi * xi + 1.0) * vi * vi).sum::<D>() * 0.5
        }
    }
    struct Friction;
    impl RayleighFn for Friction {
        fn dim(&self) -> usize {
            3
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _x: &[D], v: &[D]) -> D {
            v.iter().map(|&vi| vi * vi).sum::<D>() * (0.5 * 0.3)
        }
    }
    let sys = LagrangianSystem::new(DualLagrangian::new(DiagMetric)).with_friction(DualRayleigh::new(Friction));
    let (x, v) = ([0.5, -1.0, 2.0], [1.0, 3.0, -0.5]);
    let mut a = [0.0; 3];
    sys.acceleration(0.0, &x, &v, &mut a).unwrap();
    for i in 0..3 {
        let expect = -(x[i] * v[i] * v[i] + 0.3 * v[i]) / (1.0 + x[i] * x[i]);
        assert!((a[i] - expect).abs() <= 1e-14 * expect.abs().max(1.0), "{a:?}");
    }
}

/// Through geodyn-core's Pullback metric of the unit-sphere chart (θ, φ), G = diag(1,
/// sin²θ): the geodesic acceleration is (sin θ cos θ φ'², −2 cot θ θ' φ').
#[test]
fn pullback_sphere_geodesic_acceleration_equals_christoffel_closed_form() {
    use geodyn_core::{Metric, Pullback};
    struct Sphere;
    impl VectorFn for Sphere {
        fn input_dim(&self) -> usize {
            2
        }
        fn output_dim(&self) -> usize {
            3
        }
        fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D], out: &mut [D]) {
            let (st, ct) = x[0].sin_cos();
            let (sp, cp) = x[1].sin_cos();
            out[0] = st * cp;
            out[1] = st * sp;
            out[2] = ct;
        }
    }
    let g = Pullback::new(DualEmbedding::new(Sphere), 0.0).unwrap();
    let mut r = seeded(13);
    for _ in 0..10 {
        let x = [r.random_range(0.3..2.8), r.random_range(-3.0..3.0)];
        let v = normals(&mut r, 2, 1.0);
        let mut acc = [0.0; 2];
        g.geodesic_acceleration(&x, &v, &mut acc).unwrap();
        let (s, c) = x[0].sin_cos();
        let expect = [s * c * v[1] * v[1], -2.0 * c / s * v[0] * v[1]];
        assert!(rel_err(&acc, &expect) < 1e-8, "{acc:?} vs {expect:?}");
    }
}

// ---------------------------------------------------------------- no allocation

#[global_allocator]
static GLOBAL: geodyn_testkit::alloc::CountingAlloc = geodyn_testkit::alloc::CountingAlloc;

use geodyn_testkit::alloc::count_allocs as allocations_during;

/// After one warm-up call per method, every derivative call makes zero heap allocations
/// (dual-number work buffers come from the thread-local pool).
#[test]
fn no_allocation_after_warm_up() {
    let f = DualObjective::new(Rosenbrock::<10>);
    let e = DualEmbedding::new(Curvy);
    let l = DualLagrangian::new(Coupled { n: 10, c: 0.7 });
    let x: Vec<f64> = (0..10).map(|i| 0.1 * i as f64 - 0.4).collect();
    let v: Vec<f64> = (0..10).map(|i| 0.3 - 0.05 * i as f64).collect();
    let (mut g, mut hv, mut o4, mut o3) = ([0.0; 10], [0.0; 10], [0.0; 4], [0.0; 3]);
    let (mut lx, mut lvv, mut lvx_v) = ([0.0; 10], [0.0; 100], [0.0; 10]);
    let mut run = || {
        f.value(&x).unwrap();
        f.gradient(&x, &mut g).unwrap();
        f.hvp(&x, &v, &mut hv).unwrap();
        f.grad_and_curvature(&x, &v, &mut g).unwrap();
        e.value(&x[..3], &mut o4).unwrap();
        e.jvp(&x[..3], &v[..3], &mut o4).unwrap();
        e.vjp(&x[..3], &v[..4], &mut o3).unwrap();
        e.second_directional(&x[..3], &v[..3], &mut o4).unwrap();
        l.velocity_gradient(&x, &v, &mut g).unwrap();
        l.euler_lagrange_terms(&x, &v, &mut lx, &mut lvv, &mut lvx_v).unwrap();
    };
    run();
    assert_eq!(allocations_during(&mut run), 0);
    assert_eq!(allocations_during(&mut run), 0);
}
