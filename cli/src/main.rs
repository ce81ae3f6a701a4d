//! `cove`: the command-line front of a Cove node.
//!
//! `cove up` runs the node; every other command talks to it over the control socket, except
//! `init`, and `group create`, `join` and `groups` which also work while no node runs.
//!
//! Exit codes: 0 success, 1 runtime failure, 2 usage or invalid input, 3 node not running.

mod args;
mod demo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use cove_crypto::{Invite, MasterSeed, Passphrase};
use cove_node::control::{offline, Client, Request};
use cove_node::data_dir::{passphrase_from_env, DataDir, SeedProtection, PASSPHRASE_ENV};
use cove_node::metrics::MetricsServer;
use cove_node::sync::{Progress as SyncProgress, Report as SyncReport};
use cove_node::view::social::{
    ModerationInfo, Order as SocialOrder, ProfileInfo, RoomInfo, Thread,
};
use cove_node::{FeedItem, GroupInfo, Node, NodeConfig, NodeError, PeerSummary, Status};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::args::{
    AdCommand, AdminCommand, AdvertiserCommand, Cli, Command, GroupCommand, InterestsCommand,
    Order, PassphraseCommand, ProfileCommand, RoomCommand, StoreCommand, UpArgs,
};
use cove_node::message::{Advertiser, Offer, Place, Policy, Targeting};
use cove_node::view::ads::{AdView, GrantView};

const EXIT_RUNTIME: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_NOT_RUNNING: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_RUNTIME);
        }
    };
    match runtime.block_on(run(cli)) {
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
    match e.downcast_ref::<NodeError>() {
        Some(NodeError::NotRunning(_)) => EXIT_NOT_RUNNING,
        Some(err) if err.is_user_error() => EXIT_USAGE,
        _ => EXIT_RUNTIME,
    }
}

