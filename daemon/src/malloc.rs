//! What hf-authd asks of glibc's allocator: one arena, and free pages handed back once a burst
//! of connections is over. A no-op on other C libraries.

/// glibc's malloc gives each thread that meets contention an arena of its own (up to 8 per
/// core) and keeps every page an arena ever touched. Under load the workers', the blocking
/// pool's and the audit writer's arenas each grew to their own high-water mark, and RSS crept
/// up with every burst of new connections (no leak: heaptrack showed a flat live heap). One
/// arena for the whole daemon keeps RSS flat and lower, and two workers on a small daemon do
/// not contend on it measurably (BENCHMARKS.md, "Round 2"). Call before any other thread exists.
#[allow(unsafe_code)]
pub(crate) fn one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called before any of our threads
    // start, and glibc takes its own lock for it anyway.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Returns the heap's free pages to the kernel (glibc's `malloc_trim`, which also releases whole
/// free pages inside the heap, not only at its top). After a burst of connections their buffers
/// are freed, but glibc keeps the pages for reuse, and anything still live above them (a map
/// that grew during the burst) stops the heap from shrinking: 500 connections left 10 MiB
/// resident for good. Holds the allocator's lock while it walks the free chunks (47–110 µs
/// here, for a heap of a few MiB): call it when the daemon is idle (`crate::idle`). Whether
/// any memory was returned.
#[allow(unsafe_code)]
pub(crate) fn hand_back_free_pages() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim takes the allocator's locks itself and may be called at any time.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}
