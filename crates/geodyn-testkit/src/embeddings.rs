//! Embeddings E: Rᵏ → Rⁿ with hand-derived Jacobian products and second directional
//! derivatives, whose pullback metrics JᵀJ are known in closed form.
use geodyn_core::{Embedding, Objective, Result, dot};

/// The graph embedding E(θ) = (θ, L(θ)) ∈ R^{k+1} of an objective, with exact
/// derivatives from the objective's gradient and HVP.
pub struct GraphEmbedding<O>(pub O);

impl<O: Objective> Embedding for GraphEmbedding<O> {
    fn input_dim(&self) -> usize {
        self.0.dim()
    }
    fn output_dim(&self) -> usize {
        self.0.dim() + 1
    }
    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        out[..k].copy_from_slice(x);
        out[k] = self.0.value(x)?;
        Ok(())
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut g = vec![0.0; k];
        self.0.gradient(x, &mut g)?;
        out[..k].copy_from_slice(v);
        out[k] = dot(&g, v);
        Ok(())
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut g = vec![0.0; k];
        self.0.gradient(x, &mut g)?;
        for i in 0..k {
            out[i] = u[i] + u[k] * g[i];
        }
        Ok(())
    }
    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let k = x.len();
        let mut hv = vec![0.0; k];
        self.0.hvp(x, v, &mut hv)?;
        out[..k].fill(0.0);
        out[k] = dot(v, &hv);
        Ok(())
    }
}

/// Spherical coordinates (θ, φ) ↦ (sinθ cosφ, sinθ sinφ, cosθ) on the unit sphere.
pub struct SphericalCoordinates;

impl SphericalCoordinates {
    /// The 3×2 Jacobian ∂E/∂(θ, φ) at `x`, by rows.
    pub fn jacobian(x: &[f64]) -> [[f64; 2]; 3] {
        let (st, ct, sp, cp) = (x[0].sin(), x[0].cos(), x[1].sin(), x[1].cos());
        [[ct * cp, -st * sp], [ct * sp, st * cp], [-st, 0.0]]
    }
}

impl Embedding for SphericalCoordinates {
    fn input_dim(&self) -> usize {
        2
    }
    fn output_dim(&self) -> usize {
        3
    }
    fn value(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        out[0] = x[0].sin() * x[1].cos();
        out[1] = x[0].sin() * x[1].sin();
        out[2] = x[0].cos();
        Ok(())
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let j = Self::jacobian(x);
        for r in 0..3 {
            out[r] = j[r][0] * v[0] + j[r][1] * v[1];
        }
        Ok(())
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        let j = Self::jacobian(x);
        for c in 0..2 {
            out[c] = (0..3).map(|r| j[r][c] * u[r]).sum();
        }
        Ok(())
    }
    fn second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        // d²/dt² of E(x + t v): second partials contracted with v twice.
        let (st, ct, sp, cp) = (x[0].sin(), x[0].cos(), x[1].sin(), x[1].cos());
        let (a, b) = (v[0], v[1]);
        out[0] = -st * cp * a * a - 2.0 * ct * sp * a * b - st * cp * b * b;
        out[1] = -st * sp * a * a + 2.0 * ct * cp * a * b - st * sp * b * b;
        out[2] = -ct * a * a;
        Ok(())
    }
}
