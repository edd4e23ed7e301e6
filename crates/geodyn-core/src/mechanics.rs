//! Second-order dissipative mechanics on a Riemannian manifold.
//!
//! [`Mechanics`] integrates
//!
//! ```text
//! ẍ = −Γ(x)[ẋ,ẋ] − κ grad_G L(x) + G(x)⁻¹F(t, x, ẋ)
//! ```
//!
//! with potential V = κ(L − L*), kinetic energy T = ½ẋᵀG(x)ẋ, total energy H = T + V and
//! the force F of a [`Friction`] law; H obeys dH/dt = F·ẋ exactly. For a scalar law
//! F = −ηGẋ the friction term is −ηẋ and dH/dt = −2ηT. Special cases:
//!
//! - geodesics / the Riemannian Laplace approximation (RLA): κ = 0, η = 0
//!   ([`Mechanics::geodesic`]);
//! - DiMS: κ > 0 and η = η0·√T ([`SpeedDependent`]) on the loss-graph metric
//!   ([`Mechanics::dims`]). geodyn uses η0·√T, as the authors' code does; the paper's
//!   eq. 9 writes η0‖ẋ‖√(1+|g|²cos²ω), which is √2 larger — a rescaling of η0.
//!   DiMS Theorem 2 bounds the first time T < ε by t0 + H(t0)/(2η0ε^{3/2}).
//!
//! The potential is the third type parameter of [`Mechanics`] ([`Potential`]):
//! [`NoPotential`], [`ExternalPotential`] (any objective, any metric) or
//! [`IntrinsicPotential`] (the loss inducing a [`LossGraph`] metric, which only loss-graph
//! mechanics can have). Loss-graph mechanics with no potential or the intrinsic one, and a
//! friction law with a closed-form flow ([`FrictionFlow`]), are a particle on the graph of
//! the loss, [`LossGraphParticle`] ([`Mechanics::particle`]), which
//! [`Method::LossGraphRattle`](crate::Method::LossGraphRattle) integrates.

use crate::error::{Error, Result, check_dim, finite};
use crate::friction::{linear_power, resistance_power, subtract_linear};
use crate::metric::{LossGraph, Metric};
use crate::objective::Objective;
use crate::scratch::with_buffers;

#[doc(no_inline)]
pub use crate::friction::{Constant, FnDissipation, Friction, FrictionFlow, Frictionless, SpeedDependent};

