//! Writing each group's network memory (`DATA_DIR/nets/<group id>.json`) off the runtime's
//! threads: a write ends in an `fsync`, which would hold up every task queued on the thread
//! (at N = 50 in one process, 41 of them in 5 s, up to 4 ms each; PERFORMANCE.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tracing::warn;

use crate::addr_book::NetMemory;

/// Writes network memories on tokio's blocking threads, one write at a time, so that the
/// newest version of each file is the one left: a write finds out under the lock whether a
/// newer one of the same file was handed over since, and then leaves the file to it.
#[derive(Clone, Debug, Default)]
pub(super) struct MemoryWriter {
    /// The lock is held for a whole write.
    newest: Arc<Mutex<Versions>>,
}

#[derive(Debug, Default)]
struct Versions {
    /// The last version number handed out (over all files).
    last: u64,
    /// The newest version handed over per file.
    of: HashMap<PathBuf, u64>,
}

impl MemoryWriter {
    /// Hands `bytes` over to be written to `path` on a blocking thread.
    pub(super) fn write_soon(&self, path: PathBuf, bytes: Vec<u8>) {
        let version = self.hand_over(&path);
        let writer = self.clone();
        tokio::task::spawn_blocking(move || writer.write(&path, &bytes, version));
    }

    /// Writes `bytes` to `path` on this thread, after any write of it already under way.
    pub(super) fn write_now(&self, path: PathBuf, bytes: Vec<u8>) {
        let version = self.hand_over(&path);
        self.write(&path, &bytes, version);
    }

    fn hand_over(&self, path: &Path) -> u64 {
        let mut newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        newest.last += 1;
        let version = newest.last;
        newest.of.insert(path.to_path_buf(), version);
        version
    }

    fn write(&self, path: &Path, bytes: &[u8], version: u64) {
        let newest = self.newest.lock().unwrap_or_else(|e| e.into_inner());
        if newest.of.get(path) != Some(&version) {
            return;
        }
        if let Err(e) = NetMemory::write(path, bytes) {
            warn!(path = %path.display(), error = %e, "could not save the network memory");
        }
        drop(newest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_memory_handed_over_later_is_the_one_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nets").join("group.json");
        let writer = MemoryWriter::default();
        let older = writer.hand_over(&path);
        let newer = writer.hand_over(&path);
        // The newer write runs first; the older one, run after it, must not undo it.
        writer.write(&path, b"newer", newer);
        writer.write(&path, b"older", older);
        assert_eq!(std::fs::read(&path).unwrap(), b"newer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_off_the_runtime_end_with_the_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nets").join("group.json");
        let writer = MemoryWriter::default();
        for i in 0..20 {
            writer.write_soon(path.clone(), format!("version {i}").into_bytes());
        }
        // At stop: written before returning, whatever is still queued.
        writer.write_now(path.clone(), b"at stop".to_vec());
        assert_eq!(std::fs::read(&path).unwrap(), b"at stop");
        // The queued writes find a newer version handed over and leave the file alone.
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(std::fs::read(&path).unwrap(), b"at stop");
    }
}
