//! The real huggingface_hub 2.4.0, from the venv `.ci/run` (or `tests/setup-python.sh`) creates.
//!
//! Tests that need it call [`python`]; when the venv is missing they are skipped locally, but
//! fail under `CI=true`, where a missing tool means a broken setup, not a reason to pass.

use std::path::PathBuf;
use std::process::{Command, Output};

/// The venv's interpreter: `$HF_AUTH_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
pub fn python() -> Option<PathBuf> {
    let candidate = std::env::var_os("HF_AUTH_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv/bin/python"));
    let ok = candidate.is_file()
        && Command::new(&candidate)
            .args(["-c", "import huggingface_hub, sys; sys.exit(0 if huggingface_hub.__version__ == '2.4.0' else 1)"])
            .status()
            .is_ok_and(|s| s.success());
    if ok {
        return Some(candidate);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "CI=true but no Python venv with huggingface_hub==2.4.0 at {} (run tests/setup-python.sh)",
            candidate.display()
        );
    }
    eprintln!("SKIPPED: no venv with huggingface_hub==2.4.0 at {}; run tests/setup-python.sh", candidate.display());
    None
}

/// The `hf` CLI of that venv.
pub fn hf_cli() -> Option<PathBuf> {
    python().map(|p| p.with_file_name("hf"))
}

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// Runs a Python snippet with a scrubbed environment: only what is passed, plus PATH.
pub fn run(python: &PathBuf, code: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(python);
    cmd.arg("-c").arg(code).env_clear();
    cmd.env("PATH", std::env::var_os("PATH").unwrap_or_default());
    cmd.env("HF_HUB_DISABLE_UPDATE_CHECK", "1").env("HF_HUB_DISABLE_TELEMETRY", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run python")
}

/// Like [`run`], panicking with both streams when Python fails; returns stdout.
pub fn run_ok(python: &PathBuf, code: &str, env: &[(&str, &str)]) -> String {
    let out = run(python, code, env);
    assert!(
        out.status.success(),
        "python failed:\n--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The venv's interpreter with our client package (`hf_auth`) installed from the current
/// sources, and grpcio-reflection; `None` (skip) as [`python`]. A stale install is a setup error,
/// not a skip: the tests would test old code.
pub fn python_with_client() -> Option<PathBuf> {
    let python = python()?;
    let out = Command::new(&python)
        .args(["-c", "import os, grpc_reflection, hf_auth; print(os.path.dirname(hf_auth.__file__))"])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "the venv lacks hf_auth or grpcio-reflection (run tests/setup-python.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let source = workspace_root().join("client/python/src/hf_auth");
    for entry in std::fs::read_dir(&source).expect("client/python/src/hf_auth").flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "py") {
            let theirs = std::fs::read(installed.join(entry.file_name())).unwrap_or_default();
            assert!(
                std::fs::read(&path).unwrap() == theirs,
                "the installed hf_auth is older than {} (run tests/setup-python.sh)",
                path.display()
            );
        }
    }
    Some(python)
}
