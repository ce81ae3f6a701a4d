//! The web app's security rules, over real HTTP against a real node on 127.0.0.1:0: the token
//! and its cookie, 401 without them, the Host check (DNS rebinding), the Origin check (CSRF),
//! the Content-Security-Policy on every answer, loopback only.

mod common;

use anyhow::{Context, Result};
use common::{app, http, within};
use cove_web::WebServer;

#[tokio::test]
async fn without_the_cookie_every_request_is_refused_with_401() -> Result<()> {
    // Scenario: a client that knows the address but not the token asks for the page, an asset,
    //   the API and a post. Assert: 401 each time, and nothing was posted.
    within(async {
        let app = app().await?;
        let host = app.host.as_str();
        let origin = app.origin();
        for (method, path) in [
            ("GET", "/"),
            ("GET", "/app.js"),
            ("GET", "/api/groups"),
            ("GET", "/api/events?group=club"),
        ] {
            let answer = http(host, method, path, &[("Host", host)], None).await?;
            assert_eq!(answer.status, 401, "{method} {path}");
        }
        let body = format!(r#"{{"group":"{}","text":"sneaky"}}"#, app.group);
        let answer = http(
            host,
            "POST",
            "/api/posts",
            &[("Host", host), ("Origin", &origin)],
            Some(&body),
        )
        .await?;
        assert_eq!(answer.status, 401);
        let wrong = format!(
            "cove_{}=not-the-token",
            app.host.rsplit(':').next().unwrap()
        );
        let answer = http(
            host,
            "GET",
            "/api/groups",
            &[("Host", host), ("Cookie", &wrong)],
            None,
        )
        .await?;
        assert_eq!(answer.status, 401);
        assert!(app.ant.feed(&app.group, 10).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_token_is_exchanged_for_an_http_only_strict_cookie_and_dropped_from_the_url(
) -> Result<()> {
    // Scenario: the browser opens the printed URL, then follows the redirect with the cookie.
    // Assert: 303 to "/" setting an HttpOnly, SameSite=Strict cookie holding the token; a
    //   wrong token gets 401; with the cookie the page and the API answer.
    within(async {
        let app = app().await?;
        let host = app.host.as_str();
        let path = format!("/?token={}", app.token);
        let answer = http(host, "GET", &path, &[("Host", host)], None).await?;
        assert_eq!(answer.status, 303);
        assert_eq!(answer.header("location"), Some("/"));
        let cookie = answer.header("set-cookie").context("no cookie set")?;
        assert!(cookie.starts_with(&app.cookie), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");

        let wrong = format!("/?token={}", "0".repeat(app.token.len()));
        assert_eq!(
            http(host, "GET", &wrong, &[("Host", host)], None)
                .await?
                .status,
            401
        );

        let page = app.signed_in("GET", "/", &[], None).await?;
        assert_eq!(page.status, 200);
        assert!(page
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/html"));
        assert!(page.body.contains("/app.js"));
        let groups = app.signed_in("GET", "/api/groups", &[], None).await?;
        assert_eq!(groups.status, 200);
        assert!(groups.body.contains(&app.group), "{}", groups.body);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_foreign_host_header_is_refused_even_with_the_cookie() -> Result<()> {
    // Scenario: DNS rebinding: a page on rebind.example re-points its name at 127.0.0.1, so
    //   its requests reach the app with `Host: rebind.example:PORT` (and, in the worst case,
    //   whatever cookie it could get sent). Assert: 421 for the page, the API, a post and the
    //   token exchange; `localhost:PORT` is accepted.
    within(async {
        let app = app().await?;
        let port = app.host.rsplit(':').next().unwrap().to_string();
        let foreign = format!("rebind.example:{port}");
        let origin = format!("http://{foreign}");
        let token_path = format!("/?token={}", app.token);
        for (method, path, origin) in [
            ("GET", "/", None),
            ("GET", token_path.as_str(), None),
            ("GET", "/api/groups", None),
            ("POST", "/api/posts", Some(origin.as_str())),
        ] {
            let mut headers = vec![("Host", foreign.as_str()), ("Cookie", app.cookie.as_str())];
            headers.extend(origin.map(|o| ("Origin", o)));
            let body =
                (method == "POST").then(|| format!(r#"{{"group":"{}","text":"x"}}"#, app.group));
            let answer = http(&app.host, method, path, &headers, body.as_deref()).await?;
            assert_eq!(answer.status, 421, "{method} {path}");
        }
        let no_host = http(
            &app.host,
            "GET",
            "/api/groups",
            &[("Cookie", &app.cookie)],
            None,
        )
        .await?;
        assert_eq!(no_host.status, 421);
        let localhost = format!("localhost:{port}");
        let answer = http(
            &app.host,
            "GET",
            "/api/groups",
            &[("Host", &localhost), ("Cookie", &app.cookie)],
            None,
        )
        .await?;
        assert_eq!(answer.status, 200);
        assert!(app.ant.feed(&app.group, 10).await?.is_empty());
        Ok(())
    })
    .await
}

#[tokio::test]
async fn a_state_change_without_the_apps_origin_is_refused() -> Result<()> {
    // Scenario: CSRF: requests that carry the cookie but come from another origin (or name
    //   none) try to post, delete and ban. Assert: 403 each time and nothing changes; the
    //   same post with the app's own Origin succeeds and is in ant's feed.
    within(async {
        let app = app().await?;
        let body = format!(r#"{{"group":"{}","text":"hello"}}"#, app.group);
        for origin in [
            None,
            Some("http://evil.example"),
            Some("null"),
            Some("https://127.0.0.1"),
        ] {
            let extra: Vec<_> = origin.map(|o| ("Origin", o)).into_iter().collect();
            let answer = app
                .signed_in("POST", "/api/posts", &extra, Some(&body))
                .await?;
            assert_eq!(answer.status, 403, "origin {origin:?}");
        }
        assert!(app.ant.feed(&app.group, 10).await?.is_empty());

        let own = app.origin();
        let answer = app
            .signed_in("POST", "/api/posts", &[("Origin", &own)], Some(&body))
            .await?;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let feed = app.ant.feed(&app.group, 10).await?;
        assert_eq!(feed.len(), 1);
        let id = &feed[0].id;

        let path = format!("/api/messages/{id}");
        let delete = app
            .signed_in("DELETE", &path, &[("Origin", "http://evil.example")], None)
            .await?;
        assert_eq!(delete.status, 403);
        let ban = format!(r#"{{"member":"{}"}}"#, "ab".repeat(32));
        let answer = app
            .signed_in(
                "POST",
                "/api/admin/ban",
                &[("Origin", "http://evil.example")],
                Some(&ban),
            )
            .await?;
        assert_eq!(answer.status, 403);
        assert_eq!(app.ant.feed(&app.group, 10).await?.len(), 1);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn every_answer_carries_the_strict_content_security_policy() -> Result<()> {
    // Scenario: answers of every kind: the page, a script, JSON, a redirect, 401, 403, 421.
    // Assert: each carries the CSP (no inline script or style, own origin only, no framing),
    //   nosniff and no-referrer.
    within(async {
        let app = app().await?;
        let host = app.host.as_str();
        let token_path = format!("/?token={}", app.token);
        let answers = [
            app.signed_in("GET", "/", &[], None).await?,
            app.signed_in("GET", "/app.js", &[], None).await?,
            app.signed_in("GET", "/api/status", &[], None).await?,
            http(host, "GET", &token_path, &[("Host", host)], None).await?,
            http(host, "GET", "/", &[("Host", host)], None).await?,
            app.signed_in("POST", "/api/posts", &[], Some("{}")).await?,
            http(host, "GET", "/", &[("Host", "evil.example")], None).await?,
        ];
        let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [200, 200, 200, 303, 401, 403, 421]);
        for answer in &answers {
            let csp = answer.header("content-security-policy").context("no CSP")?;
            assert_eq!(csp, cove_web::guard::CSP);
            for part in [
                "default-src 'none'",
                "script-src 'self'",
                "style-src 'self'",
                "connect-src 'self'",
                "frame-ancestors 'none'",
            ] {
                assert!(csp.contains(part), "{csp} lacks {part}");
            }
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(answer.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(answer.header("referrer-policy"), Some("no-referrer"));
        }
        assert!(answers[1]
            .header("content-type")
            .unwrap_or("")
            .starts_with("text/javascript"));
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_app_binds_loopback_only_and_its_url_file_is_private() -> Result<()> {
    // Scenario: `cove up --web` asked for a wildcard or LAN address, then for 127.0.0.1:0.
    // Assert: the first two are refused as the user's error; the last picks a port, prints a
    //   URL with a 64-hex-digit token, and writes it to a file only the owner can read.
    within(async {
        for addr in ["0.0.0.0:0", "192.168.1.20:8080", "[::]:0"] {
            let refused = WebServer::bind(addr.parse()?).await.unwrap_err();
            assert!(refused.is_user_error(), "{addr}: {refused}");
        }
        let web = WebServer::bind("127.0.0.1:0".parse()?).await?;
        assert_ne!(web.local_addr().port(), 0);
        let url = web.url();
        let token = url
            .strip_prefix(&format!("http://{}/?token=", web.local_addr()))
            .context("url shape")?;
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        let other = WebServer::bind("127.0.0.1:0".parse()?).await?;
        assert_ne!(other.url(), url, "a fresh token per start");

        let dir = tempfile::tempdir()?;
        let path = web.write_url_file(dir.path())?;
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(cove_web::read_url_file(dir.path())?, Some(url));
        cove_web::remove_url_file(dir.path());
        assert_eq!(cove_web::read_url_file(dir.path())?, None);
        Ok(())
    })
    .await
}

#[tokio::test]
async fn the_api_answers_a_users_mistake_with_400_and_its_message() -> Result<()> {
    // Scenario: the page asks for a feed of a group ant is not in. Assert: 400 with the node's
    //   own words as JSON, so the page can show them.
    within(async {
        let app = app().await?;
        let answer = app
            .signed_in("GET", "/api/feed?group=nope&order=hot", &[], None)
            .await?;
        assert_eq!(answer.status, 400);
        assert!(answer.body.contains("unknown group"), "{}", answer.body);
        Ok(())
    })
    .await
}
