//! The key epochs a node holds for one group (PROTOCOL.md §15): the first from the group
//! secret, each later one from an epoch secret that reached this member in a `rekey`.
//!
//! An epoch is named on the wire by its *tag* (the envelope's `epoch` field, the body's
//! `epoch`) and ordered by its *number* (the first is 0, a re-key sealed under epoch `n`
//! starts `n + 1`). Two admins re-keying at once give two epochs of one number; the
//! *current* epoch, the one a node seals under, is the one with the greatest number and,
//! among those, the smallest tag, so every member that holds the same epochs picks the same.

use cove_crypto::{ContentKey, EpochSecret, GroupSecret, NetworkKey};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Most epochs a node keeps per group. Epochs come only from admin-signed re-keys, one number
/// at a time, so this is never reached by an honest group; it bounds what a rogue admin can
/// make a node keep.
pub const MAX_EPOCHS: usize = 4096;

/// Most `hello`s one history-sync session sends, one per epoch it tries (§13.3).
pub const MAX_HELLOS: usize = 4;

/// An epoch secret as the store keeps it (in the group's record). Wiped on drop; `Debug`
/// prints the number only.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct EpochRecord {
    /// The epoch's number.
    #[zeroize(skip)]
    pub number: u32,
    /// The epoch secret.
    #[serde(with = "serde_bytes")]
    pub secret: [u8; 32],
}

impl std::fmt::Debug for EpochRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EpochRecord({})", self.number)
    }
}

/// One epoch's keys.
#[derive(Clone, Debug)]
pub struct Epoch {
    /// Its tag: 0 for the first epoch.
    pub tag: u32,
    /// Its number: 0 for the first epoch.
    pub number: u32,
    /// The content key envelopes of this epoch are sealed with.
    pub content: ContentKey,
    /// The key of the sync protocol's membership proofs in this epoch.
    pub sync: [u8; 32],
    /// The pre-shared key of the group's network while this epoch is current (§15).
    pub network: NetworkKey,
}

/// The epochs this node holds for one group; never empty (the first is always there).
#[derive(Clone, Debug)]
pub struct Epochs(Vec<Epoch>);

impl Epochs {
    /// The first epoch (from the group secret) and the stored later ones.
    pub fn new(secret: &GroupSecret, records: &[EpochRecord]) -> Self {
        let mut epochs = Self(vec![Epoch {
            tag: 0,
            number: 0,
            content: secret.content_key(0),
            sync: secret.sync_key(),
            network: secret.network_key(0),
        }]);
        for record in records {
            epochs.add(record.number, &EpochSecret::from_bytes(record.secret));
        }
        epochs
    }

    /// Adds a later epoch; `false` when it is held already, or the group holds
    /// [`MAX_EPOCHS`].
    pub fn add(&mut self, number: u32, secret: &EpochSecret) -> bool {
        let tag = secret.tag();
        if number == 0 || self.0.len() >= MAX_EPOCHS || self.0.iter().any(|e| e.tag == tag) {
            return false;
        }
        self.0.push(Epoch {
            tag,
            number,
            content: secret.content_key(),
            sync: secret.sync_key(),
            network: secret.network_key(),
        });
        true
    }

    /// The epoch to seal under: the greatest number, then the smallest tag.
    pub fn current(&self) -> &Epoch {
        self.0
            .iter()
            .max_by_key(|e| (e.number, std::cmp::Reverse(e.tag)))
            .expect("the first epoch is always held")
    }

    /// The epoch a re-key to `number` is sealed in: of number `number - 1`, the smallest
    /// tag (the one that was current when the re-key was made).
    pub fn preceding(&self, number: u32) -> Option<&Epoch> {
        let parent = number.checked_sub(1)?;
        self.0
            .iter()
            .filter(|e| e.number == parent)
            .min_by_key(|e| e.tag)
    }

