//! `hf-auth status`: the daemon (version, pid, uptime, socket, log, homes, cache figures) and
//! where the caller's active token comes from.

use crate::commands::info::storage_name;
use crate::failure::CmdResult;
use crate::output::Format;
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;
use serde_json::json;

pub async fn run(s: &Session) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let st = client.status(pb::StatusRequest { context: s.context() }).await?.into_inner();
    let source = pb::TokenSource::try_from(st.active_source).unwrap_or(pb::TokenSource::None);
    if s.out.format == Format::Json {
        let homes: Vec<_> = st
            .homes
            .iter()
            .map(|h| json!({"token_path": h.token_path, "stored_tokens_path": h.stored_tokens_path, "stored_tokens": h.stored_tokens, "watched": h.watched}))
            .collect();
        s.out.print(
            &json!({
                "version": st.version, "protocol": st.protocol, "pid": st.pid, "uptime_ms": st.uptime_ms,
                "socket": st.socket_path, "log": (!st.log_path.is_empty()).then_some(&st.log_path),
                "homes": homes, "homes_open": st.homes_open, "watched_dirs": st.watched_dirs,
                "whoami_cache": {"entries": st.whoami_cache_entries, "hits": st.whoami_cache_hits, "misses": st.whoami_cache_misses},
                "hub_requests": st.hub_requests, "requests_served": st.requests_served,
                "configured_storage": storage_name(st.configured_storage),
                "routes": st.routes, "routes_error": (!st.routes_error.is_empty()).then_some(&st.routes_error),
                "route_by_scope": st.route_by_scope, "oidc_exchanges": st.oidc_exchanges,
                "active": {"source": source_name(source), "name": (!st.active_name.is_empty()).then_some(&st.active_name),
                           "storage": matches!(source, pb::TokenSource::File | pb::TokenSource::Keyring).then(|| storage_name(st.active_storage))},
            })
            .to_string(),
        );
        return Ok(());
    }
    let mut lines = vec![
        format!("hf-authd {} (protocol {}), pid {}, up {}", st.version, st.protocol, st.pid, uptime(st.uptime_ms)),
        format!("  socket: {}", st.socket_path),
    ];
    if !st.log_path.is_empty() {
        lines.push(format!("  log:    {}", st.log_path));
    }
    lines.push(format!("  homes:  {} open, {} directories watched", st.homes_open, st.watched_dirs));
    const SHOWN: usize = 10;
    for h in st.homes.iter().take(SHOWN) {
        lines.push(format!("    {} ({} stored tokens)", h.token_path, h.stored_tokens));
    }
    if st.homes_open as usize > SHOWN.min(st.homes.len()) {
        lines.push(format!(
            "    … and {} more (most recently used shown; `--json` lists more)",
            st.homes_open as usize - SHOWN.min(st.homes.len())
        ));
    }
    lines.push(format!(
        "  whoami cache: {} entries, {} hits, {} misses; {} Hub requests; {} requests served",
        st.whoami_cache_entries, st.whoami_cache_hits, st.whoami_cache_misses, st.hub_requests, st.requests_served
    ));
    lines.push(format!("  storage for new logins: {}", storage_name(st.configured_storage)));
    if st.routes.is_empty() {
        lines.push(format!("  routing: no [[route]] rules; by scope {}", if st.route_by_scope { "on" } else { "off" }));
    } else {
        lines.push(format!(
            "  routing: {} rule(s); by scope {}",
            st.routes.len(),
            if st.route_by_scope { "on" } else { "off" }
        ));
        lines.extend(st.routes.iter().map(|r| format!("    {r}")));
    }
    if !st.routes_error.is_empty() {
        lines.push(format!("  routing rules NOT reloaded (the previous ones stay): {}", st.routes_error));
    }
    let name = if st.active_name.is_empty() { String::new() } else { format!("`{}` ", st.active_name) };
    lines.push(match source {
        pb::TokenSource::None => "Active token: none (not logged in)".to_owned(),
        pb::TokenSource::File if st.active_storage == pb::Storage::Keyring as i32 => format!(
            "Active token: {name}from the OS keyring (mirrored to the token file {} for huggingface_hub)",
            s.ctx.paths.token.display()
        ),
        pb::TokenSource::File => format!(
            "Active token: {name}from the token file {} (stored in plain text, mode 0600)",
            s.ctx.paths.token.display()
        ),
        pb::TokenSource::Keyring => format!(
            "Active token: {name}from the OS keyring, not written to the token file (mirror_token_file = false): \
             huggingface_hub and hf-hub do not see it; give them HF_TOKEN=\"$(hf-auth token)\""
        ),
        env => format!("Active token: {name}from the environment variable {}", source_name(env)),
    });
    s.out.print(&lines.join("\n"));
    Ok(())
}

fn source_name(source: pb::TokenSource) -> &'static str {
    match source {
        pb::TokenSource::None => "none",
        pb::TokenSource::EnvHfToken => "HF_TOKEN",
        pb::TokenSource::EnvHuggingFaceHubToken => "HUGGING_FACE_HUB_TOKEN",
        pb::TokenSource::File => "file",
        pb::TokenSource::Keyring => "keyring",
        pb::TokenSource::Oidc => "oidc",
    }
}

pub fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}
