//! Which addresses an invite carries.
//!
//! An invite tells a joiner where to dial, and everyone who sees the invite learns them. A node
//! listening on a wildcard address (`/ip4/0.0.0.0/...`, the default) is bound to every
//! interface, and the swarm reports one listen address per interface: the LAN, docker bridges,
//! a VPN. Listing those would tell every invitee the inviter's network layout and would mostly
//! not be reachable anyway. So an invite carries, in this order of precedence:
//!
//! 1. the addresses given for this one invite (`cove group invite --addr`);
//! 2. else the node's advertise list (`cove up --advertise`, [`NodeConfig::advertise`]);
//! 3. else the listen addresses the user bound explicitly: a listener whose address is one of
//!    [`NodeConfig::listen`] with only a zero port filled in (a wildcard request matches none
//!    of the interface addresses it expands to), then the addresses that are known to work
//!    from outside: external addresses a peer confirmed by dialing them back (AutoNAT) or
//!    that the router mapped (UPnP), and addresses through a relay that accepted our
//!    reservation.
//!
//! Nothing else is listed. The result may be empty: the CLI then says how to give an address.
//!
//! [`NodeConfig::advertise`]: crate::NodeConfig::advertise
//! [`NodeConfig::listen`]: crate::NodeConfig::listen

use cove_gossip::{Multiaddr, PeerId, Protocol};

use crate::error::{Input, NodeError};
use crate::sync::{MAX_WELCOME_ADDRS, MAX_WELCOME_ADDR_LEN};

/// The addresses an invite of `peer` carries, as text ending in `/p2p/PEER`, without
/// duplicates: `chosen` if any, else `advertise` if any, else the `listening` addresses bound
/// explicitly by a `requested` listen address followed by the `reachable` ones (confirmed
/// external, relayed). An address naming another peer id is refused.
pub(crate) fn invite_addrs(
    peer: PeerId,
    chosen: &[Multiaddr],
    advertise: &[Multiaddr],
    requested: &[Multiaddr],
    listening: &[Multiaddr],
    reachable: &[Multiaddr],
) -> Result<Vec<String>, NodeError> {
    let picked: Vec<&Multiaddr> = if !chosen.is_empty() {
        chosen.iter().collect()
    } else if !advertise.is_empty() {
        advertise.iter().collect()
    } else {
        listening
            .iter()
            .filter(|addr| requested.iter().any(|r| bound_by(addr, r)))
            .chain(reachable)
            .collect()
    };
    let mut out: Vec<String> = Vec::with_capacity(picked.len());
    for addr in picked {
        let full = addr.clone().with_p2p(peer).map_err(|addr| {
            NodeError::invalid(
                Input::Address,
                format!("address {addr} names another peer; this node is {peer}"),
            )
        })?;
        let text = full.to_string();
        if !out.contains(&text) {
            out.push(text);
        }
    }
    Ok(out)
}

/// The addresses a welcome (PROTOCOL.md §17) gives the member just admitted: where this node
/// is in the group's network, at most [`MAX_WELCOME_ADDRS`] of at most
/// [`MAX_WELCOME_ADDR_LEN`] bytes: the `advertise`d ones, the `reachable` ones (confirmed
/// external, relayed), then every `listening` address; none naming another peer. An admitted
/// member learns these from identify at its first connection anyway; the invite named only
/// the door.
pub(crate) fn welcome_addrs(
    peer: PeerId,
    advertise: &[Multiaddr],
    reachable: &[Multiaddr],
    listening: &[Multiaddr],
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for addr in advertise.iter().chain(reachable).chain(listening) {
        let Ok(text) = addr.clone().with_p2p(peer).map(|a| a.to_string()) else {
            continue;
        };
        if text.len() <= MAX_WELCOME_ADDR_LEN && !out.contains(&text) {
            out.push(text);
        }
    }
    out.truncate(MAX_WELCOME_ADDRS);
    out
}