/// A second-order system ẍ = a(t, x, ẋ) with an energy; what [`integrate`](crate::integrate()) solves.
pub trait SecondOrderSystem: Sync {
    /// The configuration dimension n (the state has 2n entries).
    fn dim(&self) -> usize;
    /// Writes the acceleration ẍ into `a` and returns the kinetic energy T(x, v).
    ///
    /// Returning T lets the integrator watch a kinetic-energy stop event without
    /// extra evaluations.
    fn acceleration(&self, t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<f64>;
    /// Kinetic, potential and total energy at (x, v).
    fn energy(&self, x: &[f64], v: &[f64]) -> Result<Energy>;
    /// The power the dissipation removes, −dH/dt ≥ 0 (for friction −ηẋ: 2ηT).
    fn dissipated_power(&self, t: f64, x: &[f64], v: &[f64]) -> Result<f64>;

    /// Writes the acceleration into `a` and returns what the same evaluation knows
    /// about the energy: always T, and V(x) and the dissipated power when they come
    /// at no extra cost.
    ///
    /// The energy-projected integrator ([`Method::ProjectedTsit5`](crate::Method))
    /// and the energy monitor of [`integrate`](crate::integrate()) use it to watch H
    /// without extra evaluations. The default calls
    /// [`acceleration`](SecondOrderSystem::acceleration) and reports neither V nor the
    /// power (callers then fall back to [`energy`](SecondOrderSystem::energy) and
    /// [`dissipated_power`](SecondOrderSystem::dissipated_power)); [`Mechanics`]
    /// reports all three for free.
    fn evaluate(&self, t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<Evaluation> {
        let kinetic = self.acceleration(t, x, v, a)?;
        Ok(Evaluation { kinetic, potential: None, dissipated_power: None })
    }
    /// The kinetic energy T(x, v) alone (default: [`energy`](SecondOrderSystem::energy)).
    /// Event location evaluates it many times; override it when T is cheaper than H.
    fn kinetic_energy(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(self.energy(x, v)?.kinetic)
    }
    /// Whether the energy splits as H(x, v) = T(x, v) + V(x) with T quadratic in v,
    /// T(x, αv) = α² T(x, v), and V independent of v (default: `false`).
    ///
    /// When `true`, the energy-projected integrator restores a target energy by a
    /// velocity scaling in closed form; otherwise it solves H(x, αv) = target by a few
    /// secant iterations on [`energy`](SecondOrderSystem::energy).
    fn quadratic_kinetic(&self) -> bool {
        false
    }
    /// The system as a particle on the graph of a loss, if it is one: what
    /// [`integrate`](crate::integrate()) hands to
    /// [`Method::LossGraphRattle`](crate::Method::LossGraphRattle) (default: `None`).
    ///
    /// This is the hook for a method chosen at run time. [`Mechanics`] on a [`LossGraph`]
    /// metric with no potential or the intrinsic one, and a friction law with a
    /// closed-form flow ([`Frictionless`], [`Constant`], [`SpeedDependent`]), returns
    /// `Some`; DiMS and RLA geodesics are such systems. Other systems return `None`, and
    /// `integrate` then answers [`Error::Unsupported`]. The compile-time-checked path is
    /// [`Mechanics::particle`] with
    /// [`integrate_particle`](crate::integrate::loss_graph_rattle::integrate_particle).
    fn as_loss_graph_particle(&self) -> Option<LossGraphParticle<'_>> {
        None
    }
}

/// A particle on the graph (θ, L(θ)) ⊂ R^{K+1} of a loss L: kinetic energy
/// T = ½θ̇ᵀ(I + ∇L∇Lᵀ)θ̇, potential V = κ(L − L*), friction with a closed-form flow.
/// What [`Method::LossGraphRattle`](crate::Method::LossGraphRattle) integrates.
///
/// Obtained from mechanics on a [`LossGraph`] metric with [`Mechanics::particle`] (or
/// [`SecondOrderSystem::as_loss_graph_particle`]), or built directly with
/// [`LossGraphParticle::new`]; integrated by
/// [`integrate_particle`](crate::integrate::loss_graph_rattle::integrate_particle).
///
/// Mechanics that are not such a particle have no [`Mechanics::particle`]; asking for one
/// does not compile:
///
/// ```compile_fail,E0599
/// use geodyn_core::{Euclidean, Frictionless, Mechanics};
/// let flat = Mechanics::new(Euclidean::new(2), Frictionless);
/// let _ = flat.particle(); // no `particle` on a flat metric
/// ```
///
/// ```compile_fail,E0599
/// use geodyn_core::{Euclidean, Frictionless, Mechanics};
/// // the intrinsic potential needs a loss-graph metric
/// let _ = Mechanics::new(Euclidean::new(2), Frictionless).with_intrinsic_potential(1.0, 0.0);
/// ```
#[derive(Clone, Copy)]
pub struct LossGraphParticle<'a> {
    loss: &'a dyn Objective,
    kappa: f64,
    l_star: f64,
    friction: FrictionFlow,
}

impl<'a> LossGraphParticle<'a> {
    /// The particle on the graph of `loss` with potential κ(L − L*) and friction
    /// `friction`.
    ///
    /// Returns [`Error::InvalidParameter`] if `kappa` is negative or not finite, or
    /// `l_star` is not finite.
    pub fn new(loss: &'a dyn Objective, kappa: f64, l_star: f64, friction: FrictionFlow) -> Result<Self> {
        check_kappa(kappa, l_star)?;
        Ok(Self { loss, kappa, l_star, friction })
    }
    /// The loss L whose graph carries the particle.
    pub fn loss(&self) -> &'a dyn Objective {
        self.loss
    }
    /// The configuration dimension K (the loss's).
    pub fn dim(&self) -> usize {
        self.loss.dim()
    }
    /// The potential strength κ ≥ 0 (0 for geodesics).
    pub fn kappa(&self) -> f64 {
        self.kappa
    }
    /// The potential's offset L* (V = κ(L − L*)).
    pub fn l_star(&self) -> f64 {
        self.l_star
    }
    /// The friction law's closed-form flow.
    pub fn friction(&self) -> FrictionFlow {
        self.friction
    }
}

