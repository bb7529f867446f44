//! A bump arena for loading the config, on huge pages.
//!
//! Why: loading and checking a large deployment allocates ~25 MiB of small objects that live
//! until the process exits. With 4 KiB pages the kernel's first-touch page faults (≈4,800 for
//! 10,000 guests) were a third of `phoenix validate`'s CPU time. Here those objects come from
//! one anonymous mapping advised `MADV_HUGEPAGE`, so the kernel backs it with 2 MiB pages where
//! transparent huge pages are enabled (`always` or `madvise`; elsewhere nothing is lost):
//! measured ≈270 faults instead of ≈4,800 (docs/performance.md).
//!
//! How: a binary opts in with `#[global_allocator] static A: Global = Global;`.
//! [`open`] (called by [`crate::start`] just before the load) starts serving allocations from
//! the arena, [`seal`] (just after) stops it; before and after, and when the arena is full,
//! the system allocator serves. Arena memory is never reused: `dealloc` of an arena block does
//! nothing, so fresh arena memory is always zero (the mapping is anonymous) and the config,
//! which lives as long as the process, costs nothing to free. In a binary that did not opt in,
//! `open`/`seal` only flip a flag nobody reads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Address space reserved for the load (reserved, not committed: `MAP_NORESERVE`).
const SIZE: usize = 256 << 20;

/// Start of the mapping (0: not mapped yet, or mapping failed).
static BASE: AtomicUsize = AtomicUsize::new(0);
/// Next free byte.
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Whether new allocations come from the arena.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The global allocator: the arena while it is open, the system allocator otherwise.
pub struct Global;

/// Maps the arena (once) and serves allocations from it until [`seal`].
pub fn open() {
    if BASE.load(Ordering::Acquire) == 0 {
        // SAFETY: an anonymous private mapping with no address hint; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return;
        }
        // SAFETY: `p` is the mapping just made, SIZE long. Advice only; failure is harmless.
        unsafe { libc::madvise(p, SIZE, libc::MADV_HUGEPAGE) };
        NEXT.store(p as usize, Ordering::Release);
        BASE.store(p as usize, Ordering::Release);
    }
    ACTIVE.store(true, Ordering::Release);
}

/// Stops serving from the arena; what it holds stays valid until the process exits.
pub fn seal() {
    ACTIVE.store(false, Ordering::Release);
}

fn in_arena(p: *mut u8) -> bool {
    let base = BASE.load(Ordering::Acquire);
    base != 0 && (p as usize) >= base && (p as usize) < base + SIZE
}

/// A block of the arena, or `None` (arena closed or full).
fn bump(layout: Layout) -> Option<*mut u8> {
    if !ACTIVE.load(Ordering::Acquire) {
        return None;
    }
    let end = BASE.load(Ordering::Acquire) + SIZE;
    let mut cur = NEXT.load(Ordering::Relaxed);
    loop {
        let start = cur.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let stop = start.checked_add(layout.size())?;
        if stop > end {
            return None;
        }
        match NEXT.compare_exchange_weak(cur, stop, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => return Some(start as *mut u8),
            Err(now) => cur = now,
        }
    }
}

// SAFETY: every block handed out is either the system allocator's (and given back to it) or a
// range of the arena no other block overlaps (NEXT only grows, by compare-and-swap), aligned as
// the layout asks and never handed out twice.
unsafe impl GlobalAlloc for Global {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's contract, passed on.
            None => unsafe { System.alloc(layout) },
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match bump(layout) {
            // Arena memory is fresh from an anonymous mapping and never reused: already zero.
            Some(p) => p,
            // SAFETY: the caller's contract, passed on.
            None => unsafe { System.alloc_zeroed(layout) },
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !in_arena(ptr) {
            // SAFETY: not an arena block, so the system allocator's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !in_arena(ptr) {
            // SAFETY: the system allocator's block, with the caller's contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // The last block grows (or shrinks) in place.
        let old_end = ptr as usize + layout.size();
        let new_end = ptr as usize + new_size;
        if ACTIVE.load(Ordering::Acquire)
            && new_end <= BASE.load(Ordering::Acquire) + SIZE
            && NEXT
                .compare_exchange(old_end, new_end, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return ptr;
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: `align` is the old layout's (valid) and `new_size` is non-zero (the caller's
        // contract), so the layout is valid.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: the caller's contract for `alloc`.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both blocks are at least `layout.size()` long and distinct.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arena's own bookkeeping, driven directly (the test binary keeps the system
    /// allocator as its global one).
    #[test]
    fn blocks_are_aligned_distinct_zeroed_and_grow_in_place() {
        open();
        let a = Global;
        unsafe {
            let l = Layout::from_size_align(24, 8).unwrap();
            let p = a.alloc_zeroed(l);
            assert!(in_arena(p) && (p as usize).is_multiple_of(8));
            assert!(std::slice::from_raw_parts(p, 24).iter().all(|b| *b == 0));
            let q = a.alloc(Layout::from_size_align(1, 64).unwrap());
            assert!((q as usize).is_multiple_of(64) && q as usize >= p as usize + 24);
            // q is the last block: it grows in place.
            let q2 = a.realloc(q, Layout::from_size_align(1, 64).unwrap(), 4096);
            assert_eq!(q, q2);
            // p is not: it moves, keeping its bytes.
            p.write(7);
            let p2 = a.realloc(p, l, 100);
            assert_ne!(p, p2);
            assert_eq!(p2.read(), 7);
            a.dealloc(p2, Layout::from_size_align(100, 8).unwrap());
            seal();
            let s = a.alloc(l);
            assert!(!in_arena(s));
            a.dealloc(s, l);
        }
    }
}
