//! Backend-neutral MLP specifications and PyTorch's flat parameter layout.
//!
//! A [`ModelSpec`] is a stack of dense layers z = W a + b, a' = σ(z). Its flat
//! parameter vector follows `torch.nn.utils.parameters_to_vector` on the matching
//! `nn.Sequential(Linear, act, Linear, act, …, Linear)`: layer by layer, the weight
//! row-major with shape `[out, in]`, then the bias `[out]`.

use crate::activation::Activation;
use crate::error::{NnError, Result, check_len};
use rand::{Rng, RngExt};
use std::fmt;
use std::str::FromStr;

/// One dense layer: `output` units computing σ(W a + b) from `input` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Dense {
    /// Number of inputs (columns of W).
    pub input: usize,
    /// Number of outputs (rows of W, length of b).
    pub output: usize,
    /// The activation applied after the affine map.
    pub activation: Activation,
}

impl Dense {
    /// Number of parameters, `output · input + output`.
    pub fn num_params(&self) -> usize {
        self.output.saturating_mul(self.input).saturating_add(self.output)
    }
}

/// The largest parameter count a [`ModelSpec`] accepts (2²⁸ ≈ 268 million, 2 GiB of f64):
/// larger networks are out of reach of this CPU toolkit and are refused with a clear
/// error instead of an allocation failure or an overflow.
pub const MAX_PARAMS: usize = 1 << 28;

/// A multilayer perceptron: dense layers with activations, in PyTorch's parameter order.
///
/// ```
/// use geodyn_nn::{Activation, ModelSpec};
///
/// let spec: ModelSpec = "1-16-16-1:gelu".parse().unwrap();
/// assert_eq!(spec.num_params(), (16 + 16) + (16 * 16 + 16) + (16 + 1));
/// assert_eq!(spec.layers()[0].activation, Activation::Gelu);
/// assert_eq!(spec.layers()[2].activation, Activation::Identity);
/// assert_eq!(spec.to_string(), "1-16-16-1:gelu");
/// assert_eq!(spec.torch_names()[2], "2.weight"); // nn.Sequential index 2: the second Linear
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelSpec {
    layers: Vec<Dense>,
    /// Offset of each layer's weight in the flat vector; the bias follows it.
    offsets: Vec<usize>,
    num_params: usize,
}

impl ModelSpec {
    /// An MLP with the given layer widths `[d_in, h_1, …, h_k, d_out]`, activation
    /// `hidden` after every hidden layer and `output` after the last.
    ///
    /// Errors if fewer than two widths are given or a width is zero.
    pub fn mlp(widths: &[usize], hidden: Activation, output: Activation) -> Result<Self> {
        let spec_str = || widths.iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        if widths.len() < 2 {
            return Err(NnError::Spec {
                spec: spec_str(),
                reason: "need at least an input and an output width".into(),
            });
        }
        if let Some(i) = widths.iter().position(|&w| w == 0) {
            return Err(NnError::Spec { spec: spec_str(), reason: format!("width #{} is zero", i + 1) });
        }
        let n = widths.len() - 1;
        let layers = (0..n)
            .map(|l| Dense {
                input: widths[l],
                output: widths[l + 1],
                activation: if l + 1 == n { output } else { hidden },
            })
            .collect();
        Self::from_layers(layers)
    }

    /// A spec from explicit layers; consecutive layers must chain (`output == next input`).
    pub fn from_layers(layers: Vec<Dense>) -> Result<Self> {
        let describe = |layers: &[Dense]| {
            layers.iter().map(|l| format!("{}->{}:{}", l.input, l.output, l.activation)).collect::<Vec<_>>().join(", ")
        };
        if layers.is_empty() {
            return Err(NnError::Spec { spec: String::new(), reason: "no layers".into() });
        }
        for (i, l) in layers.iter().enumerate() {
            if l.input == 0 || l.output == 0 {
                return Err(NnError::Spec { spec: describe(&layers), reason: format!("layer {i} has a zero width") });
            }
            if i > 0 && layers[i - 1].output != l.input {
                return Err(NnError::Spec {
                    spec: describe(&layers),
                    reason: format!(
                        "layer {} has {} outputs but layer {i} expects {} inputs",
                        i - 1,
                        layers[i - 1].output,
                        l.input
                    ),
                });
            }
        }
        let mut offsets = Vec::with_capacity(layers.len());
        let mut k: usize = 0;
        for l in &layers {
            offsets.push(k);
            k = l
                .output
                .checked_mul(l.input)
                .and_then(|w| w.checked_add(l.output))
                .and_then(|p| k.checked_add(p))
                .filter(|&total| total <= MAX_PARAMS)
                .ok_or_else(|| NnError::Spec {
                    spec: describe(&layers),
                    reason: format!("more than {MAX_PARAMS} parameters"),
                })?;
        }
        Ok(Self { layers, offsets, num_params: k })
    }

