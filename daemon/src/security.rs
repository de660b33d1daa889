//! Process hardening: a credential daemon must not leave its secrets in a core file, and other
//! processes of the same user should not be able to ptrace-read them on Linux.

/// Disables core dumps (`RLIMIT_CORE = 0`) and, on Linux, marks the process not dumpable
/// (`PR_SET_DUMPABLE = 0`), which also keeps `/proc/<pid>/mem` closed to same-uid processes.
pub fn harden_process() {
    let zero = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
    if let Err(e) = rustix::process::setrlimit(rustix::process::Resource::Core, zero) {
        tracing::warn!(error = %e, "could not disable core dumps");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "could not mark the process not dumpable");
    }
}
