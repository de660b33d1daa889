//! `hf-auth ssh [ssh options] HOST [COMMAND…]`: the real `ssh`, carrying hf-authd's forward
//! socket to the remote machine, where stock clients (`hf-auth`, `git-credential-hf`, the Python
//! client) find it at their default socket path with no setup — as ssh-agent forwarding does for
//! keys, the token never lands there.
//!
//! Two connections, because OpenSSH needs the remote directory of a `-R` Unix-socket forward to
//! exist before it asks for the forward, and ssh cannot create it:
//! 1. `ssh [options] -T HOST sh -s` with [`PREPARE`] on stdin: on the remote, pick the path the
//!    remote clients will use (`$XDG_RUNTIME_DIR/hf-auth/hf-authd.sock`, else
//!    `${TMPDIR:-/tmp}/hf-auth-<remote uid>/hf-authd.sock`, as `hf_auth_proto::socket`), make its
//!    directory 0700 and check it is the remote user's own (another user may have planted one
//!    in /tmp), leave the "forwarded" marker beside it, and print the path. (Script on stdin: the
//!    remote login shell may be anything; `sh -s` reads POSIX sh from stdin everywhere.)
//! 2. `exec ssh -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes -R <that path>:<forward
//!    socket> [options] HOST [COMMAND…]`: the session itself (exit code, terminal and signals are
//!    ssh's). A forward that fails ends ssh at once instead of leaving a session without it;
//!    `StreamLocalBindUnlink` replaces the socket a previous session left behind.
//!
//! With keys or an agent the second connection costs no prompt; with passwords, pass
//! `-o ControlMaster=auto -o ControlPath=~/.ssh/cm-%C -o ControlPersist=30s` to authenticate once.
//! After the session, the marker stays: remote clients then say the forward is gone instead of
//! starting a daemon there with no tokens (see `crate::autostart`).

use crate::failure::{CmdResult, Failure};
use crate::session::{LOCAL_CALL_TIMEOUT, Session};
use hf_auth_proto::pb;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Run on the remote by `sh -s`. Prints `HF_AUTH_REMOTE_SOCKET=<path>` on success.
pub const PREPARE: &str = r#"set -eu
umask 077
uid=$(id -u)
if [ -n "${XDG_RUNTIME_DIR:-}" ]; then
  sock="$XDG_RUNTIME_DIR/hf-auth/hf-authd.sock"
else
  sock="${TMPDIR:-/tmp}/hf-auth-$uid/hf-authd.sock"
fi
dir="${sock%/*}"
mkdir -p -m 700 "$dir"
if [ -L "$dir" ] || [ ! -d "$dir" ]; then
  echo "hf-auth ssh: $dir is not a directory (a symlink?); refusing to forward there" >&2; exit 3
fi
set -- $(ls -ldn "$dir")
if [ "$3" != "$uid" ]; then
  echo "hf-auth ssh: $dir belongs to uid $3, not $uid; refusing to forward there" >&2; exit 3
fi
chmod 700 "$dir"
set -- $(ls -ldn "$dir")
case "$1" in drwx------*) ;; *) echo "hf-auth ssh: $dir has mode $1, not 0700; refusing" >&2; exit 3 ;; esac
rm -f "$sock.forwarded"
printf 'hf-authd is forwarded here by hf-auth ssh; remove this file to run hf-authd on this machine instead\n' > "$sock.forwarded"
echo "HF_AUTH_REMOTE_SOCKET=$sock"
"#;

/// ssh options that take a value (ssh(1) SYNOPSIS), so the host can be told from them.
const WITH_VALUE: &str = "BbcDEeFIiJLlmOopQRSWw";

/// The ssh options, the host, and the remote command, as given.
#[derive(Debug, PartialEq, Eq)]
pub struct Split {
    pub options: Vec<String>,
    pub host: String,
    pub command: Vec<String>,
}

/// Splits `[ssh options] HOST [COMMAND…]` as ssh does.
pub fn split(args: &[String]) -> Result<Split, String> {
    let mut options = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        let Some(flags) = a.strip_prefix('-').filter(|f| !f.is_empty()) else { break };
        options.push(a.clone());
        // `-p22` carries its value; `-p 22` takes the next word; `-vT` is flags only.
        if let Some(pos) = flags.find(|c| WITH_VALUE.contains(c))
            && pos == flags.len() - 1
        {
            let value = args.get(i + 1).ok_or_else(|| format!("ssh option {a} needs a value"))?;
            options.push(value.clone());
            i += 1;
        }
        i += 1;
    }
    let host = args.get(i).cloned().ok_or("no host given: hf-auth ssh [ssh options] HOST [COMMAND…]")?;
    Ok(Split { options, host, command: args[i + 1..].to_vec() })
}

