//! A downstream crate's own objective, and DiMS on it.
//!
//! [`Ellipsoid`] is L(x) = (xᵀAx − 1)² on R³ with A = diag(a): its minimum set is the
//! ellipsoid xᵀAx = 1. It implements [`Objective`] itself: the gradient by the dfdx
//! backend's reverse mode (through `geodyn::dfdx::dfdx`, the dfdx crate the backend
//! re-exports), the Hessian-vector product in closed form,
//! H v = 8 (Ax)(Ax·v) + 4 (xᵀAx − 1) A v. Everything above the [`Objective`] seam —
//! the loss-graph metric, the DiMS mechanics, the integrator — is geodyn's.
//!
//! ```
//! use geodyn::prelude::*;
//! use geodyn_downstream_example::{Ellipsoid, run_dims};
//! let e = Ellipsoid::new([1.0, 0.5, 2.0]).unwrap();
//! let mut g = [0.0; 3];
//! let f = e.gradient(&[1.0, 1.0, 0.0], &mut g).unwrap(); // xᵀAx = 1.5: f = 0.25
//! assert!((f - 0.25).abs() < 1e-15 && (g[0] - 2.0).abs() < 1e-15);
//! let run = run_dims(&e, &[1.0, 0.0, 0.0], &[0.0, 1.0, 0.8], 100.0).unwrap();
//! assert!(run.final_loss < 1e-3); // (xᵀAx − 1)² at the end
//! ```
#![deny(missing_docs)]

use geodyn::core::error::{check_dim, check_finite};
use geodyn::dfdx::dfdx::prelude::*;
use geodyn::prelude::*;

/// L(x) = (xᵀAx − 1)² on R³, A = diag(a) with a > 0.
#[derive(Debug, Clone)]
pub struct Ellipsoid {
    a: [f64; 3],
    dev: Cpu,
}

impl Ellipsoid {
    /// The loss for the semi-axes 1/√aᵢ; errors unless every aᵢ is finite and positive.
    pub fn new(a: [f64; 3]) -> Result<Self> {
        if let Some(&bad) = a.iter().find(|&&x| !(x.is_finite() && x > 0.0)) {
            return Err(Error::InvalidParameter { name: "a", value: bad, reason: "must be finite and > 0" });
        }
        Ok(Self { a, dev: Cpu::default() })
    }

    /// r(x) = xᵀAx − 1 (zero on the minimum set).
    pub fn residual(&self, x: &[f64]) -> f64 {
        x.iter().zip(&self.a).map(|(x, a)| a * x * x).sum::<f64>() - 1.0
    }

    fn check(&self, what: &'static str, x: &[f64]) -> Result<()> {
        check_dim(what, 3, x.len())?;
        check_finite(what, x)
    }
}

impl Objective for Ellipsoid {
    fn dim(&self) -> usize {
        3
    }

    fn value(&self, x: &[f64]) -> Result<f64> {
        self.check("x", x)?;
        let r = self.residual(x);
        Ok(r * r)
    }

    /// ∇L by dfdx's reverse mode: L = (Σ aᵢxᵢ² − 1)² as tensor ops, one backward pass.
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        self.check("x", x)?;
        check_dim("g", 3, g.len())?;
        let xt: Tensor<Rank1<3>, f64, Cpu> = self.dev.tensor([x[0], x[1], x[2]]);
        let at: Tensor<Rank1<3>, f64, Cpu> = self.dev.tensor(self.a);
        let loss = (xt.leaky_trace().square() * at).sum::<Rank0, _>() - 1.0;
        let loss = loss.square();
        let value = loss.array();
        let grads = loss.backward();
        g.copy_from_slice(&grads.get(&xt).array());
        check_finite("gradient", g)?;
        Ok(value)
    }

    /// H v = 8 (Ax)(Ax·v) + 4 r A v, exactly.
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        self.check("x", x)?;
        self.check("v", v)?;
        check_dim("hv", 3, hv.len())?;
        let r = self.residual(x);
        let ax_v: f64 = (0..3).map(|i| self.a[i] * x[i] * v[i]).sum();
        for i in 0..3 {
            hv[i] = 8.0 * self.a[i] * x[i] * ax_v + 4.0 * r * self.a[i] * v[i];
        }
        Ok(())
    }
}

/// What a DiMS run did.
#[derive(Debug, Clone)]
pub struct DimsRun {
    /// Where it ended.
    pub x: Vec<f64>,
    /// L at the end.
    pub final_loss: f64,
    /// The kinetic energy T = ½ ẋᵀGẋ at the end.
    pub final_kinetic: f64,
    /// The total energy H = T + V at 201 uniformly spaced times.
    pub energy: Vec<f64>,
    /// Right-hand-side evaluations.
    pub rhs_evaluations: usize,
}

/// Runs DiMS (loss-graph metric, κ = 1, L* = 0, friction η = √T) on `loss` from
/// (x0, v0) to time `t1` at atol = rtol = 1e-9, recording the energy along the way.
pub fn run_dims<O: Objective>(loss: &O, x0: &[f64], v0: &[f64], t1: f64) -> Result<DimsRun> {
    let dims = Mechanics::dims(loss, 1.0, 0.0, SpeedDependent(1.0))?;
    let opts = IntegrateOptions::new(t1).tolerances(1e-9, 1e-9).uniform_outputs(201);
    let sol = integrate(&dims, x0, v0, &opts)?;
    let energy = sol.outputs.iter().map(|p| dims.energy(&p.x, &p.v).map(|e| e.total())).collect::<Result<Vec<_>>>()?;
    let end = dims.energy(&sol.x, &sol.v)?;
    Ok(DimsRun {
        final_loss: loss.value(&sol.x)?,
        final_kinetic: end.kinetic,
        x: sol.x,
        energy,
        rhs_evaluations: sol.stats.rhs_evaluations,
    })
}
