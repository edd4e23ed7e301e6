//! Prototype (not yet a library method): DiMS and RLA integrated as constrained
//! mechanics on the loss graph, with RATTLE and exact friction half-steps.
//!
//! The loss-graph metric G = I + ggᵀ is the metric the graph (θ, L(θ)) ⊂ R^{K+1}
//! inherits, and DiMS is a particle on that hypersurface under gravity κ along the
//! L axis with friction −ηq̇ (T = ½|q̇|² = ½θ̇ᵀGθ̇, V = κ(L − L*)). Instead of
//! integrating ẍ = −(ẋᵀHẋ + κ)g/(1+|g|²) − ηẋ with an explicit Runge–Kutta pair,
//! whose steps are stability-limited by the stiff directions of H, this integrates
//! the particle in the embedding space (q = (θ, y), p = (v, w)) with the constraint
//! c(q) = y − L(θ) = 0 held exactly:
//!
//! 1. friction for h/2, solved exactly: η = η0√T gives √T(t) = √T0 / (1 + η0 t √T0),
//!    so p is scaled by 1/(1 + η0 (h/2) √T) (a constant η scales by e^{−ηh/2});
//! 2. RATTLE (Andersen 1983): p½ = p − (h/2)(κ e_y + λ ∇c(q_n)),
//!    q_{n+1} = q_n + h p½, with the multiplier λ solved by Newton's method so that
//!    y_{n+1} = L(θ_{n+1}) (one gradient evaluation per iteration), then
//!    p_{n+1} = p½ − (h/2)(κ e_y + μ ∇c(q_{n+1})) with μ in closed form so that p_{n+1}
//!    is tangent (w = g·v);
//! 3. friction for h/2 again;
//! 4. an energy projection: H is set to H_n minus the energy the two friction
//!    half-steps removed, by scaling the velocity (which keeps it tangent), so H never
//!    increases (and T is conserved to rounding along geodesics, κ = η = 0).
//!
//! The stiff directions enter only through the scalar constraint solve, which is
//! implicit, so the step is not limited by explicit stability. Step size: the
//! conservative part's energy error |ΔH| per step must stay below
//! `etol`·(1 + |H|); a step whose Newton iteration does not converge in 6 iterations
//! is rejected and h shrunk. Only gradients are evaluated (no curvature term).
//!
//! ```text
//! cargo run --release -p geodyn-cli --example graph_rattle -- DIR INDEX T1 ETOL [KAPPA ETA0]
//! ```
//!
//! DIR holds `map.npy` and `velocities.npy` from a `geodyn sample` run on the Snelson
//! workload (`--data ../shared/data/snelson_train.csv --holdout in_gap_1p5_3 --arch
//! 1-16-16-1:gelu --noise-std 0.285 --prior-precision 0.209`); INDEX picks the
//! velocity. KAPPA = ETA0 = 0 gives the RLA geodesic (T1 = 1). Prints one JSON line
//! and writes θ(T1) to DIR/graph-rattle-INDEX-T1-ETOL.npy. BENCHMARKS.md has the
//! measurements.

use geodyn_core::{Objective, dot};
use geodyn_dual::MlpObjective;
use geodyn_nn::{Loss, ModelSpec};
use std::error::Error;
use std::time::Instant;

/// Newton iterations allowed for the multiplier λ before the step is rejected.
const NEWTON_MAX: usize = 6;

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str, default: Option<T>) -> Result<T, Box<dyn Error>> {
    match (args.get(i), default) {
        (Some(s), _) => s.parse().map_err(|_| format!("{name}: cannot parse {s:?}").into()),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("missing argument {name} (DIR INDEX T1 ETOL [KAPPA ETA0])").into()),
    }
}

/// Kinetic energy of the embedded velocity (v, w).
fn kinetic(v: &[f64], w: f64) -> f64 {
    0.5 * (dot(v, v) + w * w)
}

