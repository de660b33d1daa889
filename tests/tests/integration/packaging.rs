//! Packaging (packaging/): the systemd user units pass `systemd-analyze verify` and listen where
//! clients look; the launchd agent is a valid property list naming the daemon; hf-authd serves a
//! socket handed over the way systemd does it (`systemd-socket-activate`: LISTEN_FDS, fd 3,
//! NOTIFY_SOCKET); install.sh / uninstall.sh dry runs; and the .deb built by packaging/ci.sh.
//! This file holds what the topics share; one submodule per topic.
//!
//! Tools that are missing (systemd-analyze, systemd-socket-activate, python3) skip a test
//! locally but fail it under `CI=true`, where a missing tool means a broken setup.

mod activation;
mod deb;
mod launchd;
mod scripts;
mod units;

use hf_auth_tests::python::workspace_root;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

const LABEL: &str = "co.huggingface.hf-authd";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A program on PATH or at one of `extra` paths; `None` (skip) locally, a panic under CI.
fn tool(name: &str, extra: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .chain(extra.iter().map(PathBuf::from))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(!in_ci(), "CI=true but `{name}` is missing; packaging/ci.sh installs it");
        eprintln!("SKIPPED: `{name}` not found (Debian: apt-get install systemd python3)");
    }
    found
}

/// A command with nothing inherited but PATH (and a C locale, so messages are stable).
fn scrubbed(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::null());
    cmd
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn packaging() -> PathBuf {
    workspace_root().join("packaging")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn private_dir(path: &Path) {
    std::fs::create_dir_all(path).expect("mkdir");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
}

fn tempdir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("tempdir")
}

fn my_uid() -> u32 {
    let dir = tempdir("hfuid");
    std::fs::metadata(dir.path()).expect("stat").uid()
}

// --- shared by the units and the .deb ---------------------------------------------------------

/// `systemd-analyze --user verify` on `units` (copies in `dir`); returns the exit status and the
/// lines about our units (it may also talk about unrelated units or the missing user session).
fn verify(analyze: &Path, dir: &Path, units: &[&str]) -> (bool, Vec<String>) {
    let run = dir.join("xdg-runtime");
    private_dir(&run);
    let out = scrubbed(analyze)
        .args(["--user", "verify"])
        .args(units.iter().map(|u| dir.join(u)))
        .env("HOME", dir)
        .env("XDG_RUNTIME_DIR", &run)
        .env("SYSTEMD_COLORS", "0")
        .env("SYSTEMD_PAGER", "")
        .current_dir(dir)
        .output()
        .expect("run systemd-analyze");
    let ours = text(&out)
        .lines()
        .filter(|l| l.contains("hf-authd.s") || l.contains(&*dir.to_string_lossy()))
        .map(str::to_owned)
        .collect();
    (out.status.success(), ours)
}

/// The key=value lines of a unit (comments, blank lines and section headers dropped).
fn unit_keys(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn key<'a>(keys: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    keys.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
}

// --- shared by the plist and install.sh ------------------------------------------------------

/// Parses a property list to JSON: `plutil` where it exists (macOS), else Python's plistlib.
fn plist_to_json(plist: &[u8]) -> Option<serde_json::Value> {
    let dir = tempdir("hfplist");
    let file = dir.path().join(format!("{LABEL}.plist"));
    std::fs::write(&file, plist).expect("write plist");
    let out = if let Some(plutil) = tool_quiet("plutil") {
        let lint = scrubbed(&plutil).arg("-lint").arg(&file).output().expect("plutil -lint");
        assert!(lint.status.success(), "plutil -lint: {}", text(&lint));
        scrubbed(&plutil).args(["-convert", "json", "-o", "-"]).arg(&file).output().expect("plutil -convert")
    } else {
        let python = tool("python3", &[])?;
        scrubbed(python)
            .args(["-c", "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))"])
            .arg(&file)
            .output()
            .expect("python3")
    };
    assert!(out.status.success(), "not a valid property list: {}", text(&out));
    Some(serde_json::from_slice(&out.stdout).expect("plist as JSON"))
}

fn tool_quiet(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

fn program_arguments(plist: &serde_json::Value) -> Vec<String> {
    plist["ProgramArguments"]
        .as_array()
        .expect("ProgramArguments is an array")
        .iter()
        .map(|v| v.as_str().expect("string argument").to_owned())
        .collect()
}

/// The value after `flag` in an argument list.
fn arg_after<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}
