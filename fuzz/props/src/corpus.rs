//! Corpus files: reading a corpus directory, saving a crashing input the way libFuzzer
//! names its artifacts, and the built-in seed inputs of every target ([`seeds`]), which
//! are the committed `fuzz/corpus/<target>/seed-*` files.

use geodyn_nn::weights::{FloatDtype, save_safetensors};
use geodyn_nn::{ModelSpec, npy};
use std::path::{Path, PathBuf};

/// The files of `dirs` (missing directories are skipped), sorted by path.
pub fn read_inputs(dirs: &[PathBuf]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    files.into_iter().filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b))).collect()
}

/// Writes `input` as `dir/crash-<fnv1a hex>` (as libFuzzer names its artifacts) and
/// returns the path.
pub fn save_artifact(dir: &Path, input: &[u8]) -> std::io::Result<PathBuf> {
    let h = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3));
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("crash-{h:016x}"));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// The first lines of the Snelson training CSV of the DiMS/RLA experiments.
const SNELSON_HEAD: &str = "x,y,in_gap_1p5_3
5.7007757,-0.4536778,0
1.3868311,-1.7468796,0
3.6410555,0.11564607,0
2.9158948,0.17028679,1
5.3477938,-1.0809944,0
4.572581,0.24939631,0
2.738806,0.62081363,1
0.11102186,-0.38931265,0
";

