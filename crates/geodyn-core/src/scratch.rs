//! Thread-local scratch buffers, so hot paths allocate only on first use.
//!
//! Metrics and default trait methods need a few temporary vectors per call. Rather
//! than allocating, they borrow them from a per-thread pool: after the first call on
//! a thread (and for a given size) no heap allocation happens. Borrowing is
//! re-entrant: nested calls take further buffers from the pool.

use std::cell::RefCell;

thread_local! {
    static POOL: RefCell<Vec<Vec<f64>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with `N` zeroed scratch vectors of length `len` from the thread's pool.
///
/// ```
/// let s = geodyn_core::scratch::with_buffers::<2, _>(3, |[a, b]| {
///     a[0] = 1.0;
///     b[2] = 2.0;
///     a.iter().sum::<f64>() + b.iter().sum::<f64>()
/// });
/// assert_eq!(s, 3.0);
/// ```
pub fn with_buffers<const N: usize, R>(len: usize, f: impl FnOnce([&mut [f64]; N]) -> R) -> R {
    let mut bufs: [Vec<f64>; N] = std::array::from_fn(|_| POOL.with(|p| p.borrow_mut().pop()).unwrap_or_default());
    for b in bufs.iter_mut() {
        b.clear();
        b.resize(len, 0.0);
    }
    let out = f(bufs.each_mut().map(|b| b.as_mut_slice()));
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        for b in bufs {
            p.push(b);
        }
    });
    out
}
