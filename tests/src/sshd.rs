//! A real OpenSSH server on 127.0.0.1 playing "the remote machine": a second local account
//! (`hfremote`, created if missing, its own HOME, no tokens), a generated host key, key-only
//! auth, and the two settings a Unix-socket `-R` forward needs (`AllowStreamLocalForwarding`
//! *and* `AllowTcpForwarding`: with the latter off sshd denies the request). Started by a test,
//! stopped when dropped. Needs root (sshd, useradd); `Sshd::start` says why when it cannot.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The remote account.
pub const REMOTE_USER: &str = "hfremote";

#[derive(Debug)]
pub struct Sshd {
    pub dir: TempDir,
    pub port: u16,
    child: Child,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The remote account's uid and home, creating it first if missing. Its password is set to `*`
/// (not `!`): sshd refuses a locked account even for key auth.
pub fn remote_account() -> Result<(u32, PathBuf), String> {
    if run(Command::new("id").args(["-u", REMOTE_USER])).is_err() {
        run(Command::new("useradd").args(["-m", "-s", "/bin/sh", REMOTE_USER]))?;
    }
    run(Command::new("usermod").args(["-p", "*", REMOTE_USER]))?;
    let uid: u32 =
        run(Command::new("id").args(["-u", REMOTE_USER]))?.trim().parse().map_err(|e| format!("uid: {e}"))?;
    let passwd = run(Command::new("getent").args(["passwd", REMOTE_USER]))?;
    let home = passwd.trim().split(':').nth(5).ok_or("no home in passwd")?;
    Ok((uid, PathBuf::from(home)))
}

impl Sshd {
    /// Starts sshd; `Err` says what is missing (not root, no sshd).
    pub fn start() -> Result<Sshd, String> {
        if run(Command::new("id").arg("-u")).map(|u| u.trim() != "0").unwrap_or(true) {
            return Err("not root".into());
        }
        let sshd = Path::new("/usr/sbin/sshd");
        if !sshd.exists() {
            return Err("no /usr/sbin/sshd (install openssh-server: tests/debian-packages.txt)".into());
        }
        remote_account()?;
        // Privilege separation needs it; a container may lack it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::Builder::new().prefix("hfsshd").tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        // sshd reads authorized_keys as the remote account.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).map_err(|e| e.to_string())?;
        for key in ["host", "client"] {
            run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"]).arg(d.join(key)))?;
        }
        std::fs::copy(d.join("client.pub"), d.join("authorized_keys")).map_err(|e| e.to_string())?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let host_pub = std::fs::read_to_string(d.join("host.pub")).map_err(|e| e.to_string())?;
        let key = host_pub.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(d.join("known_hosts"), format!("[127.0.0.1]:{port} {key}\n")).map_err(|e| e.to_string())?;
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {pid}\nAuthorizedKeysFile {keys}\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\nPermitRootLogin no\nAllowUsers {REMOTE_USER}\n\
             AllowStreamLocalForwarding yes\nAllowTcpForwarding yes\nLogLevel VERBOSE\n",
            host = d.join("host").display(),
            pid = d.join("sshd.pid").display(),
            keys = d.join("authorized_keys").display(),
        );
        std::fs::write(d.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let log = std::fs::File::create(d.join("sshd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("sshd: {e}"))?;
        let mut me = Sshd { dir, port, child };
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(format!("sshd exited ({status}): {}", me.log()));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("sshd did not listen within 10 s: {}", me.log()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(me)
    }

    /// The ssh options that reach this server as the remote account, and nothing from any
    /// user's own ssh configuration.
    pub fn ssh_options(&self) -> Vec<String> {
        let d = self.dir.path();
        [
            "-F".to_owned(),
            "/dev/null".to_owned(),
            "-i".to_owned(),
            d.join("client").display().to_string(),
            "-p".to_owned(),
            self.port.to_string(),
            "-o".to_owned(),
            format!("UserKnownHostsFile={}", d.join("known_hosts").display()),
            "-o".to_owned(),
            "StrictHostKeyChecking=yes".to_owned(),
            "-o".to_owned(),
            "BatchMode=yes".to_owned(),
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
            "-l".to_owned(),
            REMOTE_USER.to_owned(),
        ]
        .into()
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
