//! The seeded simulator (`cove_tests::sim`): many members over the pure core, a modelled
//! network, no sockets.

use cove_tests::sim::{self, Config};

/// How to run a failing seed again.
const RERUN: &str = "cargo test -p cove-tests --test it sim::";

#[test]
fn two_hundred_members_converge_after_loss_and_a_healed_partition() {
    // Scenario: 200 members on a random graph with 20-200 ms links and 5 % loss post, reply
    // and recommend for a minute; from 15 s to 40 s the two halves cannot reach each other;
    // anti-entropy runs every 10 s. Assert: every member ends with the same set of message
    // ids and the same new, hot and top rankings and feeds.
    let config = Config::new(sim::seed_or(1), 200, 100);
    let outcome = sim::run(&config).unwrap();
    eprintln!("{}", serde_json::to_string(&outcome).unwrap());
    outcome.assert_converged(RERUN);
    let run = &outcome.run;
    assert!(run.cut > 0, "the partition cut deliveries");
    assert!(run.lost > 0, "deliveries were lost");
    assert!(run.synced > 0, "anti-entropy repaired something");
    assert!(run.posts > 0 && run.replies > 0 && run.recommendations > 0);
    assert_eq!(
        run.stored as u64,
        1 + run.posts + run.replies + run.recommendations,
        "every composed message, and the charter, is stored everywhere"
    );
}

#[test]
fn the_same_seed_gives_the_same_run() {
    // Scenario: one small simulation run twice with the same seed, once with another.
    // Assert: the same trace of events and the same feeds; another seed, another trace.
    let seed = sim::seed_or(7);
    let config = Config::new(seed, 30, 60);
    let first = sim::run(&config).unwrap();
    let again = sim::run(&config).unwrap();
    first.assert_converged(RERUN);
    assert_eq!(first.run, again.run, "seed {seed} gave two different runs");
    let other = sim::run(&Config::new(seed + 1, 30, 60)).unwrap();
    assert_ne!(first.run.trace, other.run.trace);
}
