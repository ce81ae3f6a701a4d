//! The scenario tool of issue 6, small enough for the normal suite so that the instrument
//! cannot rot, in both placements (in this process, and one process per node). No assertion
//! about timing: this machine is shared and noisy.

use cove_tests::scenario::{Mode, Programs, Report, Scenario};
use cove_tests::{within, TEST_TIMEOUT};

/// Runs `scenario` within the test timeout and checks what every instance must show: each
/// expected delivery happened (100%), and latencies were recorded.
async fn delivers_everything(scenario: &Scenario) -> Report {
    let report = within(TEST_TIMEOUT, scenario.run())
        .await
        .expect("scenario runs within the test timeout");
    assert_eq!(report.delivered, report.expected, "{report:?}");
    assert!(report.latency_ms.p50 > 0.0 && report.latency_ms.p99 >= report.latency_ms.p50);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cove_scenario_delivers_everything() {
    // Scenario: 5 Cove nodes over the memory transport join one group through an invite;
    // 2 authors post 10 posts/s for 2 s.
    // Assert: every post reaches every other member (100%), and a latency was recorded for
    // each delivery.
    let scenario = Scenario::small(Mode::Cove);
    let report = delivers_everything(&scenario).await;
    assert_eq!(report.sent, scenario.messages());
    assert_eq!(report.expected, report.sent * (scenario.nodes - 1));
    assert!(report.cpu_us_per_delivery > 0.0 || report.cpu_s == 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_scenario_delivers_everything() {
    // Scenario: the same topology and workload on bare gossipsub (auto-accept), with 100 µs
    // of stand-in work per delivery (`--baseline-work-us`; zero takes the same path).
    // Assert: 100% delivery, latencies recorded.
    let scenario = Scenario {
        baseline_work: std::time::Duration::from_micros(100),
        ..Scenario::small(Mode::Baseline)
    };
    delivers_everything(&scenario).await;
}

#[tokio::test]
async fn work_per_delivery_is_the_baseline_s_only() {
    // Scenario: a Cove scenario asks for the baseline's stand-in work per delivery.
    // Assert: refused before any node starts, with the reason.
    let scenario = Scenario {
        baseline_work: std::time::Duration::from_micros(100),
        ..Scenario::small(Mode::Cove)
    };
    let error = scenario.run().await.expect_err("refused");
    assert!(
        error.to_string().contains("in-process baseline only"),
        "{error}"
    );
}

/// `cove` (as `processes.rs` finds it) and the `scenario` binary of this package.
pub(crate) fn programs() -> Programs {
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
    let report = delivers_everything(&scenario).await;
    assert_eq!(report.sent, scenario.messages());
    assert!(report.propagation_ms.p50 > 0.0, "{report:?}");
    assert!(report.peak_rss_mib_max_process.is_some_and(|m| m > 0.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baseline_processes_scenario_delivers_everything() {
    // Scenario: the same on 5 `scenario baseline-node` processes (bare gossipsub, driven over
    // stdin/stdout).
    // Assert: 100% delivery, latencies recorded.
    let scenario = Scenario::small_processes(Mode::Baseline, programs());
    delivers_everything(&scenario).await;
}
