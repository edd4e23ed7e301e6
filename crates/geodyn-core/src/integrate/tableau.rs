//! Butcher tableaus of the explicit 7-stage first-same-as-last Runge–Kutta 5(4) pairs
//! (Tsitouras; Dormand–Prince), each with its free 4th-order dense output.

// The stage loops index several arrays of the tableau and the state at once.
#![allow(clippy::needless_range_loop)]

/// Stages of the 5(4) pairs (7, the last first-same-as-last).
pub(crate) const STAGES: usize = 7;

/// An explicit 7-stage first-same-as-last Runge–Kutta 5(4) pair with a free
/// 4th-order dense output.
pub(crate) struct Tableau {
    pub(crate) c: [f64; STAGES],
    pub(crate) a: [[f64; STAGES]; STAGES],
    /// 5th-order weights (the last row of `a`).
    pub(crate) b: [f64; STAGES],
    /// Error weights b − b̂.
    pub(crate) d: [f64; STAGES],
    /// Dense output: b_i(θ) = Σ_k p[i][k] θ^{k+1}.
    pub(crate) p: [[f64; 4]; STAGES],
}

impl Tableau {
    /// Tsitouras' 5(4) pair (Ch. Tsitouras, Comput. Math. Appl. 62 (2011) 770–775), the
    /// same coefficients as diffsol's Tsit45.
    pub(crate) fn tsit5() -> Self {
        let c = [0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0];
        let b = [
            0.09646076681806523,
            0.01,
            0.4798896504144996,
            1.379008574103742,
            -3.290069515436081,
            2.324710524099774,
            0.0,
        ];
        let mut a = [[0.0; STAGES]; STAGES];
        a[2][1] = 0.335480655492357;
        a[3][1] = -6.359448489975075;
        a[3][2] = 4.362295432869581;
        a[4][1] = -11.74888356406283;
        a[4][2] = 7.495539342889836;
        a[4][3] = -0.09249506636175525;
        a[5][1] = -12.92096931784711;
        a[5][2] = 8.159367898576159;
        a[5][3] = -0.071584973281401;
        a[5][4] = -0.02826905039406838;
        for i in 1..6 {
            let rest: f64 = a[i][1..i].iter().sum();
            a[i][0] = c[i] - rest;
        }
        a[6] = b;
        let d = [
            -0.001780011052225777,
            -0.0008164344596567469,
            0.007880878010261995,
            -0.1447110071732629,
            0.5823571654525552,
            -0.45808210592918697,
            0.015151515151515152,
        ];
        let p = [
            [1.0, -2.76370619727483, 2.91325546182191, -1.05308849772902],
            [0.0, 0.1317, -0.2234, 0.1017],
            [0.0, 3.93029623689475, -5.9410338721315, 2.49062728565125],
            [0.0, -12.4110771669337, 30.3381886302823, -16.5481028892449],
            [0.0, 37.509313416511, -88.1789048947664, 47.3795219628193],
            [0.0, -27.8965262891973, 65.0918946747937, -34.8706578614966],
            [0.0, 1.5, -4.0, 2.5],
        ];
        Self { c, a, b, d, p }
    }

