//! A data dir written by the previous release (store schema 1: one sled tree per kind) opens
//! in this one without loss. The fixture `tests/fixtures/schema-1/data-dir` was made by the
//! `cove` of commit 36013d4 (the last with schema 1): a group with posts, a reply, an edit, a
//! recommendation, a profile, a room and a chat line, a ban, an advertiser grant and an ad,
//! an interest, a mute, and every own message still in the outbox (no peer ever connected).
//! `expected/` holds what that binary printed (`--json`) for the same data dir.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use cove_tests::{cove_ok, eventually, within, CoveProcess, TEST_TIMEOUT};
use serde_json::Value;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/schema-1")
}

/// Copies a directory tree.
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn expected(name: &str) -> Result<Value> {
    let path = fixture().join("expected").join(name);
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    Ok(serde_json::from_str(&text)?)
}

use cove_tests::cove_json as json;

/// What the two binaries must agree on, read from a running node.
fn views(data_dir: &Path) -> Result<Vec<(&'static str, Value, Value)>> {
    let mut views = Vec::new();
    for order in ["new", "hot", "top"] {
        let file: &'static str = match order {
            "new" => "feed-new.json",
            "hot" => "feed-hot.json",
            _ => "feed-top.json",
        };
        let got = json(data_dir, &["feed", "-g", "club", "--order", order])?;
        views.push((file, got, expected(file)?));
    }
    // The group now holds the upgraded node's membership messages too.
    let mut groups = json(data_dir, &["groups"])?;
    let mut old_groups = expected("groups.json")?;
    for (list, extra) in [(&mut groups, 0), (&mut old_groups, MEMBERSHIP_MESSAGES)] {
        let count = &mut list[0]["messages"];
        *count = (count.as_u64().context("messages")? + extra).into();
    }
    views.push(("groups.json", groups, old_groups));
    for (file, args) in [
        ("admin.json", &["admin", "list", "-g", "club"][..]),
        ("grants.json", &["admin", "grants", "-g", "club"][..]),
        ("interests.json", &["interests", "list"][..]),
        ("ads.json", &["ads", "-g", "club"][..]),
    ] {
        views.push((file, json(data_dir, args)?, expected(file)?));
    }
    Ok(views)
}

/// Own messages the upgraded node adds to the fixture's outbox: its `member` record, and a
/// re-key, because the fixture's group has a ban and its founder, an admin, finds the banned
/// member still holding the first epoch (PROTOCOL.md §15).
const MEMBERSHIP_MESSAGES: u64 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_data_dir_opens_without_loss() -> Result<()> {
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let dir = root.path().join("ant");
        copy_dir(&fixture().join("data-dir"), &dir)?;
        {
            let _ant = CoveProcess::up(&dir).await?;
            for (what, got, want) in views(&dir)? {
                assert_eq!(got, want, "{what} differs after the migration");
            }
            // Every own message is still in the outbox, with the membership messages added.
            let old = expected("status.json")?["outbox"]
                .as_u64()
                .context("outbox")?;
            eventually("the membership messages to be signed", || async {
                let outbox = json(&dir, &["status"])?["outbox"].as_u64();
                Ok((outbox == Some(old + MEMBERSHIP_MESSAGES)).then_some(()))
            })
            .await?;
            assert!(
                !json(&dir, &["feed", "-g", "club"])?
                    .as_array()
                    .context("feed")?
                    .is_empty(),
                "the fixture's feed is not empty"
            );
            cove_ok(&dir, &["down"])?;
        }
        // Offline: rebuilding every index from the messages changes nothing either.
        let out = cove_ok(&dir, &["store", "reindex"])?;
        assert!(
            out.contains("15"),
            "the 13 messages and the 2 membership messages indexed: {out}"
        );
        let _ant = CoveProcess::up(&dir).await?;
        for (what, got, want) in views(&dir)? {
            assert_eq!(got, want, "{what} differs after a reindex");
        }
        Ok(())
    })
    .await
}
