//! Concurrent writers on one home: the daemon (client RPCs), Python's `hf auth login/switch/logout`
//! (the venv's CLI, against the fake Hub) and an editor-style writer (temp file + rename over
//! `stored_tokens`), all at once. No section is lost, none comes back, and the daemon's view
//! converges to the file.
//!
//! What "no section lost" can promise, precisely: huggingface_hub's `_save_token` and
//! `_logout_from_token` read-modify-write `stored_tokens` WITHOUT a lock (only its OAuth refresh takes
//! `stored_tokens.lock`), and so does an editor. A blind read-modify-write drops whatever another
//! writer saved between its read and its write, whoever that other writer is, and no lock held by
//! the daemon can prevent it. So the promise is for writers that hold huggingface_hub's lock, and
//! this test constructs exactly that: each Python command runs inside huggingface_hub's own
//! `WeakFileLock(HF_STORED_TOKENS_PATH + ".lock")` (the lock its refresh path takes; the commands
//! run one after another), and the editor takes the same `flock` around its read, write and rename.
//! The daemon takes it natively. Under that protocol every section must survive.

use super::{connect, context_for, listed_names, parsed_sections};
use hf_auth_proto::pb;
use hf_auth_tests::fake_hub::{Account, FakeHub};
use hf_auth_tests::harness::TestDaemon;
use hf_auth_tests::python;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Generous: the promise is 100 ms, CI machines are noisy; the measured figure is printed.
const CONVERGE_LIMIT: Duration = Duration::from_secs(2);
/// Bound on the daemon's and the editor's writes (they stop when Python's commands are done).
const MAX_WRITES: usize = 200;
/// Between two writes of the daemon, and of the editor.
const PACE: Duration = Duration::from_millis(40);

fn daemon_token(k: usize) -> String {
    format!("hf_daemon{k}_DDDDDDDDDDDDDDDDDDDDDDDDDDDDDD")
}

fn python_token(k: usize) -> String {
    format!("hf_python{k}_PPPPPPPPPPPPPPPPPPPPPPPPPPPPPP")
}

/// Runs the venv's `hf` CLI (its `main`) inside huggingface_hub's own lock on `stored_tokens.lock`.
const LOCKED_HF: &str = r#"
import sys
from huggingface_hub import constants
from huggingface_hub.utils._fixes import WeakFileLock
from huggingface_hub.cli.hf import main
sys.argv = ["hf"] + sys.argv[1:]
with WeakFileLock(constants.HF_STORED_TOKENS_PATH + ".lock", timeout=30):
    code = main()
sys.exit(code or 0)
"#;

fn locked_hf(py: &Path, home: &Path, endpoint: &str, args: &[&str]) {
    let out = std::process::Command::new(py)
        .arg("-c")
        .arg(LOCKED_HF)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.parent().expect("home has a parent"))
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env("HF_HUB_DISABLE_UPDATE_CHECK", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "hf {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An editor's save: read, add a section, write a temp file, rename it over `stored_tokens` —
/// holding the lock a well-behaved tool takes.
fn editor_add_section(home: &Path, name: &str, token: &str) -> Instant {
    use std::os::unix::fs::OpenOptionsExt;
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o664)
        .open(home.join("stored_tokens.lock"))
        .expect("open lock");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).expect("flock");
    let mut text = std::fs::read_to_string(home.join("stored_tokens")).unwrap_or_default();
    text.push_str(&format!("[{name}]\nhf_token = {token}\n\n"));
    let tmp: PathBuf = home.join(".stored_tokens.swp");
    std::fs::write(&tmp, text).expect("write swap file");
    std::fs::rename(&tmp, home.join("stored_tokens")).expect("rename over stored_tokens");
    let at = Instant::now();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::Unlock).expect("unlock");
    at
}

fn file_names(home: &Path) -> BTreeSet<String> {
    let bytes = std::fs::read(home.join("stored_tokens")).expect("stored_tokens");
    parsed_sections(&bytes).expect("stored_tokens parses").into_iter().map(|(n, _)| n).collect()
}

