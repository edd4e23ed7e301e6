//! function_space.svg: data, gap, MAP fit, sampled functions and the ±2 std band
//! (like DiMS Figure 6), as a dependency-free SVG.

use crate::report::{Summary, moments};
use geodyn_nn::data::Split;
use std::fmt::Write;

const W: f64 = 900.0;
const H: f64 = 480.0;
const PAD: f64 = 50.0;

/// Renders the figure. `preds` is [S, G] on `grid`.
pub fn function_space(split: &Split, grid: &[f64], map: &[f64], preds: &[f64], s: usize, summary: &Summary) -> String {
    let g = grid.len();
    let (mean, std) = moments(preds, s, g);
    let ty = split.train.regression_targets().unwrap_or(&[]);
    let hy = split.held_out.regression_targets().unwrap_or(&[]);
    let xmin = grid.first().copied().unwrap_or(0.0);
    let xmax = grid.last().copied().unwrap_or(1.0);
    let mut ymin = f64::INFINITY;
    let mut ymax = f64::NEG_INFINITY;
    for v in ty.iter().chain(hy).chain(map) {
        ymin = ymin.min(*v);
        ymax = ymax.max(*v);
    }
    for j in 0..g {
        ymin = ymin.min(mean[j] - 2.0 * std[j]);
        ymax = ymax.max(mean[j] + 2.0 * std[j]);
    }
    let span = (ymax - ymin).max(1e-9);
    let (ymin, ymax) = (ymin - 0.05 * span, ymax + 0.05 * span);
    let px = |x: f64| PAD + (x - xmin) / (xmax - xmin).max(1e-12) * (W - 2.0 * PAD);
    let py = |y: f64| H - PAD - (y - ymin) / (ymax - ymin) * (H - 2.0 * PAD);
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    // gap region
    let hx = split.held_out.inputs();
    if !hx.is_empty() {
        let lo = hx.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = hx.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let _ = writeln!(
            o,
            r##"<rect x="{:.2}" y="{PAD}" width="{:.2}" height="{:.2}" fill="#f2e6d0"/>"##,
            px(lo),
            px(hi) - px(lo),
            H - 2.0 * PAD
        );
    }
    // ±2 std band
    let mut band = String::new();
    for j in 0..g {
        let _ = write!(band, "{:.2},{:.2} ", px(grid[j]), py(mean[j] + 2.0 * std[j]));
    }
    for j in (0..g).rev() {
        let _ = write!(band, "{:.2},{:.2} ", px(grid[j]), py(mean[j] - 2.0 * std[j]));
    }
    let _ = writeln!(o, r##"<polygon points="{band}" fill="#9ecae1" fill-opacity="0.45" stroke="none"/>"##);
    // samples
    for i in 0..s.min(32) {
        let pts: String = (0..g).map(|j| format!("{:.2},{:.2} ", px(grid[j]), py(preds[i * g + j]))).collect();
        let _ = writeln!(
            o,
            r##"<polyline points="{pts}" fill="none" stroke="#3182bd" stroke-opacity="0.5" stroke-width="0.8"/>"##
        );
    }
    // MAP
    let pts: String = (0..g).map(|j| format!("{:.2},{:.2} ", px(grid[j]), py(map[j]))).collect();
    let _ = writeln!(o, r##"<polyline points="{pts}" fill="none" stroke="#d62728" stroke-width="2"/>"##);
    // data
    for (x, y) in split.train.inputs().iter().zip(ty) {
        let _ = writeln!(o, r##"<circle cx="{:.2}" cy="{:.2}" r="2.5" fill="black"/>"##, px(*x), py(*y));
    }
    for (x, y) in hx.iter().zip(hy) {
        let _ =
            writeln!(o, r##"<circle cx="{:.2}" cy="{:.2}" r="2.5" fill="none" stroke="#8c6d31"/>"##, px(*x), py(*y));
    }
    // axes and labels
    let _ =
        writeln!(o, r#"<line x1="{PAD}" y1="{:.2}" x2="{:.2}" y2="{:.2}" stroke="black"/>"#, H - PAD, W - PAD, H - PAD);
    let _ = writeln!(o, r#"<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{:.2}" stroke="black"/>"#, H - PAD);
    for t in 0..=4 {
        let xv = xmin + (xmax - xmin) * t as f64 / 4.0;
        let yv = ymin + (ymax - ymin) * t as f64 / 4.0;
        let _ = writeln!(o, r#"<text x="{:.2}" y="{:.2}" text-anchor="middle">{xv:.2}</text>"#, px(xv), H - PAD + 16.0);
        let _ = writeln!(o, r#"<text x="{:.2}" y="{:.2}" text-anchor="end">{yv:.2}</text>"#, PAD - 4.0, py(yv) + 4.0);
    }
    let gap = summary.gap_nll.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into());
    let _ = writeln!(
        o,
        r#"<text x="{PAD}" y="20" font-size="14">{} — {} samples, λ = {:.4}, σ = {:.4}; NLL train {:.3}, gap {gap}. Red: MAP; blue: samples and ±2 std; shaded: held-out gap.</text>"#,
        summary.sampler, s, summary.prior_precision, summary.noise_std, summary.train_nll
    );
    o.push_str("</svg>\n");
    o
}