    /// Dormand and Prince's 5(4) pair (J. Comput. Appl. Math. 6 (1980) 19–26; DOPRI5,
    /// the solver of the DiMS paper) with Shampine's 4th-order dense output (the
    /// coefficients of Hairer's DOPRI5 code, as in SciPy's RK45).
    pub(crate) fn dopri5() -> Self {
        let c = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0];
        let b = [35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0];
        let mut a = [[0.0; STAGES]; STAGES];
        a[1][0] = 1.0 / 5.0;
        a[2][..2].copy_from_slice(&[3.0 / 40.0, 9.0 / 40.0]);
        a[3][..3].copy_from_slice(&[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0]);
        a[4][..4].copy_from_slice(&[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0]);
        a[5][..5].copy_from_slice(&[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0]);
        a[6] = b;
        let d = [71.0 / 57600.0, 0.0, -71.0 / 16695.0, 71.0 / 1920.0, -17253.0 / 339200.0, 22.0 / 525.0, -1.0 / 40.0];
        let p = [
            [1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0],
            [0.0, 0.0, 0.0, 0.0],
            [0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0],
            [0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0],
            [0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0],
            [0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0],
            [0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0],
        ];
        Self { c, a, b, d, p }
    }

    pub(crate) fn dense_weights(&self, theta: f64) -> [f64; STAGES] {
        let mut w = [0.0; STAGES];
        for (wi, p) in w.iter_mut().zip(self.p.iter()) {
            *wi = theta * (p[0] + theta * (p[1] + theta * (p[2] + theta * p[3])));
        }
        w
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rooted tree as the list of its root's subtrees (a leaf has none).
    #[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
    struct Tree(Vec<Tree>);

    impl Tree {
        fn order(&self) -> usize {
            1 + self.0.iter().map(Tree::order).sum::<usize>()
        }
        /// γ(t) = |t| Π γ(subtrees): the exact solution's coefficient is 1/γ(t).
        fn density(&self) -> f64 {
            self.order() as f64 * self.0.iter().map(Tree::density).product::<f64>()
        }
        /// The internal elementary weights Φ_i(t) = Π_{u} (A Φ(u))_i over the subtrees u.
        fn weights(&self, tab: &Tableau) -> [f64; STAGES] {
            let mut phi = [1.0; STAGES];
            for u in &self.0 {
                let pu = u.weights(tab);
                for i in 0..STAGES {
                    phi[i] *= (0..STAGES).map(|j| tab.a[i][j] * pu[j]).sum::<f64>();
                }
            }
            phi
        }
    }

    /// Every rooted tree with `n` vertices (each once, subtrees sorted).
    fn trees(n: usize) -> Vec<Tree> {
        // Multisets of subtrees whose orders sum to n − 1, built in non-decreasing order.
        fn forests(rest: usize, min: Option<&Tree>, out: &mut Vec<Vec<Tree>>, cur: &mut Vec<Tree>) {
            if rest == 0 {
                out.push(cur.clone());
                return;
            }
            for k in 1..=rest {
                for t in trees(k) {
                    if min.is_some_and(|m| t < *m) {
                        continue;
                    }
                    cur.push(t.clone());
                    forests(rest - k, Some(&t), out, cur);
                    cur.pop();
                }
            }
        }
        let mut out = Vec::new();
        forests(n - 1, None, &mut out, &mut Vec::new());
        out.into_iter().map(Tree).collect()
    }

    /// Butcher's order conditions Σ b_i Φ_i(t) = 1/γ(t) for every rooted tree t: all
    /// 17 trees of order ≤ 5 for the propagated weights b, the 8 of order ≤ 4 (and not
    /// all 9 of order 5) for the embedded weights b̂ = b − d; the rows satisfy
    /// Σ_j a_ij = c_i. The tree counts 1, 1, 2, 4, 9 are checked too (OEIS A000081).
    #[test]
    fn tableau_order_conditions() {
        let counts: Vec<usize> = (1..=5).map(|n| trees(n).len()).collect();
        assert_eq!(counts, [1, 1, 2, 4, 9]);
        for (name, tab) in [("tsit5", Tableau::tsit5()), ("dopri5", Tableau::dopri5())] {
            for i in 0..STAGES {
                let r: f64 = tab.a[i].iter().sum();
                assert!((r - tab.c[i]).abs() < 1e-12, "{name} row {i}: {r} vs {}", tab.c[i]);
            }
            let b_hat: Vec<f64> = tab.b.iter().zip(&tab.d).map(|(b, d)| b - d).collect();
            let mut order5_misses = 0;
            for n in 1..=5 {
                for t in trees(n) {
                    let phi = t.weights(&tab);
                    let exact = 1.0 / t.density();
                    let b: f64 = tab.b.iter().zip(&phi).map(|(b, p)| b * p).sum();
                    assert!((b - exact).abs() < 1e-12, "{name}: order-{n} condition {b} vs {exact}");
                    let bh: f64 = b_hat.iter().zip(&phi).map(|(b, p)| b * p).sum();
                    if n <= 4 {
                        assert!((bh - exact).abs() < 1e-12, "{name} embedded: order-{n} condition {bh} vs {exact}");
                    } else if (bh - exact).abs() > 1e-8 {
                        order5_misses += 1;
                    }
                }
            }
            assert!(order5_misses > 0, "{name}: the embedded pair must be of order 4, not 5");
        }
    }

    /// The dense output is of order 4 at every θ: Σ b_i(θ) Φ_i(t) = θ^{|t|}/γ(t) for the
    /// 8 trees of order ≤ 4.
    #[test]
    fn dense_output_order_conditions() {
        for (name, tab) in [("tsit5", Tableau::tsit5()), ("dopri5", Tableau::dopri5())] {
            for theta in [0.25, 0.5, 0.8] {
                let w = tab.dense_weights(theta);
                for n in 1..=4 {
                    for t in trees(n) {
                        let phi = t.weights(&tab);
                        let got: f64 = w.iter().zip(&phi).map(|(w, p)| w * p).sum();
                        let exact = theta.powi(n as i32) / t.density();
                        assert!((got - exact).abs() < 1e-12, "{name} θ = {theta}: order {n}: {got} vs {exact}");
                    }
                }
            }
        }
    }

    /// The dense output's weights vanish at θ = 0 and equal b at θ = 1, so the
    /// interpolant joins the step's end points.
    #[test]
    fn dense_output_weights_match_endpoints() {
        for tab in [Tableau::tsit5(), Tableau::dopri5()] {
            assert!(tab.dense_weights(0.0).iter().all(|w| *w == 0.0));
            for (w, b) in tab.dense_weights(1.0).iter().zip(tab.b.iter()) {
                assert!((w - b).abs() < 1e-12, "{w} vs {b}");
            }
        }
    }
}
