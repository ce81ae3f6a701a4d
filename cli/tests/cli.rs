//! The `cove` binary on bad input: a precise error, the right exit code, nothing written.

use std::path::Path;
use std::process::Output;

use cove_crypto::{GroupSecret, Invite, MasterSeed};
use cove_node::message::{sign, Charter, Content, Policy};
use cove_tests::{cove, cove_ok, cove_with_stdin, CoveProcess, TEST_TIMEOUT};

const USAGE: i32 = 2;
const NOT_RUNNING: i32 = 3;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn group_count(dir: &Path) -> usize {
    let out = cove(dir, &["--json", "groups"]).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len()
}

/// A correctly signed invite whose expiry lies in the past.
fn expired_invite() -> String {
    invite_expiring_at(1)
}

/// A correctly signed invite to a new group "old club", listing no address, valid for an hour.
fn valid_invite() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    invite_expiring_at(now + 3600)
}

/// A correctly signed invite to a new group "old club", listing no address.
fn invite_expiring_at(expires_at: u64) -> String {
    let secret = GroupSecret::generate();
    let founder = MasterSeed::generate().pseudonym(&secret.id());
    let charter = Content::Charter(Charter {
        name: "old club".into(),
        founder: founder.public(),
        admins: vec![founder.public()],
        policy: Policy::default(),
    });
    let charter = sign(&founder, &secret.id(), 1, charter).unwrap();
    Invite {
        group_secret: secret,
        charter: charter.bytes,
        addrs: vec![],
        expires_at,
        epochs: vec![],
    }
    .encode()
}

#[test]
fn bad_invites_are_refused_and_nothing_is_stored() {
    // Scenario: an initialised data dir, no node running; `join` with a malformed, a
    // corrupted and an expired invite.
    // Assert: each exits with the usage code and a precise message; no group is stored.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let expired = expired_invite();
    let mut corrupted = expired.clone().into_bytes();
    let i = corrupted.len() / 2;
    corrupted[i] = if corrupted[i] == b'A' { b'B' } else { b'A' };
    let corrupted = String::from_utf8(corrupted).unwrap();
    for (invite, expect) in [
        ("hello", "invalid invite"),
        (corrupted.as_str(), "invalid invite"),
        (expired.as_str(), "expired"),
    ] {
        let out = cove(dir.path(), &["join", invite]).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{invite}: {}", stderr(&out));
        assert!(
            stderr(&out).to_lowercase().contains(expect),
            "{invite}: {}",
            stderr(&out)
        );
    }
    assert_eq!(group_count(dir.path()), 0);
}

#[test]
fn an_invalid_invite_names_its_cause_once() {
    // Scenario: `join` with a malformed and a corrupted invite (the error has a cause).
    // Assert: the one error line says "invalid invite" and then the cause, each exactly once
    // (it used to print "invalid invite: X: X").
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let mut corrupted = valid_invite().into_bytes();
    let i = corrupted.len() / 2;
    corrupted[i] = if corrupted[i] == b'A' { b'B' } else { b'A' };
    let corrupted = String::from_utf8(corrupted).unwrap();
    for invite in ["hello", corrupted.as_str()] {
        let cause = Invite::decode(invite, 0).unwrap_err().to_string();
        let out = cove_with_stdin(dir.path(), &["join"], invite.as_bytes()).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
        assert_eq!(
            stderr(&out).trim_end(),
            format!("error: invalid invite: {cause}"),
        );
    }
}

#[test]
fn an_invite_on_stdin_or_in_a_file_joins_without_a_warning() {
    // Scenario: no node runs; ant joins one group with the invite piped to `cove join`, one
    // with `cove join -`, and one with `cove join --file PATH`.
    // Assert: each joins (exit 0, the group is stored) and nothing is said about the invite
    // being exposed.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let file = dir.path().join("invite.txt");
    std::fs::write(&file, format!("{}\n", valid_invite())).unwrap();
    let outs = [
        cove_with_stdin(dir.path(), &["join"], valid_invite().as_bytes()).unwrap(),
        cove_with_stdin(dir.path(), &["join", "-"], valid_invite().as_bytes()).unwrap(),
        cove(dir.path(), &["join", "--file", file.to_str().unwrap()]).unwrap(),
    ];
    for out in &outs {
        assert!(out.status.success(), "{}", stderr(out));
        assert!(!stderr(out).contains("warning"), "{}", stderr(out));
    }
    assert_eq!(group_count(dir.path()), 3);
}

#[test]
fn an_invite_as_an_argument_joins_with_a_warning() {
    // Scenario: no node runs; `cove join INVITE`, the form that puts the invite in
    // /proc/PID/cmdline and shell history.
    // Assert: it still joins, and stderr warns that the argument exposes it and names stdin.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let out = cove(dir.path(), &["join", &valid_invite()]).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("warning: the invite given as an argument is visible to other local users"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("stdin"), "{}", stderr(&out));
    assert_eq!(group_count(dir.path()), 1);
}

