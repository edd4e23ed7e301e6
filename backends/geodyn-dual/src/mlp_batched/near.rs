//! The Taylor cache of the batched engine's gradient passes: a *base* of GELU
//! activations, owned by a gradient context, and the series that expand around it.
//!
//! A recording pass ([`Mode::Record`], a context's first call) stores Z, σ, σ' and φ of
//! each GELU layer over all data points. A near pass ([`Mode::Near`], its later calls)
//! takes σ and σ' of each segment (one GELU row over one block of data points) from
//! Taylor series around the base ([`gelu_series`]; GELU's derivatives are polynomials
//! times φ, so the series need no exp or erfc), of order 3, 4, 6 or 8 as the segment's
//! pre-activations moved by at most [`SERIES_LIMITS`] = 5e-6 … 1.5e-2 relative to
//! 1 + |Z|, and evaluates the segment in full otherwise. The order is picked from a
//! prediction (the segment's last ratio of its move to the parameters' move) and
//! checked in the same loop. A near pass that moved further than the lowest order
//! covers (the first evaluation of an integration step, ~1e-4 … 1e-2 from the last
//! step's) also *re-bases*: its values become the base, so the next step expands around
//! this one; after [`MAX_AGE`] re-basings a segment is evaluated in full, which bounds
//! the rounding carried along to a few ulp.

use super::{BLOCK, grow};
use geodyn_nn::{Activation, ModelSpec};

/// What a gradient pass does with a [`Base`] (owned by the caller: one per
/// gradient context).
#[derive(Debug)]
pub(crate) enum Mode<'b> {
    /// Uses none (value, plain gradient, curvature and Hessian-vector passes).
    Plain,
    /// Evaluates the activations in full and keeps Z, σ, σ' and φ of every GELU layer
    /// in the base, for later [`Mode::Near`] passes on the same objective.
    Record(&'b mut Base),
    /// Takes σ and σ' of each GELU segment from a Taylor expansion around the base
    /// ([`gelu_series`]) where the base holds a recording and the segment's
    /// pre-activations are within [`SERIES_LIMITS`] of the base's; evaluates the segment
    /// in full otherwise. Passes whose parameters moved far enough for some segment to
    /// need more than the lowest order also re-base: the pass's values become the base.
    Near(&'b mut Base),
}

/// The largest |Z − Z_base|·(1 + |Z_base|) of a segment that [`Mode::Near`] expands
/// around the base with [`gelu_series`] of order 3, 4, 6 and 8 (see
/// [`gelu_series_tier`]): the truncation, about φ·D^P/√(P!), stays below 0.1 ulp of φ
/// there (at 3× these limits it shows as 13–250 ulp). On the Snelson workload the
/// iterates of one LossGraphRattle step differ by D ≲ 1e-6 and consecutive steps' first
/// iterates by D ~ 1e-4 … 1e-2.
pub(crate) const SERIES_LIMITS: [f64; 4] = [5e-6, 1e-4, 3e-3, 1.5e-2];

/// A near pass predicts each segment's D from its last ratio D/δθ and picks the lowest
/// order whose limit is at least this many times the prediction.
const SERIES_MARGIN: f64 = 1.5;

/// After this many re-basings by series a segment is evaluated in full, so that the
/// rounding carried from base to base (about an ulp per re-basing) stays a few ulp.
pub(crate) const MAX_AGE: u32 = 32;

/// The most base elements kept per quantity (N × the GELU widths summed), 2 MiB each:
/// larger problems record nothing and their near passes are full ones.
const BASE_CAP: usize = 1 << 18;

/// Z, σ(Z), σ'(Z) and φ(Z) of every GELU layer at the base point: the last
/// [`Mode::Record`] pass's, moved along by the [`Mode::Near`] passes that re-base (see
/// [`NearPass`]); each laid out layer after layer as [width, N] over all N data points.
/// Its owner passes it only to passes of one objective (network shape and data).
#[derive(Default, Debug)]
pub(crate) struct Base {
    /// Whether it holds a recording (false before the first and where the problem is
    /// larger than [`BASE_CAP`]).
    recorded: bool,
    z: Vec<f64>,
    a: Vec<f64>,
    s1: Vec<f64>,
    phi: Vec<f64>,
    /// The parameters of the last pass that recorded or re-based (every segment's values
    /// belong to them).
    theta: Vec<f64>,
    /// Per segment (one GELU row over one block of data points): the ratio D/δθ of the
    /// segment's last series evaluation in a pass that did not re-base (`rho[0]`) and in
    /// one that did (`rho[1]`), where D = max |Z − Z_base|(1 + |Z_base|) and
    /// δθ = max |θ − θ_base|; predicts the next such pass's D from its δθ (0 before any).
    /// The two kinds of pass move θ in different directions (along the gradient within
    /// a step, along the velocity from step to step), so their ratios differ.
    rho: [Vec<f64>; 2],
    /// Per segment: re-basings by series since its last full evaluation.
    age: Vec<u32>,
}

/// What one pass does with its [`Base`], decided once before the data loop.
pub(super) struct NearPass<'b> {
    /// The base, where the pass records into it or expands around it.
    base: Option<&'b mut Base>,
    /// Every GELU segment is evaluated in full and recorded.
    record: bool,
    /// GELU segments may come from the series.
    use_base: bool,
    /// max |θ − θ_base|.
    dtheta: f64,
    /// This pass's values become the base.
    rebase: bool,
    /// Data points, and blocks of them.
    n: usize,
    nblocks: usize,
}

