//! `--backend`: the dfdx backend runs the whole pipeline and lands where the dual one
//! does; a backend that was not compiled in is a one-line error with exit code 1.
use std::process::{Command, Output};

fn geodyn(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_geodyn")).args(args).output().expect("run geodyn")
}

/// A scratch directory, removed when the guard is dropped.
fn tmpdir(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new().prefix(&format!("geodyn-cli-backend-{name}-")).tempdir().unwrap()
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_backend_not_compiled_in_is_one_line_error() {
    let dir = tmpdir("cuda");
    let d = dir.path();
    let o = geodyn(&["sample", "rla", "--backend", "cuda", "--out", d.join("o").to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: backend `cuda` was not compiled into this geodyn"), "{err}");
    assert!(err.contains("--features cuda"), "{err}");
}

/// RLA from a given network with fixed σ and λ: the Laplace log evidence (from the GGN
/// spectrum, J v by each backend) agrees between `--backend dual` and `--backend dfdx`,
/// and from the same initial velocities (the dual run's, fed back with --velocities:
/// eigenvector signs may differ, so freshly drawn ones need not) the geodesic endpoints
/// agree to within the solver tolerance.
#[cfg(feature = "dfdx")]
#[test]
fn dfdx_backend_matches_dual_end_to_end() {
    let dir = tmpdir("parity");
    let d = dir.path();
    let spec: geodyn_nn::ModelSpec = "1-5-1:gelu".parse().unwrap();
    let theta: Vec<f64> = (0..spec.num_params()).map(|i| 0.4 * ((i * 7919 % 13) as f64 / 13.0 - 0.5)).collect();
    let model = d.join("model.safetensors");
    geodyn_nn::weights::save_safetensors_file(&spec, &theta, geodyn_nn::weights::FloatDtype::F64, &model).unwrap();
    let csv: String = std::iter::once("x,y".to_string())
        .chain((0..25).map(|i| {
            let x = -2.0 + 0.17 * i as f64;
            format!("{x},{}", (1.3 * x).sin())
        }))
        .collect::<Vec<_>>()
        .join("\n");
    let data = d.join("train.csv");
    std::fs::write(&data, csv).unwrap();
    let run = |backend: &str, velocities: Option<&str>| -> (Vec<f64>, serde_json::Value) {
        let out = d.join(backend);
        let mut args = vec![
            "sample",
            "rla",
            "--backend",
            backend,
            "--model",
            model.to_str().unwrap(),
            "--arch",
            "1-5-1:gelu",
            "--data",
            data.to_str().unwrap(),
            "--noise-std",
            "0.3",
            "--prior-precision",
            "0.5",
            "--samples",
            "2",
            "--no-progress",
            "--out",
            out.to_str().unwrap(),
        ];
        if let Some(v) = velocities {
            args.extend(["--velocities", v]);
        }
        let o = geodyn(&args);
        assert!(o.status.success(), "{backend}: {}", String::from_utf8_lossy(&o.stderr));
        let s = geodyn_nn::npy::read_npy_file(out.join("samples.npy")).unwrap();
        let summary = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
        (s.data, summary)
    };
    let (a, sa) = run("dual", None);
    let v = d.join("dual").join("velocities.npy");
    let (b, sb) = run("dfdx", Some(v.to_str().unwrap()));
    let (ea, eb) = (sa["log_evidence"].as_f64().unwrap(), sb["log_evidence"].as_f64().unwrap());
    assert!((ea - eb).abs() <= 1e-9 * ea.abs(), "log evidence {ea} vs {eb}");
    assert_eq!(sa["backend"], "dual");
    assert_eq!(sb["backend"], "dfdx");
    let diff = a.iter().zip(&b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    let moved = a.iter().zip(theta.iter().cycle()).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(moved > 1e-3, "the samples should leave θ*");
    assert!(diff < 1e-5, "samples differ by {diff:e}");
}
