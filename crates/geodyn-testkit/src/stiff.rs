//! The stiff DiMS problem (the DiMS paper's stiff experiment) and the check of DiMS
//! Theorem 2 that the structure-preserving integrators are held to.
use crate::objectives::AnisotropicQuartic;
use geodyn_core::{
    Energy, IntegrateOptions, IntrinsicPotential, LossGraph, Mechanics, SecondOrderSystem, Solution, SpeedDependent,
    StopReason, integrate,
};

/// DiMS (κ = 1, L* = 0, η = η0√T) on the stiff loss: curvatures 1e-2 … 1e4 in R^8.
pub fn stiff_dims(eta0: f64) -> Mechanics<LossGraph<AnisotropicQuartic>, SpeedDependent, IntrinsicPotential> {
    Mechanics::dims(AnisotropicQuartic::stiff(), 1.0, 0.0, SpeedDependent(eta0)).unwrap()
}

/// Energies at the accepted states of a run, recomputed from scratch.
pub fn energies<S: SecondOrderSystem>(sys: &S, sol: &Solution) -> Vec<Energy> {
    sol.trajectory.as_ref().unwrap().iter().map(|p| sys.energy(&p.x, &p.v).unwrap()).collect()
}

/// DiMS Theorem 2 on [`stiff_dims`] from the minimum, for four (η0, ε) pairs with the
/// initial velocity 2·`velocity(seed)`: with η = η0√T the first time T < ε lies in
/// (t0, t0 + H(t0)/(2η0 ε^{3/2})]; T at the returned state is below ε and within
/// `event_rel` of it (the event is located where T crosses ε); and H ≤ H(t0) there.
/// `options(t1)` selects the method.
pub fn check_theorem_2(options: impl Fn(f64) -> IntegrateOptions, velocity: impl Fn(u64) -> Vec<f64>, event_rel: f64) {
    let t0 = 0.5;
    for &(eta0, eps, seed) in &[(0.5f64, 0.05f64, 1u64), (1.0, 0.01, 2), (0.2, 0.1, 3), (0.1, 1e-3, 4)] {
        let sys = stiff_dims(eta0);
        let x0 = vec![0.0; 8];
        let v0: Vec<f64> = velocity(seed).iter().map(|z| 2.0 * z).collect();
        let h0 = sys.energy(&x0, &v0).unwrap().total();
        let bound = t0 + h0 / (2.0 * eta0 * eps.powf(1.5));
        let sol = integrate(&sys, &x0, &v0, &options(1e5).t0(t0).stop_below_kinetic(eps)).unwrap();
        assert_eq!(sol.stop, StopReason::KineticBelow { threshold: eps });
        assert!(sol.t > t0 && sol.t <= bound, "t_eps = {} not in (t0, {bound}]", sol.t);
        let end = sys.energy(&sol.x, &sol.v).unwrap();
        assert!(
            end.kinetic < eps && end.kinetic > eps * (1.0 - event_rel),
            "T at the event = {}, ε = {eps}",
            end.kinetic
        );
        assert!(end.total() <= h0, "H(event) = {} > H(t0) = {h0}", end.total());
    }
}