/// Exact friction flow over `dt`; returns the energy it removed.
fn friction(v: &mut [f64], w: &mut f64, eta0: f64, speed_dependent: bool, dt: f64) -> f64 {
    let t0 = kinetic(v, *w);
    let s = if speed_dependent { 1.0 / (1.0 + eta0 * dt * t0.sqrt()) } else { (-eta0 * dt).exp() };
    v.iter_mut().for_each(|z| *z *= s);
    *w *= s;
    t0 * (1.0 - s * s)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir: String = arg(&args, 1, "DIR", None)?;
    let idx: usize = arg(&args, 2, "INDEX", None)?;
    let t1: f64 = arg(&args, 3, "T1", None)?;
    let etol: f64 = arg(&args, 4, "ETOL", None)?;
    let kappa: f64 = arg(&args, 5, "KAPPA", Some(1.0))?;
    let eta0: f64 = arg(&args, 6, "ETA0", Some(0.1))?;
    if !(t1 > 0.0 && etol > 0.0 && kappa >= 0.0 && eta0 >= 0.0) {
        return Err("need T1 > 0, ETOL > 0, KAPPA ≥ 0, ETA0 ≥ 0".into());
    }
    let split = geodyn_nn::CsvSpec::snelson().load("../shared/data/snelson_train.csv")?;
    let spec: ModelSpec = "1-16-16-1:gelu".parse()?;
    let theta0 = geodyn_nn::npy::read_npy_file(format!("{dir}/map.npy"))?.data;
    let vel = geodyn_nn::npy::read_npy_file(format!("{dir}/velocities.npy"))?.data;
    let k = theta0.len();
    let v0 = vel.get(idx * k..(idx + 1) * k).ok_or("INDEX beyond the velocities")?;
    let obj = MlpObjective::new(spec, split.train, Loss::gaussian(0.285)?, 0.209)?;

    let mut th = theta0.clone();
    let mut v = v0.to_vec();
    let mut gn = vec![0.0; k];
    let l_star = obj.gradient(&th, &mut gn)?;
    let mut y = l_star;
    let mut w = dot(&gn, &v);
    let h0 = kinetic(&v, w);
    let mut hn = h0;
    let (mut g, mut thn) = (vec![0.0; k], vec![0.0; k]);
    // θ, y and g_n change only when a step is accepted; v, w and λ are restored on rejection.
    let mut v_b = v.clone();
    let mut lam = 0.0;
    let (mut grads, mut accepted, mut rejected, mut rises) = (1usize, 0usize, 0usize, 0usize);
    let (mut t, mut h) = (0.0, 1e-5);
    let start = Instant::now();
    while t < t1 {
        let last = t + h >= t1;
        if last {
            h = t1 - t;
        }
        v_b.copy_from_slice(&v);
        let (w_b, lam_b) = (w, lam);
        let mut removed = friction(&mut v, &mut w, eta0, kappa > 0.0, 0.5 * h);
        let h_mid = hn - removed;
        // Position step: Newton on φ(λ) = y + h(w − (h/2)(κ + λ)) − L(θ + h(v + (h/2)λg_n)).
        let mut converged = false;
        let mut l_new = 0.0;
        for _ in 0..NEWTON_MAX {
            for j in 0..k {
                thn[j] = th[j] + h * (v[j] + 0.5 * h * lam * gn[j]);
            }
            let yn = y + h * (w - 0.5 * h * (kappa + lam));
            l_new = obj.gradient(&thn, &mut g)?;
            grads += 1;
            let phi = yn - l_new;
            if phi.abs() <= 1e-13 * (1.0 + l_new.abs()) {
                converged = true;
                break;
            }
            lam -= phi / (-0.5 * h * h * (1.0 + dot(&g, &gn)));
        }
        let mut err = f64::INFINITY;
        if converged {
            for j in 0..k {
                v[j] += 0.5 * h * lam * gn[j];
            }
            w -= 0.5 * h * (kappa + lam);
            // Tangency at the new point: w = g·v.
            let mu = (w - 0.5 * h * kappa - dot(&g, &v)) / (0.5 * h * (1.0 + dot(&g, &g)));
            for j in 0..k {
                v[j] += 0.5 * h * mu * g[j];
            }
            w -= 0.5 * h * (kappa + mu);
            let h_after = kinetic(&v, w) + kappa * (l_new - l_star);
            err = (h_after - h_mid).abs() / (etol * (1.0 + h_mid.abs()));
        }
        if err.is_nan() || err > 1.0 {
            v.copy_from_slice(&v_b);
            (w, lam) = (w_b, lam_b);
            h *= if err.is_finite() { (0.9 * err.powf(-1.0 / 3.0)).clamp(0.2, 0.9) } else { 0.5 };
            rejected += 1;
            continue;
        }
        th.copy_from_slice(&thn);
        y = l_new;
        gn.copy_from_slice(&g);
        removed += friction(&mut v, &mut w, eta0, kappa > 0.0, 0.5 * h);
        // Energy projection onto H_n − (energy the friction removed).
        let target = hn - removed - kappa * (y - l_star);
        let kin = kinetic(&v, w);
        if target > 0.0 && kin > 0.0 {
            let a = (target / kin).sqrt();
            v.iter_mut().for_each(|z| *z *= a);
            w *= a;
        }
        let h_new = kinetic(&v, w) + kappa * (y - l_star);
        if h_new > hn {
            rises += 1;
        }
        hn = h_new;
        t = if last { t1 } else { t + h };
        accepted += 1;
        h *= (0.9 * err.max(1e-10).powf(-1.0 / 3.0)).clamp(0.2, 1.5);
    }
    let wall = start.elapsed().as_secs_f64();
    let final_loss = obj.value(&th)?;
    println!(
        "{{\"index\": {idx}, \"t1\": {t1}, \"etol\": {etol:e}, \"gradients\": {grads}, \"accepted\": {accepted}, \
         \"rejected\": {rejected}, \"wall_s\": {wall:.3}, \"final_loss\": {final_loss:.6}, \
         \"final_kinetic\": {:.6e}, \"energy_rises\": {rises}, \"kinetic_drift\": {}}}",
        kinetic(&v, w),
        if kappa == 0.0 && eta0 == 0.0 { format!("{:.3e}", (kinetic(&v, w) - h0) / h0) } else { "null".into() },
    );
    geodyn_nn::npy::write_npy_file(format!("{dir}/graph-rattle-{idx}-{t1}-{etol:e}.npy"), &[k], &th)?;
    Ok(())
}
