//! The scenario tool of issue 6, small enough for the normal suite so that the instrument
//! cannot rot, in both placements (in this process, and one process per node). No assertion
//! about timing: this machine is shared and noisy.

use cove_tests::scenario::{Mode, Programs, Scenario};
use cove_tests::TEST_TIMEOUT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_scenario_delivers_everything() {
    // Scenario: 5 Cove nodes over the memory transport join one group through an invite;
    // 2 authors post 10 posts/s for 2 s.
    // Assert: every post reaches every other member (100%), and a latency was recorded for
    // each delivery.
    let scenario = Scenario::small(Mode::Cove);
    let report = tokio::time::timeout(TEST_TIMEOUT, scenario.run())
        .await
        .expect("scenario within the test timeout")
        .expect("scenario runs");
    assert_eq!(report.sent, scenario.messages());
    assert_eq!(report.expected, report.sent * (scenario.nodes - 1));
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
    assert!(report.cpu_us_per_delivery > 0.0 || report.cpu_s == 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_scenario_delivers_everything() {
    // Scenario: the same topology and workload on bare gossipsub (auto-accept).
    // Assert: 100% delivery, latencies recorded.
    let scenario = Scenario::small(Mode::Baseline);
    let report = tokio::time::timeout(TEST_TIMEOUT, scenario.run())
        .await
        .expect("scenario within the test timeout")
        .expect("scenario runs");
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
}

/// `cove` (as `processes.rs` finds it) and the `scenario` binary of this package.
fn programs() -> Programs {
    Programs {
        cove: cove_tests::cove_bin().expect("the cove binary"),
        baseline: env!("CARGO_BIN_EXE_scenario").into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_processes_scenario_delivers_everything() {
    // Scenario: 5 real `cove up` processes over loopback TCP; the first creates the group, a
    // chat room and an invite, the others `cove join`; 2 authors say 10 lines/s for 2 s
    // through their control sockets; every node's deliveries come from its `watch` stream.
    // Assert: every line reaches every other member (100%), latencies were recorded, and CPU
    // and peak memory were read from each process.
    let scenario = Scenario::small_processes(Mode::Cove, programs());
    let report = tokio::time::timeout(TEST_TIMEOUT, scenario.run())
        .await
        .expect("scenario within the test timeout")
        .expect("scenario runs");
    assert_eq!(report.sent, scenario.messages());
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
    assert!(report.propagation_ms.p50 > 0.0, "{report:?}");
    assert!(report.peak_rss_mib_max_process.is_some_and(|m| m > 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_processes_scenario_delivers_everything() {
    // Scenario: the same on 5 `scenario baseline-node` processes (bare gossipsub, driven over
    // stdin/stdout).
    // Assert: 100% delivery, latencies recorded.
    let scenario = Scenario::small_processes(Mode::Baseline, programs());
    let report = tokio::time::timeout(TEST_TIMEOUT, scenario.run())
        .await
        .expect("scenario within the test timeout")
        .expect("scenario runs");
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
}
