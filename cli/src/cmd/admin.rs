//! Moderation: `admin` (group-wide bans, removals, advertiser grants; admins only) and
//! `mute`/`unmute` (local to this member).

use anyhow::Result;
use cove_node::control::Request;
use cove_node::view::ads::GrantView;
use cove_node::view::social::{MemberInfo, ModerationInfo};

use super::Ctx;
use crate::args::AdminCommand;
use crate::parse;

/// `cove members`.
pub(crate) async fn members(ctx: &Ctx, group: Option<String>) -> Result<()> {
    let members: Vec<MemberInfo> = ctx.view(&Request::Members { group }).await?;
    ctx.out.members(&members);
    Ok(())
}

/// `cove admin ...`.
pub(crate) async fn run(ctx: &Ctx, command: AdminCommand) -> Result<()> {
    match command {
        AdminCommand::Ban {
            member,
            group,
            undo,
        } => {
            let ban = Request::AdminBan {
                group,
                member,
                undo,
            };
            let label = if undo { "ban lifted" } else { "banned" };
            ctx.create(&ban, "id", label).await
        }
        AdminCommand::Rekey { group } => {
            let ids: Vec<String> = ctx.view(&Request::AdminRekey { group }).await?;
            ctx.out.rekeyed(&ids);
            Ok(())
        }
        AdminCommand::Remove { id } => {
            ctx.create(&Request::AdminRemove { id }, "id", "removed")
                .await
        }
        AdminCommand::List { group } => {
            let info: ModerationInfo = ctx.view(&Request::AdminList { group }).await?;
            ctx.out.moderation(&info);
            Ok(())
        }
        AdminCommand::GrantAdvertiser {
            group,
            key,
            name,
            from,
            until,
            daily_quota,
            allow_targeting,
        } => {
            let not_before = from
                .as_deref()
                .map(|t| parse::when("--from", t))
                .transpose()?;
            let not_after = parse::when("--until", &until)?;
            let grant = Request::GrantAdvertiser {
                group,
                key,
                name,
                not_before,
                not_after,
                daily_quota,
                targeting: allow_targeting,
            };
            ctx.create(&grant, "grant", "advertiser granted").await
        }
        AdminCommand::RevokeAdvertiser {
            grant_or_key,
            group,
        } => {
            let revoke = Request::RevokeAdvertiser {
                group,
                grant_or_key,
            };
            let ids: Vec<String> = ctx.view(&revoke).await?;
            ctx.out.created("revocations", &ids.join(","), "revoked");
            Ok(())
        }
        AdminCommand::Grants { group } => {
            let grants: Vec<GrantView> = ctx.view(&Request::Grants { group }).await?;
            ctx.out.grants(&grants);
            Ok(())
        }
    }
}

/// `cove mute MEMBER` and, with `undo`, `cove unmute MEMBER`.
pub(crate) async fn mute(
    ctx: &Ctx,
    member: String,
    group: Option<String>,
    undo: bool,
) -> Result<()> {
    ctx.request(&Request::Mute {
        group,
        member,
        undo,
    })
    .await?;
    ctx.out.message(if undo {
        "unmuted"
    } else {
        "muted (only for you)"
    });
    Ok(())
}
