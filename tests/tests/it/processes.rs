use anyhow::{Context, Result};
use cove_tests::{
    cove, cove_ok, cove_with_stdin, eventually, last_stdout_line, within, CoveProcess, TEST_TIMEOUT,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cove_processes_share_a_post() -> Result<()> {
    // Scenario: two data dirs and two real `cove up` processes. ant: init, up, group create,
    // group invite; bat: init, join (offline, the invite on stdin), up; ant posts.
    // Assert: the post appears in bat's `feed --json`.
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let (ant_dir, bat_dir) = (root.path().join("ant"), root.path().join("bat"));
        cove_ok(&ant_dir, &["init"])?;
        cove_ok(&bat_dir, &["init"])?;
        let _ant = CoveProcess::up(&ant_dir).await?;
        let group = cove_ok(&ant_dir, &["group", "create", "book club"])?;
        let invite = cove_ok(
            &ant_dir,
            &["group", "invite", "book club", "--expires", "1h"],
        )?;
        assert!(invite.starts_with("cove:"), "{invite}");
        // The invite goes through stdin, not the command line (/proc, shell history).
        let joined = last_stdout_line(
            &["join"],
            cove_with_stdin(&bat_dir, &["join"], invite.as_bytes())?,
        )?;
        assert_eq!(joined, group);
        let _bat = CoveProcess::up(&bat_dir).await?;
        let post_id = cove_ok(&ant_dir, &["post", "--group", &group, "hello bat"])?;
        let feed = eventually("the post to reach bat", || async {
            let out = cove_tests::cove(&bat_dir, &["--json", "feed", "--group", "book club"])?;
            let items: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("feed --json")?;
            Ok(items.as_array().filter(|a| !a.is_empty()).cloned())
        })
        .await?;
        assert_eq!(feed[0]["id"], post_id);
        assert_eq!(feed[0]["text"], "hello bat");
        assert_eq!(feed[0]["mine"], false);
        Ok(())
    })
    .await
}

use cove_tests::cove_json as json;

