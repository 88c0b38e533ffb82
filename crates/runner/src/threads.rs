//! The CPU threads that compute, and how their arithmetic treats subnormal floats
//! (`backend.flush_denormals`, crates/fpenv).
//!
//! Four kinds of thread compute in a run: the main thread (the data stage), rayon's global pool
//! (flex's kernels, the preprocessing, and the training loop with its host Adam update and every
//! evaluation, run there by [`on_pool`]), the CSV loader's workers,
//! and the threads a backend starts on its own (ndarray's matrix multiply). [`init`] sets the
//! first two (the pool's threads once the data is read, see [`init`]); the loader hands the
//! caller's setting to its workers
//! (`fpenv::spawn_scoped`); a backend's own threads are started later by one of these and
//! inherit the setting from it, as new threads do on Linux. [`probe`] checks all of them by
//! computing, which `burnfit devices` prints and the tests read.

use burn::tensor::{Device, Tensor, TensorData};

/// Sets the subnormal mode of the calling thread, before anything computes. Rayon's global pool
/// (flex's kernels, the preprocessing) is started later by the first parallel step, from this
/// thread, and its threads inherit the mode as new threads do on Linux; [`init_pool`] then sets
/// it on each of them explicitly, for systems where threads start with the default.
///
/// The pool is not built here, before the data is read: started that early it raised the seed
/// run's peak memory by 30 MB (144 → 174 MB) with no change in speed. mimalloc hands freed
/// memory back to the system after a delay, so how much of the data stage's freed temporaries
/// counts in the peak depends on the order of its allocations; with
/// `MIMALLOC_PURGE_DELAY=0` the peak fell to 114 MB either way, but training ran 5 % slower.
pub(crate) fn init(flush: bool) {
    burnfit_fpenv::set_flush(flush);
}

/// [`init`] and [`init_pool`] at once, for commands whose memory peak is not at stake.
pub(crate) fn init_all(flush: bool) {
    init(flush);
    init_pool(flush);
}

/// Sets the subnormal mode on every thread of rayon's global pool (starting it if need be).
/// Rayon's threads live as long as the pool, so once is enough.
pub(crate) fn init_pool(flush: bool) {
    rayon::broadcast(|_| burnfit_fpenv::set_flush(flush));
}

/// The number of threads rayon's global pool has or will have, found without starting it
/// (see [`init`] for why it starts late): `RAYON_NUM_THREADS` when set to a positive number, as
/// rayon reads it, else the number of logical CPUs.
pub(crate) fn pool_size() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Runs `f` on a thread of rayon's global pool while the calling thread waits.
///
/// Flex splits its large matrix products over the pool. Called from outside the pool, the
/// caller hands each product to the pool's threads and waits: on two cores that makes three
/// busy threads, and the pool's threads, spinning for work between products, take the cores
/// from the thread that runs the loop's small operations. Run on a pool thread, the loop takes
/// part in its own products and no third thread competes: batch-1024 steps of the seed network
/// measured 1.41 → 1.04 ms on a 2-core AMD EPYC (`docs/PERFORMANCE_LOG.md`).
pub(crate) fn on_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| f())
}

/// [`on_pool`], with the pool's other threads kept spinning for work while `f` runs.
///
/// Between two split products a step does element-wise work, long enough for rayon's idle
/// threads to go to sleep; the next product then waits for a futex wake-up before its other
/// half starts. Kept spinning (asking rayon for work, `rayon::yield_now`), they take it at once:
/// batch-1024 steps of the seed network measured 1.09 → 0.97 ms on a 2-core AMD EPYC. MKL's and OpenMP's threads
/// spin the same way after a parallel region; the cost is every thread of the pool but `f`'s at
/// 100 % while it trains, so the trainer asks for this only when its products are large enough
/// to be split
/// ([`crate::backend::Selected::splits_products`]).
///
/// Nothing in `f` may call `rayon::broadcast`, which needs every thread of the pool to take its
/// job and would wait for the spinners forever.
pub(crate) fn on_pool_spinning<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    use std::sync::atomic::{AtomicBool, Ordering};
    let threads = rayon::current_num_threads();
    if threads < 2 {
        return on_pool(f);
    }
    let stop = AtomicBool::new(false);
    rayon::scope(|s| {
        let main = rayon::current_thread_index();
        for _ in 1..threads {
            let stop = &stop;
            s.spawn(move |_| {
                // A spinner that lands on `f`'s own thread (taken back while `f` waits inside
                // a join) would hold that thread until `f` ends, which it then cannot: it goes.
                if rayon::current_thread_index() == main {
                    return;
                }
                while !stop.load(Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        /// Stops the spinners when `f` returns or unwinds, so the scope can end.
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Release);
            }
        }
        let _stop = Stop(&stop);
        f()
    })
}

/// One kind of compute thread and whether a product that should be subnormal came out as zero
/// on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    /// The kind of thread.
    pub(crate) thread: &'static str,
    /// `true`: flushed to zero; `false`: kept as an IEEE subnormal.
    pub(crate) flushes: bool,
}

