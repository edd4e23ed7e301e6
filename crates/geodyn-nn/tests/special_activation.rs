//! Special functions and activations against high-precision reference values.
//!
//! The reference numbers were computed with mpmath 1.3.0 at 50 significant digits,
//! at the exact binary value of each f64 input (`mp.mpf(float(x))`):
//! erf / erfc with `mp.erf`, `mp.erfc`; σ, σ', σ'' of GELU (x·Φ(x) with `mp.ncdf`),
//! SiLU (x/(1+e^{−x})) and tanh with `mp.diff` (order 1 and 2).
#![allow(clippy::excessive_precision)] // the references carry 20 digits on purpose

use geodyn_nn::Activation;
use geodyn_nn::special::{erf, erfc, normal_cdf, normal_pdf};

/// (x, erf(x), erfc(x)).
#[rustfmt::skip]
const ERF: &[(f64, f64, f64)] = &[
    (-6.0, -0.99999999999999997848, 1.9999999999999999785),
    (-4.5, -0.99999999980338395585, 1.9999999998033839558),
    (-3.0, -0.99997790950300141456, 1.9999779095030014146),
    (-2.0, -0.99532226501895273416, 1.9953222650189527342),
    (-1.0, -0.84270079294971486934, 1.8427007929497148693),
    (-0.5, -0.52049987781304653768, 1.5204998778130465377),
    (-0.001, -0.0011283787909692364034, 1.0011283787909692364),
    (1e-10, 1.1283791670955126150e-10, 0.99999999988716208329),
    (0.001, 0.0011283787909692364034, 0.99887162120903076360),
    (0.1, 0.11246291601828489840, 0.88753708398171510160),
    (0.5, 0.52049987781304653768, 0.47950012218695346232),
    (0.84375, 0.76722566123234163346, 0.23277433876765836654),
    (1.0, 0.84270079294971486934, 0.15729920705028513066),
    (1.25, 0.92290012825645823014, 0.077099871743541769863),
    (2.0, 0.99532226501895273416, 0.0046777349810472658379),
    (2.857, 0.99994664173991315363, 0.000053358260086846371124),
    (3.0, 0.99997790950300141456, 0.000022090496998585441373),
    (4.0, 0.99999998458274209972, 1.5417257900280018852e-8),
    (5.5, 0.99999999999999264215, 7.3578479179743980631e-15),
    (6.0, 0.99999999999999997848, 2.1519736712498913117e-17),
    (10.0, 1.0000000000000000000, 2.0884875837625447570e-45),
    (26.0, 1.0000000000000000000, 5.6631924088561428465e-296),
];

/// (x, σ(x), σ'(x), σ''(x)) for GELU = x Φ(x).
#[rustfmt::skip]
const GELU: &[(f64, f64, f64, f64)] = &[
    (-8.0, -4.9767684594174272988e-15, -3.9796072610867959891e-14, -3.1324080717928732185e-13),
    (-5.0, -1.4332578593959695584e-6, -7.1469460017922946279e-6, -0.000034194548838888847282),
    (-3.0, -0.0040496940948902835800, -0.011945647204183927000, -0.031022938883566050229),
    (-1.5, -0.10021080190328709901, -0.12746919222997952542, -0.032379398916472931904),
    (-0.7, -0.16937455655615110929, 0.023385898866340155713, 0.47150343938380953230),
    (-0.1, -0.046017216272297104188, 0.42047690797526983760, 0.78993556947925341249),
    (0.0, 0.0, 0.50000000000000000000, 0.79788456080286535588),
    (0.3, 0.18537342665668578306, 0.73232776682710985490, 0.72845072752960100848),
    (1.0, 0.84134474606854294859, 1.0833154705876862984, 0.24197072451914334980),
    (2.2, 2.1694124154703032457, 1.0641406567482105274, -0.10074784368329726229),
    (4.0, 3.9998733150326675203, 1.0005036496612264215, -0.0018736231607083949248),
    (9.0, 8.9999999999999999990, 1.0000000000000000091, -8.1210211216184426883e-17),
];

/// (x, σ(x), σ'(x), σ''(x)) for SiLU = x · sigmoid(x).
#[rustfmt::skip]
const SILU: &[(f64, f64, f64, f64)] = &[
    (-8.0, -0.0026828010437318248310, -0.0023465512355853156561, -0.0020096272725928379302),
    (-5.0, -0.033464254621424277797, -0.026547432429665919011, -0.019499225490032504862),
    (-3.0, -0.14227761953270034264, -0.088104106015169617069, -0.032321404521006170551),
    (-1.5, -0.27363828570953451059, -0.041294154299142944360, 0.15619758496353670247),
    (-0.7, -0.23226855948228371759, 0.17661321652665757556, 0.39122059467797884629),
    (-0.1, -0.047502081252106003889, 0.45008320850177081436, 0.49750623821363715102),
    (0.0, 0.0, 0.50000000000000000000, 0.50000000000000000000),
    (0.3, 0.17233275504349768895, 0.64778001031888274257, 0.47799776819481886648),
    (1.0, 0.73105857863000487925, 0.92767051187148673179, 0.30236611881001529563),
    (2.2, 1.9805489239366928716, 1.0978102347684660454, 0.021453491869350526757),
    (4.0, 3.9280551601516337679, 1.0526646148910729077, -0.032783931286974287743),
    (9.0, 8.9988894488161239144, 1.0009870195718974084, -0.00086338141018804792563),
];

