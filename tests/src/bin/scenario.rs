//! `scenario`: runs the network scenarios of issue 6 and writes their figures.
//!
//! ```text
//! cargo build --release -p cove-cli      # the `cove` binary of process mode, next to this one
//! cargo run --release -p cove-tests --bin scenario -- suite --out docs/performance.json
//! cargo run --release -p cove-tests --bin scenario -- run --mode cove --nodes 50
//! cargo run --release -p cove-tests --bin scenario -- run --mode cove --nodes 10 --processes
//! cargo run --release -p cove-tests --bin scenario -- sim --members 2000
//! target/release/scenario compare --against /tmp/scenario-before -- --nodes 50 --idle 3
//! ```
//!
//! `suite` runs every scenario in a child process of its own (`run`), so that each one's peak
//! memory and CPU time are its own, Cove and baseline back to back for each N so that both see
//! the same machine load, and prints a Markdown table plus the JSON it writes. With
//! `--processes` every node is a process of its own: `cove up` for Cove, this binary's hidden
//! `baseline-node` subcommand for the baseline.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use cove_tests::scenario::{BaselineNode, Mode, Placement, Programs, Scenario, Transport};
use serde_json::{json, Value};

#[derive(Parser, Debug)]
#[command(about = "Cove network scenarios (issue 6)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs one scenario in this process and prints its report as one JSON line.
    Run(RunArgs),
    /// Runs Cove and baseline for every N, each in a child process; writes JSON.
    Suite {
        /// Node counts.
        #[arg(long, value_delimiter = ',', default_value = "10,50,100")]
        nodes: Vec<usize>,
        /// Workload per scenario (authors, rate, duration, text length).
        #[command(flatten)]
        workload: Workload,
        /// Memory or TCP.
        #[arg(long, value_enum, default_value = "memory")]
        transport: TransportArg,
        /// Where to write the JSON (also printed).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Messages for the ingest measurement.
        #[arg(long, default_value_t = 20_000)]
        ingest_messages: usize,
        /// Messages in the store for the resources measurement.
        #[arg(long, default_value_t = 100_000)]
        stored_messages: usize,
        /// Skip the network scenarios.
        #[arg(long)]
        skip_network: bool,
        /// Cove/baseline pairs per N up to 50 nodes (larger N run once: the N = 100 pair
        /// takes minutes). The load of this shared machine changes within a minute, so the
        /// median ratio of several back-to-back pairs is the figure to compare.
        #[arg(long, default_value_t = 3)]
        repeat: usize,
        /// Node counts run with one process per node over loopback TCP (empty: none).
        #[arg(long, value_delimiter = ',', default_value = "10")]
        process_nodes: Vec<usize>,
        /// Cove/baseline pairs per N in process mode.
        #[arg(long, default_value_t = 3)]
        process_repeat: usize,
        /// The `cove` binary for process mode.
        #[arg(long, env = "COVE_BIN")]
        cove_bin: Option<PathBuf>,
    },
    /// One bare gossipsub node of a process-mode baseline, driven over stdin/stdout.
    #[command(hide = true)]
    BaselineNode {
        /// Topic (hex).
        #[arg(long)]
        topic: String,
        /// Discovery key (64 hex characters).
        #[arg(long)]
        discovery_key: String,
        /// Address of the first node.
        #[arg(long)]
        bootstrap: Option<String>,
        /// Bytes per published message.
        #[arg(long)]
        payload_len: usize,
        /// The gossip layer's `fast_timers` timers.
        #[arg(long)]
        fast_timers: bool,
        /// Publish to every subscribed peer, not only the mesh.
        #[arg(long)]
        flood_publish: bool,
    },
    /// Measures the ingest pipeline against raw ed25519 verification (one thread).
    Ingest {
        /// Messages.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Runs, each in a fresh process: prints every run's report, then one line with the
        /// median, lowest and highest of the ratios (one run varies by ±10 % on a shared
        /// machine, so a target is judged on the median).
        #[arg(long, default_value_t = 1)]
        repeat: usize,
    },
    /// Compares this build's `run` with another build's (a `scenario` binary built from other
    /// code): `pairs` pairs of runs, each in a fresh process, the order within a pair
    /// alternating. One order alone can fake a difference: in one comparison the first run
    /// of a pair was the slower one in 7 pairs of 8 (PERFORMANCE.md, "Where one hop's time
    /// goes at N = 50"). Prints each run, then the medians of p50, p99 and CPU per delivery
    /// for each build and for each place in a pair.
    Compare {
        /// The other build's `scenario` binary.
        #[arg(long)]
        against: PathBuf,
        /// Pairs of runs; an even number puts each build first equally often.
        #[arg(long, default_value_t = 4)]
        pairs: usize,
        /// The arguments of `run`, after `--` (for example `-- --nodes 50 --idle 3`).
        #[arg(last = true)]
        run: Vec<String>,
    },
    /// Runs the seeded simulator (`cove_tests::sim`): many members over the pure core and a
    /// modelled network; prints the run, its time and whether it converged as JSON.
    Sim {
        /// Members.
        #[arg(long, default_value_t = 2000)]
        members: usize,
        /// Posts, replies and recommendations.
        #[arg(long, default_value_t = 300)]
        messages: usize,
        /// Seed.
        #[arg(long, env = cove_tests::sim::SEED_VAR, default_value_t = 1)]
        seed: u64,
    },
    /// Starts one node on an existing data dir and prints its start time and RSS as JSON
    /// (used by `suite` in a fresh process).
    StartNode {
        /// The data dir.
        #[arg(long)]
        dir: PathBuf,
        /// Messages it holds (for the report).
        #[arg(long, default_value_t = 0)]
        messages: usize,
    },
    /// Starts a node in N groups (one private network each) and prints its start time, RSS,
    /// listeners and sockets as JSON (issue 13; run each N in a fresh process).
    Groups {
        /// Groups the node is in.
        #[arg(long, default_value_t = 1)]
        groups: usize,
    },
    /// Re-keys a roster of N members (build time, CPU, bytes on the wire) and an in-process
    /// group of M online members (time until all hold the new epoch), as JSON (issue 13).
    Rekey {
        /// Members on the roster.
        #[arg(long, default_value_t = 1000)]
        roster: usize,
        /// Members of the in-process group (0 or 1: skip that part).
        #[arg(long, default_value_t = 50)]
        online: usize,
    },
}

