//! Friction laws: one abstraction, [`Friction`], that both [`Mechanics`](crate::Mechanics)
//! and [`LagrangianSystem`](crate::LagrangianSystem) accept.
//!
//! A friction law gives the dissipative generalised force F(t, x, v) at a state, in one of
//! two forms, and may declare a closed-form flow:
//!
//! - **Scalar coefficient** ([`Friction::coefficient`] is `Some(η)`): F = −η(t, x, v)·M(x)v,
//!   where M is the system's kinetic matrix (the metric G of [`Mechanics`](crate::Mechanics),
//!   the velocity Hessian ∂²L/∂v² of a [`LagrangianSystem`](crate::LagrangianSystem)). The
//!   acceleration gains −ηv and the dissipated power is −F·v = 2ηT, T = ½vᵀMv. The
//!   built-in laws [`Frictionless`] (η = 0), [`Constant`] (η = η0), [`SpeedDependent`]
//!   (DiMS: η = η0√T), the enum [`FrictionFlow`] of these three and the user closure
//!   [`FnDissipation`] are of this form.
//! - **Resistance covector** ([`Friction::coefficient`] is `None`): the law writes
//!   r(t, x, v) with F = −r ([`Friction::resistance`]); the acceleration gains −M⁻¹r and
//!   the dissipated power is r·v. Every [`Rayleigh`] dissipation function R(x, v) is such a
//!   law, with r = ∂R/∂v (so F = −R(x)v for R = ½vᵀR(x)v).
//!
//! A law whose flow with the position frozen, v̇ = −ηv, has a closed form says so in
//! [`Friction::exact_flow`]; only such laws can be integrated by
//! [`Method::LossGraphRattle`](crate::Method::LossGraphRattle)
//! ([`Mechanics::particle`](crate::Mechanics::particle) returns
//! [`Error::NoExactFlow`] for the others).
//!
//! On the Euclidean metric a law gives the same acceleration and power in both systems:
//!
//! ```
//! use geodyn_core::{Constant, Friction};
//! // η = 0.5 at any state: the force is −0.5·M v, the power 2·0.5·T
//! assert_eq!(Constant(0.5).coefficient(0.0, &[0.0], &[2.0], 2.0), Some(0.5));
//! assert!(Constant(0.5).exact_flow().is_some());
//! ```

use crate::error::{Error, Result};
use crate::objective::{Rayleigh, dot};

/// A friction law: the dissipative generalised force F(t, x, v) of a second-order system,
/// either −η·M(x)v with a scalar η ([`coefficient`](Friction::coefficient)) or −r with a
/// resistance covector r ([`resistance`](Friction::resistance)); see the
/// [module docs](self).
///
/// Guarantees the systems rely on: η ≥ 0, and r·v ≥ 0 (the force removes energy).
/// Implement it for a law of your own; a [`Rayleigh`] function is one already.
pub trait Friction: Sync {
    /// `Some(η(t, x, v))`, η ≥ 0, if the force at this state is −η·M(x)v (M the system's
    /// kinetic matrix), given the kinetic energy `kinetic` = T(x, v); `None` if the law is
    /// a resistance covector ([`resistance`](Friction::resistance)). Costs what the law
    /// costs; the built-in laws are a few flops.
    fn coefficient(&self, t: f64, x: &[f64], v: &[f64], kinetic: f64) -> Option<f64>;

    /// Writes the resistance r(t, x, v) (length n; the force is −r, for a Rayleigh
    /// function r = ∂R/∂v). Called only when [`coefficient`](Friction::coefficient) is
    /// `None`; the default answers [`Error::Unsupported`], which is right for
    /// scalar-coefficient laws.
    fn resistance(&self, t: f64, x: &[f64], v: &[f64], r: &mut [f64]) -> Result<()> {
        let _ = (t, x, v, r);
        Err(Error::Unsupported { method: "Friction::resistance", reason: "the law is a scalar coefficient" })
    }

    /// The law's flow in closed form, if it has one (default `None`): used by
    /// [`Method::LossGraphRattle`](crate::Method::LossGraphRattle), which solves the
    /// friction part of the dynamics exactly. The built-in scalar laws return `Some`;
    /// user laws such as [`FnDissipation`] and Rayleigh functions keep the default and
    /// work with the other methods.
    fn exact_flow(&self) -> Option<FrictionFlow> {
        None
    }
}

/// A friction law with a closed-form flow: the laws [`Frictionless`], [`Constant`] and
/// [`SpeedDependent`] as one value, returned by [`Friction::exact_flow`] and carried by
/// [`LossGraphParticle`](crate::LossGraphParticle) for splitting integrators. It is itself a
/// [`Friction`] law, and the one place where these laws' η is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum FrictionFlow {
    /// η = 0.
    None,
    /// η = η0 constant: v(τ) = e^{−η0 τ} v(0).
    Constant(f64),
    /// η = η0√T: T(τ)^{−1/2} = T(0)^{−1/2} + η0 τ, so v(τ) = v(0) / (1 + η0 τ √T(0)).
    SpeedDependent(f64),
}