impl<'b> NearPass<'b> {
    /// The plan for a pass of `spec` at `params` over `n` data points (`curv`: with a
    /// direction, which no base serves).
    #[inline(always)]
    pub(super) fn start(mode: Mode<'b>, spec: &ModelSpec, params: &[f64], n: usize, curv: bool) -> Self {
        let layers = spec.layers();
        let gelu_rows: usize = layers.iter().filter(|l| l.activation == Activation::Gelu).map(|l| l.output).sum();
        let base_len = gelu_rows * n;
        let nblocks = n.div_ceil(BLOCK);
        let (record, use_base, mut base) = match mode {
            Mode::Record(b) if !curv && base_len <= BASE_CAP => {
                for buf in [&mut b.z, &mut b.a, &mut b.s1, &mut b.phi] {
                    grow(buf, base_len);
                }
                // A fresh start: nothing of earlier passes decides anything after a
                // recording pass, so a context that begins with one gets the same bits
                // whatever its owner did before.
                for rho in &mut b.rho {
                    grow(rho, gelu_rows * nblocks);
                    rho.fill(0.0);
                }
                grow(&mut b.age, gelu_rows * nblocks);
                b.theta.clear();
                b.theta.extend_from_slice(params);
                b.recorded = true;
                (true, false, Some(b))
            }
            Mode::Record(b) => {
                b.recorded = false;
                (false, false, None)
            }
            Mode::Near(b) => {
                let usable = !curv && b.recorded && b.z.len() >= base_len;
                (false, usable, usable.then_some(b))
            }
            Mode::Plain => (false, false, None),
        };
        // How far the parameters moved from the base, and whether this pass re-bases:
        // when some segment is predicted to need more than the lowest order (a new step,
        // not another Newton iterate of the same one).
        let (dtheta, rebase) = if let Some(b) = base.as_deref_mut() {
            let dtheta = max_abs_diff(params, &b.theta);
            let rho_max = b.rho[0][..gelu_rows * nblocks].iter().fold(0.0f64, |m, &r| m.max(r));
            let rebase = rho_max * dtheta * SERIES_MARGIN > SERIES_LIMITS[0];
            if rebase {
                b.theta.copy_from_slice(params);
            }
            (dtheta, rebase)
        } else {
            (0.0, false)
        };
        Self { base, record, use_base, dtheta, rebase, n, nblocks }
    }