pub async fn run(s: &Session, args: Vec<String>) -> CmdResult {
    let split = split(&args).map_err(Failure::msg)?;
    let mut client = s.client(Some(LOCAL_CALL_TIMEOUT)).await?;
    let status = client.status(pb::StatusRequest { context: None }).await?.into_inner();
    if status.forwarded {
        return Err(Failure::msg(
            "this hf-authd is itself forwarded here; run `hf-auth ssh` on the machine where hf-authd runs",
        ));
    }
    if status.forward_socket_path.is_empty() {
        return Err(Failure::msg(format!(
            "hf-authd has no forward socket: add\n\n  [forward]\n  enabled = true\n\nto its config.toml{} and restart it (`hf-auth daemon restart`)",
            config_hint(s)
        )));
    }
    let ssh = ssh_binary(s);
    let remote = prepare(&ssh, &split).await?;
    s.out.info(&format!("Forwarding hf-authd to {}:{}", split.host, remote));
    let mut cmd = Command::new(&ssh);
    cmd.args(["-o", "ExitOnForwardFailure=yes", "-o", "StreamLocalBindUnlink=yes", "-R"])
        .arg(format!("{remote}:{}", status.forward_socket_path))
        .args(&split.options)
        .arg("--")
        .arg(&split.host)
        .args(&split.command);
    let err = cmd.exec();
    Err(Failure::msg(format!("cannot run {}: {err}", ssh.display())))
}

/// The remote socket path, its directory made and checked, its marker left (connection 1).
async fn prepare(ssh: &std::path::Path, split: &Split) -> Result<String, Failure> {
    let mut cmd = tokio::process::Command::new(ssh);
    cmd.args(&split.options)
        .args(["-T", "-o", "ClearAllForwardings=yes", "--"])
        .arg(&split.host)
        .args(["sh", "-s"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn().map_err(|e| Failure::msg(format!("cannot run {}: {e}", ssh.display())))?;
    if let Some(mut stdin) = child.stdin.take() {
        use tokio::io::AsyncWriteExt;
        stdin.write_all(PREPARE.as_bytes()).await?;
    }
    let out = child.wait_with_output().await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = stdout.lines().find_map(|l| l.strip_prefix("HF_AUTH_REMOTE_SOCKET=")).map(str::trim);
    match (out.status.success(), path) {
        (true, Some(p)) if p.starts_with('/') && p.len() <= hf_auth_proto::socket::MAX_SOCKET_PATH => Ok(p.to_owned()),
        (true, Some(p)) => Err(Failure::msg(format!(
            "the remote socket path {p} is not absolute or longer than {} bytes; set XDG_RUNTIME_DIR or TMPDIR there to a shorter directory",
            hf_auth_proto::socket::MAX_SOCKET_PATH
        ))),
        _ => Err(Failure::msg(format!(
            "could not prepare {} for the forward (ssh exited with {}); see ssh's message above",
            split.host,
            out.status.code().map_or("a signal".to_owned(), |c| format!("status {c}"))
        ))),
    }
}

/// `$HF_AUTH_SSH` (tests, wrappers), else `ssh` on PATH.
fn ssh_binary(s: &Session) -> PathBuf {
    s.env.non_empty("HF_AUTH_SSH").map_or_else(|| PathBuf::from("ssh"), PathBuf::from)
}

fn config_hint(s: &Session) -> String {
    let base = match s.env.non_empty("XDG_CONFIG_HOME") {
        Some(x) => PathBuf::from(x),
        None => s.env.home().map(|h| h.join(".config")).unwrap_or_default(),
    };
    format!(" ({})", base.join("hf-auth").join("config.toml").display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[rstest]
    #[case("gpu-box", &[], "gpu-box", &[])]
    #[case("-p 2222 -i key me@gpu nvidia-smi -L", &["-p", "2222", "-i", "key"], "me@gpu", &["nvidia-smi", "-L"])]
    #[case("-p2222 -vT gpu", &["-p2222", "-vT"], "gpu", &[])]
    #[case("-o Port=22 -- gpu ls", &["-o", "Port=22"], "gpu", &["ls"])]
    #[case("-vl me gpu", &["-vl", "me"], "gpu", &[])]
    fn splits_like_ssh(#[case] args: &str, #[case] opts: &[&str], #[case] host: &str, #[case] cmd: &[&str]) {
        let got = split(&words(args)).unwrap();
        assert_eq!(got.options, opts);
        assert_eq!(got.host, host);
        assert_eq!(got.command, cmd);
    }

    #[test]
    fn no_host_is_an_error() {
        assert!(split(&words("-p 22")).is_err());
        assert!(split(&words("-p")).is_err());
    }
}
