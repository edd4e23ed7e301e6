//! The vectorised slice kernels (`geodyn_nn::fastmath`, `Activation::*_slice`) against
//! mpmath, `f64::exp` and the scalar reference `Activation::eval3`.
//!
//! Every check runs on each compiled path: the one the CPU picks (AVX-512 or AVX2 + FMA
//! on most x86-64), the AVX2 + FMA one (`fastmath::avx2`; the same as the first on CPUs
//! without AVX-512) and the portable baseline (`fastmath::portable`, plain SSE2 without
//! FMA on x86-64), since FMA and non-FMA copies round differently.
//!
//! Errors are counted in ulp of the reference value ("ulp"), or, for derivatives whose
//! defining sum cancels (GELU' = Φ + xφ near x = −0.75, SiLU' near x = −1.28, …), in
//! ulp of the sum of the magnitudes of its terms ("scaled ulp"): no f64 evaluation of
//! the formula can do better than that near a zero.
//!
//! `tests/data/activation_mpmath.txt` holds mpmath values (60 digits, rounded to the
//! nearest f64) at 488 points; `tests/data/activation_mpmath.py` regenerates it.
//! Errors against it are measured from that rounded value, so they can exceed the
//! error against the exact value by ½ ulp.

use geodyn_nn::Activation;
use geodyn_nn::fastmath::{self, exp_slice, normal_cdf_pdf_slice};
use geodyn_testkit::rng::{seeded, uniforms};
use rand::RngExt;

type Exp = fn(&[f64], &mut [f64]);
type Normal = fn(&[f64], &mut [f64], &mut [f64]);
type Eval3 = fn(Activation, &[f64], &mut [f64], &mut [f64], &mut [f64]);

fn eval3_auto(act: Activation, z: &[f64], a: &mut [f64], s1: &mut [f64], s2: &mut [f64]) {
    act.eval3_slice(z, a, s1, s2)
}

/// (name, exp, normal, eval3) for the dispatched, the AVX2 and the portable path.
const PATHS: [(&str, Exp, Normal, Eval3); 3] = [
    ("auto", exp_slice, normal_cdf_pdf_slice, eval3_auto),
    ("avx2", fastmath::avx2::exp_slice, fastmath::avx2::normal_cdf_pdf_slice, fastmath::avx2::eval3_slice),
    (
        "portable",
        fastmath::portable::exp_slice,
        fastmath::portable::normal_cdf_pdf_slice,
        fastmath::portable::eval3_slice,
    ),
];

const SMOOTH: [Activation; 3] = [Activation::Gelu, Activation::Silu, Activation::Tanh];

/// The spacing of f64 at |v| (for 0 and subnormals: the smallest subnormal).
fn ulp(v: f64) -> f64 {
    let e = v.abs().to_bits() >> 52; // biased exponent
    if e > 52 { f64::from_bits((e - 52) << 52) } else { f64::from_bits(1u64 << e.saturating_sub(1)) }
}

/// |a − b| in ulp of `scale` (0 when both are equal, including equal infinities).
fn err_ulps(a: f64, b: f64, scale: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    (a - b).abs() / ulp(scale)
}

