//! The responder's side: reconciliation rounds and pages served from the store's reader,
//! on a blocking thread of the actor's choosing.

use super::*;

/// What a session's storage is kept under: the requester, the group and its `since`.
type SessionKey = (PeerId, GroupId, u64);

/// The responder's Negentropy storage per requester session, so that the rounds of one
/// session do not each scan the whole group again (bounded by [`MAX_SESSION_STORAGES`] and
/// [`SESSION_STORAGE_TTL`]). Shared by the tasks that serve requests.
#[derive(Default)]
pub struct SessionStorages {
    kept: HashMap<SessionKey, (Arc<NegentropyStorageVector>, Instant)>,
}

impl std::fmt::Debug for SessionStorages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStorages")
            .field("kept", &self.kept.len())
            .finish()
    }
}

impl SessionStorages {
    fn get(&mut self, key: &SessionKey) -> Option<Arc<NegentropyStorageVector>> {
        self.kept
            .retain(|_, (_, at)| at.elapsed() < SESSION_STORAGE_TTL);
        self.kept.get(key).map(|(storage, _)| storage.clone())
    }

    pub(super) fn keep(&mut self, key: SessionKey, storage: Arc<NegentropyStorageVector>) {
        if self.kept.len() >= MAX_SESSION_STORAGES {
            let oldest = self
                .kept
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                self.kept.remove(&oldest);
            }
        }
        self.kept.insert(key, (storage, Instant::now()));
    }

    /// Sessions whose storage is kept.
    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }
}

pub(super) fn storage(items: &[(u64, MessageId)]) -> Result<NegentropyStorageVector, SyncError> {
    let mut storage = NegentropyStorageVector::with_capacity(items.len());
    for (created_at, id) in items {
        storage
            .insert(*created_at, Id::from_byte_array(id.0))
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
    }
    storage
        .seal()
        .map_err(|e| SyncError::Malformed(e.to_string()))?;
    Ok(storage)
}

/// Answers one authorised reconcile round of `peer`'s session (responder side; blocking
/// work). The first round scans the group's items from the store; later rounds of the same
/// session reuse that storage from `sessions`.
pub fn serve_reconcile(
    store: &StoreReader,
    sessions: &Mutex<SessionStorages>,
    peer: PeerId,
    group: &GroupId,
    since: u64,
    msg: &[u8],
) -> Result<Vec<u8>, SyncError> {
    let key = (peer, *group, since);
    let kept = sessions.lock().ok().and_then(|mut s| s.get(&key));
    let storage = match kept {
        Some(storage) => storage,
        None => {
            let items = store
                .sync_items(group, since)
                .map_err(|e| SyncError::Transport(e.to_string()))?;
            let storage = Arc::new(storage(&items)?);
            if let Ok(mut sessions) = sessions.lock() {
                sessions.keep(key, storage.clone());
            }
            storage
        }
    };
    let mut neg = Negentropy::borrowed(&*storage, MAX_RECONCILE_FRAME)
        .map_err(|e| SyncError::Malformed(e.to_string()))?;
    neg.reconcile(msg)
        .map_err(|e| SyncError::Malformed(format!("negentropy: {e}")))
}

/// Answers one authorised fetch from the store (responder side; blocking work), skipping
/// messages sealed in an epoch the requester is not `entitled` to (by the epoch's tag, §15).
pub fn serve_fetch(
    store: &StoreReader,
    group: &GroupId,
    ids: &[MessageId],
    entitled: impl Fn(u32) -> bool,
) -> Result<Vec<Vec<u8>>, SyncError> {
    let mut page = Vec::new();
    let mut size = 0;
    for id in ids {
        let Some(bytes) = store
            .message_bytes(group, id)
            .map_err(|e| SyncError::Transport(e.to_string()))?
        else {
            continue;
        };
        let epoch = crate::message::decode_stored(&bytes)
            .map(|m| m.message.epoch)
            .map_err(|e| SyncError::Transport(format!("a stored message does not decode: {e}")))?;
        if !entitled(epoch) {
            continue;
        }
        if size + bytes.len() > MAX_PAGE_BYTES {
            break;
        }
        size += bytes.len();
        page.push(bytes);
    }
    Ok(page)
}
