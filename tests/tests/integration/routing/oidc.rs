//! OIDC trusted publishing at the process level: `hf-auth token`, git's helper and a real `git
//! push` in a CI job use the token exchanged for the job's id token (given, or minted from a fake
//! GitHub Actions endpoint), one exchange serves every client, Python agrees, nothing reaches a
//! file, and a failure is reported and never falls back to a stored token.

use super::*;

/// How the CI job gets its id token in an OIDC test.
#[derive(Clone, Copy, Debug)]
enum IdToken {
    /// `HF_OIDC_ID_TOKEN`, minted beforehand.
    Given,
    /// `GITHUB_ACTIONS=true` and the Actions runtime's request URL and token.
    Actions,
}

const RUNNER: &str = "ghs_runner_request_token_QQQQQQQQQQQQQQQQQQQ";

/// A CI shell: a stored personal token (active), so a fallback to it would show, and the OIDC
/// environment for `acme/x`. Returns the id token when given.
async fn ci_shell(hub: &Hub, how: IdToken) -> (World, Option<String>) {
    let mut w = shell(hub, None, &[PERSONAL]).await;
    w.set_env("HF_OIDC_RESOURCE", "acme/x");
    match how {
        IdToken::Given => {
            let id = hub.hub.trust_id_token(ci_bot());
            w.set_env("HF_OIDC_ID_TOKEN", &id);
            (w, Some(id))
        }
        IdToken::Actions => {
            hub.hub.add_actions_runner(RUNNER, ci_bot());
            w.set_env("GITHUB_ACTIONS", "true");
            w.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", hub.hub.actions_url());
            w.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", RUNNER);
            (w, None)
        }
    }
}

/// Every file under `dir` that contains `secret`.
fn files_containing(dir: &std::path::Path, secret: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => found.extend(files_containing(&path, secret)),
            Ok(t) if t.is_file() => {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(secret.len()).any(|w| w == secret.as_bytes()) {
                    found.push(path);
                }
            }
            _ => {}
        }
    }
    found
}

