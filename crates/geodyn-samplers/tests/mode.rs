//! `find_mode`: L-BFGS then Newton to an exact minimum.
use geodyn_core::{Error as CoreError, Objective, Result as CoreResult};
use geodyn_samplers::{ModeSearch, SamplerError, find_mode};

/// Ridge regression L(θ) = ½|Aθ − y|² + ½λ|θ|² with a badly scaled design (columns
/// scaled 1 … 1e3): the minimiser solves (AᵀA + λI)θ = Aᵀy exactly.
struct Ridge {
    a: Vec<f64>,
    y: Vec<f64>,
    n: usize,
    k: usize,
    lambda: f64,
}

impl Ridge {
    fn new() -> Self {
        let (n, k) = (12, 5);
        let mut a = vec![0.0; n * k];
        for i in 0..n {
            for j in 0..k {
                let t = (i as f64 + 1.0) * 0.37 + (j as f64) * 1.1;
                a[i * k + j] = t.sin() * 10f64.powi(j as i32 - 2).clamp(1.0, 1e3) * (1.0 + 0.5 * j as f64);
            }
        }
        let y = (0..n).map(|i| (i as f64 * 0.7).cos() + 0.1 * i as f64).collect();
        Self { a, y, n, k, lambda: 0.3 }
    }
    fn residual(&self, x: &[f64]) -> Vec<f64> {
        (0..self.n).map(|i| (0..self.k).map(|j| self.a[i * self.k + j] * x[j]).sum::<f64>() - self.y[i]).collect()
    }
    /// The normal equations by Gaussian elimination with partial pivoting.
    fn exact(&self) -> Vec<f64> {
        let k = self.k;
        let mut m = vec![0.0; k * (k + 1)];
        for r in 0..k {
            for c in 0..k {
                m[r * (k + 1) + c] = (0..self.n).map(|i| self.a[i * k + r] * self.a[i * k + c]).sum::<f64>()
                    + if r == c { self.lambda } else { 0.0 };
            }
            m[r * (k + 1) + k] = (0..self.n).map(|i| self.a[i * k + r] * self.y[i]).sum();
        }
        for c in 0..k {
            let p = (c..k).max_by(|&i, &j| m[i * (k + 1) + c].abs().total_cmp(&m[j * (k + 1) + c].abs())).unwrap();
            for j in 0..=k {
                m.swap(c * (k + 1) + j, p * (k + 1) + j);
            }
            for r in c + 1..k {
                let f = m[r * (k + 1) + c] / m[c * (k + 1) + c];
                for j in c..=k {
                    m[r * (k + 1) + j] -= f * m[c * (k + 1) + j];
                }
            }
        }
        let mut x = vec![0.0; k];
        for r in (0..k).rev() {
            let s: f64 = (r + 1..k).map(|j| m[r * (k + 1) + j] * x[j]).sum();
            x[r] = (m[r * (k + 1) + k] - s) / m[r * (k + 1) + r];
        }
        x
    }
}

