//! One thread-local scratch pool, keyed by type, so hot paths allocate only on first use.
//!
//! Metrics, default trait methods and the backends' derivative passes need temporary
//! values per call: vectors, or a backend's whole workspace struct. Rather than
//! allocating, they borrow them from a per-thread pool that holds, for every type, a
//! stack of values that earlier calls returned: after the first call on a thread (and
//! for a given size) no heap allocation happens. Borrowing is re-entrant: a nested call
//! (a user function that evaluates another objective, say) takes a further value of the
//! same type from the pool, or a fresh one, and never panics; a call while the thread
//! is being torn down works on a fresh value that is then dropped.

use std::any::{Any, TypeId};
use std::cell::RefCell;

// Values are stored type-erased as `Box<dyn Any>` holding a `T`; they are handled as
// `Box<T>` while in use so that moving them in and out of the pool never re-allocates.
type Stack = Vec<Box<dyn Any>>;

thread_local! {
    static POOL: RefCell<Vec<(TypeId, Stack)>> = const { RefCell::new(Vec::new()) };
}

/// A value of type `T` from the thread's pool, or `T::default()` if it holds none.
fn take<T: Default + 'static>() -> Box<T> {
    let id = TypeId::of::<T>();
    POOL.try_with(|p| {
        let mut p = p.try_borrow_mut().ok()?;
        p.iter_mut().find(|(t, _)| *t == id).and_then(|(_, s)| s.pop())
    })
    .ok()
    .flatten()
    .and_then(|b| b.downcast::<T>().ok())
    .unwrap_or_default()
}

/// Returns `b` to the thread's pool (drops it if the thread is being torn down).
fn give<T: 'static>(b: Box<T>) {
    let id = TypeId::of::<T>();
    let _ = POOL.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            match p.iter_mut().find(|(t, _)| *t == id) {
                Some((_, s)) => s.push(b),
                None => p.push((id, vec![b])),
            }
        }
    });
}

/// Runs `f` with a value of type `T` from the thread's pool: one that an earlier call
/// returned (in whatever state it left it) or, if none is free, `T::default()`.
///
/// Workspaces that only grow (vectors resized on demand) thus allocate on a thread's
/// first calls only. A nested call for the same `T` gets another value.
///
/// ```
/// use geodyn_core::scratch::with_scratch;
/// let n = with_scratch::<Vec<u32>, _>(|v| {
///     v.clear();
///     v.extend([1, 2, 3]);
///     // Nested use of the same type gets another value.
///     with_scratch::<Vec<u32>, _>(|w| w.len()) + v.len()
/// });
/// assert!(n >= 3);
/// ```
pub fn with_scratch<T: Default + 'static, R>(f: impl FnOnce(&mut T) -> R) -> R {
    let mut b = take::<T>();
    let out = f(&mut b);
    give(b);
    out
}

/// Runs `f` with `B` buffers of element type `D` and the given lengths, every entry set
/// to `fill`, from the thread's pool (see [`with_scratch`]).
///
/// ```
/// let s = geodyn_core::scratch::with_filled_buffers([2, 3], 1u8, |[a, b]| {
///     b[0] = 5;
///     a.len() + b.iter().map(|&x| x as usize).sum::<usize>()
/// });
/// assert_eq!(s, 2 + 7);
/// ```
pub fn with_filled_buffers<D: Copy + 'static, const B: usize, R>(
    lens: [usize; B],
    fill: D,
    f: impl FnOnce([&mut [D]; B]) -> R,
) -> R {
    let mut bufs: [Box<Vec<D>>; B] = std::array::from_fn(|_| take::<Vec<D>>());
    for (b, &len) in bufs.iter_mut().zip(&lens) {
        b.clear();
        b.resize(len, fill);
    }
    let out = f(bufs.each_mut().map(|b| b.as_mut_slice()));
    // Return in reverse order, so the next call takes each buffer back in the same role
    // (and capacity): the pool stays warm even when the lengths differ.
    for b in bufs.into_iter().rev() {
        give(b);
    }
    out
}

/// Runs `f` with `N` zeroed scratch vectors of length `len` from the thread's pool
/// ([`with_filled_buffers`] with `f64` zeros).
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
    with_filled_buffers([len; N], 0.0, f)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested use of one type takes distinct values, and the values come back: a second
    /// round sees the contents the first left.
    #[test]
    fn nested_use_takes_distinct_values_and_returns_them() {
        #[derive(Default)]
        struct Mark(Vec<usize>);
        with_scratch::<Mark, _>(|a| {
            a.0.push(1);
            with_scratch::<Mark, _>(|b| {
                assert!(b.0.is_empty(), "a nested call must not see the outer value");
                b.0.push(2);
            });
        });
        let seen = with_scratch::<Mark, _>(|a| with_scratch::<Mark, _>(|b| (a.0.clone(), b.0.clone())));
        let mut all = [seen.0, seen.1].concat();
        all.sort();
        assert_eq!(all, [1, 2]);
    }
}
