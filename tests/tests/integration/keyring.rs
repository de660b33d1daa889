//! Keyring storage against a real Secret Service (gnome-keyring in a private D-Bus session).
//!
//! Run them with `tests/keyring-session.sh cargo test -p hf-auth-tests --test integration keyring`.
//! The script sets `HF_AUTH_KEYRING_SESSION=1`; without it these tests are skipped locally (so a
//! plain `cargo test` never touches your desktop keyring) and fail under `CI=true`. The one test
//! about a missing D-Bus session needs no keyring and always runs.
//!
//! - here: login/list/switch/logout, migrate both ways (and interrupted), restoring a deleted
//!   token file, the CLI's storage commands with Python reading the mirror;
//! - [`oauth`]: browser logins and their refresh, inside the keyring;
//! - [`no_mirror`]: `mirror_token_file = false`, no secret on disk at all;
//! - [`python_client`]: `hf_auth.install()` lets huggingface_hub (and hf-hub) download with no token on disk;
//! - [`unavailable`]: a locked keyring, no D-Bus session: clear errors, no plain-text fallback.

use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::{TestDaemon, TestHome, eventually};
use hf_auth_tests::procs::{World, bin};
use hf_auth_tests::python;
use hf_authd::config::{Config, StorageMode};
use hf_authd::store::keyring::{KeyringError, KeyringSettings, Secret, Vault};
use std::path::Path;
use std::time::Duration;

mod no_mirror;
mod oauth;
mod python_client;
mod unavailable;

const WORK: &str = "hf_valid_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const READ: &str = "hf_read_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

/// Inside `tests/keyring-session.sh`? Skips (false) outside it, panics under CI.
fn keyring_session() -> bool {
    if std::env::var("HF_AUTH_KEYRING_SESSION").is_ok_and(|v| v == "1") {
        assert!(
            std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
            "HF_AUTH_KEYRING_SESSION=1 but no DBUS_SESSION_BUS_ADDRESS"
        );
        return true;
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("CI=true but the keyring tests are not running under tests/keyring-session.sh");
    }
    eprintln!("SKIPPED: keyring tests need tests/keyring-session.sh (a private D-Bus session with gnome-keyring)");
    false
}

async fn hub() -> FakeHub {
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice").with_token_name("work-token", "write"));
    hub.add_token(READ, Account::user("alice").with_token_name("read-token", "read"));
    hub
}

fn keyring_config() -> Config {
    Config { storage: StorageMode::Keyring, ..Default::default() }
}

/// The keyring's secret for a token of `home`, read as the daemon reads it (no cache).
fn in_keyring(hf_home: &Path, name: &str) -> Option<String> {
    let dir = std::fs::canonicalize(hf_home).expect("canonical home");
    let paths = hf_auth_proto::HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") };
    let vault = Vault::default();
    let kr = vault.keyring(&paths, KeyringSettings::default());
    match kr.get(name) {
        Ok(t) => Some(t.expose().to_owned()),
        Err(KeyringError::Missing(_)) => None,
        Err(e) => panic!("keyring: {e}"),
    }
}

/// How many keyring items belong to this home (duplicates would show here).
fn entries_of(hf_home: &Path) -> usize {
    let stored = std::fs::canonicalize(hf_home).expect("canonical home").join("stored_tokens");
    let out = std::process::Command::new("secret-tool")
        .args(["search", "--all", "service", "hf-auth"])
        .output()
        .expect("run secret-tool (apt-get install libsecret-tools)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let needle = format!("attribute.username = {}:", stored.display());
    text.lines().filter(|l| l.starts_with(&needle)).count()
}

/// Every file under `dir`, read whole: a secret must not be in any of them.
fn files_containing(dir: &Path, secret: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return hits };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            hits.extend(files_containing(&path, secret));
        } else if std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains(secret)) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

async fn login(daemon: &TestDaemon, home: &TestHome, token: &str) -> Result<pb::LoginResponse, tonic::Status> {
    let mut c = daemon.client().await;
    c.login(pb::LoginRequest { context: home.context(), token: token.into() }).await.map(|r| r.into_inner())
}

async fn list(daemon: &TestDaemon, home: &TestHome) -> pb::ListResponse {
    daemon.client().await.list(pb::ListRequest { context: home.context() }).await.unwrap().into_inner()
}

async fn migrate(daemon: &TestDaemon, home: &TestHome, to: pb::Storage) -> pb::MigrateStorageResponse {
    let mut c = daemon.client().await;
    c.migrate_storage(pb::MigrateStorageRequest { context: home.context(), to: to as i32 }).await.unwrap().into_inner()
}

