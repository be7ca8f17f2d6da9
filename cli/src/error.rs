//! The CLI's failure kinds and the exit status each one maps to.
//!
//! The split is about who has to act: a usage error means the command line
//! or the node list is wrong (fix the input), a runtime error means the
//! input was fine but something failed while running (a file, a pipe, an
//! unroutable key).

use std::fmt;
use std::io;

/// Exit status for runtime failures.
pub const EXIT_RUNTIME: i32 = 1;
/// Exit status for usage errors; clap uses the same code for its own.
pub const EXIT_USAGE: i32 = 2;

#[derive(Debug)]
pub enum CliError {
    /// Bad options or a bad node list: nodes, weights, vnodes, node files.
    Usage(String),
    /// Valid input, failed run: I/O, or a key no node can serve.
    Runtime(String),
    /// The reader of stdout went away (`| head`); not worth a message.
    BrokenPipe,
}

impl CliError {
    pub fn usage(msg: impl Into<String>) -> Self {
        CliError::Usage(msg.into())
    }

    pub fn runtime(msg: impl Into<String>) -> Self {
        CliError::Runtime(msg.into())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Runtime(_) => EXIT_RUNTIME,
            // A closed pipe is how `| head` says "enough", not a failure.
            CliError::BrokenPipe => 0,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(msg) | CliError::Runtime(msg) => f.write_str(msg),
            CliError::BrokenPipe => f.write_str("broken pipe"),
        }
    }
}

/// Only stdout is written through `?`, so every write error is about
/// stdout; reads convert their errors themselves to name what they read.
impl From<io::Error> for CliError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            CliError::BrokenPipe
        } else {
            CliError::Runtime(format!("cannot write to stdout: {e}"))
        }
    }
}
