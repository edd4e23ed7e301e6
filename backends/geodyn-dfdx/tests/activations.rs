//! dfdx's activations against geodyn-nn's closed forms, through a one-unit network
//! f(x) = σ(w x + b) with w = 1, b = 0: outputs give σ(x), J·e_b gives σ'(x) (tangent
//! pass), Jᵀe_i gives σ'(x_i) in the bias slot (dfdx reverse mode, with the GELU fix),
//! E''[e_b, e_b] gives σ''(x). All to ~1e-15.

use geodyn_core::Embedding;
use geodyn_dfdx::DfdxMlpObjective;
use geodyn_nn::{Activation, Dataset, Loss, ModelSpec};

const XS: [f64; 13] = [-8.0, -5.0, -3.0, -2.0, -1.0, -0.5, -1e-3, 0.0, 0.3, 1.0, 2.5, 4.0, 9.0];

fn unit(act: Activation) -> DfdxMlpObjective {
    let spec = ModelSpec::mlp(&[1, 1], Activation::Identity, act).unwrap();
    let data = Dataset::regression(XS.to_vec(), 1, vec![0.0; XS.len()], 1).unwrap();
    DfdxMlpObjective::new(spec, data, Loss::gaussian(1.0).unwrap(), 0.0).unwrap()
}

/// |a − b| ≤ tol · max(|b|, 1) (absolute near 0, relative elsewhere).
fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn activations_and_derivatives_match_geodyn_nn_to_1e_15() {
    let n = XS.len();
    let theta = [1.0, 0.0]; // w, b
    let e_b = [0.0, 1.0];
    for act in Activation::ALL {
        let obj = unit(act);
        let emb = obj.outputs_embedding();
        let (mut f, mut jv, mut fdd) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        obj.outputs(&theta, &mut f).unwrap();
        obj.jvp(&theta, &e_b, &mut jv).unwrap();
        emb.second_directional(&theta, &e_b, &mut fdd).unwrap();
        for (i, &x) in XS.iter().enumerate() {
            let (s, ds, dds) = act.eval3(x);
            assert!(close(f[i], s, 1e-15), "{act}({x}) = {} vs {s}", f[i]);
            assert!(close(jv[i], ds, 1e-15), "{act}'({x}) tangent = {} vs {ds}", jv[i]);
            assert!(close(fdd[i], dds, 1e-15), "{act}''({x}) = {} vs {dds}", fdd[i]);
            // reverse mode: Jᵀ e_i = (x σ'(x), σ'(x))
            let mut u = vec![0.0; n];
            u[i] = 1.0;
            let mut g = [0.0; 2];
            obj.vjp(&theta, &u, &mut g).unwrap();
            assert!(close(g[1], ds, 1e-15), "{act}'({x}) by dfdx backward = {} vs {ds}", g[1]);
            assert!(close(g[0], x * ds, 1e-15), "∂/∂w {act}(wx) at {x}");
        }
    }
}

/// Pins the derivative that dfdx 0.13's `accurate_gelu` backward actually computes, which
/// is why geodyn-dfdx corrects dfdx's GELU gradients. GELU(z) = ½z(1 + erf(z/√2)) has the
/// exact derivative Φ(z) + zφ(z). dfdx's `AccurateGeLUKernelOp::df`
/// (`src/tensor_ops/accurate_gelu/cpu_kernel.rs`) computes
/// ½(1 + erf(z/√2)) + ½z · (2/√π)·e^(−z²/2) = Φ(z) + √2·zφ(z): it drops the 1/√2 chain-rule
/// factor of erf(z/√2). So the derivative is Φ + c·zφ with c = √2 exactly. If a dfdx
/// update changes this (c = 1, or anything else), this test fails, and the correction in
/// geodyn-dfdx has to be revisited with it.
#[test]
fn raw_dfdx_gelu_derivative_is_known() {
    use geodyn_dfdx::dfdx::prelude::*;
    use geodyn_nn::special::{normal_cdf, normal_pdf};
    let dev = Cpu::default();
    let z: Tensor<(usize,), f64, Cpu> = dev.tensor_from_vec(vec![1.5, -0.8], (2,));
    let g = z.clone().leaky_traced().accurate_gelu().sum::<(), _>().backward();
    let df = g.get(&z).as_vec();
    let c: Vec<f64> = [1.5f64, -0.8].iter().zip(&df).map(|(&z, d)| (d - normal_cdf(z)) / (z * normal_pdf(z))).collect();
    assert_eq!(c.len(), 2);
    for &c in &c {
        assert!(
            (c - std::f64::consts::SQRT_2).abs() < 1e-12,
            "dfdx accurate_gelu derivative is Φ + c·zφ with c = {c}, not √2 (c = 1 would be the exact derivative)"
        );
    }
    // and its value is the erf GELU to rounding
    let v = z.accurate_gelu().as_vec();
    for (x, v) in [1.5f64, -0.8].iter().zip(v) {
        assert!(close(v, Activation::Gelu.value(*x), 2e-16), "gelu({x})");
    }
}
