//! The DiMS Figure 1/4 setting: L(θ) = (|θ|² − 1)² in R³, whose minimum set is the unit
//! sphere, on the loss-graph metric with κ = 1.
//!
//! From θ0 = (1, 0, 0) with velocity (0, 1, 0.8) it integrates to t = 30
//! - a geodesic (κ = η = 0),
//! - a gravity-only curve (κ = 1, η = 0), which keeps oscillating across the sphere,
//! - a DiMS curve (κ = 1, η = 0.5·√T), which comes to rest on the sphere,
//!
//! prints for each the final loss, final kinetic energy, arc length and RHS
//! evaluations, and writes the three paths to a CSV (default `sphere_paths.csv`, or
//! the first argument).
//!
//! Run: `cargo run --release --example sphere [OUT.csv]`

use geodyn::dual::{DualNum, DualObjective, ScalarFn};
use geodyn::prelude::*;
use std::io::Write;

/// L(θ) = (|θ|² − 1)², written once for every dual-number type.
struct SphereLoss;

impl ScalarFn for SphereLoss {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, x: &[D]) -> D {
        let r2 = x[0] * x[0] + x[1] * x[1] + x[2] * x[2];
        (r2 - 1.0) * (r2 - 1.0)
    }
}

/// Composite Simpson rule on an odd number of equally spaced samples.
fn simpson(h: f64, f: &[f64]) -> f64 {
    let n = f.len();
    let mut s = f[0] + f[n - 1];
    for (i, fi) in f.iter().enumerate().take(n - 1).skip(1) {
        s += if i % 2 == 1 { 4.0 * fi } else { 2.0 * fi };
    }
    s * h / 3.0
}

struct Curve {
    name: &'static str,
    sol: Solution,
    kinetic: Vec<f64>,
    loss: Vec<f64>,
}

fn run<S: SecondOrderSystem>(name: &'static str, sys: &S, opts: &IntegrateOptions) -> Result<Curve> {
    let sol = integrate(sys, &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.8], opts)?;
    let loss_fn = DualObjective::new(SphereLoss);
    let mut kinetic = Vec::with_capacity(sol.outputs.len());
    let mut loss = Vec::with_capacity(sol.outputs.len());
    let metric = LossGraph::new(&loss_fn);
    for p in &sol.outputs {
        kinetic.push(metric.kinetic(&p.x, &p.v)?);
        loss.push(loss_fn.value(&p.x)?);
    }
    Ok(Curve { name, sol, kinetic, loss })
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let out_path = std::env::args().nth(1).unwrap_or_else(|| "sphere_paths.csv".into());
    let t1 = 30.0;
    let n_out = 3001; // odd, for Simpson's rule
    let opts = IntegrateOptions::new(t1).tolerances(1e-9, 1e-9).uniform_outputs(n_out);
    let loss = DualObjective::new(SphereLoss);

    let geodesic = Mechanics::geodesic(LossGraph::new(&loss));
    let gravity = Mechanics::dims(&loss, 1.0, 0.0, Frictionless)?;
    let dims = Mechanics::dims(&loss, 1.0, 0.0, SpeedDependent(0.5))?;

    let curves = [run("geodesic", &geodesic, &opts)?, run("gravity", &gravity, &opts)?, run("dims", &dims, &opts)?];

    let h = t1 / (n_out - 1) as f64;
    println!(
        "{:<10} {:>12} {:>14} {:>12} {:>10} {:>9}",
        "curve", "final loss", "final kinetic", "arc length", "RHS evals", "steps"
    );
    for c in &curves {
        let speed: Vec<f64> = c.kinetic.iter().map(|t| (2.0 * t).sqrt()).collect();
        let arc = simpson(h, &speed);
        println!(
            "{:<10} {:>12.4e} {:>14.4e} {:>12.4} {:>10} {:>9}",
            c.name,
            c.loss.last().copied().unwrap_or(f64::NAN),
            c.kinetic.last().copied().unwrap_or(f64::NAN),
            arc,
            c.sol.stats.rhs_evaluations,
            c.sol.stats.accepted_steps
        );
    }

    let mut w = std::io::BufWriter::new(std::fs::File::create(&out_path)?);
    writeln!(w, "curve,t,x,y,z,loss,kinetic")?;
    for c in &curves {
        for ((p, l), k) in c.sol.outputs.iter().zip(&c.loss).zip(&c.kinetic) {
            writeln!(w, "{},{},{},{},{},{},{}", c.name, p.t, p.x[0], p.x[1], p.x[2], l, k)?;
        }
    }
    w.flush()?;
    println!("wrote {out_path}");
    Ok(())
}