/// `RUST_LOG` filters logs (stderr); the default is `info` for `up` and `demo`, `warn` otherwise.
fn init_logging(command: &Command) {
    let default = match command {
        Command::Up(_) => "info",
        Command::Demo => "warn",
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

async fn run(cli: Cli) -> Result<()> {
    if let Command::Demo = cli.command {
        return demo::run().await;
    }
    let data_dir = match cli.data_dir {
        Some(dir) => dir,
        None => default_data_dir()?,
    };
    let out = Output { json: cli.json };
    match cli.command {
        Command::Init { passphrase } => {
            let protection = seed_protection(passphrase)?;
            DataDir::new(&data_dir).init_with(&protection)?;
            let label = if passphrase {
                "initialised (seed encrypted with your passphrase)"
            } else {
                "initialised"
            };
            out.created("data_dir", &data_dir.display().to_string(), label);
        }
        Command::ExportSeed => {
            let dir = DataDir::new(&data_dir);
            let seed = dir.load_seed_with(seed_passphrase(&dir)?.as_ref())?;
            let hex: Zeroizing<String> =
                Zeroizing::new(seed.as_bytes().iter().map(|b| format!("{b:02x}")).collect());
            out.created(
                "seed",
                &hex,
                "master seed (keep it secret: it is every pseudonym you have)",
            );
        }
        Command::ImportSeed {
            seed,
            file,
            passphrase,
        } => {
            let text = read_secret(&SEED_INPUT, seed, file.as_deref())?;
            let seed = MasterSeed::from_bytes(*Zeroizing::new(parse_seed(text.trim())?));
            let protection = seed_protection(passphrase)?;
            DataDir::new(&data_dir).import_seed_with(&seed, &protection)?;
            out.created("data_dir", &data_dir.display().to_string(), "seed imported");
        }
        Command::Passphrase(command) => {
            let dir = DataDir::new(&data_dir);
            let current = seed_passphrase(&dir)?;
            // Open the seed first: a wrong current passphrase fails before anything is asked.
            dir.load_seed_with(current.as_ref())?;
            let (protection, done) = match command {
                PassphraseCommand::Set => (
                    SeedProtection::passphrase(new_passphrase(NEW_PASSPHRASE_ENV)?),
                    "seed encrypted with the new passphrase",
                ),
                PassphraseCommand::Remove => (SeedProtection::Plain, "seed stored unencrypted"),
            };
            dir.change_seed_protection(current.as_ref(), &protection)?;
            out.message(done);
        }
        Command::Up(args) => up(&data_dir, args).await?,
        Command::Down => {
            request(&data_dir, &Request::Shutdown).await?;
            out.message("node stopped");
        }
        Command::Group(GroupCommand::Create { name, rate_limit }) => {
            // Checked here too, so a bad limit is a usage error even before the node is asked.
            let policy = Policy::with_rate_limit(rate_limit.as_deref())
                .map_err(|e| usage(format!("--rate-limit: {e}")))?;
            let id = match Client::connect(&data_dir).await {
                Ok(client) => id_of(
                    client
                        .request(&Request::CreateGroup { name, rate_limit })
                        .await?,
                )?,
                Err(NodeError::NotRunning(_)) => offline::create_group(&data_dir, &name, policy)
                    .await?
                    .to_string(),
                Err(e) => return Err(e.into()),
            };
            out.created("group", &id, "created group");
        }
        Command::Group(GroupCommand::Invite {
            group,
            expires,
            addrs,
        }) => {
            let ttl_secs = expires.as_secs();
            let invite = Request::Invite {
                group,
                ttl_secs,
                addrs,
            };
            let invite = id_of(request(&data_dir, &invite).await?)?;
            if Invite::decode_ignoring_expiry(&invite).is_ok_and(|i| i.addrs.is_empty()) {
                eprintln!(
                    "warning: this invite lists no address, so invitees can only find this node \
                     through the LAN (mDNS) or the other members they reach. Give an address \
                     where they can reach you: `cove group invite --addr MULTIADDR`, or start \
                     the node with `cove up --advertise MULTIADDR` (or a non-wildcard --listen)"
                );
            }
            out.created("invite", &invite, "invite (share it privately)");
        }
        Command::Join { invite, file } => {
            let invite = read_secret(&INVITE_INPUT, invite, file.as_deref())?;
            let id = match Client::connect(&data_dir).await {
                Ok(client) => {
                    let join = Request::Join {
                        invite: invite.to_string(),
                    };
                    id_of(client.request(&join).await?)?
                }
                Err(NodeError::NotRunning(_)) => {
                    offline::join(&data_dir, &invite).await?.to_string()
                }
                Err(e) => return Err(e.into()),
            };
            out.created("group", &id, "joined group");
        }
        Command::Store(StoreCommand::Reindex) => {
            // A running node holds the store's lock: opening it fails with advice to stop it.
            let indexed = offline::reindex(&data_dir).await?;
            out.created("messages", &indexed.to_string(), "messages indexed");
        }
        Command::Groups => {
            let groups: Vec<GroupInfo> = match Client::connect(&data_dir).await {
                Ok(client) => serde_json::from_value(client.request(&Request::Groups).await?)?,
                Err(NodeError::NotRunning(_)) => offline::groups(&data_dir)?,
                Err(e) => return Err(e.into()),
            };
            out.groups(&groups);
        }
        Command::Post { group, title, text } => {
            let id = request(&data_dir, &Request::Post { group, title, text }).await?;
            out.created("id", &id_of(id)?, "posted");
        }
        Command::Feed {
            group,
            order,
            window,
            limit,
            explain,
        } => {
            let order = match order {
                Order::New => SocialOrder::New,
                Order::Hot => SocialOrder::Hot,
                Order::Top => SocialOrder::Top,
            };
            let window_secs = window.0.map(|d| d.as_secs());
            let ranked = Request::Ranked {
                group,
                order,
                window_secs,
                limit: limit as usize,
                explain,
            };
            let items: Vec<FeedItem> = serde_json::from_value(request(&data_dir, &ranked).await?)?;
            out.feed(&items);
        }
        Command::Show { id } => {
            let item: FeedItem =
                serde_json::from_value(request(&data_dir, &Request::Show { id }).await?)?;
            out.feed(std::slice::from_ref(&item));
        }
        Command::Reply { id, text } => {
            let id = request(&data_dir, &Request::Reply { to: id, text }).await?;
            out.created("id", &id_of(id)?, "replied");
        }
        Command::Thread { id } => {
            let thread: Thread =
                serde_json::from_value(request(&data_dir, &Request::Thread { id }).await?)?;
            out.thread(&thread);
        }
        Command::Edit { id, text, title } => {
            let id = request(&data_dir, &Request::Edit { id, title, text }).await?;
            out.created("id", &id_of(id)?, "edited");
        }
        Command::Delete { id } => {
            let id = request(&data_dir, &Request::Delete { id }).await?;
            out.created("id", &id_of(id)?, "deleted");
        }
        Command::Recommend { id, undo } => {
            let id = request(&data_dir, &Request::Recommend { id, undo }).await?;
            out.created(
                "id",
                &id_of(id)?,
                if undo {
                    "recommendation withdrawn"
                } else {
                    "recommended"
                },
            );
        }
        Command::Room(RoomCommand::Create { name, group }) => {
            let id = request(&data_dir, &Request::RoomCreate { group, name }).await?;
            out.created("room", &id_of(id)?, "created room");
        }
        Command::Room(RoomCommand::List { group }) => {
            let rooms: Vec<RoomInfo> =
                serde_json::from_value(request(&data_dir, &Request::Rooms { group }).await?)?;
            out.rooms(&rooms);
        }
        Command::Chat {
            room,
            group,
            history,
        } => chat(&data_dir, group, room, history, &out).await?,
        Command::Say { room, text, group } => {
            let id = request(&data_dir, &Request::Say { group, room, text }).await?;
            out.created("id", &id_of(id)?, "sent");
        }
        Command::Admin(AdminCommand::Ban {
            member,
            group,
            undo,
        }) => {
            let id = request(
                &data_dir,
                &Request::AdminBan {
                    group,
                    member,
                    undo,
                },
            )
            .await?;
            out.created(
                "id",
                &id_of(id)?,
                if undo { "ban lifted" } else { "banned" },
            );
        }
        Command::Admin(AdminCommand::Remove { id }) => {
            let id = request(&data_dir, &Request::AdminRemove { id }).await?;
            out.created("id", &id_of(id)?, "removed");
        }
        Command::Admin(AdminCommand::List { group }) => {
            let info: ModerationInfo =
                serde_json::from_value(request(&data_dir, &Request::AdminList { group }).await?)?;
            out.moderation(&info);
        }
        Command::Advertiser(AdvertiserCommand::Init) => {
            out.advertiser_key(&DataDir::new(&data_dir).init_advertiser()?)
        }
        Command::Advertiser(AdvertiserCommand::Show) => {
            out.advertiser_key(&DataDir::new(&data_dir).load_advertiser()?)
        }
        Command::Advertiser(AdvertiserCommand::Profile {
            group,
            name,
            place,
            address,
            lat,
            lon,
            contact,
        }) => {
            let profile = Advertiser {
                name,
                place: Place {
                    name: place,
                    address,
                    lat,
                    lon,
                },
                contact,
            };
            let id = request(&data_dir, &Request::AdvertiserProfile { group, profile }).await?;
            out.created("id", &id_of(id)?, "advertiser profile published");
        }
        Command::Admin(AdminCommand::GrantAdvertiser {
            group,
            key,
            name,
            from,
            until,
            daily_quota,
            allow_targeting,
        }) => {
            let not_before = from.as_deref().map(parse_when).transpose()?;
            let not_after = parse_when(&until)?;
            let grant = Request::GrantAdvertiser {
                group,
                key,
                name,
                not_before,
                not_after,
                daily_quota,
                targeting: allow_targeting,
            };
            let id = request(&data_dir, &grant).await?;
            out.created("grant", &id_of(id)?, "advertiser granted");
        }
        Command::Admin(AdminCommand::RevokeAdvertiser {
            grant_or_key,
            group,
        }) => {
            let ids = request(
                &data_dir,
                &Request::RevokeAdvertiser {
                    group,
                    grant_or_key,
                },
            )
            .await?;
            let ids: Vec<String> = serde_json::from_value(ids)?;
            out.created("revocations", &ids.join(","), "revoked");
        }
        Command::Admin(AdminCommand::Grants { group }) => {
            let grants: Vec<GrantView> =
                serde_json::from_value(request(&data_dir, &Request::Grants { group }).await?)?;
            out.grants(&grants);
        }
        Command::Ad(AdCommand::Publish {
            group,
            title,
            body,
            target,
            offer_place,
            offer_address,
            coupon,
            offer_until,
        }) => {
            let targeting = target.as_deref().map(parse_targeting).transpose()?;
            let offer = match (offer_place, offer_until) {
                (Some(name), Some(until)) => Some(Offer {
                    place: Place {
                        name,
                        address: offer_address.unwrap_or_default(),
                        lat: None,
                        lon: None,
                    },
                    coupon,
                    valid_until: parse_when(&until)?,
                }),
                _ => None,
            };
            let id = request(
                &data_dir,
                &Request::AdPublish {
                    group,
                    title,
                    body,
                    targeting,
                    offer,
                },
            )
            .await?;
            out.created("id", &id_of(id)?, "ad published");
        }
        Command::Ad(AdCommand::Show { id }) => {
            let ad: AdView =
                serde_json::from_value(request(&data_dir, &Request::AdShow { id }).await?)?;
            out.ads(std::slice::from_ref(&ad), true);
        }
        Command::Ads { group, explain } => {
            let ads: Vec<AdView> =
                serde_json::from_value(request(&data_dir, &Request::Ads { group }).await?)?;
            out.ads(&ads, explain);
        }
        Command::Interests(command) => {
            let (add, remove) = match command {
                InterestsCommand::Add { keys } => (keys, vec![]),
                InterestsCommand::Remove { keys } => (vec![], keys),
                InterestsCommand::List => (vec![], vec![]),
            };
            let list: Vec<String> = serde_json::from_value(
                request(&data_dir, &Request::Interests { add, remove }).await?,
            )?;
            if out.json {
                out.print_json(&json!(list));
            } else if list.is_empty() {
                println!(
                    "no interests (they stay on this device): `cove interests add interest:coffee`"
                );
            } else {
                println!("{}", list.join("\n"));
            }
        }
        Command::Mute { member, group } => {
            request(
                &data_dir,
                &Request::Mute {
                    group,
                    member,
                    undo: false,
                },
            )
            .await?;
            out.message("muted (only for you)");
        }
        Command::Unmute { member, group } => {
            request(
                &data_dir,
                &Request::Mute {
                    group,
                    member,
                    undo: true,
                },
            )
            .await?;
            out.message("unmuted");
        }
        Command::Profile(ProfileCommand::Show { member }) => {
            let profiles: Vec<ProfileInfo> =
                serde_json::from_value(request(&data_dir, &Request::Profiles { member }).await?)?;
            out.profiles(&profiles);
        }
        Command::Profile(ProfileCommand::Set {
            group,
            nickname,
            bio,
        }) => {
            let id = request(
                &data_dir,
                &Request::SetProfile {
                    group,
                    nickname,
                    bio,
                },
            )
            .await?;
            out.created("id", &id_of(id)?, "profile updated");
        }
        Command::Sync { group } => {
            let reports = sync(&data_dir, group).await?;
            out.sync(&reports);
        }
        Command::Block { peer, duration } => {
            let secs = Some(duration.as_secs().max(1));
            request(&data_dir, &Request::Block { peer, secs }).await?;
            out.message("blocked");
        }
        Command::Unblock { peer } => {
            request(&data_dir, &Request::Block { peer, secs: None }).await?;
            out.message("unblocked");
        }
        Command::Peers => {
            let peers: Vec<PeerSummary> =
                serde_json::from_value(request(&data_dir, &Request::Peers).await?)?;
            out.peers(&peers);
        }
        Command::Status => {
            let status: Status =
                serde_json::from_value(request(&data_dir, &Request::Status).await?)?;
            out.status(&status);
        }
        Command::Demo => unreachable!("handled above"),
    }
    Ok(())
}

/// Runs `sync`, showing progress on stderr: a bar on a terminal, plain lines otherwise.
async fn sync(data_dir: &Path, group: Option<String>) -> Result<Vec<SyncReport>> {
    use std::io::IsTerminal;
    let client = Client::connect(data_dir).await?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} messages")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let show = |p: SyncProgress| match &bar {
        Some(bar) => {
            bar.set_length(p.total as u64);
            bar.set_position(p.fetched as u64);
            bar.set_message(format!(
                "group {} from {}",
                &p.group[..8],
                short_peer(&p.peer)
            ));
        }
        None => eprintln!(
            "group {} from {}: {}/{} messages",
            &p.group[..8],
            short_peer(&p.peer),
            p.fetched,
            p.total
        ),
    };
    let value = client
        .request_with_progress(&Request::Sync { group }, show)
        .await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    Ok(serde_json::from_value(value)?)
}

