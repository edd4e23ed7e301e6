//! safetensors weights of PyTorch `nn.Sequential` MLPs: loading into the flat
//! `parameters_to_vector` order, name and shape validation, saving.

use geodyn_nn::weights::{
    FloatDtype, load_safetensors, load_safetensors_file, load_safetensors_prefixed, save_safetensors,
    save_safetensors_file,
};
use geodyn_nn::{ModelSpec, NnError};

/// `safetensors.numpy.save` (safetensors 0.8.0) of an nn.Sequential(Linear(2, 3), GELU(),
/// Linear(3, 1)) state dict in float32:
/// 0.weight = [[0.5, -1], [0.25, 2], [-0.125, 0.75]], 0.bias = [0.1, -0.2, 0.3],
/// 2.weight = [[1.5, -0.5, 0.0625]], 2.bias = [-0.7].
const TORCH_F32: &[u8] = b"\
    \xf8\x00\x00\x00\x00\x00\x00\x00\x7b\x22\x30\x2e\x62\x69\x61\x73\x22\x3a\x7b\x22\x64\x74\x79\x70\
    \x65\x22\x3a\x22\x46\x33\x32\x22\x2c\x22\x73\x68\x61\x70\x65\x22\x3a\x5b\x33\x5d\x2c\x22\x64\x61\
    \x74\x61\x5f\x6f\x66\x66\x73\x65\x74\x73\x22\x3a\x5b\x30\x2c\x31\x32\x5d\x7d\x2c\x22\x30\x2e\x77\
    \x65\x69\x67\x68\x74\x22\x3a\x7b\x22\x64\x74\x79\x70\x65\x22\x3a\x22\x46\x33\x32\x22\x2c\x22\x73\
    \x68\x61\x70\x65\x22\x3a\x5b\x33\x2c\x32\x5d\x2c\x22\x64\x61\x74\x61\x5f\x6f\x66\x66\x73\x65\x74\
    \x73\x22\x3a\x5b\x31\x32\x2c\x33\x36\x5d\x7d\x2c\x22\x32\x2e\x62\x69\x61\x73\x22\x3a\x7b\x22\x64\
    \x74\x79\x70\x65\x22\x3a\x22\x46\x33\x32\x22\x2c\x22\x73\x68\x61\x70\x65\x22\x3a\x5b\x31\x5d\x2c\
    \x22\x64\x61\x74\x61\x5f\x6f\x66\x66\x73\x65\x74\x73\x22\x3a\x5b\x33\x36\x2c\x34\x30\x5d\x7d\x2c\
    \x22\x32\x2e\x77\x65\x69\x67\x68\x74\x22\x3a\x7b\x22\x64\x74\x79\x70\x65\x22\x3a\x22\x46\x33\x32\
    \x22\x2c\x22\x73\x68\x61\x70\x65\x22\x3a\x5b\x31\x2c\x33\x5d\x2c\x22\x64\x61\x74\x61\x5f\x6f\x66\
    \x66\x73\x65\x74\x73\x22\x3a\x5b\x34\x30\x2c\x35\x32\x5d\x7d\x7d\xcd\xcc\xcc\x3d\xcd\xcc\x4c\xbe\
    \x9a\x99\x99\x3e\x00\x00\x00\x3f\x00\x00\x80\xbf\x00\x00\x80\x3e\x00\x00\x00\x40\x00\x00\x00\xbe\
    \x00\x00\x40\x3f\x33\x33\x33\xbf\x00\x00\xc0\x3f\x00\x00\x00\xbf\x00\x00\x80\x3d\
";

/// A file written by the Python safetensors library loads into PyTorch's flat order
/// [W0 row-major, b0, W1, b1] (not the file's alphabetical order), f32 widened exactly.
#[test]
fn loads_python_written_file_in_parameters_to_vector_order() {
    let spec: ModelSpec = "2-3-1:gelu".parse().unwrap();
    let theta = load_safetensors(&spec, TORCH_F32).unwrap();
    let want: Vec<f64> = [0.5, -1.0, 0.25, 2.0, -0.125, 0.75, 0.1, -0.2, 0.3, 1.5, -0.5, 0.0625, -0.7]
        .iter()
        .map(|&v: &f64| v as f32 as f64)
        .collect();
    assert_eq!(theta, want);
}

