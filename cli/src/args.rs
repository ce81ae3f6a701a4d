//! Raw command-line arguments (clap). `main.rs` validates them into node calls; the library
//! crates never see clap types.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// cove: closed, pseudonymous group communication, peer to peer.
#[derive(Debug, Parser)]
#[command(name = "cove", version, about, long_about = None)]
pub(crate) struct Cli {
    /// Data dir (seed, keys, store, control socket). Default: the platform's data dir.
    #[arg(long, global = true, env = "COVE_DATA_DIR", value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// Print results as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the member seed and peer key in the data dir.
    Init {
        /// Encrypt the seed with a passphrase (asked on the terminal, or taken from
        /// COVE_PASSPHRASE); `cove up` then needs it too.
        #[arg(long)]
        passphrase: bool,
    },
    /// Print the master seed (64 hex characters) for a backup. Anyone holding it is you in every
    /// group. An encrypted seed is decrypted (passphrase asked, or from COVE_PASSPHRASE).
    ExportSeed,
    /// Restore a data dir from a backed-up seed, read from stdin (asked without echo on a
    /// terminal) or from --file.
    ImportSeed {
        /// The seed as 64 hex characters, or `-` for stdin (the default). An argument is seen
        /// by other local users and kept in shell history: prefer stdin or --file.
        seed: Option<String>,
        /// Read the seed from this file instead.
        #[arg(long, value_name = "PATH", conflicts_with = "seed")]
        file: Option<PathBuf>,
        /// Encrypt the restored seed with a passphrase (asked on the terminal, or taken from
        /// COVE_PASSPHRASE).
        #[arg(long)]
        passphrase: bool,
    },
    /// Encrypt the seed file with a passphrase, change it, or remove it.
    #[command(subcommand)]
    Passphrase(PassphraseCommand),
    /// Run the node in the foreground (Ctrl-C stops it cleanly). Flags override COVE_*
    /// variables, which override DATA_DIR/cove.toml; `cove config show` prints the result.
    Up(UpArgs),
    /// Ask the running node to stop.
    Down,
    /// Print the URL (with its secret token) of the running node's web app (`cove up --web`),
    /// and open it in the desktop's browser when there is a desktop (DISPLAY or
    /// WAYLAND_DISPLAY), through a private page so the token is never on a command line.
    Web {
        /// Open the browser even without DISPLAY or WAYLAND_DISPLAY (runs `xdg-open`).
        #[arg(long, conflicts_with = "no_open")]
        open: bool,
        /// Only print the URL.
        #[arg(long)]
        no_open: bool,
    },
    /// Create groups and invites.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Maintain the store (the node must be stopped).
    #[command(subcommand)]
    Store(StoreCommand),
    /// Join a group from an invite, read from stdin (e.g. `cove join < invite.txt`; asked
    /// without echo on a terminal) or from --file. A member listed in the invite checks it
    /// and admits you (its node must be reachable); this works whether your node runs or not.
    Join {
        /// The invite (starts with "cove:"), or `-` for stdin (the default). An argument is
        /// seen by other local users and kept in shell history: prefer stdin or --file.
        invite: Option<String>,
        /// Read the invite from this file instead.
        #[arg(long, value_name = "PATH", conflicts_with = "invite")]
        file: Option<PathBuf>,
    },
    /// List the groups you belong to.
    Groups,
    /// Post to a group.
    Post {
        /// Group id, id prefix, or unique name.
        #[arg(long, short)]
        group: String,
        /// Optional title.
        #[arg(long)]
        title: Option<String>,
        /// The text.
        text: String,
    },
    /// Show a group's feed.
    Feed {
        /// Group id, id prefix, or unique name (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// new: newest first; hot: recommendations with time decay; top: most recommended.
        #[arg(long, value_enum, default_value_t = Order::New)]
        order: Order,
        /// Only posts from the last 24h, 7d (any duration), or all.
        #[arg(long, default_value = "all", value_parser = parse_window)]
        window: Window,
        /// Most items.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
        limit: u32,
        /// Show each item's score components.
        #[arg(long)]
        explain: bool,
    },
    /// Show one post, reply or chat line.
    Show {
        /// Message id.
        id: String,
    },
    /// Reply to a post or reply.
    Reply {
        /// Id of the post or reply answered.
        id: String,
        /// Text.
        text: String,
    },
    /// Show a post and its replies.
    Thread {
        /// Id of the post (or of a reply in it).
        id: String,
    },
    /// Edit one of your own posts, replies or chat lines.
    Edit {
        /// Message id.
        id: String,
        /// New text.
        text: String,
        /// New title (posts).
        #[arg(long)]
        title: Option<String>,
    },
    /// Delete one of your own posts, replies or chat lines, for everyone.
    Delete {
        /// Message id.
        id: String,
    },
    /// Recommend a post or reply (once per member), or withdraw it with --undo.
    Recommend {
        /// Message id.
        id: String,
        /// Withdraw your recommendation.
        #[arg(long)]
        undo: bool,
    },
    /// Chat rooms.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Interactive chat in a room: history, then live lines; type to send, /quit to leave.
    Chat {
        /// Room name or id.
        room: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Lines of history shown first.
        #[arg(long, default_value_t = 20)]
        history: usize,
    },
    /// Send one chat line (for scripts).
    Say {
        /// Room name or id.
        room: String,
        /// The line.
        text: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Moderation (admins): ban, remove, list.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Advertiser identity: a key of its own, separate from any member pseudonym.
    #[command(subcommand)]
    Advertiser(AdvertiserCommand),
    /// Ads: publish (advertisers) or show one.
    #[command(subcommand)]
    Ad(AdCommand),
    /// Live ads that match your interests (matched on this device only).
    Ads {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Say why each ad matched.
        #[arg(long)]
        explain: bool,
    },
    /// Your private interests, used to match ads here; never sent anywhere.
    #[command(subcommand)]
    Interests(InterestsCommand),
    /// The group's members: pseudonym, fingerprint, nickname, admin, since.
    Members {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Hide a pseudonym's messages from your own views (local only).
    Mute {
        /// Pseudonym (hex public key).
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Undo a mute.
    Unmute {
        /// Pseudonym (hex public key).
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Your pseudonymous profile in a group.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Catch up now: reconcile history with every connected member (progress on stderr).
    Sync {
        /// Only this group (id, id prefix, or unique name).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Connected peers.
    Peers,
    /// Cut a peer off: close its connections and refuse it for a while.
    Block {
        /// libp2p peer id (see `cove peers`).
        peer: String,
        /// How long, e.g. 10m, 24h.
        #[arg(long = "for", default_value = "1h", value_parser = humantime::parse_duration)]
        duration: std::time::Duration,
    },
    /// Lift a block.
    Unblock {
        /// libp2p peer id.
        peer: String,
    },
    /// Node status and counters.
    Status {
        /// Only connectivity, explained: per group, how members reach this node, and what to
        /// do when they cannot (no listen address, behind NAT without a relay, a refused
        /// relay reservation, no member reachable).
        #[arg(long)]
        net: bool,
    },
    /// The configuration of `cove up`: defaults, DATA_DIR/cove.toml, COVE_* variables, flags.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a local demo network: three members and an outsider, in this process, on loopback.
    Demo,
}

#[derive(Debug, Subcommand)]
pub(crate) enum PassphraseCommand {
    /// Encrypt the seed under a new passphrase (asked twice, or COVE_NEW_PASSPHRASE); an
    /// encrypted seed is opened first (asked, or COVE_PASSPHRASE).
    Set,
    /// Store the seed unencrypted again (current passphrase asked, or COVE_PASSPHRASE).
    Remove,
}

/// The settings of `cove up`. Each flag overrides the `COVE_*` variable of the same name
/// (`--peer-rate`: `COVE_PEER_RATE`), which overrides the key in `DATA_DIR/cove.toml`
/// (`peer_rate`); `cove config show` prints what applies. A flag left out is `None` here: the
/// defaults live in `config/`.
#[derive(Debug, Default, Args)]
pub(crate) struct UpArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics; loopback addresses only
    /// (e.g. 127.0.0.1:9464; port 0 picks one, printed at start). Default: off.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) metrics: Option<std::net::SocketAddr>,
    /// Serve the web app at http://ADDR/; loopback addresses only (e.g. 127.0.0.1:8080; port
    /// 0 picks one, printed at start). `cove web` prints the URL to open, with its token.
    #[arg(long, value_name = "IP:PORT")]
    pub(crate) web: Option<std::net::SocketAddr>,
    /// Address to listen on (repeatable). Default: all interfaces, random TCP and QUIC ports.
    /// Each group's network picks its TCP port on its first start (from a fixed port P: the
    /// lowest free one from P up) and keeps it in DATA_DIR/nets/ for later starts.
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) listen: Vec<String>,
    /// Address invites list for this node (repeatable): where members can reach it, e.g. a
    /// public IP or DNS name with a forwarded port. Default: the --listen addresses that are
    /// not wildcards (0.0.0.0 or ::), so a node on the default listens advertises none.
    #[arg(long, value_name = "MULTIADDR")]
    pub(crate) advertise: Vec<String>,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long, overrides_with = "mdns")]
    pub(crate) no_mdns: bool,
    /// Discover peers on the LAN with mDNS (the default; overrides `mdns = false` in cove.toml).
    #[arg(long, overrides_with = "no_mdns")]
    pub(crate) mdns: bool,
    /// Do not ask the router to forward this node's ports (UPnP).
    #[arg(long, overrides_with = "upnp")]
    pub(crate) no_upnp: bool,
    /// Ask the router to forward each group's port with UPnP, so that members can dial this
    /// node directly (the default; overrides `upnp = false` in cove.toml).
    #[arg(long, overrides_with = "no_upnp")]
    pub(crate) upnp: bool,
    /// Relay for the members of your groups who are behind NATs (circuit relay v2, within
    /// limits on circuits, bytes and time). For a node members can dial: a public address,
    /// a VPS, or a forwarded port. Only members of a group can use its relay.
    #[arg(long)]
    pub(crate) relay_service: bool,
    /// Keep only messages created in the last N days. Default: keep everything.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub(crate) retention_days: Option<u32>,
    /// How often each group reconciles history with a random member (anti-entropy), e.g. 60s.
    /// Default: 60s.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub(crate) sync_interval: Option<std::time::Duration>,
    /// Gossip messages per second one peer may send us; the excess is dropped unread.
    /// Default: 500.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) peer_rate: Option<u32>,
    /// Burst size of the per-peer budget (messages). Default: 1000.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) peer_burst: Option<u32>,
    /// Established connections in total. Default: 256.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: Option<u32>,
    /// Established connections to one peer. Default: 2.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections_per_peer: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Print the configuration `cove up` would run with (given the same flags), and where each
    /// value comes from: default, file (DATA_DIR/cove.toml), env (COVE_*) or flag.
    Show(UpArgs),
}

#[derive(Debug, Subcommand)]
pub(crate) enum GroupCommand {
    /// Found a new group; prints its id.
    Create {
        /// Group name.
        name: String,
        /// Per-pseudonym rate limit every member enforces, MAX/WINDOW (e.g. 100/10s, 20/1m)
        /// or "none". Fixed in the charter. Default: 100/10s.
        #[arg(long, value_name = "MAX/WINDOW")]
        rate_limit: Option<String>,
    },
    /// Print an invite ticket to a group (needs the running node). It admits --uses
    /// newcomers until it expires: a member checks it when the newcomer joins, so a used-up,
    /// expired or withdrawn invite admits nobody, even copied. A newcomer asks at this node's
    /// door for the group, a port of its own that answers admission requests only (`cove
    /// status --net` shows it); the invite opens that door and nothing else. It lists the
    /// addresses given with --addr, else those of `cove up --advertise` on the door's port,
    /// else the door's listen addresses bound explicitly and its port mapped by the router
    /// (never the interface addresses of a wildcard such as 0.0.0.0). It warns when none of
    /// them can work from elsewhere on the internet.
    Invite {
        /// Group id, id prefix, or unique name.
        group: String,
        /// How long the invite stays valid, e.g. 30m, 24h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
        /// How many newcomers it admits (1 to 10000).
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// An address where invitees can reach this node's door for the group, e.g.
        /// /ip4/203.0.113.7/tcp/4101 or /dns4/example.org/tcp/4101 (repeatable); the invite
        /// lists only these.
        #[arg(long = "addr", value_name = "MULTIADDR")]
        addrs: Vec<String>,
    },
    /// List a group's invites: id, uses, admitted, expiry, withdrawn (needs the running node).
    Invites {
        /// Group id, id prefix, or unique name.
        group: String,
    },
    /// Withdraw an invite: it admits nobody from then on (an admin, or whoever made it).
    RevokeInvite {
        /// The invite's id from `cove group invites` (at least 8 hex characters).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RoomCommand {
    /// Create a room.
    Create {
        /// Room name.
        name: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// List rooms.
    List {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Ban a pseudonym from the group (every member's node enforces it); --undo lifts it.
    Ban {
        /// Pseudonym (hex public key).
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Lift the ban.
        #[arg(long)]
        undo: bool,
    },
    /// Remove any message for everyone.
    Remove {
        /// Message id.
        id: String,
    },
    /// Founder: make a member an admin (a signed amendment every node applies).
    AddAdmin {
        /// Pseudonym (hex public key).
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Founder: retire an admin; its later admin actions are refused everywhere.
    RemoveAdmin {
        /// Pseudonym (hex public key).
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Founder: hand the founder role to a member (who becomes an admin); only it can then
    /// change admins or policy.
    HandOver {
        /// Pseudonym (hex public key) of the new founder.
        member: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Founder: change the group's policy (what is not given stays).
    Policy {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Messages per pseudonym and window, e.g. 100/10s, or `none`.
        #[arg(long)]
        rate_limit: Option<String>,
        /// How far in the future a message's time may lie, in seconds.
        #[arg(long)]
        max_skew_secs: Option<u64>,
        /// Who may make invites: `admins` (the default for a new group) or `members`.
        #[arg(long, value_parser = ["admins", "members"])]
        invite: Option<String>,
    },
    /// Start a new key epoch now: a fresh key for every member on the roster, none for the
    /// banned (a ban does this by itself).
    Rekey {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Admins, bans, and your mutes.
    List {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// Authorise an advertiser key to publish ads.
    GrantAdvertiser {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// The advertiser's key (from `cove advertiser init`).
        #[arg(long)]
        key: String,
        /// Display name shown with its ads.
        #[arg(long)]
        name: String,
        /// Valid from (RFC 3339 time, or a duration from now such as 0s); default now.
        #[arg(long)]
        from: Option<String>,
        /// Valid until (RFC 3339 time such as 2027-01-01T00:00:00Z, or a duration from now such as 30d).
        #[arg(long)]
        until: String,
        /// Most ads per UTC day.
        #[arg(long)]
        daily_quota: u32,
        /// Targeting keys the advertiser may use (comma separated or repeated), e.g. interest:coffee.
        #[arg(long, value_delimiter = ',')]
        allow_targeting: Vec<String>,
    },
    /// Revoke a grant (by grant id) or every grant of an advertiser key.
    RevokeAdvertiser {
        /// Grant id or advertiser key.
        grant_or_key: String,
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
    /// List advertiser grants.
    Grants {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdvertiserCommand {
    /// Create this node's advertiser key; prints the key to give to a group admin.
    Init,
    /// Print this node's advertiser public key again (the key to give to a group admin).
    Show,
    /// Publish your advertiser profile in a group (needs a grant there).
    Profile {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Business name.
        #[arg(long)]
        name: String,
        /// Name of the place.
        #[arg(long)]
        place: String,
        /// Street address.
        #[arg(long)]
        address: String,
        /// Latitude.
        #[arg(long, allow_hyphen_values = true)]
        lat: Option<f64>,
        /// Longitude.
        #[arg(long, allow_hyphen_values = true)]
        lon: Option<f64>,
        /// Contact (phone, web, e-mail).
        #[arg(long)]
        contact: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdCommand {
    /// Publish an ad under your live grant (signed with your advertiser key).
    Publish {
        /// Group (optional when you belong to one group).
        #[arg(long, short)]
        group: Option<String>,
        /// Title.
        #[arg(long)]
        title: String,
        /// Body.
        #[arg(long)]
        body: String,
        /// Who it is for: a key, any(..), all(..), e.g. `any(interest:coffee,area:gangnam)`. Default: everyone.
        #[arg(long)]
        target: Option<String>,
        /// Offer: name of the place to redeem it.
        #[arg(long, requires = "offer_until")]
        offer_place: Option<String>,
        /// Offer: address of that place.
        #[arg(long, requires = "offer_place")]
        offer_address: Option<String>,
        /// Offer: coupon code.
        #[arg(long, requires = "offer_place")]
        coupon: Option<String>,
        /// Offer valid until (RFC 3339 time or a duration from now such as 7d).
        #[arg(long, requires = "offer_place")]
        offer_until: Option<String>,
    },
    /// Show one ad with its offer (place and coupon); expired offers are hidden.
    Show {
        /// Ad id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum InterestsCommand {
    /// Add interests, e.g. interest:coffee area:gangnam.
    Add {
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// Remove interests.
    Remove {
        /// Keys.
        #[arg(required = true)]
        keys: Vec<String>,
    },
    /// List your interests.
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Show your profile in each group, or a member's.
    Show {
        /// Pseudonym (hex public key); default: yours.
        member: Option<String>,
    },
    /// Set your nickname (and bio) in a group.
    Set {
        /// Group id, id prefix, or unique name.
        #[arg(long, short)]
        group: String,
        /// Nickname shown next to your key fingerprint.
        #[arg(long)]
        nickname: String,
        /// Short bio.
        #[arg(long)]
        bio: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Order {
    /// Newest first.
    New,
    /// Recommendations with time decay.
    Hot,
    /// Most recommended.
    Top,
}

/// A feed's time window: `all`, or a duration such as `24h` or `7d`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Window(pub(crate) Option<std::time::Duration>);

fn parse_window(text: &str) -> Result<Window, String> {
    if text == "all" {
        return Ok(Window(None));
    }
    humantime::parse_duration(text)
        .map(|d| Window(Some(d)))
        .map_err(|e| format!("{e} (expected `all` or a duration such as 24h or 7d)"))
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Rebuild every index (feeds, rankings, threads, counts) from the stored messages.
    /// Nothing a member wrote is lost: messages, groups, the outbox, mutes and interests are
    /// kept as they are.
    Reindex,
}
