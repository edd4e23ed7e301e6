//! A heap-allocation counter for allocation tests.
//!
//! A test binary installs it once as its global allocator,
//!
//! ```text
//! #[global_allocator]
//! static GLOBAL: geodyn_testkit::alloc::CountingAlloc = geodyn_testkit::alloc::CountingAlloc;
//! ```
//!
//! and then asks [`count_allocs`] how many allocations (and reallocations) a closure made
//! on the calling thread. Counting is switched on only inside `count_allocs`, and two
//! counting sections never overlap (a lock), so tests running on other threads do not
//! disturb the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The system allocator, counting the allocations of threads inside [`count_allocs`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CountingAlloc;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
/// Held while a thread counts, so that two counting sections never overlap.
static COUNTING_ALONE: Mutex<()> = Mutex::new(());
thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note() {
    if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counter only
// reads a thread-local flag and bumps an atomic, neither of which allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` (or `realloc`) with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        note();
        // SAFETY: forwarded unchanged; `ptr` and `layout` come from this allocator.
        unsafe { System.realloc(ptr, layout, size) }
    }
}

/// The number of allocations and reallocations `f` made on this thread (zero unless
/// [`CountingAlloc`] is the binary's global allocator).
pub fn count_allocs(f: impl FnOnce()) -> usize {
    let _alone = COUNTING_ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let before = ALLOCS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCS.load(Ordering::Relaxed) - before
}
