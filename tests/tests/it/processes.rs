use anyhow::{Context, Result};
use cove_tests::{cove_ok, eventually, CoveProcess, TEST_TIMEOUT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cove_processes_share_a_post() -> Result<()> {
    // Scenario: two data dirs and two real `cove up` processes. ant: init, up, group create,
    // group invite; bat: init, join (offline), up; ant posts.
    // Assert: the post appears in bat's `feed --json`.
    tokio::time::timeout(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let (ant_dir, bat_dir) = (root.path().join("ant"), root.path().join("bat"));
        cove_ok(&ant_dir, &["init"])?;
        cove_ok(&bat_dir, &["init"])?;
        let _ant = CoveProcess::up(&ant_dir).await?;
        let group = cove_ok(&ant_dir, &["group", "create", "book club"])?;
        let invite = cove_ok(
            &ant_dir,
            &["group", "invite", "book club", "--expires", "1h"],
        )?;
        assert!(invite.starts_with("cove:"), "{invite}");
        let joined = cove_ok(&bat_dir, &["join", &invite])?;
        assert_eq!(joined, group);
        let _bat = CoveProcess::up(&bat_dir).await?;
        let post_id = cove_ok(&ant_dir, &["post", "--group", &group, "hello bat"])?;
        let feed = eventually("the post to reach bat", || async {
            let out = cove_tests::cove(&bat_dir, &["--json", "feed", "--group", "book club"])?;
            let items: serde_json::Value =
                serde_json::from_slice(&out.stdout).context("feed --json")?;
            Ok(items.as_array().filter(|a| !a.is_empty()).cloned())
        })
        .await?;
        assert_eq!(feed[0]["id"], post_id);
        assert_eq!(feed[0]["text"], "hello bat");
        assert_eq!(feed[0]["mine"], false);
        Ok(())
    })
    .await
    .context("test timed out")?
}
