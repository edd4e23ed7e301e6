//! `ThreadConfined`: the objective built and kept on one worker thread (the route for
//! dfdx's CUDA device, which is neither Send nor Sync) gives exactly the results of the
//! objective called directly — it runs the same code on the same device type — also when
//! called from several threads at once and when a sampler drives it; bad input is a
//! typed error, and a failing build is reported, not a panic.

mod common;
use common::regression;
use geodyn_core::{ModelObjective, Objective};
use geodyn_dfdx::{DfdxMlpObjective, ThreadConfined};
use geodyn_samplers::{Registry, SamplerConfig, run_samples};

fn confined(p: &common::Pair) -> ThreadConfined {
    let (spec, data, loss) = (p.dfdx.spec().clone(), p.dfdx.data().clone(), *p.dfdx.loss());
    let lambda = p.dfdx.prior_precision();
    ThreadConfined::spawn(move || DfdxMlpObjective::new(spec, data, loss, lambda)).unwrap()
}

#[test]
fn confined_calls_equal_direct_calls() {
    let p = regression("1-8-8-1:gelu", 25, 3);
    let c = confined(&p);
    let k = p.theta.len();
    assert_eq!(c.dim(), k);
    assert_eq!(c.value(&p.theta).unwrap(), p.dfdx.value(&p.theta).unwrap());
    let (mut g1, mut g2) = (vec![0.0; k], vec![0.0; k]);
    assert_eq!(c.gradient(&p.theta, &mut g1).unwrap(), p.dfdx.gradient(&p.theta, &mut g2).unwrap());
    assert_eq!(g1, g2);
    let (f1, c1) = c.grad_and_curvature(&p.theta, &p.v, &mut g1).unwrap();
    let (f2, c2) = p.dfdx.grad_and_curvature(&p.theta, &p.v, &mut g2).unwrap();
    assert_eq!((f1, c1), (f2, c2));
    assert_eq!(g1, g2);
    c.hvp(&p.theta, &p.v, &mut g1).unwrap();
    p.dfdx.hvp(&p.theta, &p.v, &mut g2).unwrap();
    assert_eq!(g1, g2);
    c.ggn_vp(&p.theta, &p.v, &mut g1).unwrap();
    p.dfdx.ggn_vp(&p.theta, &p.v, &mut g2).unwrap();
    assert_eq!(g1, g2);
    let n = p.dfdx.data().len();
    let (mut o1, mut o2) = (vec![0.0; n], vec![0.0; n]);
    c.outputs(&p.theta, &mut o1).unwrap();
    p.dfdx.outputs(&p.theta, &mut o2).unwrap();
    assert_eq!(o1, o2);
    c.jvp(&p.theta, &p.v, &mut o1).unwrap();
    p.dfdx.jvp(&p.theta, &p.v, &mut o2).unwrap();
    assert_eq!(o1, o2);
}

#[test]
fn confined_objective_serves_several_threads_and_a_sampler() {
    let p = regression("1-6-6-1:tanh", 20, 8);
    let c = confined(&p);
    let k = p.theta.len();
    // Four threads at once, each with its own point: every answer is the direct one.
    std::thread::scope(|s| {
        for i in 0..4 {
            let (c, p) = (&c, &p);
            s.spawn(move || {
                let x: Vec<f64> = p.theta.iter().map(|t| t + 0.01 * i as f64).collect();
                let (mut g1, mut g2) = (vec![0.0; k], vec![0.0; k]);
                for _ in 0..5 {
                    let a = c.grad_and_curvature(&x, &p.v, &mut g1).unwrap();
                    let b = p.dfdx.grad_and_curvature(&x, &p.v, &mut g2).unwrap();
                    assert_eq!(a, b);
                    assert_eq!(g1, g2);
                }
            });
        }
    });
    // RLA samples on two threads through the confined objective equal the direct ones.
    let reg = Registry::with_builtin();
    let rla = reg.create("rla", SamplerConfig::default()).unwrap();
    let vs: Vec<Vec<f64>> = (0..3).map(|i| p.v.iter().map(|x| 0.2 * x * (1.0 + 0.1 * i as f64)).collect()).collect();
    let a = run_samples(rla.as_ref(), &c, &p.theta, &vs, 2, &|_| Ok(())).unwrap();
    let b = run_samples(rla.as_ref(), &p.dfdx, &p.theta, &vs, 1, &|_| Ok(())).unwrap();
    for (ra, rb) in a.iter().zip(&b) {
        assert_eq!(ra.theta, rb.theta);
        assert_eq!(ra.rhs_evaluations, rb.rhs_evaluations);
    }
}

#[test]
fn confined_errors_are_typed() {
    let p = regression("1-4-1:gelu", 10, 1);
    let c = confined(&p);
    let mut short = vec![0.0; 3];
    assert!(c.gradient(&p.theta, &mut short).is_err());
    assert!(c.value(&p.theta[..2]).is_err());
    assert!(c.value(&vec![f64::NAN; p.theta.len()]).is_err());
    // A build that fails on the worker is returned to the caller.
    let (spec, data, loss) = (p.dfdx.spec().clone(), p.dfdx.data().clone(), *p.dfdx.loss());
    let e = ThreadConfined::spawn(move || DfdxMlpObjective::new(spec, data, loss, -1.0));
    assert!(e.is_err());
}
