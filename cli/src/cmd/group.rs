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
    if AnyInvite::decode_ignoring_expiry(&invite).is_ok_and(|i| i.addrs().is_empty()) {
        eprintln!(
            "warning: this invite lists no address, so invitees can only find this node \
             through the LAN (mDNS) or the other members they reach. Give an address \
             where they can reach you: `cove group invite --addr MULTIADDR`, or start \
             the node with `cove up --advertise MULTIADDR` (or a non-wildcard --listen)"
        );
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
