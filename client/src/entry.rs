//! The client binaries' entry point: a C `main` (`#![no_main]` and [`c_main!`]) instead of
//! Rust's. Rust's start-up asks glibc where the main thread's stack is, to place a guard for
//! it, and glibc answers by reading and parsing `/proc/self/maps`: about 60 µs of every run here,
//! 5–6% of a whole `git-credential-hf get` (git runs it once per fetch or push; BENCHMARKS.md,
//! "Release profile and linking"). What that start-up does that matters here is done in
//! [`run_main`]: SIGPIPE ignored (a closed pipe is an error to report, not a kill; children
//! still start with it at its default, as std resets it when spawning), stdout flushed at
//! exit, a panic's exit code 101. Without the stack guard handler a stack overflow still ends
//! the process, as a SIGSEGV instead of a message.

use std::ffi::c_int;
use std::io::Write;

/// Defines the binary's C `main`, which runs `$run` (a `fn() -> u8` giving the exit code)
/// through [`run_main`]. The binary must be `#![no_main]`.
#[macro_export]
macro_rules! c_main {
    ($run:path) => {
        // SAFETY: the binary's only `main` symbol (it is `#![no_main]`), with C's signature; it
        // reads neither argument (std reads argv itself).
        #[allow(unsafe_code)]
        #[unsafe(no_mangle)]
        extern "C" fn main(_argc: ::std::ffi::c_int, _argv: *const *const ::std::ffi::c_char) -> ::std::ffi::c_int {
            $crate::entry::run_main($run)
        }
    };
}

/// Runs a binary's body as Rust's start-up would, minus the stack guard: see the module.
pub fn run_main(run: fn() -> u8) -> c_int {
    ignore_sigpipe();
    let code = std::panic::catch_unwind(run).unwrap_or(101);
    let _ = std::io::stdout().flush();
    c_int::from(code)
}

#[allow(unsafe_code)]
fn ignore_sigpipe() {
    // SAFETY: sets one signal's disposition to SIG_IGN (no handler runs), at start-up before any
    // other thread exists — what Rust's own start-up does.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}
