//! Read-only commands: `list` (spec §4.5), `token` (§4.6), `whoami` (§4.7).

use crate::failure::{CmdResult, Failure};
use crate::output::{Format, py_json};
use crate::session::{HUB_CALL_TIMEOUT, LOCAL_CALL_TIMEOUT, Session};
use crate::table::tabulate;
use hf_auth_proto::pb;
use serde_json::{Value, json};

pub async fn list(s: &Session) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let r = client.list(pb::ListRequest { context: s.context() }).await?.into_inner();
    if s.out.format == Format::Json {
        s.out.print(&list_json(&r).to_string());
        return Ok(());
    }
    if !r.stored_tokens_problem.is_empty() {
        s.out.warn(&format!("Warning: {} ({})", r.stored_tokens_problem, r.stored_tokens_path));
    }
    if r.tokens.is_empty() {
        if r.env_token_var.is_empty() {
            s.out.info("No access tokens found.");
        } else {
            s.out.info("No stored access tokens found.");
            s.out.warn(&format!(
                "Note: Environment variable `{}` is set and is the current active token.",
                r.env_token_var
            ));
        }
        return Ok(());
    }
    if s.out.format == Format::Quiet {
        for t in &r.tokens {
            s.out.print(&t.name);
        }
        return Ok(());
    }
    let now = chrono::Utc::now().timestamp();
    let show_expires = r.tokens.iter().any(|t| !t.expires_at.is_empty());
    let mut headers = vec![" ", "name", "token"];
    if show_expires {
        headers.push("expires");
    }
    // Shown once any secret is in the keyring; all-file lists look like huggingface_hub's.
    let show_storage = r.tokens.iter().any(|t| t.storage == pb::Storage::Keyring as i32);
    if show_storage {
        headers.push("storage");
    }
    let rows: Vec<Vec<String>> = r
        .tokens
        .iter()
        .map(|t| {
            let mut row = vec![if t.active { "*" } else { "" }.to_owned(), t.name.clone(), t.masked.clone()];
            if show_expires {
                row.push(format_expiry(&t.expires_at, now));
            }
            if show_storage {
                row.push(storage_name(t.storage).to_owned());
            }
            row
        })
        .collect();
    s.out.print(&tabulate(&headers, &rows));
    for note in refresh_notes(&r.tokens) {
        s.out.info(&note);
    }
    if !r.env_token_var.is_empty() {
        s.out.warn(&format!(
            "\nNote: Environment variable `{}` is set and is the current active token independently from the stored tokens listed above.",
            r.env_token_var
        ));
    } else if !r.tokens.iter().any(|t| t.active) {
        s.out.warn("\nNote: No active token is set and no environment variable `HF_TOKEN` is found. Use `hf-auth login` to log in.");
    }
    Ok(())
}

