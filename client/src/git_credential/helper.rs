//! `git-credential-hf`: answers git's `get` from hf-authd; never blocks git, never logs the user
//! out (`store` and `erase` change nothing; `erase` only drops the daemon's whoami cache entry).
//!
//! Anything unexpected ends the same way: nothing on stdout, exit 0, so git falls through to
//! its next helper or its prompt. With `HF_AUTH_DEBUG=1` one line on stderr says why. An OIDC
//! exchange failure says why on stderr always: the caller opted into OIDC (`HF_OIDC_RESOURCE`),
//! and git's own "could not read Username" would hide the reason in a CI log.

use crate::api::HfAuth;
use crate::git_credential::protocol::{self, Credential, Operation, Request};
use hf_auth_proto::{ClientContext, Env, pb};
use std::io::Write;
use std::time::Duration;

/// Budget for reaching the daemon and for its answer: git waits for us.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// How the daemon words every OIDC failure (huggingface_hub's CLI prefix for `OIDCError`).
const OIDC_FAILED: &str = "OIDC Exchange failed.";

/// Runs one helper invocation. Always "succeeds": failures are reported only under HF_AUTH_DEBUG,
/// OIDC failures always.
pub fn main_with(args: &[String], env: &Env, stdin: impl std::io::BufRead, stdout: impl Write) -> u8 {
    let debug = env.non_empty("HF_AUTH_DEBUG").is_some_and(hf_auth_proto::env::is_truthy);
    let op = args.get(1).map(|a| Operation::parse(a)).unwrap_or(Operation::Unknown);
    if let Err(why) = run(op, env, stdin, stdout)
        && (debug || why.contains(OIDC_FAILED))
    {
        eprintln!("git-credential-hf: {why}");
    }
    0
}

fn run(op: Operation, env: &Env, stdin: impl std::io::BufRead, mut stdout: impl Write) -> Result<(), String> {
    match op {
        Operation::Capability => protocol::write_capabilities(&mut stdout).map_err(|e| e.to_string()),
        Operation::Unknown | Operation::Store => Ok(()),
        Operation::Get | Operation::Erase => {
            let request = protocol::read_request(stdin).map_err(|e| format!("bad request: {e}"))?;
            let ctx = ClientContext::from_env(env);
            if !request.is_answerable() {
                return Err(
                    "request without protocol/host, with unsafe characters or with repeated attributes: not answered"
                        .into(),
                );
            }
            if !matches_endpoint(&request, &ctx.endpoint) {
                return Err(format!("not our host ({:?}); not answered", request.host));
            }
            let runtime =
                tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
            let answer = runtime.block_on(async {
                tokio::time::timeout(CONNECT_TIMEOUT * 3, ask_daemon(op, env, &ctx, &request))
                    .await
                    .map_err(|_| "hf-authd did not answer in time".to_owned())?
            });
            // Dropping the runtime would wait for an autostart stuck in spawn_blocking (start lock,
            // slow daemon) long past the budget above; git must not wait for it.
            runtime.shutdown_background();
            match answer? {
                Some(credential) => protocol::write_credential(&mut stdout, &credential).map_err(|e| e.to_string()),
                None => Ok(()),
            }
        }
    }
}

