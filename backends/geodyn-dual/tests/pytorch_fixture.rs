//! Reproduces a PyTorch reference (tests/fixtures/pytorch, made by make_fixture.py
//! with the PyTorch version recorded in expected.json): an nn.Sequential 1-6-5-1 GELU
//! MLP in float64 with the negative log posterior Σ(f−y)²/(2σ²) + ½λ|θ|². Its
//! parameters in parameters_to_vector order, outputs, value, gradient, double-backward
//! Hessian-vector product and vᵀHv agree to 1e-10 relative.
use geodyn_core::{ModelObjective, Objective};
use geodyn_dual::MlpObjective;
use geodyn_nn::{CsvSpec, Loss, ModelSpec};
use std::path::Path;

fn vec_of(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn rel(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs())).max(1e-300);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs())) / scale
}

#[test]
fn mlp_objective_reproduces_pytorch_to_1e_10() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let spec: ModelSpec = expected["arch"].as_str().unwrap().parse().unwrap();
    let theta = geodyn_nn::weights::load_safetensors_file(&spec, dir.join("mlp.safetensors")).unwrap();
    assert_eq!(theta, vec_of(&expected["theta"]), "parameters_to_vector order");

    let split = CsvSpec::regression("y").with_inputs(&["x"]).load(dir.join("data.csv")).unwrap();
    let sigma = expected["sigma"].as_f64().unwrap();
    let lambda = expected["lambda"].as_f64().unwrap();
    let obj = MlpObjective::new(spec, split.train, Loss::gaussian(sigma).unwrap(), lambda).unwrap();

    let mut f = vec![0.0; obj.num_outputs()];
    obj.outputs(&theta, &mut f).unwrap();
    assert!(rel(&f, &vec_of(&expected["outputs"])) < 1e-12, "outputs");

    let value = expected["value"].as_f64().unwrap();
    assert!((obj.value(&theta).unwrap() - value).abs() < 1e-10 * value.abs(), "value");

    let k = theta.len();
    let mut g = vec![0.0; k];
    obj.gradient(&theta, &mut g).unwrap();
    assert!(rel(&g, &vec_of(&expected["gradient"])) < 1e-10, "gradient: {}", rel(&g, &vec_of(&expected["gradient"])));

    let v = vec_of(&expected["v"]);
    let mut hv = vec![0.0; k];
    obj.hvp(&theta, &v, &mut hv).unwrap();
    assert!(rel(&hv, &vec_of(&expected["hvp"])) < 1e-10, "hvp: {}", rel(&hv, &vec_of(&expected["hvp"])));

    let (fv, vhv) = obj.grad_and_curvature(&theta, &v, &mut g).unwrap();
    let want = expected["vhv"].as_f64().unwrap();
    assert!((fv - value).abs() < 1e-10 * value.abs());
    assert!((vhv - want).abs() < 1e-10 * want.abs(), "vᵀHv {vhv} vs {want}");
}
