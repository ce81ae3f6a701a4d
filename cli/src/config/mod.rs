//! The configuration of `cove up`, in layers: defaults, then `cove.toml` in the data dir, then
//! `COVE_*` environment variables, then flags. Each layer is a [`Layer`] (what it sets,
//! type-checked); [`Settings`] is the result, each value with the layer it came from, and the
//! one place where the settings become a [`NodeConfig`].
//!
//! Every setting has one name in three spellings: `sync_interval` in `cove.toml`,
//! `COVE_SYNC_INTERVAL` in the environment, `--sync-interval` on the command line (see
//! [`Key`]). To add one: a [`Key`], a field in [`Layer`] and in [`Settings`], a line in
//! [`Layer::from_env`], [`Settings::apply`] and [`Settings::entries`], and the flag in
//! `UpArgs` with its line in [`Layer::from_flags`]. A setting that is not a `NodeConfig` field
//! (`metrics`, `web`) gets an accessor like
//! [`Settings::metrics`] instead of a line in [`Settings::node_config`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cove_node::NodeConfig;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::args::UpArgs;
use crate::error::{Origin, UsageError};

/// The configuration file's name inside the data dir.
pub(crate) const FILE_NAME: &str = "cove.toml";

/// A setting's names: its key in `cove.toml`, its environment variable, its `cove up` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key {
    /// The key in `cove.toml` (and in `cove config show`).
    pub(crate) name: &'static str,
    /// The environment variable.
    pub(crate) env: &'static str,
    /// The flag of `cove up`.
    pub(crate) flag: &'static str,
}

const fn key(name: &'static str, env: &'static str, flag: &'static str) -> Key {
    Key { name, env, flag }
}

pub(crate) const LISTEN: Key = key("listen", "COVE_LISTEN", "--listen");
pub(crate) const ADVERTISE: Key = key("advertise", "COVE_ADVERTISE", "--advertise");
pub(crate) const MDNS: Key = key("mdns", "COVE_MDNS", "--mdns/--no-mdns");
pub(crate) const UPNP: Key = key("upnp", "COVE_UPNP", "--upnp/--no-upnp");
pub(crate) const RELAY_SERVICE: Key = key("relay_service", "COVE_RELAY_SERVICE", "--relay-service");
pub(crate) const RETENTION_DAYS: Key =
    key("retention_days", "COVE_RETENTION_DAYS", "--retention-days");
pub(crate) const SYNC_INTERVAL: Key = key("sync_interval", "COVE_SYNC_INTERVAL", "--sync-interval");
pub(crate) const PEER_RATE: Key = key("peer_rate", "COVE_PEER_RATE", "--peer-rate");
pub(crate) const PEER_BURST: Key = key("peer_burst", "COVE_PEER_BURST", "--peer-burst");
pub(crate) const MAX_CONNECTIONS: Key = key(
    "max_connections",
    "COVE_MAX_CONNECTIONS",
    "--max-connections",
);
pub(crate) const MAX_CONNECTIONS_PER_PEER: Key = key(
    "max_connections_per_peer",
    "COVE_MAX_CONNECTIONS_PER_PEER",
    "--max-connections-per-peer",
);
pub(crate) const METRICS: Key = key("metrics", "COVE_METRICS", "--metrics");
pub(crate) const WEB: Key = key("web", "COVE_WEB", "--web");

/// Longest retention, in days (a century), as `--retention-days` accepts.
const MAX_RETENTION_DAYS: u32 = 36_500;

/// Where an effective value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    /// Nothing set it.
    Default,
    /// `cove.toml`.
    File,
    /// A `COVE_*` variable.
    Env,
    /// A command-line flag.
    Flag,
}

/// A value and the layer that set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sourced<T> {
    pub(crate) value: T,
    pub(crate) source: Source,
}

impl<T> Sourced<T> {
    fn default(value: T) -> Self {
        Sourced {
            value,
            source: Source::Default,
        }
    }
}

/// What one layer sets; `None` leaves the value of the layers below. `cove.toml` is read
/// straight into it, so its field names are the file's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Layer {
    listen: Option<Vec<String>>,
    advertise: Option<Vec<String>>,
    mdns: Option<bool>,
    upnp: Option<bool>,
    relay_service: Option<bool>,
    retention_days: Option<u32>,
    #[serde(default, deserialize_with = "duration")]
    sync_interval: Option<Duration>,
    peer_rate: Option<u32>,
    peer_burst: Option<u32>,
    max_connections: Option<u32>,
    max_connections_per_peer: Option<u32>,
    metrics: Option<SocketAddr>,
    web: Option<SocketAddr>,
}

