//! Stop signals: Ctrl-C (SIGINT), SIGTERM (what a scheduler or `docker stop` sends) and SIGHUP
//! (a closed terminal).
//!
//! One stop signal always stops the program; how depends on what it is doing:
//! - Outside a [`Graceful`] scope (parsing flags, reading a config from a FIFO that no one
//!   writes, loading or generating data) there is nothing to save, so the signal ends the
//!   process at once with 128 + the signal, as if no handler were installed. A blocked read
//!   cannot swallow it.
//! - Inside one (the training loop, a cv or sweep parent forwarding the signal to its
//!   children, an atomic write whose temporary must not be left behind) the signal is stored
//!   ([`requested`]) and the code there stops at its next check, saving what it must.
//!
//! A second signal, once one has been seen, ends the process at once in either case
//! (signal-hook's documented pattern).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::{Context, Result};

/// The signals installed by [`install`].
struct Flags {
    /// The number of the last stop signal received; 0 for none.
    which: Arc<AtomicUsize>,
    /// True while no [`Graceful`] scope is open: a signal then ends the process at once.
    immediate: Arc<AtomicBool>,
    /// Open [`Graceful`] scopes, across threads.
    depth: AtomicUsize,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();

/// A stop signal turned into an error: the code that saw it has left things consistent, and
/// `main` exits with [`exit_code`] after saying so.
#[derive(Debug, thiserror::Error)]
#[error("stopped by signal {0}")]
pub(crate) struct Stopped(pub usize);

/// Installs the handlers (once; later calls do nothing). A handler that cannot be registered
/// is an error: a program that cannot be stopped cleanly should not start.
pub(crate) fn install() -> Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    if FLAGS.get().is_some() {
        return Ok(());
    }
    let which = Arc::new(AtomicUsize::new(0));
    let immediate = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(AtomicBool::new(false));
    for signal in [SIGINT, SIGTERM, SIGHUP] {
        let code = 128 + signal;
        // The order matters: the shutdowns test their flag before the first signal sets `seen`.
        signal_hook::flag::register_conditional_shutdown(signal, code, immediate.clone())
            .and_then(|_| {
                signal_hook::flag::register_conditional_shutdown(signal, code, seen.clone())
            })
            .and_then(|_| signal_hook::flag::register(signal, seen.clone()))
            .and_then(|_| signal_hook::flag::register_usize(signal, which.clone(), signal as usize))
            .with_context(|| format!("cannot register a handler for signal {signal}"))?;
    }
    let _ = FLAGS.set(Flags {
        which,
        immediate,
        depth: AtomicUsize::new(0),
    });
    Ok(())
}

/// The number of the stop signal received so far (0 for none), for loops that poll it and
/// pass it on (the training loop, the cv and sweep pools).
pub(crate) fn flag() -> &'static AtomicUsize {
    static NONE: AtomicUsize = AtomicUsize::new(0);
    FLAGS.get().map_or(&NONE, |f| &*f.which)
}

/// The stop signal received so far, if any.
pub(crate) fn requested() -> Option<usize> {
    let n = FLAGS.get()?.which.load(Ordering::SeqCst);
    (n != 0).then_some(n)
}

/// `Err(Stopped)` once a stop signal has come: for loops inside a [`Graceful`] scope.
pub(crate) fn check() -> Result<(), Stopped> {
    requested().map_or(Ok(()), |n| Err(Stopped(n)))
}

/// The signal of a [`Stopped`] anywhere in `err`'s chain, also inside an I/O error (a stop
/// seen by a writer's fill travels as one).
pub(crate) fn stopped_by(err: &anyhow::Error) -> Option<usize> {
    err.chain().find_map(|cause| {
        cause
            .downcast_ref::<Stopped>()
            .or_else(|| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .and_then(|e| e.get_ref())
                    .and_then(|e| e.downcast_ref::<Stopped>())
            })
            .map(|s| s.0)
    })
}

/// The exit code for a stop by `signal`: 128 + the signal, as shells report it (130 for
/// Ctrl-C, 143 for SIGTERM).
pub(crate) fn exit_code(signal: usize) -> u8 {
    u8::try_from(128 + signal).unwrap_or(130)
}

/// While one lives, a stop signal is stored for the code to act on instead of ending the
/// process. Scopes nest and may be open on several threads.
#[must_use = "the scope ends when this is dropped"]
pub(crate) struct Graceful(());

impl Graceful {
    /// Opens a scope.
    pub(crate) fn enter() -> Self {
        if let Some(f) = FLAGS.get() {
            f.depth.fetch_add(1, Ordering::SeqCst);
            f.immediate.store(false, Ordering::SeqCst);
        }
        Graceful(())
    }
}

impl Drop for Graceful {
    /// Closing the last scope with a signal stored that no code acted on (it came during the
    /// last writes of a finished run) ends the process there: the signal still stops it.
    fn drop(&mut self) {
        if let Some(f) = FLAGS.get() {
            if f.depth.fetch_sub(1, Ordering::SeqCst) == 1 {
                f.immediate.store(true, Ordering::SeqCst);
                if let Some(n) = requested() {
                    say!("stopped by signal {n}; nothing half-written was left behind");
                    std::process::exit(i32::from(exit_code(n)));
                }
            }
        }
    }
}
