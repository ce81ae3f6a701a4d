//! Moderation: `admin` (group-wide bans, removals, advertiser grants; admins only) and
//! `mute`/`unmute` (local to this member).

use anyhow::Result;
use cove_node::control::Request;
use cove_node::view::ads::GrantView;
use cove_node::view::social::{MemberInfo, ModerationInfo};

use super::Ctx;
use crate::args::AdminCommand;
use crate::parse;

/// One governance change of `cove admin add-admin|remove-admin|hand-over|policy`.
#[derive(Default)]
struct Amend {
    add_admin: Option<String>,
    remove_admin: Option<String>,
    hand_over: Option<String>,
    rate_limit: Option<String>,
    max_future_skew_secs: Option<u64>,
    invite: Option<String>,
}

async fn amend(ctx: &Ctx, group: Option<String>, change: Amend, label: &str) -> Result<()> {
    let request = Request::AdminAmend {
        group,
        add_admin: change.add_admin,
        remove_admin: change.remove_admin,
        hand_over: change.hand_over,
        rate_limit: change.rate_limit,
        max_future_skew_secs: change.max_future_skew_secs,
        invite: change.invite,
    };
    ctx.create(&request, "id", label).await
}

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
        AdminCommand::AddAdmin { member, group } => {
            amend(
                ctx,
                group,
                Amend {
                    add_admin: Some(member),
                    ..Amend::default()
                },
                "admin added",
            )
            .await
        }
        AdminCommand::RemoveAdmin { member, group } => {
            amend(
                ctx,
                group,
                Amend {
                    remove_admin: Some(member),
                    ..Amend::default()
                },
                "admin removed",
            )
            .await
        }
        AdminCommand::HandOver { member, group } => {
            amend(
                ctx,
                group,
                Amend {
                    hand_over: Some(member),
                    ..Amend::default()
                },
                "founder role handed over",
            )
            .await
        }
        AdminCommand::Policy {
            group,
            rate_limit,
            max_skew_secs,
            invite,
        } => {
            let change = Amend {
                rate_limit,
                max_future_skew_secs: max_skew_secs,
                invite,
                ..Amend::default()
            };
            amend(ctx, group, change, "policy changed").await
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