/// Whether the listener address `listening` is what the listen request `requested` asked for:
/// the same components, where a requested port 0 matches any port and a wildcard IP matches
/// nothing (it expands to every interface's address). A trailing `/p2p/...` is ignored.
fn bound_by(listening: &Multiaddr, requested: &Multiaddr) -> bool {
    fn parts(addr: &Multiaddr) -> Vec<Protocol<'_>> {
        addr.iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect()
    }
    let (got, wanted) = (parts(listening), parts(requested));
    got.len() == wanted.len()
        && got
            .iter()
            .zip(&wanted)
            .all(|(got, wanted)| match (got, wanted) {
                (_, Protocol::Ip4(ip)) if ip.is_unspecified() => false,
                (_, Protocol::Ip6(ip)) if ip.is_unspecified() => false,
                (Protocol::Tcp(_), Protocol::Tcp(0))
                | (Protocol::Udp(_), Protocol::Udp(0))
                | (Protocol::Memory(_), Protocol::Memory(0)) => true,
                _ => got == wanted,
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<Multiaddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn peer() -> PeerId {
        cove_gossip::Keypair::generate_ed25519()
            .public()
            .to_peer_id()
    }

    /// What a swarm listening on `0.0.0.0` and `127.0.0.1` reports: every interface.
    const LISTENING: &[&str] = &[
        "/ip4/127.0.0.1/tcp/4001",
        "/ip4/192.168.1.20/tcp/4001",
        "/ip4/172.17.0.1/tcp/4001",
        "/ip4/10.8.0.2/tcp/4001",
        "/ip4/192.168.1.20/udp/4002/quic-v1",
        "/ip4/127.0.0.1/tcp/5000",
    ];

    #[test]
    fn a_wildcard_listener_lists_no_interface_address() {
        let peer = peer();
        let listening = addrs(LISTENING);
        let wildcard = addrs(&["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]);
        let picked = invite_addrs(peer, &[], &[], &wildcard, &listening, &[]).unwrap();
        assert!(picked.is_empty(), "{picked:?}");
        let ip6 = addrs(&["/ip6/::/tcp/0"]);
        let listening6 = addrs(&["/ip6/::1/tcp/4001", "/ip6/fd00::2/tcp/4001"]);
        assert!(invite_addrs(peer, &[], &[], &ip6, &listening6, &[])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_explicit_listener_is_listed_with_its_real_port() {
        let peer = peer();
        let requested = addrs(&["/ip4/0.0.0.0/tcp/0", "/ip4/127.0.0.1/tcp/5000"]);
        let picked = invite_addrs(peer, &[], &[], &requested, &addrs(LISTENING), &[]).unwrap();
        assert_eq!(picked, [format!("/ip4/127.0.0.1/tcp/5000/p2p/{peer}")]);
        let any_port = addrs(&["/ip4/192.168.1.20/tcp/0"]);
        let picked = invite_addrs(peer, &[], &[], &any_port, &addrs(LISTENING), &[]).unwrap();
        assert_eq!(picked, [format!("/ip4/192.168.1.20/tcp/4001/p2p/{peer}")]);
        let memory = invite_addrs(
            peer,
            &[],
            &[],
            &addrs(&["/memory/0"]),
            &addrs(&["/memory/77"]),
            &[],
        )
        .unwrap();
        assert_eq!(memory, [format!("/memory/77/p2p/{peer}")]);
    }

    #[test]
    fn chosen_addresses_override_advertised_ones_which_override_listeners() {
        let peer = peer();
        let requested = addrs(&["/ip4/127.0.0.1/tcp/0"]);
        let listening = addrs(LISTENING);
        let advertise = addrs(&["/dns4/cove.example.org/tcp/4001"]);
        let chosen = addrs(&[
            "/ip4/203.0.113.7/tcp/4001",
            &format!("/ip4/203.0.113.7/tcp/4001/p2p/{peer}"),
        ]);
        assert_eq!(
            invite_addrs(peer, &chosen, &advertise, &requested, &listening, &[]).unwrap(),
            [format!("/ip4/203.0.113.7/tcp/4001/p2p/{peer}")],
            "--addr wins, duplicates dropped"
        );
        assert_eq!(
            invite_addrs(peer, &[], &advertise, &requested, &listening, &[]).unwrap(),
            [format!("/dns4/cove.example.org/tcp/4001/p2p/{peer}")],
        );
    }

    #[test]
    fn confirmed_and_relayed_addresses_follow_explicit_listeners() {
        // Scenario: a node on a wildcard listener behind a NAT, with a relay reservation; then
        // the same node with an explicit listener. Assert: the relayed address is listed, after
        // the explicit listener; interface addresses still are not.
        let peer = peer();
        let relayed = "/ip4/198.51.100.2/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit";
        let reachable = addrs(&[relayed]);
        let wildcard = addrs(&["/ip4/0.0.0.0/tcp/0"]);
        let picked =
            invite_addrs(peer, &[], &[], &wildcard, &addrs(LISTENING), &reachable).unwrap();
        assert_eq!(picked, [format!("{relayed}/p2p/{peer}")]);
        let explicit = addrs(&["/ip4/127.0.0.1/tcp/5000"]);
        let picked =
            invite_addrs(peer, &[], &[], &explicit, &addrs(LISTENING), &reachable).unwrap();
        assert_eq!(
            picked,
            [
                format!("/ip4/127.0.0.1/tcp/5000/p2p/{peer}"),
                format!("{relayed}/p2p/{peer}")
            ]
        );
    }

    #[test]
    fn an_address_of_another_peer_is_refused() {
        let (peer, other) = (peer(), peer());
        let chosen = addrs(&[&format!("/ip4/203.0.113.7/tcp/4001/p2p/{other}")]);
        let err = invite_addrs(peer, &chosen, &[], &[], &[], &[]).unwrap_err();
        assert!(err.to_string().contains("names another peer"), "{err}");
    }

    #[test]
    fn a_welcome_lists_every_own_address_once_and_skips_another_peers() {
        let (peer, other) = (peer(), peer());
        let advertise = addrs(&["/ip4/203.0.113.7/tcp/4001"]);
        let listening = addrs(&[
            "/ip4/203.0.113.7/tcp/4001",
            &format!("/ip4/127.0.0.1/tcp/4001/p2p/{other}"),
            "/ip4/192.168.1.20/tcp/4001",
        ]);
        assert_eq!(
            welcome_addrs(peer, &advertise, &[], &listening),
            [
                format!("/ip4/203.0.113.7/tcp/4001/p2p/{peer}"),
                format!("/ip4/192.168.1.20/tcp/4001/p2p/{peer}"),
            ]
        );
        let many: Vec<Multiaddr> = (1..=40)
            .map(|i| format!("/ip4/10.0.0.{i}/tcp/4001").parse().unwrap())
            .collect();
        assert_eq!(
            welcome_addrs(peer, &[], &[], &many).len(),
            MAX_WELCOME_ADDRS
        );
    }
}
