//! The test helpers themselves: a [`Club`] stops its members whatever its test does.

use std::sync::Mutex;

use anyhow::{bail, ensure, Result};
use cove_node::{Node, NodeError};
use cove_tests::{Club, Ready};

/// Whether `node` has stopped: it refuses a request as stopped.
async fn is_stopped(node: &Node) -> bool {
    matches!(node.status().await, Err(NodeError::Stopped))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_club_stops_its_members_after_a_failed_test_and_reports_its_error() -> Result<()> {
    // Scenario: a club of ant and bat whose test keeps their handles and fails.
    // Assert: the test's own error comes back, and both members have stopped.
    let kept = Mutex::new(Vec::new());
    let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
    let outcome: Result<()> = club
        .run(async |club| {
            kept.lock()
                .unwrap()
                .extend(club.members().iter().map(|m| m.node.clone()));
            bail!("the test failed")
        })
        .await;
    let err = outcome.expect_err("the test's error");
    ensure!(err.to_string() == "the test failed", "{err:#}");
    for node in kept.into_inner().unwrap() {
        ensure!(is_stopped(&node).await, "a member still runs");
    }
    Ok(())
}

#[test]
fn a_club_stops_its_members_after_a_panicking_test_and_panics_on() -> Result<()> {
    // Scenario: a club of ant and bat whose test keeps their handles and panics (a failed
    // assert!), run on a thread of its own so that the panic can be watched from outside; the
    // runtime outlives that thread, so only a shutdown stops the nodes.
    // Assert: the panic goes on, with its message, and both members have stopped.
    let kept = Mutex::new(Vec::new());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let panicked = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                runtime.block_on(async {
                    let club = Club::of(["ant", "bat"]).ready(Ready::Joined);
                    club.run(async |club| -> Result<()> {
                        kept.lock()
                            .unwrap()
                            .extend(club.members().iter().map(|m| m.node.clone()));
                        panic!("an assertion failed");
                    })
                    .await
                })
            })
            .join()
    })
    .expect_err("the panic goes on");
    let message = panicked.downcast_ref::<&str>().copied().unwrap_or_default();
    ensure!(message == "an assertion failed", "{message:?}");
    let nodes = kept.into_inner().unwrap_or_else(|e| e.into_inner());
    ensure!(nodes.len() == 2, "both handles were kept");
    for node in nodes {
        ensure!(runtime.block_on(is_stopped(&node)), "a member still runs");
    }
    Ok(())
}