/// Largest N whose scenario pair `suite` repeats.
const REPEAT_MAX_NODES: usize = 50;

/// Post text length of the ingest and resources measurements.
const TEXT_LEN: usize = 256;

/// How long a started node idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(3);

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// cove or baseline.
    #[arg(long, value_enum, default_value = "cove")]
    mode: ModeArg,
    /// Memory or TCP.
    #[arg(long, value_enum, default_value = "memory")]
    transport: TransportArg,
    /// N.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Use the gossip layer's `fast_timers` timers and the node's loopback anti-entropy.
    #[arg(long)]
    fast_timers: bool,
    /// Cove's anti-entropy every hour, so that every delivery is gossip's.
    #[arg(long)]
    gossip_only: bool,
    /// The baseline publishes to every subscribed peer (flood publishing), not to its mesh.
    #[arg(long)]
    flood_publish: bool,
    /// In-process baseline: microseconds of busy work per delivery, standing in for a node's
    /// (what that much work costs the network's latency).
    #[arg(long, default_value_t = 0)]
    baseline_work_us: u64,
    /// One process per node over loopback TCP (`cove up`, or `scenario baseline-node`).
    #[arg(long)]
    processes: bool,
    /// The `cove` binary for --processes (default: next to this binary).
    #[arg(long, env = "COVE_BIN")]
    cove_bin: Option<PathBuf>,
    #[command(flatten)]
    workload: Workload,
}

/// The executables of process mode: `cove` (given, or next to this binary) and this binary.
fn programs(cove_bin: Option<PathBuf>) -> Result<Programs> {
    let me = std::env::current_exe()?;
    let cove = match cove_bin {
        Some(path) => path,
        None => me.parent().context("binary has no directory")?.join("cove"),
    };
    if !cove.exists() {
        bail!(
            "{} not found: run `cargo build --release -p cove-cli` first, or pass --cove-bin",
            cove.display()
        );
    }
    Ok(Programs { cove, baseline: me })
}

