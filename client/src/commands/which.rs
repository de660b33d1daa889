//! `hf-auth which [--repo ID] [--token-name N]`: which token this shell would get, and why —
//! OIDC, the environment, a name, a `[[route]]` rule (with its line), scope, or the active token —
//! with the token masked.

use crate::failure::CmdResult;
use crate::output::Format;
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::{Token, pb};
use serde_json::json;

pub async fn run(s: &Session) -> CmdResult {
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let r = client.resolve(pb::ResolveRequest { context: s.context(), username: String::new() }).await?.into_inner();
    let reason = pb::RouteReason::try_from(r.reason).unwrap_or(pb::RouteReason::Unspecified);
    let (key, why) = explain(s, &r, reason);
    let masked = (!r.token.is_empty()).then(|| Token::new(r.token.clone()).masked());
    match s.out.format {
        Format::Json => s.out.print(
            &json!({
                "token": masked,
                "name": (!r.name.is_empty()).then_some(&r.name),
                "reason": key,
                "explanation": why,
                "rule": (reason == pb::RouteReason::Rule).then(|| json!({"index": r.rule_index, "line": r.rule_line})),
                "repo": s.ctx.routing.repo,
                "notes": r.notes,
            })
            .to_string(),
        ),
        Format::Quiet => s.out.print(if r.name.is_empty() { key } else { &r.name }),
        Format::Human => {
            let mut text = match (&masked, r.name.is_empty()) {
                (None, _) => "No token: not logged in.".to_owned(),
                (Some(m), true) => m.clone(),
                (Some(m), false) => format!("{} ({m})", r.name),
            };
            text.push_str(&format!("\n  because: {why}"));
            for note in &r.notes {
                text.push_str(&format!("\n  note: {note}"));
            }
            s.out.print(&text);
        }
    }
    Ok(())
}

/// The reason's key for `--json`, and a sentence for people.
fn explain(s: &Session, r: &pb::ResolveResponse, reason: pb::RouteReason) -> (&'static str, String) {
    let repo = s.ctx.routing.repo.as_deref().unwrap_or("this repo");
    match reason {
        pb::RouteReason::Oidc => {
            ("oidc", "HF_OIDC_RESOURCE is set: a token exchanged for this CI job's id token".into())
        }
        pb::RouteReason::Env => {
            let var = if r.source == pb::TokenSource::EnvHuggingFaceHubToken as i32 {
                "HUGGING_FACE_HUB_TOKEN"
            } else {
                "HF_TOKEN"
            };
            ("env", format!("{var} is set in this environment (it wins over every stored token)"))
        }
        pb::RouteReason::Name => ("name", "asked for by name (--token-name or HF_AUTH_TOKEN_NAME)".into()),
        pb::RouteReason::Rule => {
            ("rule", format!("[[route]] rule #{} at line {} of config.toml matches", r.rule_index, r.rule_line))
        }
        pb::RouteReason::Scope => {
            ("scope", format!("the active token cannot do this at {repo}; this is the one stored token that can"))
        }
        pb::RouteReason::Username => ("username", format!("git asked for the account {}", r.username)),
        pb::RouteReason::Active | pb::RouteReason::Unspecified => {
            if r.token.is_empty() {
                ("none", "no token is set or stored".into())
            } else {
                ("active", "the active token (the one `hf-auth switch` sets)".into())
            }
        }
    }
}