/// Each element of a `[m, k] x [k, n]` product of `1e-20`s is 64 products of `1e-40`, a
/// subnormal: all zero when the threads doing the multiply flush, else `6.4e-39`.
fn matmul_flushes(device: &Device, m: usize, k: usize, n: usize) -> bool {
    let lhs = Tensor::<2>::from_data(TensorData::new(vec![1e-20f32; m * k], [m, k]), device);
    let rhs = Tensor::<2>::from_data(TensorData::new(vec![1e-20f32; k * n], [k, n]), device);
    let out = lhs.matmul(rhs).into_data();
    let all_zero = out.iter::<f32>().all(|v| v == 0.0);
    all_zero
}

/// Probes every kind of compute thread of this process (see the module doc). The matrix
/// products are large enough that flex and ndarray split them over their threads.
pub(crate) fn probe() -> Vec<Probe> {
    let pool = rayon::broadcast(|_| burnfit_fpenv::probe_flushes());
    let loader = std::thread::scope(|s| {
        burnfit_fpenv::spawn_scoped(s, burnfit_fpenv::probe_flushes)
            .join()
            .unwrap_or(false)
    });
    #[allow(deprecated)] // ndarray is deprecated in Burn 0.22 and still a backend here.
    let ndarray = Device::ndarray();
    vec![
        Probe {
            thread: "main thread",
            flushes: burnfit_fpenv::probe_flushes(),
        },
        Probe {
            thread: "rayon pool",
            flushes: pool.iter().all(|&f| f),
        },
        Probe {
            thread: "loader workers",
            flushes: loader,
        },
        Probe {
            thread: "flex matmul",
            flushes: matmul_flushes(&Device::flex(), 512, 64, 512),
        },
        Probe {
            thread: "ndarray matmul",
            flushes: matmul_flushes(&ndarray, 512, 64, 512),
        },
    ]
}

/// `burnfit devices`' floating-point lines.
pub(crate) fn describe(flush: bool) -> String {
    let mut out = if !burnfit_fpenv::SUPPORTED {
        "subnormals: kept (this CPU architecture has no flush-to-zero control here)\n".to_string()
    } else if flush {
        "subnormals: flushed to zero (backend.flush_denormals = true)\n".to_string()
    } else {
        "subnormals: kept, strict IEEE (backend.flush_denormals = false)\n".to_string()
    };
    for p in probe() {
        let seen = if p.flushes { "flushed" } else { "kept" };
        out.push_str(&format!("  {:<16}{seen}\n", p.thread));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pool built like the global one: its threads compute in the mode it was given, whatever
    /// the thread that built it does.
    #[test]
    fn pool_threads_take_the_mode() {
        for flush in [true, false] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(2)
                .start_handler(move |_| burnfit_fpenv::set_flush(flush))
                .build()
                .unwrap();
            let seen = pool.broadcast(|_| burnfit_fpenv::probe_flushes());
            assert!(seen
                .iter()
                .all(|&f| f == (flush && burnfit_fpenv::SUPPORTED)));
            // flex's kernels run on the pool they are called from.
            let flex = pool.install(|| matmul_flushes(&Device::flex(), 512, 64, 512));
            assert_eq!(flex, flush && burnfit_fpenv::SUPPORTED);
        }
    }

    fn two_threads() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap()
    }

    /// With the other thread spinning, work split over the pool (a parallel sum, and a product
    /// flex splits) still runs and gives what it gives without the spinner.
    #[test]
    fn the_spinning_pool_runs_split_work() {
        use rayon::prelude::*;
        let pool = two_threads();
        let work = || {
            let sum: u64 = (0..1_000_000u64).into_par_iter().sum();
            let device = Device::flex();
            let a = Tensor::<2>::from_data(
                TensorData::new((0..512 * 64).map(|i| (i % 7) as f32).collect(), [512, 64]),
                &device,
            );
            let b = Tensor::<2>::from_data(
                TensorData::new((0..64 * 512).map(|i| (i % 5) as f32).collect(), [64, 512]),
                &device,
            );
            let product: f32 = a.matmul(b).sum().into_scalar();
            (sum, product, rayon::current_thread_index().is_some())
        };
        let spun = pool.install(|| on_pool_spinning(work));
        let plain = pool.install(work);
        assert_eq!(spun, plain);
        assert_eq!(spun.0, 999_999 * 1_000_000 / 2);
        assert!(spun.2, "the work ran on a thread of the pool");
    }

    /// A panic in the work stops the spinners and reaches the caller: the pool does not spin on
    /// for ever.
    #[test]
    fn a_panic_in_the_spinning_pool_ends_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let pool = two_threads();
            let caught = pool.install(|| {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    on_pool_spinning(|| panic!("the work failed"))
                }))
            });
            tx.send(caught.is_err()).unwrap();
        });
        let ended = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(ended, Ok(true), "the panic came back within a minute");
    }
}
