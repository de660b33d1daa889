//! A latency distribution drawn as an SVG: one cumulative curve per series over a logarithmic
//! time axis (so an echo's 15 µs and a p99.9 of milliseconds both read), written by hand — a
//! few polylines need no plotting crate.

use std::fmt::Write;
use std::time::Duration;

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 240.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
const COLOURS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];

/// `series`: (label, samples sorted fastest first).
pub fn svg(title: &str, series: &[(&str, &Vec<Duration>)]) -> String {
    let all = series.iter().flat_map(|(_, s)| s.iter()).map(|d| d.as_secs_f64() * 1e6).filter(|v| *v > 0.0);
    let (lo, hi) = all.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo < hi { (lo.log10().floor(), hi.log10().ceil()) } else { (0.0, 1.0) };
    let x = |us: f64| LEFT + (us.max(1e-3).log10() - lo) / (hi - lo) * (W - LEFT - RIGHT);
    let y = |q: f64| TOP + (1.0 - q) * (H - TOP - BOTTOM);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(
        out,
        r#"<rect width="{W}" height="{H}" fill="white"/><text x="{LEFT}" y="22" font-size="15">{title}</text>"#
    );
    // Axes, decades, quartiles.
    for decade in lo as i32..=hi as i32 {
        let us = 10f64.powi(decade);
        let px = x(us);
        let label = if us >= 1000.0 { format!("{} ms", us / 1000.0) } else { format!("{us} µs") };
        let _ = write!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{label}</text>"##,
            H - BOTTOM,
            H - BOTTOM + 16.0
        );
    }
    for q in [0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0] {
        let py = y(q);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            py + 4.0,
            q
        );
    }
    let _ = write!(
        out,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">latency per call (log scale)</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0
    );
    for (i, (label, samples)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let n = samples.len().max(1) as f64;
        // At most ~600 points per curve: every k-th sample, plus the last.
        let step = (samples.len() / 600).max(1);
        let points: Vec<String> = samples
            .iter()
            .enumerate()
            .filter(|(k, _)| k % step == 0 || *k + 1 == samples.len())
            .map(|(k, d)| format!("{:.1},{:.1}", x(d.as_secs_f64() * 1e6), y((k + 1) as f64 / n)))
            .collect();
        let _ =
            write!(out, r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#, points.join(" "));
        let ly = TOP + 20.0 + i as f64 * 20.0;
        let p50 = samples.get(samples.len() / 2).map(|d| d.as_secs_f64() * 1e6).unwrap_or_default();
        let _ = write!(
            out,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{label} (p50 {p50:.1} µs)</text>"#,
            W - RIGHT + 10.0,
            W - RIGHT + 30.0,
            W - RIGHT + 36.0,
            ly + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}