/// `cove chat`: history, then live lines from the node while lines typed on stdin are sent.
/// `/quit` or the end of stdin leaves. Works the same on a terminal and through a pipe.
async fn chat(
    data_dir: &Path,
    group: Option<String>,
    room: String,
    history: usize,
    out: &Output,
) -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    let client = Client::connect(data_dir).await?;
    let past: Vec<FeedItem> = serde_json::from_value(
        client
            .request(&Request::ChatHistory {
                group: group.clone(),
                room: room.clone(),
                limit: history,
            })
            .await?,
    )?;
    for item in &past {
        out.chat_line(item);
    }
    if !out.json {
        eprintln!("-- chatting in {room}; type a line to send it, /quit to leave --");
    }
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let (client, group, room) = (
            Client::connect(data_dir).await?,
            group.clone(),
            room.clone(),
        );
        async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let text = line.trim().to_string();
                if text == "/quit" {
                    break;
                }
                if text.is_empty() {
                    continue;
                }
                let say = Request::Say {
                    group: group.clone(),
                    room: room.clone(),
                    text,
                };
                if let Err(e) = client.request(&say).await {
                    eprintln!("error: {e}");
                }
            }
            // Give our own last line a moment to come back through the watch.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let _ = quit_tx.send(());
        }
    };
    let watcher = client.watch(
        group,
        room,
        |event| {
            if event.get("watching").is_some() {
                return;
            }
            if let Some(missed) = event.get("missed") {
                eprintln!("-- {missed} lines missed (too slow); see `cove chat` history --");
                return;
            }
            if let Ok(item) = serde_json::from_value::<FeedItem>(event) {
                out.chat_line(&item);
            }
        },
        async {
            let _ = quit_rx.await;
        },
    );
    let (watched, ()) = tokio::join!(watcher, sender);
    watched?;
    Ok(())
}