/// The record a login at the fake Hub (not the default endpoint) leaves in a section.
fn rec(hub: &FakeHub) -> String {
    format!("hf_auth_endpoint = {}\n", hub.endpoint())
}

fn stored(home: &TestHome) -> String {
    String::from_utf8(home.stored_file().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_list_switch_logout_in_keyring_mode() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let daemon = TestDaemon::start_with(keyring_config()).await;
    let home = TestHome::new(&hub.endpoint());

    let r = login(&daemon, &home, WORK).await.unwrap();
    assert_eq!(r.storage, pb::Storage::Keyring as i32);
    // The secret is in the keyring, not in stored_tokens; the token file mirrors the active one.
    let rec = rec(&hub);
    assert_eq!(stored(&home), format!("[work-token]\nstorage = keyring\n{rec}\n"));
    assert_eq!(home.token_file().unwrap(), WORK.as_bytes());
    assert_eq!(in_keyring(home.hf_home(), "work-token").as_deref(), Some(WORK));
    login(&daemon, &home, READ).await.unwrap();
    assert_eq!(
        stored(&home),
        format!("[read-token]\nstorage = keyring\n{rec}\n[work-token]\nstorage = keyring\n{rec}\n")
    );
    assert_eq!(home.token_file().unwrap(), READ.as_bytes());

    let l = list(&daemon, &home).await;
    let rows: Vec<_> = l.tokens.iter().map(|t| (t.name.as_str(), t.masked.as_str(), t.active, t.storage)).collect();
    let k = pb::Storage::Keyring as i32;
    assert_eq!(rows, vec![("read-token", "hf_****BBBB", true, k), ("work-token", "hf_****AAAA", false, k)]);

    let mut c = daemon.client().await;
    let st = c.status(pb::StatusRequest { context: home.context() }).await.unwrap().into_inner();
    assert_eq!((st.configured_storage, st.active_storage, st.active_name.as_str()), (k, k, "read-token"));

    c.switch(pb::SwitchRequest { context: home.context(), token_name: "work-token".into() }).await.unwrap();
    assert_eq!(home.token_file().unwrap(), WORK.as_bytes());

    // A fresh daemon knows no secret yet: switch reads the keyring, list warms its cache.
    daemon.stop().await.unwrap();
    let daemon = TestDaemon::start_with(keyring_config()).await;
    let mut c = daemon.client().await;
    c.switch(pb::SwitchRequest { context: home.context(), token_name: "read-token".into() }).await.unwrap();
    assert_eq!(home.token_file().unwrap(), READ.as_bytes());
    let l = list(&daemon, &home).await;
    let masks: Vec<_> = l.tokens.iter().map(|t| (t.name.as_str(), t.masked.as_str(), t.active)).collect();
    assert_eq!(masks, vec![("read-token", "hf_****BBBB", true), ("work-token", "hf_****AAAA", false)]);
    let r = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    assert_eq!((r.get_ref().token.as_str(), r.get_ref().name.as_str()), (READ, "read-token"));

    // Logout of the active token: its entry, its section and the token file go.
    let r = c
        .logout(pb::LogoutRequest { context: home.context(), token_name: Some("read-token".into()) })
        .await
        .unwrap()
        .into_inner();
    assert!(r.active_deleted);
    assert_eq!(in_keyring(home.hf_home(), "read-token"), None);
    assert!(home.token_file().is_none());
    assert_eq!(stored(&home), format!("[work-token]\nstorage = keyring\n{rec}\n"));
    c.logout(pb::LogoutRequest { context: home.context(), token_name: None }).await.unwrap();
    assert_eq!(entries_of(home.hf_home()), 0);
    assert!(home.stored_file().is_none());
    assert!(files_containing(home.dir.path(), WORK).is_empty() && files_containing(home.dir.path(), READ).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_both_ways_keeps_every_token_and_survives_interruption() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    login(&daemon, &home, WORK).await.unwrap();
    login(&daemon, &home, READ).await.unwrap();
    let file_bytes = home.stored_file().unwrap();
    let k = pb::Storage::Keyring;

    let r = migrate(&daemon, &home, k).await;
    assert_eq!((r.moved, r.already), (2, 0));
    let rec = rec(&hub);
    assert_eq!(
        stored(&home),
        format!("[read-token]\nstorage = keyring\n{rec}\n[work-token]\nstorage = keyring\n{rec}\n")
    );
    assert_eq!(in_keyring(home.hf_home(), "work-token").as_deref(), Some(WORK));
    assert_eq!(in_keyring(home.hf_home(), "read-token").as_deref(), Some(READ));
    assert_eq!(home.token_file().unwrap(), READ.as_bytes(), "the active token stays mirrored");
    // New logins follow the choice.
    let mut c = daemon.client().await;
    let st = c.status(pb::StatusRequest { context: home.context() }).await.unwrap().into_inner();
    assert_eq!(st.configured_storage, k as i32);
    let r = migrate(&daemon, &home, k).await;
    assert_eq!((r.moved, r.already), (0, 2), "a re-run moves nothing twice");

    // Back to the file: Python's bytes again, and the keyring emptied.
    let r = migrate(&daemon, &home, pb::Storage::File).await;
    assert_eq!((r.moved, r.already), (2, 0));
    assert_eq!(home.stored_file().unwrap(), file_bytes);
    assert_eq!(entries_of(home.hf_home()), 0);

    // Interrupted on the way to the keyring: the copy was made, the section not rewritten yet.
    let dir = std::fs::canonicalize(home.hf_home()).unwrap();
    let paths = hf_auth_proto::HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") };
    let vault = Vault::default();
    let kr = vault.keyring(&paths, KeyringSettings::default());
    kr.put("work-token", &Secret::plain(hf_auth_proto::Token::new(WORK))).unwrap();
    let r = migrate(&daemon, &home, k).await;
    assert_eq!((r.moved, r.already), (2, 0));
    assert_eq!(entries_of(home.hf_home()), 2, "no duplicate entry");
    assert_eq!(in_keyring(home.hf_home(), "work-token").as_deref(), Some(WORK));

    // Interrupted on the way back: the file was rewritten, the keyring copies not deleted yet.
    home.write_stored(&file_bytes);
    let r = migrate(&daemon, &home, pb::Storage::File).await;
    assert_eq!((r.moved, r.already), (0, 2));
    assert_eq!(home.stored_file().unwrap(), file_bytes);
    assert_eq!(entries_of(home.hf_home()), 0, "leftover copies removed");
    let names: Vec<_> = list(&daemon, &home).await.tokens.into_iter().map(|t| (t.name, t.storage)).collect();
    let f = pb::Storage::File as i32;
    assert_eq!(names, vec![("read-token".into(), f), ("work-token".into(), f)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_token_file_is_restored_but_a_logout_is_not_undone() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let daemon = TestDaemon::start_with(keyring_config()).await;
    let home = TestHome::new(&hub.endpoint());
    login(&daemon, &home, WORK).await.unwrap();
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    let restored =
        eventually(Duration::from_secs(5), || async { home.token_file().as_deref() == Some(WORK.as_bytes()) }).await;
    assert!(restored.is_some(), "the token file was not restored");

    let mut c = daemon.client().await;
    c.logout(pb::LogoutRequest { context: home.context(), token_name: Some("work-token".into()) }).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(home.token_file().is_none(), "our own logout must stay done");

    // Another program logging out (both files gone, as `hf auth logout` does) is not undone either.
    login(&daemon, &home, READ).await.unwrap();
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    std::fs::remove_file(&home.ctx.paths.stored_tokens).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(home.token_file().is_none());
    let dir = std::fs::canonicalize(home.hf_home()).unwrap();
    let paths = hf_auth_proto::HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") };
    Vault::default().keyring(&paths, KeyringSettings::default()).delete("read-token").unwrap();
}

/// `hf auth logout` unlinks the token file, then `stored_tokens`. A request that reloads the home
/// between the two (it finds the home changed on disk) must not write the token file back from the
/// keyring: reloads on the request path only read. (Before, it restored the file, and the logout
/// left the token on disk.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_between_the_two_unlinks_of_a_logout_does_not_undo_it() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let daemon = TestDaemon::start_with(keyring_config()).await;
    let home = TestHome::new(&hub.endpoint());
    login(&daemon, &home, READ).await.unwrap();
    let mut c = daemon.client().await;
    for _ in 0..3 {
        c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    }
    std::fs::remove_file(&home.ctx.paths.token).unwrap();
    for _ in 0..5 {
        c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    std::fs::remove_file(&home.ctx.paths.stored_tokens).unwrap();
    tokio::time::sleep(hf_authd::home::REPAIR_DELAY * 3).await;
    assert!(home.token_file().is_none(), "a reload between the two unlinks wrote the token file back");
    let r = c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap();
    assert!(r.into_inner().token.is_empty(), "logged out");
    let dir = std::fs::canonicalize(home.hf_home()).unwrap();
    let paths = hf_auth_proto::HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") };
    Vault::default().keyring(&paths, KeyringSettings::default()).delete("read-token").unwrap();
}

async fn resolve(daemon: &TestDaemon, home: &TestHome) -> pb::ResolveResponse {
    let mut c = daemon.client().await;
    c.resolve(pb::ResolveRequest { context: home.context(), username: String::new() }).await.unwrap().into_inner()
}

/// What Resolve answers: the token and where it came from.
async fn resolved(daemon: &TestDaemon, home: &TestHome) -> (String, pb::TokenSource) {
    let r = resolve(daemon, home).await;
    (r.token, pb::TokenSource::try_from(r.source).unwrap())
}

/// The whole keyring entry of a token of `home` (access and refresh token), read afresh.
fn secret_in_keyring(hf_home: &Path, name: &str) -> Option<(String, Option<String>)> {
    let dir = std::fs::canonicalize(hf_home).expect("canonical home");
    let paths = hf_auth_proto::HomePaths { token: dir.join("token"), stored_tokens: dir.join("stored_tokens") };
    let vault = Vault::default();
    let kr = vault.keyring(&paths, KeyringSettings::default());
    match kr.get_secret(name) {
        Ok(s) => Some((s.token.expose().to_owned(), s.refresh.map(|r| r.expose().to_owned()))),
        Err(KeyringError::Missing(_)) => None,
        Err(e) => panic!("keyring: {e}"),
    }
}

/// Runs `script` in a keyring session of its own (locking the shared one would fail the tests
/// running beside it), every step inside it: the daemon the CLI autostarts lives on that bus.
/// Returns its stdout and stderr.
async fn in_own_keyring_session(w: &mut World, script: &str) -> (String, String) {
    let session = python::workspace_root().join("tests/keyring-session.sh");
    w.unset_env("DBUS_SESSION_BUS_ADDRESS");
    let r = w.run_program(&session, &["sh", "-c", script], None).await;
    (r.stdout(), r.stderr())
}

/// What a locked keyring must say (or, when it waits for an unlock prompt, the timeout's message).
fn says_locked(stderr: &str) -> bool {
    stderr.contains("The keyring is locked; unlock it and retry.")
        || stderr.contains("The keyring did not answer within")
}

/// What huggingface_hub 2.4.0's `get_token()` returns in the home `hf_home` (`"None"` for none);
/// `None` when the venv is missing (skipped locally; `python::python` fails under CI).
fn python_get_token(hf_home: &Path) -> Option<String> {
    let py = python::python()?;
    let hf = hf_home.display().to_string();
    let code = "from huggingface_hub import get_token; print(get_token())";
    Some(python::run_ok(&py, code, &[("HF_HOME", hf.as_str()), ("HOME", hf.as_str())]).trim().to_owned())
}

/// A world whose daemon (autostarted by the CLI) uses keyring storage on the test's D-Bus session.
fn keyring_world(endpoint: &str) -> World {
    let mut w = World::new(endpoint);
    let config = w.dir.path().join("config").join("hf-auth");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.toml"), "storage = \"keyring\"\n").unwrap();
    if let Some(bus) = std::env::var_os("DBUS_SESSION_BUS_ADDRESS") {
        w.set_env("DBUS_SESSION_BUS_ADDRESS", bus);
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_storage_commands_and_python_reads_the_mirror() {
    if !keyring_session() {
        return;
    }
    let hub = hub().await;
    let w = keyring_world(&hub.endpoint());
    w.run("hf-auth", &["login", "--token", WORK], None).await.ok();
    let r = w.run("hf-auth", &["storage", "status"], None).await.ok();
    assert_eq!(r.stdout(), "Storage for new logins: keyring\n  work-token: OS keyring\n");
    let r = w.run("hf-auth", &["list"], None).await.ok();
    assert!(r.stdout().contains("* work-token hf_****AAAA keyring"), "{}", r.stdout());
    let r = w.run("hf-auth", &["status"], None).await.ok();
    assert!(r.stdout().contains("`work-token` from the OS keyring"), "{}", r.stdout());
    assert!(!w.stored_file().unwrap().contains(WORK));

    if let Some(seen) = python_get_token(&w.hf_home()) {
        assert_eq!(seen, WORK);
    }

    let r = w.run("hf-auth", &["storage", "migrate", "--to", "file"], None).await.ok();
    assert!(
        r.stdout().starts_with("Moved 1 token(s) to stored_tokens (plain text); 0 already there."),
        "{}",
        r.stdout()
    );
    let config = std::fs::read_to_string(w.dir.path().join("config/hf-auth/config.toml")).unwrap();
    assert_eq!(config, "storage = \"file\"\n");
    assert_eq!(w.stored_file().unwrap(), format!("[work-token]\nhf_token = {WORK}\n{}\n", rec(&hub)));
    let r = w.run("hf-auth", &["storage", "migrate", "--to", "keyring", "--json"], None).await.ok();
    let v: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!((v["moved"].as_u64(), v["already"].as_u64()), (Some(1), Some(0)));
    w.run("hf-auth", &["logout"], None).await.ok();
}
