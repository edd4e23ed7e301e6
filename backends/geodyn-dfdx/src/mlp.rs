//! [`DfdxMlpObjective`]: the MLP negative log posterior of `geodyn-nn` on a dfdx device.

use crate::DfdxError;
use crate::ops::{DevResult, GeluFix, Mat, Vect, activate, derivative, second_derivative};
use dfdx::prelude::*;
use geodyn_core::error::{check_dim, check_finite, finite};
use geodyn_core::{ModelObjective, ModelOutputs, Objective, Result};
use geodyn_nn::{Dataset, GaussianPrior, Loss, ModelSpec, NnError, Target};
use std::fmt;

/// The parameters of one network on the device: per layer W `[out, in]` and b `[out]`.
struct Net<D: Device<f64>> {
    w: Vec<Mat<D>>,
    b: Vec<Vect<D>>,
}

/// What the tangent passes need from a forward pass, per layer: the layer's input
/// activation A_{l−1} `[in, N]` and its pre-activation Z_l `[out, N]` (no tape).
struct Saved<D: Device<f64>> {
    a_in: Vec<Mat<D>>,
    z: Vec<Mat<D>>,
}

/// A taped forward pass: the outputs `[m, N]` carrying the tape, and what the tangent
/// passes need.
type Taped<D> = (Mat<D, OwnedTape<f64, D>>, Saved<D>);

/// First and second tangents of the outputs along θ(t) = θ + tv: Ḟ and F̈ (`[m, N]`).
struct Tangents<D: Device<f64>> {
    fd: Mat<D>,
    fdd: Option<Mat<D>>,
}

/// The negative log posterior L(θ) = Σₙ ℓ(f_θ(xₙ), yₙ) + ½λ|θ|² of an MLP on a dfdx
/// device (the [`Cpu`] by default), with the same [`ModelSpec`], flat parameter vector
/// (PyTorch's `parameters_to_vector` order), [`Dataset`] and [`Loss`] as
/// `geodyn_dual::MlpObjective`, and the same public API.
///
/// The network is built from raw dfdx tensor ops on dynamic shapes, feature-major
/// (activations `[width, N]`): Z = W A + b (matmul and a broadcast bias), A' = σ(Z).
/// See the [crate documentation](crate) for which derivatives are exact.
///
/// ```
/// use geodyn_core::Objective;
/// use geodyn_dfdx::DfdxMlpObjective;
/// use geodyn_nn::{Loss, ModelSpec, data};
///
/// let spec: ModelSpec = "1-8-1:gelu".parse().unwrap();
/// let train = data::snelson_like(data::SNELSON_LIKE_SEED).train;
/// let obj = DfdxMlpObjective::new(spec.clone(), train, Loss::gaussian(0.3).unwrap(), 1.0).unwrap();
/// let theta = vec![0.1; spec.num_params()];
/// let v = vec![1.0; obj.dim()];
/// let mut g = vec![0.0; obj.dim()];
/// // f and ∇f by dfdx's reverse mode, vᵀHv by an exact second-order tangent pass …
/// let (f, vhv) = obj.grad_and_curvature(&theta, &v, &mut g).unwrap();
/// // … and the Hessian-vector product by central differences of gradients.
/// let mut hv = vec![0.0; obj.dim()];
/// obj.hvp(&theta, &v, &mut hv).unwrap();
/// let vhv2: f64 = v.iter().zip(&hv).map(|(a, b)| a * b).sum();
/// assert!((vhv - vhv2).abs() <= 1e-6 * vhv.abs());
/// assert!((f - obj.value(&theta).unwrap()).abs() <= 1e-12 * f);
/// ```
#[derive(Clone)]
pub struct DfdxMlpObjective<D: Device<f64> = Cpu> {
    dev: D,
    spec: ModelSpec,
    data: Dataset,
    loss: Loss,
    prior: GaussianPrior,
    /// The data's inputs feature-major `[d, N]`.
    inputs_t: Mat<D>,
    /// Gaussian: the targets `[m, N]`; cross-entropy: the smoothed target distributions
    /// q = (1−ε)·onehot(y) + ε/C, `[C, N]`.
    targets_t: Mat<D>,
    gelu: GeluFix,
}

