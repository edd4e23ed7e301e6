//! Samplers by name: the CLI and downstream crates select plugins through a [`Registry`].

use crate::error::{Result, SamplerError};
use crate::sampler::{Dims, Laplace, Rla, Sampler, SamplerConfig};
use hashbrown::HashMap;

/// Builds a sampler from a configuration.
pub type Constructor = fn(SamplerConfig) -> Result<Box<dyn Sampler>>;

/// A registered plugin: one-line description and constructor.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// One line for `geodyn list`.
    pub description: &'static str,
    /// The constructor.
    pub constructor: Constructor,
}

/// Name → sampler plugin.
///
/// ```
/// use geodyn_samplers::{Registry, SamplerConfig};
/// let reg = Registry::with_builtin();
/// assert_eq!(reg.names(), vec!["dims", "laplace", "rla"]);
/// let s = reg.create("dims", SamplerConfig::default()).unwrap();
/// assert_eq!(s.name(), "dims");
/// assert!(reg.create("nuts", SamplerConfig::default()).is_err());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: HashMap<&'static str, Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in plugins: `dims`, `rla`, `laplace`.
    pub fn with_builtin() -> Self {
        let mut r = Self::new();
        r.register(
            "dims",
            "DiMS: dissipative mechanics on the loss graph (κ, η0·√T friction) from the MAP to t1 or T < ε",
            |c| {
                c.validate()?;
                Ok(Box::new(Dims::new(c.dims())?))
            },
        );
        r.register(
            "rla",
            "Riemannian Laplace: geodesic of the loss-graph metric from the MAP to t = 1 (exponential map)",
            |c| {
                c.validate()?;
                Ok(Box::new(Rla::new(c.rla())?))
            },
        );
        r.register(
            "laplace",
            "sampled Laplace: θ* + v with v ~ N(0, P⁻¹) (--linearised: predictive f* + J v)",
            |c| {
                c.validate()?;
                Ok(Box::new(Laplace::new(c.laplace())?))
            },
        );
        r
    }

    /// Registers (or replaces) a plugin.
    pub fn register(&mut self, name: &'static str, description: &'static str, constructor: Constructor) {
        self.entries.insert(name, Entry { description, constructor });
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.entries.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// The entry for `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Builds the sampler `name` with `config`.
    pub fn create(&self, name: &str, config: SamplerConfig) -> Result<Box<dyn Sampler>> {
        match self.entries.get(name) {
            Some(e) => (e.constructor)(config),
            None => Err(SamplerError::UnknownSampler { name: name.to_string(), known: self.names().join(", ") }),
        }
    }
}