impl std::fmt::Debug for LossGraphParticle<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LossGraphParticle")
            .field("dim", &self.loss.dim())
            .field("kappa", &self.kappa)
            .field("l_star", &self.l_star)
            .field("friction", &self.friction)
            .finish()
    }
}

/// What one right-hand-side evaluation knows besides the acceleration; returned by
/// [`SecondOrderSystem::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Kinetic energy T(x, v).
    pub kinetic: f64,
    /// Potential energy V(x), if the evaluation computed it anyway.
    pub potential: Option<f64>,
    /// The dissipated power −dH/dt (2ηT for friction −ηẋ), if known for free.
    pub dissipated_power: Option<f64>,
}

/// Energy accounting at one state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Energy {
    /// Kinetic energy T = ½ vᵀG v.
    pub kinetic: f64,
    /// Potential energy V = κ(L − L*).
    pub potential: f64,
}

impl Energy {
    /// The total energy H = T + V.
    pub fn total(&self) -> f64 {
        self.kinetic + self.potential
    }
}

mod sealed {
    /// Seals [`Potential`](super::Potential) and carries what the loss-graph hook needs.
    pub trait Sealed {
        /// (κ, L*) if mechanics with this potential on a loss-graph metric are a
        /// [`LossGraphParticle`](super::LossGraphParticle): no potential or the intrinsic one.
        fn graph_constants(&self) -> Option<(f64, f64)>;
    }
}

