//! Lagrangians and Rayleigh dissipation functions with hand-derived Euler–Lagrange terms.
use geodyn_core::{Lagrangian, Rayleigh, Result};

/// L = ½mv² − V(x) on R¹ with V = ½kx² + ¼qx⁴: Newton's ẍ = −(kx + qx³)/m, energy
/// ½mv² + V (q = 0: the spring ẍ = −(k/m)x).
pub struct Newton {
    /// The mass m.
    pub m: f64,
    /// The linear stiffness k.
    pub k: f64,
    /// The quartic stiffness q.
    pub q: f64,
}

impl Lagrangian for Newton {
    fn dim(&self) -> usize {
        1
    }
    fn value(&self, x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(0.5 * self.m * v[0] * v[0] - 0.5 * self.k * x[0] * x[0] - 0.25 * self.q * x[0].powi(4))
    }
    fn velocity_gradient(&self, _x: &[f64], v: &[f64], lv: &mut [f64]) -> Result<()> {
        lv[0] = self.m * v[0];
        Ok(())
    }
    fn euler_lagrange_terms(
        &self,
        x: &[f64],
        _v: &[f64],
        lx: &mut [f64],
        lvv: &mut [f64],
        lvx_v: &mut [f64],
    ) -> Result<()> {
        lx[0] = -self.k * x[0] - self.q * x[0].powi(3);
        lvv[0] = self.m;
        lvx_v[0] = 0.0;
        Ok(())
    }
}

/// The Rayleigh function R = ½cv² on R¹: the friction force −cv, dissipated power cv².
pub struct Drag(pub f64);

impl Rayleigh for Drag {
    fn value(&self, _x: &[f64], v: &[f64]) -> Result<f64> {
        Ok(0.5 * self.0 * v[0] * v[0])
    }
    fn velocity_gradient(&self, _x: &[f64], v: &[f64], rv: &mut [f64]) -> Result<()> {
        rv[0] = self.0 * v[0];
        Ok(())
    }
}
