//! The slice drivers: the [`Kernel`] trait of elementwise functions with up to three
//! outputs, the [`kernel!`] macro that declares one, the block loops that LLVM
//! vectorises, their AVX2 + FMA, AVX-512 and baseline copies, and [`run`], which checks
//! the lengths and picks the copy.
//!
//! Guarantees: every element's arithmetic is the same whatever block variant, position
//! in the slice or number of outputs computes it, so a given input gives the same bits
//! within one compiled copy; the AVX2 and AVX-512 copies compute the same FMA
//! arithmetic (8-wide vectors instead of 4-wide), so they agree bit for bit.

use super::simd::{Isa, Path, best_isa};

/// Region sets of a split kernel (which of Cody's pieces of Φ are evaluated): the
/// central interval only, the middle one only, both, all three, or the tail only.
pub(super) const REGION_CENTRAL: u8 = 0;
pub(super) const REGION_MIDDLE: u8 = 1;
pub(super) const REGION_COMMON: u8 = 2;
pub(super) const REGION_ALL: u8 = 3;
pub(super) const REGION_TAIL: u8 = 4;

/// An elementwise function with up to three outputs.
pub(crate) trait Kernel {
    /// The function, valid everywhere.
    fn eval<const F: bool>(x: f64) -> (f64, f64, f64);
    /// Whether [`eval_region`](Kernel::eval_region) exists and is cheaper.
    const SPLIT: bool = false;
    /// The function restricted to the region set `R` (`REGION_*`): `REGION_ALL` valid
    /// everywhere, `REGION_TAIL` where `rare(x)`, the others where `!rare(x)` and, for
    /// `REGION_CENTRAL` / `REGION_MIDDLE`, where `low(x)` / `!low(x)`.
    #[inline(always)]
    fn eval_region<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
        Self::eval::<F>(x)
    }
    /// The inputs that only the full kernel covers.
    #[inline(always)]
    fn rare(_x: f64) -> bool {
        false
    }
    /// The inputs of the cheaper low region.
    #[inline(always)]
    fn low(_x: f64) -> bool {
        false
    }
}

/// Declares a zero-sized kernel type `$ty` whose [`Kernel::eval`] is `$f::<F>`, or,
/// with `split rare, low`, `$f::<F, R>` restricted to region sets as
/// [`Kernel::eval_region`] describes.
macro_rules! kernel {
    ($ty:ident, $f:ident) => {
        pub(crate) struct $ty;
        impl $crate::fastmath::kernel::Kernel for $ty {
            #[inline(always)]
            fn eval<const F: bool>(x: f64) -> (f64, f64, f64) {
                $f::<F>(x)
            }
        }
    };
    ($ty:ident, $f:ident, split $rare:ident, $low:ident) => {
        pub(crate) struct $ty;
        impl $crate::fastmath::kernel::Kernel for $ty {
            #[inline(always)]
            fn eval<const F: bool>(x: f64) -> (f64, f64, f64) {
                $f::<F, { $crate::fastmath::kernel::REGION_ALL }>(x)
            }
            const SPLIT: bool = true;
            #[inline(always)]
            fn eval_region<const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
                $f::<F, R>(x)
            }
            #[inline(always)]
            fn rare(x: f64) -> bool {
                $rare(x)
            }
            #[inline(always)]
            fn low(x: f64) -> bool {
                $low(x)
            }
        }
    };
}
pub(super) use kernel;

/// The loop: writes the first `N` outputs (`o2`, `o3` unused below that). A split
/// kernel goes block by block: each block of eight inputs is classified first and then
/// evaluated once with the cheapest piece that covers it — Cody's central rational
/// alone, the middle one alone, both, the tail piece alone (every input beyond √32: a
/// saturated unit), or (tail and other inputs mixed) all three. The block loops
/// have a fixed length and no branches, so they vectorise; being inlined, they run with
/// the caller's target features. A trained network's saturated units fill whole blocks
/// with middle or tail inputs, so this costs at most one full-kernel evaluation per
/// element and often less than the two-piece one. Every element gets the same bits
/// whichever variant runs (the pieces not evaluated would have been discarded).
///
/// The last `n mod 8` inputs do not run through a scalar loop: layers process rows of a
/// batch (148 points on the Snelson workload: 18 blocks and 4 left over), and four scalar
/// evaluations cost about as much as three blocks. Instead the last eight inputs run as
/// one more block, overlapping the previous one (its elements are recomputed to the same
/// bits, since every element's arithmetic is the same in every variant); slices shorter
/// than a block are padded with copies of their last input.
#[inline(always)]
fn map<K: Kernel, const F: bool, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    const B: usize = 8;
    let n = x.len();
    if n >= B {
        // (A loop over block starts rather than a closure: closures do not inherit the
        // caller's target features, so one would not be inlined into the AVX copies.)
        let last = n - B;
        let mut i0 = 0;
        loop {
            let o2b: &mut [f64] = if N >= 2 { &mut o2[i0..i0 + B] } else { &mut [] };
            let o3b: &mut [f64] = if N >= 3 { &mut o3[i0..i0 + B] } else { &mut [] };
            map_block::<K, F, N, B>(&x[i0..i0 + B], &mut o1[i0..i0 + B], o2b, o3b);
            if i0 == last {
                break;
            }
            i0 = (i0 + B).min(last);
        }
    } else if n > 0 {
        let mut xp = [x[n - 1]; B];
        xp[..n].copy_from_slice(x);
        let mut out = [[0.0; B]; 3];
        let [p1, p2, p3] = &mut out;
        map_block::<K, F, N, B>(&xp, p1, p2, p3);
        o1[..n].copy_from_slice(&p1[..n]);
        if N >= 2 {
            o2[..n].copy_from_slice(&p2[..n]);
        }
        if N >= 3 {
            o3[..n].copy_from_slice(&p3[..n]);
        }
    }
}

