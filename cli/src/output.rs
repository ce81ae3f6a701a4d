//! Output formatting: every result in its human form and its `--json` form. Scripts depend on
//! both: the JSON shapes are those of the node's views, and what a command creates goes alone
//! on the last line of stdout.

use cove_node::core::tickets::TicketInfo;
use cove_node::sync::Report as SyncReport;
use cove_node::view::ads::{AdView, GrantView};
use cove_node::view::social::{MemberInfo, ModerationInfo, ProfileInfo, RoomInfo, Thread};
use cove_node::{FeedItem, GroupInfo, PeerSummary, Status};
use serde_json::{json, Value};

use crate::config::{Settings, Source};

/// The last 8 characters of a peer id, enough to tell peers apart in a line.
pub(crate) fn short_peer(peer: &str) -> &str {
    &peer[peer.len().saturating_sub(8)..]
}

/// Prints results: human text, or JSON with `--json`. What a command creates goes alone on the
/// last line of stdout, so scripts can take it with `tail -n1`.
#[derive(Debug)]
pub(crate) struct Output {
    /// `--json` was given.
    pub(crate) json: bool,
}

impl Output {
    pub(crate) fn print_json(&self, value: &Value) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("JSON value prints")
        );
    }

    pub(crate) fn created(&self, key: &str, value: &str, label: &str) {
        if self.json {
            self.print_json(&json!({ key: value }));
        } else {
            println!("{label}:");
            println!("{value}");
        }
    }

    /// The advertiser's public key, the one a group admin grants.
    pub(crate) fn advertiser_key(&self, key: &cove_crypto::Pseudonym) {
        self.created(
            "advertiser_key",
            &key.public().to_string(),
            "advertiser key (give it to a group admin)",
        );
    }

    pub(crate) fn message(&self, text: &str) {
        if self.json {
            self.print_json(&json!({ "ok": true }));
        } else {
            println!("{text}");
        }
    }

    /// A list: JSON as is, or one line per item, or `empty` when there is none.
    pub(crate) fn list<T: serde::Serialize>(&self, items: &[T], empty: &str, line: impl Fn(&T)) {
        if self.json {
            return self.print_json(&json!(items));
        }
        if items.is_empty() {
            println!("{empty}");
        }
        items.iter().for_each(line);
    }

    pub(crate) fn groups(&self, groups: &[GroupInfo]) {
        self.list(
            groups,
            "no groups yet: `cove group create NAME`, or `cove join < INVITE_FILE`",
            |g| {
                let role = if g.admin { " (admin)" } else { "" };
                println!("{}  {}{}  {} messages", g.id, g.name, role, g.messages);
            },
        );
    }
    pub(crate) fn feed(&self, items: &[FeedItem]) {
        self.list(items, "no posts yet", |item| {
            println!("{}", crate::demo::format_item(item))
        });
    }
    pub(crate) fn peers(&self, peers: &[PeerSummary]) {
        self.list(peers, "no peers connected", |p| {
            println!(
                "{}  {}  groups: [{}]  {}",
                p.peer,
                p.connection,
                p.groups.join(", "),
                p.addrs.join(" ")
            );
        });
    }
    pub(crate) fn thread(&self, thread: &Thread) {
        if self.json {
            return self.print_json(&json!(thread));
        }
        println!("{}", crate::demo::format_item(&thread.root));
        for reply in &thread.replies {
            println!(
                "{}{}",
                "    ".repeat(reply.depth),
                crate::demo::format_item(&reply.item).trim_start()
            );
        }
    }

    pub(crate) fn rooms(&self, rooms: &[RoomInfo]) {
        self.list(rooms, "no rooms yet: `cove room create NAME`", |r| {
            println!("{}  {}", r.id, r.name)
        });
    }
    pub(crate) fn chat_line(&self, item: &FeedItem) {
        if self.json {
            println!("{}", json!(item));
        } else {
            let who = item.nickname.as_deref().unwrap_or("anonymous");
            println!("<{who}#{}> {}", item.fingerprint, item.text);
        }
    }

    pub(crate) fn moderation(&self, info: &ModerationInfo) {
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

    pub(crate) fn members(&self, members: &[MemberInfo]) {
        self.list(members, "no member records yet", |m| {
            let nick = m.nickname.as_deref().unwrap_or("(no nickname)");
            let role = if m.admin { "  admin" } else { "" };
            let mine = if m.mine { " (you)" } else { "" };
            let since = std::time::UNIX_EPOCH + std::time::Duration::from_millis(m.since);
            println!(
                "{}  {nick}#{}{mine}{role}  since {}",
                m.member,
                m.fingerprint,
                humantime::format_rfc3339_seconds(since)
            );
        });
    }

    pub(crate) fn tickets(&self, tickets: &[TicketInfo]) {
        self.list(tickets, "no invites made in this group yet", |t| {
            let expires = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.expires);
            let state = if t.revoked {
                "withdrawn"
            } else if t.admitted >= t.uses {
                "used up"
            } else if std::time::SystemTime::now() >= expires {
                "expired"
            } else {
                "open"
            };
            println!(
                "{}  {state}  admitted {}/{}  expires {}  by {}",
                &t.id[..16],
                t.admitted,
                t.uses,
                humantime::format_rfc3339_seconds(expires),
                &t.inviter[..8]
            );
        });
    }

    pub(crate) fn rekeyed(&self, ids: &[String]) {
        if self.json {
            return self.print_json(&json!(ids));
        }
        println!(
            "new key epoch sent to the roster in {} message(s): {}",
            ids.len(),
            ids.join(", ")
        );
    }

    pub(crate) fn profiles(&self, profiles: &[ProfileInfo]) {
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

    pub(crate) fn grants(&self, grants: &[GrantView]) {
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
    pub(crate) fn ads(&self, ads: &[AdView], explain: bool) {
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

    pub(crate) fn sync(&self, reports: &[SyncReport]) {
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

    pub(crate) fn status(&self, s: &Status) {
        if self.json {
            return self.print_json(&json!(s));
        }
        for n in &s.networks {
            println!(
                "network     {} ({}): peer {}, {} peer(s), {} remembered, key epoch {} ({})",
                n.name,
                &n.group[..8],
                n.peer_id,
                n.peers,
                n.remembered_peers,
                n.epoch,
                n.epoch_tag
            );
            for addr in &n.listen_addrs {
                println!("listening   {addr}");
            }
            for addr in &n.door_addrs {
                println!("door        {addr}  (admission only; invites list it)");
            }
            println!("reach       {}", n.reach.summary);
            for advice in &n.reach.advice {
                println!("            advice: {advice}");
            }
            if let Some(r) = &n.reach.relay_service {
                println!(
                    "relaying    {} member(s) reserved, {} circuit(s) open, {} accepted, {} refused",
                    r.reservations, r.circuits, r.circuits_accepted, r.refused
                );
            }
        }
        println!("groups      {}", s.groups);
        println!("peers       {}", s.peers);
        println!("accepted    {}", s.accepted);
        for (reason, count) in &s.rejected {
            println!("rejected    {reason}: {count}");
        }
        println!("outbox      {}", s.outbox);
        println!("store       {} bytes", s.store_bytes);
        println!(
            "sync        {} session(s) running, {} started, {} finished, {} message(s) fetched",
            s.sync.running, s.sync.started, s.sync.finished, s.sync.fetched
        );
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

    /// `cove status --net`: per group network, how members reach this node and what to do.
    pub(crate) fn connectivity(&self, s: &Status) {
        if self.json {
            let nets: Vec<Value> = s
                .networks
                .iter()
                .map(|n| json!({ "group": n.group, "name": n.name, "peers": n.peers, "reach": n.reach }))
                .collect();
            return self.print_json(&json!(nets));
        }
        if s.networks.is_empty() {
            println!("no group network runs: create or join a group first");
        }
        for n in &s.networks {
            println!("{} ({}): {}", n.name, &n.group[..8], n.reach.summary);
            println!("  connected peers: {}", n.peers);
            for addr in n.reach.external_addrs.iter().chain(&n.reach.relayed_addrs) {
                println!("  reachable at {addr}");
            }
            if n.reach.relays_known > 0 {
                println!("  relays among connected members: {}", n.reach.relays_known);
            }
            if let Some(problem) = &n.reach.relay_problem {
                println!("  last relay problem: {problem}");
            }
            for advice in &n.reach.advice {
                println!("  what to do: {advice}");
            }
            if n.reach.advice.is_empty() {
                println!("  nothing to do");
            }
        }
    }

    pub(crate) fn interests(&self, list: &[String]) {
        if self.json {
            self.print_json(&json!(list));
        } else if list.is_empty() {
            println!(
                "no interests (they stay on this device): `cove interests add interest:coffee`"
            );
        } else {
            println!("{}", list.join("\n"));
        }
    }

    /// `cove config show`: each setting, its value and where it came from.
    pub(crate) fn config(&self, data_dir: &std::path::Path, data_dir_source: Source, s: &Settings) {
        let entries = s.entries();
        if self.json {
            let settings: serde_json::Map<String, Value> = entries
                .iter()
                .map(|e| {
                    let entry = json!({ "value": e.value, "source": e.source });
                    (e.key.name.to_string(), entry)
                })
                .collect();
            return self.print_json(&json!({
                "data_dir": { "value": data_dir, "source": data_dir_source },
                "file": { "path": s.file, "found": s.file_found },
                "settings": settings,
            }));
        }
        let source = |source: Source, env: &str, flag: &str| match source {
            Source::Default => "default".to_string(),
            Source::File => "file".to_string(),
            Source::Env => format!("env {env}"),
            Source::Flag => format!("flag {flag}"),
        };
        let found = if s.file_found { "found" } else { "not found" };
        println!(
            "{:<26}{}  ({})",
            "data dir",
            data_dir.display(),
            source(data_dir_source, "COVE_DATA_DIR", "--data-dir")
        );
        println!("{:<26}{}  ({found})", "config file", s.file.display());
        for e in &entries {
            let value = match &e.value {
                Value::Null => "(none)".to_string(),
                Value::String(text) => text.clone(),
                Value::Array(items) if items.is_empty() => "(none)".to_string(),
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            let from = source(e.source, e.key.env, e.key.flag);
            println!("{:<26}{value}  ({from})", e.key.name);
        }
    }
}