    /// The layers, input to output.
    pub fn layers(&self) -> &[Dense] {
        &self.layers
    }

    /// The layer widths `[d_in, h_1, …, d_out]`.
    pub fn widths(&self) -> Vec<usize> {
        std::iter::once(self.layers[0].input).chain(self.layers.iter().map(|l| l.output)).collect()
    }

    /// The input dimension d.
    pub fn input_dim(&self) -> usize {
        self.layers[0].input
    }

    /// The output dimension m.
    pub fn output_dim(&self) -> usize {
        self.layers[self.layers.len() - 1].output
    }

    /// The largest width of any layer (input included): the size of a per-sample
    /// activation buffer.
    pub fn max_width(&self) -> usize {
        self.layers.iter().map(|l| l.input.max(l.output)).max().unwrap_or(0)
    }

    /// Sum of the output widths of all layers: the size of one sample's stored
    /// pre-activations in a backward pass.
    pub fn total_units(&self) -> usize {
        self.layers.iter().map(|l| l.output).sum()
    }

    /// The number of parameters K.
    pub fn num_params(&self) -> usize {
        self.num_params
    }

    /// Offset of layer `l`'s weight (row-major `[out, in]`) in the flat vector.
    pub fn weight_offset(&self, l: usize) -> usize {
        self.offsets[l]
    }

    /// Offset of layer `l`'s bias in the flat vector.
    pub fn bias_offset(&self, l: usize) -> usize {
        self.offsets[l] + self.layers[l].output * self.layers[l].input
    }

