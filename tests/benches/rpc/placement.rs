//! Where the load generator and the daemons run. With one client, a `Resolve` round trip costs
//! ~25 µs here when the client and the daemon share a CPU and ~40 µs when each wakes the other
//! across CPUs (an inter-processor interrupt and an idle exit, in a VM). The scheduler picks one
//! or the other per connection, so a p50 pooled over turns measures that luck as much as the
//! daemon: the same build against itself gave 0.70x–1.92x in six runs. Pinning both sides the
//! same way for both daemons compares their work alone.

use rustix::process::Pid;
use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// One way to place the client and the daemons for a run of turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// Wherever the scheduler puts them (what a user gets, luck included).
    AsScheduled,
    /// The client and the servers on one CPU.
    SameCpu,
    /// The client on one CPU, the servers on another.
    AcrossCpus,
}

impl Placement {
    pub fn describe(self) -> &'static str {
        match self {
            Placement::AsScheduled => "as scheduled",
            Placement::SameCpu => "client and servers on one CPU",
            Placement::AcrossCpus => "client on one CPU, servers on the other",
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Placement::AsScheduled => "as_scheduled",
            Placement::SameCpu => "same_cpu",
            Placement::AcrossCpus => "across_cpus",
        }
    }
}

/// The CPUs this process may use, and pinning to them.
#[derive(Debug, Clone, Copy)]
pub struct Cpus {
    allowed: CpuSet,
    first: Option<usize>,
    second: Option<usize>,
}

impl Cpus {
    /// The calling thread's affinity, as it was before any pinning.
    pub fn of_this_thread() -> anyhow::Result<Self> {
        let allowed = sched_getaffinity(None)?;
        let mut usable = (0..CpuSet::MAX_CPU).filter(|&cpu| allowed.is_set(cpu));
        Ok(Self { allowed, first: usable.next(), second: usable.next() })
    }

    /// The placements this machine can make: pinned ones need one CPU, or two.
    pub fn placements(&self) -> Vec<Placement> {
        let mut all = vec![Placement::AsScheduled];
        if self.first.is_some() {
            all.push(Placement::SameCpu);
        }
        if self.second.is_some() {
            all.push(Placement::AcrossCpus);
        }
        all
    }

    /// Pins the calling thread (the load generator's current-thread runtime) and every thread of
    /// `daemons` for `placement`; `AsScheduled` undoes any pinning.
    pub fn place(&self, placement: Placement, daemons: &[u32]) -> anyhow::Result<()> {
        let (client, daemon) = match (placement, self.first, self.second) {
            (Placement::AsScheduled, ..) => (self.allowed, self.allowed),
            (Placement::SameCpu, Some(a), _) => (only(a), only(a)),
            (Placement::AcrossCpus, Some(a), Some(b)) => (only(a), only(b)),
            _ => anyhow::bail!("this machine cannot place {}", placement.describe()),
        };
        sched_setaffinity(None, &client)?;
        for &pid in daemons {
            pin_process(pid, &daemon)?;
        }
        Ok(())
    }
}

fn only(cpu: usize) -> CpuSet {
    let mut set = CpuSet::new();
    set.set(cpu);
    set
}

/// Every thread of `pid`; threads it starts later inherit the mask from the thread starting them.
/// A thread that exits meanwhile (the blocking pool's, past its keep-alive) is skipped.
fn pin_process(pid: u32, cpus: &CpuSet) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let name = entry?.file_name();
        let Some(tid) = name.to_str().and_then(|s| s.parse().ok()).and_then(Pid::from_raw) else { continue };
        match sched_setaffinity(Some(tid), cpus) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => {}
            Err(e) => return Err(anyhow::Error::from(e).context(format!("pinning thread {tid:?} of {pid}"))),
        }
    }
    Ok(())
}

/// How often a process's threads were switched out and moved between CPUs, summed over its
/// threads (a thread that exits takes its counts with it: compare runs with the same threads).
#[derive(Debug, Clone, Copy, Default)]
pub struct Switches {
    /// Voluntary and involuntary context switches.
    pub switches: u64,
    /// Moves to another CPU (`se.nr_migrations`; 0 where the kernel has no scheduler debug files).
    pub migrations: u64,
}

impl Switches {
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let mut total = Self::default();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let dir = entry?.path();
            // A thread may exit between the listing and the read.
            let Ok(status) = std::fs::read_to_string(dir.join("status")) else { continue };
            total.switches +=
                field(&status, "voluntary_ctxt_switches:") + field(&status, "nonvoluntary_ctxt_switches:");
            if let Ok(sched) = std::fs::read_to_string(dir.join("sched")) {
                total.migrations += field(&sched, "se.nr_migrations");
            }
        }
        Ok(total)
    }

    /// What happened since `before`.
    pub fn since(self, before: Self) -> Self {
        Self {
            switches: self.switches.saturating_sub(before.switches),
            migrations: self.migrations.saturating_sub(before.migrations),
        }
    }

    pub fn add(&mut self, other: Self) {
        self.switches += other.switches;
        self.migrations += other.migrations;
    }
}

/// The number after `name` on its line (`name: 12` or `name   :   12`), 0 when absent.
fn field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches([' ', '\t', ':']).split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}
