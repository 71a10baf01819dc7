//! Live progress on the terminal (indicatif on stderr), hidden when stderr is not a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A spinner with a message line, plus finished lines printed above it.
pub(crate) struct Progress {
    bar: ProgressBar,
    shown: bool,
}

impl Progress {
    /// A spinner on stderr, drawn only if stderr is a terminal.
    pub(crate) fn new() -> Progress {
        let shown = std::io::stderr().is_terminal();
        let target = if shown { ProgressDrawTarget::stderr_with_hz(10) } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(None, target);
        if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}") {
            bar.set_style(style);
        }
        if shown {
            bar.enable_steady_tick(Duration::from_millis(100));
        }
        Progress { bar, shown }
    }

    /// Replace the live line.
    pub(crate) fn set(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Print a finished line above the live one (terminal only; the final report says it all).
    pub(crate) fn line(&self, msg: impl AsRef<str>) {
        if self.shown {
            self.bar.println(msg.as_ref());
        }
    }

    /// Remove the live line.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
