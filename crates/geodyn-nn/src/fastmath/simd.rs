//! Run-time choice of the compiled copy of a hot loop: the instruction sets ([`Isa`])
//! the kernels are compiled for, the widest one this CPU supports ([`best_isa`]), and
//! the crate's [`Path`] requests.
//!
//! On x86-64 every kernel is compiled three times — for the baseline target (SSE2, no
//! FMA unless the build enables it), with AVX2 + FMA and with AVX-512 (F, DQ, VL) —
//! and the copy is chosen per slice with `std`'s cached feature tests. On other
//! targets only the baseline copy exists.

/// The widest vector extension whose copies of the hot loops may run on this CPU.
///
/// Ordered by width (`Baseline < Avx2 < Avx512`), so `best_isa().min(Isa::Avx2)` caps
/// a choice. A copy compiled for one of these may run only where [`best_isa`] returns
/// it or a wider one.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Isa {
    /// Neither of the below: the baseline copies.
    Baseline,
    /// AVX2 + FMA (x86-64).
    Avx2,
    /// AVX-512 F, DQ and VL, plus AVX2 and FMA (x86-64).
    Avx512,
}

/// The widest [`Isa`] this CPU supports (`std`'s cached feature tests). Shared by the
/// kernels here and by the backends' multiversioned loops, so that every hot loop picks
/// its copy by the same rule.
#[inline]
pub fn best_isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = cfg!(all(target_feature = "avx2", target_feature = "fma"))
            || (std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"));
        if avx2
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            return Isa::Avx512;
        }
        if avx2 {
            return Isa::Avx2;
        }
    }
    Isa::Baseline
}

/// Which compiled copy of a kernel runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Path {
    /// The best the CPU supports: AVX-512, else AVX2 + FMA, else the baseline.
    Best,
    /// AVX2 + FMA where the CPU has them (else the baseline), even on AVX-512 CPUs.
    Avx2,
    /// The baseline copy (SSE2 without FMA on x86-64).
    Portable,
}