/// (x, σ(x), σ'(x), σ''(x)) for tanh.
#[rustfmt::skip]
const TANH: &[(f64, f64, f64, f64)] = &[
    (-8.0, -0.99999977492967588981, 4.5014059756372916727e-7, 9.0028099250087795689e-7),
    (-5.0, -0.99990920426259513121, 0.00018158323094380668413, 0.00036313348792090556523),
    (-3.0, -0.99505475368673045133, 0.0098660371654401912732, 0.019634494363042435638),
    (-1.5, -0.90514825364486643824, 0.18070663892364853060, 0.32713259728754782893),
    (-0.7, -0.60436777711716346812, 0.63473958998245862144, 0.76723231009191655550),
    (-0.1, -0.099667994624955822614, 0.99006629084743977725, 0.19735584350906515175),
    (0.0, 0.0, 1.0000000000000000000, 0.0),
    (0.3, 0.29131261245159089566, 0.91513696182662920906, -0.53318187820145433257),
    (1.0, 0.76159415595576488812, 0.41997434161402606939, -0.63970000844922450019),
    (2.2, 0.97574313003145152893, 0.047925344196425873441, -0.093525650708110483827),
    (4.0, 0.99932929973906704379, 0.0013409506830258968800, -0.0026801026141057863702),
    (9.0, 0.99999996954004097448, 6.0919917123232291941e-8, -1.2183983053522822506e-7),
];

/// |a − b| in units of the spacing of f64 at b (1 ulp at b).
fn ulps(a: f64, b: f64) -> f64 {
    if a == b {
        return 0.0;
    }
    let spacing = if b == 0.0 { f64::MIN_POSITIVE } else { b.abs() * f64::EPSILON / 2.0 };
    (a - b).abs() / spacing
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs().max(1e-300) }
}

/// erf and erfc agree with the reference to within 2 ulp everywhere, including the far
/// tail of erfc (relative accuracy at 1e-296) and erf(tiny) ≈ 2x/√π.
#[test]
fn erf_and_erfc_match_mpmath_to_two_ulp() {
    for &(x, e, ec) in ERF {
        assert!(ulps(erf(x), e) <= 2.0, "erf({x}) = {:e}, reference {e:e} ({} ulp)", erf(x), ulps(erf(x), e));
        assert!(ulps(erfc(x), ec) <= 2.0, "erfc({x}) = {:e}, reference {ec:e} ({} ulp)", erfc(x), ulps(erfc(x), ec));
    }
}

/// erf is odd and erf + erfc = 1 (identities).
#[test]
fn erf_is_odd_and_complements_erfc() {
    for i in -400..=400 {
        let x = i as f64 * 0.0137;
        assert_eq!(erf(-x), -erf(x));
        assert!((erf(x) + erfc(x) - 1.0).abs() <= 2.0 * f64::EPSILON, "x = {x}");
    }
}

/// Φ(x) = ½ erfc(−x/√2) keeps relative accuracy in the lower tail (no 1 + erf
/// cancellation): Φ(−30) ≈ 4.906713927148187e−198 (mpmath), and φ' = −xφ.
#[test]
fn normal_cdf_is_accurate_in_the_lower_tail() {
    assert!(rel(normal_cdf(-30.0), 4.906_713_927_148_187e-198) < 1e-13);
    assert_eq!(normal_cdf(0.0), 0.5);
    let h = 1e-5;
    for x in [-2.0, -0.3, 0.7, 3.1] {
        let fd = (normal_pdf(x + h) - normal_pdf(x - h)) / (2.0 * h);
        assert!((fd + x * normal_pdf(x)).abs() < 1e-10);
    }
}