impl Objective for Ridge {
    fn dim(&self) -> usize {
        self.k
    }
    fn value(&self, x: &[f64]) -> CoreResult<f64> {
        let r = self.residual(x);
        Ok(0.5 * r.iter().map(|v| v * v).sum::<f64>() + 0.5 * self.lambda * x.iter().map(|v| v * v).sum::<f64>())
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> CoreResult<f64> {
        let r = self.residual(x);
        for j in 0..self.k {
            g[j] = (0..self.n).map(|i| self.a[i * self.k + j] * r[i]).sum::<f64>() + self.lambda * x[j];
        }
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> CoreResult<()> {
        let av: Vec<f64> = (0..self.n).map(|i| (0..self.k).map(|j| self.a[i * self.k + j] * v[j]).sum()).collect();
        for j in 0..self.k {
            hv[j] = (0..self.n).map(|i| self.a[i * self.k + j] * av[i]).sum::<f64>() + self.lambda * v[j];
        }
        Ok(())
    }
}

#[test]
fn ridge_minimiser_matches_the_normal_equations() {
    let ridge = Ridge::new();
    let exact = ridge.exact();
    let mut theta = vec![0.0; ridge.k];
    let report = find_mode(&ridge, &mut theta, &ModeSearch::default()).unwrap();
    assert!(report.converged, "{report:?}");
    for (t, e) in theta.iter().zip(&exact) {
        assert!((t - e).abs() <= 1e-9 * e.abs().max(1.0), "{t} vs {e}");
    }
    // a quadratic's Hessian is positive definite (λ > 0): at least λ
    assert!(report.min_hessian_eigenvalue.unwrap() >= ridge.lambda * (1.0 - 1e-9));
    assert!(report.value <= report.initial_value);
}

#[test]
fn newton_alone_solves_a_quadratic_in_one_step() {
    // Newton's step on a quadratic lands on the minimiser: one accepted step.
    let ridge = Ridge::new();
    let mut theta = vec![0.0; ridge.k];
    let opts = ModeSearch { max_lbfgs_iters: 0, ..ModeSearch::default() };
    let report = find_mode(&ridge, &mut theta, &opts).unwrap();
    assert_eq!(report.lbfgs_iterations, 0);
    assert!(report.converged && report.newton_iterations <= 2, "{report:?}");
}

/// The double well L = ¼x⁴ − ½x² + ½y²: minima at x = ±1, y = 0, a saddle
/// at the origin with Hessian diag(−1, 1).
struct DoubleWell;
impl Objective for DoubleWell {
    fn dim(&self) -> usize {
        2
    }
    fn value(&self, x: &[f64]) -> CoreResult<f64> {
        Ok(0.25 * x[0].powi(4) - 0.5 * x[0] * x[0] + 0.5 * x[1] * x[1])
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> CoreResult<f64> {
        g[0] = x[0].powi(3) - x[0];
        g[1] = x[1];
        self.value(x)
    }
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> CoreResult<()> {
        hv[0] = (3.0 * x[0] * x[0] - 1.0) * v[0];
        hv[1] = v[1];
        Ok(())
    }
}

#[test]
fn newton_leaves_a_saddle_region_for_the_minimum() {
    // Started where the Hessian is indefinite, Newton alone (shifted) must descend to the
    // minimum x = 1 (L = −¼), where the Hessian is diag(2, 1).
    let mut theta = [0.05, 0.7];
    let opts = ModeSearch { max_lbfgs_iters: 0, ..ModeSearch::default() };
    let report = find_mode(&DoubleWell, &mut theta, &opts).unwrap();
    assert!(report.converged, "{report:?}");
    assert!((theta[0] - 1.0).abs() < 1e-10 && theta[1].abs() < 1e-10, "{theta:?}");
    assert!((report.value + 0.25).abs() < 1e-14);
    let eig = report.min_hessian_eigenvalue.unwrap();
    assert!(eig > 0.9 && eig <= 1.0 + 1e-9, "smallest eigenvalue at the minimum is 1, got {eig}");
}

#[test]
fn lbfgs_alone_reaches_the_minimum_without_newton() {
    let mut theta = [0.3, -0.4];
    let opts = ModeSearch { max_newton_iters: 0, grad_rtol: 1e-8, ..ModeSearch::default() };
    let report = find_mode(&DoubleWell, &mut theta, &opts).unwrap();
    assert_eq!(report.newton_iterations, 0);
    assert_eq!(report.min_hessian_eigenvalue, None);
    assert!(report.converged && report.grad_norm <= 1e-8, "{report:?}");
    assert!((theta[0] - 1.0).abs() < 1e-7);
}

#[test]
fn a_stationary_start_is_returned_unchanged() {
    let mut theta = [-1.0, 0.0];
    let report = find_mode(&DoubleWell, &mut theta, &ModeSearch::default()).unwrap();
    assert_eq!(theta, [-1.0, 0.0]);
    assert_eq!((report.lbfgs_iterations, report.newton_iterations), (0, 0));
    assert!(report.converged);
}

/// L = (x − 2)² on the domain |x| ≤ 1 only: outside it the objective returns an error,
/// as a model might where it overflows. The minimiser lies outside the domain.
struct Fenced;
impl Objective for Fenced {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, x: &[f64]) -> CoreResult<f64> {
        if x[0].abs() > 1.0 { Err(CoreError::NonFinite { what: "fenced objective" }) } else { Ok((x[0] - 2.0).powi(2)) }
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> CoreResult<f64> {
        g[0] = 2.0 * (x[0] - 2.0);
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> CoreResult<()> {
        hv[0] = 2.0 * v[0];
        Ok(())
    }
}

#[test]
fn failing_trial_points_are_rejected_and_never_returned() {
    // Every trial point the searches propose beyond x = 1 fails; the search must still
    // descend inside the domain and return a point where the objective works.
    let mut theta = [-0.5];
    let report = find_mode(&Fenced, &mut theta, &ModeSearch::default()).unwrap();
    assert!(theta[0].abs() <= 1.0 && theta[0] > -0.5, "{theta:?}");
    assert!(report.value < report.initial_value && !report.converged, "{report:?}");
    assert_eq!(report.value, Fenced.value(&theta).unwrap());
}

#[test]
fn objective_errors_and_bad_input_are_typed_errors() {
    // The objective failing at the start comes back as its own error.
    let mut outside = [3.0];
    let err = find_mode(&Fenced, &mut outside, &ModeSearch::default()).unwrap_err();
    assert!(matches!(err, SamplerError::Core(CoreError::NonFinite { what: "fenced objective" })), "{err:?}");
    assert_eq!(outside, [3.0]);
    let mut nan = [f64::NAN, 0.0];
    assert!(matches!(
        find_mode(&DoubleWell, &mut nan, &ModeSearch::default()),
        Err(SamplerError::Core(CoreError::NonFinite { .. }))
    ));
    let mut short = [0.0];
    assert!(matches!(find_mode(&DoubleWell, &mut short, &ModeSearch::default()), Err(SamplerError::InvalidSetting(_))));
    let mut theta = [0.5, 0.5];
    let bad = ModeSearch { memory: 0, ..ModeSearch::default() };
    assert!(matches!(find_mode(&DoubleWell, &mut theta, &bad), Err(SamplerError::InvalidSetting(_))));
}