impl<D: Device<f64>> fmt::Debug for DfdxMlpObjective<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DfdxMlpObjective")
            .field("spec", &self.spec.to_string())
            .field("data_points", &self.data.len())
            .field("loss", &self.loss)
            .field("prior", &self.prior)
            .field("gelu_fix", &self.gelu)
            .finish()
    }
}

impl DfdxMlpObjective<Cpu> {
    /// The objective for `spec` on `data` with `loss` and prior precision λ ≥ 0, on a
    /// new dfdx [`Cpu`] device.
    ///
    /// Errors as [`new_on`](Self::new_on).
    pub fn new(spec: ModelSpec, data: Dataset, loss: Loss, prior_precision: f64) -> Result<Self, DfdxError> {
        Self::new_on(Cpu::default(), spec, data, loss, prior_precision)
    }
}

/// The value of a rank-0 tensor (copied to the host).
fn scalar<D: Device<f64>, T>(t: &Tensor<(), f64, D, T>) -> f64 {
    t.as_vec().first().copied().unwrap_or(f64::NAN)
}

/// `[n, k]` row-major → `[k, n]` row-major.
fn transpose(src: &[f64], n: usize, k: usize) -> Vec<f64> {
    let mut t = vec![0.0; n * k];
    for r in 0..n {
        for c in 0..k {
            t[c * n + r] = src[r * k + c];
        }
    }
    t
}

impl<D: Device<f64>> DfdxMlpObjective<D> {
    /// The objective on device `dev` (e.g. a `Cuda` device with the `cuda` feature).
    ///
    /// Errors if the data's input width differs from the network's, the loss does not
    /// fit the targets (see [`Loss::check_compatible`]), λ is invalid, the device fails,
    /// or the device's GELU derivative is not one this crate knows how to make exact.
    pub fn new_on(dev: D, spec: ModelSpec, data: Dataset, loss: Loss, prior_precision: f64) -> Result<Self, DfdxError> {
        if data.input_dim() != spec.input_dim() {
            return Err(NnError::shape(
                "data inputs per sample (= network inputs)",
                spec.input_dim(),
                data.input_dim(),
            )
            .into());
        }
        loss.check_compatible(spec.output_dim(), &data)?;
        let prior = GaussianPrior::new(prior_precision)?;
        let (n, d, m) = (data.len(), spec.input_dim(), spec.output_dim());
        let inputs_t = dev.try_tensor_from_vec(transpose(data.inputs(), n, d), (d, n)).dev()?;
        let mut t = vec![0.0; m * n];
        for i in 0..n {
            match (loss, data.target(i)) {
                (Loss::GaussianNll { .. }, Target::Value(y)) => {
                    for (k, y) in y.iter().enumerate() {
                        t[k * n + i] = *y;
                    }
                }
                (Loss::CrossEntropy { label_smoothing: eps }, Target::Class(c)) => {
                    for k in 0..m {
                        t[k * n + i] = eps / m as f64 + if k == c { 1.0 - eps } else { 0.0 };
                    }
                }
                _ => return Err(NnError::shape("targets", "targets matching the loss", "another kind").into()),
            }
        }
        let targets_t = dev.try_tensor_from_vec(t, (m, n)).dev()?;
        let gelu = if spec.layers().iter().any(|l| l.activation == geodyn_nn::Activation::Gelu) {
            GeluFix::probe(&dev)?
        } else {
            GeluFix { coeff: 0.0 }
        };
        Ok(Self { dev, spec, data, loss, prior, inputs_t, targets_t, gelu })
    }

    /// The model spec.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// The training data.
    pub fn data(&self) -> &Dataset {
        &self.data
    }

    /// The loss.
    pub fn loss(&self) -> &Loss {
        &self.loss
    }

    /// The prior precision λ.
    pub fn prior_precision(&self) -> f64 {
        self.prior.precision
    }

