//! The one integrator selector, [`Method`], used by [`integrate`](crate::integrate()),
//! the samplers' configuration and the command line.

use std::fmt;
use std::str::FromStr;

/// Which integrator [`integrate`](crate::integrate()) uses.
///
/// Each method has one canonical name (its [`Display`](fmt::Display) form, its serde
/// form with the `serde` feature, and its command-line spelling) and older spellings that
/// [`FromStr`] and serde still accept ([`Method::aliases`]; serde also reads the variant
/// names of geodyn 0.1, such as `"GraphRattle"`, so that old `run.json` files resume).
///
/// | method | what it is | energy H | cost per attempted step |
/// |---|---|---|---|
/// | [`Tsit5`](Method::Tsit5) | diffsol's Tsitouras 5(4), plain | can rise on stiff problems | 6 right-hand sides |
/// | [`ProjectedTsit5`](Method::ProjectedTsit5) | Tsitouras 5(4) + energy projection | never rises | 6 right-hand sides |
/// | [`ProjectedDopri5`](Method::ProjectedDopri5) | Dormand–Prince 5(4) + energy projection | never rises | 6 right-hand sides |
/// | [`LossGraphRattle`](Method::LossGraphRattle) | RATTLE on the graph of a loss (DiMS, RLA) | never rises | ≥ 2 loss gradients |
///
/// ```
/// use geodyn_core::{Constant, Euclidean, IntegrateOptions, Mechanics, Method, integrate};
/// // ẍ = −0.5ẋ from v0 = 1: x(t) = 2(1 − e^{−t/2}), and H = ½v² only decreases
/// let sys = Mechanics::new(Euclidean::new(1), Constant(0.5));
/// let opts = IntegrateOptions::new(4.0).method(Method::ProjectedTsit5);
/// let sol = integrate(&sys, &[0.0], &[1.0], &opts).unwrap();
/// assert!((sol.x[0] - 2.0 * (1.0 - (-2.0f64).exp())).abs() < 1e-5);
/// let energy = sol.energy.unwrap();
/// assert!(energy.max_increase <= 1e-15 && energy.last < energy.initial);
/// // Names and the older spellings:
/// assert_eq!("energy-projected".parse::<Method>().unwrap(), Method::ProjectedTsit5);
/// assert_eq!(Method::LossGraphRattle.to_string(), "loss-graph-rattle");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
#[non_exhaustive]
pub enum Method {
    /// diffsol's explicit Tsitouras 5(4) pair under mixed atol/rtol control (the default
    /// for general systems); module [`tsit5`](crate::integrate::tsit5).
    #[default]
    #[cfg_attr(feature = "serde", serde(alias = "tsit45", alias = "Tsit45"))]
    Tsit5,
    /// Tsitouras 5(4) with an energy projection after every step: H never increases at
    /// accepted steps of dissipative systems and is conserved to rounding without
    /// dissipation, at the right-hand-side cost of [`Method::Tsit5`]; module
    /// [`projected_rk`](crate::integrate::projected_rk).
    #[cfg_attr(feature = "serde", serde(alias = "energy-projected", alias = "EnergyProjected"))]
    ProjectedTsit5,
    /// The same energy projection and step-size controller around Dormand and Prince's
    /// 5(4) pair (the DiMS paper's solver), whose stability function stays closer to
    /// |R| = 1 on the imaginary axis: slower growth of oscillatory stiff modes near rest,
    /// for long runs; module [`projected_rk`](crate::integrate::projected_rk).
    #[cfg_attr(feature = "serde", serde(alias = "energy-projected-dopri5", alias = "EnergyProjectedDopri5"))]
    ProjectedDopri5,
    /// DiMS and RLA as a particle on the graph (θ, L(θ)) of the loss: RATTLE with the
    /// constraint solved by a scalar Newton iteration on loss gradients, exact friction
    /// half-steps and an energy projection (order 2). H never increases at accepted
    /// steps and T is conserved to rounding along geodesics. Only for systems that are a
    /// [`LossGraphParticle`](crate::LossGraphParticle)
    /// ([`SecondOrderSystem::as_loss_graph_particle`](crate::SecondOrderSystem::as_loss_graph_particle);
    /// others get [`Error::Unsupported`](crate::Error::Unsupported)); module
    /// [`loss_graph_rattle`](crate::integrate::loss_graph_rattle), whose
    /// [`integrate_particle`](crate::integrate::loss_graph_rattle::integrate_particle)
    /// takes the particle itself and so is checked at compile time.
    #[cfg_attr(feature = "serde", serde(alias = "graph-rattle", alias = "GraphRattle"))]
    LossGraphRattle,
}

impl Method {
    /// Every method, in the order of the table above.
    pub const ALL: [Method; 4] =
        [Method::Tsit5, Method::ProjectedTsit5, Method::ProjectedDopri5, Method::LossGraphRattle];

    /// The canonical name (kebab-case), as [`Display`](fmt::Display) writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Tsit5 => "tsit5",
            Method::ProjectedTsit5 => "projected-tsit5",
            Method::ProjectedDopri5 => "projected-dopri5",
            Method::LossGraphRattle => "loss-graph-rattle",
        }
    }

    /// The older spellings that [`FromStr`] (and serde) also accept.
    pub const fn aliases(self) -> &'static [&'static str] {
        match self {
            Method::Tsit5 => &["tsit45"],
            Method::ProjectedTsit5 => &["energy-projected"],
            Method::ProjectedDopri5 => &["energy-projected-dopri5"],
            Method::LossGraphRattle => &["graph-rattle"],
        }
    }

    /// One line on what the method is (for command-line help).
    pub const fn summary(self) -> &'static str {
        match self {
            Method::Tsit5 => "plain Tsitouras 5(4) (diffsol)",
            Method::ProjectedTsit5 => "Tsitouras 5(4) with an energy projection after each step",
            Method::ProjectedDopri5 => "Dormand–Prince 5(4) with the same energy projection (long runs)",
            Method::LossGraphRattle => "RATTLE on the graph of the loss with exact friction half-steps (dims, rla)",
        }
    }

    /// Whether the method keeps H from rising at accepted steps of dissipative systems.
    pub const fn is_energy_stable(self) -> bool {
        !matches!(self, Method::Tsit5)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A string that names no [`Method`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownMethod(pub String);

impl fmt::Display for UnknownMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
        write!(f, "unknown integrator `{}` (expected one of: {})", self.0, names.join(", "))
    }
}

impl std::error::Error for UnknownMethod {}

impl FromStr for Method {
    type Err = UnknownMethod;
    /// Parses a canonical name or an older spelling (case-sensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s || m.aliases().contains(&s))
            .ok_or_else(|| UnknownMethod(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every canonical name and every alias parses back to its method, and no two
    /// methods share a spelling.
    #[test]
    fn names_and_aliases_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>(), Ok(m));
            assert_eq!(m.to_string(), m.name());
            assert!(seen.insert(m.name()));
            for a in m.aliases() {
                assert_eq!(a.parse::<Method>(), Ok(m), "{a}");
                assert!(seen.insert(a), "{a} used twice");
            }
        }
        let err = "rk4".parse::<Method>().unwrap_err();
        assert!(err.to_string().contains("loss-graph-rattle"), "{err}");
    }
}
