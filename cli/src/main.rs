//! `cove`: the command-line front of a Cove node.
//!
//! `cove up` runs the node; every other command talks to it over the control socket, except
//! `init`, `config`, and `group create`, `join` and `groups` which also work while no node
//! runs.
//!
//! # Layout
//!
//! - `args.rs`: the raw command line (clap); nothing else sees clap types.
//! - `config/`: `cove up`'s settings in layers (defaults, `cove.toml`, `COVE_*`, flags),
//!   turned into a `NodeConfig` in one place.
//! - `parse.rs`, `secret.rs`: other user input (times, targeting, seeds; passphrases,
//!   invites) turned into typed values.
//! - `cmd/`: one module per command group; `output.rs`: every result, human and `--json`.
//! - `error.rs`: the CLI's usage errors. This file: parsing, logging, dispatch, exit codes.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or invalid input, 3 node not running.

mod args;
mod cmd;
mod config;
mod demo;
mod error;
mod output;
mod parse;
mod secret;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use cove_node::NodeError;

use crate::args::{Cli, Command};
use crate::cmd::Ctx;
use crate::config::Source;
use crate::error::UsageError;
use crate::output::Output;

const EXIT_RUNTIME: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_RUNNING: u8 = 3;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.format(&mut Cli::command()).exit(),
    };
    // Only `cove config show` reports it; the data dir itself is not a `cove.toml` setting.
    let data_dir_source = match matches.value_source("data_dir") {
        Some(ValueSource::CommandLine) => Source::Flag,
        Some(ValueSource::EnvVariable) => Source::Env,
        _ => Source::Default,
    };
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(run(cli, data_dir_source)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// The error and its causes on one line, `a: b: c`. Many errors already end with their
/// cause's text (`invalid invite: {0}` whose source is that same `{0}`); such a cause is not
/// printed a second time.
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !line.ends_with(&cause) {
            line.push_str(": ");
            line.push_str(&cause);
        }
    }
    line
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<UsageError>().is_some() {
        return EXIT_USAGE;
    }
    match e.downcast_ref::<NodeError>() {
        Some(NodeError::NotRunning(_)) => EXIT_NOT_RUNNING,
        Some(err) if err.is_user_error() => EXIT_USAGE,
        _ => EXIT_RUNTIME,
    }
}

/// `RUST_LOG` filters logs (stderr); the default is `info` for `up`, `warn` otherwise.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Up(_) => "info",
        _ => "warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn default_data_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("", "", "cove")
        .map(|d| d.data_dir().to_path_buf())
        .context("cannot find a home directory for the default data dir; pass --data-dir")
}

/// One command, dispatched to its module in `cmd/`.
async fn run(cli: Cli, data_dir_source: Source) -> Result<()> {
    use cmd::{admin, ads, chat, group, node, post, seed};
    if let Command::Demo = cli.command {
        return demo::run().await;
    }
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let ctx = &Ctx {
        data_dir,
        out: Output { json: cli.json },
    };
    match cli.command {
        Command::Init { passphrase } => seed::init(ctx, passphrase),
        Command::ExportSeed => seed::export(ctx),
        Command::ImportSeed {
            seed,
            file,
            passphrase,
        } => seed::import(ctx, seed, file, passphrase),
        Command::Passphrase(command) => seed::passphrase(ctx, command),
        Command::Config(command) => cmd::config::run(ctx, data_dir_source, command),
        Command::Up(args) => node::up(ctx, args).await,
        Command::Down => node::down(ctx).await,
        Command::Web { open, no_open } => node::web(ctx, open, no_open).await,
        Command::Status { net } => node::status(ctx, net).await,
        Command::Peers => node::peers(ctx).await,
        Command::Block { peer, duration } => node::block(ctx, peer, Some(duration)).await,
        Command::Unblock { peer } => node::block(ctx, peer, None).await,
        Command::Sync { group } => node::sync(ctx, group).await,
        Command::Store(command) => node::store(ctx, command).await,
        Command::Group(command) => group::run(ctx, command).await,
        Command::Join { invite, file } => group::join(ctx, invite, file).await,
        Command::Groups => group::list(ctx).await,
        Command::Post { group, title, text } => post::post(ctx, group, title, text).await,
        Command::Feed {
            group,
            order,
            window,
            limit,
            explain,
        } => post::feed(ctx, group, order, window, limit, explain).await,
        Command::Show { id } => post::show(ctx, id).await,
        Command::Reply { id, text } => post::reply(ctx, id, text).await,
        Command::Thread { id } => post::thread(ctx, id).await,
        Command::Edit { id, text, title } => post::edit(ctx, id, text, title).await,
        Command::Delete { id } => post::delete(ctx, id).await,
        Command::Recommend { id, undo } => post::recommend(ctx, id, undo).await,
        Command::Profile(command) => post::profile(ctx, command).await,
        Command::Room(command) => chat::room(ctx, command).await,
        Command::Chat {
            room,
            group,
            history,
        } => chat::chat(ctx, group, room, history).await,
        Command::Say { room, text, group } => chat::say(ctx, room, text, group).await,
        Command::Admin(command) => admin::run(ctx, command).await,
        Command::Members { group } => admin::members(ctx, group).await,
        Command::Mute { member, group } => admin::mute(ctx, member, group, false).await,
        Command::Unmute { member, group } => admin::mute(ctx, member, group, true).await,
        Command::Advertiser(command) => ads::advertiser(ctx, command).await,
        Command::Ad(command) => ads::ad(ctx, command).await,
        Command::Ads { group, explain } => ads::ads(ctx, group, explain).await,
        Command::Interests(command) => ads::interests(ctx, command).await,
        Command::Demo => unreachable!("handled above"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cove_crypto::Invite;

    #[test]
    fn each_cause_is_printed_once() {
        let cause = Invite::decode("hello", 0).unwrap_err();
        let text = cause.to_string();
        let error = anyhow::Error::from(NodeError::from(cause));
        assert_eq!(error_chain(&error), format!("invalid invite: {text}"));
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let error = anyhow::Error::from(NodeError::io("/x/seed", io));
        assert_eq!(error_chain(&error), "/x/seed: gone");
        let error = Err::<(), _>(std::io::Error::other("disk on fire"))
            .context("reading the seed")
            .unwrap_err();
        assert_eq!(error_chain(&error), "reading the seed: disk on fire");
    }

    #[test]
    fn usage_errors_exit_with_the_usage_code() {
        let usage = anyhow::Error::from(UsageError::Seed(3));
        assert_eq!(exit_code(&usage), EXIT_USAGE);
        let wrapped = anyhow::Error::from(UsageError::EmptyPassphrase).context("import-seed");
        assert_eq!(exit_code(&wrapped), EXIT_USAGE);
        let stopped = anyhow::Error::from(NodeError::NotRunning("x".into()));
        assert_eq!(exit_code(&stopped), EXIT_NOT_RUNNING);
        assert_eq!(exit_code(&anyhow::anyhow!("disk on fire")), EXIT_RUNTIME);
    }
}