    /// The dfdx device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// A copy with another prior precision λ (e.g. while tuning it).
    pub fn with_prior_precision(&self, prior_precision: f64) -> Result<Self, DfdxError> {
        Ok(Self { prior: GaussianPrior::new(prior_precision)?, ..self.clone() })
    }

    /// A copy with another loss (e.g. another noise σ while tuning it).
    pub fn with_loss(&self, loss: Loss) -> Result<Self, DfdxError> {
        Self::new_on(self.dev.clone(), self.spec.clone(), self.data.clone(), loss, self.prior.precision)
    }

    /// N · m, the number of network outputs at the data (length of [`jvp`](Self::jvp)).
    pub fn num_outputs(&self) -> usize {
        self.data.len() * self.spec.output_dim()
    }

    fn check_x(&self, x: &[f64]) -> Result<()> {
        check_dim("x", self.spec.num_params(), x.len())?;
        check_finite("x", x)
    }

    fn check_v(&self, v: &[f64]) -> Result<()> {
        check_dim("v", self.spec.num_params(), v.len())?;
        check_finite("v", v)
    }

    /// Copies a flat parameter vector (or direction) to the device, layer by layer.
    fn upload(&self, theta: &[f64]) -> Result<Net<D>, DfdxError> {
        let layers = self.spec.layers();
        let mut w = Vec::with_capacity(layers.len());
        let mut b = Vec::with_capacity(layers.len());
        for (l, layer) in layers.iter().enumerate() {
            let (wt, bt) = self.spec.layer_params(theta, l);
            w.push(self.dev.try_tensor_from_vec(wt.to_vec(), (layer.output, layer.input)).dev()?);
            b.push(self.dev.try_tensor_from_vec(bt.to_vec(), (layer.output,)).dev()?);
        }
        Ok(Net { w, b })
    }

    /// The inputs `[n, d]` (row-major, host) feature-major on the device.
    fn upload_inputs(&self, inputs: &[f64]) -> Result<Mat<D>, DfdxError> {
        let d = self.spec.input_dim();
        let n = inputs.len() / d;
        self.dev.try_tensor_from_vec(transpose(inputs, n, d), (d, n)).dev()
    }

    /// Forward pass without a tape; returns the outputs `[m, N]` and, when `save`, what
    /// the tangent passes need.
    fn forward(&self, net: &Net<D>, x: &Mat<D>, save: bool) -> Result<(Mat<D>, Option<Saved<D>>), DfdxError> {
        let mut saved = save.then(|| Saved { a_in: Vec::new(), z: Vec::new() });
        let mut a = x.clone();
        for (l, layer) in self.spec.layers().iter().enumerate() {
            let n = a.shape().1;
            let z = net.w[l]
                .clone()
                .try_matmul(a.clone())
                .dev()?
                .try_add(net.b[l].clone().try_broadcast_like::<_, Axis<1>>(&(layer.output, n)).dev()?)
                .dev()?;
            let next = activate(z.clone(), layer.activation, self.gelu)?;
            if let Some(s) = saved.as_mut() {
                s.a_in.push(a);
                s.z.push(z);
            }
            a = next;
        }
        Ok((a, saved))
    }

    /// Forward pass with every parameter traced on one tape: the outputs `[m, N]` carry
    /// the tape; also returns the saved activations for the tangent passes.
    fn forward_taped(&self, net: &Net<D>) -> Result<Taped<D>, DfdxError> {
        let mut saved = Saved { a_in: Vec::new(), z: Vec::new() };
        let x = &self.inputs_t;
        let n = x.shape().1;
        let mut a: Option<Mat<D, OwnedTape<f64, D>>> = None;
        for (l, layer) in self.spec.layers().iter().enumerate() {
            let w = net.w[l].clone().leaky_traced();
            let b = net.b[l].clone().leaky_traced().try_broadcast_like::<_, Axis<1>>(&(layer.output, n)).dev()?;
            let wa = match a.take() {
                None => {
                    saved.a_in.push(x.clone());
                    w.try_matmul(x.clone()).dev()?
                }
                Some(a) => {
                    let (a_val, tape) = a.split_tape();
                    saved.a_in.push(a_val.clone());
                    w.try_matmul(a_val.put_tape(tape)).dev()?
                }
            };
            let z = wa.try_add(b).dev()?;
            let (z_val, tape) = z.split_tape();
            saved.z.push(z_val.clone());
            a = Some(activate(z_val.put_tape(tape), layer.activation, self.gelu)?);
        }
        let out = a.ok_or(DfdxError::Device("a network without layers".into()))?;
        Ok((out, saved))
    }