    /// σ(Z) into `a` and σ'(Z) into `s1` for one GELU row `row` (counted over the GELU
    /// layers) of the block starting at data point `c0`, from the series where the base
    /// serves, else in full and recorded where the pass records or re-bases. Returns
    /// false where it did neither: the caller evaluates the row in full.
    #[inline(always)]
    pub(super) fn gelu_row<const F: bool>(
        &mut self,
        row: usize,
        c0: usize,
        z: &[f64],
        a: &mut [f64],
        s1: &mut [f64],
    ) -> bool {
        let c = z.len();
        let bo = row * self.n + c0;
        let seg = row * self.nblocks + c0 / BLOCK;
        let r = bo..bo + c;
        let (dtheta, rebase) = (self.dtheta, self.rebase);
        if let (true, Some(b)) = (self.use_base, self.base.as_deref_mut()) {
            let predicted = b.rho[rebase as usize][seg] * dtheta * SERIES_MARGIN;
            let tier = SERIES_LIMITS.iter().position(|&lim| predicted <= lim);
            let tier = tier.filter(|_| !(rebase && b.age[seg] >= MAX_AGE));
            if let Some(tier) = tier {
                let sb = SegmentBase {
                    z: &mut b.z[r.clone()],
                    a: &mut b.a[r.clone()],
                    s1: &mut b.s1[r.clone()],
                    phi: &mut b.phi[r.clone()],
                };
                let (dmax, ok) = if rebase {
                    gelu_series_tier::<F, true>(tier, z, sb, a, s1)
                } else {
                    gelu_series_tier::<F, false>(tier, z, sb, a, s1)
                };
                if dtheta > 0.0 && dmax.is_finite() {
                    b.rho[rebase as usize][seg] = dmax / dtheta;
                }
                if ok {
                    if rebase {
                        b.age[seg] += 1;
                    }
                    return true;
                }
            }
        }
        if let (true, Some(b)) = (self.record || rebase, self.base.as_deref_mut()) {
            // In full, and (re)recorded: this segment's base is exact again.
            geodyn_nn::fastmath::gelu_pdf_slice(z, a, s1, &mut b.phi[r.clone()]);
            b.z[r.clone()].copy_from_slice(z);
            b.a[r.clone()].copy_from_slice(a);
            b.s1[r].copy_from_slice(s1);
            b.age[seg] = 0;
            return true;
        }
        false
    }
}

