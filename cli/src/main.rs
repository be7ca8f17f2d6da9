//! `ringroute`: route keys with a consistent-hash algorithm (ring, jump,
//! rendezvous or Maglev), and analyze or compare a cluster's balance, key
//! movement and failure behaviour.
//!
//! This file holds the command-line grammar and dispatch only; the cluster
//! spec, the routers and each subcommand live in their own modules so that
//! new algorithms or comparisons extend them instead of this file.
// The doc comments below double as clap's --help text, where `KEY<TAB>NODE`
// and `[WEIGHT]` are meant literally; rustdoc would read them as an HTML tag
// and an intra-doc link.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

mod analyze;
mod cluster;
mod compare;
mod compat;
mod error;
#[cfg(feature = "etcd")]
mod etcd;
mod experiment;
mod failure;
mod progress;
mod report;
mod route;
mod router;
mod text;
mod tiers;

use std::ffi::OsString;
use std::io::{self, Write};
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand};

use cluster::{ClusterArgs, ClusterSpec};
use error::CliError;
use router::{Algo, AlgoArgs, Config};

const EXIT_STATUS_HELP: &str = "\
Exit status:
  0  success, also when stdout is closed early (e.g. `ringroute route ... | head -1`)
  1  runtime failure: a file, stdin or stdout failed, or a key had no node up to serve it
  2  usage error: bad options or node list (invalid weight, duplicate node, bad --vnodes
     or --table-size, malformed node file, no nodes for `route`, a weight other than 1
     with --algo jump, --fail naming an unknown node or every node, a key holding a tab
     or a line break)";

#[derive(Parser, Debug)]
#[command(
    name = "ringroute",
    // The spec version is part of what a user must match across languages;
    // a test checks it against `ringroute::hash::SPEC_VERSION`.
    version = concat!(env!("CARGO_PKG_VERSION"), " (native ring spec v2)"),
    about = "Route keys with consistent hashing (ring, jump, rendezvous, maglev) and analyze a cluster",
    after_help = EXIT_STATUS_HELP,
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

const ROUTE_ABOUT: &str = "\
Print the node serving each key, one line per key, in input order:

  KEY<TAB>NODE            by default
  KEY<TAB>N1<TAB>N2...    with -n R: R distinct up nodes in failover order, primary
                          first (fewer when fewer are up: every node when R exceeds them)

This format is stable: scripts may rely on it. Keys come from the arguments or,
when none is given, from stdin, one per line (a trailing CR is dropped, an empty
line is the empty key). A key containing a tab, a line feed or a carriage return
cannot be written in this format and is a usage error (exit status 2). A key that no node can serve stops the run with an error
on stderr and exit status 1; lines already printed stay valid.

--algo picks the placement (default: ring). Jump is unweighted and refuses any
weight other than 1; its placement also depends on the order of the nodes.