    /// The data loss Σₙ ℓ(fₙ, yₙ) of outputs `[m, N]` carrying tape `T`.
    fn loss_of<T: Tape<f64, D>>(&self, f: Mat<D, T>) -> Result<Tensor<(), f64, D, T>, DfdxError> {
        match self.loss {
            Loss::GaussianNll { sigma } => f
                .try_sub(self.targets_t.clone())
                .dev()?
                .try_square()
                .dev()?
                .try_sum::<(), _>()
                .dev()?
                .try_mul(0.5 / (sigma * sigma))
                .dev(),
            // ℓ = −q · log_softmax(f), which equals logsumexp(f) − q·f since Σq = 1.
            Loss::CrossEntropy { .. } => f
                .try_log_softmax::<Axis<0>>()
                .dev()?
                .try_mul(self.targets_t.clone())
                .dev()?
                .try_sum::<(), _>()
                .dev()?
                .try_negate()
                .dev(),
        }
    }

    /// ∂ℓ/∂f at outputs `[m, N]`: (f − y)/σ², or softmax(f) − q.
    fn output_gradient(&self, f: &Mat<D>) -> Result<Mat<D>, DfdxError> {
        match self.loss {
            Loss::GaussianNll { sigma } => {
                f.clone().try_sub(self.targets_t.clone()).dev()?.try_mul(1.0 / (sigma * sigma)).dev()
            }
            Loss::CrossEntropy { .. } => {
                f.clone().try_softmax::<Axis<0>>().dev()?.try_sub(self.targets_t.clone()).dev()
            }
        }
    }

    /// Λu per column: u/σ², or p ⊙ u − p (p·u) with p = softmax(f).
    fn output_hess_vec(&self, f: &Mat<D>, u: Mat<D>) -> Result<Mat<D>, DfdxError> {
        match self.loss {
            Loss::GaussianNll { sigma } => u.try_mul(1.0 / (sigma * sigma)).dev(),
            Loss::CrossEntropy { .. } => {
                let shape = *f.shape();
                let p = f.clone().try_softmax::<Axis<0>>().dev()?;
                let pu = p.clone().try_mul(u).dev()?;
                let col =
                    pu.clone().try_sum::<(usize,), Axis<0>>().dev()?.try_broadcast_like::<_, Axis<0>>(&shape).dev()?;
                pu.try_sub(p.try_mul(col).dev()?).dev()
            }
        }
    }

