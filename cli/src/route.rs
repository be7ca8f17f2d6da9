//! `ringroute route`: which node(s) serve each key.
//!
//! Output is a stable, script-facing format: one line per key,
//! `KEY<TAB>NODE`, or `KEY<TAB>N1<TAB>N2...` with `-n R`, in input order.
//! Keys are written back byte for byte, so output lines pair up with input
//! lines even for keys that are not UTF-8. A key containing a tab, a line
//! feed or a carriage return would break that format, so such keys are
//! refused: as arguments before anything is printed, on stdin (where a
//! line holds no line feed) at the line that has one; both are usage
//! errors (exit 2).

use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, BufWriter, IsTerminal, Write};

use crate::cluster::ClusterSpec;
use crate::error::CliError;
use crate::router::Router;

/// Routes `keys`, or every line of stdin when `keys` is empty.
///
/// Exits early with a runtime error at the first key no node can serve;
/// the lines already written stay valid.
pub fn run(
    spec: &ClusterSpec,
    router: &dyn Router,
    replicas: usize,
    keys: &[OsString],
) -> Result<(), CliError> {
    if spec.nodes.is_empty() {
        return Err(CliError::usage(
            "no nodes to route to: give --node NAME[=WEIGHT] or --nodes FILE",
        ));
    }
    // As `route_n` does: asked for more replicas than there are nodes, give
    // every node there is (and never reserve room for the request's R).
    let replicas = replicas.min(spec.len());
    for (i, key) in keys.iter().enumerate() {
        check_key(key.as_encoded_bytes())
            .map_err(|why| CliError::usage(format!("key argument {} {why}", i + 1)))?;
    }
    let mut out = BufWriter::with_capacity(64 * 1024, io::stdout().lock());
    let mut writer = LineWriter {
        spec,
        router,
        replicas,
        scratch: Vec::with_capacity(replicas),
    };
    if keys.is_empty() {
        route_stdin(&mut writer, &mut out)?;
    } else {
        for key in keys {
            // Raw bytes on Unix: keys need not be UTF-8.
            writer.write(key.as_encoded_bytes(), &mut out)?;
        }
    }
    out.flush()?;
    Ok(())
}

fn route_stdin(writer: &mut LineWriter<'_>, out: &mut impl Write) -> Result<(), CliError> {
    let stdin = io::stdin();
    if stdin.is_terminal() {
        // Best effort: a hint is no reason to fail.
        let _ = writeln!(
            io::stderr(),
            "ringroute: reading keys from stdin, one per line (end with Ctrl-D)"
        );
    }
    // Our own BufReader because StdinLock does not tell whether a read
    // would block; this one does, through `buffer()`.
    let mut input = BufReader::with_capacity(64 * 1024, stdin.lock());
    let mut line = Vec::new();
    let mut line_no = 0u64;
    loop {
        // Flush before a read that may block, so interactive and
        // request/response use sees answers at once, while bulk input
        // still gets large buffered writes.
        if input.buffer().is_empty() {
            out.flush()?;
        }
        line.clear();
        let n = input
            .read_until(b'\n', &mut line)
            .map_err(|e| CliError::runtime(format!("cannot read keys from stdin: {e}")))?;
        if n == 0 {
            return Ok(());
        }
        let mut key = line.as_slice();
        if let Some(rest) = key.strip_suffix(b"\n") {
            key = rest.strip_suffix(b"\r").unwrap_or(rest);
        }
        line_no += 1;
        if let Err(why) = check_key(key) {
            out.flush()?;
            return Err(CliError::usage(format!("stdin line {line_no}: key {why}")));
        }
        writer.write(key, out)?;
    }
}

/// Refuses a key that would break the `KEY<TAB>NODE` lines: one holding a
/// tab, a line feed or a carriage return. The message shows it escaped.
fn check_key(key: &[u8]) -> Result<(), String> {
    match key.iter().find(|b| matches!(b, b'\t' | b'\n' | b'\r')) {
        None => Ok(()),
        Some(&b) => Err(format!(
            "\"{}\" contains a {}, which the KEY<TAB>NODE output cannot carry",
            key.escape_ascii(),
            match b {
                b'\t' => "tab",
                b'\n' => "line feed",
                _ => "carriage return",
            }
        )),
    }
}

struct LineWriter<'a> {
    spec: &'a ClusterSpec,
    router: &'a dyn Router,
    replicas: usize,
    scratch: Vec<u32>,
}

impl LineWriter<'_> {
    fn write(&mut self, key: &[u8], out: &mut impl Write) -> Result<(), CliError> {
        let hash = self.router.key_hash(key);
        if self.replicas == 1 {
            // `route` is the primary by definition; replicas agree with it,
            // but one lookup is cheaper than starting a replica walk.
            self.scratch.clear();
            self.scratch.extend(self.router.route_hash(hash));
        } else {
            self.router
                .replicas_hash(hash, self.replicas, &mut self.scratch);
        }
        if self.scratch.is_empty() {
            out.flush()?;
            return Err(CliError::runtime(format!(
                "cannot route key \"{}\": no node is up",
                key.escape_ascii()
            )));
        }
        out.write_all(key)?;
        for &id in &self.scratch {
            out.write_all(b"\t")?;
            out.write_all(self.spec.nodes[id as usize].name.as_bytes())?;
        }
        out.write_all(b"\n")?;
        Ok(())
    }
}