/// The potential V(x) = κ(L(x) − L*) of [`Mechanics`] on a metric `M`, the third type
/// parameter of [`Mechanics`]: [`NoPotential`] and [`ExternalPotential`] on any metric,
/// [`IntrinsicPotential`] on a [`LossGraph`] only.
///
/// The trait is sealed: these three are the potentials [`Mechanics`] supports. Which one
/// a system has is fixed by its constructor ([`Mechanics::new`],
/// [`Mechanics::with_potential`], [`Mechanics::with_intrinsic_potential`],
/// [`Mechanics::dims`]).
pub trait Potential<M: Metric>: Sync + sealed::Sealed {
    /// κ ≥ 0 (0 without a potential).
    fn kappa(&self) -> f64;
    /// Writes the geodesic acceleration −Γ(x)\[v,v\] plus the potential's force
    /// −κ grad_G L(x) into `a` and returns (T(x, v), V(x)).
    fn force(&self, metric: &M, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<(f64, f64)>;
    /// The potential energy V(x).
    fn value(&self, metric: &M, x: &[f64]) -> Result<f64>;
}

/// No potential (V = 0): the default third type parameter of [`Mechanics`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct NoPotential;

impl sealed::Sealed for NoPotential {
    fn graph_constants(&self) -> Option<(f64, f64)> {
        Some((0.0, 0.0))
    }
}

impl<M: Metric> Potential<M> for NoPotential {
    fn kappa(&self) -> f64 {
        0.0
    }
    fn force(&self, metric: &M, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<(f64, f64)> {
        Ok((metric.geodesic_acceleration_kinetic(x, v, a)?, 0.0))
    }
    fn value(&self, _metric: &M, _x: &[f64]) -> Result<f64> {
        Ok(0.0)
    }
}

/// The potential V = κ(L − L*) of the loss L inducing a [`LossGraph`] metric, evaluated
/// together with the metric in one fused pass ([`LossGraph::intrinsic_force`]); made by
/// [`Mechanics::with_intrinsic_potential`] and [`Mechanics::dims`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntrinsicPotential {
    kappa: f64,
    l_star: f64,
}

impl IntrinsicPotential {
    /// The offset L*.
    pub fn l_star(&self) -> f64 {
        self.l_star
    }
}

impl sealed::Sealed for IntrinsicPotential {
    fn graph_constants(&self) -> Option<(f64, f64)> {
        Some((self.kappa, self.l_star))
    }
}

impl<O: Objective> Potential<LossGraph<O>> for IntrinsicPotential {
    fn kappa(&self) -> f64 {
        self.kappa
    }
    fn force(&self, metric: &LossGraph<O>, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<(f64, f64)> {
        let (l, kin) = metric.intrinsic_force(x, v, self.kappa, a)?;
        Ok((kin, self.kappa * (l - self.l_star)))
    }
    fn value(&self, metric: &LossGraph<O>, x: &[f64]) -> Result<f64> {
        Ok(self.kappa * (metric.intrinsic_potential(x)? - self.l_star))
    }
}

/// The potential V = κ(L − L*) of a separate objective L, with force −κ G⁻¹∇L; made by
/// [`Mechanics::with_potential`].
#[derive(Debug, Clone)]
pub struct ExternalPotential<P> {
    loss: P,
    kappa: f64,
    l_star: f64,
}

impl<P> ExternalPotential<P> {
    /// The objective L.
    pub fn loss(&self) -> &P {
        &self.loss
    }
    /// The offset L*.
    pub fn l_star(&self) -> f64 {
        self.l_star
    }
}

impl<P> sealed::Sealed for ExternalPotential<P> {
    fn graph_constants(&self) -> Option<(f64, f64)> {
        None
    }
}

impl<M: Metric, P: Objective> Potential<M> for ExternalPotential<P> {
    fn kappa(&self) -> f64 {
        self.kappa
    }
    fn force(&self, metric: &M, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<(f64, f64)> {
        let n = metric.dim();
        let (loss, kappa, l_star) = (&self.loss, &self.kappa, &self.l_star);
        let kin = metric.geodesic_acceleration_kinetic(x, v, a)?;
        let mut potential = 0.0;
        if *kappa != 0.0 {
            potential = with_buffers::<2, _>(n, |[g, ng]| -> Result<f64> {
                let l = loss.gradient(x, g)?;
                metric.solve(x, g, ng)?;
                for (ai, ngi) in a.iter_mut().zip(ng.iter()) {
                    *ai -= kappa * ngi;
                }
                Ok(kappa * (l - l_star))
            })?;
        }
        Ok((kin, potential))
    }
    fn value(&self, _metric: &M, x: &[f64]) -> Result<f64> {
        Ok(self.kappa * (self.loss.value(x)? - self.l_star))
    }
}

/// Dissipative mechanics ẍ = −Γ(ẋ,ẋ) − κ grad_G L − ηẋ on a metric `M`.
///
/// ```
/// use geodyn_core::{Euclidean, Mechanics, Constant, SecondOrderSystem};
/// // a free particle with linear drag on R²: ẍ = −0.5 ẋ
/// let sys = Mechanics::new(Euclidean::new(2), Constant(0.5));
/// let mut a = [0.0; 2];
/// let t = sys.acceleration(0.0, &[0.0, 0.0], &[2.0, 0.0], &mut a).unwrap();
/// assert_eq!((t, a), (2.0, [-1.0, 0.0]));
/// ```
#[derive(Debug, Clone)]
pub struct Mechanics<M, D, P = NoPotential> {
    metric: M,
    dissipation: D,
    potential: P,
}

impl<M: Metric> Mechanics<M, Frictionless> {
    /// Geodesic flow of `metric` (κ = 0, η = 0): integrated to t = 1 from (x, v) this is
    /// the exponential map Exp_x(v) used by the Riemannian Laplace approximation.
    pub fn geodesic(metric: M) -> Self {
        Self::new(metric, Frictionless)
    }
}

impl<M: Metric, D: Friction> Mechanics<M, D> {
    /// Mechanics on `metric` with friction `dissipation` and no potential.
    pub fn new(metric: M, dissipation: D) -> Self {
        Self { metric, dissipation, potential: NoPotential }
    }

