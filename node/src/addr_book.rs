//! What a node remembers about each group's network between runs, so that a group survives
//! restarts and moves (issue 19): the TCP port the group's network listens on, and the
//! recent addresses of the members it was connected to or heard of.
//!
//! Pure: the actor (`actor/peers.rs`) owns one [`NetMemory`] per group, feeds it what the
//! swarm reports (connections, identify's listen addresses, address records) and writes it
//! to `DATA_DIR/nets/<group id>.json` ([`NetMemory::save`]). Everything here is bounded:
//! [`MAX_BOOK_PEERS`] peers per group, [`MAX_PEER_ADDRS`] addresses per peer.
//!
//! ```json
//! {"v":1,"port":41237,"requested_port":0,
//!  "peers":{"12D3KooW...":{"addrs":["/ip4/192.0.2.7/tcp/41002"],
//!                          "last_contact_ms":1764662400000,
//!                          "record_at_ms":1764662399000,"record":"a3617601..."}}}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::NodeError;

/// Peers remembered per group. A flood of address records (from a member who mints peer
/// keys) can take at most this many slots, and the oldest entries go first.
pub const MAX_BOOK_PEERS: usize = 64;
/// Addresses remembered per peer (and carried by one address record).
pub const MAX_PEER_ADDRS: usize = 8;
/// The version of the file format.
pub const NET_MEMORY_VERSION: u32 = 1;
/// A remembered contact is written to disk again only when it moved by this much: a
/// connected member would otherwise rewrite the file at every refresh.
pub const CONTACT_SAVE_GRANULARITY_MS: u64 = 60_000;
/// The first redial of a lost member waits about this long ([`redial_delay`]).
pub const REDIAL_BASE: Duration = Duration::from_secs(1);
/// Redials of a member that stays unreachable are at most this far apart.
pub const REDIAL_MAX: Duration = Duration::from_secs(300);

/// One group's remembered network state, as kept in `DATA_DIR/nets/<group id>.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetMemory {
    /// [`NET_MEMORY_VERSION`].
    pub v: u32,
    /// The TCP port the group's network listens on, chosen on its first start.
    #[serde(default)]
    pub port: Option<u16>,
    /// The `--listen` TCP port (0: any) the port was chosen from: a changed `--listen` port
    /// chooses again.
    #[serde(default)]
    pub requested_port: Option<u16>,
    /// The TCP port of the group's door (PROTOCOL.md §10.3), chosen like `port`: kept so
    /// that the tickets this node handed out still find its door after a restart.
    #[serde(default)]
    pub door_port: Option<u16>,
    /// Members' addresses.
    #[serde(default)]
    pub peers: BTreeMap<String, Entry>,
}

/// What is remembered of one member peer (its peer id in the group's network is the key).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Where it listens, without `/p2p/`, most useful first; at most [`MAX_PEER_ADDRS`].
    pub addrs: Vec<String>,
    /// When this node was last connected to it (unix ms).
    #[serde(default)]
    pub last_contact_ms: Option<u64>,
    /// `at` of the newest address record of it this node accepted (unix ms).
    #[serde(default)]
    pub record_at_ms: Option<u64>,
    /// That record, signed (PROTOCOL.md §10.1), hex: shared again with members who connect.
    #[serde(default, with = "opt_hex")]
    pub record: Option<Vec<u8>>,
    /// Where its door listens (§10.3), from its newest door record: asked for the re-keys
    /// this node missed when the peer cannot be reached in the group's network (§15).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub door_addrs: Vec<String>,
    /// `at` of that door record (unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub door_record_at_ms: Option<u64>,
}

impl Entry {
    /// Which entries go first when the book is full: peers never connected to (known only
    /// from records, which any member can mint) before those this node talked to, then the
    /// oldest sign of life (a connection or the time of a record).
    fn keep_rank(&self) -> (bool, u64) {
        let contact = self.last_contact_ms.unwrap_or(0);
        (
            self.last_contact_ms.is_some(),
            contact.max(self.record_at_ms.unwrap_or(0)),
        )
    }
}

/// What [`NetMemory::heard`] did with an address record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Heard {
    /// Newer than what was known: stored.
    Stored,
    /// Not newer than the record already known for that peer.
    Stale,
}

impl NetMemory {
    /// An empty memory of the current version.
    pub fn new() -> Self {
        Self {
            v: NET_MEMORY_VERSION,
            ..Self::default()
        }
    }

