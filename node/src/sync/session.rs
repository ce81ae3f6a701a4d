//! The requester's side: one [`Session`] from hello to the last page, run in its own task,
//! handing fetched pages to the actor for validation.

use super::*;
use crate::core::decide;
use futures::StreamExt;

/// Progress of a session, for `cove sync`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Progress {
    /// Group id (hex).
    pub group: String,
    /// Peer id.
    pub peer: String,
    /// Messages fetched so far.
    pub fetched: usize,
    /// Messages to fetch in total (known after reconciliation).
    pub total: usize,
}

/// What a session did.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    /// Group id (hex).
    pub group: String,
    /// Peer id.
    pub peer: String,
    /// Negentropy rounds.
    pub rounds: usize,
    /// Request bytes sent.
    pub bytes_sent: usize,
    /// Response bytes received.
    pub bytes_received: usize,
    /// Ids the peer has and we lacked.
    pub missing: usize,
    /// Ids we have and the peer lacks (it fetches them in its own session).
    pub peer_missing: usize,
    /// Own messages the peer was found to hold, which leave the outbox (PROTOCOL.md §13.9).
    #[serde(default)]
    pub delivered: usize,
    /// Their ids, for the actor (the store's only writer) to clear from the outbox.
    #[serde(skip)]
    pub delivered_ids: Vec<MessageId>,
    /// Newly stored messages.
    pub accepted: usize,
    /// Fetched messages that failed validation or were duplicates.
    pub refused: usize,
    /// `busy` answers waited out ([`busy_wait`]).
    #[serde(default)]
    pub busy: usize,
    /// Why the session ended early, if it did.
    pub error: Option<String>,
}

/// A batch of fetched messages handed to the actor for validation and storage.
#[derive(Debug)]
pub struct IngestBatch {
    /// The group.
    pub group: GroupId,
    /// The page's messages, decoded and verified by the session ([`decide::verify`]).
    pub messages: Vec<decide::Verified>,
    /// Replies `(accepted, refused, invalid)`: invalid ones are the peer's fault.
    pub reply: oneshot::Sender<(usize, usize, usize)>,
}

/// Everything a requester session needs; it runs as its own task.
#[derive(Debug)]
pub struct Session {
    /// Gossip handle for requests.
    pub gossip: Gossip,
    /// The peer to sync with.
    pub peer: PeerId,
    /// The group.
    pub group: GroupId,
    /// Its topic.
    pub topic: String,
    /// The key epochs this session may prove, as (tag, sync key), best first (the node's
    /// current one first; `Epochs::proof_order`): a responder that does not prove the first
    /// is asked in the next.
    pub epochs: Vec<(u32, [u8; 32])>,
    /// Reconcile messages created at or after this (unix ms): the start of the retention
    /// window (0 = everything), or later for a confirmation round.
    pub since: u64,
    /// Fetch what the peer has and we lack; `false` for a confirmation round, which only
    /// finds out which of our own messages the peer holds (PROTOCOL.md §13.6).
    pub fetch: bool,
    /// Read access to the store for our side of reconciliation.
    pub store: StoreReader,
    /// Where fetched messages go for validation.
    pub ingest: mpsc::Sender<IngestBatch>,
    /// Optional progress reports.
    pub progress: Option<mpsc::Sender<Progress>>,
}

impl Session {
    /// Sends `request` and returns the peer's answer. A `busy` answer is waited out
    /// ([`busy_wait`]) and the request sent again, until [`MAX_BUSY_IN_A_ROW`] in a row.
    async fn call(&self, request: &Request, report: &mut Report) -> Result<Response, SyncError> {
        let bytes = request.encode();
        let mut in_a_row = 0;
        loop {
            report.bytes_sent += bytes.len();
            let answer = self
                .gossip
                .request(self.peer, bytes.clone())
                .await
                .map_err(|e| SyncError::Transport(e.to_string()))?;
            report.bytes_received += answer.len();
            match Response::decode(&answer)? {
                Response::Error {
                    code: ErrorCode::Busy,
                } => {
                    in_a_row += 1;
                    let Some(wait) = busy_wait(in_a_row) else {
                        return Err(SyncError::Refused(ErrorCode::Busy.as_str().into()));
                    };
                    report.busy += 1;
                    tokio::time::sleep(wait).await;
                }
                Response::Error { code } => return Err(SyncError::Refused(code.as_str().into())),
                response => return Ok(response),
            }
        }
    }