/// Where `cove passphrase set` takes the new passphrase from when there is no terminal.
const NEW_PASSPHRASE_ENV: &str = "COVE_NEW_PASSPHRASE";

/// How `init` and `import-seed` write the seed: encrypted under a new passphrase when asked.
fn seed_protection(encrypt: bool) -> Result<SeedProtection, NodeError> {
    Ok(if encrypt {
        SeedProtection::passphrase(new_passphrase(PASSPHRASE_ENV)?)
    } else {
        SeedProtection::Plain
    })
}

/// A new passphrase: the environment variable `var`, else typed twice on the terminal.
fn new_passphrase(var: &str) -> Result<Passphrase, NodeError> {
    use std::io::IsTerminal;
    let from_env = if var == PASSPHRASE_ENV {
        passphrase_from_env()
    } else {
        std::env::var(var)
            .ok()
            .filter(|p| !p.is_empty())
            .map(Passphrase::new)
    };
    if let Some(passphrase) = from_env {
        return Ok(passphrase);
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "stdin is not a terminal to ask for the new passphrase; set {var} instead"
        )));
    }
    let first = prompt_passphrase("New passphrase for the master seed: ")?;
    if first.is_empty() {
        return Err(usage(
            "the passphrase must not be empty; nothing was written",
        ));
    }
    let again = prompt_passphrase("Repeat the passphrase: ")?;
    if first.as_bytes() != again.as_bytes() {
        return Err(usage("the two passphrases differ; nothing was written"));
    }
    Ok(first)
}