    /// First (and, with `second`, second) tangents of the outputs along θ + tv, from
    /// the saved forward pass: per layer
    /// Ż = W Ȧ + V A + v_b, Z̈ = W Ä + 2 V Ȧ, Ȧ' = σ'(Z) Ż, Ä' = σ''(Z) Ż² + σ'(Z) Z̈.
    fn tangents(&self, net: &Net<D>, dir: &Net<D>, saved: &Saved<D>, second: bool) -> Result<Tangents<D>, DfdxError> {
        let mut ad: Option<Mat<D>> = None;
        let mut add: Option<Mat<D>> = None;
        for (l, layer) in self.spec.layers().iter().enumerate() {
            let a_in = &saved.a_in[l];
            let z = &saved.z[l];
            let n = a_in.shape().1;
            let vb = dir.b[l].clone().try_broadcast_like::<_, Axis<1>>(&(layer.output, n)).dev()?;
            let mut zd = dir.w[l].clone().try_matmul(a_in.clone()).dev()?.try_add(vb).dev()?;
            if let Some(ad) = &ad {
                zd = zd.try_add(net.w[l].clone().try_matmul(ad.clone()).dev()?).dev()?;
            }
            let zdd = if second {
                let mut acc: Option<Mat<D>> = None;
                if let Some(add) = &add {
                    acc = Some(net.w[l].clone().try_matmul(add.clone()).dev()?);
                }
                if let Some(ad) = &ad {
                    let t = dir.w[l].clone().try_matmul(ad.clone()).dev()?.try_mul(2.0).dev()?;
                    acc = Some(match acc {
                        Some(a) => a.try_add(t).dev()?,
                        None => t,
                    });
                }
                acc
            } else {
                None
            };
            let act = layer.activation;
            if act == geodyn_nn::Activation::Identity {
                ad = Some(zd);
                add = zdd;
                continue;
            }
            let s1 = derivative(z, act, self.gelu)?;
            if second {
                let s2 = second_derivative(z, &s1, act)?;
                let mut acc = match s2 {
                    Some(s2) => Some(s2.try_mul(zd.clone().try_square().dev()?).dev()?),
                    None => None,
                };
                if let Some(zdd) = zdd {
                    let t = s1.clone().try_mul(zdd).dev()?;
                    acc = Some(match acc {
                        Some(a) => a.try_add(t).dev()?,
                        None => t,
                    });
                }
                add = acc;
            }
            ad = Some(s1.try_mul(zd).dev()?);
        }
        let fd = ad.ok_or(DfdxError::Device("a network without layers".into()))?;
        Ok(Tangents { fd, fdd: add })
    }

    /// Copies the gradients of the traced layer parameters into `g` (flat order).
    fn read_gradients(&self, net: &Net<D>, grads: &Gradients<f64, D>, g: &mut [f64]) -> Result<(), DfdxError> {
        for l in 0..self.spec.layers().len() {
            let (wo, bo) = (self.spec.weight_offset(l), self.spec.bias_offset(l));
            let nw = net.w[l].shape().num_elements();
            let nb = net.b[l].shape().num_elements();
            grads.get(&net.w[l]).copy_into(&mut g[wo..wo + nw]);
            grads.get(&net.b[l]).copy_into(&mut g[bo..bo + nb]);
        }
        Ok(())
    }

    /// `[m, n]` feature-major on the device → `[n, m]` row-major into `out`.
    fn download_outputs(&self, f: &Mat<D>, out: &mut [f64]) {
        let (m, n) = *f.shape();
        let v = f.as_vec();
        for k in 0..m {
            for i in 0..n {
                out[i * m + k] = v[k * n + i];
            }
        }
    }

    /// The data term Σₙ ℓ(f_θ(xₙ), yₙ) alone (no prior).
    pub fn data_loss(&self, x: &[f64]) -> Result<f64> {
        self.check_x(x)?;
        let net = self.upload(x)?;
        let (f, _) = self.forward(&net, &self.inputs_t, false)?;
        finite("data loss", scalar(&self.loss_of(f)?))
    }

