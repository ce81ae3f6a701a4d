//! Posts and what hangs off them: `post`, `feed`, `show`, `reply`, `thread`, `edit`, `delete`,
//! `recommend`, and the pseudonymous `profile` shown next to them.

use anyhow::Result;
use cove_node::control::Request;
use cove_node::view::social::{Order as SocialOrder, ProfileInfo, Thread};
use cove_node::FeedItem;

use super::Ctx;
use crate::args::{Order, ProfileCommand, Window};

/// `cove post --group G [--title T] TEXT`.
pub(crate) async fn post(
    ctx: &Ctx,
    group: String,
    title: Option<String>,
    text: String,
) -> Result<()> {
    let post = Request::Post { group, title, text };
    ctx.create(&post, "id", "posted").await
}

/// `cove feed`: the group's posts in the chosen order.
pub(crate) async fn feed(
    ctx: &Ctx,
    group: Option<String>,
    order: Order,
    window: Window,
    limit: u32,
    explain: bool,
) -> Result<()> {
    let order = match order {
        Order::New => SocialOrder::New,
        Order::Hot => SocialOrder::Hot,
        Order::Top => SocialOrder::Top,
    };
    let ranked = Request::Ranked {
        group,
        order,
        window_secs: window.0.map(|d| d.as_secs()),
        limit: limit as usize,
        explain,
    };
    let items: Vec<FeedItem> = ctx.view(&ranked).await?;
    ctx.out.feed(&items);
    Ok(())
}

/// `cove show ID`.
pub(crate) async fn show(ctx: &Ctx, id: String) -> Result<()> {
    let item: FeedItem = ctx.view(&Request::Show { id }).await?;
    ctx.out.feed(std::slice::from_ref(&item));
    Ok(())
}

/// `cove reply ID TEXT`.
pub(crate) async fn reply(ctx: &Ctx, to: String, text: String) -> Result<()> {
    ctx.create(&Request::Reply { to, text }, "id", "replied")
        .await
}

/// `cove thread ID`.
pub(crate) async fn thread(ctx: &Ctx, id: String) -> Result<()> {
    let thread: Thread = ctx.view(&Request::Thread { id }).await?;
    ctx.out.thread(&thread);
    Ok(())
}

/// `cove edit ID TEXT [--title T]`.
pub(crate) async fn edit(ctx: &Ctx, id: String, text: String, title: Option<String>) -> Result<()> {
    ctx.create(&Request::Edit { id, title, text }, "id", "edited")
        .await
}

/// `cove delete ID`.
pub(crate) async fn delete(ctx: &Ctx, id: String) -> Result<()> {
    ctx.create(&Request::Delete { id }, "id", "deleted").await
}

/// `cove recommend ID [--undo]`.
pub(crate) async fn recommend(ctx: &Ctx, id: String, undo: bool) -> Result<()> {
    let label = if undo {
        "recommendation withdrawn"
    } else {
        "recommended"
    };
    ctx.create(&Request::Recommend { id, undo }, "id", label)
        .await
}

/// `cove profile show|set`.
pub(crate) async fn profile(ctx: &Ctx, command: ProfileCommand) -> Result<()> {
    match command {
        ProfileCommand::Show { member } => {
            let profiles: Vec<ProfileInfo> = ctx.view(&Request::Profiles { member }).await?;
            ctx.out.profiles(&profiles);
            Ok(())
        }
        ProfileCommand::Set {
            group,
            nickname,
            bio,
        } => {
            let set = Request::SetProfile {
                group,
                nickname,
                bio,
            };
            ctx.create(&set, "id", "profile updated").await
        }
    }
}