#[test]
fn an_empty_stdin_is_a_usage_error() {
    // Scenario: `cove join` and `cove import-seed` with nothing (or only blanks) on stdin, and
    // `cove join --file` naming a missing file.
    // Assert: exit code 2 and an error that says what was empty and how to pass the secret;
    // nothing is written.
    let root = tempfile::tempdir().unwrap();
    let (member, fresh) = (root.path().join("member"), root.path().join("fresh"));
    cove_ok(&member, &["init"]).unwrap();
    for (dir, args, input, expect) in [
        (
            &member,
            "join",
            &b""[..],
            "no invite given: stdin was empty",
        ),
        (
            &member,
            "join",
            b" \n\n",
            "no invite given: stdin was empty",
        ),
        (&fresh, "import-seed", b"", "no seed given: stdin was empty"),
    ] {
        let out = cove_with_stdin(dir, &[args], input).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
        assert!(stderr(&out).contains(expect), "{}", stderr(&out));
        assert!(stderr(&out).contains("--file"), "{}", stderr(&out));
    }
    let missing = root.path().join("nope.txt");
    let out = cove(&member, &["join", "--file", missing.to_str().unwrap()]).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(stderr(&out).contains("nope.txt"), "{}", stderr(&out));
    assert_eq!(group_count(&member), 0);
    assert!(!fresh.join("seed").exists());
}

#[test]
fn an_advertiser_key_is_shown_again_and_never_overwritten() {
    // Scenario: `advertiser show` before `advertiser init`; init; init again; show; show --json.
    // Assert: show before init says to run init (exit 2); the second init is refused with a
    // message about the advertiser key (not the member seed) and keeps the key; show prints
    // the key init printed, in text and JSON.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let out = cove(dir.path(), &["advertiser", "show"]).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run `cove advertiser init` first"),
        "{}",
        stderr(&out)
    );
    let key = cove_ok(dir.path(), &["advertiser", "init"]).unwrap();
    assert_eq!(key.len(), 64, "{key}");
    let out = cove(dir.path(), &["advertiser", "init"]).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already holds an advertiser key")
            && !stderr(&out).contains("member seed"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("cove advertiser show"),
        "{}",
        stderr(&out)
    );
    assert_eq!(cove_ok(dir.path(), &["advertiser", "show"]).unwrap(), key);
    let out = cove(dir.path(), &["--json", "advertiser", "show"]).unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown, serde_json::json!({ "advertiser_key": key }));
}

#[test]
fn commands_needing_the_node_say_it_is_not_running() {
    // Scenario: an initialised data dir with no node running.
    // Assert: `post` and `feed` exit with the not-running code and say how to start it.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    for args in [
        &["post", "--group", "x", "hi"][..],
        &["feed", "--group", "x"],
    ] {
        let out = cove(dir.path(), args).unwrap();
        assert_eq!(out.status.code(), Some(NOT_RUNNING), "{}", stderr(&out));
        assert!(stderr(&out).contains("cove up"), "{}", stderr(&out));
    }
    let out = cove(dir.path(), &["init"]).unwrap();
    assert_eq!(
        out.status.code(),
        Some(USAGE),
        "second init refused: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_posts_and_unknown_groups_are_refused() {
    // Scenario: a running node with one group; a post of 17 KiB, a post to an unknown group.
    // Assert: both exit with the usage code and say why; the feed stays empty.
    tokio::time::timeout(TEST_TIMEOUT, async {
        let dir = tempfile::tempdir().unwrap();
        cove_ok(dir.path(), &["init"]).unwrap();
        let _node = CoveProcess::up(dir.path()).await.unwrap();
        cove_ok(dir.path(), &["group", "create", "club"]).unwrap();
        let big = "x".repeat(17 * 1024);
        let out = cove(dir.path(), &["post", "--group", "club", &big]).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("longer than the limit"),
            "{}",
            stderr(&out)
        );
        let out = cove(dir.path(), &["post", "--group", "nope", "hi"]).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
        assert!(stderr(&out).contains("unknown group"), "{}", stderr(&out));
        let feed = cove_ok(dir.path(), &["--json", "feed", "--group", "club"]).unwrap();
        assert_eq!(feed, "[]");
    })
    .await
    .expect("test timed out");
}

#[test]
fn usage_errors_exit_with_the_usage_code() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cove"))
        .arg("frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(USAGE));
}

#[test]
fn malformed_grants_and_ad_targeting_are_refused_before_reaching_the_node() {
    // Scenario: no node runs; a grant with an unreadable --until, an ad with a broken --target.
    // Assert: the usage exit code and a message that says what was expected.
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    let grant = [
        "admin",
        "grant-advertiser",
        "--key",
        "k",
        "--name",
        "Shop",
        "--until",
        "someday",
        "--daily-quota",
        "1",
    ];
    let out = cove(dir.path(), &grant).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
    let ad = [
        "ad",
        "publish",
        "--title",
        "t",
        "--body",
        "b",
        "--target",
        "any(interest:coffee,",
    ];
    let out = cove(dir.path(), &ad).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(stderr(&out).contains("--target"), "{}", stderr(&out));
}

#[test]
fn a_seed_backup_restores_the_same_member() {
    // Scenario: export the seed of one data dir, import it into a fresh one through stdin;
    // import garbage given as an argument.
    // Assert: the restored dir exports the same seed; garbage is a usage error that warns
    // about the argument and creates no seed.
    let root = tempfile::tempdir().unwrap();
    let (original, restored, broken) = (
        root.path().join("a"),
        root.path().join("b"),
        root.path().join("c"),
    );
    cove_ok(&original, &["init"]).unwrap();
    let seed = cove_ok(&original, &["export-seed"]).unwrap();
    assert_eq!(seed.len(), 64);
    let out = cove_with_stdin(&restored, &["import-seed"], format!("{seed}\n").as_bytes()).unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(cove_ok(&restored, &["export-seed"]).unwrap(), seed);
    let out = cove(&broken, &["import-seed", "not hex"]).unwrap();
    assert!(
        stderr(&out).contains("seed given as an argument is visible to other local users"),
        "{}",
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("64 hex characters"),
        "{}",
        stderr(&out)
    );
    assert!(!broken.join("seed").exists());
}
