//! The properties of the four file and argument formats: `safetensors` (with `--arch`
//! parsing), `csv`, `npy` and `cli`.

use clap::Parser;
use geodyn_cli::{Cli, Command};
use geodyn_nn::data::{CsvSpec, Table};
use geodyn_nn::weights::{FloatDtype, load_safetensors, load_safetensors_prefixed, save_safetensors};
use geodyn_nn::{ModelSpec, npy};

/// Parses a `--arch` string as the CLI does (absurd widths must be a clean error:
/// corpus safetensors/regression-arch-width-overflow).
fn parse_arch(arch: &str) -> Option<Result<ModelSpec, geodyn_nn::NnError>> {
    let parsed = arch.parse::<ModelSpec>();
    if let Ok(spec) = &parsed {
        // A parsed spec is consistent: its string form parses back to itself.
        let again: ModelSpec = spec.to_string().parse().expect("a ModelSpec's Display parses back");
        assert_eq!(&again, spec, "ModelSpec Display/FromStr round trip of {arch:?}");
        assert_eq!(spec.layers().first().map(|l| l.input), Some(spec.input_dim()));
        let sum: usize = spec.layers().iter().map(|l| l.num_params()).sum();
        assert_eq!(sum, spec.num_params());
    }
    Some(parsed)
}

/// `--arch` + safetensors loading. The input is `ARCH\nPAYLOAD` (without a newline:
/// arch `2-3-1:tanh` and the whole input as payload). The arch is parsed as a
/// [`ModelSpec`]; the payload is loaded with and without a `model.` prefix. Loaded
/// weights must have the spec's length, be finite and round-trip through
/// `save_safetensors` (F64 exactly, F32 up to f32 rounding).
pub fn check_safetensors(data: &[u8]) {
    let (arch, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (String::from_utf8_lossy(&data[..i]).into_owned(), &data[i + 1..]),
        None => ("2-3-1:tanh".to_string(), data),
    };
    let Some(Ok(spec)) = parse_arch(&arch) else { return };
    // A huge spec with a small file must be refused before allocating (corpus:
    // safetensors/regression-huge-arch-alloc).
    for prefix in ["", "model."] {
        let loaded = if prefix.is_empty() {
            load_safetensors(&spec, payload)
        } else {
            load_safetensors_prefixed(&spec, payload, prefix)
        };
        let Ok(theta) = loaded else { continue };
        assert_eq!(theta.len(), spec.num_params(), "loaded parameter count");
        assert!(theta.iter().all(|t| t.is_finite()), "loaded weights must be finite");
        if prefix.is_empty() {
            let bytes = save_safetensors(&spec, &theta, FloatDtype::F64).expect("saving loaded weights");
            let back = load_safetensors(&spec, &bytes).expect("reloading saved weights");
            assert!(same_bits(&back, &theta), "F64 safetensors round trip");
            // F32: loaded values may exceed f32's range, and then saving gives ±inf, which
            // loading rejects; within range the round trip is f32 rounding.
            if theta.iter().all(|t| t.abs() <= f32::MAX as f64) {
                let bytes = save_safetensors(&spec, &theta, FloatDtype::F32).expect("saving F32");
                let back = load_safetensors(&spec, &bytes).expect("reloading F32 weights");
                assert!(back.iter().zip(&theta).all(|(b, t)| *b == (*t as f32) as f64), "F32 round trip");
            }
        }
    }
}

/// CSV loading: [`Table::parse`] of the (lossily decoded) text, then [`CsvSpec::apply`]
/// for regression on `y`, classification on `y`, the Snelson spec and an explicit
/// input list; successful splits are checked for consistent sizes and standardised.
pub fn check_csv(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(table) = Table::parse(&text, "fuzz") else { return };
    let ncol = table.columns.len();
    assert!(ncol >= 1, "a parsed table has a header");
    assert_eq!(table.data.len(), table.rows() * ncol, "table data is rows × columns");
    let first = table.columns[0].clone();
    let specs = [
        CsvSpec::regression("y"),
        CsvSpec::classification("y"),
        CsvSpec::snelson(),
        CsvSpec::regression(&first).with_inputs(&[first.as_str()]),
    ];
    for spec in specs {
        let Ok(split) = spec.apply(&table) else { continue };
        assert_eq!(split.train.len() + split.held_out.len(), table.rows(), "split keeps every row");
        for set in [&split.train, &split.held_out] {
            assert_eq!(set.inputs().len(), set.len() * set.input_dim());
            assert!(set.inputs().iter().all(|v| v.is_finite()));
            if !set.is_empty() {
                let mut set = set.clone();
                if let Ok(s) = set.input_standardizer() {
                    let _ = set.standardize_inputs(&s);
                }
                if let Ok(s) = set.target_standardizer() {
                    let _ = set.standardize_targets(&s);
                }
            }
        }
    }
}

/// `.npy` loading: [`npy::read_npy`]; an accepted array has `product(shape)` values
/// and round-trips bit-exactly through [`npy::write_npy`].
pub fn check_npy(data: &[u8]) {
    let Ok(arr) = npy::read_npy(data) else { return };
    let count = arr.shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
    assert_eq!(count, Some(arr.data.len()), "npy data length is the product of the shape");
    let bytes = npy::write_npy(&arr.shape, &arr.data).expect("writing an array that was read");
    let back = npy::read_npy(&bytes).expect("reading back a written array");
    assert_eq!(back.shape, arr.shape, "npy shape round trip");
    assert!(same_bits(&back.data, &arr.data), "npy data round trip");
}

/// Command-line parsing: the input split on NUL and newline bytes is the argv after
/// the program name, parsed by `Cli::try_parse_from` (errors, `--help` and `--version`
/// included, are fine). A parsed `sample` command's `--arch` goes through
/// [`ModelSpec`] parsing, as the pipeline's first step does.
pub fn check_cli(data: &[u8]) {
    let mut argv: Vec<std::ffi::OsString> = vec!["geodyn".into()];
    if !data.is_empty() {
        argv.extend(data.split(|&b| b == 0 || b == b'\n').map(os_string));
    }
    if let Ok(cli) = Cli::try_parse_from(argv)
        && let Command::Sample(args) = cli.command
    {
        let _ = parse_arch(&args.arch);
    }
}

#[cfg(unix)]
fn os_string(b: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    std::ffi::OsString::from_vec(b.to_vec())
}

#[cfg(not(unix))]
fn os_string(b: &[u8]) -> std::ffi::OsString {
    String::from_utf8_lossy(b).into_owned().into()
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}
