//! Runs DiMS on the downstream crate's own objective and prints where it came to rest.
//!
//! Run: `cargo run --release -p geodyn-downstream-example`

use geodyn_downstream_example::{Ellipsoid, run_dims};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loss = Ellipsoid::new([1.0, 0.5, 2.0])?;
    let run = run_dims(&loss, &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.8], 100.0)?;
    println!(
        "DiMS on L(x) = (xᵀAx − 1)², A = diag(1, 0.5, 2): ended at x = {:.4?}, xᵀAx − 1 = {:.2e}, L = {:.2e}, T = {:.2e}, {} RHS evaluations",
        run.x,
        loss.residual(&run.x),
        run.final_loss,
        run.final_kinetic,
        run.rhs_evaluations
    );
    let rises = run.energy.windows(2).filter(|w| w[1] > w[0] + 1e-9).count();
    println!(
        "energy H = T + V: {:.4} at t = 0, {:.2e} at the end, {rises} rises between outputs",
        run.energy[0],
        run.energy[run.energy.len() - 1]
    );
    Ok(())
}
