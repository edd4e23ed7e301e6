//! Losses, the Gaussian prior and the negative log posterior.

use geodyn_nn::{Dataset, GaussianPrior, Loss, ModelSpec, Target, gaussian_nll_constant, negative_log_posterior};

fn fd_grad(loss: &Loss, f: &[f64], y: Target<'_>) -> Vec<f64> {
    let h = 1e-6;
    let mut g = vec![0.0; f.len()];
    let mut tmp = vec![0.0; f.len()];
    for j in 0..f.len() {
        let (mut p, mut m) = (f.to_vec(), f.to_vec());
        p[j] += h;
        m[j] -= h;
        g[j] = (loss.value_grad(&p, y, &mut tmp) - loss.value_grad(&m, y, &mut tmp)) / (2.0 * h);
    }
    g
}

/// Gaussian NLL: ℓ = |f − y|²/(2σ²), ∂ℓ/∂f = (f − y)/σ², Λ = I/σ²; with the constant
/// m(ln σ + ½ ln 2π) it equals −log N(y; f, σ²I).
#[test]
fn gaussian_nll_closed_form() {
    let loss = Loss::gaussian(0.5).unwrap();
    let (f, y) = ([1.0, -2.0], [0.5, -1.0]);
    let mut g = [0.0; 2];
    let v = loss.value_grad(&f, Target::Value(&y), &mut g);
    assert!((v - (0.25 + 1.0) / (2.0 * 0.25)).abs() < 1e-15);
    assert_eq!(g, [0.5 / 0.25, -1.0 / 0.25]);
    let mut hu = [0.0; 2];
    loss.hess_vec(&f, &[1.0, 3.0], &mut hu);
    assert_eq!(hu, [4.0, 12.0]);
    // Full negative log density of N(y; f, σ²) for one sample, m = 2.
    let logpdf: f64 = f
        .iter()
        .zip(&y)
        .map(|(f, y)| -0.5 * ((f - y) / 0.5f64).powi(2) - 0.5f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln())
        .sum();
    assert!((v + gaussian_nll_constant(1, 2, 0.5) + logpdf).abs() < 1e-14);
    assert!(Loss::gaussian(0.0).is_err() && Loss::gaussian(f64::NAN).is_err());
}

/// Softmax cross-entropy with label smoothing ε equals −Σ_c q_c log softmax(f)_c with
/// q = (1−ε) onehot + ε/C (PyTorch's definition), its gradient is p − q (checked by
/// central differences), and it is invariant to adding a constant to all logits.
#[test]
fn cross_entropy_with_label_smoothing() {
    let f = [1.5, -0.3, 0.2, 2.1];
    for eps in [0.0, 0.1, 0.3] {
        let loss = Loss::cross_entropy(eps).unwrap();
        let c = 2;
        let mut g = [0.0; 4];
        let v = loss.value_grad(&f, Target::Class(c), &mut g);
        let z: f64 = f.iter().map(|x| x.exp()).sum();
        let q = |j: usize| eps / 4.0 + if j == c { 1.0 - eps } else { 0.0 };
        let direct: f64 = (0..4).map(|j| -q(j) * (f[j].exp() / z).ln()).sum();
        assert!((v - direct).abs() < 1e-14, "ε = {eps}: {v} vs {direct}");
        for j in 0..4 {
            assert!((g[j] - (f[j].exp() / z - q(j))).abs() < 1e-15);
        }
        let fd = fd_grad(&loss, &f, Target::Class(c));
        for (a, b) in g.iter().zip(&fd) {
            assert!((a - b).abs() < 1e-8, "{g:?} vs {fd:?}");
        }
        let shifted: Vec<f64> = f.iter().map(|x| x + 1000.0).collect();
        let v2 = loss.value_grad(&shifted, Target::Class(c), &mut g);
        assert!((v - v2).abs() < 1e-10, "logsumexp is stabilised: {v} vs {v2}");
    }
    assert!(Loss::cross_entropy(1.0).is_err() && Loss::cross_entropy(-0.1).is_err());
}

