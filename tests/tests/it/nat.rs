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
    cove_json, cove_ok, cove_with_stdin, eventually, last_stdout_line, within, CoveProcess,
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
    _relay: CoveProcess,
    _ant: CoveProcess,
    bat: CoveProcess,
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

/// Starts the club in `net`: the relay founds it and invites ant and bat, who join and come
/// up behind their NATs.
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
    let invite = cove_ok(&relay_dir, &["group", "invite", "club", "--expires", "1h"])?;
    let mut members = Vec::new();
    for name in ["ant", "bat"] {
        let dir = root.path().join(name);
        last_stdout_line(
            &["join"],
            cove_with_stdin(&dir, &["join"], invite.as_bytes())?,
        )?;
        members.push(CoveProcess::up_in(&net.ns(name), &dir, &["--listen", LISTEN]).await?);
    }
    let bat = members.pop().context("bat")?;
    let ant = members.pop().context("ant")?;
    Ok(Club {
        root,
        _relay: relay,
        _ant: ant,
        bat,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_behind_nats_meet_through_a_relay_then_punch_a_hole() -> Result<()> {
    // Scenario: a relay member (`cove up --relay-service`) on the public segment founds the
    // club and invites ant and bat, each behind its own NAT with endpoint-independent
    // mapping. They exchange posts; then a non-member tries to reach ant through the relay;
    // then bat goes offline, ant posts, and bat comes back from another (public) address.
    // Assert: ant and bat each say they are reachable through the relay; posts go both ways;
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