async fn ask_daemon(
    op: Operation,
    env: &Env,
    ctx: &ClientContext,
    request: &Request,
) -> Result<Option<Credential>, String> {
    // With `credential.<hub>.useHttpPath` (setup-git sets it) git says which repo: rules and
    // scope choose by it. git may push, so the token should be one that can write.
    let repo = request.path.as_deref().map(|p| repo_path(p, &ctx.endpoint).to_owned());
    let ctx = &ctx.clone().for_repo(repo, hf_auth_proto::Access::Write);
    let auth = HfAuth::with_context(env.clone(), ctx.clone())
        .autostart(true)
        .fallback(false)
        .check_version(false)
        .timeouts(CONNECT_TIMEOUT, REQUEST_TIMEOUT);
    if op == Operation::Erase {
        // git says the credential failed: make the next whoami ask the Hub again. Nothing is deleted.
        if let Some(password) = &request.password {
            let mut client = auth.client().await.map_err(|e| e.to_string())?;
            let forget = pb::ForgetWhoAmIRequest { context: Some(ctx.to_pb()), token: password.clone() };
            client.forget_who_am_i(forget).await.map_err(|s| s.message().to_owned())?;
        }
        return Ok(None);
    }
    let wanted = request.username.clone().filter(|u| !u.is_empty() && u != "hf_user").unwrap_or_default();
    let r = auth.for_user(wanted).token().await.map_err(|e| e.to_string())?.ok_or("not logged in")?;
    let username = match (&request.username, r.username) {
        (Some(u), _) if !u.is_empty() => u.clone(),
        (_, Some(owner)) => owner,
        _ => "hf_user".to_owned(),
    };
    // An OAuth token's expiry: a caching helper configured after us (credential-cache) must
    // not serve it once it has expired (git >= 2.41 reads password_expiry_utc).
    Ok(Some(Credential { username, password: r.token.into_inner(), password_expiry_utc: r.expires_at }))
}

/// git's `path` without the endpoint's own path prefix (an endpoint like `https://host/hub`).
fn repo_path<'a>(path: &'a str, endpoint: &str) -> &'a str {
    let prefix =
        endpoint.split_once("://").and_then(|(_, rest)| rest.split_once('/')).map(|(_, p)| p.trim_matches('/'));
    let path = path.trim_start_matches('/');
    match prefix {
        Some(p) if !p.is_empty() => path.strip_prefix(p).map(|r| r.trim_start_matches('/')).unwrap_or(path),
        _ => path,
    }
}

/// The request is for our Hub: same scheme (https, or http for an http endpoint) and host
/// (port included); `hf.co` is accepted for the default endpoint.
pub fn matches_endpoint(request: &Request, endpoint: &str) -> bool {
    let (Some(protocol), Some(host)) = (&request.protocol, &request.host) else { return false };
    let Some((scheme, rest)) = endpoint.split_once("://") else { return false };
    let endpoint_host = rest.split('/').next().unwrap_or_default();
    if !protocol.eq_ignore_ascii_case(scheme) {
        return false;
    }
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix(":443").filter(|_| scheme == "https").unwrap_or(&host);
    host == endpoint_host.to_ascii_lowercase()
        || (endpoint == hf_auth_proto::paths::DEFAULT_ENDPOINT && host == "hf.co")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn req(protocol: &str, host: &str) -> Request {
        Request { protocol: Some(protocol.into()), host: Some(host.into()), ..Default::default() }
    }

    #[rstest]
    #[case("https", "huggingface.co", "https://huggingface.co", true)]
    #[case("https", "HuggingFace.co", "https://huggingface.co", true)]
    #[case("https", "huggingface.co:443", "https://huggingface.co", true)]
    #[case("https", "hf.co", "https://huggingface.co", true)]
    #[case("http", "huggingface.co", "https://huggingface.co", false)]
    #[case("https", "evil.com", "https://huggingface.co", false)]
    #[case("https", "huggingface.co.evil.com", "https://huggingface.co", false)]
    #[case("https", "hf.co", "https://hub.example.com", false)]
    #[case("http", "127.0.0.1:8765", "http://127.0.0.1:8765", true)]
    #[case("http", "127.0.0.1", "http://127.0.0.1:8765", false)]
    #[case("https", "127.0.0.1:8765", "http://127.0.0.1:8765", false)]
    fn endpoint_matching(#[case] protocol: &str, #[case] host: &str, #[case] endpoint: &str, #[case] ok: bool) {
        assert_eq!(matches_endpoint(&req(protocol, host), endpoint), ok);
    }
}
