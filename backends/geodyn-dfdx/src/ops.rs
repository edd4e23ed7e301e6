//! Small helpers over dfdx tensor ops: device errors as typed errors, the activations
//! (with a corrected GELU derivative), their first and second derivatives, and the loss.

use crate::DfdxError;
use dfdx::prelude::*;
use geodyn_nn::Activation;
use geodyn_nn::special::{FRAC_1_SQRT_2PI, normal_cdf, normal_pdf};

/// A dynamic-shape matrix on device `D` (feature-major: `[features, batch]`).
pub(crate) type Mat<D, T = NoneTape> = Tensor<(usize, usize), f64, D, T>;
/// A dynamic-length vector on device `D`.
pub(crate) type Vect<D, T = NoneTape> = Tensor<(usize,), f64, D, T>;

/// `Result<T, D::Err>` → `Result<T, DfdxError>` (device errors: allocation, CUDA).
pub(crate) trait DevResult<T> {
    /// Maps the device error into [`DfdxError::Device`].
    fn dev(self) -> Result<T, DfdxError>;
}

impl<T, E: std::fmt::Debug> DevResult<T> for Result<T, E> {
    #[inline]
    fn dev(self) -> Result<T, DfdxError> {
        self.map_err(|e| DfdxError::Device(format!("{e:?}")))
    }
}

/// How dfdx's `accurate_gelu` differentiates, measured once per objective on its
/// device: its derivative is Φ(z) + c·z·φ(z). The exact GELU has c = 1; dfdx 0.13's CPU
/// and CUDA kernels drop the 1/√2 of d/dz erf(z/√2) and give c = √2. Our taped GELU adds
/// the zero-valued term (z − z̄)·(1 − c)·z̄·φ(z̄) (z̄ a constant copy of z), whose
/// derivative (1 − c)·zφ(z) turns dfdx's derivative into the exact one and whose value
/// is exactly 0, so the forward value stays dfdx's own erf GELU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GeluFix {
    /// 1 − c: the coefficient of z φ(z) to add to dfdx's derivative (0 when exact).
    pub(crate) coeff: f64,
}

impl GeluFix {
    /// Measures c on `dev` at z = 1 and z = −0.7 and accepts c = 1 or c = √2.
    pub(crate) fn probe<D: Device<f64>>(dev: &D) -> Result<Self, DfdxError> {
        let zs = [1.0, -0.7];
        let z: Vect<D> = dev.try_tensor_from_vec(zs.to_vec(), (zs.len(),)).dev()?;
        let zt = z.clone().leaky_traced();
        let s = zt.try_accurate_gelu().dev()?.try_sum::<(), _>().dev()?;
        let grads = s.try_backward().dev()?;
        let df = grads.get(&z).as_vec();
        let mut measured = Vec::with_capacity(zs.len());
        for (&z, &d) in zs.iter().zip(&df) {
            measured.push((d - normal_cdf(z)) / (z * normal_pdf(z)));
        }
        for c in [1.0, std::f64::consts::SQRT_2] {
            if measured.iter().all(|m| (m - c).abs() < 1e-9) {
                return Ok(Self { coeff: 1.0 - c });
            }
        }
        Err(DfdxError::GeluDerivative { measured: measured[0] })
    }
}

/// φ(z) = e^{−z²/2}/√(2π), elementwise.
fn normal_pdf_t<D: Device<f64>>(z: &Mat<D>) -> Result<Mat<D>, DfdxError> {
    z.clone().try_square().dev()?.try_mul(-0.5).dev()?.try_exp().dev()?.try_mul(FRAC_1_SQRT_2PI).dev()
}

/// σ(z) for a tensor carrying tape `T`: dfdx's own ops (erf GELU, sigmoid, tanh, ReLU),
/// with the GELU derivative corrected by `fix` when a tape records the backward pass.
pub(crate) fn activate<D: Device<f64>, T: Tape<f64, D>>(
    z: Mat<D, T>,
    act: Activation,
    fix: GeluFix,
) -> Result<Mat<D, T>, DfdxError> {
    match act {
        Activation::Identity => Ok(z),
        Activation::Relu => z.try_relu().dev(),
        Activation::Tanh => z.try_tanh().dev(),
        Activation::Silu => {
            // z · sigmoid(z): both factors carry the tape (same id, so the product's
            // backward accumulates both branches into ∂/∂z).
            let zz = z.retaped::<T>();
            z.try_sigmoid().dev()?.try_mul(zz).dev()
        }
        Activation::Gelu => {
            if !T::OWNS_TAPE || fix.coeff == 0.0 {
                return z.try_accurate_gelu().dev();
            }
            // gelu(z) + (z·k − z̄·k), k = (1 − c) z̄ φ(z̄): the bracket is exactly 0 (the
            // same products, rounded the same way) and its derivative is k.
            let zbar: Mat<D> = z.retaped::<NoneTape>();
            let k = normal_pdf_t(&zbar)?.try_mul(zbar.clone()).dev()?.try_mul(fix.coeff).dev()?;
            let zk_const = zbar.try_mul(k.clone()).dev()?;
            let zk = z.retaped::<T>().try_mul(k).dev()?;
            let corr = zk.try_sub(zk_const).dev()?;
            z.try_accurate_gelu().dev()?.try_add(corr).dev()
        }
    }
}

/// σ'(z), from dfdx's reverse mode through [`activate`] (so exactly the derivative the
/// gradient uses): one elementwise forward and backward.
pub(crate) fn derivative<D: Device<f64>>(z: &Mat<D>, act: Activation, fix: GeluFix) -> Result<Mat<D>, DfdxError> {
    let dev = z.device().clone();
    match act {
        Activation::Identity => dev.try_ones_like(z).dev(),
        _ => {
            let zt = z.clone().leaky_traced();
            let s = activate(zt, act, fix)?.try_sum::<(), _>().dev()?;
            let grads = s.try_backward().dev()?;
            Ok(grads.get(z))
        }
    }
}

/// σ''(z) in closed form from dfdx ops, given σ'(z) in `s1`:
/// GELU φ(z)(2 − z²), SiLU s(1−s)(2 + z(1−2s)) with s = sigmoid(z), tanh −2 tanh(z) σ'(z),
/// ReLU and identity 0. `None` means identically zero.
pub(crate) fn second_derivative<D: Device<f64>>(
    z: &Mat<D>,
    s1: &Mat<D>,
    act: Activation,
) -> Result<Option<Mat<D>>, DfdxError> {
    Ok(match act {
        Activation::Identity | Activation::Relu => None,
        Activation::Gelu => {
            // 2φ − (zφ)z: no overflow of z² where φ has underflowed.
            let phi = normal_pdf_t(z)?;
            let zphi_z = phi.clone().try_mul(z.clone()).dev()?.try_mul(z.clone()).dev()?;
            Some(phi.try_mul(2.0).dev()?.try_sub(zphi_z).dev()?)
        }
        Activation::Silu => {
            let s = z.clone().try_sigmoid().dev()?;
            let sm = z.clone().try_negate().dev()?.try_sigmoid().dev()?;
            let inner = sm.clone().try_sub(s.clone()).dev()?.try_mul(z.clone()).dev()?.try_add(2.0).dev()?;
            Some(s.try_mul(sm).dev()?.try_mul(inner).dev()?)
        }
        Activation::Tanh => {
            let t = z.clone().try_tanh().dev()?;
            Some(t.try_mul(s1.clone()).dev()?.try_mul(-2.0).dev()?)
        }
    })
}