/// Distance in representable f64 values between two finite numbers of one sign.
fn bit_distance(a: f64, b: f64) -> u64 {
    (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
}

fn eval3_vec(f: Eval3, act: Activation, z: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = z.len();
    let (mut a, mut s1, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    f(act, z, &mut a, &mut s1, &mut s2);
    (a, s1, s2)
}

// ---------------------------------------------------------------------------------
// exp
// ---------------------------------------------------------------------------------

/// Inputs for exp: a dense grid over the whole finite range [−746, 710] (step 1/64 plus
/// an irrational offset), random points, and the overflow / underflow edges with their
/// f64 neighbours.
fn exp_inputs() -> Vec<f64> {
    let mut x: Vec<f64> = (0..(1456 * 64)).map(|i| -746.0 + i as f64 / 64.0 + 0.003_141_592_653_589_793).collect();
    let mut rng = seeded(7);
    x.extend(uniforms(&mut rng, 50_000, -746.0, 710.0));
    x.extend(uniforms(&mut rng, 20_000, -1.0, 1.0));
    x.extend(uniforms(&mut rng, 5_000, -1e-10, 1e-10));
    for edge in [
        709.782_712_893_384,     // largest x with finite e^x
        -708.396_418_532_264_1,  // e^x = 2^−1022, the smallest normal
        -745.133_219_101_941_1,  // below: e^x rounds to 0
        -744.440_071_921_381_3,  // e^x = 2^−1074
        0.346_573_590_279_972_6, // ln2/2: edge of the reduction interval
        -0.346_573_590_279_972_6,
    ] {
        let mut v: f64 = edge;
        for _ in 0..64 {
            v = f64::from_bits(v.to_bits() - 1);
        }
        for _ in 0..128 {
            x.push(v);
            v = f64::from_bits(v.to_bits() + 1);
        }
    }
    x
}

/// exp_slice is within 1 ulp of `f64::exp` (the platform libm, correctly rounded in
/// practice) wherever the result is a normal number, and within one unit of the last
/// place (one subnormal step) where it is subnormal, on both paths; e^x = 0 exactly
/// below x ≈ −745.13 and +∞ above x ≈ 709.78, like `f64::exp`.
#[test]
fn exp_slice_is_within_one_ulp_of_std_exp() {
    let x = exp_inputs();
    for (path, exp, _, _) in PATHS {
        let mut y = vec![0.0; x.len()];
        exp(&x, &mut y);
        let mut worst = (0, 0.0);
        for (&xi, &yi) in x.iter().zip(&y) {
            let r = xi.exp();
            if r.is_infinite() {
                assert_eq!(yi, r, "{path}: exp({xi:e})");
                continue;
            }
            let d = bit_distance(yi, r);
            if d > worst.0 {
                worst = (d, xi);
            }
        }
        assert!(worst.0 <= 1, "{path}: exp_slice is {} ulp from f64::exp at {:e}", worst.0, worst.1);
    }
}

/// exp_slice at special inputs: e^{±0} = 1, e^{subnormal} = 1, e^{+∞} = +∞,
/// e^{−∞} = 0, e^{±10^300} ∈ {+∞, 0}, e^1 = e to 1 ulp, and NaN gives NaN.
#[test]
fn exp_slice_special_values() {
    let x = [
        0.0,
        -0.0,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e300,
        -1e300,
        1.0,
        f64::NAN,
    ];
    for (path, exp, _, _) in PATHS {
        let mut y = [0.0; 10];
        exp(&x, &mut y);
        assert_eq!(y[..8], [1.0, 1.0, 1.0, 1.0, f64::INFINITY, 0.0, f64::INFINITY, 0.0]);
        assert!(bit_distance(y[8], std::f64::consts::E) <= 1, "{path}");
        assert!(y[9].is_nan(), "{path}");
    }
}

// ---------------------------------------------------------------------------------
// The mpmath table
// ---------------------------------------------------------------------------------

/// One row: x, Φ, φ, sigmoid(x), sigmoid(−x), then (σ, σ', σ'') of GELU, SiLU, tanh.
struct Row {
    x: f64,
    cdf: f64,
    pdf: f64,
    sig: f64,
    sig_neg: f64,
    act: [[f64; 3]; 3],
}

fn table() -> Vec<Row> {
    let text = include_str!("data/activation_mpmath.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let v: Vec<f64> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
            assert_eq!(v.len(), 14, "{l}");
            Row {
                x: v[0],
                cdf: v[1],
                pdf: v[2],
                sig: v[3],
                sig_neg: v[4],
                act: [[v[5], v[6], v[7]], [v[8], v[9], v[10]], [v[11], v[12], v[13]]],
            }
        })
        .collect()
}

/// x with Φ(x), φ(x), sigmoid(x), sigmoid(−x): the terms of the activation formulas.
#[derive(Clone, Copy)]
struct Terms {
    x: f64,
    cdf: f64,
    pdf: f64,
    s: f64,
    sm: f64,
}

/// The magnitude against which the error of output `j` (value `v`) of `act` is
/// measured: the value itself for σ and for tanh, the sum of the magnitudes of the
/// terms of the defining formula for the derivatives of GELU and SiLU (which cancel at
/// their zeros).
fn scale(act: Activation, j: usize, t: &Terms, v: f64) -> f64 {
    let Terms { x, cdf, pdf, s, sm } = *t;
    match (act, j) {
        (Activation::Gelu, 1) => cdf.abs() + (x * pdf).abs(),
        (Activation::Gelu, 2) => (2.0 + x * x) * pdf,
        (Activation::Silu, 1) => s * (1.0 + (x * sm).abs()),
        (Activation::Silu, 2) => s * sm * (2.0 + (x * (sm - s)).abs()),
        _ => v.abs(),
    }
}

/// Φ and φ from normal_cdf_pdf_slice are within 4.5 ulp and 1.5 ulp of the (rounded)
/// mpmath values wherever those are normal numbers — all the way down the lower tail
/// (Φ(−37.5) ≈ 4.6e−308), which the scalar ½ erfc(−x/√2) misses by up to ~x²/2 ulp.
/// The bounds are the maxima measured against the exact values on 25 000 random
/// points (Φ 3.1 ulp with FMA, 3.8 ulp without, in Cody's middle interval
/// 0.67 < |x| < 5.66; φ 0.94 / 1.03 ulp; see the `fastmath` module doc) plus ½ ulp for
/// the rounding of the reference; at the 488 table points the maxima are 2 and 1 ulp.
#[test]
fn normal_cdf_pdf_slice_match_mpmath() {
    let rows = table();
    let x: Vec<f64> = rows.iter().map(|r| r.x).collect();
    for (path, _, normal, _) in PATHS {
        let (mut c, mut p) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        normal(&x, &mut c, &mut p);
        let (mut worst_c, mut worst_p) = ((0.0, 0.0), (0.0, 0.0));
        for (i, r) in rows.iter().enumerate() {
            if r.cdf >= f64::MIN_POSITIVE {
                let e = err_ulps(c[i], r.cdf, r.cdf);
                if e > worst_c.0 {
                    worst_c = (e, r.x);
                }
            }
            if r.pdf >= f64::MIN_POSITIVE {
                let e = err_ulps(p[i], r.pdf, r.pdf);
                if e > worst_p.0 {
                    worst_p = (e, r.x);
                }
            }
        }
        eprintln!("{path}: max error Φ {:.2} ulp at {}, φ {:.2} ulp at {}", worst_c.0, worst_c.1, worst_p.0, worst_p.1);
        assert!(worst_c.0 <= 4.5, "{path}: Φ({}) is {} ulp off", worst_c.1, worst_c.0);
        assert!(worst_p.0 <= 1.5, "{path}: φ({}) is {} ulp off", worst_p.1, worst_p.0);
    }
}

/// eval3_slice of GELU, SiLU and tanh against mpmath at every table point whose
/// reference is a normal number, on both paths. Bounds (ulp of the value for σ and
/// tanh, scaled ulp for the derivatives of GELU and SiLU, see the module doc): the
/// maxima measured against the exact values on 25 000 random points (in brackets,
/// worse of the two paths; `fastmath` module doc) plus ½ ulp for the rounding of the
/// reference, rounded up to a multiple of ½:
///
/// | | σ | σ' | σ'' |
/// |---|---|---|---|
/// | GELU | 4 (3.05) | 3.5 (2.82) | 3 (2.11) |
/// | SiLU | 3 (2.10) | 3.5 (2.78) | 4 (3.25) |
/// | tanh | 2 (1.41) | 2 (1.35) | 3.5 (2.77) |
///
/// At the table points themselves the maxima are 2, 1, 1 (GELU), 1, 2, 2 (SiLU) and
/// 1, 1, 2 ulp (tanh).
#[test]
fn activation_slices_match_mpmath() {
    const TOL: [[f64; 3]; 3] = [[4.0, 3.5, 3.0], [3.0, 3.5, 4.0], [2.0, 2.0, 3.5]];
    let rows = table();
    let x: Vec<f64> = rows.iter().map(|r| r.x).collect();
    for (path, _, _, eval3) in PATHS {
        for (k, act) in SMOOTH.into_iter().enumerate() {
            let (a, s1, s2) = eval3_vec(eval3, act, &x);
            let mut worst = [(0.0, 0.0); 3];
            for (i, r) in rows.iter().enumerate() {
                for (j, got) in [a[i], s1[i], s2[i]].into_iter().enumerate() {
                    let want = r.act[k][j];
                    if want.abs() < f64::MIN_POSITIVE {
                        continue;
                    }
                    let t = Terms { x: r.x, cdf: r.cdf, pdf: r.pdf, s: r.sig, sm: r.sig_neg };
                    let sc = scale(act, j, &t, want);
                    let e = err_ulps(got, want, sc);
                    if e > worst[j].0 {
                        worst[j] = (e, r.x);
                    }
                }
            }
            eprintln!(
                "{path}: {act} max error (σ, σ', σ'') = ({:.2}, {:.2}, {:.2}) ulp",
                worst[0].0, worst[1].0, worst[2].0
            );
            for j in 0..3 {
                assert!(
                    worst[j].0 <= TOL[k][j],
                    "{path}: {act} output {j} at {} is {} ulp off",
                    worst[j].1,
                    worst[j].0
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Against the scalar reference
// ---------------------------------------------------------------------------------

/// A dense grid over [−40, 40] (step 1/256, offset to hit non-dyadic points), random
/// points, and special values: ±0, ±tiny, ±subnormal, Cody's interval ends.
fn dense_inputs() -> Vec<f64> {
    let mut x: Vec<f64> = (0..=(80 * 256)).map(|i| -40.0 + i as f64 / 256.0 + 0.001_234_567).collect();
    x.extend(uniforms(&mut seeded(11), 20_000, -8.0, 8.0));
    x.extend([
        0.0,
        -0.0,
        1e-300,
        -1e-300,
        f64::from_bits(1),
        -f64::from_bits(1),
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        1e-8,
        -1e-8,
        0.674_489_75,
        -0.674_489_75,
        5.656_854_249_492_38,
        -5.656_854_249_492_38,
    ]);
    x
}

/// Every slice kernel agrees with the scalar `eval3` on the dense grid to 8 scaled
/// ulp (both are a few ulp from the exact values, in different directions), except in
/// GELU, where the scalar path's Φ(x) = ½ erfc(−x/√2) (for x < 0) and
/// φ(x) = e^{−x·x/2}/√(2π) lose up to ~x²/2 ulp each to the rounding of −x/√2 and x·x
/// (832 ulp for σ at x = −36.97, where the slice is 0.2 ulp from mpmath; the slice
/// kernels are checked against mpmath in `activation_slices_match_mpmath`): there the
/// bound is 8 + 2x² ulp of the value's binade; below x = −37, where the scalar's Φ is subnormal and its products
/// lose most of their bits, GELU is only checked against mpmath.
#[test]
fn slices_agree_with_scalar_eval3_on_a_dense_grid() {
    let x = dense_inputs();
    for (path, _, _, eval3) in PATHS {
        for act in SMOOTH {
            let (a, s1, s2) = eval3_vec(eval3, act, &x);
            for (i, &xi) in x.iter().enumerate() {
                let r = act.eval3(xi);
                let t = Terms {
                    x: xi,
                    cdf: geodyn_nn::special::normal_cdf(xi),
                    pdf: geodyn_nn::special::normal_pdf(xi),
                    s: geodyn_nn::activation::sigmoid(xi),
                    sm: geodyn_nn::activation::sigmoid(-xi),
                };
                let tol = match act {
                    Activation::Gelu if xi < -37.0 => continue, // scalar Φ subnormal
                    Activation::Gelu => 8.0 + 2.0 * xi * xi,
                    _ => 8.0,
                };
                for (j, (got, want)) in [(a[i], r.0), (s1[i], r.1), (s2[i], r.2)].into_iter().enumerate() {
                    let sc = scale(act, j, &t, want);
                    let e = err_ulps(got, want, sc);
                    assert!(e <= tol, "{path}: {act} output {j} at {xi:e}: slice {got:e}, scalar {want:e} ({e} ulp)");
                }
            }
        }
    }
}

/// ReLU and identity slices equal the scalar `eval3` exactly (including σ'(0) = 0).
#[test]
fn relu_and_identity_slices_equal_the_scalar() {
    let x = dense_inputs();
    for act in [Activation::Relu, Activation::Identity] {
        let (a, s1, s2) = eval3_vec(eval3_auto, act, &x);
        for (i, &xi) in x.iter().enumerate() {
            assert_eq!((a[i], s1[i], s2[i]), act.eval3(xi), "{act} at {xi:e}");
        }
    }
}

/// value_slice, eval2_slice and eval3_slice give bit-identical σ (and σ'), and every
/// element's result is independent of its position and of the slice length (vector
/// lanes and scalar remainder compute the same operations; the rarely needed tail
/// pieces of Φ are applied per element).
#[test]
fn slice_variants_and_positions_agree_bitwise() {
    let x: Vec<f64> = dense_inputs().into_iter().step_by(7).collect();
    let n = x.len();
    for act in Activation::ALL {
        let (a3, s13, s23) = eval3_vec(eval3_auto, act, &x);
        let (mut a2, mut s12) = (vec![0.0; n], vec![0.0; n]);
        act.eval2_slice(&x, &mut a2, &mut s12);
        let mut a1 = vec![0.0; n];
        act.value_slice(&x, &mut a1);
        for i in 0..n {
            assert_eq!(a1[i].to_bits(), a3[i].to_bits(), "{act} value at {}", x[i]);
            assert_eq!(a2[i].to_bits(), a3[i].to_bits(), "{act} eval2 at {}", x[i]);
            assert_eq!(s12[i].to_bits(), s13[i].to_bits(), "{act} eval2' at {}", x[i]);
        }
        // One element at a time and in odd-length pieces.
        for (start, len) in [(0, 1), (3, 1), (5, 3), (17, 13), (100, 37)] {
            let (a, s1, s2) = eval3_vec(eval3_auto, act, &x[start..start + len]);
            for k in 0..len {
                let i = start + k;
                assert_eq!(
                    (a[k].to_bits(), s1[k].to_bits(), s2[k].to_bits()),
                    (a3[i].to_bits(), s13[i].to_bits(), s23[i].to_bits()),
                    "{act} at {} in a slice of {len}",
                    x[i]
                );
            }
        }
    }
}

/// NaN in gives NaN out in every output of every kernel (on both paths), also next to
/// ordinary values in the same vector — except the identity's constant derivatives
/// (1, 0).
#[test]
fn nan_in_nan_out() {
    let x = [0.5, f64::NAN, -3.0, f64::NAN, 7.0, -f64::NAN, 1.0];
    for (path, exp, normal, eval3) in PATHS {
        let mut y = [0.0; 7];
        exp(&x, &mut y);
        let (mut c, mut p) = ([0.0; 7], [0.0; 7]);
        normal(&x, &mut c, &mut p);
        for i in [1, 3, 5] {
            assert!(y[i].is_nan() && c[i].is_nan() && p[i].is_nan(), "{path}");
        }
        for act in Activation::ALL {
            let (a, s1, s2) = eval3_vec(eval3, act, &x);
            for i in [1, 3, 5] {
                assert!(a[i].is_nan(), "{path}: {act}");
                if act == Activation::Identity {
                    // σ' = 1 and σ'' = 0 hold for every input of a linear function.
                    assert_eq!((s1[i], s2[i]), (1.0, 0.0));
                } else {
                    assert!(s1[i].is_nan() && s2[i].is_nan(), "{path}: {act}");
                }
            }
            assert!(a[0].is_finite() && s1[2].is_finite() && s2[4].is_finite());
        }
    }
}

/// At ±∞ and ±10³⁰⁰ the kernels return the limits: GELU (0, 0, 0) at −∞ and
/// (x, 1, 0) at +∞, SiLU likewise, tanh (±1, 0, 0); zero inputs give
/// (0, σ'(0), σ''(0)) exactly, and subnormal inputs match the scalar path.
#[test]
fn limits_zeros_and_subnormal_inputs() {
    let x = [f64::NEG_INFINITY, -1e300, 1e300, f64::INFINITY, 0.0, -0.0, f64::from_bits(1), -f64::from_bits(3)];
    for (path, _, _, eval3) in PATHS {
        for act in SMOOTH {
            let (a, s1, s2) = eval3_vec(eval3, act, &x);
            let sat = act == Activation::Tanh;
            for i in 0..2 {
                assert_eq!(a[i], if sat { -1.0 } else { 0.0 }, "{path}: {act}({})", x[i]);
                assert_eq!((s1[i], s2[i]), (0.0, 0.0), "{path}: {act}({})", x[i]);
            }
            for i in 2..4 {
                assert_eq!(a[i], if sat { 1.0 } else { x[i] }, "{path}: {act}({})", x[i]);
                let d1 = if sat { 0.0 } else { 1.0 };
                assert_eq!((s1[i], s2[i]), (d1, 0.0), "{path}: {act}({})", x[i]);
            }
            for i in 4..8 {
                let r = act.eval3(x[i]);
                assert_eq!((a[i], s1[i], s2[i]), r, "{path}: {act}({:e})", x[i]);
            }
        }
    }
}

/// Mismatched output lengths panic instead of writing out of bounds.
#[test]
#[should_panic(expected = "length")]
fn mismatched_lengths_panic() {
    let z = [1.0, 2.0, 3.0];
    let (mut a, mut s1, mut s2) = ([0.0; 3], [0.0; 2], [0.0; 3]);
    Activation::Gelu.eval3_slice(&z, &mut a, &mut s1, &mut s2);
}

/// Whether this CPU runs the AVX2 + FMA copies (`fastmath::avx2` is the baseline
/// otherwise).
fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether this CPU runs the AVX-512 copies (F, DQ and VL besides AVX2 + FMA), which the
/// dispatched path then picks.
fn has_avx512() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_avx2_fma()
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Counts the elements where `a` and `b` differ in their bits (NaN and NaN count as
/// equal: their sign and payload are not specified) and checks that each difference is
/// within `tol` ulp of `scale(i)`; NaN must meet NaN, and differences whose scale is
/// below the normal range are counted but not measured.
fn differences(what: &str, z: &[f64], a: &[f64], b: &[f64], tol: f64, scale: impl Fn(usize) -> f64) -> usize {
    let mut differ = 0;
    let mut worst = (0.0, 0.0);
    for i in 0..z.len() {
        if a[i].to_bits() == b[i].to_bits() || (a[i].is_nan() && b[i].is_nan()) {
            continue;
        }
        differ += 1;
        assert!(!a[i].is_nan() && !b[i].is_nan(), "{what} at {:e}: {:e} vs {:e}", z[i], a[i], b[i]);
        let sc = scale(i);
        if sc.abs() < f64::MIN_POSITIVE {
            continue;
        }
        let e = err_ulps(a[i], b[i], sc);
        assert!(e <= tol, "{what} at {:e}: {:e} vs {:e}, {e} ulp apart (bound {tol})", z[i], a[i], b[i]);
        if e > worst.0 {
            worst = (e, z[i]);
        }
    }
    eprintln!("{what}: {differ} of {} differ, at most {:.2} ulp (at {:e}; bound {tol})", z.len(), worst.0, worst.1);
    differ
}

/// The AVX2 + FMA copies (`fastmath::avx2`) against the portable baseline
/// (`fastmath::portable`): two separately compiled copies whose multiply–adds round
/// once and twice. Each is within the bounds of the `fastmath` module doc of the exact
/// values, so they agree to the sum of the two bounds (ulp of the value, scaled ulp for
/// the derivatives of GELU and SiLU): exp 0.82 + 0.82 → 2, Φ 3.1 + 3.8 → 7, φ 0.94 +
/// 1.03 → 2, GELU (6, 5, 4), SiLU (4.5, 6, 7), tanh (3, 3, 6). And they must differ
/// somewhere, or the test compared a copy with itself. Where the baseline is built
/// with FMA (`-C target-feature=+fma`), both compute the same arithmetic and must
/// agree bit for bit; on CPUs without AVX2 + FMA, and off x86-64, `fastmath::avx2` is
/// the baseline itself and only that fallback is checked (bit for bit).
#[test]
fn avx2_fma_copy_agrees_with_portable_baseline_to_the_documented_bounds() {
    const TOL: [[f64; 3]; 3] = [[6.0, 5.0, 4.0], [4.5, 6.0, 7.0], [3.0, 3.0, 6.0]];
    let two_copies = has_avx2_fma();
    let fma_baseline = cfg!(any(target_arch = "aarch64", target_feature = "fma"));
    // Tolerances apply where the copies differ in rounding; otherwise bit for bit.
    let bits = !two_copies || fma_baseline;
    if !two_copies {
        eprintln!("this CPU lacks AVX2 + FMA: fastmath::avx2 runs the baseline, checked bit for bit");
    }
    let tol = |t: f64| if bits { 0.0 } else { t };
    let mut differ = 0;

    let x = dense_inputs();
    for (k, act) in SMOOTH.into_iter().enumerate() {
        let fast = eval3_vec(fastmath::avx2::eval3_slice, act, &x);
        let base = eval3_vec(fastmath::portable::eval3_slice, act, &x);
        let terms = |i: usize| {
            let xi = x[i];
            Terms {
                x: xi,
                cdf: geodyn_nn::special::normal_cdf(xi),
                pdf: geodyn_nn::special::normal_pdf(xi),
                s: geodyn_nn::activation::sigmoid(xi),
                sm: geodyn_nn::activation::sigmoid(-xi),
            }
        };
        for (j, (f, b)) in [(&fast.0, &base.0), (&fast.1, &base.1), (&fast.2, &base.2)].into_iter().enumerate() {
            differ +=
                differences(&format!("{act} output {j}"), &x, f, b, tol(TOL[k][j]), |i| scale(act, j, &terms(i), f[i]));
        }
    }

    let x = exp_inputs();
    let (mut f, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    fastmath::avx2::exp_slice(&x, &mut f);
    fastmath::portable::exp_slice(&x, &mut b);
    differ += differences("exp", &x, &f, &b, tol(2.0), |i| f[i]);

    let x = dense_inputs();
    let (mut fc, mut fp, mut bc, mut bp) =
        (vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()], vec![0.0; x.len()]);
    fastmath::avx2::normal_cdf_pdf_slice(&x, &mut fc, &mut fp);
    fastmath::portable::normal_cdf_pdf_slice(&x, &mut bc, &mut bp);
    differ += differences("Φ", &x, &fc, &bc, tol(7.0), |i| fc[i]);
    differ += differences("φ", &x, &fp, &bp, tol(2.0), |i| fp[i]);

    if bits {
        assert_eq!(differ, 0, "the copies compute the same arithmetic but differ in {differ} results");
    } else {
        assert!(differ > 0, "the AVX2 + FMA and baseline copies never differ: did both run the same code?");
    }
}

/// The dispatched copy (`fastmath::best_isa()`: AVX-512 F, DQ and VL where present,
/// else AVX2 + FMA, else the baseline) agrees bit for bit with the AVX2 copy
/// (`fastmath::avx2`, which itself runs the baseline on CPUs without AVX2 + FMA) on
/// every input, including ±∞, NaN (with NaN; its sign is not specified) and subnormals:
/// the AVX-512 copies compute the same FMA arithmetic in wider vectors. The dispatched
/// ISA must be the one the CPU's feature bits select, and is printed on stderr. On a CPU
/// with AVX-512 this compares two different compiled copies; elsewhere the dispatched
/// copy *is* the AVX2 copy (or both are the baseline) and the comparison holds by
/// construction, which the printed ISA makes visible in the test log.
#[test]
fn dispatched_copy_agrees_bit_for_bit_with_avx2_copy() {
    let isa = fastmath::best_isa();
    let expected = if has_avx512() {
        fastmath::Isa::Avx512
    } else if has_avx2_fma() {
        fastmath::Isa::Avx2
    } else {
        fastmath::Isa::Baseline
    };
    assert_eq!(isa, expected, "the dispatched ISA is the widest one the CPU supports");
    match isa {
        fastmath::Isa::Avx512 => eprintln!("dispatched ISA: {isa:?}: comparing the AVX-512 copy with the AVX2 copy"),
        _ => eprintln!("dispatched ISA: {isa:?}: the dispatched copy is the AVX2 copy's code; equal by construction"),
    }
    let mut rng = seeded(7);
    let mut z: Vec<f64> =
        (0..4099).map(|i| rng.random_range(-0.5..0.5) * if i % 2 == 0 { 16.0 } else { 90.0 }).collect();
    z.extend(dense_inputs());
    z.extend([f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, -745.2, 710.0]);
    for act in SMOOTH {
        let best = eval3_vec(eval3_auto, act, &z);
        let avx2 = eval3_vec(fastmath::avx2::eval3_slice, act, &z);
        for (j, (b, a)) in [(&best.0, &avx2.0), (&best.1, &avx2.1), (&best.2, &avx2.2)].into_iter().enumerate() {
            assert_eq!(differences(&format!("{act} output {j}"), &z, b, a, 0.0, |_| 1.0), 0);
        }
    }
    let mut x = exp_inputs();
    x.extend([f64::NAN, f64::INFINITY, f64::NEG_INFINITY]);
    let (mut e1, mut e2) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    exp_slice(&x, &mut e1);
    fastmath::avx2::exp_slice(&x, &mut e2);
    assert_eq!(differences("exp", &x, &e1, &e2, 0.0, |_| 1.0), 0);
    let n = z.len();
    let (mut c1, mut p1, mut c2, mut p2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    normal_cdf_pdf_slice(&z, &mut c1, &mut p1);
    fastmath::avx2::normal_cdf_pdf_slice(&z, &mut c2, &mut p2);
    assert_eq!(differences("Φ", &z, &c1, &c2, 0.0, |_| 1.0), 0);
    assert_eq!(differences("φ", &z, &p1, &p2, 0.0, |_| 1.0), 0);
}
