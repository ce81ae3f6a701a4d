//! The JSON API the page uses, over real HTTP against a real node: each endpoint reaches its
//! `Node` method and answers the node's own shapes; the live stream delivers a chat line.

mod common;

use anyhow::{Context, Result};
use common::{app, within};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn id(value: &Value) -> Result<String> {
    Ok(value.as_str().context("an id")?.to_string())
}

#[tokio::test]
async fn the_pages_requests_reach_the_node_and_answer_its_views() -> Result<()> {
    // Scenario: ant, alone in "club", does through the API what the page does: profile, post,
    //   edit, recommend and withdraw, reply, room and chat, interests, invite, moderation,
    //   status, sync, delete.
    // Assert: each answer shows the change as the node's views describe it (FeedItem fields,
    //   thread, profiles...), and the invite comes with an SVG QR code; an unban that asks
    //   to remove posts is refused (400); status counts sync sessions (none yet).
    within(async {
        let app = app().await?;
        let g = app.group.clone();

        app.call(
            "PUT",
            "/api/profile",
            Some(json!({"group": g, "nickname": "ant", "bio": "founder"})),
        )
        .await?;
        let profiles = app.call("GET", "/api/profiles", None).await?;
        assert_eq!(profiles[0]["nickname"], "ant");
        assert_eq!(profiles[0]["bio"], "founder");

        let post = id(&app
            .call(
                "POST",
                "/api/posts",
                Some(json!({"group": g, "title": "Dune?", "text": "this month"})),
            )
            .await?)?;
        app.call(
            "PUT",
            &format!("/api/messages/{post}"),
            Some(json!({"title": "Dune", "text": "next month"})),
        )
        .await?;
        let shown = app
            .call("GET", &format!("/api/messages/{post}"), None)
            .await?;
        assert_eq!(
            (shown["text"].as_str(), shown["edited"].as_bool()),
            (Some("next month"), Some(true))
        );

        app.call(
            "POST",
            &format!("/api/messages/{post}/recommend"),
            Some(json!({"undo": false})),
        )
        .await?;
        let feed = app
            .call(
                "GET",
                &format!("/api/feed?group={g}&order=top&window_secs=86400"),
                None,
            )
            .await?;
        assert_eq!(feed[0]["recommendations"], 1);
        assert_eq!(feed[0]["recommended_by_me"], true);
        app.call(
            "POST",
            &format!("/api/messages/{post}/recommend"),
            Some(json!({"undo": true})),
        )
        .await?;
        let feed = app
            .call("GET", &format!("/api/feed?group={g}&order=hot"), None)
            .await?;
        assert_eq!(feed[0]["recommendations"], 0);

        let reply = id(&app
            .call(
                "POST",
                &format!("/api/messages/{post}/replies"),
                Some(json!({"text": "yes"})),
            )
            .await?)?;
        let thread = app
            .call("GET", &format!("/api/threads/{post}"), None)
            .await?;
        assert_eq!(thread["replies"][0]["item"]["id"], reply.as_str());
        let feed = app
            .call("GET", &format!("/api/feed?group={g}"), None)
            .await?;
        assert_eq!(feed[0]["replies"], 1);

        let room = id(&app
            .call(
                "POST",
                "/api/rooms",
                Some(json!({"group": g, "name": "general"})),
            )
            .await?)?;
        let rooms = app
            .call("GET", &format!("/api/rooms?group={g}"), None)
            .await?;
        assert_eq!(rooms[0]["id"], room.as_str());
        app.call(
            "POST",
            "/api/rooms/general/lines",
            Some(json!({"group": g, "text": "hi all"})),
        )
        .await?;
        let lines = app
            .call("GET", &format!("/api/rooms/{room}/lines?group={g}"), None)
            .await?;
        assert_eq!(lines[0]["text"], "hi all");

        let interests = app
            .call(
                "POST",
                "/api/interests",
                Some(json!({"add": ["interest:coffee"]})),
            )
            .await?;
        assert_eq!(interests, json!(["interest:coffee"]));
        assert_eq!(app.call("GET", "/api/interests", None).await?, interests);
        assert_eq!(
            app.call("GET", &format!("/api/ads?group={g}"), None)
                .await?,
            json!([])
        );

        let invite = app
            .call(
                "POST",
                "/api/invites",
                Some(json!({"group": g, "ttl_secs": 3600})),
            )
            .await?;
        assert!(
            invite["invite"].as_str().unwrap_or("").starts_with("cove:"),
            "{invite}"
        );
        assert!(invite["qr"]
            .as_str()
            .unwrap_or("")
            .starts_with("data:image/svg+xml;base64,"));

        let moderation = app
            .call("GET", &format!("/api/admin?group={g}"), None)
            .await?;
        let me = app.ant.groups().await?[0].me.clone();
        assert!(moderation.to_string().contains(&me), "{moderation}");
        assert_eq!(
            app.call("GET", &format!("/api/grants?group={g}"), None)
                .await?,
            json!([])
        );

        // "Ban and remove their posts" goes with a ban only.
        let body = json!({"group": g, "member": me, "undo": true, "remove_posts": true});
        let refused = app
            .signed_in(
                "POST",
                "/api/admin/ban",
                &[("Origin", &app.origin())],
                Some(&body.to_string()),
            )
            .await?;
        assert_eq!(refused.status, 400, "{}", refused.body);

        let status = app.call("GET", "/api/status", None).await?;
        assert_eq!(status["groups"], 1);
        assert_eq!(
            status["sync"],
            json!({"running": 0, "started": 0, "finished": 0, "fetched": 0})
        );
        assert!(app.call("GET", "/api/peers", None).await?.is_array());
        assert!(app
            .call("POST", "/api/sync", Some(json!({"group": g})))
            .await?
            .is_array());

        app.call("DELETE", &format!("/api/messages/{post}"), None)
            .await?;
        let feed = app
            .call("GET", &format!("/api/feed?group={g}"), None)
            .await?;
        assert_eq!(feed, json!([]));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_event_stream_delivers_a_new_chat_line_and_announces_other_changes() -> Result<()> {
    // Scenario: a page opens the live stream of room "general"; then a chat line is said and
    //   a post is made. Assert: the stream is text/event-stream and carries the line as a
    //   `chat` event (a FeedItem with its text) and the post as a `change` with its id.
    within(async {
        let app = app().await?;
        let g = app.group.clone();
        app.ant.create_room(Some(&g), "general").await?;
        let mut stream = tokio::net::TcpStream::connect(&app.host).await?;
        let request = format!(
            "GET /api/events?group={g}&room=general HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\n\r\n",
            app.host, app.cookie
        );
        stream.write_all(request.as_bytes()).await?;
        let mut seen = String::new();
        let mut buf = [0u8; 4096];
        while !seen.contains("\r\n\r\n") {
            let n = stream.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "the stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
        assert!(seen.contains("text/event-stream"), "{seen}");

        // The stream is open (its headers came after the subscription): say and post now.
        app.ant.say(Some(&g), "general", "<b>live</b> line").await?;
        let post = app.ant.post(&g, None, "a post").await?.to_string();
        while !(seen.contains("event: chat") && seen.contains(&post)) {
            let n = stream.read(&mut buf).await?;
            anyhow::ensure!(n > 0, "the stream closed: {seen}");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let chat = seen
            .lines()
            .skip_while(|l| *l != "event: chat")
            .find_map(|l| l.strip_prefix("data: "))
            .context("a chat event's data")?;
        let item: Value = serde_json::from_str(chat)?;
        assert_eq!(item["text"], "<b>live</b> line");
        assert_eq!(item["kind"], "chat");
        assert!(
            seen.contains(&format!("event: change\ndata: {post}")),
            "{seen}"
        );
        Ok(())
    })
    .await
}