#[derive(clap::Args, Debug, Clone)]
struct Workload {
    /// M: posting nodes.
    #[arg(long, default_value_t = 5)]
    authors: usize,
    /// K: posts per second over all authors.
    #[arg(long, default_value_t = 10.0)]
    rate: f64,
    /// T: seconds of posting (6 s keeps `suite`, process mode included, under 10 minutes on
    /// 2 cores).
    #[arg(long, default_value_t = 6.0)]
    duration: f64,
    /// Post text bytes.
    #[arg(long, default_value_t = 256)]
    text_len: usize,
    /// Seconds the connected network idles before the workload (its CPU is sampled then).
    #[arg(long, default_value_t = cove_tests::scenario::IDLE_WINDOW.as_secs_f64())]
    idle: f64,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum ModeArg {
    Cove,
    Baseline,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum TransportArg {
    Memory,
    Tcp,
}

impl TransportArg {
    fn name(self) -> &'static str {
        match self {
            TransportArg::Memory => "memory",
            TransportArg::Tcp => "tcp",
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Run(args) => {
            let placement = if args.processes {
                Placement::Processes(programs(args.cove_bin)?)
            } else {
                Placement::InProcess
            };
            let scenario = Scenario {
                mode: match args.mode {
                    ModeArg::Cove => Mode::Cove,
                    ModeArg::Baseline => Mode::Baseline,
                },
                transport: match (args.processes, args.transport) {
                    (true, _) | (false, TransportArg::Tcp) => Transport::Tcp,
                    (false, TransportArg::Memory) => Transport::Memory,
                },
                placement,
                nodes: args.nodes,
                authors: args.workload.authors.min(args.nodes),
                rate: args.workload.rate,
                duration: Duration::from_secs_f64(args.workload.duration),
                text_len: args.workload.text_len,
                drain: Duration::from_secs(60),
                idle: Duration::from_secs_f64(args.workload.idle),
                fast_timers: args.fast_timers,
                gossip_only: args.gossip_only,
                flood_publish: args.flood_publish,
                baseline_work: Duration::from_micros(args.baseline_work_us),
            };
            let report = scenario.run().await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Suite {
            nodes,
            workload,
            transport,
            out,
            ingest_messages,
            stored_messages,
            skip_network,
            repeat,
            process_nodes,
            process_repeat,
            cove_bin,
        } => {
            let (nodes, process_nodes) = if skip_network {
                (vec![], vec![])
            } else {
                (nodes, process_nodes)
            };
            let cove_bin = if process_nodes.is_empty() {
                None
            } else {
                Some(programs(cove_bin)?.cove)
            };
            let mut plan: Vec<Pair> = nodes
                .iter()
                .map(|&n| Pair {
                    nodes: n,
                    transport,
                    cove_bin: None,
                    repeat: if n <= REPEAT_MAX_NODES {
                        repeat.max(1)
                    } else {
                        1
                    },
                })
                .collect();
            plan.extend(process_nodes.iter().map(|&n| Pair {
                nodes: n,
                transport: TransportArg::Tcp,
                cove_bin: cove_bin.clone(),
                repeat: process_repeat.max(1),
            }));
            suite(
                &plan,
                &workload,
                transport,
                out,
                ingest_messages,
                stored_messages,
            )
            .await
        }
        Command::BaselineNode {
            topic,
            discovery_key,
            bootstrap,
            payload_len,
            fast_timers,
            flood_publish,
        } => {
            let discovery_key: [u8; 32] = hex::decode(&discovery_key)?
                .try_into()
                .map_err(|_| anyhow::anyhow!("--discovery-key must be 32 bytes"))?;
            let bootstrap = bootstrap.map(|a| a.parse()).transpose()?;
            cove_tests::scenario::run_baseline_node(BaselineNode {
                topic,
                discovery_key,
                bootstrap: bootstrap.into_iter().collect(),
                payload_len,
                fast_timers,
                flood_publish,
            })
            .await
        }
        Command::Ingest { messages, repeat } if repeat > 1 => ingest_runs(messages, repeat),
        Command::Ingest { messages, .. } => {
            let report = cove_tests::perf::ingest(messages, TEXT_LEN)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Sim {
            members,
            messages,
            seed,
        } => {
            let outcome =
                cove_tests::sim::run(&cove_tests::sim::Config::new(seed, members, messages))?;
            println!("{}", serde_json::to_string(&outcome)?);
            if !outcome.run.converged {
                bail!("no convergence with seed {seed}");
            }
            Ok(())
        }
        Command::StartNode { dir, messages } => {
            let report = cove_tests::perf::start_and_measure(&dir, messages, IDLE).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Groups { groups } => {
            let report = cove_tests::perf::groups_cost(groups, IDLE).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
        Command::Compare {
            against,
            pairs,
            run,
        } => compare(&against, pairs, &run),
        Command::Rekey { roster, online } => {
            let report = cove_tests::perf::rekey_cost(roster, online).await?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(())
        }
    }
}

/// Runs `scenario ARGS` in a child process and parses the JSON of its last stdout line.
fn child_json(args: &[String]) -> Result<Value> {
    child_json_of(&std::env::current_exe()?, args)
}

/// [`child_json`] with `program` as the `scenario` binary.
fn child_json_of(program: &std::path::Path, args: &[String]) -> Result<Value> {
    let output = std::process::Command::new(program)
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stderr(std::process::Stdio::inherit())
        .output()?;
    if !output.status.success() {
        bail!("scenario {args:?} failed: {}", output.status);
    }
    let stdout = String::from_utf8(output.stdout)?;
    let line = stdout.lines().last().context("no report")?;
    Ok(serde_json::from_str(line)?)
}

/// `ingest` `repeat` times, each in a fresh process (so that no run inherits another's heap):
/// prints each report as it comes, then the spread of the figures the targets are set on.
fn ingest_runs(messages: usize, repeat: usize) -> Result<()> {
    const FIGURES: [&str; 4] = [
        "ingest_vs_single_cpu",
        "pipelined_vs_single",
        "store_bytes_per_message",
        "verify_strict_slowest_vs_fastest",
    ];
    let mut runs: Vec<Value> = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let report = ingest_child(messages)?;
        println!("{}", serde_json::to_string(&report)?);
        runs.push(report);
    }
    let mut spread = serde_json::Map::new();
    for figure in FIGURES {
        let mut values: Vec<f64> = runs
            .iter()
            .map(|r| r[figure].as_f64().context(figure))
            .collect::<Result<_>>()?;
        values.sort_by(f64::total_cmp);
        spread.insert(
            figure.into(),
            json!({
                "median": values[values.len() / 2],
                "min": values[0],
                "max": values[values.len() - 1],
            }),
        );
    }
    println!(
        "{}",
        json!({ "messages": messages, "runs": repeat, "spread": spread })
    );
    Ok(())
}

/// `scenario run RUN` by this build and by `against`, `pairs` times, each run in a fresh
/// process, this build first in even pairs and second in odd ones. Prints a line per run,
/// then the medians by build and by place in the pair (a large difference by place says
/// that the order, not the build, moves the figures).
fn compare(against: &std::path::Path, pairs: usize, run: &[String]) -> Result<()> {
    const BUILDS: [&str; 2] = ["this", "against"];
    const FIGURES: [&str; 3] = ["p50_ms", "p99_ms", "cpu_us_per_delivery"];
    if pairs == 0 {
        bail!("--pairs must be at least 1");
    }
    if !against.is_file() {
        bail!(
            "--against {}: no such file (a `scenario` binary of the other build)",
            against.display()
        );
    }
    let programs = [std::env::current_exe()?, against.to_path_buf()];
    let args: Vec<String> = std::iter::once("run".to_string())
        .chain(run.iter().cloned())
        .collect();
    // (build, place in the pair, the three figures)
    let mut runs: Vec<(usize, usize, [f64; 3])> = Vec::with_capacity(2 * pairs);
    for pair in 0..pairs {
        let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for (place, build) in order.into_iter().enumerate() {
            let report = child_json_of(&programs[build], &args)?;
            let figure = |path: &[&str]| {
                path.iter()
                    .fold(&report, |v, key| &v[key])
                    .as_f64()
                    .with_context(|| format!("no {path:?} in the report"))
            };
            let figures = [
                figure(&["latency_ms", "p50"])?,
                figure(&["latency_ms", "p99"])?,
                figure(&["cpu_us_per_delivery"])?,
            ];
            println!(
                "{}",
                json!({
                    "pair": pair,
                    "build": BUILDS[build],
                    "place": place + 1,
                    FIGURES[0]: figures[0],
                    FIGURES[1]: figures[1],
                    FIGURES[2]: figures[2],
                    "delivered": report["delivered"],
                    "expected": report["expected"],
                })
            );
            runs.push((build, place, figures));
        }
    }
    let medians = |keep: &dyn Fn(usize, usize) -> bool| {
        let mut out = serde_json::Map::new();
        for (i, name) in FIGURES.iter().enumerate() {
            let values: Vec<f64> = (runs.iter())
                .filter(|(build, place, _)| keep(*build, *place))
                .map(|(_, _, figures)| figures[i])
                .collect();
            out.insert((*name).into(), json!(median(values)));
        }
        out
    };
    println!(
        "{}",
        json!({
            "pairs": pairs,
            "median": {
                "this": medians(&|build, _| build == 0),
                "against": medians(&|build, _| build == 1),
                "first_in_pair": medians(&|_, place| place == 0),
                "second_in_pair": medians(&|_, place| place == 1),
            },
        })
    );
    Ok(())
}

/// One `ingest` run of `messages` in a fresh process: its report.
fn ingest_child(messages: usize) -> Result<Value> {
    child_json(&["ingest".into(), "--messages".into(), messages.to_string()])
}

/// The median of `values` (the upper of the middle two when there is an even number).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Idle RSS and start time, empty and with `stored` messages, each node in a fresh process.
fn resources(stored: usize) -> Result<Value> {
    let empty = tempfile::tempdir()?;
    cove_node::data_dir::DataDir::new(empty.path()).init()?;
    let start = |dir: &std::path::Path, messages: usize| {
        child_json(&[
            "start-node".into(),
            "--dir".into(),
            dir.display().to_string(),
            "--messages".into(),
            messages.to_string(),
        ])
    };
    eprintln!("resources: idle node");
    let idle = start(empty.path(), 0)?;
    let full = tempfile::tempdir()?;
    eprintln!("resources: filling a store with {stored} messages");
    let fill = std::time::Instant::now();
    cove_tests::perf::fill_data_dir(full.path(), stored, TEXT_LEN)?;
    let fill_s = fill.elapsed().as_secs_f64();
    eprintln!("resources: node with {stored} messages (filled in {fill_s:.0} s)");
    let loaded = start(full.path(), stored)?;
    // Second start: the store's pages are in the OS cache, as on any restart.
    let loaded_again = start(full.path(), stored)?;
    Ok(json!({
        "idle": idle,
        "loaded": loaded,
        "loaded_restart": loaded_again,
        "fill_s": fill_s,
        "targets": { "idle_rss_mib": 30, "loaded_rss_mib": 80, "ready_ms": 300 },
    }))
}

/// Cove/baseline pairs of one N in `suite`.
#[derive(Debug, Clone)]
struct Pair {
    nodes: usize,
    transport: TransportArg,
    /// Process mode, with this `cove` binary.
    cove_bin: Option<PathBuf>,
    repeat: usize,
}

impl Pair {
    fn placement(&self) -> &'static str {
        if self.cove_bin.is_some() {
            "processes"
        } else {
            "in_process"
        }
    }
}

async fn suite(
    plan: &[Pair],
    workload: &Workload,
    transport: TransportArg,
    out: Option<PathBuf>,
    ingest_messages: usize,
    stored_messages: usize,
) -> Result<()> {
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut medians = Vec::new();
    let mut network_s = Vec::new();
    for pair in plan {
        let n = pair.nodes;
        let reps = pair.repeat;
        let placement = pair.placement();
        let pair_started = std::time::Instant::now();
        let mut p99 = Vec::new();
        for rep in 0..reps {
            let cove = child(pair, "cove", workload)?;
            let baseline = child(pair, "baseline", workload)?;
            let ratio = |path: &[&str]| -> Value {
                let (Some(c), Some(b)) = (get(&cove, path), get(&baseline, path)) else {
                    return Value::Null;
                };
                if b == 0.0 {
                    Value::Null
                } else {
                    json!((c / b * 100.0).round() / 100.0)
                }
            };
            let ratios = json!({
                "latency_p50": ratio(&["latency_ms", "p50"]),
                "latency_p95": ratio(&["latency_ms", "p95"]),
                            "latency_p99": ratio(&["latency_ms", "p99"]),
                "propagation_p50": ratio(&["propagation_ms", "p50"]),
                "propagation_p95": ratio(&["propagation_ms", "p95"]),
                "propagation_p99": ratio(&["propagation_ms", "p99"]),
                "cpu_us_per_delivery": ratio(&["cpu_us_per_delivery"]),
                "net_cpu_us_per_delivery": ratio(&["net_cpu_us_per_delivery"]),
                "peak_rss_mib_per_node": ratio(&["peak_rss_mib_per_node"]),
            });
            eprintln!(
            "N={n} {placement} #{rep}: p99 cove {:.1} ms / baseline {:.1} ms = {}x (propagation {}x); delivery {} / {}",
            get(&cove, &["latency_ms", "p99"]).unwrap_or(f64::NAN),
            get(&baseline, &["latency_ms", "p99"]).unwrap_or(f64::NAN),
            ratios["latency_p99"],
            ratios["propagation_p99"],
            get(&cove, &["delivery_ratio"]).unwrap_or(f64::NAN),
            get(&baseline, &["delivery_ratio"]).unwrap_or(f64::NAN),
        );
            p99.push((
                get(&ratios, &["latency_p99"]).unwrap_or(f64::NAN),
                get(&ratios, &["propagation_p99"]).unwrap_or(f64::NAN),
            ));
            rows.push(json!({
                "nodes": n,
                "placement": placement,
                "repeat": rep,
                "cove": cove,
                "baseline": baseline,
                "ratio": ratios,
            }));
        }
        network_s.push(json!({
            "nodes": n,
            "placement": placement,
            "wall_s": pair_started.elapsed().as_secs_f64(),
        }));
        medians.push(json!({
            "nodes": n,
            "placement": placement,
            "runs": reps,
            "latency_p99_ratio_median": median(p99.iter().map(|r| r.0).collect()),
            "propagation_p99_ratio_median": median(p99.iter().map(|r| r.1).collect()),
            "latency_p99_ratios": p99.iter().map(|r| r.0).collect::<Vec<_>>(),
        }));
    }
    eprintln!("ingest: {ingest_messages} messages");
    let ingest_started = std::time::Instant::now();
    let ingest = ingest_child(ingest_messages)?;
    let ingest_s = ingest_started.elapsed().as_secs_f64();
    let resources_started = std::time::Instant::now();
    let resources = resources(stored_messages)?;
    let result = json!({
        "date": date(),
        "command": std::env::args().collect::<Vec<_>>().join(" "),
        "machine": machine(),
        "wall_s": started.elapsed().as_secs_f64(),
        "wall_s_parts": {
            "network": network_s,
            "ingest": ingest_s,
            "resources": resources_started.elapsed().as_secs_f64(),
        },
        "workload": {
            "authors": workload.authors,
            "rate_per_s": workload.rate,
            "duration_s": workload.duration,
            "text_len": workload.text_len,
            "transport": transport.name(),
            "process_mode": "tcp, one process per node, chat lines instead of posts",
        },
        "scenarios": rows,
        "p99_ratio_medians": medians,
        "ingest": ingest,
        "resources": resources,
    });
    println!("{}", markdown(&result));
    let text = serde_json::to_string_pretty(&result)?;
    if let Some(out) = out {
        std::fs::write(&out, format!("{text}\n"))
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    } else {
        println!("{text}");
    }
    Ok(())
}

/// Runs `scenario run ...` in a child process and parses its report.
fn child(pair: &Pair, mode: &str, w: &Workload) -> Result<Value> {
    eprintln!(
        "running {mode} N={} ({}, {})",
        pair.nodes,
        pair.transport.name(),
        pair.placement()
    );
    let mut args: Vec<String> = [
        "run",
        "--mode",
        mode,
        "--transport",
        pair.transport.name(),
        "--nodes",
        &pair.nodes.to_string(),
        "--authors",
        &w.authors.to_string(),
        "--rate",
        &w.rate.to_string(),
        "--duration",
        &w.duration.to_string(),
        "--text-len",
        &w.text_len.to_string(),
        "--idle",
        &w.idle.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(cove) = &pair.cove_bin {
        args.extend(["--processes".into(), "--cove-bin".into()]);
        args.push(cove.display().to_string());
    }
    child_json(&args)
}

/// Today's UTC date (YYYY-MM-DD), from the system clock.
fn date() -> String {
    let days = (cove_node::now_ms() / 86_400_000) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn get(value: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(value, |v, k| v.get(k))?.as_f64()
}

/// Cores, memory and load of this machine.
pub(crate) fn machine() -> Value {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    json!({
        "cores": cores,
        "memory_gib": (mem_kib as f64 / 1024.0 / 1024.0 * 10.0).round() / 10.0,
        "cpu": cpu,
        "loadavg_at_start": load.trim(),
    })
}

fn markdown(result: &Value) -> String {
    let mut s = String::from(
        "| N | stack | delivery | send→delivery p50 / p95 / p99 ms | propagation p50 / p95 / p99 ms \
         | CPU µs/delivery | idle CPU s/s | peak RSS MiB/node |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    let f = |v: Option<f64>, digits: usize| v.map_or("-".into(), |x| format!("{x:.digits$}"));
    let three = |v: &Value, what: &str, prefix: &str| {
        ["p50", "p95", "p99"]
            .map(|p| {
                let key = if prefix.is_empty() {
                    p.to_owned()
                } else {
                    format!("{prefix}_{p}")
                };
                let path: Vec<&str> = if prefix.is_empty() {
                    vec![what, &key]
                } else {
                    vec![&key]
                };
                f(get(v, &path), if prefix.is_empty() { 1 } else { 2 })
            })
            .join(" / ")
    };
    let label = |v: &Value| {
        if v["placement"] == "processes" {
            format!("{} processes", v["nodes"])
        } else {
            v["nodes"].to_string()
        }
    };
    for row in result["scenarios"].as_array().into_iter().flatten() {
        let n = format!("{} #{}", label(row), row["repeat"]);
        for stack in ["cove", "baseline"] {
            let r = &row[stack];
            s += &format!(
                "| {n} | {stack} | {} | {} | {} | {} | {} | {} |\n",
                f(get(r, &["delivery_ratio"]).map(|x| x * 100.0), 2) + "%",
                three(r, "latency_ms", ""),
                three(r, "propagation_ms", ""),
                f(get(r, &["cpu_us_per_delivery"]), 0),
                f(get(r, &["idle_cpu_per_s"]), 2),
                f(get(r, &["peak_rss_mib_per_node"]), 1),
            );
        }
        let ra = &row["ratio"];
        s += &format!(
            "| {n} | **cove / baseline** | | {} | {} | {} | | {} |\n",
            three(ra, "", "latency"),
            three(ra, "", "propagation"),
            f(get(ra, &["cpu_us_per_delivery"]), 2),
            f(get(ra, &["peak_rss_mib_per_node"]), 2),
        );
    }
    s += "\n| N | runs | p99 ratio (send→delivery), median | p99 ratio (propagation), median |\n|---|---|---|---|\n";
    for m in result["p99_ratio_medians"].as_array().into_iter().flatten() {
        s += &format!(
            "| {} | {} | {} | {} |\n",
            label(m),
            m["runs"],
            f(get(m, &["latency_p99_ratio_median"]), 2),
            f(get(m, &["propagation_p99_ratio_median"]), 2),
        );
    }
    s
}