/// Λu for softmax equals (diag(p) − ppᵀ) u and the central difference of the gradient
/// in direction u.
#[test]
fn cross_entropy_output_hessian() {
    let loss = Loss::cross_entropy(0.2).unwrap();
    let f = [0.3, -1.1, 0.8];
    let u = [0.5, 2.0, -1.0];
    let mut hu = [0.0; 3];
    loss.hess_vec(&f, &u, &mut hu);
    let z: f64 = f.iter().map(|x| x.exp()).sum();
    let p: Vec<f64> = f.iter().map(|x| x.exp() / z).collect();
    let pu: f64 = p.iter().zip(&u).map(|(a, b)| a * b).sum();
    let h = 1e-6;
    let (mut gp, mut gm) = ([0.0; 3], [0.0; 3]);
    let fp: Vec<f64> = f.iter().zip(&u).map(|(f, u)| f + h * u).collect();
    let fm: Vec<f64> = f.iter().zip(&u).map(|(f, u)| f - h * u).collect();
    loss.value_grad(&fp, Target::Class(1), &mut gp);
    loss.value_grad(&fm, Target::Class(1), &mut gm);
    for j in 0..3 {
        assert!((hu[j] - (p[j] * u[j] - p[j] * pu)).abs() < 1e-15);
        assert!((hu[j] - (gp[j] - gm[j]) / (2.0 * h)).abs() < 1e-8);
    }
}

/// The prior ½λ|θ|² has gradient λθ and −log N(θ; 0, λ⁻¹I) = ½λ|θ|² + K/2 ln(2π/λ).
#[test]
fn gaussian_prior() {
    let p = GaussianPrior::new(2.0).unwrap();
    let theta = [1.0, -2.0, 0.5];
    assert_eq!(p.value(&theta), 0.5 * 2.0 * 5.25);
    let mut g = [1.0; 3];
    p.add_gradient(&theta, &mut g);
    assert_eq!(g, [3.0, -3.0, 2.0]);
    let logpdf: f64 = theta.iter().map(|t| -0.5 * 2.0 * t * t + 0.5 * (2.0 / (2.0 * std::f64::consts::PI)).ln()).sum();
    assert!((p.value(&theta) + p.log_normalizer(3) + logpdf).abs() < 1e-14);
    assert!(GaussianPrior::new(-1.0).is_err());
}

/// DiMS eq. 1 up to constants: L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|², here for a 1-2-1
/// tanh network written out by hand.
#[test]
fn negative_log_posterior_sums_data_term_and_prior() {
    let spec: ModelSpec = "1-2-1:tanh".parse().unwrap();
    let theta = [0.3, -0.8, 0.1, 0.2, 1.5, -0.7, 0.05];
    let data = Dataset::regression(vec![-1.0, 0.5, 2.0], 1, vec![0.2, -0.1, 0.4], 1).unwrap();
    let sigma = 0.3;
    let lambda = 0.7;
    let net = |x: f64| {
        let h0 = (theta[0] * x + theta[2]).tanh();
        let h1 = (theta[1] * x + theta[3]).tanh();
        theta[4] * h0 + theta[5] * h1 + theta[6]
    };
    let want: f64 = [(-1.0, 0.2), (0.5, -0.1), (2.0, 0.4)]
        .iter()
        .map(|&(x, y)| (net(x) - y) * (net(x) - y) / (2.0 * sigma * sigma))
        .sum::<f64>()
        + 0.5 * lambda * theta.iter().map(|t| t * t).sum::<f64>();
    let got = negative_log_posterior(
        &spec,
        &data,
        &Loss::gaussian(sigma).unwrap(),
        &GaussianPrior::new(lambda).unwrap(),
        &theta,
    )
    .unwrap();
    assert!((got - want).abs() < 1e-13, "{got} vs {want}");
    // Mismatched loss / targets are reported, not panicked on.
    let e = negative_log_posterior(
        &spec,
        &data,
        &Loss::cross_entropy(0.0).unwrap(),
        &GaussianPrior::new(lambda).unwrap(),
        &theta,
    );
    assert!(e.is_err());
}
