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

/// Raises the soft open-file limit to the hard one (a login session often starts at 1,024 or
/// even 256, while the hard limit allows thousands): every connection is a descriptor. Returns
/// the soft limit in force.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    // macOS refuses a soft limit above OPEN_MAX however high the hard limit is.
    #[cfg(target_os = "macos")]
    let hard = limit.maximum.map(|m| m.min(10_240));
    #[cfg(not(target_os = "macos"))]
    let hard = limit.maximum;
    match (limit.current, hard) {
        (Some(soft), Some(hard)) if soft < hard => {
            match setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: limit.maximum }) {
                Ok(()) => hard,
                Err(e) => {
                    tracing::warn!(error = %e, soft, hard, "could not raise the open-file limit");
                    soft
                }
            }
        }
        (Some(soft), _) => soft,
        (None, _) => u64::MAX,
    }
}