/// One block of `B` inputs of [`map`]: classified first when `K` is split, else the
/// whole kernel.
#[inline(always)]
fn map_block<K: Kernel, const F: bool, const N: usize, const B: usize>(
    xb: &[f64],
    o1b: &mut [f64],
    o2b: &mut [f64],
    o3b: &mut [f64],
) {
    if !K::SPLIT {
        block::<K, F, N, B, REGION_ALL>(xb, o1b, o2b, o3b);
        return;
    }
    let rare = xb.iter().fold(false, |r, &v| r | K::rare(v));
    let all_rare = xb.iter().fold(true, |r, &v| r & K::rare(v));
    let any_low = xb.iter().fold(false, |r, &v| r | K::low(v));
    let all_low = xb.iter().fold(true, |r, &v| r & K::low(v));
    if all_rare {
        block::<K, F, N, B, REGION_TAIL>(xb, o1b, o2b, o3b);
    } else if rare {
        block::<K, F, N, B, REGION_ALL>(xb, o1b, o2b, o3b);
    } else if all_low {
        block::<K, F, N, B, REGION_CENTRAL>(xb, o1b, o2b, o3b);
    } else if !any_low {
        block::<K, F, N, B, REGION_MIDDLE>(xb, o1b, o2b, o3b);
    } else {
        block::<K, F, N, B, REGION_COMMON>(xb, o1b, o2b, o3b);
    }
}

/// The kernel restricted to region set `R` over one block of `B` inputs (`o2`, `o3` hold
/// `B` elements when `N` asks for them and may be empty otherwise).
#[inline(always)]
fn block<K: Kernel, const F: bool, const N: usize, const B: usize, const R: u8>(
    x: &[f64],
    o1: &mut [f64],
    o2: &mut [f64],
    o3: &mut [f64],
) {
    #[inline(always)]
    fn ev<K: Kernel, const F: bool, const R: u8>(x: f64) -> (f64, f64, f64) {
        K::eval_region::<F, R>(x)
    }
    let x: &[f64; B] = x.try_into().expect("block of B");
    let o1: &mut [f64; B] = (&mut o1[..B]).try_into().expect("block of B");
    if N >= 3 {
        let o2: &mut [f64; B] = (&mut o2[..B]).try_into().expect("block of B");
        let o3: &mut [f64; B] = (&mut o3[..B]).try_into().expect("block of B");
        for j in 0..B {
            let (a, b, c) = ev::<K, F, R>(x[j]);
            o1[j] = a;
            o2[j] = b;
            o3[j] = c;
        }
    } else if N == 2 {
        let o2: &mut [f64; B] = (&mut o2[..B]).try_into().expect("block of B");
        for j in 0..B {
            let (a, b, _) = ev::<K, F, R>(x[j]);
            o1[j] = a;
            o2[j] = b;
        }
    } else {
        for j in 0..B {
            o1[j] = ev::<K, F, R>(x[j]).0;
        }
    }
}

/// Whether `f64::mul_add` is a single instruction on the compile-time target.
const FMA_NATIVE: bool = cfg!(any(target_arch = "aarch64", target_feature = "fma"));

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn map_avx2<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, true, N>(x, o1, o2, o3)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
fn map_avx512<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, true, N>(x, o1, o2, o3)
}

#[inline(never)]
fn map_baseline<K: Kernel, const N: usize>(x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    map::<K, FMA_NATIVE, N>(x, o1, o2, o3)
}

/// Runs kernel `K` over `x`, writing `N` outputs, on the copy `path` asks for.
#[inline]
pub(crate) fn run<K: Kernel, const N: usize>(path: Path, x: &[f64], o1: &mut [f64], o2: &mut [f64], o3: &mut [f64]) {
    assert_eq!(o1.len(), x.len(), "output length differs from input length");
    if N >= 2 {
        assert_eq!(o2.len(), x.len(), "output length differs from input length");
    }
    if N >= 3 {
        assert_eq!(o3.len(), x.len(), "output length differs from input length");
    }
    let isa = match path {
        Path::Best => best_isa(),
        Path::Avx2 => best_isa().min(Isa::Avx2),
        Path::Portable => Isa::Baseline,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if isa == Isa::Avx512 {
            // SAFETY: the CPU supports AVX-512 F/DQ/VL, AVX2 and FMA (`best_isa`).
            unsafe { map_avx512::<K, N>(x, o1, o2, o3) };
            return;
        }
        if isa == Isa::Avx2 {
            // SAFETY: the CPU supports AVX2 and FMA (`best_isa`).
            unsafe { map_avx2::<K, N>(x, o1, o2, o3) };
            return;
        }
    }
    let _ = isa;
    map_baseline::<K, N>(x, o1, o2, o3)
}