/// A duration in `cove.toml`: a string such as `"60s"`.
fn duration<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(de)?;
    humantime::parse_duration(&text)
        .map(Some)
        .map_err(|e| serde::de::Error::custom(format!("{e}; expected a duration such as \"60s\"")))
}

impl Layer {
    /// `cove.toml`'s text; `path` names the file in errors.
    pub(crate) fn from_toml(path: &Path, text: &str) -> Result<Layer, UsageError> {
        let layer: Layer = toml::from_str(text).map_err(|e| UsageError::ConfigFile {
            path: path.to_path_buf(),
            problem: toml_problem(text, &e),
        })?;
        layer.check(|key| Origin::File {
            path: path.to_path_buf(),
            key: key.name,
        })?;
        Ok(layer)
    }

    /// The `COVE_*` variables `lookup` finds; an empty variable counts as unset.
    pub(crate) fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Layer, UsageError> {
        let get = |key: Key| lookup(key.env).filter(|v| !v.trim().is_empty());
        let list =
            |key: Key| get(key).map(|v| v.split(',').map(|a| a.trim().to_string()).collect());
        let number = |key: Key| env_value(key, get(key), "a whole number", str::parse::<u32>);
        let layer = Layer {
            listen: list(LISTEN),
            advertise: list(ADVERTISE),
            mdns: env_value(MDNS, get(MDNS), "true or false", bool_text)?,
            upnp: env_value(UPNP, get(UPNP), "true or false", bool_text)?,
            relay_service: env_value(
                RELAY_SERVICE,
                get(RELAY_SERVICE),
                "true or false",
                bool_text,
            )?,
            retention_days: number(RETENTION_DAYS)?,
            sync_interval: env_value(
                SYNC_INTERVAL,
                get(SYNC_INTERVAL),
                "a duration such as 60s or 5m",
                humantime::parse_duration,
            )?,
            peer_rate: number(PEER_RATE)?,
            peer_burst: number(PEER_BURST)?,
            max_connections: number(MAX_CONNECTIONS)?,
            max_connections_per_peer: number(MAX_CONNECTIONS_PER_PEER)?,
            metrics: env_value(
                METRICS,
                get(METRICS),
                "IP:PORT such as 127.0.0.1:9464",
                str::parse::<SocketAddr>,
            )?,
            web: env_value(
                WEB,
                get(WEB),
                "IP:PORT such as 127.0.0.1:8080",
                str::parse::<SocketAddr>,
            )?,
        };
        layer.check(|key| Origin::Env(key.env))?;
        Ok(layer)
    }

    /// The flags given to `cove up` (or `cove config show`); clap has checked their types and
    /// ranges.
    pub(crate) fn from_flags(args: &UpArgs) -> Layer {
        let some = |addrs: &Vec<String>| (!addrs.is_empty()).then(|| addrs.clone());
        Layer {
            listen: some(&args.listen),
            advertise: some(&args.advertise),
            mdns: match (args.mdns, args.no_mdns) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            upnp: match (args.upnp, args.no_upnp) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            relay_service: args.relay_service.then_some(true),
            retention_days: args.retention_days,
            sync_interval: args.sync_interval,
            peer_rate: args.peer_rate,
            peer_burst: args.peer_burst,
            max_connections: args.max_connections,
            max_connections_per_peer: args.max_connections_per_peer,
            metrics: args.metrics,
            web: args.web,
        }
    }

    /// The range checks clap makes for flags, for the file and the environment.
    fn check(&self, origin: impl Fn(Key) -> Origin) -> Result<(), UsageError> {
        if self.sync_interval.is_some_and(|d| d.is_zero()) {
            return Err(UsageError::ZeroDuration {
                origin: origin(SYNC_INTERVAL),
            });
        }
        let ranges = [
            (RETENTION_DAYS, self.retention_days, MAX_RETENTION_DAYS),
            (PEER_RATE, self.peer_rate, u32::MAX),
            (PEER_BURST, self.peer_burst, u32::MAX),
            (MAX_CONNECTIONS, self.max_connections, u32::MAX),
            (
                MAX_CONNECTIONS_PER_PEER,
                self.max_connections_per_peer,
                u32::MAX,
            ),
        ];
        for (key, value, max) in ranges {
            if let Some(n) = value.filter(|n| !(1..=max).contains(n)) {
                return Err(UsageError::Invalid {
                    origin: origin(key),
                    value: n.to_string(),
                    reason: "out of range".into(),
                    expected: if max == MAX_RETENTION_DAYS {
                        "a number of days from 1 to 36500"
                    } else {
                        "a whole number of at least 1"
                    },
                });
            }
        }
        Ok(())
    }
}