    /// The epochs a history-sync requester proves, best first (§13.3, §15): the current one,
    /// then the main line below it (per smaller number the smallest tag), the first epoch
    /// always last; at most [`MAX_HELLOS`]. A responder that does not hold the current epoch
    /// (it was on the other side of a partition when an admin re-keyed, or is behind) is asked
    /// again in an older one both hold, and serves what was sealed up to it: the re-key
    /// messages of its side among them, after which the next round proves a newer epoch.
    pub fn proof_order(&self) -> Vec<(u32, [u8; 32])> {
        let current = self.current();
        let mut order = vec![(current.tag, current.sync)];
        for number in (1..current.number).rev() {
            if order.len() + 1 >= MAX_HELLOS {
                break;
            }
            if let Some(e) = self.preceding(number + 1) {
                order.push((e.tag, e.sync));
            }
        }
        if current.number > 0 {
            let first = self.get(0).expect("the first epoch is always held");
            order.push((first.tag, first.sync));
        }
        order
    }

    /// The epoch with this tag, if held.
    pub fn get(&self, tag: u32) -> Option<&Epoch> {
        self.0.iter().find(|e| e.tag == tag)
    }

    /// Every tag held.
    pub fn tags(&self) -> Vec<u32> {
        self.0.iter().map(|e| e.tag).collect()
    }

    /// How many epochs are held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never: the first epoch is always held.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether a member that proved it holds `proven` may receive, by history sync, a
    /// message sealed in the epoch tagged `tag`: the same epoch, or one of a smaller number
    /// (§15). A message of an epoch this node does not hold is served to nobody: its number
    /// is unknown here.
    pub fn entitled(&self, proven: &Epoch, tag: u32) -> bool {
        tag == proven.tag || self.get(tag).is_some_and(|e| e.number < proven.number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(n: u8) -> EpochSecret {
        EpochSecret::from_bytes([n; 32])
    }

    #[test]
    fn a_session_proves_the_current_epoch_then_older_ones_and_the_first_last() {
        let mut epochs = Epochs::new(&GroupSecret::from_bytes([1; 32]), &[]);
        assert_eq!(epochs.proof_order().len(), 1, "only the first epoch");
        for number in 1..=6u32 {
            assert!(epochs.add(number, &secret(10 + number as u8)));
        }
        let tags: Vec<u32> = epochs.proof_order().iter().map(|(tag, _)| *tag).collect();
        assert_eq!(tags.len(), MAX_HELLOS);
        assert_eq!(tags[0], epochs.current().tag);
        assert_eq!(tags[1], epochs.preceding(6).unwrap().tag);
        assert_eq!(tags[2], epochs.preceding(5).unwrap().tag);
        assert_eq!(tags[3], 0, "the first epoch is always tried last");
    }

    #[test]
    fn the_current_epoch_is_the_newest_number_then_the_smallest_tag() {
        let mut epochs = Epochs::new(&GroupSecret::from_bytes([1; 32]), &[]);
        assert_eq!(epochs.current().tag, 0);
        let (a, b) = (secret(2), secret(3));
        assert!(epochs.add(1, &a));
        assert!(epochs.add(1, &b));
        assert!(!epochs.add(1, &b), "held already");
        assert_eq!(epochs.current().tag, a.tag().min(b.tag()));
        let c = secret(4);
        epochs.add(2, &c);
        assert_eq!(epochs.current().tag, c.tag());
        assert_eq!(epochs.len(), 4);
    }

    #[test]
    fn sync_entitlement_covers_the_proven_epoch_and_older_numbers_only() {
        let mut epochs = Epochs::new(&GroupSecret::from_bytes([1; 32]), &[]);
        let (a, b, c) = (secret(2), secret(3), secret(4));
        epochs.add(1, &a);
        epochs.add(1, &b);
        epochs.add(2, &c);
        let proven_a = epochs.get(a.tag()).unwrap().clone();
        assert!(epochs.entitled(&proven_a, 0));
        assert!(epochs.entitled(&proven_a, a.tag()));
        assert!(!epochs.entitled(&proven_a, b.tag()), "a sibling epoch");
        assert!(!epochs.entitled(&proven_a, c.tag()), "a newer epoch");
        assert!(
            !epochs.entitled(&proven_a, 77),
            "an epoch this node does not hold"
        );
        let proven_c = epochs.get(c.tag()).unwrap().clone();
        assert!([0, a.tag(), b.tag(), c.tag()]
            .iter()
            .all(|t| epochs.entitled(&proven_c, *t)));
    }
}
