//! `cove.toml`, `COVE_*` variables and flags, as the `cove` binary layers them.

use std::path::Path;
use std::process::Output;

use cove_tests::{cove, cove_command, cove_ok};

const USAGE: i32 = 2;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// An initialised data dir whose `cove.toml` holds `toml`.
fn initialised_with(toml: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    cove_ok(dir.path(), &["init"]).unwrap();
    std::fs::write(dir.path().join("cove.toml"), toml).unwrap();
    dir
}

/// `cove --json config show ARGS...` with extra environment variables, parsed.
fn config_show(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> serde_json::Value {
    let mut full = vec!["--json", "config", "show"];
    full.extend_from_slice(args);
    let bin = Path::new(env!("CARGO_BIN_EXE_cove"));
    let out = cove_command(bin, dir, &full)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_listen_address_in_cove_toml_is_shown_with_its_source_and_a_flag_overrides_it() {
    // Scenario: an initialised data dir whose cove.toml sets `listen` and `mdns`.
    // Assert: `config show --json` reports both with source "file"; COVE_MDNS overrides the
    // file; `--listen` overrides the file; an unset value is "default".
    let dir = initialised_with("listen = [\"/ip4/127.0.0.1/tcp/4001\"]\nmdns = false\n");

    let shown = config_show(dir.path(), &[], &[]);
    assert_eq!(shown["file"]["found"], true);
    let listen = &shown["settings"]["listen"];
    assert_eq!(
        listen["value"],
        serde_json::json!(["/ip4/127.0.0.1/tcp/4001"])
    );
    assert_eq!(listen["source"], "file");
    assert_eq!(shown["settings"]["mdns"]["source"], "file");
    assert_eq!(shown["settings"]["peer_rate"]["source"], "default");
    assert_eq!(shown["data_dir"]["source"], "flag");

    let shown = config_show(
        dir.path(),
        &[("COVE_MDNS", "true")],
        &["--listen", "/ip4/127.0.0.1/tcp/5001"],
    );
    let listen = &shown["settings"]["listen"];
    assert_eq!(
        listen["value"],
        serde_json::json!(["/ip4/127.0.0.1/tcp/5001"])
    );
    assert_eq!(listen["source"], "flag");
    assert_eq!(shown["settings"]["mdns"]["value"], true);
    assert_eq!(shown["settings"]["mdns"]["source"], "env");
}

#[test]
fn a_bad_cove_toml_stops_up_with_the_file_the_key_and_what_was_expected() {
    // Scenario: cove.toml with a misspelt key, then with a string where a number belongs.
    // Assert: `cove up` and `cove config show` exit with the usage code and name the file,
    // the key and what was expected; no node starts.
    let dir = initialised_with("mdns = false\nlisten_addrs = []\n");
    let file = dir.path().join("cove.toml");
    for args in [&["up"][..], &["config", "show"]] {
        let out = cove(dir.path(), args).unwrap();
        assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
        let text = stderr(&out);
        assert!(text.contains(&file.display().to_string()), "{text}");
        assert!(text.contains("key `listen_addrs`"), "{text}");
        assert!(text.contains("expected one of `listen`"), "{text}");
    }
    std::fs::write(&file, "max_connections = \"many\"\n").unwrap();
    let out = cove(dir.path(), &["up"]).unwrap();
    assert_eq!(out.status.code(), Some(USAGE), "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("key `max_connections`"), "{text}");
    assert!(text.contains("expected u32"), "{text}");
}

#[test]
fn config_show_prints_each_value_and_its_source() {
    // Scenario: no cove.toml; COVE_PEER_RATE set; `--sync-interval` given.
    // Assert: the human form names the file as not found and each source.
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_cove"));
    let out = cove_command(
        bin,
        dir.path(),
        &["config", "show", "--sync-interval", "5s"],
    )
    .env("COVE_PEER_RATE", "9")
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(not found)"), "{text}");
    assert!(
        text.contains("peer_rate                 9  (env COVE_PEER_RATE)"),
        "{text}"
    );
    assert!(
        text.contains("sync_interval             5s  (flag --sync-interval)"),
        "{text}"
    );
    assert!(
        text.contains("max_connections           256  (default)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_listens_where_cove_toml_says_and_exits_on_down() {
    // Scenario: cove.toml sets `listen` to 127.0.0.2 (no --listen flag); `cove up`, a group
    // created (each group's network listens there), then `cove down`.
    // Assert: `status` lists only 127.0.0.2 addresses; the `cove up` process exits by itself
    // after `down` (it waits on `Node::closed`, not on a poll).
    tokio::time::timeout(cove_tests::TEST_TIMEOUT, async {
        let dir = initialised_with("listen = [\"/ip4/127.0.0.2/tcp/0\"]\n");
        let mut node = cove_tests::CoveProcess::up_with(dir.path(), &[])
            .await
            .unwrap();
        // A node listens once per group (PROTOCOL.md §10): give it one.
        cove_ok(dir.path(), &["group", "create", "club"]).unwrap();
        let out = cove(dir.path(), &["--json", "status"]).unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let addrs = status["listen_addrs"].as_array().unwrap();
        assert!(!addrs.is_empty(), "{status}");
        for addr in addrs {
            assert!(
                addr.as_str().unwrap().starts_with("/ip4/127.0.0.2/tcp/"),
                "{status}"
            );
        }
        cove_ok(dir.path(), &["down"]).unwrap();
        loop {
            if let Some(exit) = node.child.try_wait().unwrap() {
                assert!(exit.success(), "cove up exited with {exit}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("test timed out");
}