/// A safetensors file written by hand: an 8-byte little-endian header length, the JSON
/// header, then the data.
fn raw_safetensors(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// A `.npy` file written by hand (format 1.0, header padded to 64 bytes).
fn raw_npy(major: u8, header: &str, data: &[u8]) -> Vec<u8> {
    let prefix = if major == 1 { 10 } else { 12 };
    let mut h = header.to_string();
    let total = (prefix + h.len() + 1).div_ceil(64) * 64;
    h.push_str(&" ".repeat(total - prefix - h.len() - 1));
    h.push('\n');
    let mut out = b"\x93NUMPY".to_vec();
    out.extend_from_slice(&[major, 0]);
    if major == 1 {
        out.extend_from_slice(&(h.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

/// Seed inputs of the target `name`, valid and invalid, as (file name, bytes): the
/// committed `fuzz/corpus/<name>/seed-*` files are these (rewrite them with
/// `GEODYN_FUZZ_WRITE_SEEDS=1 cargo test -p geodyn-fuzz-props --test fuzz_corpus`).
pub fn seeds(name: &str) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let mut add = |file: &str, bytes: Vec<u8>| out.push((format!("seed-{file}"), bytes));
    match name {
        "safetensors" => {
            let with_arch = |arch: &str, payload: &[u8]| {
                let mut v = arch.as_bytes().to_vec();
                v.push(b'\n');
                v.extend_from_slice(payload);
                v
            };
            let small: ModelSpec = "2-3-1:tanh".parse().expect("spec");
            let theta: Vec<f64> = (0..small.num_params()).map(|i| (i as f64 - 6.0) / 7.0).collect();
            let f64_file = save_safetensors(&small, &theta, FloatDtype::F64).expect("save");
            let f32_file = save_safetensors(&small, &theta, FloatDtype::F32).expect("save");
            let gelu: ModelSpec = "1-4-4-1:gelu".parse().expect("spec");
            let theta_g: Vec<f64> = (0..gelu.num_params()).map(|i| (i as f64).sin()).collect();
            let gelu_file = save_safetensors(&gelu, &theta_g, FloatDtype::F64).expect("save");
            add("f64-2-3-1-tanh", with_arch("2-3-1:tanh", &f64_file));
            add("f32-2-3-1-tanh", with_arch("2-3-1:tanh", &f32_file));
            add("f64-1-4-4-1-gelu", with_arch("1-4-4-1:gelu", &gelu_file));
            add("no-arch-line", f64_file.clone());
            add("shape-mismatch", with_arch("1-4-4-1:gelu", &f64_file));
            add("truncated", with_arch("2-3-1:tanh", &f64_file[..f64_file.len() / 2]));
            add("empty-header", with_arch("2-3-1:tanh", &raw_safetensors("{}", &[])));
            add(
                "i64-dtype",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"0.weight":{"dtype":"I64","shape":[1,1],"data_offsets":[0,8]},"0.bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#,
                        &[0; 16],
                    ),
                ),
            );
            let mut nan = f64::NAN.to_le_bytes().to_vec();
            nan.extend_from_slice(&1.0f64.to_le_bytes());
            add(
                "nan-weight",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"__metadata__":{"format":"pt"},"0.weight":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]},"0.bias":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}}"#,
                        &nan,
                    ),
                ),
            );
            add(
                "extra-tensor",
                with_arch(
                    "1-1",
                    &raw_safetensors(
                        r#"{"0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]},"0.bias":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"9.bias":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}"#,
                        &[0; 12],
                    ),
                ),
            );
            add("bad-arch", with_arch("1-x-1:gelu", &f64_file));
            add("missing-activation", with_arch("2-3-1", &f64_file));
            add("huge-header-len", with_arch("1-1", &u64::MAX.to_le_bytes()));
        }
        "csv" => {
            add("snelson-head", SNELSON_HEAD.as_bytes().to_vec());
            add("xy", b"x,y\n1,2\n3,4\n-0.5,1e-3\n".to_vec());
            add("quoted-crlf-comments", b"# a comment\r\n\"x\" , \"y\"\r\n\r\n 1 , 2 \r\n# mid\r\n3,4\r\n".to_vec());
            add("classes", b"x1,x2,y\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,2\n".to_vec());
            add("bad-label", b"x,y\n0.1,-1\n0.2,0.5\n".to_vec());
            add("nan-input", b"x,y,in_gap_1p5_3\nnan,1,0\n2,inf,1\n".to_vec());
            add("ragged", b"x,y\n1,2,3\n4\n".to_vec());
            add("no-inputs", b"y\n1\n2\n".to_vec());
            add("header-only", b"x,y,in_gap_1p5_3\n".to_vec());
            add("empty-column-name", b"x,,y\n1,2,3\n".to_vec());
            add("duplicate-columns", b"y,y,x\n1,2,3\n".to_vec());
        }
        "npy" => {
            let w = |shape: &[usize], data: &[f64]| npy::write_npy(shape, data).expect("write_npy");
            add("f8-2x3", w(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
            add("f8-vector", w(&[4], &[0.5, -1.0, f64::MAX, f64::MIN_POSITIVE]));
            add("f8-scalar", w(&[], &[42.0]));
            add("f8-empty", w(&[0, 3], &[]));
            let be: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0].iter().flat_map(|v| v.to_be_bytes()).collect();
            add("f4-be-fortran", raw_npy(1, "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 3), }", &be));
            let le: Vec<u8> = [1.0f64, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
            add("v2-header", raw_npy(2, "{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (2L,), }", &le));
            add("truncated-data", raw_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }", &le));
            add("int-dtype", raw_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", &le));
            add(
                "overflow-shape",
                raw_npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 0), }", &[]),
            );
            add("bad-magic", b"\x93NUMPX\x01\x00\x10\x00{}".to_vec());
            add("bad-version", b"\x93NUMPY\x07\x00\x00\x00".to_vec());
        }
        "cli" => {
            let argv: &[(&str, &str)] = &[
                ("list", "list"),
                ("sample-dims", "sample\x00dims"),
                ("sample-dims-t1", "sample\x00dims\x00--t1\x0050"),
                ("sample-rla", "sample\x00rla\x00--arch\x002-8-1:tanh\x00--samples\x004\x00--seed\x007"),
                ("sample-laplace", "sample\x00laplace\x00--precision\x00hessian\x00--linearised\x00--no-progress"),
                ("newline-separated", "sample\ndims\n--kappa\n2.5\n--eta0\n0.3\n--stop-below-kinetic\n1e-4"),
                (
                    "data-options",
                    "sample\x00dims\x00--data\x00train.csv\x00--target\x00y\x00--inputs\x00x1,x2\x00--holdout\x00in_gap_1p5_3",
                ),
                (
                    "model-options",
                    "sample\x00dims\x00--model\x00m.safetensors\x00--velocities\x00v.npy\x00--out\x00out",
                ),
                ("bad-numbers", "sample\x00dims\x00--atol\x00nan\x00--rtol\x00-1\x00--max-steps\x00-5"),
                ("bad-arch", "sample\x00dims\x00--arch\x001-0-1"),
                ("help", "--help"),
                ("sample-help", "sample\x00--help"),
                ("version", "--version"),
                ("unknown", "bogus\x00--flag"),
                ("equals-syntax", "sample\x00dims\x00--arch=1-16-1:silu\x00--samples=0\x00--threads=1"),
            ];
            for (file, a) in argv {
                add(file, a.as_bytes().to_vec());
            }
        }
        "integrate" => {
            // flags: bits 0-1 system, 2 dual objective, 3 energy-projected, 4 stop event,
            // 5 outputs, 6 trajectory, 7 raw values; then the monitor and the pair (the
            // case's index: i % 3 the monitor, i / 3 odd Dormand–Prince) and the rest.
            let cases: &[(&str, u8)] = &[
                ("dims-poly", 0),
                ("geodesic-poly", 1),
                ("euclid-poly", 2),
                ("lossgraph-const-poly", 3),
                ("dims-dual", 4),
                ("geodesic-dual-projected", 1 | 4 | 8),
                ("dims-stop-event", 16),
                ("euclid-outputs-trajectory", 2 | 32 | 64),
                ("dims-projected-stop-outputs", 8 | 16 | 32),
                ("raw-dims", 128),
                ("raw-euclid-dual", 128 | 4 | 2),
                ("dims-projected-dopri5-stop", 8 | 16),
                ("geodesic-projected-tsit5-trajectory", 1 | 8 | 64),
            ];
            for (i, (file, flags)) in cases.iter().enumerate() {
                let mut bytes = vec![*flags, i as u8];
                bytes.extend(frozen_seed_filler(i as u64 + 1, 96));
                add(file, bytes);
            }
            add("zeros", vec![0; 64]);
            add("ones", vec![0xff; 64]);
        }
        _ => {}
    }
    out
}

/// The frozen generator of the committed `integrate` seeds: `n` bytes of xorshift64*
/// from `seed`, the filler after each seed's two header bytes. It is not a random-number
/// helper (the mutator and every test draw from ChaCha8 via `rand`; the tests' helper is
/// `geodyn_testkit::rng`) and must never change: the committed
/// `fuzz/corpus/integrate/seed-*` files hold exactly these bytes, which
/// `committed_seeds_are_the_builtin_seeds` checks byte for byte.
fn frozen_seed_filler(seed: u64, n: usize) -> impl Iterator<Item = u8> {
    let mut x = seed ^ 0x9E37_79B9_7F4A_7C15 | 1;
    (0..n).map(move |_| {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D) as u8
    })
}
