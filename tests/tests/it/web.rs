//! The web app through the binary: `cove up --web` and `cove web`.

use anyhow::{Context, Result};
use cove_tests::{cove, cove_ok, CoveProcess, TEST_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `cove_web::URL_FILE`, spelled out so the tests crate needs no dependency on the web crate.
const URL_FILE: &str = "web.url";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_web_prints_the_url_of_the_running_nodes_web_app() -> Result<()> {
    // Scenario: ant runs `cove up --web 127.0.0.1:0`, asks `cove web`, opens the URL, then
    //   stops the node; `cove up --web` on a wildcard address; `cove web` with no node.
    // Assert: `cove web` prints http://127.0.0.1:PORT/?token=... (a port was picked) from a
    //   0600 file, and the URL signs in (303 with a cookie); `cove web --open` hands xdg-open
    //   (a stand-in on PATH) the path of a 0600 page that redirects to the URL, and no
    //   command line holds the token; after `cove down` the file is gone and `cove web`
    //   exits 3; a non-loopback --web is a usage error (exit 2).
    tokio::time::timeout(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let ant_dir = root.path().join("ant");
        cove_ok(&ant_dir, &["init"])?;
        let refused = cove(&ant_dir, &["up", "--no-mdns", "--web", "0.0.0.0:0"])?;
        assert_eq!(refused.status.code(), Some(2), "{refused:?}");

        let _ant = CoveProcess::up_with(
            &ant_dir,
            &["--listen", "/ip4/127.0.0.1/tcp/0", "--web", "127.0.0.1:0"],
        )
        .await?;
        let url = cove_ok(&ant_dir, &["web"])?;
        let rest = url
            .strip_prefix("http://127.0.0.1:")
            .context("a loopback URL")?;
        let (port, token) = rest.split_once("/?token=").context("a token")?;
        assert_ne!(port, "0");
        assert_eq!(token.len(), 64, "{url}");
        use std::os::unix::fs::PermissionsExt;
        let file = ant_dir.join(URL_FILE);
        assert_eq!(
            std::fs::metadata(&file)?.permissions().mode() & 0o777,
            0o600
        );

        let host = format!("127.0.0.1:{port}");
        let mut stream = tokio::net::TcpStream::connect(&host).await?;
        let request =
            format!("GET /?token={token} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await?;
        assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("set-cookie: cove_"),
            "{answer}"
        );

        // `cove web --open`: the opener gets a private page's path, never the token.
        let bin = root.path().join("bin");
        std::fs::create_dir(&bin)?;
        let called = root.path().join("xdg-open.args");
        let opener = bin.join("xdg-open");
        std::fs::write(
            &opener,
            format!("#!/bin/sh\nprintf '%s' \"$*\" > {}\n", called.display()),
        )?;
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755))?;
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = cove_tests::cove_command(&cove_tests::cove_bin()?, &ant_dir, &["web", "--open"])
            .env("PATH", path)
            .output()?;
        assert!(out.status.success(), "{out:?}");
        let printed = String::from_utf8(out.stdout)?;
        assert_eq!(printed.lines().last(), Some(url.as_str()), "{printed}");
        let page = std::fs::read_to_string(&called)?;
        assert_eq!(page, ant_dir.join("web-open.html").display().to_string());
        assert!(!page.contains(token));
        assert!(std::fs::read_to_string(&page)?.contains(&format!("url={url}")));
        assert_eq!(
            std::fs::metadata(&page)?.permissions().mode() & 0o777,
            0o600
        );

        cove_ok(&ant_dir, &["down"])?;
        cove_tests::eventually("the node to remove its URL file", || async {
            Ok((!file.exists()).then_some(()))
        })
        .await?;
        let gone = cove(&ant_dir, &["web"])?;
        assert_eq!(gone.status.code(), Some(3), "{gone:?}");
        Ok(())
    })
    .await
    .context("test timed out")?
}
