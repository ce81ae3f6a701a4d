//! The CLI's own usage errors: what the user typed (a flag, an environment variable, a key in
//! `cove.toml`, a secret on stdin) was wrong. Each says what was wrong and what was expected;
//! `main` maps every one of them to exit code 2. Errors the node reports stay
//! [`cove_node::NodeError`]s.

use std::fmt;
use std::path::PathBuf;

/// Where a value came from, as an error names it: `--listen`, `COVE_LISTEN`, or
/// `/home/a/.local/share/cove/cove.toml: listen`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A command-line flag, with its dashes (`--sync-interval`).
    Flag(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A key of a configuration file.
    File {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag(flag) => f.write_str(flag),
            Origin::Env(var) => f.write_str(var),
            Origin::File { path, key } => write!(f, "{}: {key}", path.display()),
        }
    }
}

/// A usage error: wrong input, exit code 2.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    /// A value that does not parse as the setting's type, or is out of its range.
    #[error("{origin} {value}: {reason}; expected {expected}")]
    Invalid {
        /// Which flag, variable or key.
        origin: Origin,
        /// What was given, quoted when it was text.
        value: String,
        /// Why it was refused.
        reason: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A multiaddr flag, variable or key that is not one.
    #[error(
        "{origin} {value:?} is not a multiaddr: {reason}; expected e.g. /ip4/0.0.0.0/tcp/4001"
    )]
    Multiaddr {
        /// Which flag, variable or key.
        origin: Origin,
        /// What was given.
        value: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A duration that must not be zero.
    #[error("{origin} must be longer than zero")]
    ZeroDuration {
        /// Which flag, variable or key.
        origin: Origin,
    },
    /// A point in time (`--until`, `--from`, `--offer-until`) that is neither form.
    #[error(
        "{flag} {value:?} is neither a duration (30d) nor an RFC 3339 time \
         (2027-01-01T00:00:00Z): {reason}"
    )]
    Time {
        /// The flag.
        flag: &'static str,
        /// What was given.
        value: String,
        /// The RFC 3339 parser's complaint.
        reason: String,
    },
    /// An ad targeting expression that does not parse.
    #[error("--target: {0} (expected e.g. any(interest:coffee,area:gangnam))")]
    Targeting(String),
    /// A charter rate limit that does not parse.
    #[error("--rate-limit: {0}")]
    RateLimit(String),
    /// A master seed that is not 64 hex characters.
    #[error("a seed is 64 hex characters, got {0} characters")]
    Seed(usize),
    /// A secret (invite, seed) that was empty where it was read.
    #[error(
        "no {name} given: {place} was empty; pass it on stdin (`cove {command} < FILE`) \
         or with --file PATH"
    )]
    EmptySecret {
        /// What the secret is.
        name: &'static str,
        /// Where it was read.
        place: String,
        /// The command that takes it.
        command: &'static str,
    },
    /// A secret's source that is too big or not text.
    #[error("{place} {problem}; expected one {name}")]
    UnreadableSecret {
        /// Where it was read.
        place: String,
        /// What is wrong with it.
        problem: String,
        /// What the secret is.
        name: &'static str,
    },
    /// `--file PATH` that cannot be opened.
    #[error("--file {}: {source}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why it cannot be opened.
        source: std::io::Error,
    },
    /// A new passphrase is needed but there is no terminal and no variable.
    #[error("stdin is not a terminal to ask for the new passphrase; set {0} instead")]
    NoTerminal(&'static str),
    /// An empty new passphrase.
    #[error("the passphrase must not be empty; nothing was written")]
    EmptyPassphrase,
    /// The new passphrase typed twice differently.
    #[error("the two passphrases differ; nothing was written")]
    PassphrasesDiffer,
    /// `cove.toml` that is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{}: {problem}", path.display())]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// The key (when known), the line, and what was expected.
        problem: String,
    },
}
