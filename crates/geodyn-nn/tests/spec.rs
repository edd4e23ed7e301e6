//! Model specs: parsing, parameter counts and PyTorch's `parameters_to_vector` layout.

use geodyn_nn::{Activation, Dense, ModelSpec, NnError};
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;

/// K = Σ_l (out_l · in_l + out_l): for 1-16-16-16-1, 32 + 272 + 272 + 17 = 593.
#[test]
fn parse_counts_parameters_like_pytorch() {
    let spec: ModelSpec = "1-16-16-16-1:gelu".parse().unwrap();
    assert_eq!(spec.num_params(), 593);
    assert_eq!(spec.widths(), vec![1, 16, 16, 16, 1]);
    assert_eq!((spec.input_dim(), spec.output_dim()), (1, 1));
    assert_eq!(spec.layers().len(), 4);
    assert!(spec.layers()[..3].iter().all(|l| l.activation == Activation::Gelu));
    assert_eq!(spec.layers()[3].activation, Activation::Identity);
    assert_eq!(spec.to_string(), "1-16-16-16-1:gelu");
    // Output activation, whitespace and case are accepted; the string round-trips.
    let s2: ModelSpec = " 2-8-3 : Tanh : silu ".parse().unwrap();
    assert_eq!(s2.layers()[1].activation, Activation::Silu);
    assert_eq!(s2.to_string().parse::<ModelSpec>().unwrap(), s2);
    // A linear model needs no activation.
    let lin: ModelSpec = "3-1".parse().unwrap();
    assert_eq!(lin.num_params(), 4);
    assert_eq!(lin.to_string(), "3-1");
}

/// Malformed specs give errors that quote the spec and say what is wrong.
#[test]
fn parse_errors_are_clear() {
    let cases = [
        ("", "no widths"),
        ("1-16-1", "missing activation"),
        ("1-16-1:gelux", "unknown activation \"gelux\""),
        ("1-0-1:gelu", "width #2 is zero"),
        ("1-a-1:gelu", "width #2 (\"a\") is not a positive integer"),
        ("1--1:gelu", "width #2 (\"\") is not a positive integer"),
        ("4:relu", "at least an input and an output width"),
        ("1-2-1:relu:tanh:gelu", "too many"),
    ];
    for (s, want) in cases {
        let e = s.parse::<ModelSpec>().unwrap_err();
        assert!(matches!(e, NnError::Spec { .. }), "{s}: {e:?}");
        let msg = e.to_string();
        assert!(msg.contains(want), "{s:?}: message {msg:?} lacks {want:?}");
        assert!(msg.contains(&format!("{s:?}")), "{s:?}: message {msg:?} does not quote the spec");
    }
    let e = ModelSpec::from_layers(vec![
        Dense { input: 2, output: 3, activation: Activation::Tanh },
        Dense { input: 4, output: 1, activation: Activation::Identity },
    ])
    .unwrap_err();
    assert!(e.to_string().contains("layer 0 has 3 outputs but layer 1 expects 4 inputs"), "{e}");
}

/// The flat vector is PyTorch's: for nn.Sequential(Linear(2,3), Tanh(), Linear(3,2))
/// it is [W0 (3×2 row-major), b0 (3), W1 (2×3 row-major), b1 (2)], and the forward pass
/// computes z = W a + b with W[o][i] = θ[offset + o·in + i]. Checked against a
/// hand-written implementation of exactly that layout.
#[test]
fn parameter_layout_matches_pytorch_parameters_to_vector() {
    let spec: ModelSpec = "2-3-2:tanh".parse().unwrap();
    assert_eq!(spec.num_params(), 17);
    assert_eq!(spec.torch_names(), ["0.weight", "0.bias", "2.weight", "2.bias"]);
    let layout = spec.tensor_layout();
    let want: Vec<(String, Vec<usize>, usize)> = vec![
        ("0.weight".into(), vec![3, 2], 0),
        ("0.bias".into(), vec![3], 6),
        ("2.weight".into(), vec![2, 3], 9),
        ("2.bias".into(), vec![2], 15),
    ];
    assert_eq!(layout, want);
    assert_eq!((spec.weight_offset(1), spec.bias_offset(1)), (9, 15));

    let theta: Vec<f64> = (0..17).map(|k| 0.1 * (k as f64) - 0.7 + 0.03 * ((k * k) as f64).sin()).collect();
    // Hand-written PyTorch semantics.
    let w0 = |o: usize, i: usize| theta[o * 2 + i];
    let b0 = |o: usize| theta[6 + o];
    let w1 = |o: usize, i: usize| theta[9 + o * 3 + i];
    let b1 = |o: usize| theta[15 + o];
    let x = [0.4, -1.3];
    let h: Vec<f64> = (0..3).map(|o| (w0(o, 0) * x[0] + w0(o, 1) * x[1] + b0(o)).tanh()).collect();
    let y: Vec<f64> = (0..2).map(|o| w1(o, 0) * h[0] + w1(o, 1) * h[1] + w1(o, 2) * h[2] + b1(o)).collect();

    let mut out = [0.0; 2];
    spec.forward(&theta, &x, &mut out, &mut Vec::new()).unwrap();
    for (a, b) in out.iter().zip(&y) {
        assert!((a - b).abs() < 1e-15, "{out:?} vs {y:?}");
    }
    let (w, b) = spec.layer_params(&theta, 1);
    assert_eq!((w.len(), b.len(), b[0]), (6, 2, theta[15]));
}