    /// Reads `path`; a missing file is an empty memory.
    pub fn load(path: &Path) -> Result<Self, NodeError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(e) => return Err(NodeError::io(path, e)),
        };
        let memory: NetMemory = serde_json::from_slice(&bytes).map_err(|e| {
            NodeError::Control(format!("{} is not a network memory: {e}", path.display()))
        })?;
        if memory.v != NET_MEMORY_VERSION {
            return Err(NodeError::Control(format!(
                "{}: network memory version {} is not supported (max {NET_MEMORY_VERSION})",
                path.display(),
                memory.v
            )));
        }
        let mut memory = memory;
        memory.trim();
        Ok(memory)
    }

    /// Writes `path` atomically (temp file, fsync, rename; mode 0600, its directory 0700).
    pub fn save(&self, path: &Path) -> Result<(), NodeError> {
        Self::write(path, &self.encode()?)
    }

    /// The file's contents: what [`NetMemory::save`] writes.
    pub fn encode(&self) -> Result<Vec<u8>, NodeError> {
        serde_json::to_vec_pretty(self)
            .map_err(|e| NodeError::Control(format!("encoding the network memory: {e}")))
    }

    /// Writes [`NetMemory::encode`]'s `bytes` to `path` as [`NetMemory::save`] does.
    pub fn write(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
        if let Some(dir) = path.parent() {
            crate::data_dir::create_private_dir(dir)?;
        }
        crate::data_dir::write_secret(path, bytes)
    }

    /// This node is connected to `peer`, which listens on `addrs` (identify), at `now_ms`.
    /// Returns whether the file should be written again.
    pub fn seen(&mut self, peer: &str, addrs: &[String], now_ms: u64) -> bool {
        let entry = self.peers.entry(peer.to_owned()).or_default();
        let mut merged: Vec<String> = Vec::with_capacity(MAX_PEER_ADDRS);
        for addr in addrs.iter().chain(entry.addrs.iter()) {
            if merged.len() < MAX_PEER_ADDRS && !merged.contains(addr) {
                merged.push(addr.clone());
            }
        }
        let moved = merged != entry.addrs;
        let stale = entry
            .last_contact_ms
            .is_none_or(|t| now_ms.saturating_sub(t) >= CONTACT_SAVE_GRANULARITY_MS);
        entry.addrs = merged;
        entry.last_contact_ms = Some(now_ms.max(entry.last_contact_ms.unwrap_or(0)));
        self.trim();
        moved || stale
    }

    /// An accepted address record of `peer`, made at `at_ms`, listing `addrs`: the newest
    /// record per peer wins and replaces the peer's addresses (it is the peer's own word).
    pub fn heard(&mut self, peer: &str, at_ms: u64, addrs: &[String], record: &[u8]) -> Heard {
        if let Some(known) = self.peers.get(peer).and_then(|e| e.record_at_ms) {
            if known >= at_ms {
                return Heard::Stale;
            }
        }
        let entry = self.peers.entry(peer.to_owned()).or_default();
        entry.addrs = addrs.iter().take(MAX_PEER_ADDRS).cloned().collect();
        entry.record_at_ms = Some(at_ms);
        entry.record = Some(record.to_vec());
        self.trim();
        if self.peers.contains_key(peer) {
            Heard::Stored
        } else {
            Heard::Stale
        }
    }

    /// The `at` of the newest record known of `peer`.
    pub fn record_at(&self, peer: &str) -> Option<u64> {
        self.peers.get(peer).and_then(|e| e.record_at_ms)
    }

    /// An accepted door record of `peer`, made at `at_ms`, listing `addrs`: the newest wins.
    pub fn heard_door(&mut self, peer: &str, at_ms: u64, addrs: &[String]) -> Heard {
        if self
            .door_record_at(peer)
            .is_some_and(|known| known >= at_ms)
        {
            return Heard::Stale;
        }
        let entry = self.peers.entry(peer.to_owned()).or_default();
        entry.door_addrs = addrs.iter().take(MAX_PEER_ADDRS).cloned().collect();
        entry.door_record_at_ms = Some(at_ms);
        self.trim();
        if self.peers.contains_key(peer) {
            Heard::Stored
        } else {
            Heard::Stale
        }
    }

    /// Remembers the doors an invite ticket listed (`/p2p/`-terminated multiaddrs, §10.3) as
    /// the doors of the members they name, where no door record says better: a member who
    /// joined and went away before any door record reached it can still ask them for the
    /// re-keys it missed (§15).
    pub fn ticket_doors(&mut self, addrs: &[String]) {
        for addr in addrs {
            let Ok(full) = addr.parse::<cove_gossip::Multiaddr>() else {
                continue;
            };
            let Some(cove_gossip::Protocol::P2p(peer)) = full.iter().last() else {
                continue;
            };
            let bare = crate::addr_record::without_p2p(&full).to_string();
            let peer = peer.to_string();
            let mut doors = self.doors(&peer).to_vec();
            if !doors.contains(&bare) {
                doors.push(bare);
            }
            // At 0: any door record of the peer is newer.
            if self.door_record_at(&peer).is_none_or(|at| at == 0) {
                if let Some(entry) = self.peers.get_mut(&peer) {
                    entry.door_record_at_ms = None;
                }
                self.heard_door(&peer, 0, &doors);
            }
        }
    }

    /// The `at` of the newest door record known of `peer`.
    pub fn door_record_at(&self, peer: &str) -> Option<u64> {
        self.peers.get(peer).and_then(|e| e.door_record_at_ms)
    }

    /// The door addresses of `peer`, if known.
    pub fn doors(&self, peer: &str) -> &[String] {
        self.peers
            .get(peer)
            .map_or(&[], |e| e.door_addrs.as_slice())
    }

    /// When this node was last connected to any member of the group.
    pub fn last_contact(&self) -> Option<u64> {
        self.peers.values().filter_map(|e| e.last_contact_ms).max()
    }

    /// Every remembered peer and its addresses.
    pub fn addrs(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.peers
            .iter()
            .map(|(p, e)| (p.as_str(), e.addrs.as_slice()))
    }

    /// The stored address records (signed bytes) made before `at_ms`, to share with members.
    pub fn records_before(&self, at_ms: u64) -> impl Iterator<Item = &[u8]> {
        self.peers
            .values()
            .filter(move |e| e.record_at_ms.is_some_and(|t| t < at_ms))
            .filter_map(|e| e.record.as_deref())
    }

    /// Keeps the [`MAX_BOOK_PEERS`] freshest peers and [`MAX_PEER_ADDRS`] addresses each.
    fn trim(&mut self) {
        for entry in self.peers.values_mut() {
            entry.addrs.truncate(MAX_PEER_ADDRS);
        }
        while self.peers.len() > MAX_BOOK_PEERS {
            let oldest = self
                .peers
                .iter()
                .min_by_key(|(_, e)| e.keep_rank())
                .map(|(p, _)| p.clone());
            if let Some(peer) = oldest {
                self.peers.remove(&peer);
            }
        }
    }
}