    /// The `(weight, bias)` slices of layer `l` in a flat parameter vector.
    pub fn layer_params<'a, T>(&self, params: &'a [T], l: usize) -> (&'a [T], &'a [T]) {
        let w = self.weight_offset(l);
        let b = self.bias_offset(l);
        (&params[w..b], &params[b..b + self.layers[l].output])
    }

    /// The PyTorch `nn.Sequential` index of layer `l`'s `Linear` module: `2l`, since
    /// every hidden `Linear` is followed by one activation module.
    pub fn torch_index(&self, l: usize) -> usize {
        2 * l
    }

    /// The `state_dict` names in flat-vector order: `0.weight`, `0.bias`, `2.weight`, ….
    pub fn torch_names(&self) -> Vec<String> {
        (0..self.layers.len())
            .flat_map(|l| {
                let i = self.torch_index(l);
                [format!("{i}.weight"), format!("{i}.bias")]
            })
            .collect()
    }

    /// `(name, shape, offset)` of every tensor, in flat-vector order.
    pub fn tensor_layout(&self) -> Vec<(String, Vec<usize>, usize)> {
        let mut out = Vec::with_capacity(2 * self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let i = self.torch_index(l);
            out.push((format!("{i}.weight"), vec![layer.output, layer.input], self.weight_offset(l)));
            out.push((format!("{i}.bias"), vec![layer.output], self.bias_offset(l)));
        }
        out
    }

    /// PyTorch's default `nn.Linear` initialisation: every weight and bias of a layer
    /// with `in` inputs drawn from U(−1/√in, 1/√in) (kaiming-uniform with a = √5).
    pub fn init_params<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let mut p = vec![0.0; self.num_params];
        for (l, layer) in self.layers.iter().enumerate() {
            let bound = 1.0 / (layer.input as f64).sqrt();
            let start = self.weight_offset(l);
            for v in &mut p[start..start + layer.num_params()] {
                *v = rng.random_range(-bound..bound);
            }
        }
        p
    }

    /// The network's outputs for one parameter vector at `n` inputs.
    ///
    /// `inputs` is row-major `[n, d]`, `out` row-major `[n, m]`; `scratch` is resized
    /// to `2 · max_width` on first use (pass the same buffer again to avoid allocation).
    pub fn forward(&self, params: &[f64], inputs: &[f64], out: &mut [f64], scratch: &mut Vec<f64>) -> Result<()> {
        check_len("params", self.num_params, params.len())?;
        let (d, m) = (self.input_dim(), self.output_dim());
        if !inputs.len().is_multiple_of(d) {
            return Err(NnError::shape("inputs", format!("a multiple of d = {d}"), inputs.len()));
        }
        let n = inputs.len() / d;
        check_len("outputs", n * m, out.len())?;
        let w = self.max_width();
        if scratch.len() < 2 * w {
            scratch.resize(2 * w, 0.0);
        }
        for (x, y) in inputs.chunks_exact(d).zip(out.chunks_exact_mut(m)) {
            self.forward_one(params, x, y, scratch);
        }
        Ok(())
    }

    /// The network's output for one input `x` (length d) into `y` (length m); no
    /// checks. `scratch` must hold at least `2 · max_width` values.
    #[inline]
    pub fn forward_one(&self, params: &[f64], x: &[f64], y: &mut [f64], scratch: &mut [f64]) {
        let w = self.max_width();
        let (mut cur, mut next) = scratch.split_at_mut(w);
        cur[..x.len()].copy_from_slice(x);
        let last = self.layers.len() - 1;
        for (l, layer) in self.layers.iter().enumerate() {
            let (wt, b) = self.layer_params(params, l);
            let a = &cur[..layer.input];
            let z = if l == last { &mut *y } else { &mut next[..layer.output] };
            for ((zo, row), bo) in z.iter_mut().zip(wt.chunks_exact(layer.input)).zip(b) {
                let s: f64 = row.iter().zip(a).map(|(w, a)| w * a).sum();
                *zo = layer.activation.value(s + bo);
            }
            std::mem::swap(&mut cur, &mut next);
        }
    }

    /// The shape (S, n) of a batched prediction: `param_sets_len` = S·K parameters,
    /// `inputs_len` = n·d inputs and `out_len` = S·n·m outputs, or an error naming the
    /// argument whose length does not fit. Every backend's `predict` checks with it.
    pub fn predict_shape(&self, param_sets_len: usize, inputs_len: usize, out_len: usize) -> Result<(usize, usize)> {
        let (k, d) = (self.num_params, self.input_dim());
        if !param_sets_len.is_multiple_of(k) {
            return Err(NnError::shape("param_sets", format!("a multiple of K = {k}"), param_sets_len));
        }
        if !inputs_len.is_multiple_of(d) {
            return Err(NnError::shape("inputs", format!("a multiple of d = {d}"), inputs_len));
        }
        let (s, n) = (param_sets_len / k, inputs_len / d);
        check_len("predictions [S, n, m]", s * n * self.output_dim(), out_len)?;
        Ok((s, n))
    }

    /// Every check of a backend's batched prediction, in one place: the shape (S, n) as
    /// [`predict_shape`](Self::predict_shape) gives it, then
    /// [`NonFinite`](geodyn_core::Error::NonFinite) if a parameter or an input is NaN or
    /// infinite. Costs one pass over `param_sets` and `inputs`.
    pub fn check_predict(
        &self,
        param_sets: &[f64],
        inputs: &[f64],
        out_len: usize,
    ) -> geodyn_core::Result<(usize, usize)> {
        let shape = self.predict_shape(param_sets.len(), inputs.len(), out_len)?;
        geodyn_core::error::check_finite("param_sets", param_sets)?;
        geodyn_core::error::check_finite("inputs", inputs)?;
        Ok(shape)
    }

    /// Batched predictions: `param_sets` holds S parameter vectors back to back
    /// (`[S, K]`), `inputs` is `[n, d]`, and `out` receives `[S, n, m]` (sample-major).
    pub fn predict(&self, param_sets: &[f64], inputs: &[f64], out: &mut [f64]) -> Result<()> {
        let (k, m) = (self.num_params, self.output_dim());
        let (_, n) = self.predict_shape(param_sets.len(), inputs.len(), out.len())?;
        let mut scratch = vec![0.0; 2 * self.max_width()];
        for (p, o) in param_sets.chunks_exact(k).zip(out.chunks_exact_mut(n * m)) {
            self.forward(p, inputs, o, &mut scratch)?;
        }
        Ok(())
    }
}