/// The passphrase of an encrypted seed, asked on the terminal when `COVE_PASSPHRASE` is not
/// set. `None` for a plain seed, or when there is no terminal to ask: loading the seed then
/// takes `COVE_PASSPHRASE` or fails with an error naming it (exit code 2).
fn seed_passphrase(dir: &DataDir) -> Result<Option<Passphrase>, NodeError> {
    use std::io::IsTerminal;
    if !dir.seed_is_encrypted()?
        || passphrase_from_env().is_some()
        || !std::io::stdin().is_terminal()
    {
        return Ok(None);
    }
    prompt_passphrase(&format!(
        "Passphrase for the master seed in {}: ",
        dir.root().display()
    ))
    .map(Some)
}

/// Reads a passphrase from the terminal without echo.
fn prompt_passphrase(prompt: &str) -> Result<Passphrase, NodeError> {
    rpassword::prompt_password(prompt)
        .map(Passphrase::new)
        .map_err(|e| NodeError::io("the terminal", e))
}

/// A secret a command takes (an invite, a seed): how to name it and ask for it.
struct SecretInput {
    /// What it is, in an error message.
    name: &'static str,
    /// The command that takes it, for the advice to use stdin.
    command: &'static str,
    /// The terminal prompt.
    prompt: &'static str,
}

const INVITE_INPUT: SecretInput = SecretInput {
    name: "invite",
    command: "join",
    prompt: "Invite (starts with cove:, not echoed): ",
};

const SEED_INPUT: SecretInput = SecretInput {
    name: "seed",
    command: "import-seed",
    prompt: "Master seed (64 hex characters, not echoed): ",
};

/// Most bytes read from stdin or a file for one secret; an invite is at most
/// [`cove_crypto::MAX_INVITE_LEN`] characters.
const MAX_SECRET_INPUT: u64 = 64 * 1024;

/// A secret given as `arg`, or read from `file`, or from stdin (`arg` absent or `-`): asked
/// without echo on a terminal, else all of stdin. Surrounding whitespace is dropped. An
/// argument still works but is visible in `/proc/PID/cmdline` and shell history, so it draws
/// a warning on stderr.
fn read_secret(
    what: &SecretInput,
    arg: Option<String>,
    file: Option<&Path>,
) -> Result<Zeroizing<String>, NodeError> {
    use std::io::IsTerminal;
    let (text, source) = match (arg, file) {
        (Some(arg), _) if arg != "-" => {
            eprintln!(
                "warning: the {name} given as an argument is visible to other local users (/proc) \
                 and kept in your shell history; pass it on stdin (`cove {command} < FILE`) or \
                 with --file PATH instead",
                name = what.name,
                command = what.command,
            );
            (Zeroizing::new(arg), "the argument".to_string())
        }
        (_, Some(path)) => {
            let source = format!("--file {}", path.display());
            let file = std::fs::File::open(path).map_err(|e| usage(format!("{source}: {e}")))?;
            (read_bounded(file, what, &source)?, source)
        }
        _ if std::io::stdin().is_terminal() => {
            let text = rpassword::prompt_password(what.prompt)
                .map_err(|e| NodeError::io("the terminal", e))?;
            (Zeroizing::new(text), "the terminal".to_string())
        }
        _ => (
            read_bounded(std::io::stdin().lock(), what, "stdin")?,
            "stdin".to_string(),
        ),
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(usage(format!(
            "no {name} given: {source} was empty; pass it on stdin (`cove {command} < FILE`) \
             or with --file PATH",
            name = what.name,
            command = what.command,
        )));
    }
    Ok(Zeroizing::new(trimmed.to_string()))
}

