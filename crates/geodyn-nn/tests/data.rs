//! Data sets: the synthetic sets' determinism, CSV loading and its errors,
//! standardisation.

use geodyn_nn::data::{
    self, CsvSpec, SNELSON_LIKE_SEED, Standardizer, Table, snelson_like, snelson_like_full, snelson_like_mean,
    two_moons,
};
use geodyn_nn::{Dataset, NnError, Target};

/// Value stability: the embedded Snelson-like set is a fixed function of the seed
/// (ChaCha8 is portable), pinned by reference values of its first points.
#[test]
fn snelson_like_is_deterministic() {
    let (all, gap) = snelson_like_full(SNELSON_LIKE_SEED);
    let (again, gap2) = snelson_like_full(SNELSON_LIKE_SEED);
    assert_eq!(all, again);
    assert_eq!(gap, gap2);
    assert_eq!(all.len(), 200);
    let want = [
        (5.0454598186524, -1.062450281164259),
        (5.624648224146317, -0.07981338943661699),
        (5.862978130222571, 0.2732904812250942),
        (3.0413533255702068, -0.8759747738562442),
    ];
    for (i, (x, y)) in want.iter().enumerate() {
        assert_eq!(all.input(i), &[*x]);
        assert_eq!(all.target(i), Target::Value(&[*y]));
    }
    assert_eq!(gap.iter().filter(|g| **g).count(), 46);
    assert_ne!(snelson_like_full(1).0, all, "another seed gives another set");
}

/// The split holds out exactly the gap 1.5 ≤ x ≤ 3; inputs lie in [−0.5, 6.5] and
/// residuals around the mean function have roughly the noise's scale (σ = 0.25).
#[test]
fn snelson_like_gap_split() {
    let s = snelson_like(SNELSON_LIKE_SEED);
    assert_eq!((s.train.len(), s.held_out.len()), (154, 46));
    assert!(s.held_out.inputs().iter().all(|&x| (1.5..=3.0).contains(&x)));
    assert!(s.train.inputs().iter().all(|&x| !(1.5..=3.0).contains(&x) && (-0.5..=6.5).contains(&x)));
    let ys = s.train.regression_targets().unwrap();
    let rms = (s.train.inputs().iter().zip(ys).map(|(x, y)| (y - snelson_like_mean(*x)).powi(2)).sum::<f64>()
        / ys.len() as f64)
        .sqrt();
    assert!((0.18..0.32).contains(&rms), "noise rms {rms}");
}

/// Two moons: deterministic, balanced, two classes, 2-D inputs; class means differ.
#[test]
fn two_moons_is_deterministic_and_balanced() {
    let m = two_moons(100, 0.1, 7);
    assert_eq!(m, two_moons(100, 0.1, 7));
    assert_eq!((m.len(), m.input_dim(), m.num_classes()), (100, 2, Some(2)));
    assert_eq!(m.input(0), &[0.7412790264753837, 0.5646461353385623]);
    let labels = m.labels().unwrap();
    assert_eq!(labels.iter().filter(|&&l| l == 1).count(), 50);
    let mean_y = |c: usize| (0..100).filter(|&i| labels[i] == c).map(|i| m.input(i)[1]).sum::<f64>() / 50.0;
    assert!(mean_y(0) > mean_y(1) + 0.3);
}

const SNELSON_EXCERPT: &str = "x,y,in_gap_1p5_3
5.7007757,-0.4536778,0
1.3868311,-1.7468796,0
3.6410555,0.11564607,0
2.9158948,0.17028679,1
";