    /// Runs the session to the end; the report says how far it got.
    pub async fn run(self) -> (Report, Option<SyncError>) {
        let mut report = Report {
            group: self.group.to_string(),
            peer: self.peer.to_string(),
            ..Report::default()
        };
        // Reconciliation parses the peer's bytes; if that code panics on hostile input, the
        // session fails (and the peer is cut off) instead of leaving the session unaccounted.
        let result = std::panic::AssertUnwindSafe(self.run_inner(&mut report))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                Err(SyncError::Malformed(
                    "the peer's data made reconciliation fail".into(),
                ))
            });
        let error = result.err();
        report.error = error.as_ref().map(|e| e.to_string());
        (report, error)
    }

    /// `hello` in each of [`Session::epochs`] until the responder proves one; its proof is
    /// checked before anything group-specific is sent. Returns our own proof (in that epoch)
    /// for the requests that follow.
    async fn handshake(&self, report: &mut Report) -> Result<[u8; 32], SyncError> {
        let mut unproven = SyncError::Unproven("no epoch to prove".into());
        for (epoch, sync_key) in &self.epochs {
            match self.hello(*epoch, sync_key, report).await {
                Err(e @ SyncError::Unproven(_)) => unproven = e,
                done => return done,
            }
        }
        Err(unproven)
    }

    async fn hello(
        &self,
        epoch: u32,
        sync_key: &[u8; 32],
        report: &mut Report,
    ) -> Result<[u8; 32], SyncError> {
        let nonce: [u8; 32] = rand::random();
        let hello = Request::Hello {
            topic: self.topic.clone(),
            nonce,
            epoch,
        };
        // The limit covers `busy` answers waited out too: a responder that answers nothing
        // else for that long has not proven membership, and an outsider answering `busy`
        // holds an automatic session's slot no longer than one that does not answer.
        let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, self.call(&hello, report))
            .await
            .map_err(|_| {
                SyncError::Unproven(format!("no challenge within {HANDSHAKE_TIMEOUT:?}"))
            })??;
        let Response::Challenge {
            nonce: challenge,
            proof,
        } = answer
        else {
            return Err(SyncError::Malformed("expected a challenge".into()));
        };
        let (local, peer) = (self.gossip.local_peer_id().to_bytes(), self.peer.to_bytes());
        if !verify_sync_responder_proof(sync_key, &nonce, &local, &peer, &proof) {
            return Err(SyncError::Unproven(format!(
                "its proof in epoch {epoch:08x} does not verify"
            )));
        }
        Ok(sync_proof(sync_key, &challenge, &local, &peer))
    }

    async fn run_inner(&self, report: &mut Report) -> Result<(), SyncError> {
        let proof = self.handshake(report).await?;
        let items = self
            .store
            .sync_items(&self.group, self.since)
            .map_err(|e| SyncError::Transport(e.to_string()))?;
        let mut neg = Negentropy::owned(storage(&items)?, MAX_RECONCILE_FRAME)
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let mut msg = neg
            .initiate()
            .map_err(|e| SyncError::Malformed(e.to_string()))?;
        let (mut have, mut need) = (Vec::new(), Vec::new());
        loop {
            if report.rounds >= MAX_ROUNDS {
                return Err(SyncError::TooManyRounds);
            }
            report.rounds += 1;
            let request = Request::Reconcile {
                topic: self.topic.clone(),
                proof,
                since: self.since,
                msg,
            };
            let Response::Reconcile { msg: answer } = self.call(&request, report).await? else {
                return Err(SyncError::Malformed("expected a reconcile answer".into()));
            };
            match neg
                .reconcile_with_ids(&answer, &mut have, &mut need)
                .map_err(|e| SyncError::Malformed(format!("negentropy: {e}")))?
            {
                Some(next) => msg = next,
                None => break,
            }
        }
        report.missing = need.len();
        report.peer_missing = have.len();
        report.delivered_ids = self.confirm_delivered(&items, &have)?;
        report.delivered = report.delivered_ids.len();
        if !self.fetch {
            return Ok(());
        }
        let need: Vec<MessageId> = need.into_iter().map(|id| MessageId(*id)).collect();
        self.fetch_all(proof, need, report).await
    }

    /// Own messages of this group that the proven peer holds, which may leave the outbox:
    /// those in the set we reconciled (`items`) that it did not lack (`lacked`,
    /// negentropy's `have`).
    fn confirm_delivered(
        &self,
        items: &[(u64, MessageId)],
        lacked: &[Id],
    ) -> Result<Vec<MessageId>, SyncError> {
        let store_error = |e: crate::store::StoreError| SyncError::Transport(e.to_string());
        let pending: HashSet<MessageId> = self
            .store
            .outbox()
            .map_err(store_error)?
            .into_iter()
            .filter(|(_, group)| *group == self.group)
            .map(|(id, _)| id)
            .collect();
        if pending.is_empty() {
            return Ok(Vec::new());
        }
        let lacked: HashSet<[u8; 32]> = lacked.iter().map(|id| **id).collect();
        Ok(items
            .iter()
            .map(|(_, id)| *id)
            .filter(|id| pending.contains(id) && !lacked.contains(&id.0))
            .collect())
    }

    /// Fetches `need` page by page, in order, with up to [`PAGES_IN_FLIGHT`] pages asked for
    /// at once: while the actor stores one page, the next is verified here and the one after
    /// it served by the responder, so neither side waits for the other's turn. Pages are
    /// handed over in the order of `need`, whatever order they arrive in: a page cut short
    /// drops the pages in flight after it, and its remaining ids are asked for first.
    async fn fetch_all(
        &self,
        proof: [u8; 32],
        need: Vec<MessageId>,
        report: &mut Report,
    ) -> Result<(), SyncError> {
        let total = need.len();
        // Ids of `need` asked for so far, by pages in flight or done with.
        let mut asked = 0;
        let mut in_flight = futures::stream::FuturesOrdered::new();
        let mut to_store = Vec::new();
        loop {
            while in_flight.len() < PAGES_IN_FLIGHT && asked < total {
                let end = total.min(asked + MAX_FETCH_IDS);
                in_flight.push_back(self.fetch_ids(proof, asked, need[asked..end].to_vec()));
                asked = end;
            }
            let (next, stored) = tokio::join!(
                in_flight.next(),
                self.ingest_page(std::mem::take(&mut to_store))
            );
            let (accepted, refused, invalid) = stored?;
            report.accepted += accepted;
            report.refused += refused + invalid;
            if invalid > 0 {
                return Err(SyncError::Malformed(format!(
                    "{invalid} invalid messages in a page"
                )));
            }
            let Some(fetched) = next else {
                return Ok(());
            };
            report.bytes_sent += fetched.report.bytes_sent;
            report.bytes_received += fetched.report.bytes_received;
            report.busy += fetched.report.busy;
            let page = fetched.page?;
            if page.settled < fetched.asked {
                // Cut short (the page budget): its remaining ids are asked for again, and the
                // pages in flight after it are dropped, so the order holds.
                asked = fetched.start + page.settled;
                in_flight = futures::stream::FuturesOrdered::new();
            }
            if let Some(progress) = &self.progress {
                let _ = progress
                    .send(Progress {
                        group: self.group.to_string(),
                        peer: self.peer.to_string(),
                        fetched: fetched.start + page.settled,
                        total,
                    })
                    .await;
            }
            to_store = page.messages;
        }
    }

    /// The page for `ids`, which start at `start` in the session's list.
    async fn fetch_ids(&self, proof: [u8; 32], start: usize, ids: Vec<MessageId>) -> Fetched {
        let mut report = Report::default();
        let page = self.fetch_page(proof, &ids, &mut report).await;
        Fetched {
            start,
            asked: ids.len(),
            page,
            report,
        }
    }

    /// One page for the first ids of `pending`, decoded and verified; it settles none when
    /// nothing is pending.
    async fn fetch_page(
        &self,
        proof: [u8; 32],
        pending: &[MessageId],
        report: &mut Report,
    ) -> Result<Page, SyncError> {
        if pending.is_empty() {
            return Ok(Page::default());
        }
        let batch = &pending[..pending.len().min(MAX_FETCH_IDS)];
        let request = Request::Fetch {
            topic: self.topic.clone(),
            proof,
            ids: batch.to_vec(),
        };
        let Response::Messages { messages } = self.call(&request, report).await? else {
            return Err(SyncError::Malformed("expected a page of messages".into()));
        };
        if messages.len() > batch.len() {
            return Err(SyncError::OversizedPage(format!(
                "{} messages for {} ids",
                messages.len(),
                batch.len()
            )));
        }
        let messages = verify_page(messages).await;
        Ok(Page {
            settled: settled(batch, &messages),
            messages,
        })
    }

    /// Hands a page to the actor for validation; `(accepted, refused, invalid)`.
    async fn ingest_page(
        &self,
        messages: Vec<decide::Verified>,
    ) -> Result<(usize, usize, usize), SyncError> {
        if messages.is_empty() {
            return Ok((0, 0, 0));
        }
        let (reply, answer) = oneshot::channel();
        self.ingest
            .send(IngestBatch {
                group: self.group,
                messages,
                reply,
            })
            .await
            .map_err(|_| SyncError::Stopped)?;
        answer.await.map_err(|_| SyncError::Stopped)
    }
}