/// All of `reader` as text, refused past [`MAX_SECRET_INPUT`] bytes or when not UTF-8.
fn read_bounded(
    reader: impl std::io::Read,
    what: &SecretInput,
    source: &str,
) -> Result<Zeroizing<String>, NodeError> {
    use std::io::Read;
    let mut bytes = Zeroizing::new(Vec::new());
    reader
        .take(MAX_SECRET_INPUT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| NodeError::io(source, e))?;
    if bytes.len() as u64 > MAX_SECRET_INPUT {
        return Err(usage(format!(
            "{source} holds more than {MAX_SECRET_INPUT} bytes; expected one {}",
            what.name
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        usage(format!(
            "{source} is not UTF-8 text ({e}); expected one {}",
            what.name
        ))
    })?;
    Ok(Zeroizing::new(text.to_string()))
}

/// A master seed as 64 hex characters.
fn parse_seed(text: &str) -> Result<[u8; 32], NodeError> {
    let bad = || {
        usage(format!(
            "a seed is 64 hex characters, got {} characters",
            text.len()
        ))
    };
    if text.len() != 64 || !text.is_ascii() {
        return Err(bad());
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
    }
    Ok(seed)
}

/// A point in time as unix ms: an RFC 3339 time, or a duration from now (`30d`, `0s`).
fn parse_when(text: &str) -> Result<u64, NodeError> {
    if let Ok(duration) = humantime::parse_duration(text) {
        return Ok(cove_node::now_ms() + duration.as_millis() as u64);
    }
    humantime::parse_rfc3339_weak(text)
        .map_err(|e| usage(format!("{text:?} is neither a duration (30d) nor an RFC 3339 time (2027-01-01T00:00:00Z): {e}")))
        .map(|t| t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0))
}

/// `interest:coffee`, `any(a,b)`, `all(a,any(b,c))`, `all()` (everyone).
fn parse_targeting(text: &str) -> Result<Targeting, NodeError> {
    fn expr(input: &str) -> Result<(Targeting, &str), String> {
        let input = input.trim_start();
        for (op, is_any) in [("any(", true), ("all(", false)] {
            let Some(mut rest) = input.strip_prefix(op) else {
                continue;
            };
            let node = |items: Vec<Targeting>| {
                if is_any {
                    Targeting {
                        any: Some(items),
                        ..Default::default()
                    }
                } else {
                    Targeting {
                        all: Some(items),
                        ..Default::default()
                    }
                }
            };
            let mut items = Vec::new();
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(')') {
                return Ok((node(items), after));
            }
            loop {
                let (item, after) = expr(rest)?;
                items.push(item);
                let after = after.trim_start();
                if let Some(after) = after.strip_prefix(',') {
                    rest = after;
                } else if let Some(after) = after.strip_prefix(')') {
                    return Ok((node(items), after));
                } else {
                    return Err(format!("expected ',' or ')' at {after:?}"));
                }
            }
        }
        let end = input.find([',', ')', '(']).unwrap_or(input.len());
        let key = input[..end].trim();
        if key.is_empty() {
            return Err(format!("expected a targeting key at {input:?}"));
        }
        Ok((
            Targeting {
                key: Some(key.to_string()),
                ..Default::default()
            },
            &input[end..],
        ))
    }
    match expr(text) {
        Ok((targeting, rest)) if rest.trim().is_empty() => Ok(targeting),
        Ok((_, rest)) => Err(usage(format!("--target: unexpected {rest:?}"))),
        Err(e) => Err(usage(format!(
            "--target: {e} (expected e.g. any(interest:coffee,area:gangnam))"
        ))),
    }
}

/// A usage error: what the user typed is not acceptable.
fn usage(reason: impl Into<String>) -> NodeError {
    NodeError::invalid(cove_node::Input::Request, reason)
}

fn short_peer(peer: &str) -> &str {
    &peer[peer.len().saturating_sub(8)..]
}

async fn request(data_dir: &Path, request: &Request) -> Result<Value, NodeError> {
    Client::connect(data_dir).await?.request(request).await
}

fn id_of(value: Value) -> Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .context("the node answered with something other than a string")
}