/// Batched predictions are [S, n, m], sample-major: block s equals the single forward
/// pass with parameter vector s.
#[test]
fn predict_is_sample_major_and_matches_forward() {
    let spec: ModelSpec = "2-5-3:gelu".parse().unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let sets: Vec<f64> = (0..4).flat_map(|_| spec.init_params(&mut rng)).collect();
    let inputs: Vec<f64> = (0..14).map(|i| (i as f64 * 0.37).sin()).collect(); // n = 7
    let mut out = vec![0.0; 4 * 7 * 3];
    spec.predict(&sets, &inputs, &mut out).unwrap();
    let k = spec.num_params();
    for s in 0..4 {
        let mut one = vec![0.0; 21];
        spec.forward(&sets[s * k..(s + 1) * k], &inputs, &mut one, &mut Vec::new()).unwrap();
        assert_eq!(&out[s * 21..(s + 1) * 21], one.as_slice());
    }
    // Wrong lengths are errors, not panics.
    assert!(spec.predict(&sets[1..], &inputs, &mut out).is_err());
    assert!(spec.predict(&sets, &inputs[1..], &mut out).is_err());
    assert!(spec.predict(&sets, &inputs, &mut out[1..]).is_err());
}

/// The backends' shared prediction check: shapes as `predict_shape` gives them, and a NaN
/// or infinite parameter or input is `NonFinite` naming the argument.
#[test]
fn check_predict_reports_shape_and_non_finite_arguments() {
    let spec: ModelSpec = "2-5-3:gelu".parse().unwrap();
    let k = spec.num_params();
    let mut sets = vec![0.1; 2 * k];
    let mut inputs = vec![0.5; 2 * 4];
    assert_eq!(spec.check_predict(&sets, &inputs, 2 * 4 * 3).unwrap(), (2, 4));
    let short = spec.check_predict(&sets, &inputs, 5).unwrap_err().to_string();
    assert!(short.contains("predictions [S, n, m]"), "{short}");
    sets[k + 3] = f64::NAN;
    assert!(matches!(
        spec.check_predict(&sets, &inputs, 24),
        Err(geodyn_core::Error::NonFinite { what: "param_sets" })
    ));
    sets[k + 3] = 0.1;
    inputs[7] = f64::INFINITY;
    assert!(matches!(spec.check_predict(&sets, &inputs, 24), Err(geodyn_core::Error::NonFinite { what: "inputs" })));
}

/// PyTorch's default Linear init: every entry of layer l lies in [−1/√in_l, 1/√in_l),
/// and the draw is deterministic for a fixed ChaCha8 seed.
#[test]
fn init_params_follow_pytorch_bounds() {
    let spec: ModelSpec = "4-16-1:relu".parse().unwrap();
    let p = spec.init_params(&mut ChaCha8Rng::seed_from_u64(3));
    let q = spec.init_params(&mut ChaCha8Rng::seed_from_u64(3));
    assert_eq!(p, q);
    let (w0, b0) = spec.layer_params(&p, 0);
    let (w1, b1) = spec.layer_params(&p, 1);
    assert!(w0.iter().chain(b0).all(|v| v.abs() <= 0.5));
    assert!(w1.iter().chain(b1).all(|v| v.abs() <= 0.25));
    assert!(w0.iter().any(|v| v.abs() > 0.25), "layer 0 uses its wider bound");
}
