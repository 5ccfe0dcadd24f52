//! Leak accounting for the tests that check a failed decode frees everything exactly once and
//! allocates within bounds: a global allocator counting, per thread (tests run in parallel
//! threads), the live heap bytes and the largest block asked for.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live heap bytes per thread, so tests running in parallel do not disturb each other.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; the bookkeeping touches only const-initialised
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() + layout.size() as isize));
        LARGEST.with(|l| l.set(l.get().max(layout.size())));
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.with(|l| l.set(l.get() - layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.with(|l| l.set(l.get() - layout.size() as isize + new_size as isize));
        LARGEST.with(|l| l.set(l.get().max(new_size)));
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Live heap bytes allocated by this thread.
pub fn live() -> isize {
    LIVE.with(Cell::get)
}

/// The largest block this thread asked for since [`reset_largest`].
#[allow(dead_code)]
pub fn largest() -> usize {
    LARGEST.with(Cell::get)
}

/// Starts a new [`largest`] measurement.
#[allow(dead_code)]
pub fn reset_largest() {
    LARGEST.with(|l| l.set(0));
}