/// The Snelson CSV layout (x, y, gap flag): rows with a nonzero flag are held out.
#[test]
fn csv_with_holdout_flag() {
    let s = CsvSpec::snelson().parse(SNELSON_EXCERPT, "snelson.csv").unwrap();
    assert_eq!((s.train.len(), s.held_out.len()), (3, 1));
    assert_eq!(s.train.inputs(), &[5.7007757, 1.3868311, 3.6410555]);
    assert_eq!(s.held_out.target(0), Target::Value(&[0.17028679]));
    // Default inputs: every column except the target and the flag.
    let s2 = CsvSpec::regression("y").with_holdout("in_gap_1p5_3").parse(SNELSON_EXCERPT, "s").unwrap();
    assert_eq!(s2, s);
}

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The committed copies of public data files (`tests/fixtures`, provenance in its
/// README) load with the shapes of their sources: Snelson has 200 rows, of which the 52
/// with 1.5 ≤ x ≤ 3 are held out, leaving 148 to train on; iris has 150 rows of 4
/// measurements and 3 classes of 50.
#[test]
fn committed_data_fixtures_load() {
    let s = CsvSpec::snelson().load(fixture("snelson_train.csv")).unwrap();
    assert_eq!((s.train.len(), s.held_out.len()), (148, 52));
    assert_eq!((s.train.input_dim(), s.train.regression_targets().unwrap().len()), (1, 148));
    assert_eq!(s.train.input(0), &[5.7007757]);
    assert_eq!(s.train.target(0), Target::Value(&[-0.4536778]));
    assert!(s.held_out.inputs().iter().all(|x| (1.5..=3.0).contains(x)));
    assert!(s.train.inputs().iter().all(|x| !(1.5..=3.0).contains(x)));

    let iris = CsvSpec::classification("label").load(fixture("sklearn_iris.csv")).unwrap();
    assert_eq!((iris.train.len(), iris.held_out.len()), (150, 0));
    assert_eq!((iris.train.input_dim(), iris.train.num_classes()), (4, Some(3)));
    assert_eq!(iris.train.input(0), &[5.1, 3.5, 1.4, 0.2]);
    let labels = iris.train.labels().unwrap();
    assert!((0..3).all(|c| labels.iter().filter(|&&l| l == c).count() == 50));
}

fn csv_line(e: NnError) -> (usize, String) {
    match &e {
        NnError::Csv { line, .. } => (*line, e.to_string()),
        other => panic!("expected a CSV error, got {other:?}"),
    }
}

/// Parse errors name the file and the 1-based line (the header is line 1; blank and
/// comment lines still count).
#[test]
fn csv_errors_name_the_line() {
    let text = "x,y\n1.0,2.0\n\n# comment\n3.0,abc\n";
    let (line, msg) = csv_line(Table::parse(text, "f.csv").unwrap_err());
    assert_eq!(line, 5);
    assert!(msg.starts_with("f.csv: line 5:") && msg.contains("\"abc\"") && msg.contains("\"y\""), "{msg}");

    let (line, msg) = csv_line(Table::parse("a,b\n1,2\n1,2,3\n", "g").unwrap_err());
    assert_eq!(line, 3);
    assert!(msg.contains("3 fields, but the header has 2 columns"), "{msg}");

    let (line, _) = csv_line(Table::parse("a,b\n1\n", "g").unwrap_err());
    assert_eq!(line, 2);

    let (line, msg) = csv_line(CsvSpec::classification("label").parse("x,label\n0.5,1\n0.2,1.5\n", "c").unwrap_err());
    assert_eq!(line, 3);
    assert!(msg.contains("not a non-negative integer"), "{msg}");

    let (line, msg) = csv_line(CsvSpec::regression("y").parse("x,y\n1,nan\n", "n").unwrap_err());
    assert_eq!(line, 2);
    assert!(msg.contains("not finite"), "{msg}");

    let e = CsvSpec::regression("target").parse("x,y\n1,2\n", "m").unwrap_err();
    assert!(matches!(e, NnError::MissingColumn { .. }) && e.to_string().contains("\"target\""), "{e}");
    assert!(Table::parse("", "empty").is_err());
    assert!(Table::read("/nonexistent/file.csv").unwrap_err().to_string().contains("/nonexistent/file.csv"));
}

/// CRLF line ends, quoted headers and padding are accepted.
#[test]
fn csv_tolerates_crlf_and_quotes() {
    let t = Table::parse("\"a\", \"b\"\r\n 1 ,\"2\"\r\n", "q").unwrap();
    assert_eq!(t.columns, ["a", "b"]);
    assert_eq!(t.data, [1.0, 2.0]);
    assert_eq!(t.select(&["b", "a"]).unwrap(), [2.0, 1.0]);
}

/// Standardisation: fitted columns have mean 0 and (population) std 1; the inverse
/// restores the data; scales map standard deviations back; constant columns get s = 1.
#[test]
fn standardizer_round_trip() {
    let data = vec![1.0, 10.0, 5.0, 10.0, 3.0, 10.0, 7.0, 10.0, 9.0, 10.0];
    let s = Standardizer::fit(&data, 2).unwrap();
    let mut z = data.clone();
    s.transform(&mut z).unwrap();
    let col = |c: usize| z.iter().skip(c).step_by(2).copied().collect::<Vec<_>>();
    let m0: f64 = col(0).iter().sum::<f64>() / 5.0;
    let v0: f64 = col(0).iter().map(|x| x * x).sum::<f64>() / 5.0;
    assert!(m0.abs() < 1e-15 && (v0 - 1.0).abs() < 1e-14);
    assert_eq!(s.scale[1], 1.0);
    s.inverse_transform(&mut z).unwrap();
    for (a, b) in z.iter().zip(&data) {
        assert!((a - b).abs() < 1e-14);
    }
    let mut sd = vec![1.0, 2.0];
    s.inverse_scale(&mut sd).unwrap();
    assert_eq!(sd, vec![s.scale[0], 2.0]);
    assert!(s.transform(&mut [1.0, 2.0, 3.0]).is_err());

    // Fit on train, apply to the held-out part.
    let mut split = snelson_like(SNELSON_LIKE_SEED);
    let sx = split.train.input_standardizer().unwrap();
    let sy = split.train.target_standardizer().unwrap();
    split.train.standardize_inputs(&sx).unwrap();
    split.held_out.standardize_inputs(&sx).unwrap();
    split.train.standardize_targets(&sy).unwrap();
    let mean: f64 = split.train.inputs().iter().sum::<f64>() / split.train.len() as f64;
    assert!(mean.abs() < 1e-14);
    assert!(data::two_moons(10, 0.1, 0).target_standardizer().is_err());
}

/// Constructors validate shapes and finiteness; select / split keep targets aligned.
#[test]
fn dataset_validation_and_selection() {
    assert!(Dataset::regression(vec![1.0, 2.0, 3.0], 2, vec![0.0], 1).is_err());
    assert!(Dataset::regression(vec![1.0, f64::NAN], 1, vec![0.0, 1.0], 1).is_err());
    assert!(Dataset::classification(vec![1.0, 2.0], 1, vec![0, 3], Some(2)).is_err());
    let d = Dataset::classification(vec![1.0, 2.0, 3.0], 1, vec![0, 2, 1], None).unwrap();
    assert_eq!(d.num_classes(), Some(3));
    let s = d.select(&[2, 0]).unwrap();
    assert_eq!((s.inputs(), s.labels().unwrap()), (&[3.0, 1.0][..], &[1, 0][..]));
    assert!(d.select(&[3]).is_err());
    let sp = d.split(&[false, true, false]).unwrap();
    assert_eq!(sp.held_out.labels().unwrap(), &[2]);
    assert_eq!(sp.train.num_classes(), Some(3), "the class count survives the split");
}
