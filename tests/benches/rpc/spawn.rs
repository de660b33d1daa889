//! Timing whole processes spawned directly — no shell, stdin from a file — so the figure is the
//! command's own start, work and exit. (hyperfine before 1.17 has no `--input`, and a
//! `sh -c 'exec CMD < req'` wrapper adds the shell's 0.4–1.9 ms to both sides of a ratio.)
//! Runs are split into rounds whose order rotates, so drift on a busy machine hits every command
//! alike.

use crate::report::Samples;
use anyhow::{Context, bail};
use hf_auth_tests::procs::World;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Instant;

/// A program and its arguments, run with `stdin` as its standard input.
#[derive(Debug, Clone)]
pub struct Direct {
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub stdin: Option<PathBuf>,
}

impl Direct {
    pub fn new(name: &str, program: impl Into<PathBuf>, args: &[&str], stdin: Option<&Path>) -> Self {
        Self {
            name: name.to_owned(),
            program: program.into(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            stdin: stdin.map(Path::to_path_buf),
        }
    }

    fn command(&self, world: &World) -> anyhow::Result<std::process::Command> {
        let mut cmd = world.command(&self.program);
        cmd.args(&self.args).stderr(Stdio::null());
        match &self.stdin {
            Some(path) => cmd.stdin(std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?),
            None => cmd.stdin(Stdio::null()),
        };
        Ok(cmd)
    }

    /// Runs it once and checks that its output contains `expect`.
    pub fn check(&self, world: &World, expect: &str) -> anyhow::Result<()> {
        let out =
            self.command(world)?.stdout(Stdio::piped()).output().with_context(|| format!("running {}", self.name))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains(expect) {
            bail!("{} did not answer as expected (exit {:?}): {stdout}", self.name, out.status.code());
        }
        Ok(())
    }
}

/// `runs` timed runs of each command (after `warmup` untimed ones each), in `rounds` rotating
/// rounds. Returns the samples in the order of `cmds`.
pub fn time(world: &World, cmds: &[Direct], runs: u32, rounds: u32, warmup: u32) -> anyhow::Result<Vec<Samples>> {
    let per_round = (runs / rounds.max(1)).max(2);
    let mut times: Vec<Vec<std::time::Duration>> = vec![Vec::new(); cmds.len()];
    for c in cmds {
        for _ in 0..warmup {
            c.command(world)?.stdout(Stdio::null()).status()?;
        }
    }
    let mut order: Vec<usize> = (0..cmds.len()).collect();
    for _ in 0..rounds.max(1) {
        for &i in &order {
            for _ in 0..per_round {
                let mut cmd = cmds[i].command(world)?;
                cmd.stdout(Stdio::null());
                let start = Instant::now();
                let status = cmd.status().with_context(|| format!("running {}", cmds[i].name))?;
                times[i].push(start.elapsed());
                if !status.success() {
                    bail!("{} exited with {status}", cmds[i].name);
                }
            }
        }
        order.rotate_left(1);
    }
    Ok(times.into_iter().map(Samples::new).collect())
}