/// σ and σ' of GELU at z from the base point x = zb where σ(x) = ab, σ'(x) = s1b and
/// φ(x) = pb, by Taylor series of order `P` in d = z − x, without exp or erfc. With
/// φ(x + d)/φ(x) = e^{−xd − d²/2} = Σ cₙ dⁿ (c₀ = 1, c₁ = −x,
/// c_{n+1} = −(x cₙ + c_{n−1})/(n + 1): the Hermite polynomials' recurrence) and
/// Φ(x + d) − Φ(x) = φ(x)·F(d), F = Σ cₙ d^{n+1}/(n + 1), σ = zΦ and σ' = Φ + zφ give
///
/// ```text
/// σ(z)  = σ(x) + d σ'(x) + φ(x)(z F₋ + d²)        F₋ = F − d
/// σ'(z) = σ'(x) + φ(x)(2d + F₋ + z E₋)            E₋ = Σ_{n≥1} cₙ dⁿ
/// φ(z)  = φ(x)(1 + E₋)
/// ```
///
/// (no cancellation: the brackets are the small increments), each series summed
/// through c_{P−1}. |cₙ dⁿ| ≲ Dⁿ/√(n!)·e^{x²/4} and, where |x| is large, (|x|d)ⁿ/n!
/// for D = |d|(1 + |x|), so the truncation is about φ(x)·D^P/√(P!): below 0.1 ulp of
/// φ within the [`SERIES_LIMITS`] of P = 3, 4, 6, 8. The results are the base's plus terms far
/// below their ulp, rounded a few times. With `REBASE` the segment's base becomes z
/// and these values. Where φ underflows (x < −37.5) σ' = 0 and σ = the base's 0.
///
/// Returns the segment's D (for the next prediction, NaN ignored) and whether every
/// element had D ≤ `limit` (false for NaN); where not, the outputs and, with `REBASE`,
/// the base are meaningless and the caller evaluates the segment in full.
#[inline(always)]
fn gelu_series<const F: bool, const P: usize, const REBASE: bool>(
    limit: f64,
    z: &[f64],
    base: SegmentBase<'_>,
    a: &mut [f64],
    s1: &mut [f64],
) -> (f64, bool) {
    let mla = |a: f64, b: f64, c: f64| if F { a.mul_add(b, c) } else { a * b + c };
    let n = z.len();
    let SegmentBase { z: zb, a: ab, s1: s1b, phi: pb } = base;
    let (zb, ab, s1b, pb, a, s1) = (&mut zb[..n], &mut ab[..n], &mut s1b[..n], &mut pb[..n], &mut a[..n], &mut s1[..n]);
    // max D as the largest bit pattern (D ≥ 0, so its bits order like it; an integer
    // reduction vectorises where a float max reduction does not).
    let mut dmax = 0i64;
    let mut ok = true;
    for j in 0..n {
        let x = zb[j];
        let zj = z[j];
        let d = zj - x;
        let dd = d.abs() * (1.0 + x.abs());
        ok &= dd <= limit;
        dmax = dmax.max(dd.to_bits() as i64);
        // c[k] = c_k and f[k] = c_k/(k + 1) for k < P.
        let mut c = [0.0; P];
        let mut f = [0.0; P];
        c[0] = 1.0;
        c[1] = -x;
        f[1] = -0.5 * x;
        for k in 1..P - 1 {
            let t = mla(x, c[k], c[k - 1]);
            c[k + 1] = t * (-1.0 / (k + 1) as f64);
            f[k + 1] = t * (-1.0 / ((k + 1) * (k + 2)) as f64);
        }
        // E₋/d = Σ_{n=1}^{P−1} cₙ d^{n−1}, F₋/d² = Σ_{n=1}^{P−1} cₙ/(n+1) d^{n−1}.
        let mut e = c[P - 1];
        let mut fs = f[P - 1];
        for k in (1..P - 1).rev() {
            e = mla(e, d, c[k]);
            fs = mla(fs, d, f[k]);
        }
        let em = e * d;
        let d2 = d * d;
        let fm = fs * d2;
        let p = pb[j];
        let s1v = mla(p, mla(zj, em, mla(d, 2.0, fm)), s1b[j]);
        let av = mla(p, mla(zj, fm, d2), mla(d, s1b[j], ab[j]));
        a[j] = av;
        s1[j] = s1v;
        if REBASE {
            zb[j] = zj;
            ab[j] = av;
            s1b[j] = s1v;
            pb[j] = mla(p, em, p);
        }
    }
    (f64::from_bits(dmax as u64), ok)
}

/// One segment's share of the [`Base`]: Z, σ(Z), σ'(Z) and φ(Z).
struct SegmentBase<'a> {
    z: &'a mut [f64],
    a: &'a mut [f64],
    s1: &'a mut [f64],
    phi: &'a mut [f64],
}

/// [`gelu_series`] of the order that `tier` (an index into [`SERIES_LIMITS`]) names.
#[inline(always)]
fn gelu_series_tier<const F: bool, const REBASE: bool>(
    tier: usize,
    z: &[f64],
    base: SegmentBase<'_>,
    a: &mut [f64],
    s1: &mut [f64],
) -> (f64, bool) {
    let limit = SERIES_LIMITS[tier];
    match tier {
        0 => gelu_series::<F, 3, REBASE>(limit, z, base, a, s1),
        1 => gelu_series::<F, 4, REBASE>(limit, z, base, a, s1),
        2 => gelu_series::<F, 6, REBASE>(limit, z, base, a, s1),
        _ => gelu_series::<F, 8, REBASE>(limit, z, base, a, s1),
    }
}

