//! The passphrase-encrypted seed, through the real `cove` binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use cove_tests::{
    cove_bin, cove_command, eventually, last_stdout_line, within, CoveProcess, TEST_TIMEOUT,
};

const PASSPHRASE: &str = "correct horse battery staple";

/// `cove --data-dir DIR ARGS...` with `COVE_PASSPHRASE` set to `passphrase` or removed, and
/// stdin closed (not a terminal, so nothing is ever prompted).
fn command(data_dir: &Path, args: &[&str], passphrase: Option<&str>) -> Result<Command> {
    let mut cmd = cove_command(&cove_bin()?, data_dir, args);
    match passphrase {
        Some(p) => cmd.env("COVE_PASSPHRASE", p),
        None => cmd.env_remove("COVE_PASSPHRASE"),
    };
    Ok(cmd)
}

fn run(data_dir: &Path, args: &[&str], passphrase: Option<&str>) -> Result<Output> {
    Ok(command(data_dir, args, passphrase)?.output()?)
}

/// Runs a command that must succeed; returns the last line of stdout.
fn run_ok(data_dir: &Path, args: &[&str], passphrase: Option<&str>) -> Result<String> {
    last_stdout_line(args, run(data_dir, args, passphrase)?)
}

fn up_args() -> [&'static str; 4] {
    ["up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0"]
}

/// `cove up` that must fail at start: its exit code and stderr.
async fn up_fails(data_dir: &Path, passphrase: Option<&str>) -> Result<(Option<i32>, String)> {
    let child = command(data_dir, &up_args(), passphrase)?
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .context("cove up should have exited at once")???;
    Ok((
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_seed_runs_only_with_its_passphrase() -> Result<()> {
    // Scenario: ant runs `cove init --passphrase` with COVE_PASSPHRASE set (no terminal), then
    // `cove up` without the variable, with a wrong passphrase, and with the right one; ant
    // exports the seed and restores it, encrypted, into a second data dir.
    // Assert: the seed file is 0600, encrypted (magic, 109 bytes) and does not contain the
    // raw seed; up without the variable exits 2 naming COVE_PASSPHRASE; a wrong passphrase
    // exits 2 and changes no file; the right one runs the node; the export is the seed the
    // node uses (same pseudonym after restore).
    within(TEST_TIMEOUT, async {
        let root = tempfile::tempdir()?;
        let ant = root.path().join("ant");
        run_ok(&ant, &["init", "--passphrase"], Some(PASSPHRASE))?;

        let seed_path = ant.join("seed");
        let on_disk = std::fs::read(&seed_path)?;
        let mode = std::fs::metadata(&seed_path)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "seed file mode");
        assert_eq!(on_disk.len(), 109);
        assert!(on_disk.starts_with(b"COVESEED"));

        let seed_hex = run_ok(&ant, &["export-seed"], Some(PASSPHRASE))?;
        let seed = hex::decode(&seed_hex).context("export-seed prints hex")?;
        assert_eq!(seed.len(), 32);
        assert!(
            !on_disk.windows(32).any(|w| w == seed.as_slice()),
            "the raw seed is not in the file"
        );

        // Without the variable and without a terminal: a usage error naming the variable.
        let (code, stderr) = up_fails(&ant, None).await?;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("COVE_PASSPHRASE"), "{stderr}");
        let out = run(&ant, &["export-seed"], None)?;
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("COVE_PASSPHRASE"));

        // A wrong passphrase: a usage error, and no file changes (the store is not even
        // created: the seed is opened first).
        let (code, stderr) = up_fails(&ant, Some("Correct horse battery staple")).await?;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("wrong passphrase"), "{stderr}");
        assert_eq!(std::fs::read(&seed_path)?, on_disk, "seed file untouched");
        assert!(!ant.join("store").exists(), "no store created");

        // The right passphrase from the environment runs the node.
        let log = std::fs::File::create(ant.join("up.log"))?;
        let child = command(&ant, &up_args(), Some(PASSPHRASE))?
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        let _up = CoveProcess {
            child,
            data_dir: ant.clone(),
        };
        eventually("cove up to answer on its control socket", || async {
            Ok(run(&ant, &["status"], None)?.status.success().then_some(()))
        })
        .await?;
        let group = run_ok(&ant, &["group", "create", "club"], None)?;
        let me = |dir: &Path| -> Result<String> {
            let out = run(dir, &["--json", "groups"], Some(PASSPHRASE))?;
            ensure!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let groups: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            Ok(groups[0]["me"]
                .as_str()
                .context("groups[0].me")?
                .to_string())
        };
        let ant_me = me(&ant)?;
        assert_eq!(
            std::fs::read(&seed_path)?,
            on_disk,
            "running changed nothing"
        );

        // Restore the export into a fresh dir, encrypted with another passphrase: the same
        // member (same pseudonym in the same group).
        let restored = root.path().join("restored");
        let out = command(
            &restored,
            &["import-seed", "--passphrase"],
            Some("another passphrase"),
        )?
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(format!("{seed_hex}\n").as_bytes())?;
            child.wait_with_output()
        })?;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let restored_file = std::fs::read(restored.join("seed"))?;
        assert!(restored_file.starts_with(b"COVESEED"));
        assert!(!restored_file.windows(32).any(|w| w == seed.as_slice()));
        assert_eq!(
            run_ok(&restored, &["export-seed"], Some("another passphrase"))?,
            seed_hex
        );
        let invite = run_ok(&ant, &["group", "invite", &group], None)?;
        // `join` without a running node opens the seed itself: from the variable.
        let out = run(&restored, &["join", &invite], None)?;
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("COVE_PASSPHRASE"));
        run_ok(&restored, &["join", &invite], Some("another passphrase"))?;
        let restored_me = {
            let out = run(&restored, &["--json", "groups"], Some("another passphrase"))?;
            let groups: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            groups[0]["me"]
                .as_str()
                .context("groups[0].me")?
                .to_string()
        };
        assert_eq!(restored_me, ant_me, "the restored seed is the same member");
        Ok(())
    })
    .await
}