/// `hf-auth token` and a real `git push` in a CI job use the exchanged token; one exchange serves
/// every client for the token's life; Python's `get_token()` gets the same token (the fake Hub's
/// exchange yields one token per job and resource, so equal tokens mean the same identity and
/// scope, and Python makes its own exchange: it does not share our cache); the exchanged token
/// and the id token never reach a file.
async fn ci_job_uses_the_exchanged_token(how: IdToken) {
    let hub = hub().await;
    let (w, id) = ci_shell(&hub, how).await;
    let exchanged = hub.hub.oidc_token(&ci_bot(), "acme/x");
    hub.git.allow_token_pushing(&exchanged, "ci-bot", Push::to(&["acme"]));
    let get = format!("protocol=http\nhost={}\npath=acme/x.git\n\n", hub.git.host());

    // The first clients arrive together (a daemon is up already, so they race for the exchange).
    w.run("hf-auth", &["status"], None).await.ok();
    let (a, b, c) = tokio::join!(
        w.run("hf-auth", &["token"], None),
        w.run("hf-auth", &["token"], None),
        w.run("git-credential-hf", &["get"], Some(&get))
    );
    assert_eq!((a.ok().stdout().trim(), b.ok().stdout().trim()), (exchanged.as_str(), exchanged.as_str()), "{how:?}");
    assert!(c.ok().stdout().contains(&format!("password={exchanged}")), "{how:?}");
    assert_eq!(w.run("hf-auth", &["token"], None).await.ok().stdout().trim(), exchanged, "{how:?}");
    let j = which(&w, &[]).await;
    assert_eq!(j["reason"], "oidc", "{j}");
    let r = w.run("hf-auth", &["whoami", "--json"], None).await.ok();
    assert!(r.stdout().contains("\"ci-bot\""), "{}", r.stdout());
    clone(&w, &hub, "acme/x", "x").await;
    let mark = hub.git.attempts().len();
    push(&w, "x", "from ci").await.ok();
    push(&w, "x", "again").await.ok();
    assert_eq!(pushed_to(&hub, "acme/x", mark), std::slice::from_ref(&exchanged), "{how:?}");
    assert!(!hub.git.attempts().iter().any(|a| a.presented.as_deref() == Some(PERSONAL)), "no fallback");

    assert_eq!(hub.hub.oidc_exchanges(), 1, "{how:?}: one exchange for every client");
    assert_eq!(status(&w).await["oidc_exchanges"], 1);
    if let IdToken::Actions = how {
        assert_eq!(hub.hub.requests(ACTIONS_ID_TOKEN), 1, "one id token minted");
        let query = hub.hub.last_query(ACTIONS_ID_TOKEN).unwrap_or_default();
        let audience = format!("audience={}", hub.git.url().replace(':', "%3A").replace('/', "%2F"));
        assert!(query.contains("api-version=2.0") && query.contains(&audience), "{query}");
        let auth = hub.hub.last_header(ACTIONS_ID_TOKEN, "authorization");
        assert_eq!(auth.as_deref(), Some(format!("Bearer {RUNNER}").as_str()));
    }
    let sent = hub.hub.last_json(TOKEN).expect("a JSON exchange");
    assert_eq!(sent["grant_type"], "urn:ietf:params:oauth:grant-type:token-exchange");
    assert_eq!(sent["subject_token_type"], "urn:ietf:params:oauth:token-type:id_token");
    assert_eq!(sent["resource"], "acme/x");
    if let Some(id) = &id {
        assert_eq!(sent["subject_token"].as_str(), Some(id.as_str()));
    }

    if let Some(py) = python::python() {
        let code = "from huggingface_hub import get_token; print(get_token())";
        let r = w.run_program(&py, &["-c", code], None).await.ok();
        assert_eq!(r.stdout().trim(), exchanged, "{how:?}: Python and we agree");
        assert_eq!(hub.hub.oidc_exchanges(), 2, "Python made its own exchange");
        assert_eq!(status(&w).await["oidc_exchanges"], 1, "ours is still the one");
    }

    // Memory only: neither the exchanged token nor the id token is in any file of this world
    // (homes, config, state, the daemon's log, git's config and clones).
    w.run("hf-auth", &["daemon", "stop"], None).await;
    assert_eq!(files_containing(w.dir.path(), &exchanged), Vec::<PathBuf>::new(), "{how:?}");
    if let Some(id) = &id {
        assert_eq!(files_containing(w.dir.path(), id), Vec::<PathBuf>::new());
    }
    assert_eq!(w.token_file().as_deref(), Some(PERSONAL));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_with_a_given_id_token_serves_hf_auth_token_git_and_python_alike() {
    ci_job_uses_the_exchanged_token(IdToken::Given).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_with_github_actions_minting_serves_hf_auth_token_git_and_python_alike() {
    ci_job_uses_the_exchanged_token(IdToken::Actions).await;
}

/// Runs `hf-auth token` and expects the OIDC failure containing `detail`, with no token printed.
async fn assert_oidc_fails(w: &World, detail: &str) {
    let r = w.run("hf-auth", &["token"], None).await;
    assert_eq!((r.code(), r.stdout().as_str()), (1, ""), "{}", r.stderr());
    assert!(r.stderr().contains("OIDC Exchange failed.") && r.stderr().contains(detail), "{}", r.stderr());
    assert!(!r.stderr().contains(PERSONAL));
}

// An exchange failure is an error with the Hub's reason, never the stored token; it is not
// cached (the next try asks again); git's push fails rather than using the personal token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oidc_failure_is_reported_and_never_falls_back_to_the_stored_token() {
    let hub = hub().await;
    let (mut w, _) = ci_shell(&hub, IdToken::Given).await;
    // The Hub refuses the exchange (401), then accepts it.
    hub.hub.set_mode(TOKEN, Mode::Status(401));
    assert_oidc_fails(&w, "HTTP 401").await;
    let r = w.run("hf-auth", &["which"], None).await;
    assert_eq!(r.code(), 1, "which fails the same way: {}", r.stdout());
    let url = format!("{}/acme/x.git", hub.git.url());
    let r = run_git(&w, &["clone", "--quiet", &url, "x"], None).await;
    assert_ne!(r.code(), 0, "git fails rather than use the stored token");
    assert!(r.stderr().contains("OIDC Exchange failed."), "git shows why: {}", r.stderr());
    assert!(!hub.git.attempts().iter().any(|a| a.presented.as_deref() == Some(PERSONAL)), "no fallback");
    hub.hub.set_mode(TOKEN, Mode::Normal);
    assert_eq!(w.run("hf-auth", &["token"], None).await.ok().stdout().trim(), hub.hub.oidc_token(&ci_bot(), "acme/x"));

    // An id token no trusted publisher accepts: the Hub's error body is shown. OIDC comes first,
    // as in huggingface_hub: an HF_TOKEN beside it is no fallback either.
    w.set_env("HF_OIDC_ID_TOKEN", "eyJhbGciOiJSUzI1NiJ9.untrusted.sig");
    w.set_env("HF_TOKEN", READER);
    assert_oidc_fails(&w, "invalid_grant").await;
    let get = format!("protocol=http\nhost={}\npath=acme/x.git\n\n", hub.git.host());
    let r = w.run("git-credential-hf", &["get"], Some(&get)).await.ok();
    assert_eq!(r.stdout(), "", "git gets no token");
    assert!(r.stderr().contains("OIDC Exchange failed."), "git shows why: {}", r.stderr());
    if let Some(py) = python::python() {
        let r = w.run_program(&py, &["-c", "from huggingface_hub import get_token; print(get_token())"], None).await;
        assert_ne!(r.code(), 0, "Python refuses too: {}", r.stdout());
    }
    w.unset_env("HF_TOKEN");

    // GitHub Actions refuses to mint (a job without `id-token: write`).
    w.unset_env("HF_OIDC_ID_TOKEN");
    w.set_env("GITHUB_ACTIONS", "true");
    w.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", hub.hub.actions_url());
    w.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "ghs_not_a_runner");
    assert_oidc_fails(&w, "GitHub Actions answered HTTP 403").await;
    // Not in CI at all: HF_OIDC_RESOURCE alone.
    w.unset_env("GITHUB_ACTIONS");
    assert_oidc_fails(&w, "no OIDC id token is available").await;
    assert_eq!(w.token_file().as_deref(), Some(PERSONAL));
}

// The cache keeps an exchanged token for its life, minus 5 minutes when the id token was minted
// (a new one can be minted; a given one cannot): with `expires_in = 301`, a minted id token's
// exchange is redone a second later, a given one's is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minted_id_tokens_exchange_is_redone_five_minutes_early_a_given_ones_is_not() {
    let hub = hub().await;
    hub.hub.set_oidc_expires_in(301);
    let (given, _) = ci_shell(&hub, IdToken::Given).await;
    let (minted, _) = ci_shell(&hub, IdToken::Actions).await;
    for w in [&given, &minted] {
        w.run("hf-auth", &["token"], None).await.ok();
    }
    assert_eq!(hub.hub.oidc_exchanges(), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    given.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(hub.hub.oidc_exchanges(), 2, "a given id token's exchange lasts its whole life");
    minted.run("hf-auth", &["token"], None).await.ok();
    assert_eq!(hub.hub.oidc_exchanges(), 3, "a minted one's is redone within the margin");
    assert_eq!(hub.hub.requests(ACTIONS_ID_TOKEN), 2, "with a freshly minted id token");
}
