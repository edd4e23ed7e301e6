//! Parity with the dual backend (`geodyn_dual::MlpObjective`) on the same spec,
//! parameters and data: value to 1e-12 relative, gradient 1e-10, vᵀHv (exact in both)
//! 1e-10, HVP (differenced here, exact there) 1e-6, GGN·v, J v, Jᵀu, E''[v,v] and
//! predictions 1e-10, for every activation and both losses.

mod common;
use common::{Pair, classification, regression, rel, rel_err};
use geodyn_core::{Embedding, ModelObjective, Objective};

/// Runs every comparison on one problem and returns the worst relative errors
/// (value, gradient, vᵀHv, Hv, GGN·v).
fn check(name: &str, p: &Pair) -> [f64; 5] {
    let k = p.dual.dim();
    assert_eq!(p.dfdx.dim(), k);
    let (th, v) = (&p.theta, &p.v);
    // value
    let (f1, f2) = (p.dual.value(th).unwrap(), p.dfdx.value(th).unwrap());
    let e_val = rel(f2, f1);
    // gradient (and the value it returns)
    let (mut g1, mut g2) = (vec![0.0; k], vec![0.0; k]);
    let fg = p.dfdx.gradient(th, &mut g2).unwrap();
    p.dual.gradient(th, &mut g1).unwrap();
    let e_grad = rel_err(&g2, &g1);
    assert!(rel(fg, f1) < 1e-12, "{name}: gradient's value {fg} vs {f1}");
    // fused gradient + curvature
    let (mut c1, mut c2) = (vec![0.0; k], vec![0.0; k]);
    let (fc1, vhv1) = p.dual.grad_and_curvature(th, v, &mut c1).unwrap();
    let (fc2, vhv2) = p.dfdx.grad_and_curvature(th, v, &mut c2).unwrap();
    assert!(rel(fc2, fc1) < 1e-12, "{name}: fused value");
    assert!(rel_err(&c2, &c1) < 1e-10, "{name}: fused gradient {:e}", rel_err(&c2, &c1));
    let e_vhv = rel(vhv2, vhv1);
    // Hessian-vector product
    let (mut h1, mut h2) = (vec![0.0; k], vec![0.0; k]);
    p.dual.hvp(th, v, &mut h1).unwrap();
    p.dfdx.hvp(th, v, &mut h2).unwrap();
    let e_hv = rel_err(&h2, &h1);
    // GGN-vector product
    let (mut q1, mut q2) = (vec![0.0; k], vec![0.0; k]);
    p.dual.ggn_vp(th, v, &mut q1).unwrap();
    p.dfdx.ggn_vp(th, v, &mut q2).unwrap();
    let e_ggn = rel_err(&q2, &q1);
    // outputs, J v, Jᵀu, E''[v, v]
    let no = p.dual.num_outputs();
    let (mut o1, mut o2) = (vec![0.0; no], vec![0.0; no]);
    p.dual.outputs(th, &mut o1).unwrap();
    p.dfdx.outputs(th, &mut o2).unwrap();
    assert!(rel_err(&o2, &o1) < 1e-12, "{name}: outputs {:e}", rel_err(&o2, &o1));
    p.dual.jvp(th, v, &mut o1).unwrap();
    p.dfdx.jvp(th, v, &mut o2).unwrap();
    assert!(rel_err(&o2, &o1) < 1e-10, "{name}: jvp {:e}", rel_err(&o2, &o1));
    let u: Vec<f64> = (0..no).map(|i| ((i * 13 % 7) as f64 - 3.0) / 3.0).collect();
    p.dual.vjp(th, &u, &mut g1).unwrap();
    p.dfdx.vjp(th, &u, &mut g2).unwrap();
    assert!(rel_err(&g2, &g1) < 1e-10, "{name}: vjp {:e}", rel_err(&g2, &g1));
    let (e1, e2) = (p.dual.outputs_embedding(), p.dfdx.outputs_embedding());
    e1.second_directional(th, v, &mut o1).unwrap();
    e2.second_directional(th, v, &mut o2).unwrap();
    assert!(rel_err(&o2, &o1) < 1e-10, "{name}: E''[v,v] {:e}", rel_err(&o2, &o1));
    // batched predictions of three parameter sets at fresh inputs
    let d = p.dual.spec().input_dim();
    let m = p.dual.spec().output_dim();
    let inputs: Vec<f64> = (0..5 * d).map(|i| (i as f64 * 0.37).cos() * 2.0).collect();
    let sets: Vec<f64> = [th.clone(), v.clone(), th.iter().zip(v).map(|(a, b)| a - 0.5 * b).collect()].concat();
    let (mut p1, mut p2) = (vec![0.0; 3 * 5 * m], vec![0.0; 3 * 5 * m]);
    p.dual.predict(&sets, &inputs, &mut p1).unwrap();
    p.dfdx.predict(&sets, &inputs, &mut p2).unwrap();
    assert!(rel_err(&p2, &p1) < 1e-12, "{name}: predict {:e}", rel_err(&p2, &p1));

    println!(
        "{name:<28} K={k:<5} value {e_val:.1e}  grad {e_grad:.1e}  vHv {e_vhv:.1e}  Hv {e_hv:.1e}  GGNv {e_ggn:.1e}"
    );
    assert!(e_val < 1e-12, "{name}: value {f2} vs {f1}: {e_val:e}");
    assert!(e_grad < 1e-10, "{name}: gradient {e_grad:e}");
    assert!(e_vhv < 1e-10, "{name}: vᵀHv {vhv2} vs {vhv1}: {e_vhv:e}");
    assert!(e_hv < 1e-6, "{name}: Hv {e_hv:e}");
    assert!(e_ggn < 1e-10, "{name}: GGN·v {e_ggn:e}");
    [e_val, e_grad, e_vhv, e_hv, e_ggn]
}

#[test]
fn regression_parity_every_activation() {
    for (i, act) in ["gelu", "silu", "tanh", "relu", "identity"].iter().enumerate() {
        let p = regression(&format!("2-6-5-1:{act}"), 23, 10 + i as u64);
        check(&format!("regression 2-6-5-1:{act}"), &p);
    }
}

#[test]
fn regression_parity_multi_output_and_deep() {
    check("regression 3-8-2:gelu", &regression("3-8-2:gelu", 17, 3));
    check("regression 1-16-16-16-1:gelu", &regression("1-16-16-16-1:gelu", 40, 4));
    check("regression 2-4-3:tanh:silu", &regression("2-4-3:tanh:silu", 11, 5));
    check("regression 3-1 (linear)", &regression("3-1", 9, 6));
}

#[test]
fn classification_parity() {
    for (i, act) in ["gelu", "silu", "tanh", "relu"].iter().enumerate() {
        let p = classification(&format!("2-7-4:{act}"), 29, 20 + i as u64);
        check(&format!("cross-entropy 2-7-4:{act}"), &p);
    }
    check("cross-entropy 3-5-5-3:gelu", &classification("3-5-5-3:gelu", 15, 30));
}