#[test]
fn a_passphrase_can_be_set_changed_and_removed() -> Result<()> {
    // Scenario: a plain `cove init`; `cove passphrase set` (new one from COVE_NEW_PASSPHRASE),
    // set again to change it (current from COVE_PASSPHRASE), with a wrong current one, then
    // `cove passphrase remove`.
    // Assert: the seed (export-seed) never changes; a wrong current passphrase exits 2 and
    // leaves the file as it was; after remove the file is the 32 raw bytes again.
    let root = tempfile::tempdir()?;
    let dir = root.path().join("cat");
    run_ok(&dir, &["init"], None)?;
    let seed_hex = run_ok(&dir, &["export-seed"], None)?;
    let set = |current: Option<&str>, new: &str| -> Result<Output> {
        Ok(command(&dir, &["passphrase", "set"], current)?
            .env("COVE_NEW_PASSPHRASE", new)
            .output()?)
    };
    let out = set(None, "first")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(dir.join("seed"))?.len(), 109);
    assert_eq!(run_ok(&dir, &["export-seed"], Some("first"))?, seed_hex);

    let before = std::fs::read(dir.join("seed"))?;
    let out = set(Some("wrong"), "second")?;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
    assert_eq!(std::fs::read(dir.join("seed"))?, before, "unchanged");

    let out = set(Some("first"), "second")?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        run(&dir, &["export-seed"], Some("first"))?.status.code(),
        Some(2)
    );
    assert_eq!(run_ok(&dir, &["export-seed"], Some("second"))?, seed_hex);

    run_ok(&dir, &["passphrase", "remove"], Some("second"))?;
    assert_eq!(hex::encode(std::fs::read(dir.join("seed"))?), seed_hex);
    let mode = std::fs::metadata(dir.join("seed"))?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    Ok(())
}

#[test]
fn init_passphrase_without_a_terminal_or_the_variable_is_refused() -> Result<()> {
    // Scenario: `cove init --passphrase` with stdin not a terminal and no COVE_PASSPHRASE;
    // then with an empty COVE_PASSPHRASE.
    // Assert: exit 2 naming COVE_PASSPHRASE, and no seed written either time.
    let root = tempfile::tempdir()?;
    let dir = root.path().join("bat");
    for passphrase in [None, Some("")] {
        let out = run(&dir, &["init", "--passphrase"], passphrase)?;
        assert_eq!(out.status.code(), Some(2), "{passphrase:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("COVE_PASSPHRASE"));
        assert!(!dir.join("seed").exists());
    }
    // A plain init still writes the 32 raw bytes existing nodes use.
    run_ok(&dir, &["init"], Some(PASSPHRASE))?;
    assert_eq!(std::fs::read(dir.join("seed"))?.len(), 32);
    Ok(())
}