/// Polls List every millisecond until it equals the file; the time taken.
async fn converge(c: &mut hf_auth::connect::Client, ctx: &pb::ClientContext, home: &Path, since: Instant) -> Duration {
    loop {
        let want: Vec<String> = file_names(home).into_iter().collect();
        if listed_names(c, ctx).await.expect("list") == want {
            return since.elapsed();
        }
        assert!(since.elapsed() < CONVERGE_LIMIT, "List did not converge to the file within {CONVERGE_LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_python_hf_and_an_editor_lose_no_section_and_the_daemon_converges() {
    let Some(py) = python::python() else { return };
    let hub = FakeHub::start().await;
    for k in 0..MAX_WRITES {
        hub.add_token(&daemon_token(k), Account::user("alice").with_token_name(&format!("d-{k}"), "write"));
    }
    for k in 0..3 {
        hub.add_token(&python_token(k), Account::user("bob").with_token_name(&format!("p-{k}"), "write"));
    }
    let scratch = tempfile::Builder::new().prefix("hfwriters").tempdir().expect("tempdir");
    let home = scratch.path().join("hf");
    std::fs::create_dir_all(&home).expect("mkdir");
    std::fs::write(home.join("stored_tokens"), "[seed-a]\nhf_token = hf_seed_a\n\n[seed-b]\nhf_token = hf_seed_b\n\n")
        .expect("seed");
    std::fs::write(home.join("token"), "hf_seed_a").expect("seed token");
    let daemon = TestDaemon::start().await;
    let ctx = context_for(&home, &hub.endpoint());
    let mut c = connect(&daemon.socket).await;
    assert_eq!(listed_names(&mut c, &ctx).await.expect("list"), ["seed-a", "seed-b"]);

    let started = Instant::now();
    let python_done = Arc::new(AtomicBool::new(false));
    let python = {
        let (py, home, endpoint, done) = (py.clone(), home.clone(), hub.endpoint(), python_done.clone());
        std::thread::spawn(move || {
            let steps: [[&str; 4]; 6] = [
                ["auth", "login", "--token", &python_token(0)],
                ["auth", "login", "--token", &python_token(1)],
                ["auth", "switch", "--token-name", "seed-a"],
                ["auth", "login", "--token", &python_token(2)],
                ["auth", "logout", "--token-name", "p-0"],
                ["auth", "switch", "--token-name", "p-1"],
            ];
            for args in steps {
                locked_hf(&py, &home, &endpoint, &args);
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    // The editor and the daemon write for as long as Python does.
    let editor = {
        let (home, done) = (home.clone(), python_done.clone());
        std::thread::spawn(move || {
            let mut added = BTreeSet::new();
            while !done.load(Ordering::SeqCst) && added.len() < MAX_WRITES {
                let k = added.len();
                editor_add_section(&home, &format!("e-{k}"), &format!("hf_editor{k}_EEEEEEEEEEEEEEEEEEEEEE"));
                added.insert(format!("e-{k}"));
                std::thread::sleep(PACE);
            }
            added
        })
    };
    let mut daemon_kept = BTreeSet::new();
    let mut daemon_writes = 0;
    for k in 0..MAX_WRITES {
        if python_done.load(Ordering::SeqCst) {
            break;
        }
        let r = c.login(pb::LoginRequest { context: Some(ctx.clone()), token: daemon_token(k) }).await;
        assert_eq!(r.expect("daemon login").into_inner().token_name, format!("d-{k}"));
        daemon_kept.insert(format!("d-{k}"));
        daemon_writes += 1;
        if k % 3 == 0 {
            let r = c.switch(pb::SwitchRequest { context: Some(ctx.clone()), token_name: "seed-b".into() }).await;
            r.expect("daemon switch");
            daemon_writes += 1;
        }
        if k % 2 == 1 {
            let name = format!("d-{}", k - 1);
            let r = c.logout(pb::LogoutRequest { context: Some(ctx.clone()), token_name: Some(name.clone()) }).await;
            r.expect("daemon logout");
            daemon_kept.remove(&name);
            daemon_writes += 1;
        }
        tokio::time::sleep(PACE).await;
    }
    let editor_added = tokio::task::spawn_blocking(move || {
        python.join().expect("python writer");
        editor.join().expect("editor writer")
    })
    .await
    .expect("join writers");
    let writers_done = Instant::now();
    eprintln!(
        "writers: {daemon_writes} daemon writes, 6 Python `hf auth` commands and {} editor renames, concurrently, in \
         {:.1?}",
        editor_added.len(),
        started.elapsed()
    );
    assert!(daemon_writes >= 4 && editor_added.len() >= 4, "the writers hardly overlapped");

    let mut expected: BTreeSet<String> = ["seed-a", "seed-b", "p-1", "p-2"].map(String::from).into();
    expected.extend(daemon_kept);
    expected.extend(editor_added);
    assert_eq!(file_names(&home), expected, "sections lost or resurrected on disk");
    let after_all = converge(&mut c, &ctx, &home, writers_done).await;
    // The active token too: whoever switched last, the daemon's Resolve is the token file's.
    let on_disk = std::fs::read_to_string(home.join("token")).expect("token file");
    let r = c.resolve(pb::ResolveRequest { context: Some(ctx.clone()), username: String::new() }).await;
    assert_eq!(r.expect("resolve").into_inner().token, on_disk.trim(), "Resolve differs from the token file");

    // One last external write, timed from its rename.
    let renamed = {
        let home = home.clone();
        tokio::task::spawn_blocking(move || editor_add_section(&home, "e-last", "hf_editorlast_EEEEEEEEEEEEEEEE"))
            .await
            .expect("editor")
    };
    let last = converge(&mut c, &ctx, &home, renamed).await;
    assert!(listed_names(&mut c, &ctx).await.expect("list").contains(&"e-last".to_owned()));
    eprintln!(
        "writers: {} sections on disk, none lost; List equal to the file {after_all:?} after the writers finished and \
         {last:?} after a final editor rename (promise: 100 ms; asserted: {CONVERGE_LIMIT:?})",
        expected.len() + 1
    );
    daemon.stop().await.expect("daemon stops");
    hub.shutdown().await;
}
