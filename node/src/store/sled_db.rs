//! Opening the sled database under a store: its configuration (cache, log segments), waiting
//! out a lock still held by a handle being released, and the snapshot written on close.

use std::path::{Path, PathBuf};

/// sled's page cache. Its default is 1 GiB; a chat node needs far less.
pub const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// The size of sled's log segments (and of its write buffer) in a new store. sled's default
/// is 512 KiB; with 4 MiB the store grows by about 30 % less per message (1.26–1.30 instead
/// of 1.75–1.78 KB per post over 100 000, see PERFORMANCE.md), for no more CPU. The price: the log
/// file grows a segment at a time, so an empty store takes 4 MiB on disk instead of 0.5 (8 MiB
/// segments gave 1.2 KB per post and an 8 MiB empty store). sled records the size in the
/// store's `conf` file and refuses another one later, so a store keeps the size it was
/// created with ([`segment_size`]).
pub const SEGMENT_BYTES: usize = 4 * 1024 * 1024;

/// Has sled write a fresh snapshot when the last handle of a store is dropped.
///
/// sled 0.34 writes its snapshot (the page table an open starts from) only while opening a
/// database, and an open replays all the log written since the previous open: after taking
/// in 100 000 messages that is hundreds of MB and hundreds of ms. Opening the database once
/// more after the last handle closed moves that replay to shutdown, so the next start reads a
/// current snapshot. After a crash the next open replays, as before; an error here only
/// costs that.
#[derive(Debug)]
pub(super) struct Checkpoint {
    pub(super) path: PathBuf,
}

impl Drop for Checkpoint {
    fn drop(&mut self) {
        let started = std::time::Instant::now();
        match open_db(&self.path, CHECKPOINT_TRIES) {
            Ok(db) => {
                drop(db);
                tracing::debug!(elapsed = ?started.elapsed(), "store snapshot written");
            }
            Err(e) => tracing::warn!(error = %e, "store snapshot on close skipped"),
        }
    }
}

/// Attempts of [`Checkpoint`] to re-open a store whose lock is still held, 10 ms apart.
const CHECKPOINT_TRIES: usize = 50;

/// Attempts of [`Store::open`] to open a store whose lock is still held, 10 ms apart (2 s):
/// a node stopped in this process releases the lock a moment after it replied, once sled's
/// I/O threads and the last blocking reader are done, and a restart must not fail on that.
pub(super) const OPEN_TRIES: usize = 200;

/// Opens the database at `path`, trying again while its lock is held (up to `tries` times,
/// 10 ms apart): sled's I/O threads may hold the file, and its lock, a moment after the last
/// handle was dropped.
pub(super) fn open_db(path: &Path, tries: usize) -> Result<sled::Db, sled::Error> {
    // Built once: it reads the store's `conf` file, which the retries do not change.
    let config = config(path);
    let mut tries = tries.max(1);
    loop {
        match config.open() {
            Err(e) if is_lock_held(&e) && tries > 1 => {
                tries -= 1;
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            result => return result,
        }
    }
}

/// Whether opening failed because another handle holds the database's lock. sled 0.34 reports
/// that as an `Other` I/O error whose text names the lock (wrapping the `WouldBlock` of
/// `flock`), so the text is the only thing to go by.
pub(crate) fn is_lock_held(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(e) => {
            e.kind() == std::io::ErrorKind::WouldBlock
                || e.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// The sled configuration of every open.
pub(super) fn config(path: &Path) -> sled::Config {
    sled::Config::new()
        .path(path)
        .cache_capacity(CACHE_BYTES)
        .segment_size(segment_size(path))
}

/// The segment size of the store at `path`: the one its `conf` file records (stores created
/// before [`SEGMENT_BYTES`] have sled's 512 KiB), or [`SEGMENT_BYTES`] for a new store. A
/// `conf` that cannot be read or names no valid size yields [`SEGMENT_BYTES`], and sled's own
/// check then says what is wrong with it.
pub(super) fn segment_size(path: &Path) -> usize {
    recorded_segment_size(path)
        .filter(|size| size.is_power_of_two())
        .unwrap_or(SEGMENT_BYTES)
}

/// The number on the `segment_size: N` line of sled's `conf` file in `path`, if any.
pub(super) fn recorded_segment_size(path: &Path) -> Option<usize> {
    // The file ends in a binary CRC of the lines before it.
    let conf = std::fs::read(path.join("conf")).ok()?;
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size:"))
        .and_then(|size| size.trim().parse().ok())
}
