//! Dense output shared by the methods without a Runge–Kutta interpolant: the cubic
//! Hermite interpolant of a step from its end positions and velocities.

/// Cubic Hermite interpolation of position and velocity over a step of size `h` from
/// `(x0, v0)` to `(x1, v1)`, at θ ∈ [0, 1].
pub(crate) fn hermite(
    (x0, v0): (&[f64], &[f64]),
    (x1, v1): (&[f64], &[f64]),
    h: f64,
    theta: f64,
    xo: &mut [f64],
    vo: &mut [f64],
) {
    let (s, s2, s3) = (theta, theta * theta, theta * theta * theta);
    let (h00, h10, h01, h11) = (2.0 * s3 - 3.0 * s2 + 1.0, s3 - 2.0 * s2 + s, -2.0 * s3 + 3.0 * s2, s3 - s2);
    let (d00, d10, d11) = (6.0 * s2 - 6.0 * s, 3.0 * s2 - 4.0 * s + 1.0, 3.0 * s2 - 2.0 * s);
    for j in 0..x0.len() {
        xo[j] = h00 * x0[j] + h10 * h * v0[j] + h01 * x1[j] + h11 * h * v1[j];
        vo[j] = d00 * (x0[j] - x1[j]) / h + d10 * v0[j] + d11 * v1[j];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Hermite interpolant reproduces a cubic x(t) = t³ − t and its derivative
    /// exactly from the end values and slopes.
    #[test]
    fn hermite_is_exact_on_cubics() {
        let (h, t0) = (0.5, 0.3);
        let x = |t: f64| t * t * t - t;
        let dx = |t: f64| 3.0 * t * t - 1.0;
        let (mut xo, mut vo) = ([0.0], [0.0]);
        for theta in [0.0, 0.25, 0.6, 1.0] {
            hermite((&[x(t0)], &[dx(t0)]), (&[x(t0 + h)], &[dx(t0 + h)]), h, theta, &mut xo, &mut vo);
            let t = t0 + theta * h;
            assert!((xo[0] - x(t)).abs() < 1e-14 && (vo[0] - dx(t)).abs() < 1e-13, "θ = {theta}");
        }
    }
}