/// Save then load is the identity in f64, and rounds through f32 in f32.
#[test]
fn save_load_round_trip() {
    let spec: ModelSpec = "3-5-4-2:silu".parse().unwrap();
    let theta: Vec<f64> = (0..spec.num_params()).map(|k| (k as f64 * 0.731).sin()).collect();
    let b64 = save_safetensors(&spec, &theta, FloatDtype::F64).unwrap();
    assert_eq!(load_safetensors(&spec, &b64).unwrap(), theta);
    let b32 = save_safetensors(&spec, &theta, FloatDtype::F32).unwrap();
    let back = load_safetensors(&spec, &b32).unwrap();
    assert!(back.iter().zip(&theta).all(|(a, b)| *a == *b as f32 as f64));
    assert!(b32.len() < b64.len());

    let dir = tempfile::Builder::new().prefix("geodyn-nn-st-").tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    save_safetensors_file(&spec, &theta, FloatDtype::F64, &path).unwrap();
    assert_eq!(load_safetensors_file(&spec, &path).unwrap(), theta);
    assert!(save_safetensors(&spec, &theta[1..], FloatDtype::F64).is_err());
}

/// A tensor with the wrong shape is reported by name with expected and found shapes.
#[test]
fn shape_mismatch_names_the_tensor() {
    let spec: ModelSpec = "2-4-1:gelu".parse().unwrap();
    let e = load_safetensors(&spec, TORCH_F32).unwrap_err();
    match &e {
        NnError::TensorShape { name, expected, got } => {
            assert_eq!((name.as_str(), expected.as_slice(), got.as_slice()), ("0.weight", &[4, 2][..], &[3, 2][..]));
        }
        other => panic!("expected a shape error, got {other:?}"),
    }
    assert_eq!(e.to_string(), "tensor \"0.weight\": expected shape [4, 2], got [3, 2]");
}

/// Missing and unexpected tensors are errors naming them (a deeper net than the file,
/// a shallower one), as are a prefix mismatch and garbage bytes.
#[test]
fn missing_and_unexpected_tensors() {
    let deeper: ModelSpec = "2-3-1-1:gelu".parse().unwrap();
    let e = load_safetensors(&deeper, TORCH_F32).unwrap_err();
    // 2.weight is [1, 3] in the file and in `deeper`; 4.weight is missing.
    assert!(matches!(&e, NnError::MissingTensor { name, .. } if name == "4.weight"), "{e:?}");

    let shallower: ModelSpec = "2-1".parse().unwrap();
    let e = load_safetensors(&shallower, TORCH_F32).unwrap_err();
    assert!(matches!(&e, NnError::UnexpectedTensor { name, .. } if name == "2.bias" || name == "2.weight"), "{e:?}");

    let spec: ModelSpec = "2-3-1:gelu".parse().unwrap();
    let e = load_safetensors_prefixed(&spec, TORCH_F32, "model.").unwrap_err();
    assert!(matches!(e, NnError::UnexpectedTensor { .. }), "{e:?}");
    assert!(matches!(load_safetensors(&spec, b"garbage").unwrap_err(), NnError::SafeTensors(_)));
}

/// Tensors that are not F32/F64 (here F16) are rejected with their name and dtype.
#[test]
fn unsupported_dtype_is_rejected() {
    use safetensors::{Dtype, tensor::TensorView};
    let spec: ModelSpec = "1-1".parse().unwrap();
    let w = [0u8; 2];
    let b = [0u8; 2];
    let views = vec![
        ("0.bias".to_string(), TensorView::new(Dtype::F16, vec![1], &b).unwrap()),
        ("0.weight".to_string(), TensorView::new(Dtype::F16, vec![1, 1], &w).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let e = load_safetensors(&spec, &bytes).unwrap_err();
    assert!(matches!(&e, NnError::Dtype { name, dtype } if name == "0.weight" && dtype == "F16"), "{e:?}");
}
