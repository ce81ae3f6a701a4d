//! Whether members can reach this node, in plain words (issue 16).
//!
//! The gossip layer knows the facts per group network ([`cove_gossip::Reachability`]): what
//! AutoNAT concluded, the confirmed external addresses, the addresses through relays, why
//! the last relay reservation failed. This module turns them into what `cove status` says
//! and what `cove status --net` advises. Pure functions: facts in, words out.

use cove_gossip::{Multiaddr, Nat, Protocol, Reachability};
use serde::{Deserialize, Serialize};

/// How one group's network can be reached, as `cove status` shows it.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetReach {
    /// In one line: "reachable at ...", "behind NAT, reachable through relay ...", or
    /// "not reachable: ...".
    pub summary: String,
    /// AutoNAT's conclusion: `unknown`, `public` or `private`.
    pub nat: String,
    /// Confirmed external addresses (AutoNAT, UPnP).
    pub external_addrs: Vec<String>,
    /// Addresses through relays (`.../p2p-circuit/p2p/...`).
    pub relayed_addrs: Vec<String>,
    /// Connected members that offer to relay.
    pub relays_known: usize,
    /// Why the last relay reservation was refused or lost.
    pub relay_problem: Option<String>,
    /// What this node serves as a relay (`cove up --relay-service`).
    pub relay_service: Option<RelayService>,
    /// What to do about it, one piece of advice a line (empty: nothing to do).
    pub advice: Vec<String>,
}

/// What this node served as a relay since it started.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RelayService {
    /// Members holding a reservation now.
    pub reservations: usize,
    /// Circuits open now.
    pub circuits: usize,
    /// Circuits accepted since start.
    pub circuits_accepted: u64,
    /// Requests refused since start (limits reached).
    pub refused: u64,
}

/// The relay peer id in a relayed address `.../p2p/RELAY/p2p-circuit/...`.
fn relay_part(addr: &Multiaddr) -> Multiaddr {
    addr.iter()
        .take_while(|p| !matches!(p, Protocol::P2pCircuit))
        .collect()
}

/// Says how a network is reached, given its facts, the addresses the operator advertises
/// (`--advertise`), whether it listens at all and how many peers it has.
pub fn describe(
    facts: &Reachability,
    advertised: &[Multiaddr],
    listening: bool,
    peers: usize,
) -> NetReach {
    let text = |addrs: &[Multiaddr]| addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let nat = match facts.nat {
        Nat::Unknown => "unknown",
        Nat::Public(_) => "public",
        Nat::Private => "private",
    };
    let mut advice = Vec::new();
    let summary = if !listening {
        advice.push(
            "no listen address: start the node with `cove up --listen /ip4/0.0.0.0/tcp/PORT`"
                .to_owned(),
        );
        "not reachable: this node listens on no address".to_owned()
    } else if let Some(addr) = facts.external.first() {
        format!("reachable at {addr}")
    } else if let Some(addr) = advertised.first() {
        if facts.nat == Nat::Private {
            advice.push(format!(
                "members could not dial this node back: check that {addr} is forwarded to \
                 this machine and open in its firewall"
            ));
        }
        format!("reachable at {addr} (advertised; not confirmed by a member)")
    } else if let Some(addr) = facts.relayed.first() {
        let relay = relay_part(addr);
        match facts.nat {
            Nat::Private => format!("behind NAT, reachable through relay {relay}"),
            _ => format!("reachable through relay {relay} (a direct address is not confirmed yet)"),
        }
    } else {
        if facts.relays_known == 0 {
            advice.push(
                "no relay: ask a member with a public address to run `cove up --relay-service`, \
                 or forward a port on your router and start with `cove up --advertise \
                 /ip4/PUBLIC-IP/tcp/PORT`"
                    .to_owned(),
            );
        }
        if let Some(problem) = &facts.relay_problem {
            advice.push(format!("relay reservation failed: {problem}"));
        }
        if peers == 0 {
            advice.push(
                "no peer reachable: no member from the invite or the address book answers; \
                 members must be online, one of them with a public address or a relay"
                    .to_owned(),
            );
        }
        match facts.nat {
            Nat::Private => {
                "not reachable: behind NAT without a relay; members must be online with a relay"
                    .to_owned()
            }
            _ => "not reachable yet: no confirmed public address and no relay; members must be \
                  online with a relay"
                .to_owned(),
        }
    };
    NetReach {
        summary,
        nat: nat.to_owned(),
        external_addrs: text(&facts.external),
        relayed_addrs: text(&facts.relayed),
        relays_known: facts.relays_known,
        relay_problem: facts.relay_problem.clone(),
        relay_service: facts.relay_service.map(|a| RelayService {
            reservations: a.reservations,
            circuits: a.circuits,
            circuits_accepted: a.circuits_accepted,
            refused: a.refused,
        }),
        advice,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Reachability {
        Reachability {
            nat: Nat::Unknown,
            external: Vec::new(),
            relayed: Vec::new(),
            relays: Vec::new(),
            relays_known: 0,
            relay_problem: None,
            relay_service: None,
        }
    }

    #[test]
    fn a_confirmed_address_is_said_first() {
        let addr: Multiaddr = "/ip4/198.51.100.7/tcp/4001".parse().unwrap();
        let reach = describe(
            &Reachability {
                nat: Nat::Public(addr.clone()),
                external: vec![addr],
                ..facts()
            },
            &[],
            true,
            1,
        );
        assert_eq!(reach.summary, "reachable at /ip4/198.51.100.7/tcp/4001");
        assert!(reach.advice.is_empty());
        assert_eq!(reach.nat, "public");
    }

    #[test]
    fn a_node_behind_nat_names_its_relay() {
        let relayed: Multiaddr = "/ip4/198.51.100.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit"
            .parse()
            .unwrap();
        let reach = describe(
            &Reachability {
                nat: Nat::Private,
                relayed: vec![relayed],
                ..facts()
            },
            &[],
            true,
            1,
        );
        assert_eq!(
            reach.summary,
            "behind NAT, reachable through relay /ip4/198.51.100.7/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"
        );
    }

    #[test]
    fn without_relay_or_address_the_node_says_what_to_do() {
        let reach = describe(
            &Reachability {
                nat: Nat::Private,
                relay_problem: Some("relay X: reservation refused".into()),
                ..facts()
            },
            &[],
            true,
            0,
        );
        assert!(
            reach.summary.starts_with("not reachable: behind NAT"),
            "{}",
            reach.summary
        );
        let advice = reach.advice.join("\n");
        assert!(advice.contains("--relay-service"), "{advice}");
        assert!(advice.contains("reservation refused"), "{advice}");
        assert!(advice.contains("no peer reachable"), "{advice}");
        let silent = describe(&facts(), &[], false, 0);
        assert!(silent.summary.contains("listens on no address"));
    }

    #[test]
    fn an_advertised_address_members_cannot_reach_is_flagged() {
        let advertised: Multiaddr = "/ip4/198.51.100.7/tcp/4001".parse().unwrap();
        let reach = describe(
            &Reachability {
                nat: Nat::Private,
                ..facts()
            },
            &[advertised],
            true,
            2,
        );
        assert!(
            reach.summary.contains("(advertised; not confirmed"),
            "{}",
            reach.summary
        );
        assert!(reach.advice[0].contains("forwarded"), "{:?}", reach.advice);
    }
}
