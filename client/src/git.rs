//! Running git for the caller: reading and writing its global credential config (setup-git) and
//! `git credential reject` on logout, as huggingface_hub does. Runs in the caller's cwd and
//! environment, so repo-local config and `GIT_CONFIG_GLOBAL` count as they would for git itself.

use std::io::Write;
use std::process::{Command, Stdio};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("git is not installed (or not on PATH)")]
    Missing,
    #[error("`git {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
    #[error("running git: {0}")]
    Io(std::io::Error),
}

fn git(args: &[&str], stdin: Option<&str>) -> Result<std::process::Output, GitError> {
    let mut child = Command::new("git")
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Never let git prompt on the user's terminal on our behalf.
        .env("GIT_TERMINAL_PROMPT", "0")
        .spawn()
        .map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { GitError::Missing } else { GitError::Io(e) })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes()).map_err(GitError::Io)?;
    }
    child.wait_with_output().map_err(GitError::Io)
}

fn checked(args: &[&str]) -> Result<String, GitError> {
    let out = git(args, None)?;
    if !out.status.success() {
        return Err(GitError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Values of a multi-valued global key, in order (empty when unset).
pub fn global_values(key: &str) -> Result<Vec<String>, GitError> {
    let out = git(&["config", "--global", "--get-all", key], None)?;
    // Exit 1 means "not set".
    if out.status.code() == Some(1) {
        return Ok(Vec::new());
    }
    if !out.status.success() {
        return Err(GitError::Failed {
            args: format!("config --global --get-all {key}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect())
}

/// Replaces every value of a global key with `values`, in order.
pub fn set_global_values(key: &str, values: &[&str]) -> Result<(), GitError> {
    unset_global(key)?;
    for v in values {
        checked(&["config", "--global", "--add", key, v])?;
    }
    Ok(())
}

pub fn unset_global(key: &str) -> Result<(), GitError> {
    let out = git(&["config", "--global", "--unset-all", key], None)?;
    // 5: the key was not set, which is what we wanted.
    match out.status.code() {
        Some(0) | Some(5) => Ok(()),
        _ => Err(GitError::Failed {
            args: format!("config --global --unset-all {key}"),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

/// huggingface_hub's `unset_git_credential`: `git credential reject` for `hf_user` at the
/// endpoint, clearing copies its `--add-to-git-credential` left in other helpers. Output ignored.
pub fn reject_hf_user(endpoint: &str) -> Result<(), GitError> {
    git(&["credential", "reject"], Some(&format!("url={endpoint}\nusername=hf_user\n\n"))).map(drop)
}
