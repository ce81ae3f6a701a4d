//! Chat rooms: `room create|list`, `say` (one line, for scripts) and `chat` (interactive).

use anyhow::Result;
use cove_node::control::{Client, Request};
use cove_node::view::social::RoomInfo;
use cove_node::FeedItem;

use super::Ctx;
use crate::args::RoomCommand;

/// `cove room create|list`.
pub(crate) async fn room(ctx: &Ctx, command: RoomCommand) -> Result<()> {
    match command {
        RoomCommand::Create { name, group } => {
            ctx.create(&Request::RoomCreate { group, name }, "room", "created room")
                .await
        }
        RoomCommand::List { group } => {
            let rooms: Vec<RoomInfo> = ctx.view(&Request::Rooms { group }).await?;
            ctx.out.rooms(&rooms);
            Ok(())
        }
    }
}

/// `cove say ROOM TEXT`.
pub(crate) async fn say(
    ctx: &Ctx,
    room: String,
    text: String,
    group: Option<String>,
) -> Result<()> {
    ctx.create(&Request::Say { group, room, text }, "id", "sent")
        .await
}

/// `cove chat`: history, then live lines from the node while lines typed on stdin are sent.
/// `/quit` or the end of stdin leaves. Works the same on a terminal and through a pipe.
pub(crate) async fn chat(
    ctx: &Ctx,
    group: Option<String>,
    room: String,
    history: usize,
) -> Result<()> {
    use tokio::io::AsyncBufReadExt;
    let (data_dir, out) = (&ctx.data_dir, &ctx.out);
    let client = Client::connect(data_dir).await?;
    let past: Vec<FeedItem> = serde_json::from_value(
        client
            .request(&Request::ChatHistory {
                group: group.clone(),
                room: room.clone(),
                limit: history,
            })
            .await?,
    )?;
    for item in &past {
        out.chat_line(item);
    }
    if !out.json {
        eprintln!("-- chatting in {room}; type a line to send it, /quit to leave --");
    }
    let (quit_tx, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let sender = {
        let (client, group, room) = (
            Client::connect(data_dir).await?,
            group.clone(),
            room.clone(),
        );
        async move {
            let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let text = line.trim().to_string();
                if text == "/quit" {
                    break;
                }
                if text.is_empty() {
                    continue;
                }
                let say = Request::Say {
                    group: group.clone(),
                    room: room.clone(),
                    text,
                };
                if let Err(e) = client.request(&say).await {
                    eprintln!("error: {e}");
                }
            }
            // Give our own last line a moment to come back through the watch.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let _ = quit_tx.send(());
        }
    };
    let watcher = client.watch(
        group,
        room,
        |event| {
            if event.get("watching").is_some() {
                return;
            }
            if let Some(missed) = event.get("missed") {
                eprintln!("-- {missed} lines missed (too slow); see `cove chat` history --");
                return;
            }
            if let Ok(item) = serde_json::from_value::<FeedItem>(event) {
                out.chat_line(&item);
            }
        },
        async {
            let _ = quit_rx.await;
        },
    );
    let (watched, ()) = tokio::join!(watcher, sender);
    watched?;
    Ok(())
}
