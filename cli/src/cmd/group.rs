//! `group create`, `group invite`, `join`, `groups`. Creating, joining and listing also work
//! while no node runs: they then open the store directly.

use std::path::PathBuf;

use anyhow::Result;
use cove_crypto::AnyInvite;
use cove_node::control::{offline, Client, Request};
use cove_node::message::Policy;
use cove_node::{GroupInfo, NodeError};

use super::{id_of, Ctx};
use crate::args::GroupCommand;
use crate::error::UsageError;
use crate::secret::{read_secret, INVITE_INPUT};

/// `cove group ...`.
pub(crate) async fn run(ctx: &Ctx, command: GroupCommand) -> Result<()> {
    match command {
        GroupCommand::Create { name, rate_limit } => create(ctx, name, rate_limit).await,
        GroupCommand::Invite {
            group,
            expires,
            uses,
            addrs,
        } => invite(ctx, group, expires, uses, addrs).await,
        GroupCommand::Invites { group } => {
            let tickets = ctx.request(&Request::Invites { group }).await?;
            let tickets: Vec<cove_node::core::tickets::TicketInfo> =
                serde_json::from_value(tickets)?;
            ctx.out.tickets(&tickets);
            Ok(())
        }
        GroupCommand::RevokeInvite { id } => {
            ctx.create(
                &Request::RevokeInvite { id },
                "id",
                "invite withdrawn by message",
            )
            .await
        }
    }
}

async fn create(ctx: &Ctx, name: String, rate_limit: Option<String>) -> Result<()> {
    // Checked here too, so a bad limit is a usage error even before the node is asked.
    let policy = Policy::with_rate_limit(rate_limit.as_deref()).map_err(UsageError::RateLimit)?;
    let id = match Client::connect(&ctx.data_dir).await {
        Ok(client) => id_of(
            client
                .request(&Request::CreateGroup { name, rate_limit })
                .await?,
        )?,
        Err(NodeError::NotRunning(_)) => offline::create_group(&ctx.data_dir, &name, policy)
            .await?
            .to_string(),
        Err(e) => return Err(e.into()),
    };
    ctx.out.created("group", &id, "created group");
    Ok(())
}

async fn invite(
    ctx: &Ctx,
    group: String,
    expires: std::time::Duration,
    uses: u32,
    addrs: Vec<String>,
) -> Result<()> {
    let ttl_secs = expires.as_secs();
    let invite = Request::Invite {
        group,
        ttl_secs,
        uses,
        addrs,
    };
    let invite = id_of(ctx.request(&invite).await?)?;
    if let Ok(decoded) = AnyInvite::decode_ignoring_expiry(&invite) {
        if let Some(warning) = reach_warning(decoded.addrs()) {
            eprintln!("warning: {warning}");
        }
    }
    ctx.out
        .created("invite", &invite, "invite (share it privately)");
    Ok(())
}

/// `cove join [INVITE | --file PATH]`.
pub(crate) async fn join(ctx: &Ctx, invite: Option<String>, file: Option<PathBuf>) -> Result<()> {
    let invite = read_secret(&INVITE_INPUT, invite, file.as_deref())?;
    let id = match Client::connect(&ctx.data_dir).await {
        Ok(client) => {
            let join = Request::Join {
                invite: invite.to_string(),
            };
            id_of(client.request(&join).await?)?
        }
        Err(NodeError::NotRunning(_)) => offline::join(&ctx.data_dir, &invite).await?.to_string(),
        Err(e) => return Err(e.into()),
    };
    ctx.out.created("group", &id, "joined group");
    Ok(())
}

/// `cove groups`.
pub(crate) async fn list(ctx: &Ctx) -> Result<()> {
    let groups: Vec<GroupInfo> = match Client::connect(&ctx.data_dir).await {
        Ok(client) => serde_json::from_value(client.request(&Request::Groups).await?)?,
        Err(NodeError::NotRunning(_)) => offline::groups(&ctx.data_dir)?,
        Err(e) => return Err(e.into()),
    };
    ctx.out.groups(&groups);
    Ok(())
}

/// What is wrong with an invite's addresses for an invitee elsewhere on the internet, if
/// anything: none at all, or only loopback and private ones without a relayed address.
fn reach_warning(addrs: &[String]) -> Option<String> {
    const HOW: &str = "Give an address where they can reach this node's door for the group \
                       (`cove status --net` shows its port; forward it if you are behind a \
                       router): `cove group invite --addr MULTIADDR`, start the node with \
                       `cove up --advertise MULTIADDR` (or a non-wildcard --listen), or ask a \
                       member with a public address to make the invite (a door is never \
                       reached through a relay)";
    if addrs.is_empty() {
        return Some(format!(
            "this invite lists no address, so invitees have nowhere to ask to be admitted. \
             {HOW}"
        ));
    }
    if addrs.iter().all(|a| is_local_only(a)) {
        return Some(format!(
            "this invite lists only loopback or private addresses ({}), which work only from \
             this machine or its own network. {HOW}",
            addrs.join(", ")
        ));
    }
    None
}

/// Whether `addr` (a multiaddr's text) can only be dialed from this host or its own
/// network: a loopback, private, link-local or carrier-grade NAT IP, and not through a relay.
fn is_local_only(addr: &str) -> bool {
    if addr.contains("/p2p-circuit") {
        return false;
    }
    let mut parts = addr.split('/').skip(1);
    match (parts.next(), parts.next()) {
        (Some("ip4"), Some(ip)) => ip.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }),
        (Some("ip6"), Some(ip)) => ip.parse::<std::net::Ipv6Addr>().is_ok_and(|ip| {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invite_with_only_local_addresses_is_flagged() {
        let peer = "/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        let local = [
            format!("/ip4/127.0.0.1/tcp/4001{peer}"),
            format!("/ip4/192.168.1.20/tcp/4001{peer}"),
            format!("/ip4/100.70.1.2/tcp/4001{peer}"),
            format!("/ip6/fd00::2/tcp/4001{peer}"),
        ];
        let warning = reach_warning(&local).expect("flagged");
        assert!(warning.contains("only loopback or private"), "{warning}");
        assert!(warning.contains("door"), "{warning}");
        assert!(reach_warning(&[]).unwrap().contains("lists no address"));
        let relayed = format!("/ip4/10.0.0.1/tcp/4001{peer}/p2p-circuit{peer}");
        assert_eq!(reach_warning(&[local[0].clone(), relayed]), None);
        assert_eq!(
            reach_warning(&[format!("/ip4/203.0.113.7/tcp/4001{peer}")]),
            None
        );
        assert_eq!(
            reach_warning(&[format!("/dns4/cove.example.org/tcp/4001{peer}")]),
            None
        );
    }
}
