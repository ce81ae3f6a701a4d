//! The Prometheus endpoint (`cove up --metrics`), in process and through the binary.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cove_node::metrics::{MetricsServer, HEAD_TIMEOUT, MAX_CONCURRENT_SCRAPES};
use cove_node::outsider::Outsider;
use cove_tests::TEST_TIMEOUT;
use cove_tests::{cove_bin, cove_ok, eventually, wait_for_feed, within, Club, CoveProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 request with a plain socket: the status code and the body.
async fn get(addr: SocketAddr, request_line: &str) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("{request_line}\r\nHost: localhost\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .context("no answer from the metrics endpoint")??;
    let (head, body) = answer.split_once("\r\n\r\n").context("no blank line")?;
    let code = head.split(' ').nth(1).context("no status code")?.parse()?;
    Ok((code, body.to_string()))
}

/// The value of the sample line that starts with `series ` (e.g. `cove_peers`).
fn sample(body: &str, series: &str) -> Option<u64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_the_node_accepted_and_rejected() -> Result<()> {
    // Scenario: ant serves metrics on 127.0.0.1:0. bat joins ant's group and posts; an
    // outsider on the topic injects garbage at ant. Then a scrape, a wrong path, and
    // MAX_CONCURRENT_SCRAPES silent clients holding every slot.
    // Assert: the scrape shows the accepted post, the rejection by reason, one group, the
    // peers and the store size, as node.status() does; other paths get 404; silent clients
    // are cut off after HEAD_TIMEOUT, so a scrape still gets through.
    let club = Club::of(["ant", "bat"]);
    club.run(async |club| {
        let [ant, bat] = club.members();
        let (group, topic) = (&club.group, &club.topic);
        let server = MetricsServer::bind("127.0.0.1:0".parse()?).await?;
        let addr = server.local_addr();
        assert_ne!(addr.port(), 0, "the bound port is exposed");
        tokio::spawn(server.serve(ant.node.clone()));

        bat.post(group, None, "counted").await?;
        wait_for_feed(ant, group, 1).await?;

        let key = cove_tests::network_key(ant, topic).await?;
        let ant_addr = ant.status().await?.listen_addrs[0].parse()?;
        let outsider = Outsider::inside(key, topic, ant_addr).await?;
        eventually("the outsider to connect to ant", || async {
            Ok((!outsider.peers().await?.is_empty()).then_some(()))
        })
        .await?;
        let attempt = std::sync::atomic::AtomicU32::new(0);
        eventually("the outsider's garbage to be rejected", || async {
            // Distinct payloads: gossipsub drops a payload it has already published.
            let n = attempt.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let garbage = format!("no envelope {n}").into_bytes();
            outsider.publish(topic, garbage).await.ok();
            let rejected = ant.status().await?.rejected;
            Ok(rejected.contains_key("undecryptable").then_some(()))
        })
        .await?;

        let (code, body) = get(addr, "GET /metrics HTTP/1.1").await?;
        assert_eq!(code, 200, "{body}");
        let status = ant.status().await?;
        let accepted = sample(&body, "cove_messages_accepted_total").context("accepted")?;
        assert!(accepted >= 1, "{body}");
        assert!(accepted <= status.accepted, "{body}");
        let undecryptable = sample(
            &body,
            "cove_messages_rejected_total{reason=\"undecryptable\"}",
        )
        .context("rejected by reason")?;
        assert!(undecryptable >= 1, "{body}");
        assert_eq!(sample(&body, "cove_groups"), Some(1), "{body}");
        assert!(sample(&body, "cove_peers").context("peers")? >= 1, "{body}");
        assert!(
            sample(&body, "cove_store_bytes").context("store")? > 0,
            "{body}"
        );
        assert!(body.ends_with("# EOF\n"), "{body}");

        for line in [
            "GET / HTTP/1.1",
            "POST /metrics HTTP/1.1",
            "GET /metrics/x HTTP/1.1",
        ] {
            assert_eq!(get(addr, line).await?.0, 404, "{line}");
        }

        // Silent clients take every slot; each is dropped after HEAD_TIMEOUT.
        let mut silent = Vec::new();
        for _ in 0..MAX_CONCURRENT_SCRAPES {
            silent.push(TcpStream::connect(addr).await?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let (code, _) = get(addr, "GET /metrics HTTP/1.1").await?;
        assert_eq!(code, 200);
        assert!(
            started.elapsed() < HEAD_TIMEOUT + Duration::from_secs(3),
            "a scrape waited {:?} behind silent clients",
            started.elapsed()
        );
        for mut stream in silent {
            let mut rest = Vec::new();
            let n = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest))
                .await
                .context("a silent client was not disconnected")??;
            assert_eq!(n, 0, "a silent client gets no answer, only a close");
        }

        outsider.shutdown().await?;
        Ok(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_up_serves_metrics_on_loopback_only() -> Result<()> {
    // Scenario: a real `cove up --metrics 127.0.0.1:0`; then `cove up --metrics 0.0.0.0:9464`.
    // Assert: the first prints the bound address and answers GET /metrics; the second exits
    // with the usage code 2 and says loopback, before starting a node.
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("ant");
        cove_ok(&dir, &["init"])?;

        let refused = std::process::Command::new(cove_bin()?)
            .arg("--data-dir")
            .arg(&dir)
            .args(["up", "--no-mdns", "--metrics", "0.0.0.0:9464"])
            .stdin(std::process::Stdio::null())
            .output()?;
        assert_eq!(refused.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert!(stderr.contains("loopback"), "{stderr}");
        assert!(!dir.join("store").exists(), "no node was started");

        let log_path = dir.join("up.log");
        let child = std::process::Command::new(cove_bin()?)
            .arg("--data-dir")
            .arg(&dir)
            .args(["up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"])
            .args(["--metrics", "127.0.0.1:0"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log_path)?)
            .spawn()?;
        let _up = CoveProcess {
            child,
            data_dir: dir.clone(),
        };
        let addr: SocketAddr = eventually("cove up to print its metrics address", || async {
            let log = std::fs::read_to_string(&log_path)?;
            Ok(log.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("metrics on http://")?
                    .strip_suffix("/metrics")?
                    .parse()
                    .ok()
            }))
        })
        .await?;
        cove_ok(&dir, &["group", "create", "club"])?;
        let (code, body) = get(addr, "GET /metrics HTTP/1.1").await?;
        if code != 200 {
            bail!("GET /metrics answered {code}: {body}");
        }
        assert_eq!(sample(&body, "cove_groups"), Some(1), "{body}");
        assert_eq!(
            sample(&body, "cove_messages_accepted_total"),
            Some(0),
            "{body}"
        );
        Ok(())
    })
    .await
}
