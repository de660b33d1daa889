//! `client/examples/hf_hub_download.rs`: the real `hf-hub` crate (crates.io 1.x) downloads a
//! private file from the fake Hub with the token our library returns — from the daemon, and
//! from the token file when no daemon runs. Built by `cargo build -p hf-auth --examples`
//! (tests/run.sh does it).

use hf_auth_tests::fake_hub::{Account, FakeHub, Repo};
use hf_auth_tests::harness::{TestDaemon, TestHome};
use hf_auth_tests::procs::bin;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const WORK: &str = "hf_example_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
pub const CONTENT: &str = "{\"model_type\": \"private\"}\n";

/// The built example; `None` (skip) locally when it is not built, a failure under CI.
pub fn example() -> Option<PathBuf> {
    let dir = bin("hf-auth").parent().unwrap().join("examples");
    let path = dir.join("hf_hub_download");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        !std::env::var("CI").is_ok_and(|v| v == "true" || v == "1"),
        "CI=true but {} is not built (cargo build -p hf-auth --examples)",
        path.display()
    );
    eprintln!("SKIPPED: {} is not built; run `cargo build -p hf-auth --examples`", path.display());
    None
}

/// Runs the example for `alice/private config.json` into `dest`, in a scrubbed environment.
pub fn run_example(example: &Path, hf_home: &Path, endpoint: &str, socket: &Path, dest: &Path) -> Output {
    Command::new(example)
        .args(["alice/private", "config.json"])
        .arg(dest)
        .env_clear()
        .env("HOME", hf_home)
        .env("HF_HOME", hf_home)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_AUTH_SOCKET", socket)
        .output()
        .expect("run the example")
}

pub fn private_repo(hub: &FakeHub) {
    hub.add_repo("alice/private", Repo::private().file("config.json", CONTENT).readable_by([WORK]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hf_hub_example_downloads_a_private_file_with_our_token() {
    let Some(example) = example() else { return };
    let hub = FakeHub::start().await;
    hub.add_token(WORK, Account::user("alice"));
    private_repo(&hub);
    let daemon = TestDaemon::start().await;
    let home = TestHome::new(&hub.endpoint());
    let dest = home.dir.path().join("out");

    // Not logged in: the Hub refuses, the example says so.
    let out = run_example(&example, home.hf_home(), &hub.endpoint(), &daemon.socket, &dest);
    assert!(!out.status.success(), "downloaded a private file without a token");

    home.write_token(WORK.as_bytes());
    let socket = daemon.socket.clone();
    let (ex, hf, ep, d) = (example.clone(), home.hf_home().to_path_buf(), hub.endpoint(), dest.clone());
    let out = tokio::task::spawn_blocking(move || run_example(&ex, &hf, &ep, &socket, &d)).await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("(hf-authd)"), "the token did not come from the daemon: {stderr}");
    assert!(!stderr.contains(WORK), "the example printed the token: {stderr}");
    assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), CONTENT);
    assert_eq!(
        hub.last_header("/alice/private/resolve/main/config.json", "authorization"),
        Some(format!("Bearer {WORK}"))
    );

    // No daemon: the library falls back to the token file, as huggingface_hub would.
    std::fs::remove_dir_all(&dest).unwrap();
    let none = home.dir.path().join("no-daemon.sock");
    let out = run_example(&example, home.hf_home(), &hub.endpoint(), &none, &dest);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("no daemon"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dest.join("config.json")).unwrap(), CONTENT);
}
