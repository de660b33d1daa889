//! Where results go: a Markdown report (tables, one per measurement, and a summary of the targets)
//! and one JSON object per figure, for tools. Also the small statistics every measurement shares.

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::Duration;

/// Latency samples, sorted once.
#[derive(Debug, Clone)]
pub struct Samples {
    sorted: Vec<Duration>,
}

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self { sorted: samples }
    }

    /// Both sets of samples as one.
    pub fn merge(self, other: Samples) -> Samples {
        let mut all = self.sorted;
        all.extend(other.sorted);
        Samples::new(all)
    }

    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Every sample, fastest first.
    pub fn all(&self) -> &[Duration] {
        &self.sorted
    }

    /// Nearest-rank percentile (`q` in 0..=100); zero when empty.
    pub fn pct(&self, q: f64) -> Duration {
        if self.sorted.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q / 100.0) * self.sorted.len() as f64).ceil() as usize;
        self.sorted[rank.clamp(1, self.sorted.len()) - 1]
    }

    pub fn p50(&self) -> Duration {
        self.pct(50.0)
    }

    pub fn p99(&self) -> Duration {
        self.pct(99.0)
    }
}

/// A duration for people: µs below a millisecond, ms below a second.
pub fn human(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1e6 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

pub fn us(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e7).round() / 10.0
}

/// The median of `v` (the mean of the middle two for an even count); NaN when empty.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// `a / b` as "1.23x".
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

pub fn x(r: f64) -> String {
    if r >= 100.0 { format!("{r:.0}x") } else { format!("{r:.2}x") }
}

/// One target of the issue and whether this run met it.
#[derive(Debug, Clone)]
struct Target {
    what: String,
    measured: String,
    holds: bool,
}

#[derive(Debug, Default)]
pub struct Report {
    /// False in smoke mode: counts too small for the numbers to mean anything.
    judged: bool,
    /// Sections as (title, Markdown); titles start with the measurement's number.
    sections: Vec<(String, String)>,
    targets: Vec<Target>,
    json: Vec<Value>,
}

impl Report {
    pub fn new(judged: bool) -> Self {
        Self { judged, ..Self::default() }
    }

    fn verdict(&self, holds: bool) -> &'static str {
        match (self.judged, holds) {
            (false, _) => "not judged (smoke)",
            (true, true) => "holds",
            (true, false) => "MISSED",
        }
    }

    pub fn section(&mut self, title: &str, note: &str) {
        eprintln!("\n== {title}");
        let mut body = String::new();
        if !note.is_empty() {
            let _ = write!(body, "{note}\n\n");
        }
        self.sections.push((title.to_owned(), body));
    }

    pub fn table(&mut self, headers: &[&str], rows: &[Vec<String>]) {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let head: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = line(&head);
        out.push_str(&line(&headers.iter().map(|_| "---".to_owned()).collect::<Vec<_>>()));
        for row in rows {
            out.push_str(&line(row));
        }
        eprintln!("{out}");
        out.push('\n');
        self.body().push_str(&out);
    }

    pub fn note(&mut self, text: &str) {
        eprintln!("{text}");
        let _ = write!(self.body(), "{text}\n\n");
    }

    /// Records a target and the figure it is judged on.
    pub fn target(&mut self, what: &str, measured: String, holds: bool) {
        let verdict = self.verdict(holds);
        eprintln!("target: {what}: {measured} → {verdict}");
        let _ = write!(self.body(), "Target: {what} — measured {measured}: **{verdict}**.\n\n");
        let judged = self.judged;
        self.json
            .push(json!({"kind": "target", "target": what, "measured": measured, "holds": holds, "judged": judged}));
        self.targets.push(Target { what: what.to_owned(), measured, holds });
    }

    /// One figure as a JSON object (also printed at once, so a partial run still leaves data).
    pub fn figure(&mut self, value: Value) {
        println!("{value}");
        self.json.push(value);
    }

    /// The current section's Markdown.
    fn body(&mut self) -> &mut String {
        if self.sections.is_empty() {
            self.sections.push((String::new(), String::new()));
        }
        &mut self.sections.last_mut().expect("a section").1
    }

    /// The Markdown: summary of targets first, then every section in the order of its number.
    pub fn markdown(&self) -> String {
        let mut out = String::from("## Targets\n\n| target | measured | verdict |\n| --- | --- | --- |\n");
        for t in &self.targets {
            let verdict = match self.verdict(t.holds) {
                "MISSED" => "**missed**",
                v => v,
            };
            let _ = writeln!(out, "| {} | {} | {} |", t.what, t.measured, verdict);
        }
        out.push_str("\n## Results\n");
        let mut sections: Vec<&(String, String)> = self.sections.iter().collect();
        sections.sort_by(|a, b| a.0.cmp(&b.0));
        for (title, body) in sections {
            let _ = write!(out, "\n### {title}\n\n{body}");
        }
        out
    }

    pub fn json_lines(&self) -> String {
        self.json.iter().map(|v| format!("{v}\n")).collect()
    }
}
