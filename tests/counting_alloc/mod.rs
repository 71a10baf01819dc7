//! A global allocator that counts the bytes held by live allocations, for tests and benches
//! that measure memory exactly (not estimated). Include it with `mod counting_alloc;` (or a
//! `#[path]` from a bench) in a binary of its own: it installs itself as that binary's
//! `#[global_allocator]`. The count is process-wide, so measure one thing at a time.
#![allow(unsafe_code)] // a global allocator is unsafe to implement
#![allow(dead_code)] // each includer uses what it needs

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Forwards to the system allocator, counting sizes.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

/// Bytes held by live allocations now.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

// SAFETY: forwards to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;