async fn up(data_dir: &Path, args: UpArgs) -> Result<()> {
    let mut config = NodeConfig::new(data_dir);
    if !args.listen.is_empty() {
        config.listen = multiaddrs("--listen", &args.listen)?;
    }
    config.advertise = multiaddrs("--advertise", &args.advertise)?;
    config.mdns = !args.no_mdns;
    if args.sync_interval.is_zero() {
        return Err(usage("--sync-interval must be longer than zero").into());
    }
    config.sync_interval = args.sync_interval;
    config.peer_rate_limit = cove_node::PeerRateLimit {
        per_sec: f64::from(args.peer_rate),
        burst: f64::from(args.peer_burst),
    };
    config.max_connections = args.max_connections;
    config.max_connections_per_peer = args.max_connections_per_peer;
    config.retention = args
        .retention_days
        .map(|days| std::time::Duration::from_secs(u64::from(days) * 86_400));
    // Checked (exit code 2) and bound before the node starts, so a bad or busy address costs
    // nothing; the passphrase is asked last, after every other flag was accepted.
    let metrics = match args.metrics {
        Some(addr) => Some(MetricsServer::bind(addr).await?),
        None => None,
    };
    config.passphrase = seed_passphrase(&DataDir::new(data_dir))?;
    let node = Node::start(config).await?;
    let status = node.status().await?;
    eprintln!("cove node {} is up", status.peer_id);
    for addr in &status.listen_addrs {
        eprintln!("  listening on {addr}");
    }
    eprintln!("  data dir {}  (Ctrl-C to stop)", data_dir.display());
    if let Some(metrics) = &metrics {
        eprintln!("  metrics on http://{}/metrics", metrics.local_addr());
    }
    let control = cove_node::control::serve(node.clone(), data_dir);
    let metrics = {
        let node = node.clone();
        async move {
            match metrics {
                Some(metrics) => metrics.serve(node).await,
                None => std::future::pending().await,
            }
        }
    };
    tokio::select! {
        result = control => result?,
        result = metrics => result?,
        _ = tokio::signal::ctrl_c() => eprintln!("stopping"),
        _ = node_stopped(&node) => {}
    }
    let _ = node.shutdown().await;
    let _ = std::fs::remove_file(cove_node::data_dir::DataDir::new(data_dir).socket_path());
    Ok(())
}

/// The values of a repeatable multiaddr flag.
fn multiaddrs<T: std::str::FromStr>(flag: &str, values: &[String]) -> Result<Vec<T>, NodeError>
where
    T::Err: std::fmt::Display,
{
    values
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|e| usage(format!("{flag} {a:?} is not a multiaddr: {e}")))
        })
        .collect()
}

/// Resolves when the node's actor has stopped (e.g. `cove down`).
async fn node_stopped(node: &Node) {
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        if matches!(node.groups().await, Err(NodeError::Stopped)) {
            return;
        }
    }
}

/// Prints results: human text, or JSON with `--json`. What a command creates goes alone on the
/// last line of stdout, so scripts can take it with `tail -n1`.
struct Output {
    json: bool,
}

