//! A software prefetch: a hint to start loading a cache line that will be needed soon. Used where
//! the engine knows an address well before it reads it: the order behind a maker being filled,
//! which is the next maker (`matching.rs`).

/// Starts loading the cache line holding `r` into the caches, without waiting for it.
#[inline(always)]
pub(crate) fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    // SAFETY: `prefetcht0` is a hint with no architectural effect: it reads nothing the program
    // sees, writes nothing and never faults (for any address); the address comes from a live
    // reference anyway. `sse` is part of the x86_64 baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            std::ptr::from_ref(r).cast(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}
