//! One server's share of a comparison made in turns: its calls, the CPU it used for them and
//! how its threads were scheduled meanwhile.

use crate::load::Run;
use crate::placement::{Switches, ThreadCounts};
use std::future::Future;
use std::time::Duration;

pub struct Tally {
    pub run: Run,
    /// CPU time, in clock ticks (10 ms).
    pub ticks: u64,
    pub sched: Switches,
}

impl Tally {
    pub fn new() -> Self {
        Self { run: Run::empty(), ticks: 0, sched: Switches::default() }
    }

    /// Runs `calls` (one turn) and adds it, with what server `pid` spent on it. Returns the
    /// turn's own p50 and rate.
    pub async fn turn(
        &mut self,
        pid: u32,
        calls: impl Future<Output = anyhow::Result<Run>>,
    ) -> anyhow::Result<(Duration, f64)> {
        let pid_text = pid.to_string();
        let (t0, s0) = (crate::setup::cpu_ticks(&pid_text)?, ThreadCounts::of(pid)?);
        let run = calls.await?;
        self.ticks += crate::setup::cpu_ticks(&pid_text)? - t0;
        self.sched.add(ThreadCounts::of(pid)?.since(&s0));
        let figures = (run.latencies.p50(), run.per_sec());
        self.run = std::mem::replace(&mut self.run, Run::empty()).merge(run);
        Ok(figures)
    }

    pub fn p50(&self) -> Duration {
        self.run.latencies.p50()
    }

    /// CPU per call over `calls` (the measured calls and whatever else the caller counts: warm-up
    /// calls, connects): the work the server does, whatever its wake-ups cost.
    pub fn cpu_per_call(&self, calls: usize) -> Duration {
        Duration::from_micros(self.ticks * 10_000 / calls.max(1) as u64)
    }

    /// Context switches and moves between CPUs per measured call.
    pub fn sched_per_call(&self) -> (f64, f64) {
        let calls = self.run.latencies.len().max(1) as f64;
        (self.sched.switches as f64 / calls, self.sched.migrations as f64 / calls)
    }
}