impl Output {
    fn print_json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("JSON value prints")
        );
    }

    fn created(&self, key: &str, value: &str, label: &str) {
        if self.json {
            self.print_json(&json!({ key: value }));
        } else {
            println!("{label}:");
            println!("{value}");
        }
    }

    /// The advertiser's public key, the one a group admin grants.
    fn advertiser_key(&self, key: &cove_crypto::Pseudonym) {
        self.created(
            "advertiser_key",
            &key.public().to_string(),
            "advertiser key (give it to a group admin)",
        );
    }

    fn message(&self, text: &str) {
        if self.json {
            self.print_json(&json!({ "ok": true }));
        } else {
            println!("{text}");
        }
    }

    /// A list: JSON as is, or one line per item, or `empty` when there is none.
    fn list<T: serde::Serialize>(&self, items: &[T], empty: &str, line: impl Fn(&T)) {
        if self.json {
            return self.print_json(&json!(items));
        }
        if items.is_empty() {
            println!("{empty}");
        }
        items.iter().for_each(line);
    }

    fn groups(&self, groups: &[GroupInfo]) {
        self.list(
            groups,
            "no groups yet: `cove group create NAME`, or `cove join < INVITE_FILE`",
            |g| {
                let role = if g.admin { " (admin)" } else { "" };
                println!("{}  {}{}  {} messages", g.id, g.name, role, g.messages);
            },
        );
    }
    fn feed(&self, items: &[FeedItem]) {
        self.list(items, "no posts yet", |item| {
            println!("{}", demo::format_item(item))
        });
    }
    fn peers(&self, peers: &[PeerSummary]) {
        self.list(peers, "no peers connected", |p| {
            println!(
                "{}  groups: [{}]  {}",
                p.peer,
                p.groups.join(", "),
                p.addrs.join(" ")
            );
        });
    }
    fn thread(&self, thread: &Thread) {
        if self.json {
            return self.print_json(&json!(thread));
        }
        println!("{}", demo::format_item(&thread.root));
        for reply in &thread.replies {
            println!(
                "{}{}",
                "    ".repeat(reply.depth),
                demo::format_item(&reply.item).trim_start()
            );
        }
    }

    fn rooms(&self, rooms: &[RoomInfo]) {
        self.list(rooms, "no rooms yet: `cove room create NAME`", |r| {
            println!("{}  {}", r.id, r.name)
        });
    }
    fn chat_line(&self, item: &FeedItem) {
        if self.json {
            println!("{}", json!(item));
        } else {
            let who = item.nickname.as_deref().unwrap_or("anonymous");
            println!("<{who}#{}> {}", item.fingerprint, item.text);
        }
    }

    fn moderation(&self, info: &ModerationInfo) {
        if self.json {
            return self.print_json(&json!(info));
        }
        for (i, admin) in info.admins.iter().enumerate() {
            println!("admin   {admin}{}", if i == 0 { " (founder)" } else { "" });
        }
        for (member, at) in &info.banned {
            println!("banned  {member}  since {at}");
        }
        for member in &info.muted {
            println!("muted   {member}  (only for you)");
        }
    }

    fn profiles(&self, profiles: &[ProfileInfo]) {
        if self.json {
            return self.print_json(&json!(profiles));
        }
        for p in profiles {
            let nick = p.nickname.as_deref().unwrap_or("(no nickname)");
            let mine = if p.mine { " (you)" } else { "" };
            println!(
                "{}  {nick}#{}{mine}  {}",
                p.group_name, p.fingerprint, p.member
            );
            if let Some(bio) = &p.bio {
                println!("    {bio}");
            }
        }
    }

    fn grants(&self, grants: &[GrantView]) {
        self.list(grants, "no grants", |g| {
            let state = if g.revoked { "revoked" } else { "granted" };
            println!(
                "{}  {}  {state}  key {}  quota {}/day  until {}  targeting [{}]",
                g.id,
                g.grant.name,
                g.grant.advertiser,
                g.grant.daily_quota,
                g.grant.not_after,
                g.grant.targeting.join(", ")
            );
        });
    }
    fn ads(&self, ads: &[AdView], explain: bool) {
        self.list(
            ads,
            "no ads for you (ads match your interests, on this device only: `cove interests`)",
            |ad| {
                println!(
                    "[Ad · {}] {}  ({})",
                    ad.advertiser_name,
                    ad.title,
                    &ad.id[..12]
                );
                println!("    {}", ad.body);
                if let Some(offer) = &ad.offer {
                    let coupon = offer
                        .coupon
                        .as_deref()
                        .map(|c| format!(", coupon {c}"))
                        .unwrap_or_default();
                    println!(
                        "    offer at {} ({}){coupon}, valid until {}",
                        offer.place.name, offer.place.address, offer.valid_until
                    );
                }
                if let Some(p) = &ad.profile {
                    println!("    {} · {} · {}", p.name, p.place.address, p.contact);
                }
                if explain {
                    let why = if ad.matched_keys.is_empty() {
                        "targets everyone".to_string()
                    } else {
                        format!("your interests {}", ad.matched_keys.join(", "))
                    };
                    println!("    matched: {why}");
                }
            },
        );
    }

    fn sync(&self, reports: &[SyncReport]) {
        self.list(reports, "no member is connected: nothing to sync with (see `cove peers`)", |r| {
            let outcome = r.error.as_deref().map(|e| format!("stopped early: {e}")).unwrap_or_else(|| "done".into());
            println!(
                "group {} with {}: fetched {} new ({} refused), {} rounds, {} B sent, {} B received: {outcome}",
                &r.group[..8],
                short_peer(&r.peer),
                r.accepted,
                r.refused,
                r.rounds,
                r.bytes_sent,
                r.bytes_received
            );
        });
    }

    fn status(&self, s: &Status) {
        if self.json {
            return self.print_json(&json!(s));
        }
        println!("peer id     {}", s.peer_id);
        for addr in &s.listen_addrs {
            println!("listening   {addr}");
        }
        println!("groups      {}", s.groups);
        println!("peers       {}", s.peers);
        println!("accepted    {}", s.accepted);
        for (reason, count) in &s.rejected {
            println!("rejected    {reason}: {count}");
        }
        println!("outbox      {}", s.outbox);
        println!("store       {} bytes", s.store_bytes);
        for h in &s.group_health {
            println!(
                "group       {}: {} member(s) connected, {} in mesh, below thresholds: \
                 gossip {}, publish {}, graylist {}",
                h.name,
                h.members_connected,
                h.mesh_peers,
                h.below_gossip,
                h.below_publish,
                h.graylisted
            );
            if let Some(problem) = &h.problem {
                println!("            {}: {problem}", h.name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
