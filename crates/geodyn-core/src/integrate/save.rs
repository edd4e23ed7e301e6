//! The records a run starts with, shared by every method.

use super::options::IntegrateOptions;
use super::solution::StatePoint;

/// The records a run starts with: one copy of the state at t0 for every output time at
/// or before t0, the index of the first later output time, and the trajectory's first
/// point when a trajectory is asked for.
pub(crate) fn initial_records(
    opts: &IntegrateOptions,
    x0: &[f64],
    v0: &[f64],
) -> (Vec<StatePoint>, usize, Option<Vec<StatePoint>>) {
    let mut outputs = Vec::with_capacity(opts.output_times.len());
    let mut out_idx = 0;
    while out_idx < opts.output_times.len() && opts.output_times[out_idx] <= opts.t0 {
        outputs.push(StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() });
        out_idx += 1;
    }
    let trajectory = opts.trajectory.then(|| vec![StatePoint { t: opts.t0, x: x0.to_vec(), v: v0.to_vec() }]);
    (outputs, out_idx, trajectory)
}