--compat NAME routes bit for bit as an existing stack does instead: libmemcached,
twemproxy, uhashring, envoy-ring-hash, grpc-ring-hash, envoy-maglev, nginx, dubbo,
guava-jump or go-jump (nodes as HOST:PORT[=WEIGHT], whole weights; see
docs/compat.md for each mode's options).";

const ANALYZE_ABOUT: &str = "\
Route N keys (key-0, key-1, ...) with one algorithm (--algo, default ring) and
report the keys per node against the ideal share by weight (and the exact
hash-space share where the algorithm has one), peak-to-mean and the spread of
load, and what moves when each node is removed or one node is added: each
change is really applied to the library's cluster and every key routed again,
and the report says whether only the changed node's keys moved.

A failure section marks the first node down (or each --fail NAME), routes every
key again, shows where its keys went, checks that no other key moved, then marks
it up and checks that every key came back. For the ring, points that tie (a
2^-64 event per pair under ring spec v2) are counted.

--from MODE --to MODE reports instead the share of keys (and per node) that
would move from one placement of the nodes to another: MODE is ring, jump,
rendezvous, maglev or a --compat name (e.g. --from libmemcached --to ring).

With nodes in several tiers (NAME=WEIGHT@TIER; 0 = primary, 1 = first backup),
the sections above study the top tier, which takes every key while it is up; a
TIERS section gives each tier's share, and SPILL marks 0, 1, ... nodes of the top
tier down (and the --fail nodes) and shows the share of keys that spills to the
backups against what --tier-policy says, that no other key moved and that every
key came back.

--compare runs ring, jump, rendezvous and maglev on the same cluster and keys
and prints balance, movement, failure, build time and a rough lookup cost side
by side. With no --node or --nodes, a built-in demo cluster of 10 nodes with
mixed weights is analyzed (with every weight 1 for --algo jump).";

#[derive(Subcommand, Debug)]
enum Command {
    /// Print the node(s) serving each key, as KEY<TAB>NODE lines
    #[command(long_about = ROUTE_ABOUT, after_help = EXIT_STATUS_HELP)]
    Route(RouteArgs),
    /// Report balance, key movement and failures of a cluster, or compare algorithms
    #[command(long_about = ANALYZE_ABOUT, after_help = EXIT_STATUS_HELP)]
    Analyze(AnalyzeArgs),
    /// Follow the nodes registered in etcd; print each change and the share of keys it moved
    #[cfg(feature = "etcd")]
    Watch(etcd::WatchArgs),
    /// Register NAME[=WEIGHT] in etcd under a lease until interrupted
    #[cfg(feature = "etcd")]
    Register(etcd::RegisterArgs),
}

#[derive(Args, Debug)]
struct RouteArgs {
    #[command(flatten)]
    cluster: ClusterArgs,

    #[command(flatten)]
    algo: AlgoArgs,

    #[command(flatten)]
    compat: compat::CompatArgs,

    #[command(flatten)]
    tiers: tiers::TierArgs,

    /// Print up to R distinct nodes per key, primary first (all of them when R exceeds the nodes)
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

    #[command(flatten)]
    algo: AlgoArgs,

    #[command(flatten)]
    tiers: tiers::TierArgs,

    /// Compare all four algorithms side by side on the same cluster and keys (not with --algo)
    #[arg(long, conflicts_with = "algo")]
    compare: bool,

    /// Migration report: the share of keys that move from placement MODE (ring, jump,
    /// rendezvous, maglev or a --compat name) to the --to placement, per node
    #[arg(long, value_name = "MODE", requires = "to", conflicts_with = "compare")]
    from: Option<String>,

    /// The placement a migration goes to (with --from)
    #[arg(long, value_name = "MODE", requires = "from")]
    to: Option<String>,

    #[command(flatten)]
    compat: compat::CompatArgs,

    /// Mark NAME down in the failure analysis (default: the first node). Repeatable
    #[arg(long = "fail", value_name = "NAME")]
    fail: Vec<String>,

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
            let config = config(&args.algo, &spec);
            let router: Box<dyn router::Router> = match args.compat.mode(args.algo.table_size)? {
                Some(_) if tiers::is_tiered(&spec) => {
                    return Err(CliError::usage(
                        "--compat routes one tier: a compatibility mode places nodes as its peer \
                         does, which has no backup tiers (drop the @TIER suffixes)",
                    ));
                }
                Some(mode) => router::build_compat(mode, &spec.members())?,
                None if tiers::is_tiered(&spec) => {
                    Box::new(tiers::TieredRouter::build(config, &spec, &args.tiers)?)
                }
                None => {
                    if config.algo == Algo::Ring {
                        spec.check_ring_points(config.vnodes)?;
                    }
                    router::build(config, &spec.members())?
                }
            };
            route::run(&spec, router.as_ref(), args.replicas as usize, &args.keys)
        }
        Command::Analyze(args) => {
            let spec = if !args.cluster.is_empty() {
                args.cluster.load()?
            } else if args.algo.algo.unweighted() && !args.compare {
                // Jump cannot weigh nodes; the demo's point is to show an
                // algorithm at work, not to refuse it.
                ClusterSpec::demo_unweighted(args.cluster.vnodes)
            } else {
                ClusterSpec::demo(args.cluster.vnodes)
            };
            let config = config(&args.algo, &spec);
            if let (Some(from), Some(to)) = (&args.from, &args.to) {
                let a = compat::build_named(from, &args.compat, config, &spec)?;
                let b = compat::build_named(to, &args.compat, config, &spec)?;
                let m = compat::migration(&spec, a.as_ref(), b.as_ref(), (from, to), args.keys)?;
                let mut out = io::stdout().lock();
                out.write_all(compat::render(&m).as_bytes())?;
                out.flush()?;
                return Ok(());
            }
            if let Some(name) = &args.compat.compat {
                return Err(CliError::usage(format!(
                    "analyze takes a compatibility mode through --from/--to (e.g. --from {name} \
                     --to ring), not --compat"
                )));
            }
            let mut failed = failure::resolve(&spec, &args.fail)?;
            // A tiered cluster: the usual analysis studies the top tier (it
            // takes every key while it is up); a tier section follows.
            let whole = spec.clone();
            let spec = if tiers::is_tiered(&whole) {
                let top = tiers::top_tier(&whole);
                let names: Vec<String> = args
                    .fail
                    .iter()
                    .filter(|n| top.nodes.iter().any(|t| &t.name == *n))
                    .cloned()
                    .collect();
                failed = failure::resolve(&top, &names)?;
                top
            } else {
                whole.clone()
            };
            if config.algo == Algo::Ring && !args.compare {
                spec.check_ring_points(config.vnodes)?;
            }
            let mut text = if args.compare {
                let comparison = compare::run(&spec, config, args.keys, &failed)?;
                compare::render(&spec, &comparison)
            } else {
                let analysis = analyze::run(&spec, config, args.keys, &failed)?;
                report::render(&spec, &analysis)
            };
            if tiers::is_tiered(&whole) {
                text.push_str(&tiers::analyze(
                    &whole,
                    config,
                    &args.tiers,
                    args.keys,
                    &args.fail,
                )?);
            }
            let mut out = io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        #[cfg(feature = "etcd")]
        Command::Watch(args) => etcd::watch(args),
        #[cfg(feature = "etcd")]
        Command::Register(args) => etcd::register(args),
    }
}

fn config(args: &AlgoArgs, spec: &ClusterSpec) -> Config {
    Config {
        algo: args.algo,
        vnodes: spec.vnodes,
        table_size: args.table_size,
    }
}