    /// Adds the potential V = κ(L − L*) for a separate objective L; its force is
    /// −κ G⁻¹∇L.
    pub fn with_potential<P: Objective>(
        self,
        loss: P,
        kappa: f64,
        l_star: f64,
    ) -> Result<Mechanics<M, D, ExternalPotential<P>>> {
        check_kappa(kappa, l_star)?;
        check_dim("potential dimension", self.metric.dim(), loss.dim())?;
        Ok(Mechanics {
            metric: self.metric,
            dissipation: self.dissipation,
            potential: ExternalPotential { loss, kappa, l_star },
        })
    }
}

impl<O: Objective, D: Friction> Mechanics<LossGraph<O>, D> {
    /// Adds the potential V = κ(L − L*) where L is the loss inducing the metric,
    /// evaluated with the metric in one fused pass ([`LossGraph::intrinsic_force`]).
    pub fn with_intrinsic_potential(
        self,
        kappa: f64,
        l_star: f64,
    ) -> Result<Mechanics<LossGraph<O>, D, IntrinsicPotential>> {
        check_kappa(kappa, l_star)?;
        Ok(Mechanics {
            metric: self.metric,
            dissipation: self.dissipation,
            potential: IntrinsicPotential { kappa, l_star },
        })
    }

    /// DiMS dynamics: the loss-graph metric of `loss`, potential κ(L − L*) and friction
    /// `dissipation` (the paper: κ = 1, [`SpeedDependent`]`(η0)`). Each right-hand side
    /// costs one [`Objective::grad_and_curvature`] call:
    /// ẍ = −(ẋᵀHẋ + κ) g/(1+|g|²) − ηẋ.
    pub fn dims(
        loss: O,
        kappa: f64,
        l_star: f64,
        dissipation: D,
    ) -> Result<Mechanics<LossGraph<O>, D, IntrinsicPotential>> {
        Self::new(LossGraph::new(loss), dissipation).with_intrinsic_potential(kappa, l_star)
    }

    /// The system as a particle on the graph of its loss, for
    /// [`integrate_particle`](crate::integrate::loss_graph_rattle::integrate_particle).
    ///
    /// Returns [`Error::NoExactFlow`] if the friction law has no closed-form flow
    /// ([`Friction::exact_flow`] is `None`, e.g. [`FnDissipation`]).
    pub fn particle(&self) -> Result<LossGraphParticle<'_>> {
        graph_particle(&self.metric, &self.dissipation, 0.0, 0.0)
    }
}

impl<O: Objective, D: Friction> Mechanics<LossGraph<O>, D, IntrinsicPotential> {
    /// The system as a particle on the graph of its loss, under gravity κ, for
    /// [`integrate_particle`](crate::integrate::loss_graph_rattle::integrate_particle).
    ///
    /// Returns [`Error::NoExactFlow`] if the friction law has no closed-form flow
    /// ([`Friction::exact_flow`] is `None`, e.g. [`FnDissipation`]).
    pub fn particle(&self) -> Result<LossGraphParticle<'_>> {
        graph_particle(&self.metric, &self.dissipation, self.potential.kappa, self.potential.l_star)
    }
}

fn graph_particle<'a, O: Objective, D: Friction>(
    metric: &'a LossGraph<O>,
    dissipation: &D,
    kappa: f64,
    l_star: f64,
) -> Result<LossGraphParticle<'a>> {
    let friction = dissipation.exact_flow().ok_or(Error::NoExactFlow { friction: std::any::type_name::<D>() })?;
    Ok(LossGraphParticle { loss: metric.loss(), kappa, l_star, friction })
}

fn check_kappa(kappa: f64, l_star: f64) -> Result<()> {
    if !(kappa.is_finite() && kappa >= 0.0) {
        return Err(Error::InvalidParameter { name: "kappa", value: kappa, reason: "must be finite and >= 0" });
    }
    if !l_star.is_finite() {
        return Err(Error::InvalidParameter { name: "l_star", value: l_star, reason: "must be finite" });
    }
    Ok(())
}