/// Fetch requests a session has in flight at most: one while the actor stores the page
/// before it is not enough to keep two cores busy (PERFORMANCE.md, "Two pages in flight").
const PAGES_IN_FLIGHT: usize = 2;

/// A page asked for by [`Session::fetch_all`]: where its ids start in the session's list, how
/// many it asked for, the page (or why there is none) and what asking cost.
struct Fetched {
    start: usize,
    asked: usize,
    page: Result<Page, SyncError>,
    report: Report,
}

/// A fetched page: its messages, decoded and verified, and how many ids at the head of the
/// batch it settled.
#[derive(Debug, Default)]
struct Page {
    messages: Vec<decide::Verified>,
    settled: usize,
}

/// How many ids at the head of `batch` the page `served` settled (PROTOCOL.md §13.5). A
/// responder serves in the order asked, skips ids it does not have or may not serve (sealed in
/// an epoch the requester did not prove, §15), and stops at the page budget. So every id up to
/// the page's last message is done with, served or skipped; the ids after it may only be over
/// the budget and are asked for again. An empty page settles the whole batch: every id of it
/// was skipped (one message always fits a page), and the session goes on with the next batch
/// instead of ending there, which would leave every later id unfetched whenever a batch is
/// all of an epoch the requester does not hold yet.
fn settled(batch: &[MessageId], served: &[decide::Verified]) -> usize {
    served
        .iter()
        .filter_map(|m| m.as_ref().ok())
        .filter_map(|m| batch.iter().position(|id| *id == m.message.id))
        .max()
        .map_or(batch.len(), |last| last + 1)
}