/// What the daemon does about each OAuth token: when it refreshes it, or that it cannot.
fn refresh_notes(tokens: &[pb::StoredToken]) -> Vec<String> {
    use chrono::TimeZone;
    let when = |at: i64| {
        chrono::Local.timestamp_opt(at, 0).single().map(|d| d.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default()
    };
    tokens
        .iter()
        .filter_map(|t| match pb::RefreshState::try_from(t.refresh_state).ok()? {
            pb::RefreshState::None => None,
            pb::RefreshState::Scheduled => {
                Some(format!("Note: `{}` is refreshed automatically by hf-authd (next: {}).", t.name, when(t.next_refresh_at)))
            }
            pb::RefreshState::Retrying => Some(format!(
                "Note: refreshing `{}` failed; hf-authd retries at {} and serves the current token meanwhile.",
                t.name,
                when(t.next_refresh_at)
            )),
            pb::RefreshState::NeedsLogin => Some(format!(
                "Note: `{}` could not be refreshed (session expired or revoked). Run `hf-auth login` to re-authenticate.",
                t.name
            )),
        })
        .collect()
}

fn refresh_json(t: &pb::StoredToken) -> Value {
    let state = match pb::RefreshState::try_from(t.refresh_state).unwrap_or(pb::RefreshState::None) {
        pb::RefreshState::None => return Value::Null,
        pb::RefreshState::Scheduled => "scheduled",
        pb::RefreshState::Retrying => "retrying",
        pb::RefreshState::NeedsLogin => "needs_login",
    };
    json!({"state": state, "next_at": (t.next_refresh_at > 0).then_some(t.next_refresh_at)})
}

/// huggingface_hub's `_format_expiration`: local date, ` (expired)` when past; blank for garbage.
pub fn format_expiry(raw: &str, now: i64) -> String {
    use chrono::TimeZone;
    let Ok(at) = raw.trim().parse::<i64>() else { return String::new() };
    let Some(date) = chrono::Local.timestamp_opt(at, 0).single() else { return String::new() };
    let day = date.format("%Y-%m-%d").to_string();
    if at < now { format!("{day} (expired)") } else { day }
}

/// `list --json`: `{"tokens": [{"name", "token" (masked or null), "active", "expires_at" (unix or null),
/// "storage" ("file"|"keyring"), "refresh" (null or {"state", "next_at"})}], "env_token": (variable or null)}`.
fn list_json(r: &pb::ListResponse) -> Value {
    let tokens: Vec<Value> = r
        .tokens
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "token": if t.has_token { Value::from(t.masked.clone()) } else { Value::Null },
                "active": t.active,
                "expires_at": t.expires_at.trim().parse::<i64>().ok(),
                "storage": storage_name(t.storage),
                "refresh": refresh_json(t),
            })
        })
        .collect();
    json!({
        "tokens": tokens,
        "env_token": if r.env_token_var.is_empty() { Value::Null } else { Value::from(r.env_token_var.clone()) },
        "stored_tokens_problem": (!r.stored_tokens_problem.is_empty()).then_some(&r.stored_tokens_problem),
    })
}

pub fn storage_name(storage: i32) -> &'static str {
    match pb::Storage::try_from(storage) {
        Ok(pb::Storage::Keyring) => "keyring",
        _ => "file",
    }
}

pub async fn token(s: &Session) -> CmdResult {
    let Some(r) = s.api().token().await? else {
        return Err(Failure::msg("Not logged in. Run `hf-auth login` first."));
    };
    s.out.print(r.token.expose());
    s.out.hint("Run `hf-auth whoami` to see which account this token belongs to.");
    Ok(())
}

pub async fn whoami(s: &Session) -> CmdResult {
    let mut client = s.client(Some(HUB_CALL_TIMEOUT)).await?;
    let request = pb::WhoAmIRequest { context: s.context(), token: String::new(), fresh: false };
    let r = s.out.spin("Asking the Hub…", client.who_am_i(request)).await?.into_inner();
    let orgs = r.orgs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>().join(",");
    let orgs = (!orgs.is_empty()).then_some(orgs);
    let endpoint = (s.ctx.endpoint != hf_auth_proto::paths::DEFAULT_ENDPOINT).then(|| s.ctx.endpoint.clone());
    if r.stale {
        s.out.warn("Note: the Hub could not be asked just now; this is the last answer it gave.");
    }
    match s.out.format {
        Format::Quiet => s.out.print(&r.name),
        Format::Json => s.out.print(&py_json(&[
            ("user", json!(r.name)),
            ("orgs", json!(orgs)),
            ("endpoint", json!(endpoint)),
            ("fullname", json!((!r.fullname.is_empty()).then_some(&r.fullname))),
            ("token_name", json!((!r.token_display_name.is_empty()).then_some(&r.token_display_name))),
            ("token_role", json!((!r.token_role.is_empty()).then_some(&r.token_role))),
            ("cached", json!(r.cached)),
            ("stale", json!(r.stale)),
        ])),
        Format::Human => {
            let mut text = format!("{}\n  user: {}", s.out.green_out("✓ Logged in"), r.name);
            if let Some(orgs) = &orgs {
                text.push_str(&format!("\n  orgs: {orgs}"));
            }
            if let Some(endpoint) = &endpoint {
                text.push_str(&format!("\n  endpoint: {endpoint}"));
            }
            s.out.print(&text);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_formats() {
        assert_eq!(format_expiry("", 0), "");
        assert_eq!(format_expiry("soon", 0), "");
        assert!(format_expiry("100", 200).ends_with(" (expired)"));
        assert_eq!(format_expiry("4102444800", 0).len(), 10);
    }
}
