//! The Laplace inputs built from any `ModelObjective`: on the linear model
//! f_θ(x) = θ₀ + θ₁x the output Jacobian is J = [1, x] for every θ, so JᵀJ is
//! [[N, Σx], [Σx, Σx²]] in closed form, and the residuals are known.

use geodyn_core::{Embedding, ModelObjective, ModelOutputs, Objective, Result};
use geodyn_samplers::{EvidenceInputs, GgnSpectrum, regression_laplace_at};

/// f_θ(x) = θ₀ + θ₁x at the inputs `xs`, squared loss ½Σ(f − y)², no prior.
struct Line {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Objective for Line {
    fn dim(&self) -> usize {
        2
    }
    fn value(&self, t: &[f64]) -> Result<f64> {
        Ok(self.xs.iter().zip(&self.ys).map(|(x, y)| 0.5 * (t[0] + t[1] * x - y).powi(2)).sum())
    }
    fn gradient(&self, t: &[f64], g: &mut [f64]) -> Result<f64> {
        g.fill(0.0);
        for (x, y) in self.xs.iter().zip(&self.ys) {
            let r = t[0] + t[1] * x - y;
            g[0] += r;
            g[1] += r * x;
        }
        self.value(t)
    }
    fn hvp(&self, t: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        self.ggn_vp(t, v, hv)
    }
}

impl ModelObjective for Line {
    fn num_outputs(&self) -> usize {
        self.xs.len()
    }
    fn outputs(&self, t: &[f64], out: &mut [f64]) -> Result<()> {
        for (o, x) in out.iter_mut().zip(&self.xs) {
            *o = t[0] + t[1] * x;
        }
        Ok(())
    }
    fn jvp(&self, _t: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.outputs(v, out)
    }
    fn vjp(&self, _t: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        out[0] = u.iter().sum();
        out[1] = u.iter().zip(&self.xs).map(|(u, x)| u * x).sum();
        Ok(())
    }
    fn ggn_vp(&self, t: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let mut jv = vec![0.0; self.xs.len()];
        self.jvp(t, v, &mut jv)?;
        self.vjp(t, &jv, out)
    }
    fn outputs_second_directional(&self, _t: &[f64], _v: &[f64], out: &mut [f64]) -> Result<()> {
        out.fill(0.0);
        Ok(())
    }
    fn predict(&self, _p: &[f64], _i: &[f64], _o: &mut [f64]) -> Result<()> {
        Ok(())
    }
}

/// The spectrum of JᵀJ = [[N, Σx], [Σx, Σx²]] is its two closed-form eigenvalues
/// (tr ± √(tr² − 4 det))/2, and the SSE and the evidence inputs are the residuals'.
#[test]
fn spectrum_and_residuals_of_a_linear_model_are_closed_form() {
    let xs = vec![-1.0, 0.5, 2.0, 3.0];
    let ys = vec![0.3, 1.1, 2.2, 3.9];
    let line = Line { xs: xs.clone(), ys: ys.clone() };
    let theta = [0.2, 1.1];
    let (n, sx, sxx) = (4.0, xs.iter().sum::<f64>(), xs.iter().map(|x| x * x).sum::<f64>());
    let (tr, det) = (n + sxx, n * sxx - sx * sx);
    let disc = (tr * tr - 4.0 * det).sqrt();
    let (lo, hi) = (0.5 * (tr - disc), 0.5 * (tr + disc));
    let spectrum = GgnSpectrum::of_outputs(&line, &theta).unwrap();
    let e = spectrum.eigenvalues();
    assert!((e[0] - lo).abs() < 1e-12 * hi && (e[1] - hi).abs() < 1e-12 * hi, "{e:?} vs {lo}, {hi}");

    let (spectrum, sse) = regression_laplace_at(&line, &theta, &ys).unwrap();
    let expect: f64 = xs.iter().zip(&ys).map(|(x, y)| (theta[0] + theta[1] * x - y).powi(2)).sum();
    assert!((sse - expect).abs() < 1e-14, "{sse} vs {expect}");
    let inp = EvidenceInputs::regression(4, &spectrum, sse, &theta);
    assert_eq!(inp.theta_sq, 0.2 * 0.2 + 1.1 * 1.1);
    assert!(inp.regression && inp.n == 4);

    // Wrong target length is a typed error, not a panic.
    assert!(regression_laplace_at(&line, &theta, &ys[..3]).is_err());
}

/// `ModelOutputs` is the embedding θ ↦ f_θ(x_{1..N}) with the model's J v and Jᵀu.
#[test]
fn model_outputs_embedding_forwards_the_model() {
    let line = Line { xs: vec![1.0, 2.0], ys: vec![0.0, 0.0] };
    let e = ModelOutputs::new(&line);
    assert_eq!((e.input_dim(), e.output_dim()), (2, 2));
    let mut f = [0.0; 2];
    e.jvp(&[0.0, 0.0], &[1.0, -1.0], &mut f).unwrap();
    assert_eq!(f, [0.0, -1.0]);
    let mut g = [0.0; 2];
    e.vjp(&[0.0, 0.0], &[1.0, 1.0], &mut g).unwrap();
    assert_eq!(g, [2.0, 3.0]);
}
