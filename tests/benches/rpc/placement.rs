//! Where the load generator and the daemons run. With one client, a `Resolve` round trip costs
//! ~24 µs here when the client and the daemon share a CPU and ~43 µs when each wakes the other
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

    /// Runs `work` with the calling thread and `daemons` placed for `placement`, then undoes the
    /// pinning whether `work` succeeded or not.
    pub async fn within<T>(
        &self,
        placement: Placement,
        daemons: &[u32],
        work: impl std::future::Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        self.place(placement, daemons)?;
        let result = work.await;
        let undone = self.place(Placement::AsScheduled, daemons);
        let value = result?;
        undone?;
        Ok(value)
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
/// Listed again until no new thread turns up (one an unpinned thread started meanwhile). A
/// thread that exits meanwhile (the blocking pool's, past its keep-alive) is skipped.
fn pin_process(pid: u32, cpus: &CpuSet) -> anyhow::Result<()> {
    let mut pinned = std::collections::HashSet::new();
    loop {
        let mut new = 0;
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let name = entry?.file_name();
            let Some(tid) = name.to_str().and_then(|s| s.parse().ok()).and_then(Pid::from_raw) else { continue };
            if !pinned.insert(tid.as_raw_nonzero()) {
                continue;
            }
            new += 1;
            match sched_setaffinity(Some(tid), cpus) {
                Ok(()) | Err(rustix::io::Errno::SRCH) => {}
                Err(e) => return Err(anyhow::Error::from(e).context(format!("pinning thread {tid:?} of {pid}"))),
            }
        }
        if new == 0 {
            return Ok(());
        }
    }
}

/// How often a process's threads were switched out and moved between CPUs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Switches {
    /// Voluntary and involuntary context switches.
    pub switches: u64,
    /// Moves to another CPU (`se.nr_migrations`; 0 where the kernel has no scheduler debug files).
    pub migrations: u64,
}

impl Switches {
    pub fn add(&mut self, other: Self) {
        self.switches += other.switches;
        self.migrations += other.migrations;
    }
}

/// Each thread's [`Switches`] so far, by thread id: a difference of two counts only the
/// threads' own changes, whichever threads started or ended in between.
#[derive(Debug, Default)]
pub struct ThreadCounts(std::collections::HashMap<u32, Switches>);

impl ThreadCounts {
    pub fn of(pid: u32) -> anyhow::Result<Self> {
        let mut threads = std::collections::HashMap::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let entry = entry?;
            let Some(tid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else { continue };
            // A thread may exit between the listing and the read.
            let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
            let migrations = std::fs::read_to_string(entry.path().join("sched"))
                .map(|sched| field(&sched, "se.nr_migrations"))
                .unwrap_or(0);
            let switches = field(&status, "voluntary_ctxt_switches:") + field(&status, "nonvoluntary_ctxt_switches:");
            threads.insert(tid, Switches { switches, migrations });
        }
        Ok(Self(threads))
    }

    /// What the threads did since `before`: a thread present in both counts its growth, a new
    /// one all it did; one that ended meanwhile is lost (its last part is not in `self`).
    pub fn since(&self, before: &Self) -> Switches {
        let mut total = Switches::default();
        for (tid, now) in &self.0 {
            let then = before.0.get(tid).copied().unwrap_or_default();
            total.add(Switches {
                switches: now.switches.saturating_sub(then.switches),
                migrations: now.migrations.saturating_sub(then.migrations),
            });
        }
        total
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
