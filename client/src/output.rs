//! How the client speaks: results on stdout, notes on stderr, in the chosen format
//! (human, json, quiet), with colour only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    Quiet,
}

#[derive(Clone, Debug)]
pub struct Out {
    pub format: Format,
    color_out: bool,
    color_err: bool,
    pub stdin_tty: bool,
    pub stderr_tty: bool,
}

const RESET: &str = "\x1b[0m";
const RED_BOLD: &str = "\x1b[1m\x1b[31m";
const GRAY: &str = "\x1b[90m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";

impl Out {
    pub fn new(format: Format, no_color: bool) -> Self {
        let human = format == Format::Human;
        let stderr_tty = std::io::stderr().is_terminal();
        Self {
            format,
            color_out: human && !no_color && std::io::stdout().is_terminal(),
            color_err: human && !no_color && stderr_tty,
            stdin_tty: std::io::stdin().is_terminal(),
            stderr_tty,
        }
    }

    /// A plain instance for tests: no colour, no terminal.
    pub fn plain(format: Format) -> Self {
        Self { format, color_out: false, color_err: false, stdin_tty: false, stderr_tty: false }
    }

    pub fn human(&self) -> bool {
        self.format == Format::Human
    }

    /// A result line on stdout.
    pub fn print(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{text}");
    }

    /// An informational line on stderr (huggingface_hub's logger.info).
    pub fn info(&self, text: &str) {
        if self.format != Format::Quiet {
            eprintln!("{text}");
        }
    }

    /// A warning on stderr; shown in every format.
    pub fn warn(&self, text: &str) {
        eprintln!("{}", self.paint_err(YELLOW, text));
    }

    /// A gray hint on stderr; not in quiet mode.
    pub fn hint(&self, text: &str) {
        if self.format != Format::Quiet {
            eprintln!("{}", self.paint_err(GRAY, &format!("Hint: {text}")));
        }
    }

    /// `Error: …` on stderr, red and bold on a terminal.
    pub fn error(&self, text: &str) {
        eprintln!("{}", self.paint_err(RED_BOLD, &format!("Error: {text}")));
    }

    pub fn green_out(&self, text: &str) -> String {
        if self.color_out { format!("{GREEN}{text}{RESET}") } else { text.to_owned() }
    }

    pub fn red_out(&self, text: &str) -> String {
        if self.color_out { format!("{RED_BOLD}{text}{RESET}") } else { text.to_owned() }
    }

    fn paint_err(&self, color: &str, text: &str) -> String {
        if self.color_err { format!("{color}{text}{RESET}") } else { text.to_owned() }
    }

    /// A spinner on stderr while `fut` runs (only on a terminal, only in human mode).
    pub async fn spin<F: std::future::Future>(&self, label: &str, fut: F) -> F::Output {
        if !(self.stderr_tty && self.human()) {
            return fut.await;
        }
        let label = label.to_owned();
        let spinner = tokio::spawn(async move {
            const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
            // Only show it if the wait is noticeable.
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            for frame in FRAMES.iter().cycle() {
                eprint!("\r{frame} {label}");
                tokio::time::sleep(std::time::Duration::from_millis(80)).await;
            }
        });
        let result = fut.await;
        spinner.abort();
        let _ = spinner.await;
        eprint!("\r\x1b[2K");
        result
    }
}

/// JSON the way Python's `json.dumps` prints it (`", "` and `": "` separators), keys in order.
pub fn py_json(fields: &[(&str, serde_json::Value)]) -> String {
    let body: Vec<String> =
        fields.iter().map(|(k, v)| format!("{}: {}", serde_json::Value::from(*k), py_value(v))).collect();
    format!("{{{}}}", body.join(", "))
}

fn py_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Array(items) => format!("[{}]", items.iter().map(py_value).collect::<Vec<_>>().join(", ")),
        serde_json::Value::Object(map) => {
            let body: Vec<String> =
                map.iter().map(|(k, v)| format!("{}: {}", serde_json::Value::from(k.as_str()), py_value(v))).collect();
            format!("{{{}}}", body.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn python_json_separators() {
        assert_eq!(
            py_json(&[("user", json!("alice")), ("orgs", json!(null)), ("n", json!([1, 2]))]),
            r#"{"user": "alice", "orgs": null, "n": [1, 2]}"#
        );
    }
}