/// The addresses listed by the invite `cove group invite GROUP ARGS...` prints, and its stderr.
fn invite_addrs(data_dir: &std::path::Path, args: &[&str]) -> Result<(Vec<String>, String)> {
    let mut full = vec!["group", "invite"];
    full.extend_from_slice(args);
    let out = cove(data_dir, &full)?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let invite = last_stdout_line(&full, out)?;
    let invite = cove_crypto::AnyInvite::decode_ignoring_expiry(&invite)?;
    Ok((invite.addrs().to_vec(), stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invite_lists_only_addresses_bound_explicitly_or_given() -> Result<()> {
    // Scenario: ant runs `cove up --listen /ip4/0.0.0.0/tcp/0`, bound to every interface (the
    // swarm reports loopback, LAN, docker, VPN addresses), and mints invites without and with
    // `--addr`; then ant restarts with `--advertise` and mints another.
    // Assert: without either the invite lists no address (no interface address leaks) and
    // stderr says to use --addr or `cove up --advertise`, while the invite is still printed;
    // --addr lists exactly the given addresses (with ant's peer id) and overrides
    // --advertise; --advertise alone lists exactly its hosts, on the port of ant's door for
    // the group (PROTOCOL.md §10.3), which is where a newcomer asks; a bad --addr is a usage
    // error.
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("ant");
        cove_ok(&dir, &["init"])?;
        let mut ant = CoveProcess::up_on(&dir, "/ip4/0.0.0.0/tcp/0").await?;
        cove_ok(&dir, &["group", "create", "club"])?;
        // The peer id of ant in the club's network (one per group, PROTOCOL.md §10).
        let peer = json(&dir, &["status"])?["networks"][0]["peer_id"]
            .as_str()
            .context("peer id")?
            .to_string();

        let (addrs, stderr) = invite_addrs(&dir, &["club"])?;
        assert_eq!(addrs, Vec::<String>::new(), "wildcard interfaces leaked");
        assert!(
            stderr.contains("lists no address")
                && stderr.contains("--addr MULTIADDR")
                && stderr.contains("cove up --advertise MULTIADDR"),
            "{stderr}"
        );

        let given = [
            "/ip4/203.0.113.7/tcp/4001",
            "/dns4/cove.example.org/tcp/4001",
        ];
        let (addrs, stderr) =
            invite_addrs(&dir, &["club", "--addr", given[0], "--addr", given[1]])?;
        let with_peer = |a: &str| format!("{a}/p2p/{peer}");
        assert_eq!(addrs, given.map(with_peer));
        assert!(!stderr.contains("warning"), "{stderr}");

        let out = cove(
            &dir,
            &["group", "invite", "club", "--addr", "not-an-address"],
        )?;
        assert_eq!(out.status.code(), Some(2));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not a multiaddr"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );

        ant.kill()?;
        let advertised = "/ip4/198.51.100.1/tcp/4001";
        let _ant = CoveProcess::up_with(
            &dir,
            &["--listen", "/ip4/0.0.0.0/tcp/0", "--advertise", advertised],
        )
        .await?;
        let door = json(&dir, &["status"])?["networks"][0]["door_addrs"][0]
            .as_str()
            .context("ant's door")?
            .to_string();
        let door_port = door
            .split("/tcp/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .context("a TCP door")?;
        let on_door = format!("/ip4/198.51.100.1/tcp/{door_port}");
        assert_eq!(invite_addrs(&dir, &["club"])?.0, [with_peer(&on_door)]);
        assert_eq!(
            invite_addrs(&dir, &["club", "--addr", given[0]])?.0,
            [with_peer(given[0])]
        );
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_survives_kill_9_and_still_reaches_the_group() -> Result<()> {
    // Scenario: real processes. bat is a member whose node is down. ant posts and is killed
    // with SIGKILL right after `cove post` returns; ant restarts on the same address, then
    // bat starts.
    // Assert: the post is in ant's store after the restart, and it reaches bat (by sync:
    // nobody posts again).
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let (ant_dir, bat_dir) = (root.path().join("ant"), root.path().join("bat"));
        cove_ok(&ant_dir, &["init"])?;
        cove_ok(&bat_dir, &["init"])?;
        let mut ant = CoveProcess::up(&ant_dir).await?;
        cove_ok(&ant_dir, &["group", "create", "club"])?;
        // The club's network address (a node listens per group, PROTOCOL.md §10).
        let listen = json(&ant_dir, &["status"])?["listen_addrs"][0]
            .as_str()
            .context("ant has no listen address")?
            .split("/p2p/")
            .next()
            .unwrap_or_default()
            .to_string();
        let invite = cove_ok(&ant_dir, &["group", "invite", "club"])?;
        cove_ok(&bat_dir, &["join", &invite])?;

        let id = cove_ok(
            &ant_dir,
            &["post", "--group", "club", "written just before the crash"],
        )?;
        ant.kill()?;

        let _ant = CoveProcess::up_on(&ant_dir, &listen).await?;
        let feed = json(&ant_dir, &["feed", "--group", "club"])?;
        assert_eq!(
            feed[0]["id"],
            id.as_str(),
            "the acknowledged post survived kill -9"
        );

        let _bat = CoveProcess::up(&bat_dir).await?;
        eventually("the post to reach bat", || async {
            let feed = json(&bat_dir, &["feed", "--group", "club"])?;
            Ok(
                (feed.as_array().is_some_and(|f| !f.is_empty()) && feed[0]["id"] == id.as_str())
                    .then_some(()),
            )
        })
        .await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_chat_shows_a_line_from_another_node() -> Result<()> {
    // Scenario: real processes. ant creates room "general"; bat runs `cove chat general` with
    // its stdin and stdout piped, like a script would; ant sends a line with `cove say`.
    // Assert: bat's chat session prints ant's line; "/quit" ends the session with exit 0.
    use std::io::{BufRead, Write};
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let (ant_dir, bat_dir) = (root.path().join("ant"), root.path().join("bat"));
        cove_ok(&ant_dir, &["init"])?;
        cove_ok(&bat_dir, &["init"])?;
        let _ant = CoveProcess::up(&ant_dir).await?;
        cove_ok(&ant_dir, &["group", "create", "club"])?;
        let invite = cove_ok(&ant_dir, &["group", "invite", "club"])?;
        cove_ok(&bat_dir, &["join", &invite])?;
        let _bat = CoveProcess::up(&bat_dir).await?;
        cove_ok(&ant_dir, &["room", "create", "general"])?;
        eventually("bat to know the room", || async {
            let rooms = json(&bat_dir, &["room", "list"])?;
            Ok(rooms
                .as_array()
                .is_some_and(|r| !r.is_empty())
                .then_some(()))
        })
        .await?;

        let mut chat = std::process::Command::new(cove_tests::cove_bin()?)
            .arg("--data-dir")
            .arg(&bat_dir)
            .args(["chat", "general"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let stdout = chat.stdout.take().context("chat stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // The watch starts right after history; keep saying until a line shows up.
        let seen = eventually("ant's line in bat's chat", || async {
            cove_ok(&ant_dir, &["say", "general", "hi from ant"])?;
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            let mut found = None;
            while let Ok(line) = rx.try_recv() {
                if line.contains("hi from ant") {
                    found = Some(line);
                }
            }
            Ok(found)
        })
        .await?;
        assert!(seen.starts_with('<'), "{seen}");
        chat.stdin
            .as_mut()
            .context("chat stdin")?
            .write_all(b"/quit\n")?;
        let status = chat.wait()?;
        assert!(status.success(), "{status}");
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_refuses_another_local_user() -> Result<()> {
    // Scenario: a node runs as this user; its data dir and socket are opened up to everyone
    // (0755/0666), so only the node's own uid check stands between another user and it.
    // `cove status` runs as uid 65534 (nobody) through setpriv.
    // Assert: nobody gets no answer and a failing exit code; the node logs the refusal and
    // still answers its owner.
    if !std::path::Path::new("/usr/bin/setpriv").exists() {
        eprintln!("skipped: /usr/bin/setpriv (util-linux) is not installed");
        return Ok(());
    }
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("ant");
        cove_ok(&dir, &["init"])?;
        let _node = CoveProcess::up(&dir).await?;
        open_to_everyone(root.path(), &dir)?;
        nobody_is_refused(&dir).await?;
        cove_ok(&dir, &["status"])?;
        Ok(())
    })
    .await
}

/// Opens `root/dir` (0755) and its control socket (0666) to every local user, so that only
/// the node's own uid check stands between them and the node.
fn open_to_everyone(root: &std::path::Path, dir: &std::path::Path) -> std::io::Result<()> {
    use std::fs::{set_permissions, Permissions};
    use std::os::unix::fs::PermissionsExt;
    set_permissions(root, Permissions::from_mode(0o755))?;
    set_permissions(dir, Permissions::from_mode(0o755))?;
    set_permissions(dir.join("control.sock"), Permissions::from_mode(0o666))
}

/// Runs `cove --data-dir DIR status` as uid and gid 65534 (nobody) through setpriv; fails
/// unless nobody gets no answer and the node at `dir` logs the refusal.
async fn nobody_is_refused(dir: &std::path::Path) -> Result<()> {
    let out = std::process::Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(cove_tests::cove_bin()?)
        .arg("--data-dir")
        .arg(dir)
        .arg("status")
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(
        !out.status.success(),
        "another user got an answer: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    eventually("the node to log the refusal", || async {
        let log = std::fs::read_to_string(dir.join("up.log"))?;
        Ok(log
            .contains("refused control connection from another user")
            .then_some(()))
    })
    .await
    .with_context(|| format!("nobody's cove said: {stderr}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_socket_admits_the_effective_uid_not_the_data_dir_owner() -> Result<()> {
    // Scenario: run as root. A node runs as root on a data dir that belongs to nobody (65534),
    // with the dir and socket opened up to everyone, so only the uid check decides.
    // Assert: root (the node's effective uid) is answered; nobody, the data dir's owner, is
    // refused and the node logs it.
    use std::os::unix::fs::{chown, MetadataExt};
    let root = tempfile::tempdir()?;
    if std::fs::metadata(root.path())?.uid() != 0
        || !std::path::Path::new("/usr/bin/setpriv").exists()
    {
        eprintln!("skipped: needs root (to give the data dir away) and /usr/bin/setpriv");
        return Ok(());
    }
    within(TEST_TIMEOUT, async {
        let dir = root.path().join("ant");
        cove_ok(&dir, &["init"])?;
        chown(&dir, Some(65534), Some(65534))?;
        let _node = CoveProcess::up(&dir).await?;
        open_to_everyone(root.path(), &dir)?;
        cove_ok(&dir, &["status"]).context("root, the node's effective uid, is answered")?;
        nobody_is_refused(&dir)
            .await
            .context("nobody owns the data dir")?;
        Ok(())
    })
    .await
}
