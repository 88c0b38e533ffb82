//! What burnfit says, and where: data on stdout, progress and logs on stderr, and neither may
//! end the program with a panic when its reader has gone (`burnfit sweep --collect DIR | head
//! -1`, `burnfit train … 2>&1 | head -3`). Rust's `println!` and `eprintln!` panic when a write
//! fails; these macros do not.
//!
//! - [`say!`] and [`say_part!`] write progress and logs to stderr and ignore a failed write: a
//!   run whose terminal went away still trains to the end and leaves a complete run folder.
//! - [`outln!`] and [`out!`] write data to stdout and return the `io::Result`, so the command
//!   stops at its next `?`; `main` ends a broken pipe quietly with [`EXIT_BROKEN_PIPE`]. Commands
//!   print their data after writing their files, so the files are complete when it stops.

use std::fmt::Arguments;
use std::io::Write;

/// Exit code after stdout's reader went away: 128 + SIGPIPE, what a shell reports for a
/// program killed by the closed pipe; not 0, since not all output was delivered.
pub(crate) const EXIT_BROKEN_PIPE: u8 = 141;

/// A line of progress or log on stderr, like `eprintln!` but never panicking.
macro_rules! say {
    () => {
        $crate::term::stderr(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::term::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Text on stderr without a newline, like `eprint!` but never panicking.
macro_rules! say_part {
    ($($arg:tt)*) => {
        $crate::term::stderr(format_args!($($arg)*))
    };
}

/// A line of data on stdout, like `println!` but returning the write's `io::Result`.
macro_rules! outln {
    () => {
        $crate::term::stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::term::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Data on stdout without a newline, like `print!` but returning the write's `io::Result`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::term::stdout(format_args!($($arg)*))
    };
}

/// Writes to stderr, ignoring failure: there is nobody left to tell. Control characters other
/// than newline and tab are written escaped (`\u{1b}`): messages quote column names, values
/// and paths from the user's files, and an escape sequence in a CSV header must not reach the
/// terminal raw (it could clear the screen, retitle the window or hide the lines before it).
pub(crate) fn stderr(args: Arguments) {
    let text = std::fmt::format(args);
    let _ = std::io::stderr().lock().write_all(defang(&text).as_bytes());
}

/// `text` with its control characters escaped, newlines and tabs kept.
pub(crate) fn defang(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if unsafe_char(c) {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

/// Writes to stdout.
pub(crate) fn stdout(args: Arguments) -> std::io::Result<()> {
    std::io::stdout().lock().write_fmt(args)
}

/// `text` cut to at most `max` characters, marked where it was cut: for a message that may
/// quote a user's file (a TOML error quotes the offending line, which can be megabytes long).
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… (cut)", &text[..end]),
        None => text.to_string(),
    }
}

/// Whether `err` comes from writing to a pipe whose reader has gone.
pub(crate) fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_long_text_is_cut() {
        assert_eq!(defang("a\tb\nc"), "a\tb\nc");
        assert_eq!(defang("col\x1b[2Jx\u{7}"), "col\\u{1b}[2Jx\\u{7}");
        assert_eq!(excerpt("abcdef", 3), "abc… (cut)");
        assert_eq!(excerpt("abc", 3), "abc");
    }
}
