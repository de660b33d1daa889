//! The physical floor for an RPC over a Unix socket: a tokio echo server, run as a separate
//! process (this bench binary again, `--echo-server PATH`) with two worker threads, like hf-authd,
//! accepting on them as it does.

use anyhow::{Context, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const FLAG: &str = "--echo-server";

/// Server side: serves `socket` until killed.
pub fn serve(socket: &Path) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let socket = socket.to_path_buf();
    // Accepting on a worker, as hf-authd does.
    hf_authd::server::run_on_workers(&runtime, async move {
        let listener = tokio::net::UnixListener::bind(&socket).with_context(|| format!("bind {}", socket.display()))?;
        println!("ready");
        loop {
            let (mut stream, _) = listener.accept().await?;
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

/// The echo server process; killed on drop.
#[derive(Debug)]
pub struct EchoServer {
    child: Child,
    pub socket: PathBuf,
}

impl EchoServer {
    pub fn spawn(socket: &Path) -> anyhow::Result<Self> {
        Self::spawn_mode(FLAG, socket)
    }

    /// This bench binary again in another server mode (`--bare-tonic-server`), same protocol.
    pub fn spawn_mode(flag: &str, socket: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .arg(flag)
            .arg(socket)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .context("spawning the echo server")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let server = Self { child, socket: socket.to_path_buf() };
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.starts_with("ready") => Ok(server),
            _ => bail!("the {flag} server did not start"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's CPU time so far, in clock ticks.
    pub fn cpu_ticks(&self) -> anyhow::Result<u64> {
        crate::setup::cpu_ticks(&self.child.id().to_string())
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
