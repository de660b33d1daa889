//! packaging/install.sh and uninstall.sh, in dry runs: what they would write and run.

use super::{LABEL, arg_after, my_uid, packaging, plist_to_json, program_arguments, read, scrubbed, tempdir, text};
use hf_auth_proto::Env;
use hf_auth_tests::procs::bin;
use std::path::Path;
use std::process::Output;

/// Runs a packaging script with a scrubbed environment: HOME in `home`, plus `env`.
fn script(name: &str, home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = scrubbed("sh");
    cmd.arg(packaging().join(name)).args(args).env("HOME", home).current_dir(home);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run the script")
}

/// The files a dry run would write: `+ write PATH:` followed by the content indented 4 spaces.
fn dry_run_files(out: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in out.lines() {
        // An empty line of the file is printed as four spaces; anything else ends the file.
        if let Some((_, body)) = current.as_mut()
            && let Some(rest) = line.strip_prefix("    ")
        {
            body.push_str(rest);
            body.push('\n');
            continue;
        }
        if let Some(done) = current.take() {
            files.push(done);
        }
        if let Some(path) = line.strip_prefix("+ write ").and_then(|p| p.strip_suffix(':')) {
            current = Some((path.to_owned(), String::new()));
        }
    }
    files.extend(current);
    files
}

#[test]
fn install_dry_run_on_linux_rewrites_exec_start_and_changes_nothing() {
    let home = tempdir("hfinst");
    let bin_dir = bin("hf-authd").parent().expect("bin dir").to_path_buf();
    let bin_dir_s = bin_dir.display().to_string();
    let out = script("install.sh", home.path(), &["--dry-run", "--bin-dir", &bin_dir_s, "--platform", "linux"], &[]);
    let all = text(&out);
    assert!(out.status.success(), "install.sh --dry-run failed:\n{all}");

    let unit_dir = home.path().join(".config/systemd/user");
    let files = dry_run_files(&all);
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    let service_path = unit_dir.join("hf-authd.service").display().to_string();
    let socket_path = unit_dir.join("hf-authd.socket").display().to_string();
    assert_eq!(paths, [socket_path.as_str(), service_path.as_str()], "{all}");

    // The installed service is the shipped one with exactly the ExecStart path changed.
    let shipped = read(&packaging().join("systemd/hf-authd.service"));
    let expected = shipped.replace("ExecStart=/usr/bin/hf-authd ", &format!("ExecStart={bin_dir_s}/hf-authd "));
    assert_ne!(expected, shipped);
    assert_eq!(files[1].1, expected);
    assert_eq!(files[0].1, read(&packaging().join("systemd/hf-authd.socket")));

    let commands: Vec<&str> = all.lines().filter(|l| l.starts_with("+ ") && !l.starts_with("+ write")).collect();
    let stop_autostarted = format!("+ env HF_AUTH_NO_AUTOSTART=1 {bin_dir_s}/hf-auth daemon stop || true");
    assert_eq!(
        commands,
        [
            "+ systemctl --user stop hf-authd.socket hf-authd.service || true",
            stop_autostarted.as_str(),
            "+ systemctl --user daemon-reload",
            "+ systemctl --user enable --now hf-authd.socket",
        ]
    );
    for hint in [
        "systemctl --user status hf-authd.socket hf-authd.service",
        "journalctl --user -u hf-authd.service",
        "uninstall.sh",
    ] {
        assert!(all.contains(hint), "no `{hint}` in:\n{all}");
    }
    assert!(!home.path().join(".config").exists(), "a dry run wrote files");

    // XDG_CONFIG_HOME moves the unit directory, as it does for systemd.
    let xdg = home.path().join("xdg");
    let out = script(
        "install.sh",
        home.path(),
        &["--dry-run", "--bin-dir", &bin_dir_s, "--platform", "linux"],
        &[("XDG_CONFIG_HOME", &xdg.display().to_string())],
    );
    assert!(
        text(&out).contains(&format!("+ write {}/systemd/user/hf-authd.service:", xdg.display())),
        "{}",
        text(&out)
    );
}

#[test]
fn install_refuses_a_bin_dir_systemd_would_misread() {
    let home = tempdir("hfinst");
    let out =
        script("install.sh", home.path(), &["--dry-run", "--bin-dir", "/opt/my bins", "--platform", "linux"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("cannot write /opt/my bins into a unit file"), "{}", text(&out));
}

#[test]
fn install_dry_run_on_macos_fills_the_plist() {
    let home = tempdir("hfinst");
    let tmpdir = "/var/folders/zz/abc/T/";
    let out = script(
        "install.sh",
        home.path(),
        &["--dry-run", "--bin-dir", "/opt/hf&co/bin", "--platform", "macos"],
        &[("TMPDIR", tmpdir)],
    );
    let all = text(&out);
    assert!(out.status.success(), "install.sh --dry-run failed:\n{all}");
    let files = dry_run_files(&all);
    let agent = home.path().join(format!("Library/LaunchAgents/{LABEL}.plist"));
    assert_eq!(files.len(), 1, "{all}");
    assert_eq!(files[0].0, agent.display().to_string());
    assert!(all.contains(&format!("+ launchctl bootstrap gui/{} {}", my_uid(), agent.display())), "{all}");
    assert!(!files[0].1.contains("<string>__"), "a placeholder was left:\n{}", files[0].1);

    let Some(plist) = plist_to_json(files[0].1.as_bytes()) else { return };
    let args = program_arguments(&plist);
    // XML-escaped in the file, the real path once parsed.
    assert_eq!(args[0], "/opt/hf&co/bin/hf-authd");
    let log = home.path().join("Library/Logs/hf-authd.log").display().to_string();
    assert_eq!(arg_after(&args, "--log-file"), Some(log.as_str()));
    // The agent serves the path a client in the installing shell computes.
    let env = Env::from_pairs([("TMPDIR", tmpdir)]);
    let client = hf_auth_proto::socket::socket_path(&env, my_uid()).expect("socket path");
    assert_eq!(arg_after(&args, "--socket"), Some(&*client.to_string_lossy()));
    assert!(!home.path().join("Library").exists(), "a dry run wrote files");
}

#[test]
fn uninstall_dry_run_reverses_the_install_and_spares_the_tokens() {
    let home = tempdir("hfuninst");
    let out = script("uninstall.sh", home.path(), &["--dry-run", "--platform", "linux"], &[]);
    let all = text(&out);
    assert!(out.status.success(), "uninstall.sh --dry-run failed:\n{all}");
    let unit_dir = home.path().join(".config/systemd/user");
    for expected in [
        "+ systemctl --user disable --now hf-authd.socket hf-authd.service || true".to_owned(),
        format!("+ rm -f {0}/hf-authd.socket {0}/hf-authd.service", unit_dir.display()),
        "+ systemctl --user daemon-reload || true".to_owned(),
        "+ cargo uninstall hf-auth || true".to_owned(),
        "+ cargo uninstall hf-authd || true".to_owned(),
        "Your tokens were not touched".to_owned(),
    ] {
        assert!(all.contains(&expected), "no `{expected}` in:\n{all}");
    }
    let out = script("uninstall.sh", home.path(), &["--dry-run", "--platform", "macos", "--no-cargo"], &[]);
    let all = text(&out);
    assert!(all.contains(&format!("+ rm -f {}/Library/LaunchAgents/{LABEL}.plist", home.path().display())), "{all}");
    assert!(!all.contains("cargo uninstall"), "--no-cargo keeps the binaries:\n{all}");
}