/// Decodes and verifies a page's messages ([`decide::verify`]), split over every core, off the
/// actor: the actor then applies only the rules that read the store. While the actor stores
/// one page the session verifies the next ([`Session::fetch_all`] overlaps them).
pub async fn verify_page(messages: Vec<Vec<u8>>) -> Vec<decide::Verified> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_task = messages.len().div_ceil(cores).max(1);
    let mut tasks = Vec::new();
    let mut messages = messages.into_iter();
    loop {
        let chunk: Vec<Vec<u8>> = messages.by_ref().take(per_task).collect();
        if chunk.is_empty() {
            break;
        }
        let len = chunk.len();
        let task = tokio::task::spawn_blocking(move || {
            chunk
                .iter()
                .map(|bytes| decide::verify(bytes))
                .collect::<Vec<_>>()
        });
        tasks.push((len, task));
    }
    let mut verified = Vec::new();
    for (len, task) in tasks {
        match task.await {
            Ok(chunk) => verified.extend(chunk),
            // A bug in decoding costs the chunk's messages, not the session.
            Err(_) => verified.extend((0..len).map(|_| Err(decide::Rejection::Internal))),
        }
    }
    verified
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{sign, Content, Post, SignedMessage};

    #[test]
    fn a_page_settles_its_batch_up_to_its_last_message() {
        // Scenario: a batch of 5 ids; pages that serve some in order, skipping others.
        // Assert: the ids up to the last served one are settled; an empty page settles the
        // whole batch (all skipped); a page cut short by the budget leaves the rest pending.
        let group = GroupId::from_bytes([1; 32]);
        let author = cove_crypto::MasterSeed::from_bytes([2; 32]).pseudonym(&group);
        let messages: Vec<SignedMessage> = (0..5)
            .map(|i| {
                let text = format!("post {i}");
                sign(
                    &author,
                    &group,
                    1_000 + i,
                    Content::Post(Post { title: None, text }),
                )
                .unwrap()
            })
            .collect();
        let batch: Vec<MessageId> = messages.iter().map(|m| m.message.id).collect();
        let page = |served: &[usize]| -> Vec<decide::Verified> {
            served.iter().map(|&i| Ok(messages[i].clone())).collect()
        };
        assert_eq!(settled(&batch, &page(&[0, 1, 2, 3, 4])), 5);
        assert_eq!(
            settled(&batch, &page(&[0, 1])),
            2,
            "over the budget after 1"
        );
        assert_eq!(settled(&batch, &page(&[1, 3])), 4, "0 and 2 skipped");
        assert_eq!(settled(&batch, &page(&[])), 5, "every id skipped");
        let invalid: Vec<decide::Verified> = vec![Err(decide::Rejection::Internal)];
        assert_eq!(
            settled(&batch, &invalid),
            5,
            "nothing to place: the batch is done"
        );
    }
}