impl fmt::Display for ModelSpec {
    /// Writes the spec string: `"1-16-16-1:gelu"`, with a third `:act` part only when
    /// the output activation is not the identity, and explicit layers when the hidden
    /// activations differ.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths().iter().map(|w| w.to_string()).collect::<Vec<_>>().join("-");
        let n = self.layers.len();
        let hidden = if n > 1 { Some(self.layers[0].activation) } else { None };
        if self.layers[..n - 1].iter().any(|l| Some(l.activation) != hidden) {
            let acts = self.layers.iter().map(|l| l.activation.name()).collect::<Vec<_>>().join(",");
            return write!(f, "{widths}:[{acts}]");
        }
        let out = self.layers[n - 1].activation;
        match (hidden, out) {
            (Some(h), Activation::Identity) => write!(f, "{widths}:{h}"),
            (Some(h), o) => write!(f, "{widths}:{h}:{o}"),
            (None, Activation::Identity) => write!(f, "{widths}"),
            (None, o) => write!(f, "{widths}:identity:{o}"),
        }
    }
}

impl FromStr for ModelSpec {
    type Err = NnError;

    /// Parses `"WIDTHS[:HIDDEN[:OUTPUT]]"`, e.g. `"1-16-16-16-1:gelu"`: widths joined by
    /// `-`, the activation of the hidden layers, and optionally the output activation
    /// (default identity). A network without hidden layers (`"3-1"`) needs no
    /// activation; one with hidden layers must name it.
    fn from_str(s: &str) -> Result<Self> {
        let err = |reason: String| NnError::Spec { spec: s.to_string(), reason };
        let mut parts = s.trim().split(':');
        let widths_str = parts.next().unwrap_or("");
        let hidden_str = parts.next();
        let output_str = parts.next();
        if parts.next().is_some() {
            return Err(err("too many ':'-separated parts; expected WIDTHS[:HIDDEN[:OUTPUT]]".into()));
        }
        if widths_str.trim().is_empty() {
            return Err(err("no widths; expected e.g. \"1-16-16-1:gelu\"".into()));
        }
        let widths = widths_str
            .split('-')
            .enumerate()
            .map(|(i, w)| {
                let w = w.trim();
                match w.parse::<usize>() {
                    Ok(0) => Err(err(format!("width #{} is zero", i + 1))),
                    Ok(v) => Ok(v),
                    Err(_) => Err(err(format!("width #{} ({w:?}) is not a positive integer", i + 1))),
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if widths.len() < 2 {
            return Err(err("need at least an input and an output width, e.g. \"1-1\"".into()));
        }
        let parse_act = |a: &str| {
            a.parse::<Activation>().map_err(|_| {
                err(format!(
                    "unknown activation {a:?}; expected one of {}",
                    Activation::ALL.map(|a| a.name()).join(", ")
                ))
            })
        };
        let hidden = match hidden_str {
            Some(h) => parse_act(h)?,
            None if widths.len() > 2 => {
                return Err(err(format!(
                    "missing activation for the hidden layers; append e.g. \":gelu\" (one of {})",
                    Activation::ALL.map(|a| a.name()).join(", ")
                )));
            }
            None => Activation::Identity,
        };
        let output = match output_str {
            Some(o) => parse_act(o)?,
            None => Activation::Identity,
        };
        Self::mlp(&widths, hidden, output).map_err(|e| match e {
            NnError::Spec { reason, .. } => err(reason),
            other => other,
        })
    }
}
