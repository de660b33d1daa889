//! What an autostarted daemon takes from the client that started it: none of its tokens (its
//! environment is scrubbed), not its working directory (`/`), not its session (`setsid`: a hangup
//! or Ctrl-C in the caller's terminal does not reach it).

use hf_auth_tests::procs::{World, bin};
use std::process::Stdio;

const ENV_SECRET: &str = "hf_AutostartEnvSecret_0123456789";
const LEGACY_SECRET: &str = "hf_AutostartLegacySecret_0123456789";
const OTHER_SECRET: &str = "sk-AutostartOtherSecret-0123456789";

#[test]
fn the_autostarted_daemon_has_no_token_its_own_session_and_cwd_root() {
    let w = World::new("http://127.0.0.1:9");
    let cwd = tempfile::tempdir().unwrap();
    let out = w
        .command(bin("hf-auth"))
        .arg("token")
        .env("HF_TOKEN", ENV_SECRET)
        .env("HUGGING_FACE_HUB_TOKEN", LEGACY_SECRET)
        .env("OPENAI_API_KEY", OTHER_SECRET)
        .current_dir(cwd.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), ENV_SECRET, "the request still carried HF_TOKEN");
    let pid = w.daemon_pid().expect("the daemon was autostarted and wrote its pidfile");

    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let vars: Vec<String> = environ.split(|b| *b == 0).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
    for secret in [ENV_SECRET, LEGACY_SECRET, OTHER_SECRET] {
        assert!(!vars.iter().any(|v| v.contains(secret)), "{secret} in the daemon's environment: {vars:?}");
    }
    for name in ["HF_TOKEN=", "HUGGING_FACE_HUB_TOKEN=", "OPENAI_API_KEY="] {
        assert!(!vars.iter().any(|v| v.starts_with(name)), "{name} in the daemon's environment");
    }
    // What it needs is still there: its default home and where to log.
    let hf_home = format!("HF_HOME={}", w.hf_home().display());
    assert!(vars.contains(&hf_home), "{vars:?}");
    assert!(vars.iter().any(|v| v.starts_with("PATH=")), "{vars:?}");

    assert_eq!(std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), std::path::Path::new("/"));

    // /proc/<pid>/stat: "pid (comm) state ppid pgrp session tty_nr ..."; comm may hold spaces.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    assert_eq!(fields[3], pid.to_string(), "session id (stat field 6) is the daemon's own pid: {stat}");
    assert_eq!(fields[2], pid.to_string(), "it leads its own process group: {stat}");
    assert_eq!(fields[4], "0", "no controlling terminal: {stat}");
}