    /// Writes the network outputs f_θ(xₙ) at the data, row-major `[N, m]`.
    pub fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("out", self.num_outputs(), out.len())?;
        let net = self.upload(x)?;
        let (f, _) = self.forward(&net, &self.inputs_t, false)?;
        self.download_outputs(&f, out);
        check_finite("network outputs", out)
    }

    /// Writes the Jacobian-vector product J(θ) v of the network outputs at the data
    /// (`[N, m]`), exactly, by the hand-written tangent pass.
    pub fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        self.check_v(v)?;
        check_dim("out", self.num_outputs(), out.len())?;
        let (net, dir) = (self.upload(x)?, self.upload(v)?);
        let (_, saved) = self.forward(&net, &self.inputs_t, true)?;
        let saved = saved.ok_or(DfdxError::Device("forward pass saved nothing".into()))?;
        let t = self.tangents(&net, &dir, &saved, false)?;
        self.download_outputs(&t.fd, out);
        check_finite("jvp", out)
    }

    /// Writes the vector-Jacobian product J(θ)ᵀ u (length K) for an output cotangent u
    /// of shape `[N, m]` (the data term only, no prior), by dfdx's reverse mode of
    /// Σ u ⊙ f_θ.
    pub fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        check_dim("u", self.num_outputs(), u.len())?;
        check_finite("u", u)?;
        check_dim("out", self.spec.num_params(), out.len())?;
        let (n, m) = (self.data.len(), self.spec.output_dim());
        let u_t: Mat<D> = self.dev.try_tensor_from_vec(transpose(u, n, m), (m, n)).dev()?;
        self.vjp_device(x, u_t, out)?;
        check_finite("vjp", out)
    }

    /// Jᵀu for a device cotangent `[m, N]`.
    fn vjp_device(&self, x: &[f64], u_t: Mat<D>, out: &mut [f64]) -> Result<(), DfdxError> {
        let net = self.upload(x)?;
        let (f, _) = self.forward_taped(&net)?;
        let s = f.try_mul(u_t).dev()?.try_sum::<(), _>().dev()?;
        let grads = s.try_backward().dev()?;
        self.read_gradients(&net, &grads, out)
    }

    /// Writes the generalised Gauss–Newton product (JᵀΛJ + λI) v, exactly: J v by the
    /// tangent pass, Λ in closed form (I/σ² for the Gaussian, diag(p) − ppᵀ for softmax),
    /// Jᵀ by dfdx's reverse mode.
    pub fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        self.check_v(v)?;
        check_dim("out", self.spec.num_params(), out.len())?;
        let (net, dir) = (self.upload(x)?, self.upload(v)?);
        let (f, saved) = self.forward(&net, &self.inputs_t, true)?;
        let saved = saved.ok_or(DfdxError::Device("forward pass saved nothing".into()))?;
        let t = self.tangents(&net, &dir, &saved, false)?;
        let w = self.output_hess_vec(&f, t.fd)?;
        self.vjp_device(x, w, out)?;
        for (o, v) in out.iter_mut().zip(v) {
            *o += self.prior.precision * v;
        }
        check_finite("GGN-vector product", out)
    }

    /// Batched predictions at arbitrary inputs: `param_sets` holds S parameter vectors
    /// back to back (`[S, K]`), `inputs` is `[n, d]`, `out` receives `[S, n, m]`.
    pub fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (m, k) = (self.spec.output_dim(), self.spec.num_params());
        let (_, n) = self.spec.check_predict(param_sets, inputs, out.len())?;
        if n == 0 {
            return Ok(());
        }
        let x = self.upload_inputs(inputs)?;
        for (p, o) in param_sets.chunks_exact(k).zip(out.chunks_exact_mut(n * m)) {
            let net = self.upload(p)?;
            let (f, _) = self.forward(&net, &x, false)?;
            self.download_outputs(&f, o);
        }
        check_finite("predictions", out)
    }

    /// The second directional derivative of the outputs at the data, d²/dt² f_{θ+tv},
    /// `[N, m]`, exactly, by the second-order tangent pass.
    pub fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        let obj = self;
        obj.check_x(x)?;
        obj.check_v(v)?;
        check_dim("out", obj.num_outputs(), out.len())?;
        let (net, dir) = (obj.upload(x)?, obj.upload(v)?);
        let (_, saved) = obj.forward(&net, &obj.inputs_t, true)?;
        let saved = saved.ok_or(DfdxError::Device("forward pass saved nothing".into()))?;
        let t = obj.tangents(&net, &dir, &saved, true)?;
        match t.fdd {
            Some(fdd) => obj.download_outputs(&fdd, out),
            None => {
                out.fill(0.0);
            }
        }
        check_finite("second directional derivative", out)
    }
}

