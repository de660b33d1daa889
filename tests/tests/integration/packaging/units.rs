//! The systemd user units: `systemd-analyze verify` (and a broken copy that fails it), and the
//! settings clients and the token files depend on.

use super::{key, packaging, read, tempdir, tool, unit_keys, verify};
use hf_auth_proto::Env;
use hf_auth_tests::procs::bin;
use tempfile::TempDir;

/// The units as shipped, in a temporary directory, ExecStart pointed at the built daemon.
fn units_copy(edit_service: impl Fn(&str) -> String) -> TempDir {
    let dir = tempdir("hfunits");
    let socket = read(&packaging().join("systemd/hf-authd.socket"));
    let service = read(&packaging().join("systemd/hf-authd.service"));
    let daemon = bin("hf-authd").display().to_string();
    let service = service.replace("ExecStart=/usr/bin/hf-authd ", &format!("ExecStart={daemon} "));
    std::fs::write(dir.path().join("hf-authd.socket"), socket).expect("write socket unit");
    std::fs::write(dir.path().join("hf-authd.service"), edit_service(&service)).expect("write service unit");
    dir
}

#[test]
fn systemd_units_pass_verify_and_a_broken_copy_does_not() {
    let Some(analyze) = tool("systemd-analyze", &[]) else { return };
    let units = ["hf-authd.socket", "hf-authd.service"];

    let good = units_copy(str::to_owned);
    let (ok, ours) = verify(&analyze, good.path(), &units);
    assert!(ours.is_empty(), "systemd-analyze verify complained about our units:\n{}", ours.join("\n"));
    assert!(ok, "systemd-analyze verify failed");

    // The check can fail: a typo and a missing binary are reported against our files.
    let broken = units_copy(|s| {
        s.replace("Type=notify", "Tpye=notify").replace(&bin("hf-authd").display().to_string(), "/nonexistent/hf-authd")
    });
    let (ok, ours) = verify(&analyze, broken.path(), &units);
    assert!(!ok, "a broken unit passed verify");
    let all = ours.join("\n");
    assert!(all.contains("Tpye"), "the typo was not reported:\n{all}");
    assert!(all.contains("/nonexistent/hf-authd"), "the missing binary was not reported:\n{all}");
}

#[test]
fn units_listen_where_clients_look_and_keep_token_files_writable() {
    let socket = unit_keys(&read(&packaging().join("systemd/hf-authd.socket")));
    let service = unit_keys(&read(&packaging().join("systemd/hf-authd.service")));

    // %t is $XDG_RUNTIME_DIR in a user manager: the unit's path is the client's default path,
    // so a client never autostarts a second daemon next to the service.
    let runtime = "/run/user/1000";
    let env = Env::from_pairs([("XDG_RUNTIME_DIR", runtime)]);
    let client = hf_auth_proto::socket::socket_path(&env, 1000).expect("socket path");
    assert_eq!(key(&socket, "ListenStream"), [client.to_string_lossy().replace(runtime, "%t")]);
    assert_eq!(key(&socket, "SocketMode"), ["0600"]);
    assert_eq!(key(&socket, "DirectoryMode"), ["0700"]);
    assert_eq!(key(&socket, "Accept"), ["no"]);
    assert_eq!(key(&socket, "WantedBy"), ["sockets.target"]);

    assert_eq!(key(&service, "Type"), ["notify"]);
    assert_eq!(
        key(&service, "ExecStart"),
        ["/usr/bin/hf-authd --log-level info"],
        "install.sh and the .deb rely on it"
    );
    assert_eq!(key(&service, "Restart"), ["on-failure"]);
    assert_eq!(key(&service, "LimitCORE"), ["0"]);
    assert_eq!(key(&service, "ProtectSystem"), ["strict"]);
    // The default home (%h/.cache/huggingface) must stay writable under ProtectSystem=strict,
    // and /tmp must not be private (a client's HF_HOME there would silently diverge).
    let rw: Vec<&str> = key(&service, "ReadWritePaths").iter().flat_map(|v| v.split_whitespace()).collect();
    assert!(rw.contains(&"%h"), "ReadWritePaths = {rw:?}");
    assert!(rw.contains(&"/tmp"), "ReadWritePaths = {rw:?}");
    assert_ne!(key(&service, "PrivateTmp"), ["yes"]);
    assert!(!service.iter().any(|(k, _)| k == "ProtectHome"), "ProtectHome would hide the token files");
    let families = key(&service, "RestrictAddressFamilies").join(" ");
    for family in ["AF_UNIX", "AF_INET", "AF_INET6"] {
        assert!(families.contains(family), "RestrictAddressFamilies lacks {family}: {families}");
    }
}