impl<M, D, P> Mechanics<M, D, P> {
    /// The metric.
    pub fn metric(&self) -> &M {
        &self.metric
    }
    /// The friction law.
    pub fn dissipation(&self) -> &D {
        &self.dissipation
    }
    /// The potential.
    pub fn potential(&self) -> &P {
        &self.potential
    }
}

impl<M: Metric, D, P: Potential<M>> Mechanics<M, D, P> {
    /// κ (0 without a potential).
    pub fn kappa(&self) -> f64 {
        self.potential.kappa()
    }
}

impl<M: Metric, D: Friction, P: Potential<M>> SecondOrderSystem for Mechanics<M, D, P> {
    fn dim(&self) -> usize {
        self.metric.dim()
    }

    fn acceleration(&self, t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<f64> {
        Ok(self.evaluate(t, x, v, a)?.kinetic)
    }

    /// The fused evaluation: V comes from the same loss evaluation as the force (the
    /// loss graph's `grad_and_curvature`, or the external loss's gradient), and the
    /// power 2ηT from the friction coefficient already computed.
    fn evaluate(&self, t: f64, x: &[f64], v: &[f64], a: &mut [f64]) -> Result<Evaluation> {
        let n = self.dim();
        check_dim("x", n, x.len())?;
        check_dim("v", n, v.len())?;
        check_dim("a", n, a.len())?;
        let (kin, potential) = self.potential.force(&self.metric, x, v, a)?;
        let power = match self.dissipation.coefficient(t, x, v, kin) {
            Some(eta) => {
                subtract_linear(eta, v, a);
                linear_power(eta, kin)
            }
            // a resistance covector r: the acceleration gains −G⁻¹r
            None => with_buffers::<2, _>(n, |[r, gr]| -> Result<f64> {
                self.dissipation.resistance(t, x, v, r)?;
                self.metric.solve(x, r, gr)?;
                for (ai, gri) in a.iter_mut().zip(gr.iter()) {
                    *ai -= gri;
                }
                Ok(resistance_power(v, r))
            })?,
        };
        Ok(Evaluation {
            kinetic: finite("kinetic energy", kin)?,
            potential: Some(potential),
            dissipated_power: Some(power),
        })
    }

    fn kinetic_energy(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        check_dim("x", self.dim(), x.len())?;
        check_dim("v", self.dim(), v.len())?;
        self.metric.kinetic(x, v)
    }

    /// T = ½vᵀG(x)v is quadratic in v and V = κ(L − L*) depends on x only.
    fn quadratic_kinetic(&self) -> bool {
        true
    }

    fn energy(&self, x: &[f64], v: &[f64]) -> Result<Energy> {
        check_dim("x", self.dim(), x.len())?;
        check_dim("v", self.dim(), v.len())?;
        let kinetic = self.metric.kinetic(x, v)?;
        let potential = self.potential.value(&self.metric, x)?;
        Ok(Energy { kinetic, potential })
    }

    fn dissipated_power(&self, t: f64, x: &[f64], v: &[f64]) -> Result<f64> {
        let kin = self.metric.kinetic(x, v)?;
        match self.dissipation.coefficient(t, x, v, kin) {
            Some(eta) => Ok(linear_power(eta, kin)),
            None => with_buffers::<1, _>(self.dim(), |[r]| {
                self.dissipation.resistance(t, x, v, r)?;
                Ok(resistance_power(v, r))
            }),
        }
    }

    /// `Some` on a [`LossGraph`] metric with no potential or the intrinsic one and a
    /// friction law with an exact flow.
    fn as_loss_graph_particle(&self) -> Option<LossGraphParticle<'_>> {
        let loss = self.metric.graph_loss()?;
        let friction = self.dissipation.exact_flow()?;
        let (kappa, l_star) = sealed::Sealed::graph_constants(&self.potential)?;
        Some(LossGraphParticle { loss, kappa, l_star, friction })
    }
}
