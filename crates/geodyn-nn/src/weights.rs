//! Weights of PyTorch `nn.Sequential` MLPs in the safetensors format.
//!
//! `torch.nn.Sequential(Linear, act, Linear, act, …, Linear)` names its parameters
//! `0.weight` (`[out, in]`), `0.bias` (`[out]`), `2.weight`, … — the indices skip the
//! parameter-free activation modules. [`load_safetensors`] checks every name and
//! shape against a [`ModelSpec`] and fills the flat vector in
//! `parameters_to_vector` order; [`save_safetensors`] writes the same names back.

use crate::error::{NnError, Result, check_len};
use crate::spec::ModelSpec;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// The floating-point type tensors are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FloatDtype {
    /// 32-bit floats (PyTorch's default `float32`).
    F32,
    /// 64-bit floats.
    #[default]
    F64,
}

/// Reads the flat parameter vector of `spec` from safetensors bytes whose tensors are
/// named `{prefix}0.weight`, `{prefix}0.bias`, `{prefix}2.weight`, …
///
/// Every expected tensor must be present with the right shape and an F32 or F64
/// dtype; tensors with other names are an error ([`NnError::UnexpectedTensor`]).
pub fn load_safetensors_prefixed(spec: &ModelSpec, bytes: &[u8], prefix: &str) -> Result<Vec<f64>> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| NnError::SafeTensors(e.to_string()))?;
    let layout = spec.tensor_layout();
    let expected: Vec<String> = layout.iter().map(|(n, _, _)| format!("{prefix}{n}")).collect();
    let mut found: Vec<String> = st.names().into_iter().map(str::to_string).collect();
    found.sort();
    if let Some(extra) = found.iter().find(|n| !expected.contains(n)) {
        return Err(NnError::UnexpectedTensor { name: extra.clone(), expected });
    }
    // Check every name and shape before allocating anything: a huge --arch with a small
    // file must be an error, not an allocation failure.
    let mut views = Vec::with_capacity(layout.len());
    for ((_, shape, _), name) in layout.iter().zip(&expected) {
        let view = st.tensor(name).map_err(|_| NnError::MissingTensor {
            name: name.clone(),
            expected: shape.clone(),
            found: found.clone(),
        })?;
        if view.shape() != shape.as_slice() {
            return Err(NnError::TensorShape {
                name: name.clone(),
                expected: shape.clone(),
                got: view.shape().to_vec(),
            });
        }
        views.push(view);
    }
    let mut params = vec![0.0; spec.num_params()];
    for (((_, shape, offset), name), view) in layout.iter().zip(&expected).zip(&views) {
        let n: usize = shape.iter().product();
        let dst = &mut params[*offset..offset + n];
        let data = view.data();
        match view.dtype() {
            Dtype::F64 => {
                for (d, c) in dst.iter_mut().zip(data.chunks_exact(8)) {
                    *d = f64::from_le_bytes(c.try_into().expect("8-byte chunk"));
                }
            }
            Dtype::F32 => {
                for (d, c) in dst.iter_mut().zip(data.chunks_exact(4)) {
                    *d = f32::from_le_bytes(c.try_into().expect("4-byte chunk")) as f64;
                }
            }
            other => {
                return Err(NnError::Dtype { name: name.clone(), dtype: format!("{other:?}") });
            }
        }
        if let Some(i) = dst.iter().position(|v| !v.is_finite()) {
            return Err(NnError::NonFinite { what: format!("tensor {name:?} entry {i}") });
        }
    }
    Ok(params)
}

/// [`load_safetensors_prefixed`] with no prefix: the names of a bare `nn.Sequential`'s
/// `state_dict()`.
///
/// ```
/// use geodyn_nn::{ModelSpec, weights};
/// let spec: ModelSpec = "2-3-1:tanh".parse().unwrap();
/// let theta: Vec<f64> = (0..spec.num_params()).map(|i| i as f64 / 10.0).collect();
/// let bytes = weights::save_safetensors(&spec, &theta, weights::FloatDtype::F64).unwrap();
/// assert_eq!(weights::load_safetensors(&spec, &bytes).unwrap(), theta);
/// ```
pub fn load_safetensors(spec: &ModelSpec, bytes: &[u8]) -> Result<Vec<f64>> {
    load_safetensors_prefixed(spec, bytes, "")
}

/// Reads a `.safetensors` file (see [`load_safetensors`]).
pub fn load_safetensors_file(spec: &ModelSpec, path: impl AsRef<Path>) -> Result<Vec<f64>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    load_safetensors(spec, &bytes)
}

/// Serialises a flat parameter vector as safetensors with `nn.Sequential` names,
/// loadable by `model.load_state_dict(safetensors.torch.load_file(...))` (after
/// `.float()` / `.double()` to match `dtype`).
pub fn save_safetensors(spec: &ModelSpec, params: &[f64], dtype: FloatDtype) -> Result<Vec<u8>> {
    check_len("params", spec.num_params(), params.len())?;
    let layout = spec.tensor_layout();
    let buffers: Vec<Vec<u8>> = layout
        .iter()
        .map(|(_, shape, offset)| {
            let n: usize = shape.iter().product();
            let src = &params[*offset..offset + n];
            match dtype {
                FloatDtype::F64 => src.iter().flat_map(|v| v.to_le_bytes()).collect(),
                FloatDtype::F32 => src.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect(),
            }
        })
        .collect();
    let st_dtype = match dtype {
        FloatDtype::F64 => Dtype::F64,
        FloatDtype::F32 => Dtype::F32,
    };
    let views = layout
        .iter()
        .zip(&buffers)
        .map(|((name, shape, _), buf)| {
            TensorView::new(st_dtype, shape.clone(), buf)
                .map(|v| (name.clone(), v))
                .map_err(|e| NnError::SafeTensors(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| NnError::SafeTensors(e.to_string()))
}

/// Writes a `.safetensors` file (see [`save_safetensors`]).
pub fn save_safetensors_file(
    spec: &ModelSpec,
    params: &[f64],
    dtype: FloatDtype,
    path: impl AsRef<Path>,
) -> Result<()> {
    let path = path.as_ref();
    let bytes = save_safetensors(spec, params, dtype)?;
    std::fs::write(path, bytes).map_err(|e| NnError::io(path, e))
}
