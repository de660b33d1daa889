//! `hf-auth audit [--since D] [--json]`: who got which token, newest first, read from hf-authd's
//! audit log (`$XDG_STATE_HOME/hf-auth/audit.log` and its rotated `audit.log.1`; the daemon says
//! where its log is when it is running). The lines are the daemon's (`hf_authd::audit::Entry`):
//! names and reasons, never a secret.

use crate::failure::{CmdResult, Failure};
use crate::output::Format;
use crate::session::Session;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub async fn run(s: &Session, since: Option<String>) -> CmdResult {
    let since = since.as_deref().map(parse_duration).transpose().map_err(Failure::msg)?;
    let path = log_path(s).await.ok_or_else(|| Failure::msg("no audit log: neither XDG_STATE_HOME nor HOME is set"))?;
    let cutoff = since.map(|d| chrono::Utc::now() - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX));
    let mut entries = read(&path);
    entries.retain(|e| match (cutoff, time_of(e)) {
        (Some(cutoff), Some(t)) => t >= cutoff,
        (Some(_), None) => false,
        (None, _) => true,
    });
    // Lines are appended in order: newest first is the reverse (stable for equal seconds).
    entries.reverse();
    if s.out.format == Format::Json {
        s.out.print(&Value::Array(entries).to_string());
        return Ok(());
    }
    if entries.is_empty() {
        s.out.info(&format!("No token handouts recorded in {}.", path.display()));
        return Ok(());
    }
    let mut rows = Vec::new();
    for e in &entries {
        let field = |k: &str| match &e[k] {
            Value::String(v) => v.clone(),
            Value::Null => String::new(),
            v => v.to_string(),
        };
        let why = match (field("why"), field("detail")) {
            (w, d) if w.is_empty() => d,
            (w, _) if w == "rule" => format!("rule #{}", field("rule")),
            (w, _) => w,
        };
        rows.push(vec![
            field("time"),
            field("event"),
            field("via"),
            field("pid"),
            field("uid"),
            field("exe"),
            field("token_name"),
            why,
            field("endpoint"),
        ]);
    }
    let headers = ["TIME", "EVENT", "VIA", "PID", "UID", "PROGRAM", "TOKEN", "WHY", "ENDPOINT"];
    s.out.print(&crate::table::tabulate(&headers, &rows));
    Ok(())
}

/// The daemon's own log path when it is running here (no autostart just to ask), else ours.
async fn log_path(s: &Session) -> Option<PathBuf> {
    if let Ok(mut client) =
        crate::connect::connect(&s.socket, Duration::from_millis(500), Some(Duration::from_secs(2))).await
        && let Ok(status) = crate::connect::status(&mut client, &s.socket).await
        && !status.audit_log_path.is_empty()
    {
        return Some(PathBuf::from(status.audit_log_path));
    }
    hf_auth_proto::socket::audit_log_path(&s.env)
}

/// The rotated file's lines, then the current one's; lines that do not parse are skipped.
fn read(path: &Path) -> Vec<Value> {
    let mut rotated = path.as_os_str().to_owned();
    rotated.push(".1");
    [PathBuf::from(rotated), path.to_path_buf()]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .flat_map(|text| text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).collect::<Vec<_>>())
        .filter(Value::is_object)
        .collect()
}

fn time_of(e: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let t = e.get("time")?.as_str()?;
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|t| t.with_timezone(&chrono::Utc))
}

/// `90s`, `10m`, `1h`, `2d`, `1w` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {text:?}: use e.g. 30m, 1h, 2d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("invalid duration {text:?}: units are s, m, h, d, w")),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("2d").unwrap(), Duration::from_secs(172_800));
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn reads_rotated_then_current_and_skips_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        std::fs::write(dir.path().join("audit.log.1"), "{\"n\":1}\n").unwrap();
        std::fs::write(&path, "{\"n\":2}\nnot json\n{\"n\":3}\n").unwrap();
        let n: Vec<i64> = read(&path).iter().map(|v| v["n"].as_i64().unwrap()).collect();
        assert_eq!(n, [1, 2, 3]);
    }
}
