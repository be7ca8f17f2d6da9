//! `ringroute`: route keys through a consistent-hash ring, and analyze a
//! cluster's balance and key movement.
//!
//! This file holds the command-line grammar and dispatch only; the cluster
//! spec, the routers and each subcommand live in their own modules so that
//! new algorithms or comparisons extend them instead of this file.

mod analyze;
mod cluster;
mod error;
mod progress;
mod report;
mod route;
mod router;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use cluster::{ClusterArgs, ClusterSpec};
use error::CliError;

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success, also when stdout is closed early (e.g. `ringroute route ... | head -1`)
  1  runtime failure: a file, stdin or stdout failed, or a key had no node up to serve it
  2  usage error: bad options or node list (invalid weight, duplicate node, bad --vnodes,
     malformed node file, no nodes for `route`)";

#[derive(Parser, Debug)]
#[command(
    name = "ringroute",
    version,
    about = "Route keys through a consistent-hash ring and analyze a cluster's balance",
    after_help = EXIT_STATUS_HELP,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ROUTE_ABOUT: &str = "\
Print the node serving each key, one line per key, in input order:

  KEY<TAB>NODE            by default
  KEY<TAB>N1<TAB>N2...    with -n R: R distinct nodes in failover order, primary first

This format is stable: scripts may rely on it. Keys come from the arguments or,
when none is given, from stdin, one per line (a trailing CR is dropped, an empty
line is the empty key). A key that no node can serve stops the run with an error
on stderr and exit status 1; lines already printed stay valid.";

const ANALYZE_ABOUT: &str = "\
Route N keys (key-0, key-1, ...) and report the keys per node against the ideal
share by weight and the exact hash-space ownership, peak-to-mean and the spread
of load, and what moves when each node is removed or one node is added: each
change is really applied and every key routed again, and the report says whether
only the changed node's keys moved. With no --node or --nodes, a built-in demo
cluster of 10 nodes with mixed weights is analyzed.";

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the node(s) serving each key, as KEY<TAB>NODE lines
    #[command(long_about = ROUTE_ABOUT, after_help = EXIT_STATUS_HELP)]
    Route(RouteArgs),
    /// Report balance and key movement of a cluster (default: a demo cluster)
    #[command(long_about = ANALYZE_ABOUT, after_help = EXIT_STATUS_HELP)]
    Analyze(AnalyzeArgs),
}

#[derive(Args, Debug)]
struct RouteArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Print R distinct nodes per key, primary first (R at most the node count)
    #[arg(
        short = 'n',
        long = "replicas",
        value_name = "R",
        default_value_t = 1,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u32).range(1..),
    )]
    replicas: u32,

    /// Keys to route (default: stdin, one per line); use `--` before keys starting with '-'
    #[arg(value_name = "KEY")]
    keys: Vec<OsString>,
}

#[derive(Args, Debug)]
struct AnalyzeArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    /// Number of keys to route: key-0, key-1, ...
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1_000_000,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(u64).range(1..=MAX_KEYS),
    )]
    keys: u64,
}

/// Analysis keeps 12 bytes per key in memory; this caps it near 1.2 GB.
const MAX_KEYS: u64 = 100_000_000;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                ErrorKind::ValueValidation | ErrorKind::InvalidValue
            ) =>
        {
            // A bad value (weight, vnodes, ...) is fully explained by clap's
            // first line; its usage and help trailer would only bury it.
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or("error: invalid value");
            let _ = writeln!(io::stderr(), "{first}");
            return ExitCode::from(error::EXIT_USAGE as u8);
        }
        // Help, version and grammar errors: clap's own output and exit code.
        Err(e) => e.exit(),
    };
    match run(cli) {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            // Same prefix as clap's own errors, so all errors read alike.
            let _ = writeln!(io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Route(args) => {
            let spec = args.cluster.load()?;
            let router = router::build(spec.vnodes, &spec.members())?;
            route::run(&spec, router.as_ref(), args.replicas as usize, &args.keys)
        }
        Command::Analyze(args) => {
            let spec = if args.cluster.is_empty() {
                ClusterSpec::demo(args.cluster.vnodes)
            } else {
                args.cluster.load()?
            };
            let analysis = analyze::run(&spec, args.keys)?;
            let text = report::render(&spec, &analysis);
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
    }
}
