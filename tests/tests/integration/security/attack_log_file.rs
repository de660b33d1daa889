//! The daemon's log file obeys the home files' link rules: `--log-file` in a shared sticky
//! directory (`/tmp/hf-authd.log`) must not follow a symlink another user planted there first
//! (with `fs.protected_symlinks` off, and as root, the kernel would not stop it), nor append to
//! a file of theirs (which would hand them the log).

use super::{NOBODY, as_nobody};
use hf_auth_tests::procs::bin;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

fn daemon(log: &Path, run: &Path) -> std::process::Output {
    let mut child = Command::new(bin("hf-authd"))
        .arg("--socket")
        .arg(run.join("s.sock"))
        .arg("--log-file")
        .arg(log)
        .arg("--print-ready")
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("HF_HOME", run.join("hf"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    if line.starts_with("ready") {
        let _ = Command::new("kill").arg(child.id().to_string()).status();
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_log_file_link_or_file_planted_in_a_shared_sticky_directory_is_not_used() {
    if as_nobody(Path::new("/bin/true")).is_none() {
        return;
    }
    let t = tempfile::tempdir().unwrap();
    std::fs::set_permissions(t.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let shared = t.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let run = t.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    // A file of root's (the daemon's user) that nobody wants to grow: /etc/passwd, say.
    let victim = t.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();

    // 1. A symlink nobody planted where the log will be.
    let link = shared.join("hf-authd.log");
    let out = as_nobody(Path::new("/bin/ln")).unwrap().arg("-s").arg(&victim).arg(&link).output().unwrap();
    assert!(out.status.success());
    assert_eq!(std::fs::symlink_metadata(&link).unwrap().uid(), NOBODY);
    let out = daemon(&link, &run);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "precious\n",
        "the daemon followed another user's symlink in a sticky directory and wrote its log there: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. A regular file nobody made first, readable by nobody: the log must not go into it.
    let theirs = shared.join("theirs.log");
    let out = as_nobody(Path::new("/bin/sh"))
        .unwrap()
        .args(["-c", "umask 000; : > \"$1\"", "sh"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(out.status.success());
    let _ = daemon(&theirs, &run);
    assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "", "the daemon logged into another user's file");
}
