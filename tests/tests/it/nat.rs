//! Members behind real NATs (issue 16): network namespaces, veth pairs and nftables
//! masquerade built by `cove_tests::netns`, real `cove up` processes inside them.
//!
//! These tests need root and `ip`/`nft` (`.ci/run` installs them). They skip, saying why,
//! only where network namespaces cannot be created at all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use cove_tests::netns::{self, Internet, NatKind};
use cove_tests::{
    cove_json, cove_ok, cove_with_stdin_in, eventually, last_stdout_line, within, CoveProcess,
};
use serde_json::Value;

/// A NAT test starts three to four processes in namespaces and waits for reservations and
/// hole punching (with production timers): more than most tests.
const NAT_TEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Where every node listens: one fixed port (each host has its own namespace).
const LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";

/// The topology, or `None` (after saying why) where namespaces cannot be made.
fn internet(bat_nat: NatKind) -> Result<Option<Internet>> {
    if let Some(why) = netns::unavailable() {
        eprintln!("skipped: network namespaces cannot be created here: {why}");
        return Ok(None);
    }
    Internet::build(bat_nat).map(Some)
}

/// A relay member on the public segment and two members behind NATs, joined by invite.
struct Club {
    root: tempfile::TempDir,
    /// The processes run until the club is dropped.
    relay: CoveProcess,
    _ant: CoveProcess,
    bat: CoveProcess,
    /// When ant's and bat's `cove up` were started.
    started: std::time::Instant,
}

impl Club {
    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Runs `test`; when it fails, prints the end of every node's log first.
    async fn explain<T>(&self, result: Result<T>) -> Result<T> {
        if result.is_err() {
            for name in ["relay", "ant", "bat"] {
                let log =
                    std::fs::read_to_string(self.dir(name).join("up.log")).unwrap_or_default();
                let lines: Vec<&str> = log.lines().collect();
                eprintln!("---- {name}'s log (last 60 lines)");
                for line in &lines[lines.len().saturating_sub(60)..] {
                    eprintln!("{line}");
                }
            }
        }
        result
    }
}

fn status(dir: &Path) -> Result<Value> {
    Ok(cove_json(dir, &["status"])?["networks"][0].clone())
}

fn peer_id(dir: &Path) -> Result<String> {
    status(dir)?["peer_id"]
        .as_str()
        .map(str::to_owned)
        .context("no peer id in status")
}

/// How `dir`'s node is connected to `peer` (`direct`, `relayed`...), if it is.
fn connection(dir: &Path, peer: &str) -> Result<Option<String>> {
    let peers = cove_json(dir, &["peers"])?;
    Ok(peers
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["peer"] == peer)
        .and_then(|p| p["connection"].as_str().map(str::to_owned)))
}

/// What the relay serves: `reach.relay_service` of its status.
fn relaying(dir: &Path) -> Result<Value> {
    Ok(status(dir)?["reach"]["relay_service"].clone())
}

async fn feed_has(dir: &Path, text: &str) -> Result<()> {
    eventually(
        &format!("{text:?} in the feed of {}", dir.display()),
        || async {
            let feed = cove_json(dir, &["feed", "--group", "club"])?;
            Ok(feed
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["text"] == text))
                .then_some(()))
        },
    )
    .await
}