/// max |a − b| over two slices, NaN if any difference is NaN.
#[inline(always)]
fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    let mut m = 0.0f64;
    for (x, y) in a.iter().zip(b) {
        let d = (x - y).abs();
        if d.is_nan() {
            return f64::NAN;
        }
        m = m.max(d);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` values uniform in [−scale, scale) from the tests' seeded stream.
    fn stream(seed: u64, n: usize, scale: f64) -> Vec<f64> {
        geodyn_testkit::rng::uniforms(&mut geodyn_testkit::rng::seeded(seed), n, -scale, scale)
    }

    /// Largest errors of `gelu_series::<F, P>` over z ∈ [−9, 9] (every Cody piece and the
    /// edges between them) and shifts with |d|(1 + |x|) up to `dmax`, against the kernel
    /// at the shifted point: σ and σ' in ulp of max(|σ|, |σ'|, 2^−60) (both carry the
    /// kernels' few-ulp errors), φ in ulp of φ; also the error of the first-order
    /// expansion of σ', so that a test can check the shifts matter.
    fn series_errors<const F: bool, const P: usize>(dmax: f64, seed: u64) -> [f64; 4] {
        let n = 4001;
        let zb: Vec<f64> =
            (0..n).map(|i| -9.0 + 18.0 * i as f64 / (n - 1) as f64 + 1e-3 * ((i * 7919) % 13) as f64).collect();
        let d = stream(seed, n, dmax);
        let z: Vec<f64> = zb.iter().zip(&d).map(|(a, b)| a + b / (1.0 + a.abs())).collect();
        let (mut ab, mut s1b, mut pb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ab, &mut s1b, &mut pb);
        let s1_first = s1b.clone();
        let mut zb2 = zb.clone();
        let (mut a, mut s1) = (vec![0.0; n], vec![0.0; n]);
        let base = SegmentBase { z: &mut zb2, a: &mut ab, s1: &mut s1b, phi: &mut pb };
        let (_, ok) = gelu_series::<F, P, true>(2.0 * dmax, &z, base, &mut a, &mut s1);
        assert!(ok);
        assert_eq!((&zb2, &ab, &s1b), (&z, &a, &s1), "re-basing keeps z and the values");
        let (mut ae, mut s1e, mut pe) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&z, &mut ae, &mut s1e, &mut pe);
        let mut worst = [0.0f64; 4];
        for j in 0..n {
            let scale = ae[j].abs().max(s1e[j].abs()).max(2f64.powi(-60)) * f64::EPSILON;
            worst[0] = worst[0].max((a[j] - ae[j]).abs() / scale);
            worst[1] = worst[1].max((s1[j] - s1e[j]).abs() / scale);
            worst[2] = worst[2].max((pb[j] - pe[j]).abs() / (pe[j] * f64::EPSILON));
            worst[3] = worst[3].max((s1_first[j] - s1e[j]).abs());
        }
        worst
    }

    /// The series order of each entry of `SERIES_LIMITS` (as `gelu_series_tier` picks).
    const SERIES_ORDERS: [usize; 4] = [3, 4, 6, 8];

    /// `gelu_series` of tier `t` (the order in `SERIES_ORDERS`), fused or not.
    fn series_errors_tier<const F: bool>(t: usize, dmax: f64, seed: u64) -> [f64; 4] {
        match SERIES_ORDERS[t] {
            3 => series_errors::<F, 3>(dmax, seed),
            4 => series_errors::<F, 4>(dmax, seed),
            6 => series_errors::<F, 6>(dmax, seed),
            8 => series_errors::<F, 8>(dmax, seed),
            p => panic!("no test instance for order {p}"),
        }
    }

    /// Each order's series reproduces the kernel at its largest shift: σ and σ' within
    /// 6 ulp (the kernel's own σ errors are up to 3 ulp, σ' up to 2.2, so most of the
    /// difference is the kernel's at the two points), the re-based φ within 2 ulp. The
    /// truncation (the omitted terms, about φ·D^P/√(P!)) grows as D^P: at 3× each limit
    /// it would show as 13–250 ulp of φ (measured while choosing the limits), so these
    /// bounds would catch a wrong coefficient or a limit set too far. The first-order
    /// expansion's error shows that the shifts matter.
    #[test]
    fn gelu_series_matches_the_kernel() {
        assert_eq!(SERIES_ORDERS.len(), SERIES_LIMITS.len());
        for t in 0..SERIES_LIMITS.len() {
            let lim = SERIES_LIMITS[t];
            for (fused, [ea, es, ep, first]) in
                [(false, series_errors_tier::<false>(t, lim, 9)), (true, series_errors_tier::<true>(t, lim, 9))]
            {
                let what = format!("order {} at D ≤ {lim:e}, fused {fused}", SERIES_ORDERS[t]);
                assert!(ea <= 6.0 && es <= 6.0, "{what}: σ {ea:.2} ulp, σ' {es:.2} ulp");
                assert!(ep <= 2.0, "{what}: φ {ep:.2} ulp");
                assert!(first > 0.3 * lim, "{what}: the shifts must matter ({first:e})");
            }
        }
    }

    /// Re-basing carries the rounding along: after `MAX_AGE` re-basings by series
    /// along a random walk of steps at the order-6 limit (each step's D up to 3e-3,
    /// about 1 in z over the walk), σ, σ' (as above) and φ stay within 10 ulp of the
    /// kernel at the walk's end (measured: 6.3, 4.0 and 6.3): the errors add like a
    /// random walk of ~1-ulp steps (√32 ≈ 5.7), not like a drift.
    #[test]
    fn rebasing_keeps_the_values_within_a_few_ulp() {
        let n = 2001;
        let mut zb: Vec<f64> = (0..n).map(|i| -9.0 + 18.0 * i as f64 / (n - 1) as f64).collect();
        let (mut ab, mut s1b, mut pb) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ab, &mut s1b, &mut pb);
        let (mut a, mut s1) = (vec![0.0; n], vec![0.0; n]);
        let lim = SERIES_LIMITS[2];
        assert_eq!(SERIES_ORDERS[2], 6);
        for step in 0..MAX_AGE as u64 {
            let d = stream(100 + step, n, lim);
            let z: Vec<f64> = zb.iter().zip(&d).map(|(a, b)| a + b / (1.0 + a.abs())).collect();
            let base = SegmentBase { z: &mut zb, a: &mut ab, s1: &mut s1b, phi: &mut pb };
            let (_, ok) = gelu_series::<true, 6, true>(lim, &z, base, &mut a, &mut s1);
            assert!(ok, "step {step}");
        }
        let (mut ae, mut s1e, mut pe) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        geodyn_nn::fastmath::gelu_pdf_slice(&zb, &mut ae, &mut s1e, &mut pe);
        let (mut wa, mut ws, mut wp) = (0.0f64, 0.0f64, 0.0f64);
        for j in 0..n {
            let scale = ae[j].abs().max(s1e[j].abs()).max(2f64.powi(-60)) * f64::EPSILON;
            wa = wa.max((ab[j] - ae[j]).abs() / scale);
            ws = ws.max((s1b[j] - s1e[j]).abs() / scale);
            wp = wp.max((pb[j] - pe[j]).abs() / (pe[j] * f64::EPSILON));
        }
        assert!(wa <= 10.0 && ws <= 10.0 && wp <= 10.0, "σ {wa:.2}, σ' {ws:.2}, φ {wp:.2} ulp");
    }
}