fn check_reference(act: Activation, table: &[(f64, f64, f64, f64)], tol: f64) {
    // The vectorised slice kernels against the same references, all points in one slice.
    let z: Vec<f64> = table.iter().map(|r| r.0).collect();
    let n = z.len();
    let (mut a, mut s1, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    act.eval3_slice(&z, &mut a, &mut s1, &mut s2);
    for (i, &(x, v, d, dd)) in table.iter().enumerate() {
        let close = |a: f64, b: f64| (a - b).abs() <= tol * b.abs() + 1e-300;
        assert!(close(a[i], v), "{act} slice({x}) = {:e}, reference {v:e}", a[i]);
        assert!(close(s1[i], d), "{act}' slice({x}) = {:e}, reference {d:e}", s1[i]);
        assert!(close(s2[i], dd), "{act}'' slice({x}) = {:e}, reference {dd:e}", s2[i]);
    }
    for &(x, v, d, dd) in table {
        let (v2, d2, dd2) = act.eval3(x);
        // Relative accuracy, with an absolute floor of tol·1e-16 for values near zero.
        let close = |a: f64, b: f64| (a - b).abs() <= tol * b.abs() + 1e-300;
        assert!(close(v2, v), "{act}({x}) = {v2:e}, reference {v:e}");
        assert!(close(d2, d), "{act}'({x}) = {d2:e}, reference {d:e}");
        assert!(close(dd2, dd), "{act}''({x}) = {dd2:e}, reference {dd:e}");
        assert_eq!(act.value(x), v2, "value and eval3 agree");
        assert_eq!(act.eval2(x), (v2, d2), "eval2 and eval3 agree");
        assert_eq!(act.derivative(x), d2);
        assert_eq!(act.second_derivative(x), dd2);
    }
}

/// GELU σ = xΦ, σ' = Φ + xφ, σ'' = φ(2 − x²) match the high-precision values to 1e-14
/// relative, from x = −8 (σ ≈ −5e−15) to x = 9, for the scalar `eval3` and for
/// `eval3_slice`.
#[test]
fn gelu_and_derivatives_match_mpmath() {
    check_reference(Activation::Gelu, GELU, 1e-14);
}

/// SiLU σ = x s, σ' = s(1 + x(1−s)), σ'' = s(1−s)(2 + x(1−2s)) match to 1e-14 relative
/// (scalar and slice).
#[test]
fn silu_and_derivatives_match_mpmath() {
    check_reference(Activation::Silu, SILU, 1e-14);
}

/// tanh, sech² and −2 tanh sech² match to 1e-14 relative, including x = ±8, 9 where
/// 1 − tanh² would lose 8 digits (scalar and slice).
#[test]
fn tanh_and_derivatives_match_mpmath() {
    check_reference(Activation::Tanh, TANH, 1e-14);
}

/// σ' and σ'' agree with central differences of σ and σ' (O(h²) truncation, h = 1e-5)
/// for every activation away from ReLU's kink.
#[test]
fn derivatives_agree_with_central_differences() {
    let h = 1e-5;
    for act in Activation::ALL {
        for i in 0..41 {
            let x = -4.0 + 0.2 * i as f64 + 0.013; // avoids x = 0 exactly
            let (_, d, dd) = act.eval3(x);
            let fd1 = (act.value(x + h) - act.value(x - h)) / (2.0 * h);
            let fd2 = (act.derivative(x + h) - act.derivative(x - h)) / (2.0 * h);
            assert!((fd1 - d).abs() < 1e-8 * (1.0 + d.abs()), "{act}'({x}): {d} vs {fd1}");
            assert!((fd2 - dd).abs() < 1e-8 * (1.0 + dd.abs()), "{act}''({x}): {dd} vs {fd2}");
        }
    }
}

/// ReLU follows PyTorch at the kink (σ'(0) = 0) and passes NaN through, identity is
/// (x, 1, 0), and names round-trip through `FromStr`.
#[test]
fn relu_identity_and_names() {
    assert_eq!(Activation::Relu.eval3(0.0), (0.0, 0.0, 0.0));
    let (v, d, dd) = Activation::Relu.eval3(f64::NAN);
    assert!(v.is_nan() && d.is_nan() && dd.is_nan());
    assert!(Activation::Relu.value(f64::NAN).is_nan());
    assert!(Activation::Relu.eval2(f64::NAN).1.is_nan());
    assert_eq!(Activation::Relu.eval3(2.5), (2.5, 1.0, 0.0));
    assert_eq!(Activation::Relu.eval3(-2.5), (0.0, 0.0, 0.0));
    assert_eq!(Activation::Identity.eval3(-1.5), (-1.5, 1.0, 0.0));
    for a in Activation::ALL {
        assert_eq!(a.name().parse::<Activation>().unwrap(), a);
        assert_eq!(a.to_string().to_uppercase().parse::<Activation>().unwrap(), a);
    }
    assert_eq!("swish".parse::<Activation>().unwrap(), Activation::Silu);
    let err = "softplus".parse::<Activation>().unwrap_err().to_string();
    assert!(err.contains("softplus") && err.contains("gelu"), "{err}");
}

/// The activations stay finite and saturate correctly for huge arguments.
#[test]
fn activations_are_finite_at_extremes() {
    for act in Activation::ALL {
        for x in [-1e300, -800.0, -40.0, 40.0, 800.0, 1e300] {
            let (v, d, dd) = act.eval3(x);
            assert!(v.is_finite() && d.is_finite() && dd.is_finite(), "{act} at {x}: {v} {d} {dd}");
        }
    }
    assert_eq!(Activation::Gelu.value(-40.0), -0.0);
    assert_eq!(Activation::Tanh.eval3(800.0), (1.0, 0.0, -0.0));
}