impl FrictionFlow {
    /// The factor s with v(τ) = s v(0) after the friction flow over a time τ ≥ 0 from
    /// kinetic energy `kinetic` = T(0) (the energy removed is (1 − s²) T(0)).
    ///
    /// ```
    /// use geodyn_core::FrictionFlow;
    /// // η = η0√T from T = 4 for τ = 1 with η0 = 0.5: √T goes 2 → 2/(1 + 0.5·2) = 1
    /// assert_eq!(FrictionFlow::SpeedDependent(0.5).scale(4.0, 1.0), 0.5);
    /// ```
    pub fn scale(&self, kinetic: f64, tau: f64) -> f64 {
        match *self {
            FrictionFlow::None => 1.0,
            FrictionFlow::Constant(eta) => (-eta * tau).exp(),
            FrictionFlow::SpeedDependent(eta0) => 1.0 / (1.0 + eta0 * tau * kinetic.max(0.0).sqrt()),
        }
    }
    /// The friction coefficient η at kinetic energy `kinetic` (negative T counts as 0).
    pub fn coefficient(&self, kinetic: f64) -> f64 {
        match *self {
            FrictionFlow::None => 0.0,
            FrictionFlow::Constant(eta) => eta,
            FrictionFlow::SpeedDependent(eta0) => eta0 * kinetic.max(0.0).sqrt(),
        }
    }
}

impl Friction for FrictionFlow {
    fn coefficient(&self, _t: f64, _x: &[f64], _v: &[f64], kinetic: f64) -> Option<f64> {
        Some(FrictionFlow::coefficient(self, kinetic))
    }
    fn exact_flow(&self) -> Option<FrictionFlow> {
        Some(*self)
    }
}

/// No friction (η = 0): energy is conserved. The default friction of
/// [`LagrangianSystem`](crate::LagrangianSystem).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Frictionless;

impl Friction for Frictionless {
    fn coefficient(&self, _t: f64, _x: &[f64], _v: &[f64], kinetic: f64) -> Option<f64> {
        Some(FrictionFlow::None.coefficient(kinetic))
    }
    fn exact_flow(&self) -> Option<FrictionFlow> {
        Some(FrictionFlow::None)
    }
}

/// Constant friction η = η0 (force −η0·Mv, power 2η0T).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Constant(pub f64);

impl Friction for Constant {
    fn coefficient(&self, _t: f64, _x: &[f64], _v: &[f64], kinetic: f64) -> Option<f64> {
        Some(FrictionFlow::Constant(self.0).coefficient(kinetic))
    }
    fn exact_flow(&self) -> Option<FrictionFlow> {
        Some(FrictionFlow::Constant(self.0))
    }
}

/// DiMS's speed-dependent friction η = η0·√T (force −η0√T·Mv, power 2η0T^{3/2}).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpeedDependent(pub f64);

impl Friction for SpeedDependent {
    fn coefficient(&self, _t: f64, _x: &[f64], _v: &[f64], kinetic: f64) -> Option<f64> {
        Some(FrictionFlow::SpeedDependent(self.0).coefficient(kinetic))
    }
    fn exact_flow(&self) -> Option<FrictionFlow> {
        Some(FrictionFlow::SpeedDependent(self.0))
    }
}

/// A user-defined scalar friction law from a closure `(t, x, v, T) -> η`, η ≥ 0; it has no
/// closed-form flow, so it does not work with
/// [`Method::LossGraphRattle`](crate::Method::LossGraphRattle).
///
/// ```
/// use geodyn_core::{FnDissipation, Friction};
/// // friction that switches on after t = 5
/// let d = FnDissipation(|t: f64, _x: &[f64], _v: &[f64], _kin: f64| if t > 5.0 { 0.3 } else { 0.0 });
/// assert_eq!(d.coefficient(6.0, &[], &[], 1.0), Some(0.3));
/// ```
#[derive(Clone, Copy)]
pub struct FnDissipation<F>(pub F);

impl<F: Fn(f64, &[f64], &[f64], f64) -> f64 + Sync> Friction for FnDissipation<F> {
    fn coefficient(&self, t: f64, x: &[f64], v: &[f64], kinetic: f64) -> Option<f64> {
        Some((self.0)(t, x, v, kinetic))
    }
}

impl<F> std::fmt::Debug for FnDissipation<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnDissipation(..)")
    }
}

/// A Rayleigh dissipation function R(x, v) is the friction law with resistance ∂R/∂v
/// (force −∂R/∂v, power v·∂R/∂v); it has no closed-form flow.
impl<R: Rayleigh> Friction for R {
    fn coefficient(&self, _t: f64, _x: &[f64], _v: &[f64], _kinetic: f64) -> Option<f64> {
        None
    }
    fn resistance(&self, _t: f64, x: &[f64], v: &[f64], r: &mut [f64]) -> Result<()> {
        self.velocity_gradient(x, v, r)
    }
}

/// The power −F·v of a scalar law, 2ηT; the one spelling both systems use.
#[inline]
pub(crate) fn linear_power(eta: f64, kinetic: f64) -> f64 {
    2.0 * eta * kinetic
}

/// The power −F·v = r·v of a resistance r.
#[inline]
pub(crate) fn resistance_power(v: &[f64], r: &[f64]) -> f64 {
    dot(v, r)
}

/// Subtracts ηv from the acceleration `a` (skipped for η = 0).
#[inline]
pub(crate) fn subtract_linear(eta: f64, v: &[f64], a: &mut [f64]) {
    if eta != 0.0 {
        for (ai, vi) in a.iter_mut().zip(v) {
            *ai -= eta * vi;
        }
    }
}