/// The central-difference step of [`DfdxMlpObjective`]'s Hessian-vector product along
/// `v` at `x`: h = ε^{1/3} (1 + |x|) / |v| (ε the f64 machine epsilon), so θ moves by
/// ε^{1/3}(1 + |x|) ≈ 6e-6 (1 + |x|) and the truncation error O(h²) balances the
/// rounding error O(ε/h) of the differenced gradients. Infinite for v = 0.
pub fn hvp_step(x: &[f64], v: &[f64]) -> f64 {
    let nx = geodyn_core::dot(x, x).sqrt();
    let nv = geodyn_core::dot(v, v).sqrt();
    f64::EPSILON.cbrt() * (1.0 + nx) / nv
}

impl<D: Device<f64>> Objective for DfdxMlpObjective<D>
where
    D: Send + Sync,
{
    fn dim(&self) -> usize {
        self.spec.num_params()
    }
    fn value(&self, x: &[f64]) -> Result<f64> {
        self.eval_value(x)
    }
    /// f and ∇f by one taped forward pass and dfdx's backward pass.
    fn gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        self.eval_gradient(x, g)
    }
    /// H v by central differences of dfdx gradients (see [`DfdxMlpObjective::eval_hvp`]).
    fn hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        self.eval_hvp(x, v, hv)
    }
    /// One taped forward pass; vᵀHv exactly by the second-order tangent pass.
    fn grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        self.eval_grad_and_curvature(x, v, g)
    }
}

/// The [`Objective`] calls for every device, including those that are not `Send + Sync`
/// (the CUDA device, driven through [`ThreadConfined`](crate::ThreadConfined)).
impl<D: Device<f64>> DfdxMlpObjective<D> {
    /// [`Objective::value`].
    pub fn eval_value(&self, x: &[f64]) -> Result<f64> {
        let data = self.data_loss(x)?;
        finite("objective", data + self.prior.value(x))
    }

    /// f and ∇f by one taped forward pass and dfdx's backward pass.
    ///
    /// [`Objective::gradient`].
    pub fn eval_gradient(&self, x: &[f64], g: &mut [f64]) -> Result<f64> {
        self.check_x(x)?;
        check_dim("g", self.spec.num_params(), g.len())?;
        let net = self.upload(x)?;
        let (f, _) = self.forward_taped(&net)?;
        let l = self.loss_of(f)?;
        let value = scalar(&l);
        let grads = l.try_backward().dev()?;
        self.read_gradients(&net, &grads, g)?;
        self.prior.add_gradient(x, g);
        check_finite("gradient", g)?;
        finite("objective", value + self.prior.value(x))
    }

    /// H v by central differences of dfdx gradients, (∇L(x + hv) − ∇L(x − hv))/2h with
    /// h from [`hvp_step`]: error O(h²) from truncation plus
    /// O(ε/h) from rounding, 3e-11 – 8e-10 relative to |Hv| in the tests. The prior's λv is
    /// added exactly.
    ///
    /// [`Objective::hvp`].
    pub fn eval_hvp(&self, x: &[f64], v: &[f64], hv: &mut [f64]) -> Result<()> {
        self.check_x(x)?;
        self.check_v(v)?;
        let k = self.spec.num_params();
        check_dim("hv", k, hv.len())?;
        if v.iter().all(|&a| a == 0.0) {
            hv.fill(0.0);
            return Ok(());
        }
        let h = hvp_step(x, v);
        geodyn_core::scratch::with_buffers::<2, _>(k, |[xp, gm]| -> Result<()> {
            for ((p, x), v) in xp.iter_mut().zip(x).zip(v) {
                *p = x + h * v;
            }
            self.gradient_data(xp, hv)?;
            for ((p, x), v) in xp.iter_mut().zip(x).zip(v) {
                *p = x - h * v;
            }
            self.gradient_data(xp, gm)?;
            for ((o, m), v) in hv.iter_mut().zip(gm.iter()).zip(v) {
                *o = (*o - m) / (2.0 * h) + self.prior.precision * v;
            }
            Ok(())
        })?;
        check_finite("Hessian-vector product", hv)
    }

