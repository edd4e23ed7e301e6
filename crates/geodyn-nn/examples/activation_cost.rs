//! Cost per element of the activation kernels: the scalar reference
//! (`Activation::eval2` / `eval3` per element, libm inside) against the vectorised
//! slice kernels (`eval2_slice` / `eval3_slice`), and the portable (non-AVX2) build
//! of the latter, on a row of pre-activations like one hidden layer of the MLP
//! objective (N(0, 2²) values, 256 per row, looped many times).
//!
//! ```text
//! cargo run --release -p geodyn-nn --example activation_cost [row length] [rows per sample]
//! ```
//!
//! Timings are ns per element, the best of many short samples; compare ratios
//! within one run.

use geodyn_nn::{Activation, fastmath};
use std::hint::black_box;
use std::time::Instant;

const SAMPLES: usize = 301;

/// The fastest of many short samples (each `reps` calls): robust to preemption on a
/// busy machine.
fn best_of<F: FnMut()>(mut f: F, reps: usize, n: usize) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..SAMPLES {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / (reps * n) as f64 * 1e9);
    }
    best
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(256, |s| s.parse().expect("row length"));
    let reps: usize = args.next().map_or(50, |s| s.parse().expect("repeats"));
    // Deterministic normal inputs of scale 2 (the tests' seeded stream).
    let z = geodyn_testkit::rng::normals(&mut geodyn_testkit::rng::seeded(1), n, 2.0);
    let (mut a, mut s1, mut s2) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);

    println!("ns per element, row of {n}, best of {SAMPLES} samples of {reps} rows");
    println!(
        "{:<9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "eval2", "eval3", "slice2", "slice3", "portable3", "speed-up3"
    );
    for act in Activation::ALL {
        let t_e2 = best_of(
            || {
                for j in 0..n {
                    let (v, d) = act.eval2(black_box(z[j]));
                    a[j] = v;
                    s1[j] = d;
                }
                black_box((&a, &s1));
            },
            reps,
            n,
        );
        let t_e3 = best_of(
            || {
                for j in 0..n {
                    let (v, d, dd) = act.eval3(black_box(z[j]));
                    a[j] = v;
                    s1[j] = d;
                    s2[j] = dd;
                }
                black_box((&a, &s1, &s2));
            },
            reps,
            n,
        );
        let t_s2 = best_of(
            || {
                act.eval2_slice(black_box(&z), &mut a, &mut s1);
                black_box((&a, &s1));
            },
            reps,
            n,
        );
        let t_s3 = best_of(
            || {
                act.eval3_slice(black_box(&z), &mut a, &mut s1, &mut s2);
                black_box((&a, &s1, &s2));
            },
            reps,
            n,
        );
        let t_p3 = best_of(
            || {
                fastmath::portable::eval3_slice(act, black_box(&z), &mut a, &mut s1, &mut s2);
                black_box((&a, &s1, &s2));
            },
            reps,
            n,
        );
        println!(
            "{:<9} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>8.1}x",
            act.name(),
            t_e2,
            t_e3,
            t_s2,
            t_s3,
            t_p3,
            t_e3 / t_s3
        );
    }
    let mut e = vec![0.0; n];
    let t_std = best_of(
        || {
            for j in 0..n {
                e[j] = black_box(z[j]).exp();
            }
            black_box(&e);
        },
        reps,
        n,
    );
    let t_fast = best_of(
        || {
            fastmath::exp_slice(black_box(&z), &mut e);
            black_box(&e);
        },
        reps,
        n,
    );
    let (mut c, mut p) = (vec![0.0; n], vec![0.0; n]);
    let t_cdf = best_of(
        || {
            for j in 0..n {
                c[j] = geodyn_nn::special::normal_cdf(black_box(z[j]));
                p[j] = geodyn_nn::special::normal_pdf(z[j]);
            }
            black_box((&c, &p));
        },
        reps,
        n,
    );
    let t_cdf_fast = best_of(
        || {
            fastmath::normal_cdf_pdf_slice(black_box(&z), &mut c, &mut p);
            black_box((&c, &p));
        },
        reps,
        n,
    );
    println!("exp       f64::exp {t_std:.2}  exp_slice {t_fast:.2}");
    println!("Φ and φ   scalar {t_cdf:.2}  normal_cdf_pdf_slice {t_cdf_fast:.2}");
}
