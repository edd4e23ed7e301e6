//! NumPy `.npy` arrays of floats: read float64 and float32 (either byte order, C or
//! Fortran order; returned as C-order f64), write little-endian float64 in C order.
//!
//! Format (NEP 1): the magic `\x93NUMPY`, a version byte pair, a little-endian header
//! length (u16 in version 1.0, u32 in 2.0 / 3.0), an ASCII Python-dict header
//! `{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }` padded with spaces and
//! a final newline so the data start at a multiple of 64 bytes, then the raw data.

use crate::error::{NnError, Result};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// A float array read from or written to `.npy`, C order (row-major).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The shape; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The values in C order; `data.len()` is the product of `shape`.
    pub data: Vec<f64>,
}

fn npy_err(msg: impl Into<String>) -> NnError {
    NnError::Npy(msg.into())
}

/// The value text after `'key':` in a header dict, up to the matching delimiter.
fn header_value<'a>(header: &'a str, key: &str) -> Result<&'a str> {
    let pat_sq = format!("'{key}'");
    let pat_dq = format!("\"{key}\"");
    let start = header
        .find(&pat_sq)
        .map(|i| i + pat_sq.len())
        .or_else(|| header.find(&pat_dq).map(|i| i + pat_dq.len()))
        .ok_or_else(|| npy_err(format!("header has no {key:?} entry: {header}")))?;
    let rest = header[start..].trim_start();
    let rest = rest.strip_prefix(':').ok_or_else(|| npy_err(format!("malformed header near {key:?}")))?.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')').map(|i| i + 1)
    } else if let Some(q) = rest.chars().next().filter(|c| *c == '\'' || *c == '"') {
        rest[1..].find(q).map(|i| i + 2)
    } else {
        rest.find([',', '}'])
    }
    .ok_or_else(|| npy_err(format!("malformed header value for {key:?}")))?;
    Ok(rest[..end].trim())
}

/// Parses `.npy` bytes holding float64 or float32 data.
///
/// ```
/// let bytes = geodyn_nn::npy::write_npy(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
/// let a = geodyn_nn::npy::read_npy(&bytes).unwrap();
/// assert_eq!(a.shape, vec![2, 3]);
/// assert_eq!(a.data[4], 5.0);
/// ```
pub fn read_npy(bytes: &[u8]) -> Result<NpyArray> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(npy_err("not a .npy file (bad magic)"));
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(npy_err("truncated header"));
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => {
            return Err(npy_err(format!("unsupported format version {v}.{}", bytes[7])));
        }
    };
    let hend = hstart.checked_add(hlen).filter(|&e| e <= bytes.len()).ok_or_else(|| npy_err("truncated header"))?;
    let header = std::str::from_utf8(&bytes[hstart..hend]).map_err(|_| npy_err("header is not text"))?;
    let descr = header_value(header, "descr")?.trim_matches(|c| c == '\'' || c == '"');
    let fortran = match header_value(header, "fortran_order")? {
        "False" => false,
        "True" => true,
        other => return Err(npy_err(format!("bad fortran_order {other:?}"))),
    };
    let shape_str = header_value(header, "shape")?;
    let inner = shape_str
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| npy_err(format!("bad shape {shape_str:?}")))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<usize>().map_err(|_| npy_err(format!("bad shape {shape_str:?}"))))
        .collect::<Result<Vec<usize>>>()?;
    let count = shape
        .iter()
        .try_fold(1usize, |a, &b| a.checked_mul(b))
        .ok_or_else(|| npy_err(format!("shape {shape:?} overflows")))?;
    let (width, little) = match descr {
        "<f8" | "=f8" => (8, true),
        ">f8" => (8, false),
        "<f4" | "=f4" => (4, true),
        ">f4" => (4, false),
        other => {
            return Err(npy_err(format!("unsupported dtype {other:?} (expected float64 '<f8' or float32 '<f4')")));
        }
    };
    let body = &bytes[hend..];
    let need = count.checked_mul(width).ok_or_else(|| npy_err("size overflows"))?;
    if body.len() < need {
        return Err(npy_err(format!("data truncated: shape {shape:?} needs {need} bytes, file has {}", body.len())));
    }
    let data: Vec<f64> = match (width, little) {
        (8, true) => body[..need].chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        (8, false) => body[..need].chunks_exact(8).map(|c| f64::from_be_bytes(c.try_into().unwrap())).collect(),
        (4, true) => body[..need].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        _ => body[..need].chunks_exact(4).map(|c| f32::from_be_bytes(c.try_into().unwrap()) as f64).collect(),
    };
    let data = if fortran && shape.len() > 1 { fortran_to_c(&data, &shape) } else { data };
    Ok(NpyArray { shape, data })
}

/// Reorders Fortran-order (column-major) data into C order.
fn fortran_to_c(data: &[f64], shape: &[usize]) -> Vec<f64> {
    let nd = shape.len();
    // Strides of the Fortran layout.
    let mut fstride = vec![1usize; nd];
    for i in 1..nd {
        fstride[i] = fstride[i - 1] * shape[i - 1];
    }
    let mut out = Vec::with_capacity(data.len());
    let mut idx = vec![0usize; nd];
    for _ in 0..data.len() {
        out.push(data[idx.iter().zip(&fstride).map(|(i, s)| i * s).sum::<usize>()]);
        // Increment the C-order multi-index (last axis fastest).
        for ax in (0..nd).rev() {
            idx[ax] += 1;
            if idx[ax] < shape[ax] {
                break;
            }
            idx[ax] = 0;
        }
    }
    out
}

/// Reads a `.npy` file.
pub fn read_npy_file(path: impl AsRef<Path>) -> Result<NpyArray> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    read_npy(&bytes).map_err(|e| match e {
        NnError::Npy(m) => NnError::Npy(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Serialises a C-order array as little-endian float64 `.npy` (format 1.0, or 2.0
/// for headers over 65535 bytes), 64-byte aligned as NumPy writes it.
pub fn write_npy(shape: &[usize], data: &[f64]) -> Result<Vec<u8>> {
    let count: usize = shape.iter().product();
    if count != data.len() {
        return Err(NnError::shape("npy data (product of shape)", count, data.len()));
    }
    let shape_str = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!("({})", shape.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut header = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape_str}, }}");
    let v1 = header.len() + 11 <= u16::MAX as usize;
    let prefix = if v1 { 10 } else { 12 };
    let total = (prefix + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - prefix - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + 8 * data.len());
    out.extend_from_slice(MAGIC);
    if v1 {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    Ok(out)
}

/// Writes a C-order array to a little-endian float64 `.npy` file.
pub fn write_npy_file(path: impl AsRef<Path>, shape: &[usize], data: &[f64]) -> Result<()> {
    let path = path.as_ref();
    let bytes = write_npy(shape, data)?;
    std::fs::write(path, bytes).map_err(|e| NnError::io(path, e))
}
