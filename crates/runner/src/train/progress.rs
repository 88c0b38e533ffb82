//! The per-epoch progress bar, on a terminal only (logs and CI get the epoch lines alone).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// An epoch's bar, or nothing when stderr is not a terminal.
pub(super) struct Progress(Option<ProgressBar>);

impl Progress {
    /// A bar for epoch `epoch` (0-based) of `epochs`, `steps` long, starting at `first`.
    pub(crate) fn start(epoch: usize, epochs: usize, steps: usize, first: usize) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::new(steps as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "epoch {prefix} {bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
            )
            .expect("valid template"),
        );
        bar.set_prefix(format!("{}/{}", epoch + 1, epochs));
        bar.set_position(first as u64);
        Self(Some(bar))
    }

    /// After a read of the device: the position and the running loss.
    pub(crate) fn read(&self, done: usize, loss: f64) {
        if let Some(b) = &self.0 {
            b.set_position(done as u64);
            b.set_message(format!("loss {loss:.4}"));
        }
    }

    /// One more step.
    pub(crate) fn inc(&self) {
        if let Some(b) = &self.0 {
            b.inc(1);
        }
    }

    /// The epoch ended early (interrupted or diverged): leave the bar where it stopped.
    pub(crate) fn abandon(&self) {
        if let Some(b) = &self.0 {
            b.abandon();
        }
    }

    /// The epoch ran to its end.
    pub(crate) fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
