//! The daemon's `config.toml` is held to the home files' rules: one in a directory another user
//! owns (planted first in a shared sticky directory, as `XDG_CONFIG_HOME=/tmp` or `HOME=/tmp`
//! would have it) is refused, never obeyed. Obeyed, its `[[route]]` rules would choose which of
//! the victim's tokens every request gets, and its `default_endpoint` where unrecorded refresh
//! tokens may go.

use super::{NOBODY, as_nobody};
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::procs::World;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MAIN: &str = "hf_cfgMainMMMMMMMMMMMMMMMMMMMMMMMMMMMMM";
const OTHER: &str = "hf_cfgOtherOOOOOOOOOOOOOOOOOOOOOOOOOOOO";

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_planted_by_another_user_in_a_shared_directory_is_refused() {
    if as_nobody(Path::new("/bin/true")).is_none() {
        return;
    }
    let hub = FakeHub::start().await;
    hub.add_token(MAIN, Account::user("alice").with_token_name("main", "write"));
    hub.add_token(OTHER, Account::user("alice").with_token_name("other", "write"));
    let mut w = World::new(&hub.endpoint());
    chmod(w.dir.path(), 0o755);
    // The victim's own home: two stored tokens, `main` active.
    let stored = w.hf_home().join("stored_tokens");
    std::fs::write(&stored, format!("[main]\nhf_token = {MAIN}\n\n[other]\nhf_token = {OTHER}\n")).unwrap();
    std::fs::write(w.hf_home().join("token"), MAIN).unwrap();
    chmod(&stored, 0o600);
    chmod(&w.hf_home().join("token"), 0o600);
    // A shared sticky directory (root's, 1777, like /tmp) that XDG_CONFIG_HOME names.
    let shared = w.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    chmod(&shared, 0o1777);
    // nobody gets there first: its own hf-auth/config.toml, routing everything to `other`.
    let script = r#"mkdir -m 755 "$1/hf-auth" && printf '[[route]]\ntoken = "other"\ndirs = ["/"]\n' > "$1/hf-auth/config.toml""#;
    let out = as_nobody(Path::new("/bin/sh")).unwrap().args(["-c", script, "sh"]).arg(&shared).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    w.set_env("XDG_CONFIG_HOME", &shared);

    let run = w.run("hf-auth", &["token"], None).await;
    assert!(
        !run.stdout().contains(OTHER),
        "the victim's daemon obeyed another user's config.toml and handed out the token it chose:\n{}{}",
        run.stdout(),
        run.stderr()
    );
    assert_ne!(run.code(), 0, "a config in another user's directory is an error, not silently ignored");
    let log = std::fs::read_to_string(w.dir.path().join("state/hf-auth/hf-authd.log")).unwrap_or_default();
    assert!(log.contains(&format!("owned by uid {NOBODY}")), "the log says whose directory it is:\n{log}");
}
