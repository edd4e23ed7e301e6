//! Small reference routines for the tests: a dense solve, error norms, Simpson's rule
//! and the least-squares fitted order of convergence.

/// Solves a dense row-major system by Gaussian elimination (test reference only).
pub fn dense_solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut m = a.to_vec();
    let mut x = b.to_vec();
    for c in 0..n {
        let p = (c..n).max_by(|&i, &j| m[i * n + c].abs().total_cmp(&m[j * n + c].abs())).unwrap();
        for k in 0..n {
            m.swap(c * n + k, p * n + k);
        }
        x.swap(c, p);
        for r in c + 1..n {
            let f = m[r * n + c] / m[c * n + c];
            for k in c..n {
                m[r * n + k] -= f * m[c * n + k];
            }
            x[r] -= f * x[c];
        }
    }
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|k| m[r * n + k] * x[k]).sum();
        x[r] = (x[r] - s) / m[r * n + r];
    }
    x
}

/// max_i |a_i − b_i| / max(1, max_i |b_i|).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

/// Composite Simpson rule on an odd number of equally spaced samples.
pub fn simpson(h: f64, f: &[f64]) -> f64 {
    let n = f.len();
    assert!(n % 2 == 1 && n >= 3);
    let mut s = f[0] + f[n - 1];
    for (i, fi) in f.iter().enumerate().take(n - 1).skip(1) {
        s += if i % 2 == 1 { 4.0 * fi } else { 2.0 * fi };
    }
    s * h / 3.0
}

/// The Euclidean distance |a − b|.
pub fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt()
}

/// The least-squares slope of ln e against ln h over the points (h, e): the fitted order
/// of convergence when e ≈ C hᵖ.
pub fn fitted_order(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    let (lx, ly): (Vec<f64>, Vec<f64>) = points.iter().map(|&(h, e)| (h.ln(), e.ln())).unzip();
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}
