//! `hf-auth exec`: the child gets the chosen token in `HF_TOKEN` and nothing else changes; the
//! process is replaced, so the exit code, a signal and even the pid are the child's.

use hf_auth_tests::procs::{World, bin};
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

const FILE_TOKEN: &str = "hf_exec_file_AAAAAAAAAAAAAAAAAAAAAAAAAAAA";

fn world() -> World {
    let w = World::new("http://127.0.0.1:9");
    std::fs::write(w.hf_home().join("token"), FILE_TOKEN).unwrap();
    w
}

/// `env -0` output as a map.
fn env_map(bytes: &[u8]) -> BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            let (k, v) = kv.split_once('=')?;
            Some((k.to_owned(), v.to_owned()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_child_sees_the_token_and_nothing_else_changes() {
    let mut w = world();
    w.set_env("KEEP_ME", "as it was");
    let direct = w.run_program(std::path::Path::new("/usr/bin/env"), &["-0"], None).await.ok();
    let via = w.run("hf-auth", &["exec", "--", "/usr/bin/env", "-0"], None).await.ok();
    let (mut before, mut after) = (env_map(&direct.0.stdout), env_map(&via.0.stdout));
    assert_eq!(after.remove("HF_TOKEN").as_deref(), Some(FILE_TOKEN));
    assert_eq!(before.remove("HF_TOKEN"), None);
    assert_eq!(before, after, "exec changed more than HF_TOKEN");
    assert!(via.stderr().is_empty(), "no note without an env token: {}", via.stderr());

    // The legacy variable is the one in force: it becomes HF_TOKEN, and is removed.
    w.set_env("HUGGING_FACE_HUB_TOKEN", "hf_legacy_LLLLLLLLLLLLLLLLLLLLLLLLL");
    let via = w.run("hf-auth", &["exec", "--", "/usr/bin/env", "-0"], None).await.ok();
    let after = env_map(&via.0.stdout);
    assert_eq!(after.get("HF_TOKEN").map(String::as_str), Some("hf_legacy_LLLLLLLLLLLLLLLLLLLLLLLLL"));
    assert!(!after.contains_key("HUGGING_FACE_HUB_TOKEN"));
    assert!(via.stderr().contains("`HUGGING_FACE_HUB_TOKEN` is already set"), "{}", via.stderr());

    // An HF_TOKEN already set wins (huggingface_hub's precedence), with a note on stderr.
    w.set_env("HF_TOKEN", "hf_already_set_SSSSSSSSSSSSSSSSSSSSSS");
    let via = w.run("hf-auth", &["exec", "--", "sh", "-c", "printf %s \"$HF_TOKEN\""], None).await.ok();
    assert_eq!(via.stdout(), "hf_already_set_SSSSSSSSSSSSSSSSSSSSSS");
    assert!(via.stderr().contains("`HF_TOKEN` is already set in the environment and wins"), "{}", via.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_code_signal_and_pid_are_the_childs() {
    let w = world();
    let r = w.run("hf-auth", &["exec", "--", "sh", "-c", "exit 7"], None).await;
    assert_eq!(r.code(), 7, "{}", r.stderr());
    let r = w.run("hf-auth", &["exec", "--", "sh", "-c", "kill -TERM $$; sleep 5"], None).await;
    assert_eq!(r.0.status.signal(), Some(libc_sigterm()), "{:?} {}", r.0.status, r.stderr());
    // exec(2): the shell runs in hf-auth's own process.
    let mut cmd = w.command(bin("hf-auth"));
    cmd.args(["exec", "--", "sh", "-c", "echo $$"]).stdout(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
    // Flags of the command are its own, not ours.
    let r = w.run("hf-auth", &["exec", "--", "sh", "-c", "echo \"$0 $1\"", "--json", "-q"], None).await.ok();
    assert_eq!(r.stdout().trim(), "--json -q");
}

/// SIGTERM (15 on Linux and macOS).
fn libc_sigterm() -> i32 {
    15
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_no_run_and_a_missing_program_is_127() {
    let w = World::new("http://127.0.0.1:9");
    let marker = w.dir.path().join("ran");
    let script = format!("touch {}", marker.display());
    let r = w.run("hf-auth", &["exec", "--", "sh", "-c", &script], None).await;
    assert_eq!(r.code(), 1);
    assert!(r.stderr().contains("Not logged in"), "{}", r.stderr());
    assert!(!marker.exists(), "the command ran without a token");

    let w = world();
    let r = w.run("hf-auth", &["exec", "--", "/nonexistent/program"], None).await;
    assert_eq!(r.code(), 127, "{}", r.stderr());
    assert!(r.stderr().contains("/nonexistent/program"), "{}", r.stderr());
    assert!(!r.stderr().contains(FILE_TOKEN));
}
