//! `hf-auth setup-git`: point git at git-credential-hf for the Hub, as `gh auth setup-git` does:
//! `credential.<url>.helper = ""` (resetting helpers configured before it for this URL) then our
//! helper. Re-running is a no-op; `--unset` removes exactly what we wrote.
//!
//! Unlike huggingface_hub's `--add-to-git-credential`, no copy of the token is handed to another
//! helper: git asks the daemon each time, so `switch` takes effect for git at once.

use crate::failure::{CmdResult, Failure};
use crate::git;
use crate::session::Session;

/// The helper value we write: `hf` when the `git-credential-hf` git would find first on PATH is
/// the one installed next to this client, else the sibling's absolute path — so a development
/// build never hands git an older packaged helper, and a packaged install stays short and stable.
fn helper_value(s: &Session) -> String {
    let first_on_path = s
        .env
        .get("PATH")
        .and_then(|p| std::env::split_paths(p).map(|d| d.join("git-credential-hf")).find(|c| c.is_file()));
    let sibling = std::env::current_exe().ok().map(|e| e.with_file_name("git-credential-hf")).filter(|p| p.is_file());
    match (first_on_path, sibling) {
        (Some(found), Some(ours)) if same_file(&found, &ours) => "hf".to_owned(),
        (_, Some(ours)) => ours.display().to_string(),
        (_, None) => "hf".to_owned(),
    }
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn is_ours(value: &str) -> bool {
    value == "hf" || value.ends_with("/git-credential-hf")
}

/// The credential URLs for an endpoint: its own, plus `https://hf.co` for the default Hub.
pub fn urls(endpoint: &str) -> Vec<String> {
    let mut urls = vec![endpoint.to_owned()];
    if endpoint == hf_auth_proto::paths::DEFAULT_ENDPOINT {
        urls.push("https://hf.co".to_owned());
    }
    urls
}

fn key(url: &str) -> String {
    format!("credential.{url}.helper")
}

/// `credential.<url>.useHttpPath = true`: git then sends the repo's path (`acme/x.git`), so
/// `[[route]]` rules and scope can choose the token per repo. For the Hub's host only.
fn path_key(url: &str) -> String {
    format!("credential.{url}.useHttpPath")
}

fn sends_path(url: &str) -> bool {
    git::global_values(&path_key(url)).is_ok_and(|v| v.last().is_some_and(|x| x == "true"))
}

pub fn run(s: &Session, force: bool, unset: bool) -> CmdResult {
    if unset { unconfigure(s) } else { configure(s, force) }
}

/// Is git already set up to ask us for this endpoint?
pub fn is_configured(s: &Session) -> bool {
    urls(&s.ctx.endpoint).iter().all(|url| {
        git::global_values(&key(url)).is_ok_and(|v| v.len() == 2 && v[0].is_empty() && is_ours(&v[1]))
            && sends_path(url)
    })
}

pub fn configure(s: &Session, force: bool) -> CmdResult {
    let helper = helper_value(s);
    let mut changed = Vec::new();
    for url in urls(&s.ctx.endpoint) {
        let key = key(&url);
        let current = git::global_values(&key).map_err(|e| Failure::msg(e.to_string()))?;
        if current.len() == 2 && current[0].is_empty() && is_ours(&current[1]) {
            if !sends_path(&url) {
                git::set_global_values(&path_key(&url), &["true"]).map_err(|e| Failure::msg(e.to_string()))?;
                changed.push(url);
            }
            continue;
        }
        let foreign: Vec<&String> = current.iter().filter(|v| !v.is_empty() && !is_ours(v)).collect();
        if !foreign.is_empty() && !force {
            return Err(Failure::msg(format!(
                "{key} is already set to {}; pass --force to replace it with hf-auth's helper",
                foreign.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        git::set_global_values(&key, &["", &helper]).map_err(|e| Failure::msg(e.to_string()))?;
        git::set_global_values(&path_key(&url), &["true"]).map_err(|e| Failure::msg(e.to_string()))?;
        changed.push(url);
    }
    if changed.is_empty() {
        s.out.info(&format!("Git is already set up to use hf-auth for {}.", s.ctx.endpoint));
    } else {
        s.out.info(&format!(
            "Git will now ask hf-auth for credentials for {} (credential helper `{helper}` in your global git config).",
            changed.join(" and ")
        ));
    }
    Ok(())
}

fn unconfigure(s: &Session) -> CmdResult {
    let mut removed = false;
    for url in urls(&s.ctx.endpoint) {
        let key = key(&url);
        let current = git::global_values(&key).map_err(|e| Failure::msg(e.to_string()))?;
        if !current.iter().any(|v| is_ours(v)) {
            continue;
        }
        // Keep anything else the user configured; drop our entry and the reset we put before it.
        let keep: Vec<&str> = current.iter().filter(|v| !v.is_empty() && !is_ours(v)).map(String::as_str).collect();
        git::set_global_values(&key, &keep).map_err(|e| Failure::msg(e.to_string()))?;
        if sends_path(&url) {
            git::set_global_values(&path_key(&url), &[]).map_err(|e| Failure::msg(e.to_string()))?;
        }
        removed = true;
    }
    if removed {
        s.out.info(&format!("Git no longer asks hf-auth for credentials for {}.", s.ctx.endpoint));
    } else {
        s.out.info(&format!("Git was not set up to use hf-auth for {}; nothing to undo.", s.ctx.endpoint));
    }
    Ok(())
}
