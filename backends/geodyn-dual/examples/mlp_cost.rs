//! Cost of the MLP objective's calls on the embedded Snelson-like set.
//! `cargo run --release -p geodyn-dual --example mlp_cost [ARCH] [ITERS]`
use geodyn_core::{ModelObjective, Objective};
use geodyn_dual::MlpObjective;
use geodyn_nn::{Loss, ModelSpec};
use rand::SeedableRng;
use std::time::Instant;

fn main() {
    let arch = std::env::args().nth(1).unwrap_or_else(|| "1-16-16-16-1:gelu".into());
    let iters: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let spec: ModelSpec = arch.parse().expect("arch");
    let split = geodyn_nn::data::snelson_like(geodyn_nn::data::SNELSON_LIKE_SEED);
    let obj = MlpObjective::new(spec.clone(), split.train.clone(), Loss::gaussian(0.25).unwrap(), 0.5).unwrap();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
    let theta = spec.init_params(&mut rng);
    let v: Vec<f64> = spec.init_params(&mut rng);
    let mut g = vec![0.0; theta.len()];
    let mut out = vec![0.0; split.train.len()];
    let time = |name: &str, f: &mut dyn FnMut()| {
        for _ in 0..iters / 10 {
            f();
        }
        let t = Instant::now();
        for _ in 0..iters {
            f();
        }
        println!("{name:<20} {:>10.2} µs", t.elapsed().as_secs_f64() / iters as f64 * 1e6);
    };
    println!("{arch}, K = {}, N = {}", theta.len(), split.train.len());
    time("forward (outputs)", &mut || obj.outputs(&theta, &mut out).unwrap());
    time("value", &mut || {
        obj.value(&theta).unwrap();
    });
    time("gradient", &mut || {
        obj.gradient(&theta, &mut g).unwrap();
    });
    // A gradient context at a point 1e-9 away (a LossGraphRattle Newton iterate): the base is
    // the context's first call just before it, as in the integrator.
    let theta_near: Vec<f64> = theta.iter().zip(&v).map(|(t, v)| t + 1e-9 * v).collect();
    let mut ctx = obj.gradient_context();
    time("gradient + near", &mut || {
        ctx.restart();
        ctx.gradient(&theta, &mut g).unwrap();
        ctx.gradient(&theta_near, &mut g).unwrap();
    });
    // A context along a walk of steps of 1e-4 v (the next LossGraphRattle step's first
    // evaluation, which re-bases), each followed by an iterate 1e-9 away.
    let mut walk = theta.clone();
    let mut walk_near = theta.clone();
    let mut ctx = obj.gradient_context();
    ctx.gradient(&theta, &mut g).unwrap();
    time("near step + near", &mut || {
        for ((w, wn), v) in walk.iter_mut().zip(walk_near.iter_mut()).zip(&v) {
            *w += 1e-4 * v;
            *wn = *w + 1e-9 * v;
        }
        ctx.gradient(&walk, &mut g).unwrap();
        ctx.gradient(&walk_near, &mut g).unwrap();
    });
    time("gradient ×2", &mut || {
        obj.gradient(&theta, &mut g).unwrap();
        obj.gradient(&theta_near, &mut g).unwrap();
    });
    time("grad_and_curvature", &mut || {
        obj.grad_and_curvature(&theta, &v, &mut g).unwrap();
    });
}