    /// One taped forward pass; vᵀHv exactly by the second-order tangent pass
    /// (Σ ḟᵀΛḟ + ∇ℓ·f̈ + λ|v|²), ∇f by dfdx's backward pass.
    ///
    /// [`Objective::grad_and_curvature`].
    pub fn eval_grad_and_curvature(&self, x: &[f64], v: &[f64], g: &mut [f64]) -> Result<(f64, f64)> {
        self.check_x(x)?;
        self.check_v(v)?;
        check_dim("g", self.spec.num_params(), g.len())?;
        let (net, dir) = (self.upload(x)?, self.upload(v)?);
        let (f, saved) = self.forward_taped(&net)?;
        let f_val: Mat<D> = f.retaped::<NoneTape>();
        let l = self.loss_of(f)?;
        let value = scalar(&l);
        let curv = self.curvature(&net, &dir, &saved, &f_val)?;
        let grads = l.try_backward().dev()?;
        self.read_gradients(&net, &grads, g)?;
        self.prior.add_gradient(x, g);
        check_finite("gradient", g)?;
        let vhv = curv + self.prior.precision * geodyn_core::dot(v, v);
        Ok((finite("objective", value + self.prior.value(x))?, finite("curvature vᵀHv", vhv)?))
    }
}

impl<D: Device<f64>> DfdxMlpObjective<D> {
    /// The data part of vᵀHv: Σₙ ḟₙᵀΛₙḟₙ + ∇ℓₙ·f̈ₙ.
    fn curvature(&self, net: &Net<D>, dir: &Net<D>, saved: &Saved<D>, f: &Mat<D>) -> Result<f64, DfdxError> {
        let t = self.tangents(net, dir, saved, true)?;
        let lf = self.output_hess_vec(f, t.fd.clone())?;
        let mut c = scalar(&t.fd.try_mul(lf).dev()?.try_sum::<(), _>().dev()?);
        if let Some(fdd) = t.fdd {
            let gl = self.output_gradient(f)?;
            c += scalar(&gl.try_mul(fdd).dev()?.try_sum::<(), _>().dev()?);
        }
        Ok(c)
    }

    /// ∇ of the data term only (no prior), by dfdx's reverse mode.
    fn gradient_data(&self, x: &[f64], g: &mut [f64]) -> Result<(), DfdxError> {
        let net = self.upload(x)?;
        let (f, _) = self.forward_taped(&net)?;
        let grads = self.loss_of(f)?.try_backward().dev()?;
        self.read_gradients(&net, &grads, g)
    }
}

impl<D: Device<f64> + Send + Sync> DfdxMlpObjective<D> {
    /// The network outputs at the data as an [`Embedding`](geodyn_core::Embedding) E: R^K → R^{N·m}
    /// (for [`Pullback`](geodyn_core::Pullback) metrics G = JᵀJ + λI).
    pub fn outputs_embedding(&self) -> ModelOutputs<'_, Self> {
        ModelOutputs::new(self)
    }
}

/// The device-generic inherent methods of the same names, for devices that can be
/// shared across threads (the CPU device; CUDA goes through
/// [`ThreadConfined`](crate::ThreadConfined)).
impl<D: Device<f64> + Send + Sync> ModelObjective for DfdxMlpObjective<D> {
    fn num_outputs(&self) -> usize {
        DfdxMlpObjective::num_outputs(self)
    }
    fn outputs(&self, x: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::outputs(self, x, out)
    }
    fn jvp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::jvp(self, x, v, out)
    }
    fn vjp(&self, x: &[f64], u: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::vjp(self, x, u, out)
    }
    fn ggn_vp(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::ggn_vp(self, x, v, out)
    }
    fn outputs_second_directional(&self, x: &[f64], v: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::outputs_second_directional(self, x, v, out)
    }
    fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        DfdxMlpObjective::predict(self, param_sets, inputs, out)
    }
}

// The CPU objective is shared across sampler threads.
const _: fn() = || {
    fn is_sync_send<T: Sync + Send>() {}
    is_sync_send::<DfdxMlpObjective<Cpu>>();
};