/// Which port a group's network listens on at this start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortPlan {
    /// The port remembered from an earlier start.
    Reuse(u16),
    /// A port chosen now from a fixed `--listen` port; remembered once bound.
    Fixed(u16),
    /// Any free port (the OS picks); remembered once bound.
    Any,
}

impl PortPlan {
    /// The port to put in the listen addresses (0: any).
    pub fn port(self) -> u16 {
        match self {
            PortPlan::Reuse(p) | PortPlan::Fixed(p) => p,
            PortPlan::Any => 0,
        }
    }
}

/// The port plan of a group's network or door whose `--listen` TCP port is `requested` (0:
/// any), given the port its memory holds for it (`remembered`, chosen from the `--listen` port
/// `chosen_from`) and the ports the node's other networks and doors hold (`taken`). A fixed
/// `--listen` port `P` gives a new one the lowest free port from `P` up, so a group keeps its
/// ports whatever the order in which groups start or were joined.
pub fn port_plan(
    requested: u16,
    remembered: Option<u16>,
    chosen_from: Option<u16>,
    taken: &[u16],
) -> PortPlan {
    if let (Some(port), Some(from)) = (remembered, chosen_from) {
        if from == requested && port != 0 {
            return PortPlan::Reuse(port);
        }
    }
    if requested == 0 {
        return PortPlan::Any;
    }
    (requested..=u16::MAX)
        .find(|p| !taken.contains(p))
        .map_or(PortPlan::Any, PortPlan::Fixed)
}