async fn reach_says(dir: &Path, words: &str) -> Result<String> {
    eventually(
        &format!("status of {} to say {words:?}", dir.display()),
        || async {
            let summary = status(dir)?["reach"]["summary"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            Ok(summary.contains(words).then_some(summary))
        },
    )
    .await
}

/// Starts the club in `net`: the relay founds it (with a chat room, "lobby") and invites
/// ant and bat, who join and come up behind their NATs.
async fn club(net: &Internet) -> Result<Club> {
    let root = tempfile::tempdir()?;
    for name in ["relay", "ant", "bat"] {
        cove_ok(&root.path().join(name), &["init"])?;
    }
    let relay_dir = root.path().join("relay");
    let relay = CoveProcess::up_in(
        &net.ns("relay"),
        &relay_dir,
        &[
            "--listen",
            &format!("/ip4/{}/tcp/4001", netns::RELAY_IP),
            "--relay-service",
        ],
    )
    .await?;
    cove_ok(&relay_dir, &["group", "create", "club"])?;
    cove_ok(&relay_dir, &["room", "create", "lobby", "--group", "club"])?;
    let invite = cove_ok(
        &relay_dir,
        &["group", "invite", "club", "--expires", "1h", "--uses", "2"],
    )?;
    for name in ["ant", "bat"] {
        let dir = root.path().join(name);
        // Joining asks the inviter to admit the newcomer: from the newcomer's own network.
        last_stdout_line(
            &["join"],
            cove_with_stdin_in(&net.ns(name), &dir, &["join"], invite.as_bytes())?,
        )?;
    }
    let started = std::time::Instant::now();
    let mut members = Vec::new();
    for name in ["ant", "bat"] {
        let dir = root.path().join(name);
        members.push(CoveProcess::up_in(&net.ns(name), &dir, &["--listen", LISTEN]).await?);
    }
    let bat = members.pop().context("bat")?;
    let ant = members.pop().context("ant")?;
    Ok(Club {
        root,
        relay,
        _ant: ant,
        bat,
        started,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_behind_nats_meet_through_a_relay_then_punch_a_hole() -> Result<()> {
    // Scenario: a relay member (`cove up --relay-service`) on the public segment founds the
    // club and invites ant and bat, each behind its own NAT with endpoint-independent
    // mapping. They exchange posts; then a non-member tries to reach ant through the relay;
    // then bat goes offline, ant posts, and bat comes back from another (public) address.
    // Assert: ant and bat each say they are reachable through the relay (`cove status`,
    // `cove status --net`); posts go both ways;
    // ant and bat end up directly connected (`cove peers` says direct) after the relay
    // accepted a circuit between them, and the relay then carries no circuit; the non-member
    // reaches neither the relay nor ant and the relay accepts no circuit for it; bat catches
    // up with the post it missed and ant reaches bat at its new address.
    let Some(net) = internet(NatKind::EndpointIndependent)? else {
        return Ok(());
    };
    let mut club = club(&net).await?;
    let result = within(NAT_TEST_TIMEOUT, async {
        let (relay_dir, ant_dir, bat_dir) = (club.dir("relay"), club.dir("ant"), club.dir("bat"));
        reach_says(&ant_dir, "reachable through relay").await?;
        reach_says(&bat_dir, "reachable through relay").await?;
        let explained = cove_tests::cove(&ant_dir, &["status", "--net"])?;
        let explained = String::from_utf8_lossy(&explained.stdout);
        assert!(
            explained.contains("club (") && explained.contains("reachable through relay"),
            "{explained}"
        );
        let (ant, bat) = (peer_id(&ant_dir)?, peer_id(&bat_dir)?);

        cove_ok(&ant_dir, &["post", "--group", "club", "hello bat"])?;
        feed_has(&bat_dir, "hello bat").await?;
        cove_ok(&bat_dir, &["post", "--group", "club", "hello ant"])?;
        feed_has(&ant_dir, "hello ant").await?;

        eventually("ant and bat to be directly connected", || async {
            Ok((connection(&ant_dir, &bat)?.as_deref() == Some("direct")).then_some(()))
        })
        .await?;
        assert_eq!(connection(&bat_dir, &ant)?.as_deref(), Some("direct"));
        let served = eventually("the relay to carry no circuit", || async {
            let r = relaying(&relay_dir)?;
            Ok((r["circuits"] == 0).then_some(r))
        })
        .await?;
        assert!(
            served["circuits_accepted"].as_u64() >= Some(1),
            "ant and bat never met through the relay: {served}"
        );
        cove_ok(&ant_dir, &["post", "--group", "club", "straight to you"])?;
        feed_has(&bat_dir, "straight to you").await?;

        // A non-member: the key of no group, dialing the relay and ant through the relay.
        let relay_addr = status(&relay_dir)?["listen_addrs"][0]
            .as_str()
            .context("relay address")?
            .to_owned();
        let through = format!("{relay_addr}/p2p-circuit/p2p/{ant}");
        let probe = std::process::Command::new("ip")
            .args(["netns", "exec", &net.ns("eve")])
            .arg(env!("CARGO_BIN_EXE_nat-probe"))
            .args(["--wait", "8", &relay_addr, &through])
            .output()?;
        anyhow::ensure!(
            probe.status.success(),
            "nat-probe: {}",
            String::from_utf8_lossy(&probe.stderr)
        );
        let reached: Value = serde_json::from_slice(&probe.stdout)?;
        assert_eq!(reached["connected"], serde_json::json!([]), "{reached}");
        assert_eq!(
            relaying(&relay_dir)?["circuits_accepted"],
            served["circuits_accepted"]
        );

        // bat goes away; ant posts; bat comes back from a public address of its own.
        club.bat.kill()?;
        cove_ok(
            &ant_dir,
            &["post", "--group", "club", "while you were away"],
        )?;
        club.bat = CoveProcess::up_in(&net.ns("away"), &bat_dir, &["--listen", LISTEN]).await?;
        feed_has(&bat_dir, "while you were away").await?;
        eventually("ant to reach bat at its new address", || async {
            Ok(connection(&ant_dir, &bat)?.map(|_| ()))
        })
        .await?;
        Ok(())
    })
    .await;
    club.explain(result).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_symmetric_nat_members_keep_talking_through_the_relay() -> Result<()> {
    // Scenario: as above, but bat's router gives every connection another outside port (a
    // symmetric NAT), so the address the relay observes is useless for a direct connection.
    // Assert: hole punching is tried and fails, ant and bat stay connected through the relay
    // (`cove peers` says relayed), and posts still go both ways.
    let Some(net) = internet(NatKind::Symmetric)? else {
        return Ok(());
    };
    let club = club(&net).await?;
    let result = within(NAT_TEST_TIMEOUT, async {
        let (relay_dir, ant_dir, bat_dir) = (club.dir("relay"), club.dir("ant"), club.dir("bat"));
        reach_says(&ant_dir, "reachable through relay").await?;
        reach_says(&bat_dir, "reachable through relay").await?;
        let bat = peer_id(&bat_dir)?;
        cove_ok(&ant_dir, &["post", "--group", "club", "hello bat"])?;
        feed_has(&bat_dir, "hello bat").await?;

        eventually("ant to be connected to bat through the relay", || async {
            Ok((connection(&ant_dir, &bat)?.as_deref() == Some("relayed")).then_some(()))
        })
        .await?;
        eventually("hole punching to be tried and fail", || async {
            let logs = ["ant", "bat"]
                .map(|n| std::fs::read_to_string(club.dir(n).join("up.log")).unwrap_or_default());
            Ok(logs
                .iter()
                .any(|l| l.contains("hole punching failed"))
                .then_some(()))
        })
        .await?;
        assert_eq!(connection(&ant_dir, &bat)?.as_deref(), Some("relayed"));
        assert!(relaying(&relay_dir)?["circuits"].as_u64() >= Some(1));
        cove_ok(&bat_dir, &["post", "--group", "club", "still here"])?;
        feed_has(&ant_dir, "still here").await?;
        Ok(())
    })
    .await;
    club.explain(result).await
}

/// What one benchmark run measured (`nat_benchmark`).
struct Figures {
    /// From starting ant's and bat's `cove up` to bat showing ant's first post.
    up_to_first_post: Duration,
    /// From the same start to `cove peers` showing ant and bat directly connected.
    up_to_direct: Option<Duration>,
    /// `cove say` on ant to the line on bat's `cove chat` stream.
    latency: cove_tests::scenario::Percentiles,
    delivered: usize,
    /// The relay's CPU time and the bytes on its interface (both directions) while the lines
    /// were sent, per line.
    relay_cpu_ms_per_line: f64,
    relay_bytes_per_line: f64,
}

/// One run: the club of [`club`] with bat behind `bat_nat`, `lines` chat lines from ant.
async fn measure(bat_nat: NatKind, lines: usize) -> Result<Figures> {
    use std::io::BufRead;
    use std::time::Instant;
    let net = Internet::build(bat_nat)?;
    let club = club(&net).await?;
    let dir = |n: &str| club.dir(n);
    cove_ok(&dir("ant"), &["post", "--group", "club", "first"])?;
    feed_has(&dir("bat"), "first").await?;
    let up_to_first_post = club.started.elapsed();
    let bat = peer_id(&dir("bat"))?;
    let want = match bat_nat {
        NatKind::EndpointIndependent => "direct",
        NatKind::Symmetric => "relayed",
    };
    eventually(&format!("ant and bat to be connected {want}"), || async {
        Ok((connection(&dir("ant"), &bat)?.as_deref() == Some(want)).then_some(()))
    })
    .await?;
    let up_to_direct = (bat_nat == NatKind::EndpointIndependent).then(|| club.started.elapsed());

    // bat's live chat stream, each line stamped when it arrives here.
    let mut chat = cove_tests::cove_command(
        &cove_tests::cove_bin()?,
        &dir("bat"),
        &["chat", "lobby", "--group", "club"],
    )
    .stdin(std::process::Stdio::piped())
    .stdout(std::process::Stdio::piped())
    .spawn()?;
    let stdout = chat.stdout.take().context("chat stdout")?;
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    let say = |text: &str| cove_ok(&dir("ant"), &["say", "lobby", "--group", "club", text]);
    say("warm-up")?;
    loop {
        let (_, line) = rx.recv_timeout(Duration::from_secs(45))?;
        if line.contains("warm-up") {
            break;
        }
    }
    let relay_pid = club.relay.child.id().to_string();
    let (cpu0, bytes0) = (
        cove_tests::scenario::cpu_time_of(&relay_pid)?,
        net.relay_bytes()?,
    );
    let mut sent = Vec::with_capacity(lines);
    for i in 0..lines {
        sent.push(Instant::now());
        say(&format!("bench-{i}-end"))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut latencies = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.len() < lines {
        let Ok((at, line)) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        else {
            break;
        };
        let index = line
            .split("bench-")
            .nth(1)
            .and_then(|rest| rest.split('-').next())
            .and_then(|n| n.parse::<usize>().ok());
        if let Some(i) = index.filter(|i| *i < lines) {
            latencies.push(at.saturating_duration_since(sent[i]));
        }
    }
    let (cpu1, bytes1) = (
        cove_tests::scenario::cpu_time_of(&relay_pid)?,
        net.relay_bytes()?,
    );
    let _ = chat.kill();
    let _ = chat.wait();
    let delivered = latencies.len();
    latencies.sort();
    Ok(Figures {
        up_to_first_post,
        up_to_direct,
        latency: cove_tests::scenario::Percentiles::of(&latencies),
        delivered,
        relay_cpu_ms_per_line: (cpu1 - cpu0).as_secs_f64() * 1e3 / lines as f64,
        relay_bytes_per_line: bytes1.saturating_sub(bytes0) as f64 / lines as f64,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run with --ignored --nocapture (docs/PERFORMANCE.md)"]
async fn nat_benchmark() -> Result<()> {
    // Scenario: the club of the tests above, measured: once with bat behind a symmetric NAT
    // (everything through the relay), once behind an endpoint-independent one (direct after
    // hole punching); 200 chat lines from ant at 10 per second each time.
    // Assert: every line arrives; prints the figures for docs/PERFORMANCE.md.
    if let Some(why) = netns::unavailable() {
        eprintln!("skipped: network namespaces cannot be created here: {why}");
        return Ok(());
    }
    let lines = 200;
    println!(
        "| path | up to first post | up to direct | p50 ms | p95 ms | p99 ms | relay CPU / line | relay bytes / line | delivered |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    within(Duration::from_secs(600), async {
        for (name, kind) in [
            ("relayed", NatKind::Symmetric),
            ("direct", NatKind::EndpointIndependent),
        ] {
            let f = measure(kind, lines).await?;
            println!(
                "| {name} | {:.1} s | {} | {:.1} | {:.1} | {:.1} | {:.2} ms | {:.0} B | {}/{lines} |",
                f.up_to_first_post.as_secs_f64(),
                f.up_to_direct
                    .map_or("-".to_owned(), |d| format!("{:.1} s", d.as_secs_f64())),
                f.latency.p50,
                f.latency.p95,
                f.latency.p99,
                f.relay_cpu_ms_per_line,
                f.relay_bytes_per_line,
                f.delivered,
            );
            assert_eq!(f.delivered, lines, "{name}: lines lost");
        }
        Ok(())
    })
    .await
}
