//! How the current thread's floating-point unit treats subnormal (denormal) numbers.
//!
//! Training drives many values towards zero (Adam's second moments, small activations and their
//! gradients); once they fall below `f32::MIN_POSITIVE` they become subnormal, and Intel cores
//! execute every operation on them through microcode assists that are tens of times slower.
//! TensorFlow and XLA flush subnormals to zero on CPUs by default; PyTorch offers
//! `torch.set_flush_denormal`. This crate does the same for one thread:
//!
//! - x86 and x86_64: the FTZ (flush results to zero) and DAZ (treat subnormal inputs as zero)
//!   bits of MXCSR, which governs all SSE and AVX arithmetic;
//! - aarch64: FPCR.FZ (both meanings in one bit) and, where the target has half precision,
//!   FPCR.FZ16;
//! - anywhere else: nothing; [`SUPPORTED`] is `false` and [`set_flush`] is a no-op.
//!
//! The setting belongs to one thread, so every thread that computes must set it before it
//! starts (new threads inherit their creator's setting on Linux, not on every system). It is
//! the only `unsafe` code in the workspace.
//!
//! # The hazard, and why it is accepted
//!
//! Rust's rules say that leaving an `asm!` block with the floating-point environment changed
//! is undefined behaviour: the compiler assumes the default environment everywhere, which is
//! why `_mm_setcsr` was deprecated. This crate does it anyway, on purpose, and it is not
//! "sound" in the language's sense. What can go wrong: code the compiler optimised under
//! IEEE semantics (a constant folded with subnormals at build time, a comparison it assumed
//! could not flip, a vectorised and a scalar path of one function) can see different values
//! below `f32::MIN_POSITIVE` than it expected. Why that is accepted: the only values that
//! change are subnormals, which become zero — the same trade TensorFlow and XLA make by
//! default on CPUs — nothing in burnfit relies on a subnormal's exact value, the mode is off
//! with `backend.flush_denormals = false` (strict IEEE, the reference for the tests that
//! compare the two), and the alternative, unflushed subnormals on Intel cores, costs up to
//! four times the run time (docs/PERFORMANCE.md). The risk is confined to values that
//! training would round away anyway; it is named here so nobody mistakes it for a guarantee.

#![allow(unsafe_code)]

/// Whether this target can flush subnormals (x86, x86_64, aarch64).
pub const SUPPORTED: bool = cfg!(any(
    target_arch = "x86",
    target_arch = "x86_64",
    target_arch = "aarch64"
));

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod arch {
    /// MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6).
    const MASK: u32 = (1 << 15) | (1 << 6);

    fn read() -> u32 {
        let mut csr: u32 = 0;
        // SAFETY: `stmxcsr` stores the 32-bit register to the given address, which points at a
        // live, aligned, writable u32; it changes nothing else.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags))
        };
        csr
    }

    pub fn set(flush: bool) {
        let csr = read();
        let csr = if flush { csr | MASK } else { csr & !MASK };
        // SAFETY (memory): `ldmxcsr` loads MXCSR from a live, aligned u32. Only the FTZ and DAZ
        // bits differ from the value just read, so exception masks and the rounding mode stay
        // as the compiler assumes. Leaving the block with those two bits changed is outside
        // Rust's rules for the floating-point environment: the hazard and why it is accepted
        // are in the crate's documentation above.
        unsafe { std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, preserves_flags)) };
    }

    pub fn get() -> bool {
        read() & MASK == MASK
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    /// FPCR.FZ (bit 24) and, with half precision, FPCR.FZ16 (bit 19).
    #[cfg(not(target_feature = "fp16"))]
    const MASK: u64 = 1 << 24;
    #[cfg(target_feature = "fp16")]
    const MASK: u64 = (1 << 24) | (1 << 19);

    fn read() -> u64 {
        let fpcr: u64;
        // SAFETY: reading FPCR has no side effect.
        unsafe { std::arch::asm!("mrs {}, fpcr", out(reg) fpcr, options(nomem, nostack)) };
        fpcr
    }

    pub fn set(flush: bool) {
        let fpcr = read();
        let fpcr = if flush { fpcr | MASK } else { fpcr & !MASK };
        // SAFETY: only the flush bits differ from the value just read (rounding mode and trap
        // enables unchanged); see the x86 version for what flushing means for the program.
        unsafe { std::arch::asm!("msr fpcr, {}", in(reg) fpcr, options(nomem, nostack)) };
    }

    pub fn get() -> bool {
        read() & MASK == MASK
    }
}

#[cfg(not(any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")))]
mod arch {
    pub fn set(_flush: bool) {}

    pub fn get() -> bool {
        false
    }
}

/// Flushes subnormals to zero on the calling thread (`true`), or restores IEEE behaviour
/// (`false`). Call it once when a thread starts, before it computes anything.
pub fn set_flush(flush: bool) {
    arch::set(flush);
}

/// Whether the calling thread's flush bits are set.
pub fn flushing() -> bool {
    arch::get()
}

/// What the calling thread's arithmetic actually does with a subnormal: `true` when a product
/// that should be subnormal comes out as zero. Computed, not read from a register, so tests
/// and diagnostics observe the behaviour itself.
pub fn probe_flushes() -> bool {
    let tiny = std::hint::black_box(f32::MIN_POSITIVE);
    let half = std::hint::black_box(0.5f32);
    tiny * half == 0.0
}

/// Runs `f` on a new thread whose flush setting is the caller's, for code that starts its own
/// threads (a new thread inherits its creator's setting on Linux, not on every system).
pub fn spawn_scoped<'scope, 'env, T, F>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    f: F,
) -> std::thread::ScopedJoinHandle<'scope, T>
where
    F: FnOnce() -> T + Send + 'scope,
    T: Send + 'scope,
{
    let flush = flushing();
    scope.spawn(move || {
        set_flush(flush);
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each test runs on a thread of its own, so the settings below do not leak between tests.
    #[test]
    fn flushing_turns_a_subnormal_product_into_zero_and_back() {
        std::thread::spawn(|| {
            assert!(!probe_flushes(), "a new thread starts with IEEE subnormals");
            set_flush(true);
            assert_eq!(probe_flushes(), SUPPORTED);
            assert_eq!(flushing(), SUPPORTED);
            set_flush(false);
            assert!(!probe_flushes());
            assert!(!flushing());
        })
        .join()
        .unwrap();
    }

    #[test]
    fn scoped_threads_take_the_callers_setting() {
        for flush in [true, false] {
            std::thread::spawn(move || {
                set_flush(flush);
                let seen = std::thread::scope(|s| spawn_scoped(s, probe_flushes).join().unwrap());
                assert_eq!(seen, flush && SUPPORTED);
            })
            .join()
            .unwrap();
        }
    }

    #[test]
    fn subnormal_inputs_read_as_zero_when_flushing() {
        // Fresh `black_box`es for each product: the compiler assumes the floating-point
        // environment never changes, so it would otherwise reuse the first product.
        let product =
            || std::hint::black_box(f32::MIN_POSITIVE / 4.0) * std::hint::black_box(1e30f32);
        std::thread::spawn(move || {
            assert!(product() > 0.0);
            set_flush(true);
            // DAZ (x86) and FZ (aarch64) both read a subnormal operand as zero.
            assert_eq!(product() == 0.0, SUPPORTED);
        })
        .join()
        .unwrap();
    }
}
