//! Full-batch Adam on objectives with known minima.

use geodyn_core::{Objective, Result};
use geodyn_nn::{Adam, WeightDecay};

/// f(x) = ½ Σ aᵢ (xᵢ − cᵢ)²: minimum at c, ∇f = a ⊙ (x − c), H = diag(a).
struct Quadratic {
    a: Vec<f64>,
    c: Vec<f64>,
}

impl Objective for Quadratic {
    fn dim(&self) -> usize {
        self.a.len()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        Ok(0.5 * x.iter().zip(&self.a).zip(&self.c).map(|((x, a), c)| a * (x - c) * (x - c)).sum::<f64>())
    }
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        for (((g, x), a), c) in g.iter_mut().zip(x).zip(&self.a).zip(&self.c) {
            *g = a * (x - c);
        }
        self.value(x)
    }
    fn hvp(&self, _x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        for ((h, v), a) in hv.iter_mut().zip(v).zip(&self.a) {
            *h = a * v;
        }
        Ok(())
    }
}

fn quadratic() -> Quadratic {
    Quadratic { a: vec![1.0, 10.0, 0.1], c: vec![1.0, -2.0, 3.0] }
}

/// Adam reaches the minimiser c of an ill-conditioned quadratic (condition number 100)
/// to |∇f| ≤ 1e-8, and reports convergence; the value history decreases overall.
#[test]
fn adam_minimises_a_quadratic() {
    let q = quadratic();
    let mut x = vec![0.0; 3];
    let adam = Adam { lr: 0.05, max_epochs: 20_000, grad_tol: 1e-8, ..Adam::default() };
    let r = adam.minimize(&q, &mut x).unwrap();
    assert!(r.converged, "{r:?}");
    assert!(r.grad_norm <= 1e-8 && r.value < 1e-15);
    for (x, c) in x.iter().zip(&q.c) {
        assert!((x - c).abs() < 1e-6, "{x} vs {c}");
    }
    assert_eq!(r.history.len(), r.epochs + 1);
    assert!(r.history.last().unwrap() < &(1e-3 * r.history[0]));
}

/// The first step is PyTorch's: with bias correction m̂ = g, v̂ = g², so
/// θ₁ = θ₀ − lr · g/(|g| + ε) componentwise.
#[test]
fn adam_first_step_matches_pytorch_rule() {
    let q = quadratic();
    let mut x = vec![0.0; 3];
    let lr = 0.01;
    let adam = Adam { lr, max_epochs: 1, ..Adam::default() };
    adam.minimize(&q, &mut x).unwrap();
    let mut g = vec![0.0; 3];
    q.gradient(&[0.0; 3], &mut g).unwrap();
    for (x, g) in x.iter().zip(&g) {
        assert!((x - (-lr * g / (g.abs() + 1e-8))).abs() < 1e-15);
    }
}

/// L2 weight decay w (PyTorch `Adam(weight_decay=w)`) minimises f + ½w|x|²: for the
/// quadratic the minimiser is aᵢcᵢ/(aᵢ + w). Decoupled decay (AdamW) shrinks toward 0
/// too, to a different point.
#[test]
fn adam_weight_decay_variants() {
    let q = quadratic();
    let w = 0.5;
    let mut x = vec![0.0; 3];
    let adam = Adam { lr: 0.02, weight_decay: w, max_epochs: 50_000, grad_tol: 1e-9, ..Adam::default() };
    let r = adam.minimize(&q, &mut x).unwrap();
    assert!(r.converged);
    for ((x, a), c) in x.iter().zip(&q.a).zip(&q.c) {
        assert!((x - a * c / (a + w)).abs() < 1e-6);
    }
    let mut y = vec![0.0; 3];
    Adam { decay: WeightDecay::Decoupled, max_epochs: 5000, grad_tol: 0.0, ..adam }.minimize(&q, &mut y).unwrap();
    assert!(y.iter().zip(&q.c).all(|(y, c)| y.abs() < c.abs()));
}

/// Invalid settings and dimension mismatches are errors, not panics.
#[test]
fn adam_rejects_bad_settings() {
    let q = quadratic();
    assert!(Adam { lr: -1.0, ..Adam::default() }.minimize(&q, &mut [0.0; 3]).is_err());
    assert!(Adam { beta1: 1.0, ..Adam::default() }.minimize(&q, &mut [0.0; 3]).is_err());
    assert!(Adam::default().minimize(&q, &mut [0.0; 2]).is_err());
}