/// How long to wait before the `attempt`-th redial (from 0) of a lost member: [`REDIAL_BASE`]
/// doubled per attempt, at most [`REDIAL_MAX`], times `jitter` (drawn from 0.5..1.5 by the
/// caller), so that members who lost each other at the same moment do not redial in step.
pub fn redial_delay(attempt: u32, jitter: f64) -> Duration {
    let doubled = REDIAL_BASE.saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX));
    doubled.min(REDIAL_MAX).mul_f64(jitter.clamp(0.5, 1.5))
}

mod opt_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_some(&hex::encode(bytes)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| hex::decode(text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_remembered_port_is_reused_and_a_changed_listen_port_chooses_again() {
        let mut memory = NetMemory::new();
        let plan = |requested, m: &NetMemory, taken: &[u16]| {
            port_plan(requested, m.port, m.requested_port, taken)
        };
        assert_eq!(plan(0, &memory, &[]), PortPlan::Any);
        assert_eq!(plan(4001, &memory, &[4001, 4002]), PortPlan::Fixed(4003));
        memory.port = Some(41237);
        memory.requested_port = Some(0);
        assert_eq!(plan(0, &memory, &[]), PortPlan::Reuse(41237));
        assert_eq!(plan(4001, &memory, &[]), PortPlan::Fixed(4001));
    }

    #[test]
    fn the_newest_record_per_peer_wins_and_a_flood_is_bounded() {
        let mut memory = NetMemory::new();
        let old = addrs(&["/ip4/192.0.2.1/tcp/1"]);
        let new = addrs(&["/ip4/192.0.2.2/tcp/2"]);
        assert_eq!(memory.heard("p", 10, &new, b"r10"), Heard::Stored);
        assert_eq!(memory.heard("p", 10, &old, b"r10"), Heard::Stale);
        assert_eq!(memory.heard("p", 9, &old, b"r9"), Heard::Stale);
        assert_eq!(memory.peers["p"].addrs, new);
        // A member seen connected stays while a flood of records of made-up peers passes.
        memory.seen("friend", &old, 1_000_000);
        for i in 0..10 * MAX_BOOK_PEERS as u64 {
            memory.heard(&format!("flood{i}"), 100 + i, &new, &[0; 512]);
        }
        assert_eq!(memory.peers.len(), MAX_BOOK_PEERS);
        assert!(memory.peers.contains_key("friend"));
        assert_eq!(memory.last_contact(), Some(1_000_000));
    }

    #[test]
    fn identify_addresses_come_first_and_are_bounded() {
        let mut memory = NetMemory::new();
        let many: Vec<String> = (0..20).map(|i| format!("/ip4/192.0.2.{i}/tcp/1")).collect();
        assert!(memory.seen("p", &many, 0));
        assert_eq!(memory.peers["p"].addrs.len(), MAX_PEER_ADDRS);
        // The same again a moment later: nothing to write.
        assert!(!memory.seen("p", &many[..1], 1000));
        let moved = addrs(&["/ip4/198.51.100.9/tcp/7"]);
        assert!(memory.seen("p", &moved, 2000));
        assert_eq!(memory.peers["p"].addrs[0], moved[0]);
    }

    #[test]
    fn the_file_round_trips_and_a_damaged_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nets").join("g.json");
        assert_eq!(NetMemory::load(&path).unwrap(), NetMemory::new());
        let mut memory = NetMemory::new();
        memory.port = Some(4001);
        memory.requested_port = Some(0);
        memory.heard("p", 5, &addrs(&["/ip4/192.0.2.1/tcp/1"]), &[1, 2, 3]);
        memory.save(&path).unwrap();
        assert_eq!(NetMemory::load(&path).unwrap(), memory);
        std::fs::write(&path, b"{not json").unwrap();
        let err = NetMemory::load(&path).unwrap_err().to_string();
        assert!(err.contains("g.json is not a network memory"), "{err}");
    }

    #[test]
    fn redials_back_off_exponentially_within_bounds() {
        assert_eq!(redial_delay(0, 1.0), REDIAL_BASE);
        assert_eq!(redial_delay(3, 1.0), REDIAL_BASE * 8);
        assert_eq!(redial_delay(40, 1.0), REDIAL_MAX);
        assert_eq!(redial_delay(40, 9.0), REDIAL_MAX.mul_f64(1.5));
        assert_eq!(redial_delay(0, 0.0), REDIAL_BASE / 2);
    }
}