/// The variable of `key`, if set, parsed by `parse`.
fn env_value<T, E: std::fmt::Display>(
    key: Key,
    text: Option<String>,
    expected: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<Option<T>, UsageError> {
    text.map(|text| {
        parse(text.trim()).map_err(|e| UsageError::Invalid {
            origin: Origin::Env(key.env),
            value: format!("{text:?}"),
            reason: e.to_string(),
            expected,
        })
    })
    .transpose()
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`) in an environment variable.
fn bool_text(text: &str) -> Result<bool, &'static str> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("not a boolean"),
    }
}

/// A TOML error as one line: the line number, the key on that line, and what was expected.
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end();
    let Some(span) = error.span() else {
        return message.to_string();
    };
    let start = span.start.min(text.len());
    let line_no = text[..start].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1).unwrap_or_default();
    match line.split_once('=') {
        Some((key, _)) if !line.trim_start().starts_with('[') => {
            format!("line {line_no}, key `{}`: {message}", key.trim())
        }
        _ => format!("line {line_no}: {message}"),
    }
}

/// The effective configuration of `cove up`, each value with its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// `cove.toml` in the data dir, read or not.
    pub(crate) file: PathBuf,
    /// Whether it was there.
    pub(crate) file_found: bool,
    listen: Sourced<Vec<String>>,
    advertise: Sourced<Vec<String>>,
    mdns: Sourced<bool>,
    upnp: Sourced<bool>,
    relay_service: Sourced<bool>,
    retention_days: Sourced<Option<u32>>,
    sync_interval: Sourced<Duration>,
    peer_rate: Sourced<u32>,
    peer_burst: Sourced<u32>,
    max_connections: Sourced<u32>,
    max_connections_per_peer: Sourced<u32>,
    metrics: Sourced<Option<SocketAddr>>,
    web: Sourced<Option<SocketAddr>>,
}

impl Settings {
    /// Defaults, then `DATA_DIR/cove.toml` if it exists, then the process's environment, then
    /// `flags`.
    pub(crate) fn load(data_dir: &Path, flags: &UpArgs) -> anyhow::Result<Settings> {
        use anyhow::Context;
        let file = data_dir.join(FILE_NAME);
        let from_file = match std::fs::read_to_string(&file) {
            Ok(text) => Some(Layer::from_toml(&file, &text)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
        };
        let env = Layer::from_env(|var| std::env::var(var).ok())?;
        Ok(Settings::layered(
            file,
            from_file,
            env,
            Layer::from_flags(flags),
        ))
    }

    /// The layers over the defaults, in order.
    pub(crate) fn layered(
        file: PathBuf,
        from_file: Option<Layer>,
        env: Layer,
        flags: Layer,
    ) -> Self {
        let defaults = NodeConfig::new("");
        let mut settings = Settings {
            file_found: from_file.is_some(),
            file,
            listen: Sourced::default(defaults.listen.iter().map(|a| a.to_string()).collect()),
            advertise: Sourced::default(defaults.advertise.iter().map(|a| a.to_string()).collect()),
            mdns: Sourced::default(defaults.mdns),
            upnp: Sourced::default(defaults.upnp),
            relay_service: Sourced::default(defaults.relay_service),
            retention_days: Sourced::default(
                defaults.retention.map(|d| (d.as_secs() / 86_400) as u32),
            ),
            sync_interval: Sourced::default(defaults.sync_interval),
            peer_rate: Sourced::default(defaults.peer_rate_limit.per_sec as u32),
            peer_burst: Sourced::default(defaults.peer_rate_limit.burst as u32),
            max_connections: Sourced::default(defaults.max_connections),
            max_connections_per_peer: Sourced::default(defaults.max_connections_per_peer),
            metrics: Sourced::default(None),
            web: Sourced::default(None),
        };
        if let Some(layer) = from_file {
            settings.apply(layer, Source::File);
        }
        settings.apply(env, Source::Env);
        settings.apply(flags, Source::Flag);
        settings
    }

    fn apply(&mut self, layer: Layer, source: Source) {
        fn set<T>(to: &mut Sourced<T>, value: Option<T>, source: Source) {
            if let Some(value) = value {
                *to = Sourced { value, source };
            }
        }
        set(&mut self.listen, layer.listen, source);
        set(&mut self.advertise, layer.advertise, source);
        set(&mut self.mdns, layer.mdns, source);
        set(&mut self.upnp, layer.upnp, source);
        set(&mut self.relay_service, layer.relay_service, source);
        set(
            &mut self.retention_days,
            layer.retention_days.map(Some),
            source,
        );
        set(&mut self.sync_interval, layer.sync_interval, source);
        set(&mut self.peer_rate, layer.peer_rate, source);
        set(&mut self.peer_burst, layer.peer_burst, source);
        set(&mut self.max_connections, layer.max_connections, source);
        set(
            &mut self.max_connections_per_peer,
            layer.max_connections_per_peer,
            source,
        );
        set(&mut self.metrics, layer.metrics.map(Some), source);
        set(&mut self.web, layer.web.map(Some), source);
    }

    /// Where a value set by `source` for `key` came from, as an error names it.
    fn origin(&self, key: Key, source: Source) -> Origin {
        match source {
            Source::File => Origin::File {
                path: self.file.clone(),
                key: key.name,
            },
            Source::Env => Origin::Env(key.env),
            Source::Flag | Source::Default => Origin::Flag(key.flag),
        }
    }

    /// The node's configuration. Addresses are parsed here, into the type `NodeConfig` holds
    /// (libp2p's, which the CLI does not import); a bad one names where it was set.
    pub(crate) fn node_config(&self, data_dir: &Path) -> Result<NodeConfig, UsageError> {
        let mut config = NodeConfig::new(data_dir);
        config.listen = self.multiaddrs(LISTEN, &self.listen)?;
        config.advertise = self.multiaddrs(ADVERTISE, &self.advertise)?;
        config.mdns = self.mdns.value;
        config.upnp = self.upnp.value;
        config.relay_service = self.relay_service.value;
        config.retention = self
            .retention_days
            .value
            .map(|days| Duration::from_secs(u64::from(days) * 86_400));
        config.sync_interval = self.sync_interval.value;
        config.peer_rate_limit = cove_node::PeerRateLimit {
            per_sec: f64::from(self.peer_rate.value),
            burst: f64::from(self.peer_burst.value),
        };
        config.max_connections = self.max_connections.value;
        config.max_connections_per_peer = self.max_connections_per_peer.value;
        Ok(config)
    }

    /// Where to serve metrics, if anywhere.
    pub(crate) fn metrics(&self) -> Option<SocketAddr> {
        self.metrics.value
    }

    /// Where to serve the web app, if anywhere.
    pub(crate) fn web(&self) -> Option<SocketAddr> {
        self.web.value
    }

    fn multiaddrs<T>(&self, key: Key, addrs: &Sourced<Vec<String>>) -> Result<Vec<T>, UsageError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        addrs
            .value
            .iter()
            .map(|a| {
                a.parse().map_err(|e: T::Err| UsageError::Multiaddr {
                    origin: self.origin(key, addrs.source),
                    value: a.clone(),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// Every setting in `cove.toml`'s order: key, value (as JSON), source, and where exactly
    /// (the variable or flag) when it was not the default or the file.
    pub(crate) fn entries(&self) -> Vec<Entry> {
        fn entry<T>(key: Key, sourced: &Sourced<T>, value: Value) -> Entry {
            Entry {
                key,
                value,
                source: sourced.source,
            }
        }
        vec![
            entry(LISTEN, &self.listen, json!(self.listen.value)),
            entry(ADVERTISE, &self.advertise, json!(self.advertise.value)),
            entry(MDNS, &self.mdns, json!(self.mdns.value)),
            entry(UPNP, &self.upnp, json!(self.upnp.value)),
            entry(
                RELAY_SERVICE,
                &self.relay_service,
                json!(self.relay_service.value),
            ),
            entry(
                RETENTION_DAYS,
                &self.retention_days,
                json!(self.retention_days.value),
            ),
            entry(
                SYNC_INTERVAL,
                &self.sync_interval,
                json!(humantime::format_duration(self.sync_interval.value).to_string()),
            ),
            entry(PEER_RATE, &self.peer_rate, json!(self.peer_rate.value)),
            entry(PEER_BURST, &self.peer_burst, json!(self.peer_burst.value)),
            entry(
                MAX_CONNECTIONS,
                &self.max_connections,
                json!(self.max_connections.value),
            ),
            entry(
                MAX_CONNECTIONS_PER_PEER,
                &self.max_connections_per_peer,
                json!(self.max_connections_per_peer.value),
            ),
            entry(
                METRICS,
                &self.metrics,
                json!(self.metrics.value.map(|a| a.to_string())),
            ),
            entry(WEB, &self.web, json!(self.web.value.map(|a| a.to_string()))),
        ]
    }
}

/// One line of `cove config show`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    pub(crate) key: Key,
    pub(crate) value: Value,
    pub(crate) source: Source,
}

#[cfg(test)]
mod tests;
